//! One complete training run: checks, device, data, model, training with
//! live history, evaluation, and the files of the run folder.

use std::{
    io::{IsTerminal, Write},
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tch::{Cuda, Device, Kind, Tensor};

use crate::config::{DeviceSpec, TrainConfig};
use crate::data::Dataset;
use crate::model::{self, ModelSpec};
use crate::output::{self, HistoryFile};
use crate::report::{self, Summary, Versions};
use crate::train::{self, EpochObserver, EpochRecord};

/// The tch release this build uses (pinned in Cargo.toml).
pub const TCH_VERSION: &str = "0.24.0";

/// How a run treats the world around it.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Replace the run files of a non-empty output folder.
    pub force: bool,
    /// Write the initial weights here (safetensors) before training.
    pub save_init: Option<PathBuf>,
    /// Start from these weights instead of drawing them.
    pub init_from: Option<PathBuf>,
    /// Print nothing to the console (the files are still written).
    pub quiet: bool,
}

/// Turns `--device` into a libtorch device, or says why it cannot.
pub fn resolve_device(spec: DeviceSpec) -> Result<Device> {
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

pub fn device_name(device: Device) -> String {
    match device {
        Device::Cuda(n) => format!("cuda:{n}"),
        Device::Cpu => "cpu".into(),
        other => format!("{other:?}").to_lowercase(),
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

/// What this build of rnn-lab sees: versions, CUDA and cuDNN, threads.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Environment {
    pub versions: Versions,
    pub cuda_available: bool,
    pub cuda_devices: i64,
    pub cudnn_available: bool,
    /// The device `--device auto` picks.
    pub auto_device: String,
    pub default_threads: usize,
}

pub fn environment() -> Environment {
    let auto = resolve_device(DeviceSpec::Auto).unwrap_or(Device::Cpu);
    Environment {
        versions: versions(auto),
        cuda_available: Cuda::is_available(),
        cuda_devices: Cuda::device_count(),
        cudnn_available: Cuda::cudnn_is_available(),
        auto_device: device_name(auto),
        default_threads: crate::config::DEFAULT_THREADS,
    }
}

/// Checks every input of a run without writing anything.
pub fn check(config: &TrainConfig, out: &Path, opts: &RunOptions) -> Result<()> {
    config.validate()?;
    resolve_device(config.device)?;
    output::check_run_dir(out, opts.force)?;
    if let Some(path) = &opts.init_from {
        if !path.is_file() {
            bail!("--init-from {}: no such file", path.display());
        }
    }
    if let Some(path) = &opts.save_init {
        if path.exists() && !opts.force {
            bail!(
                "--save-init {} exists; choose another path or pass --force",
                path.display()
            );
        }
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        // The run folder itself is created before the weights are saved.
        if !parent.is_dir() && parent != out {
            bail!(
                "--save-init {}: folder {} does not exist",
                path.display(),
                parent.display()
            );
        }
    }
    Ok(())
}

/// Runs one experiment into `out` and returns its summary. `console`
/// receives the Keras-like epoch lines and the blog's report.
pub fn train(
    config: &TrainConfig,
    out: &Path,
    opts: &RunOptions,
    console: &mut dyn Write,
) -> Result<Summary> {
    check(config, out, opts)?;
    let started = Instant::now();
    let device = resolve_device(config.device)?;
    tch::set_num_threads(config.threads as i32);
    output::create_run_dir(out)?;

    let data = Dataset::for_config(config)?;
    let split = data.split(config, device)?;
    let spec = ModelSpec::for_config(config);
    let (vs, net) = model::build(spec, device);
    match &opts.init_from {
        Some(path) => model::load_weights(&vs, &spec, path)?,
        None => model::initialise(&vs, &spec, config.seed)?,
    }
    if let Some(path) = &opts.save_init {
        save_weights(&vs, path)?;
    }

    let sizes = config.split_sizes();
    let batches = (sizes.train + config.batch_size - 1) / config.batch_size;
    if !opts.quiet {
        writeln!(
            console,
            "{} on {}: {} parameters, {} train / {} val / {} test rows, seed {}",
            config.model,
            device_name(device),
            spec.trainable_count(),
            sizes.train,
            sizes.val,
            sizes.test,
            config.seed
        )?;
    }
    let mut observer = ConsoleObserver {
        history: HistoryFile::create(&out.join(output::HISTORY))?,
        console,
        quiet: opts.quiet,
        epochs: config.epochs,
        batches,
        bar: progress_bar(batches, opts.quiet),
    };
    let history = train::fit(&vs, &net, &split, config, &mut observer)?;
    observer.bar.finish_and_clear();
    let console = observer.console;

    let evaluation = train::evaluate(&net, &split.test_x, &split.test_y)?;
    let baseline_mse = train::mse(
        &split.train_y.mean(Kind::Float).expand_as(&split.test_y),
        &split.test_y,
    );
    output::write_atomic(
        &out.join(output::PREDICTIONS),
        &report::predictions_csv(&evaluation, config.fit_rows)?,
    )?;
    save_weights(&vs, &out.join(output::WEIGHTS))?;
    let last = history.last().context("training ran no epoch")?;
    let summary = Summary {
        config: config.clone(),
        device: device_name(device),
        versions: versions(device),
        split: sizes,
        parameters: spec.trainable_count(),
        epochs_run: history.len() as i64,
        final_loss: last.loss,
        final_val_loss: last.val_loss,
        test_mse: evaluation.test_mse,
        baseline_mse: Some(baseline_mse),
        correctness: evaluation.correctness,
        test_failures: evaluation.failures,
        test_rows: evaluation.rows,
        seconds_per_epoch: history.iter().map(|r| r.seconds).sum::<f64>() / history.len() as f64,
        train_seconds_per_epoch: median_after_warmup(&history),
        seconds_total: started.elapsed().as_secs_f64(),
    };
    output::write_atomic(
        &out.join(output::SUMMARY),
        report::summary_json(&summary)?.as_bytes(),
    )?;
    if !opts.quiet {
        write!(console, "{}", report::final_report(&evaluation))?;
    }
    Ok(summary)
}

/// Median training time per epoch, without the first (warm-up) epoch
/// when there are several.
fn median_after_warmup(history: &[EpochRecord]) -> f64 {
    let skip = usize::from(history.len() > 1);
    let mut times: Vec<f64> = history[skip..].iter().map(|r| r.train_seconds).collect();
    times.sort_by(f64::total_cmp);
    let n = times.len();
    if n % 2 == 1 {
        times[n / 2]
    } else {
        (times[n / 2 - 1] + times[n / 2]) / 2.0
    }
}

/// Writes every variable (on the CPU, PyTorch's names) as safetensors.
fn save_weights(vs: &tch::nn::VarStore, path: &Path) -> Result<()> {
    let mut named: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(name, t)| (name, t.to(Device::Cpu).contiguous()))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let tmp = output::partial_path(path);
    Tensor::write_safetensors(&named, &tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
fn progress_bar(batches: i64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(batches as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{msg} {pos:>4}/{len} [{bar:30}] {elapsed_precise} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message("Epoch 1");
    bar
}

struct ConsoleObserver<'a> {
    history: HistoryFile,
    console: &'a mut dyn Write,
    quiet: bool,
    epochs: i64,
    batches: i64,
    bar: ProgressBar,
}

impl EpochObserver for ConsoleObserver<'_> {
    fn batch_done(&mut self) {
        self.bar.inc(1);
    }

    fn epoch_done(&mut self, record: &EpochRecord) -> Result<()> {
        self.history.append(record)?;
        self.bar.reset();
        self.bar.set_message(format!("Epoch {}", record.epoch + 2));
        if !self.quiet {
            let line = report::epoch_line(record, self.epochs, self.batches);
            self.bar.suspend(|| writeln!(self.console, "{line}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tch_version_matches_cargo_pin() {
        let manifest = include_str!("../Cargo.toml");
        assert!(
            manifest.contains(&format!("tch = \"={TCH_VERSION}\"")),
            "Cargo.toml must pin tch {TCH_VERSION}"
        );
        assert!(env!("RNN_LAB_LIBTORCH_VERSION").starts_with("2.11.0"));
    }

    #[test]
    fn median_skips_warmup() {
        let r = |s: f64| EpochRecord {
            epoch: 0,
            loss: 0.0,
            val_loss: 0.0,
            seconds: s,
            train_seconds: s,
        };
        assert_eq!(median_after_warmup(&[r(9.0)]), 9.0);
        assert_eq!(median_after_warmup(&[r(9.0), r(1.0), r(3.0), r(2.0)]), 2.0);
        assert_eq!(median_after_warmup(&[r(9.0), r(1.0), r(3.0)]), 2.0);
    }

    #[test]
    fn cuda_without_gpu_is_a_clear_error() {
        if Cuda::is_available() {
            return; // only meaningful on a machine without a GPU
        }
        let err = resolve_device(DeviceSpec::Cuda(0)).unwrap_err().to_string();
        assert_eq!(
            err,
            "--device cuda:0: no CUDA device is visible to libtorch; use --device cpu (or auto)"
        );
        assert_eq!(resolve_device(DeviceSpec::Auto).unwrap(), Device::Cpu);
    }
}
