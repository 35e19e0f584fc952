//! Which network computes a run, decided here, once, from what the cell
//! has (`cells`): libtorch's fused recurrent op for one member on CUDA, and
//! on the CPU where the cell says it is the fastest (oneDNN's LSTM); the
//! hand-written backward for a lone run on the CPU of a cell that has one
//! (the Elman RNN and GRU, which libtorch runs step by step through
//! autograd) and for its packs on CUDA; the composed batched ops through
//! autograd for packs on the CPU and for every other cell.

use anyhow::{bail, Result};
use tch::Device;

use super::cells::{self, CellDef};
use super::fused::FusedModel;
use super::handwritten::HandWritten;
use super::network::Network;
use super::optim::Optimizer;
use super::packed::PackedModel;
use super::shape::ModelSpec;
use super::weights::Weights;
use crate::config::{Cell, Execution, Kernel, TrainConfig};

/// What `choice` means for `members` runs of `cell` on `device`.
pub fn resolve(choice: Kernel, cell: Cell, members: usize, device: Device) -> Result<Kernel> {
    let def: &dyn CellDef = cells::def(cell);
    let (libtorch, handwritten) = (cells::has_libtorch(def), def.handwritten().is_some());
    Ok(match choice {
        Kernel::Auto if members == 1 && device.is_cuda() && libtorch => Kernel::Libtorch,
        Kernel::Auto if members == 1 && !device.is_cuda() => def.lone_cpu_kernel(),
        // Measured on the CPU (scripts/bench-pack.sh): the hand-written
        // backward halves a lone Elman or GRU run, but in packs of 32 the
        // composed ops are faster (0.13 vs 0.15 s a run-epoch for the RNN,
        // 0.40 vs 0.51 for the GRU at length 100).
        Kernel::Auto if members > 1 && !device.is_cuda() => Kernel::Composed,
        Kernel::Auto if handwritten => Kernel::Handwritten,
        Kernel::Auto => Kernel::Composed,
        Kernel::Libtorch if !libtorch => {
            bail!("libtorch has no op for the {cell}; use --kernel composed")
        }
        Kernel::Libtorch if members > 1 => bail!(
            "--kernel libtorch trains one run at a time, not a pack of {members}; use --pack 1, or --kernel composed or handwritten"
        ),
        Kernel::Handwritten if !handwritten => {
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

/// The network (see `build`) with `execution`'s kernel, and the Adam of
/// `config` that trains it, laid out as `execution` asks where the network
/// allows it (`Optimizer::layout_for`): what a run and a calibration train.
pub fn build_with_adam(
    specs: &[ModelSpec],
    weights: Vec<Weights>,
    device: Device,
    execution: &Execution,
    config: &TrainConfig,
) -> Result<(Box<dyn Network>, Optimizer)> {
    let net = build(specs, weights, device, execution.kernel)?;
    let layout = Optimizer::layout_for(execution.adam_layout, &*net, device);
    let opt = Optimizer::new(net.var_store(), config, layout)?;
    Ok((net, opt))
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
