//! The network of one member on libtorch's own fused recurrent op, where
//! its cell has one (`nn::lstm` and `nn::gru` through tch, oneDNN on the
//! CPU and cuDNN on CUDA, and the Elman RNN on `rnn_tanh`), then the head
//! `Linear(units, outputs)` on the read outputs.

use std::collections::HashMap;

use anyhow::{Context, Result};
use tch::nn;
use tch::{Device, Tensor};

use super::cells::FusedStack;
use super::network::{Network, Read};
use super::shape::ModelSpec;
use super::weights::Weights;
use crate::config::Kernel;

/// One member: the recurrent stack and the head, in its own var store.
#[derive(Debug)]
pub struct FusedModel {
    pub spec: ModelSpec,
    vs: nn::VarStore,
    stack: Box<dyn FusedStack>,
    head_weight: Tensor,
    head_bias: Tensor,
}

impl FusedModel {
    /// The model of `spec` on `device`, starting from `weights` (tch's own
    /// initialisers are never used); the parameters Keras does not train
    /// (`ModelSpec::is_trainable`) are frozen.
    pub fn new(spec: ModelSpec, weights: Weights, device: Device) -> Result<FusedModel> {
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let zero = nn::Init::Const(0.0);
        let (input, units) = (spec.input_size, spec.units);
        let stack = spec
            .def()
            .libtorch(&(&root / "rnn"), input, units, spec.layers)
            .with_context(|| {
                format!(
                    "libtorch has no op for the {}; use --kernel composed",
                    spec.cell
                )
            })?;
        let head = &root / "head";
        let head_weight = head.var("weight", &[spec.output_size, units], zero);
        let head_bias = head.var("bias", &[spec.output_size], zero);
        let model = FusedModel {
            spec,
            vs,
            stack,
            head_weight,
            head_bias,
        };
        model.assign(weights)?;
        Ok(model)
    }

    /// Copies CPU values into the variables (on any device) and marks the
    /// parameters that Keras does not train as frozen.
    fn assign(&self, values: Weights) -> Result<()> {
        let vars = self.vs.variables();
        let trainable: HashMap<String, bool> = self
            .spec
            .parameters()
            .iter()
            .map(|p| (p.name.clone(), self.spec.is_trainable(p)))
            .collect();
        tch::no_grad(|| -> Result<()> {
            for (name, value) in values {
                let mut var = vars
                    .get(&name)
                    .with_context(|| format!("model has no variable {name}"))?
                    .shallow_clone();
                var.f_copy_(&value)
                    .with_context(|| format!("setting {name}"))?;
                if !trainable[&name] {
                    let _ = var.set_requires_grad(false);
                }
            }
            Ok(())
        })
    }

    /// `x`: `[batch, steps, features]` → the head on the read outputs.
    fn forward_one(&self, x: &Tensor, read: &Read) -> Tensor {
        let output = self.stack.seq(x);
        read.pick(&output.unsqueeze(0))
            .squeeze_dim(0)
            .linear(&self.head_weight, Some(&self.head_bias))
    }
}

impl Network for FusedModel {
    fn members(&self) -> i64 {
        1
    }

    fn forward(&self, x: &Tensor, read: &Read) -> Tensor {
        self.forward_one(&x.get(0), read).unsqueeze(0)
    }

    fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    fn member_weights(&self, _k: i64) -> Weights {
        let vars = self.vs.variables();
        self.spec
            .parameters()
            .into_iter()
            .map(|p| {
                let t = vars[&p.name].detach().to(Device::Cpu).copy();
                (p.name, t)
            })
            .collect()
    }

    fn kernel(&self) -> Kernel {
        Kernel::Libtorch
    }

    fn stacked(&self) -> bool {
        false
    }

