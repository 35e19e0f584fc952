//! The shape of a network: its cell, sizes and init scheme, and every
//! parameter it has (PyTorch's names: `rnn.<leaf>_l<layer>`, then the
//! head), in order, which of them train, and how many values they hold.
//! The cell's own parameters come from its entry in `cells`.

use anyhow::{bail, Result};

use super::cells::{self, CellDef, Layer};
use crate::config::{Cell, InitScheme, TrainConfig, MAX_PARAMETERS};

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
    /// The longest row's steps (a cell's init or constraint may depend on it).
    pub steps: i64,
}

impl ModelSpec {
    /// A stack of `layers` x `units` of `cell` on two features with one
    /// output (the marker tasks'), for rows of 100 steps.
    pub fn new(cell: Cell, units: i64, layers: i64, init: InitScheme) -> ModelSpec {
        ModelSpec {
            cell,
            input_size: 2,
            output_size: 1,
            units,
            layers,
            init,
            steps: 100,
        }
    }

    pub fn for_config(config: &TrainConfig) -> ModelSpec {
        let shape = config.task.shape();
        ModelSpec {
            input_size: shape.features,
            output_size: shape.outputs,
            steps: config.task.steps(config.seq_len),
            ..ModelSpec::new(config.model, config.units, config.layers, config.init)
        }
    }

    /// The cell's definition.
    pub fn def(&self) -> &'static dyn CellDef {
        cells::def(self.cell)
    }

    /// What layer `index`'s draw and constraint know of the network.
    pub fn layer(&self, index: i64) -> Layer {
        Layer {
            init: self.init,
            units: self.units,
            input: if index == 0 {
                self.input_size
            } else {
                self.units
            },
            index,
            layers: self.layers,
            steps: self.steps,
        }
    }

    /// Every parameter in PyTorch's `parameters()` order, with its shape.
    pub fn parameters(&self) -> Vec<Param> {
        let mut params = Vec::new();
        for layer in 0..self.layers {
            let input = self.layer(layer).input;
            for p in self.def().layer(input, self.units) {
                params.push(Param {
                    name: format!("rnn.{}_l{layer}", p.leaf),
                    shape: p.shape,
                    layer: Some(layer),
                    leaf: p.leaf,
                });
            }
        }
        params.push(Param {
            name: "head.weight".into(),
            shape: vec![self.output_size, self.units],
            layer: None,
            leaf: "weight",
        });
        params.push(Param {
            name: "head.bias".into(),
            shape: vec![self.output_size],
            layer: None,
            leaf: "bias",
        });
        params
    }

    /// Whether `param` trains: the head always; the cell's own say (Keras's
    /// SimpleRNN and LSTM have a single bias, so under Keras's scheme
    /// `bias_hh` stays a frozen zero and the model trains exactly Keras's
    /// parameters).
    pub fn is_trainable(&self, param: &Param) -> bool {
        param.layer.is_none() || self.def().trains(param.leaf, self.init)
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

    /// Refuses a network of more than [`MAX_PARAMETERS`] weights.
    pub fn check_size(&self) -> Result<()> {
        let parameters = self.parameter_count();
        if parameters > MAX_PARAMETERS {
            bail!(
                "units {} x layers {} make {} weights (at most {}); lower units or layers",
                self.units,
                self.layers,
                parameters,
                MAX_PARAMETERS
            );
        }
        Ok(())
    }
}

/// One named parameter, named as in PyTorch's `state_dict`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub shape: Vec<i64>,
    /// Its layer; `None` for the head's.
    pub layer: Option<i64>,
    /// Its name within the layer (`weight_ih`) or the head (`weight`).
    pub leaf: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(cell: Cell, init: InitScheme) -> ModelSpec {
        ModelSpec::new(cell, 30, 2, init)
    }

    #[test]
    fn a_network_beyond_the_weight_limit_is_refused_naming_its_size() {
        let config = TrainConfig {
            units: 16_384,
            layers: 256,
            ..TrainConfig::default()
        };
        assert_eq!(
            ModelSpec::for_config(&config).check_size().unwrap_err().to_string(),
            "units 16384 x layers 256 make 548715773953 weights (at most 1073741824); lower units or layers"
        );
        assert!(ModelSpec::for_config(&TrainConfig::default())
            .check_size()
            .is_ok());
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
