//! What the training loop trains: a network of K >= 1 members, each with
//! its own weights, computing every member's predictions in one forward
//! pass. The fused libtorch model is the K = 1 case, the batched model
//! (`packed`) any K; which one a run gets is decided here, once.

use anyhow::Result;
use tch::{nn, Device, Tensor};

use super::fused::FusedModel;
use super::packed::PackedModel;
use super::weights::Weights;
use crate::config::ModelSpec;

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
}

/// The network for members of `specs` (one shape) starting from
/// `weights` (one set per member) on `device`: libtorch's fused recurrent
/// ops for one member, the batched composition for several.
pub fn build(
    specs: &[ModelSpec],
    weights: Vec<Weights>,
    device: Device,
) -> Result<Box<dyn Network>> {
    if let ([spec], [_]) = (specs, weights.as_slice()) {
        let weights = weights.into_iter().next().expect("one member");
        return Ok(Box::new(FusedModel::new(*spec, weights, device)?));
    }
    Ok(Box::new(PackedModel::new(specs, &weights, device)?))
}
