//! Weight files: safetensors with PyTorch's `state_dict` names (what
//! `--save-init`, a finished run's model.safetensors and PyTorch write),
//! read and matched to a network's shape, written whole or not at all.

use std::{collections::HashMap, path::Path};

use anyhow::{bail, ensure, Context, Result};
use tch::{Device, Kind, Tensor};

use super::shape::ModelSpec;
use crate::store::write_atomic_with;

/// One member's weights, named as PyTorch's `state_dict`, in
/// `ModelSpec::parameters` order.
pub type Weights = Vec<(String, Tensor)>;

/// Reads the weights of `spec` from the safetensors file at `path`: every
/// parameter present with its shape, nothing else (a file saved for
/// another model is refused by name).
pub fn read_weights(spec: &ModelSpec, path: &Path) -> Result<Weights> {
    let tensors = Tensor::read_safetensors(path)
        .with_context(|| format!("cannot read weights from {}", path.display()))?;
    let mut by_name: HashMap<String, Tensor> = tensors.into_iter().collect();
    let mut values = Vec::new();
    for p in spec.parameters() {
        let t = by_name.remove(&p.name).with_context(|| {
            format!(
                "{} has no tensor '{}': was it saved for this --model/--units/--layers?",
                path.display(),
                p.name
            )
        })?;
        ensure!(
            t.size() == p.shape,
            "{}: '{}' has shape {:?}, this model needs {:?}",
            path.display(),
            p.name,
            t.size(),
            p.shape
        );
        values.push((p.name, t.to_kind(Kind::Float)));
    }
    if let Some(extra) = by_name.keys().next() {
        bail!(
            "{} has a tensor '{}' this model does not have",
            path.display(),
            extra
        );
    }
    Ok(values)
}

/// Writes named tensors (moved to the CPU, sorted by name) as
/// safetensors, whole or not at all.
pub fn save_named(tensors: Vec<(String, Tensor)>, path: &Path) -> Result<()> {
    let mut named: Vec<(String, Tensor)> = tensors
        .into_iter()
        .map(|(name, t)| (name, t.to(Device::Cpu).contiguous()))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    write_atomic_with(path, |tmp| Ok(Tensor::write_safetensors(&named, tmp)?))
}

/// A copy of `weights` (tensors are reference-counted handles: the
/// network must not share storage with what the caller keeps).
pub fn copy(weights: &Weights) -> Weights {
    weights.iter().map(|(n, t)| (n.clone(), t.copy())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Cell, InitScheme};
    use crate::nn::init::draw_weights;

    #[test]
    fn weights_round_trip_and_a_file_of_another_shape_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let s = ModelSpec {
            cell: Cell::Lstm,
            input_size: 2,
            units: 30,
            layers: 2,
            init: InitScheme::Keras,
            output_size: 1,
            steps: 6,
        };
        let a = draw_weights(&s, 5);
        save_named(copy(&a), &path).unwrap();
        let b = read_weights(&s, &path).unwrap();
        for ((name, x), (other, y)) in a.iter().zip(&b) {
            assert_eq!(name, other);
            assert!(x.equal(y), "{name}");
        }
        let err = read_weights(&ModelSpec { units: 8, ..s }, &path)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'rnn.weight_ih_l0' has shape [120, 2], this model needs [32, 2]"),
            "{err}"
        );
    }
}
