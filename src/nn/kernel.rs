//! Which network computes a run, decided here, once, from what the cell
//! has (`cells`). On the CPU: the native kernel wherever the cell has one
//! (lone runs and packs; measured with scripts/bench.sh and
//! scripts/bench-pack.sh, it beats libtorch's fused op, the hand-written
//! backward and the composed ops), else what the cell says is fastest for
//! one member, and the composed ops for packs. On CUDA: libtorch's fused
//! op for one member (cuDNN), the hand-written backward for packs of a
//! cell that has one, the composed batched ops for the rest.

use anyhow::{bail, Result};
use tch::Device;

use super::cells::{self, CellDef};
use super::device;
use super::fused::FusedModel;
use super::handwritten::HandWritten;
use super::native::blas;
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
    let native = def.native().is_some() && blas::available();
    Ok(match choice {
        Kernel::Auto if native && !device.is_cuda() => Kernel::Native,
        Kernel::Auto if members == 1 && device.is_cuda() && libtorch => Kernel::Libtorch,
        Kernel::Auto if members == 1 && !device.is_cuda() => def.lone_cpu_kernel(),
        Kernel::Auto if members > 1 && !device.is_cuda() => Kernel::Composed,
        Kernel::Auto if handwritten => Kernel::Handwritten,
        Kernel::Auto => Kernel::Composed,
        Kernel::Libtorch if !libtorch => {
            bail!("libtorch has no op for the {cell}; use --kernel composed")
        }
        Kernel::Libtorch if members > 1 => bail!(
            "--kernel libtorch trains one run at a time, not a pack of {members}; use --pack 1, or --kernel composed or handwritten"
        ),
        Kernel::Native if device.is_cuda() => {
            bail!(
                "--kernel native runs on the CPU only; use --kernel auto on {}",
                device::name(device)
            )
        }
        Kernel::Native if def.native().is_none() => {
            bail!("no native kernel for the {cell}; use --kernel auto")
        }
        Kernel::Native if !native => bail!(
            "this libtorch exports no BLAS sgemm_, which the native kernel calls; use --kernel auto or composed"
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
        kernel @ (Kernel::Handwritten | Kernel::Native) => {
            Box::new(HandWritten::new(specs, &weights, device, kernel)?)
        }
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
        for cell in [
            Cell::Rnn,
            Cell::Irnn,
            Cell::Lstm,
            Cell::Gru,
            Cell::Indrnn,
            Cell::Mingru,
            Cell::Minlstm,
        ] {
            for members in [1, 32] {
                assert_eq!(
                    resolve(Kernel::Auto, cell, members, cpu).unwrap(),
                    Kernel::Native
                );
            }
        }
        assert_eq!(
            resolve(Kernel::Auto, Cell::Lru, 1, cpu).unwrap(),
            Kernel::Composed
        );
        assert_eq!(
            resolve(Kernel::Auto, Cell::Gru, 1, Device::Cuda(0)).unwrap(),
            Kernel::Libtorch
        );
        assert_eq!(
            resolve(Kernel::Auto, Cell::Gru, 32, Device::Cuda(0)).unwrap(),
            Kernel::Handwritten
        );
        assert_eq!(
            resolve(Kernel::Auto, Cell::Lru, 32, cpu).unwrap(),
            Kernel::Composed
        );
        assert_eq!(
            resolve(Kernel::Native, Cell::Lru, 1, cpu)
                .unwrap_err()
                .to_string(),
            "no native kernel for the lru; use --kernel auto"
        );
        assert_eq!(
            resolve(Kernel::Native, Cell::Rnn, 1, Device::Cuda(0))
                .unwrap_err()
                .to_string(),
            "--kernel native runs on the CPU only; use --kernel auto on cuda:0"
        );
        assert!(resolve(Kernel::Libtorch, Cell::Rnn, 2, cpu)
            .unwrap_err()
            .to_string()
            .contains("use --pack 1"));
        assert!(resolve(Kernel::Handwritten, Cell::Lstm, 1, cpu).is_err());
    }
}
