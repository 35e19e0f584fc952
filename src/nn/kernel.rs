//! Which network computes a run, decided here, once: libtorch's fused
//! recurrent op (oneDNN's LSTM on the CPU, cuDNN on CUDA) for one member
//! where it is the fastest, the hand-written backward for a lone Elman RNN
//! or GRU on the CPU (which libtorch runs step by step through autograd)
//! and for packs on CUDA, the composed batched ops through autograd for
//! packs on the CPU and LSTM packs.

use anyhow::{bail, Result};
use tch::Device;

use super::fused::FusedModel;
use super::handwritten::HandWritten;
use super::manual;
use super::network::Network;
use super::packed::PackedModel;
use super::weights::Weights;
use crate::config::{Cell, Kernel, ModelSpec};

/// What `choice` means for `members` runs of `cell` on `device`.
pub fn resolve(choice: Kernel, cell: Cell, members: usize, device: Device) -> Result<Kernel> {
    Ok(match choice {
        Kernel::Auto if members == 1 && (device.is_cuda() || cell == Cell::Lstm) => Kernel::Libtorch,
        // Measured on the CPU (scripts/bench-pack.sh): the hand-written
        // backward halves a lone Elman or GRU run, but in packs of 32 the
        // composed ops are faster (0.13 vs 0.15 s a run-epoch for the RNN,
        // 0.40 vs 0.51 for the GRU at length 100).
        Kernel::Auto if members > 1 && !device.is_cuda() => Kernel::Composed,
        Kernel::Auto if manual::supports(cell) => Kernel::Handwritten,
        Kernel::Auto => Kernel::Composed,
        Kernel::Libtorch if members > 1 => bail!(
            "--kernel libtorch trains one run at a time, not a pack of {members}; use --pack 1, or --kernel composed or handwritten"
        ),
        Kernel::Handwritten if !manual::supports(cell) => {
            bail!("no hand-written backward for the {cell}; use --kernel libtorch or composed")
        }
        other => other,
    })
}

/// The network for members of `specs` (one shape) starting from
/// `weights` (one set per member) on `device`, computed by `choice`.
pub fn build(
    specs: &[ModelSpec],
    weights: Vec<Weights>,
    device: Device,
    choice: Kernel,
) -> Result<Box<dyn Network>> {
    Ok(match resolve(choice, specs[0].cell, specs.len(), device)? {
        Kernel::Libtorch => {
            let weights = weights.into_iter().next().expect("one member");
            Box::new(FusedModel::new(specs[0], weights, device)?)
        }
        Kernel::Handwritten => Box::new(HandWritten::new(specs, &weights, device)?),
        Kernel::Composed | Kernel::Auto => Box::new(PackedModel::new(specs, &weights, device)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_picks_per_cell_device_and_pack() {
        let cpu = Device::Cpu;
        assert_eq!(
            resolve(Kernel::Auto, Cell::Lstm, 1, cpu).unwrap(),
            Kernel::Libtorch
        );
        assert_eq!(
            resolve(Kernel::Auto, Cell::Rnn, 1, cpu).unwrap(),
            Kernel::Handwritten
        );
        assert_eq!(
            resolve(Kernel::Auto, Cell::Gru, 1, Device::Cuda(0)).unwrap(),
            Kernel::Libtorch
        );
        assert_eq!(
            resolve(Kernel::Auto, Cell::Gru, 32, Device::Cuda(0)).unwrap(),
            Kernel::Handwritten
        );
        for cell in [Cell::Lstm, Cell::Gru] {
            assert_eq!(
                resolve(Kernel::Auto, cell, 32, cpu).unwrap(),
                Kernel::Composed
            );
        }
        assert!(resolve(Kernel::Libtorch, Cell::Rnn, 2, cpu)
            .unwrap_err()
            .to_string()
            .contains("use --pack 1"));
        assert!(resolve(Kernel::Handwritten, Cell::Lstm, 1, cpu).is_err());
    }
}