    fn constrain(&self) {
        let vars = self.vs.variables();
        let def = self.spec.def();
        tch::no_grad(|| {
            for index in 0..self.spec.layers {
                let layer = self.spec.layer(index);
                let w: Vec<Tensor> = def
                    .layer(layer.input, self.spec.units)
                    .iter()
                    .map(|p| vars[&format!("rnn.{}_l{index}", p.leaf)].shallow_clone())
                    .collect();
                def.constrain(&layer, &w);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use tch::Kind;

    use super::*;
    use crate::config::{Cell, InitScheme};
    use crate::nn::cells;
    use crate::nn::init::draw_weights;
    use crate::nn::seed::rng_lock;

    /// Every cell that has libtorch's fused op.
    fn with_libtorch() -> Vec<Cell> {
        Cell::all()
            .iter()
            .copied()
            .filter(|&c| cells::has_libtorch(cells::def(c)))
            .collect()
    }

    fn spec(cell: Cell, init: InitScheme) -> ModelSpec {
        ModelSpec::new(cell, 30, 2, init)
    }

    fn model(s: ModelSpec, seed: u64) -> FusedModel {
        FusedModel::new(s, draw_weights(&s, seed), Device::Cpu).unwrap()
    }

    fn max_abs(t: &Tensor) -> f64 {
        t.abs().max().double_value(&[])
    }

    #[test]
    fn keras_freezes_bias_hh_except_for_the_gru() {
        for cell in with_libtorch() {
            let vars = model(spec(cell, InitScheme::Keras), 3).vs.variables();
            for name in ["rnn.bias_hh_l0", "rnn.bias_hh_l1"] {
                assert_eq!(
                    vars[name].requires_grad(),
                    cell == Cell::Gru,
                    "{cell} {name}"
                );
            }
            assert!(vars["rnn.bias_ih_l0"].requires_grad());
        }
    }

    #[test]
    fn variables_match_pytorch_state_dict_names_and_shapes() {
        let s = spec(Cell::Gru, InitScheme::Keras);
        let vars = model(s, 1).vs.variables();
        assert_eq!(vars.len(), 10);
        assert_eq!(vars["rnn.weight_ih_l0"].size(), [90, 2]);
        assert_eq!(vars["rnn.weight_hh_l1"].size(), [90, 30]);
        assert_eq!(vars["rnn.bias_hh_l1"].size(), [90]);
        assert_eq!(vars["head.weight"].size(), [1, 30]);
        let rnn_vars = model(spec(Cell::Rnn, InitScheme::Keras), 1).vs.variables();
        assert_eq!(rnn_vars["rnn.weight_ih_l1"].size(), [30, 30]);
    }

    #[test]
    fn forward_shapes() {
        for cell in with_libtorch() {
            let s = ModelSpec::new(cell, 7, 3, InitScheme::Keras);
            let m = model(s, 1);
            let x = {
                let _rng = rng_lock(); // other tests seed and draw concurrently
                Tensor::rand([5, 9, 2], (Kind::Float, Device::Cpu))
            };
            assert_eq!(
                m.forward(&x.unsqueeze(0), &Read::Last).size(),
                [1, 5, 1],
                "{cell}"
            );
        }
    }

    #[test]
    fn elman_forward_equals_the_tanh_recurrence() {
        let s = ModelSpec {
            cell: Cell::Rnn,
            input_size: 2,
            units: 4,
            layers: 1,
            init: InitScheme::Torch,
            output_size: 1,
            steps: 6,
        };
        let m = model(s, 2);
        let v = m.vs.variables();
        let x = {
            let _rng = rng_lock(); // other tests seed and draw concurrently
            Tensor::rand([3, 6, 2], (Kind::Float, Device::Cpu))
        };
        let mut h = Tensor::zeros([3, 4], (Kind::Float, Device::Cpu));
        for t in 0..6 {
            let xt = x.select(1, t);
            h = (xt.linear(&v["rnn.weight_ih_l0"], Some(&v["rnn.bias_ih_l0"]))
                + h.linear(&v["rnn.weight_hh_l0"], Some(&v["rnn.bias_hh_l0"])))
            .tanh();
        }
        let expected = h.linear(&v["head.weight"], Some(&v["head.bias"]));
        let err = max_abs(&(m.forward(&x.unsqueeze(0), &Read::Last).get(0) - expected));
        assert!(err < 1e-6, "rnn_tanh differs from the recurrence by {err}");
    }
}
