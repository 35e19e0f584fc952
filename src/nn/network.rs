//! What the training loop trains: a network of K >= 1 members, each with
//! its own weights, computing every member's predictions in one forward
//! pass. The fused libtorch model is the K = 1 case, the batched model
//! (`packed`) any K; `kernel` decides which a run gets.

use tch::{nn, Tensor};

use super::weights::Weights;
use crate::config::{Kernel, Readout};

/// Where a network gives its answer for a batch.
pub enum Read<'a> {
    /// After the last step: `[K, B, outputs]`.
    Last,
    /// After each row's step `steps[k, b]` (`[K, B]` int64): `[K, B, outputs]`.
    At(&'a Tensor),
    /// At every step: `[K, B, L, outputs]`.
    Every,
}

impl<'a> Read<'a> {
    /// Where a task with `readout` reads, each row's last step in
    /// `last_steps` (`[K, B]`).
    pub fn of(readout: Readout, last_steps: &'a Tensor) -> Read<'a> {
        match readout {
            Readout::Last => Read::Last,
            Readout::AtLength => Read::At(last_steps),
            Readout::EveryStep => Read::Every,
        }
    }

    /// The top layer's outputs `[K, B, L, H]` at the read steps: `[K, B, H]`,
    /// or all of them for every step.
    pub fn pick(&self, outputs: &Tensor) -> Tensor {
        let s = outputs.size();
        match self {
            Read::Last => outputs.select(2, s[2] - 1),
            Read::At(steps) => {
                let index = steps
                    .view([s[0], s[1], 1, 1])
                    .expand([s[0], s[1], 1, s[3]], false);
                outputs.gather(2, &index, false).squeeze_dim(2)
            }
            Read::Every => outputs.shallow_clone(),
        }
    }
}

/// The head `Linear(H, outputs)` of K members on `features` (`[K, B, H]`
/// or `[K, B, L, H]`): `[K, B, outputs]` or `[K, B, L, outputs]`.
pub fn head(weight: &Tensor, bias: &Tensor, features: &Tensor) -> Tensor {
    let s = features.size();
    let rows = features.reshape([s[0], -1, s[s.len() - 1]]);
    let out = bias
        .unsqueeze(1)
        .baddbmm(&rows, &weight.transpose(1, 2), 1, 1);
    let mut shape = s[..s.len() - 1].to_vec();
    shape.push(-1);
    out.view(shape.as_slice())
}

pub trait Network {
    /// Members trained together (K).
    fn members(&self) -> i64;
    /// `x`: `[K, batch, steps, features]` → the answers `read` asks for.
    fn forward(&self, x: &Tensor, read: &Read) -> Tensor;
    /// The variables the optimizer trains (frozen ones marked so).
    fn var_store(&self) -> &nn::VarStore;
    /// Member `k`'s weights, on the CPU, named as its single model's.
    fn member_weights(&self, k: i64) -> Weights;
    /// Whether every variable holds the members on its first dimension
    /// (`[K, ...]`); a lone fused model's variables are its own shape.
    fn stacked(&self) -> bool {
        true
    }
    /// What computes the recurrence, as summary.json records it.
    fn kernel(&self) -> Kernel;
    /// Back-propagates `loss` (computed from this network's last forward)
    /// into every trainable variable's gradient.
    fn backward(&self, loss: &Tensor) {
        loss.backward();
    }
    /// Applies the cell's constraint on its weights (a clip, say),
    /// after each optimizer step.
    fn constrain(&self) {}
}
