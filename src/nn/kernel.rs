//! Which network computes a run: libtorch's fused recurrent ops for one
//! member, the batched composition for several. Decided here, once.

use anyhow::Result;
use tch::Device;

use super::fused::FusedModel;
use super::network::Network;
use super::packed::PackedModel;
use super::weights::Weights;
use crate::config::ModelSpec;

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
