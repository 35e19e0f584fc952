//! What the training loop trains: a network of K >= 1 members, each with
//! its own weights, computing every member's predictions in one forward
//! pass. The fused libtorch model is the K = 1 case, the batched model
//! (`packed`) any K; `kernel` decides which a run gets.

use tch::{nn, Tensor};

use super::weights::Weights;

pub trait Network {
    /// Members trained together (K).
    fn members(&self) -> i64;
    /// `x`: `[K, batch, seq_len, features]` → predictions `[K, batch, 1]`.
    fn forward(&self, x: &Tensor) -> Tensor;
    /// The variables the optimizer trains (frozen ones marked so).
    fn var_store(&self) -> &nn::VarStore;
    /// Member `k`'s weights, on the CPU, named as its single model's.
    fn member_weights(&self, k: i64) -> Weights;
    /// What computes the recurrence, as summary.json records it.
    fn kernel(&self) -> &'static str;
    /// Back-propagates `loss` (computed from this network's last forward)
    /// into every trainable variable's gradient.
    fn backward(&self, loss: &Tensor) {
        loss.backward();
    }
}
