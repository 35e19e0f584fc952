//! Where runs compute: `--device` resolved to a libtorch device, and what
//! this build sees (versions, CUDA, cuDNN) for `rnn-lab info` and summaries.

use anyhow::{bail, Result};
use serde::Serialize;
use tch::{Cuda, Device};

use super::cells::{self, CellInfo};
use super::cpu;
use crate::config::{catalogue, DeviceSpec, Execution, TaskInfo, TrainConfig};
use crate::store::CpuRecord;
use crate::store::Versions;

/// The tch release this build uses (pinned in Cargo.toml).
pub const TCH_VERSION: &str = "0.24.0";

/// Turns `--device` into a libtorch device, or says why it cannot.
pub fn resolve(spec: DeviceSpec) -> Result<Device> {
    match spec {
        DeviceSpec::Cpu => Ok(Device::Cpu),
        DeviceSpec::Auto => Ok(if Cuda::is_available() {
            Device::Cuda(0)
        } else {
            Device::Cpu
        }),
        DeviceSpec::Cuda(n) => {
            if !Cuda::is_available() {
                bail!("--device {spec}: no CUDA device is visible to libtorch; use --device cpu (or auto)");
            }
            let count = Cuda::device_count() as usize;
            if n >= count {
                bail!(
                    "--device {spec}: only {count} CUDA device(s) visible (cuda:0..cuda:{})",
                    count - 1
                );
            }
            Ok(Device::Cuda(n))
        }
    }
}

pub fn name(device: Device) -> String {
    match device {
        Device::Cuda(n) => format!("cuda:{n}"),
        Device::Cpu => "cpu".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// The device a run uses, as a header line names it; `--device auto`
/// says what it chose and why, so a missing GPU is never silent.
pub fn announce(spec: DeviceSpec, device: Device) -> String {
    match (spec, device) {
        (DeviceSpec::Auto, Device::Cpu) => {
            "cpu (--device auto: no CUDA device visible to libtorch)".into()
        }
        (DeviceSpec::Auto, d) => format!("{} (--device auto)", name(d)),
        (_, d) => name(d),
    }
}

/// What computed a run on `device`.
pub fn versions(device: Device) -> Versions {
    let cuda = device.is_cuda();
    Versions {
        rnn_lab: env!("CARGO_PKG_VERSION").into(),
        tch: TCH_VERSION.into(),
        libtorch: env!("RNN_LAB_LIBTORCH_VERSION").into(),
        cuda_runtime: cuda.then(tch::utils::version_cudart),
        cudnn: (cuda && Cuda::cudnn_is_available()).then(tch::utils::version_cudnn),
    }
}

/// What this build of rnn-lab sees, and the defaults it runs with.
#[derive(Clone, Debug, Serialize)]
pub struct Environment {
    pub versions: Versions,
    pub cuda_available: bool,
    pub cuda_devices: i64,
    pub cudnn_available: bool,
    /// The device `--device auto` picks.
    pub auto_device: String,
    /// The CPU code libtorch runs here (see `cpu`).
    pub cpu: CpuRecord,
    pub defaults: TrainConfig,
    pub default_execution: Execution,
    pub tasks: Vec<TaskInfo>,
    pub cells: Vec<CellInfo>,
}

pub fn environment() -> Environment {
    let auto = resolve(DeviceSpec::Auto).unwrap_or(Device::Cpu);
    let (tasks, cells) = (catalogue(), cells::catalogue());
    Environment {
        versions: versions(auto),
        cuda_available: Cuda::is_available(),
        cuda_devices: Cuda::device_count(),
        cudnn_available: Cuda::cudnn_is_available(),
        auto_device: name(auto),
        cpu: cpu::record(),
        defaults: TrainConfig::default(),
        default_execution: Execution::default(),
        tasks,
        cells,
    }
}

/// `rnn-lab info` as text.
pub fn describe(env: &Environment) -> String {
    let v = &env.versions;
    let mut text = format!(
        "rnn-lab {} (tch {}, libtorch {})\ncuda available: {} ({} device(s))\ncudnn available: {}\n",
        v.rnn_lab, v.tch, v.libtorch, env.cuda_available, env.cuda_devices, env.cudnn_available
    );
    if let (Some(rt), Some(dnn)) = (v.cuda_runtime, v.cudnn) {
        text += &format!("cuda runtime {rt}, cudnn {dnn}\n");
    }
    text += &format!("--device auto uses: {}\n", env.auto_device);
    let c = &env.cpu;
    text += &format!(
        "cpu: {} (best {}); ATen {}, oneDNN max isa {}, MKL branch {}\n",
        c.model, c.best_isa, c.aten, c.onednn_max_isa, c.mkl_branch
    );
    text += "tasks:\n";
    for t in &env.tasks {
        text += &format!("  {:<12} {}; score: {}\n", t.name, t.source, t.score);
    }
    text += "cells:\n";
    for c in &env.cells {
        text += &format!(
            "  {:<12} {}\n  {:<12} init: {}\n  {:<12} kernels: {}\n",
            c.name,
            c.description,
            "",
            c.init,
            "",
            c.kernels.join(", ")
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tch_version_matches_cargo_pin() {
        let manifest = include_str!("../../Cargo.toml");
        assert!(
            manifest.contains(&format!("tch = \"={TCH_VERSION}\"")),
            "Cargo.toml must pin tch {TCH_VERSION}"
        );
        assert!(env!("RNN_LAB_LIBTORCH_VERSION").starts_with("2.11.0"));
    }

    /// Each cell's kernels under its description and init.
    #[test]
    fn info_names_each_cells_kernels() {
        let text = describe(&environment());
        let lines: Vec<&str> = text.lines().collect();
        for (cell, kernels) in [
            ("lstm", "composed, native, libtorch"),
            ("gru", "composed, handwritten, native, libtorch"),
            ("lru", "composed"),
        ] {
            let at = lines
                .iter()
                .position(|l| l.starts_with(&format!("  {cell:<12} ")))
                .unwrap_or_else(|| panic!("no line for {cell} in:\n{text}"));
            assert_eq!(
                lines[at + 2],
                format!("{:15}kernels: {kernels}", ""),
                "{cell}"
            );
        }
    }

    #[test]
    fn cuda_without_gpu_is_a_clear_error() {
        if Cuda::is_available() {
            return; // only meaningful on a machine without a GPU
        }
        let err = resolve(DeviceSpec::Cuda(0)).unwrap_err().to_string();
        assert_eq!(
            err,
            "--device cuda:0: no CUDA device is visible to libtorch; use --device cpu (or auto)"
        );
        assert_eq!(resolve(DeviceSpec::Auto).unwrap(), Device::Cpu);
    }
}
