//! The shape of a network: its cell, sizes and init scheme, and every
//! parameter it has (PyTorch's names, shapes and order), which parameters
//! train, and how many values they hold. Plain data: no tch here.

use crate::config::{Cell, InitScheme, TrainConfig};

/// The shape of the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelSpec {
    pub cell: Cell,
    /// Features per step (the task's).
    pub input_size: i64,
    /// The head's outputs (the task's).
    pub output_size: i64,
    pub units: i64,
    pub layers: i64,
    pub init: InitScheme,
}

impl ModelSpec {
    /// A stack of `layers` x `units` of `cell` on two features with one
    /// output (the marker tasks').
    pub fn new(cell: Cell, units: i64, layers: i64, init: InitScheme) -> ModelSpec {
        ModelSpec {
            cell,
            input_size: 2,
            output_size: 1,
            units,
            layers,
            init,
        }
    }

    pub fn for_config(config: &TrainConfig) -> ModelSpec {
        let shape = config.task.shape();
        ModelSpec {
            input_size: shape.features,
            output_size: shape.outputs,
            ..ModelSpec::new(config.model, config.units, config.layers, config.init)
        }
    }

    /// Gate blocks stacked in libtorch's weight matrices.
    pub fn gates(&self) -> i64 {
        match self.cell {
            Cell::Rnn | Cell::Irnn => 1,
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }

    /// Every parameter in PyTorch's `parameters()` order, with its shape.
    pub fn parameters(&self) -> Vec<Param> {
        let (g, h) = (self.gates(), self.units);
        let mut params = Vec::new();
        for layer in 0..self.layers {
            let input = if layer == 0 { self.input_size } else { h };
            let name = |what: &str| format!("rnn.{what}_l{layer}");
            params.push(Param {
                name: name("weight_ih"),
                shape: vec![g * h, input],
                role: Role::InputKernel,
            });
            params.push(Param {
                name: name("weight_hh"),
                shape: vec![g * h, h],
                role: Role::RecurrentKernel,
            });
            params.push(Param {
                name: name("bias_ih"),
                shape: vec![g * h],
                role: Role::InputBias,
            });
            params.push(Param {
                name: name("bias_hh"),
                shape: vec![g * h],
                role: Role::RecurrentBias,
            });
        }
        params.push(Param {
            name: "head.weight".into(),
            shape: vec![self.output_size, h],
            role: Role::HeadWeight,
        });
        params.push(Param {
            name: "head.bias".into(),
            shape: vec![self.output_size],
            role: Role::HeadBias,
        });
        params
    }

    /// Keras's SimpleRNN and LSTM have a single bias vector; libtorch's ops
    /// take two. Under Keras's scheme `bias_hh` stays a frozen zero, so the
    /// model trains exactly Keras's parameters (a second trainable bias
    /// would double the bias step size under Adam). Keras's GRU
    /// (reset_after=True) has both biases, like PyTorch.
    pub fn is_trainable(&self, param: &Param) -> bool {
        !(param.role == Role::RecurrentBias
            && self.init == InitScheme::Keras
            && matches!(self.cell, Cell::Rnn | Cell::Irnn | Cell::Lstm))
    }

    /// Number of values in every parameter, frozen ones included.
    pub fn parameter_count(&self) -> i64 {
        self.parameters()
            .iter()
            .map(|p| p.shape.iter().product::<i64>())
            .sum()
    }

    /// Number of trainable values (Keras's `model.summary()` total under
    /// the Keras scheme, PyTorch's under the torch scheme).
    pub fn trainable_count(&self) -> i64 {
        self.parameters()
            .iter()
            .filter(|p| self.is_trainable(p))
            .map(|p| p.shape.iter().product::<i64>())
            .sum()
    }
}

/// What a parameter is, which decides how it is initialised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    InputKernel,
    RecurrentKernel,
    InputBias,
    RecurrentBias,
    HeadWeight,
    HeadBias,
}

/// One named parameter, named as in PyTorch's `state_dict`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub shape: Vec<i64>,
    pub role: Role,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(cell: Cell, init: InitScheme) -> ModelSpec {
        ModelSpec::new(cell, 30, 2, init)
    }

    #[test]
    fn keras_parameter_counts_match_keras_summary() {
        // Keras model.summary() of the blog's models (SimpleRNN/LSTM/GRU(30)
        // x2 + Dense(1)); PyTorch's scheme counts both biases.
        for (cell, init, count) in [
            (Cell::Rnn, InitScheme::Keras, 990 + 1830 + 31),
            (Cell::Lstm, InitScheme::Keras, 3960 + 7320 + 31),
            (Cell::Gru, InitScheme::Keras, 3060 + 5580 + 31),
            (Cell::Lstm, InitScheme::Torch, 4080 + 7440 + 31),
        ] {
            assert_eq!(spec(cell, init).trainable_count(), count, "{cell} {init}");
        }
    }
}
