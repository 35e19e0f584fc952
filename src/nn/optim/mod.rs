//! The two Adams a run can train with, over its weights one tensor at a
//! time or over one flat buffer of them all (`flat`; the same numbers bit
//! for bit, fewer ops a step). `torch` is libtorch's own (`nn::Adam`,
//! PyTorch's formula: epsilon added after bias correction). `keras`
//! follows Keras 3's `Adam.update_step` exactly: the bias correction
//! folded into the step size, epsilon added to the uncorrected sqrt(v),
//! in float32 — so its effective epsilon is 1e-7 / sqrt(1 - 0.999^t) in
//! PyTorch's terms, large while v is tiny in the first steps.

mod flat;
mod keras;

use anyhow::{Context, Result};
use tch::{nn, COptimizer, Tensor};

use crate::config::{AdamKind, AdamLayout, TrainConfig};
use flat::Flat;
pub use keras::KerasAdam;

/// Adam's betas, Keras's and PyTorch's defaults alike.
const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;

enum Adam {
    Torch(COptimizer),
    Keras(KerasAdam),
}

pub struct Optimizer {
    adam: Adam,
    /// The one buffer of weights and gradients, when the layout is flat.
    flat: Option<Flat>,
}

impl Optimizer {
    /// The Adam of `config` over the trainable variables of `vs`, laid out
    /// as `layout` says.
    pub fn new(vs: &nn::VarStore, config: &TrainConfig, layout: AdamLayout) -> Result<Optimizer> {
        let vars = vs.trainable_variables();
        let flat = match layout {
            AdamLayout::Flat => {
                Some(Flat::gather(&vars).context("gathering the weights into one buffer")?)
            }
            AdamLayout::PerTensor => None,
        };
        let stepped: Vec<Tensor> = match &flat {
            Some(f) => vec![f.param.shallow_clone()],
            None => vars,
        };
        let adam = match config.adam {
            AdamKind::Torch => {
                let mut o = COptimizer::adam(config.lr, BETA1, BETA2, 0.0, config.adam_eps, false)
                    .context("creating the Adam optimizer")?;
                for t in &stepped {
                    o.add_parameters(t, 0)?;
                }
                Adam::Torch(o)
            }
            AdamKind::Keras => Adam::Keras(KerasAdam::new(stepped, config.lr, config.adam_eps)),
        };
        Ok(Optimizer { adam, flat })
    }

    /// Zeroes the gradients, runs `backward` (which fills them) and takes
    /// one step.
    pub fn backward_step(&mut self, backward: impl FnOnce()) {
        match (&mut self.flat, &mut self.adam) {
            // Never libtorch's zero_grad here: it would drop the buffer's views.
            (Some(f), _) => f.zero_grad(),
            (None, Adam::Torch(o)) => o.zero_grad().expect("zeroing the gradients"),
            (None, Adam::Keras(o)) => o.zero_grad(),
        }
        backward();
        match &mut self.adam {
            Adam::Torch(o) => o.step().expect("an Adam step"),
            Adam::Keras(o) => o.step(),
        }
    }
}
