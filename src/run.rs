//! One complete training run: every check first, then the locked run
//! folder, training with live history, evaluation, and the run's files.

use std::{
    io::Write,
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::{bail, Context, Result};
use indicatif::ProgressBar;
use tch::{nn, Device, Kind, Tensor};

use crate::config::{Execution, TrainConfig};
use crate::console::{progress_bar, Console};
use crate::data::{Dataset, Split};
use crate::device;
use crate::model::{self, Model, ModelSpec};
use crate::output::{self, HistoryFile, RunDir};
use crate::records::{
    EpochRecord, InitSource, PackRecord, Summary, HISTORY, PREDICTIONS, SUMMARY, WEIGHTS,
};
use crate::report;
use crate::train::{self, EpochObserver, Evaluation};

/// How a run is executed and treats the world around it; nothing here
/// changes what it computes.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub execution: Execution,
    /// Replace the run files of a non-empty output folder.
    pub force: bool,
    /// Write the initial weights here (safetensors) before training.
    pub save_init: Option<PathBuf>,
    /// Start from these weights instead of drawing them.
    pub init_from: Option<PathBuf>,
    /// Also write the data set and every epoch's batch order here
    /// (safetensors: `x`, `y`, `order` `[epochs, train rows]`), for
    /// lockstep references.
    pub save_data: Option<PathBuf>,
    /// Print nothing to the console (the files are still written).
    pub quiet: bool,
}

/// Checks the settings, the device and the paths of a run without
/// writing anything.
pub fn check(config: &TrainConfig, out: &Path, opts: &RunOptions) -> Result<Device> {
    config.validate()?;
    opts.execution.validate()?;
    let device = device::resolve(opts.execution.device)?;
    output::check_run_dir(out, opts.force)?;
    if let Some(path) = &opts.init_from {
        if path.is_dir() {
            bail!(
                "--init-from {} is a folder; give a .safetensors file",
                path.display()
            );
        }
        if !path.is_file() {
            bail!("--init-from {}: no such file", path.display());
        }
    }
    for (flag, path) in [
        ("--save-init", &opts.save_init),
        ("--save-data", &opts.save_data),
    ] {
        if let Some(path) = path {
            check_new_file(flag, path, out, opts.force)?;
        }
    }
    Ok(device)
}

/// A file a run will write beside its folder (or inside it).
fn check_new_file(flag: &str, path: &Path, out: &Path, force: bool) -> Result<()> {
    if path.is_dir() {
        bail!("{flag} {} is a folder; give a file path", path.display());
    }
    if path.exists() && !force {
        bail!(
            "{flag} {} exists; choose another path or pass --force",
            path.display()
        );
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // The run folder itself is created before the file is written.
    if !parent.is_dir() && parent != out {
        bail!(
            "{flag} {}: folder {} does not exist",
            path.display(),
            parent.display()
        );
    }
    Ok(())
}

/// A run whose inputs all exist: data on the device, the model with its
/// initial weights. Building it writes nothing.
struct Prepared {
    device: Device,
    data: Dataset,
    split: Split,
    spec: ModelSpec,
    vs: nn::VarStore,
    net: Model,
    init_from: Option<InitSource>,
}

fn prepare(config: &TrainConfig, out: &Path, opts: &RunOptions) -> Result<Prepared> {
    let device = check(config, out, opts)?;
    tch::set_num_threads(opts.execution.threads as i32);
    let data = Dataset::for_config(config)?;
    let split = data.split(config, device)?;
    let spec = ModelSpec::for_config(config);
    let (vs, net) = model::build(spec, device);
    let init_from = initial_weights(&vs, &spec, config.seed, opts.init_from.as_deref())?;
    Ok(Prepared {
        device,
        data,
        split,
        spec,
        vs,
        net,
        init_from,
    })
}

/// Sets a run's initial weights: from the file `init_from` (returned, with
/// its hash, for the summary) or drawn from `seed`.
pub(crate) fn initial_weights(
    vs: &nn::VarStore,
    spec: &ModelSpec,
    seed: u64,
    init_from: Option<&Path>,
) -> Result<Option<InitSource>> {
    match init_from {
        Some(path) => {
            model::load_weights(vs, spec, path)?;
            Ok(Some(InitSource::of(path)?))
        }
        None => {
            model::initialise(vs, spec, seed)?;
            Ok(None)
        }
    }
}

/// Runs one experiment into `out` and returns its summary. `console`
/// receives the Keras-like epoch lines and the blog's report; when it
/// goes away the run goes on silently.
pub fn train(
    config: &TrainConfig,
    out: &Path,
    opts: &RunOptions,
    console: &mut dyn Write,
) -> Result<Summary> {
    let started = Instant::now();
    let Prepared {
        device,
        data,
        split,
        spec,
        vs,
        net,
        init_from,
    } = prepare(config, out, opts)?;
    // Only now, with every input checked, is the folder created or cleared.
    let dir = RunDir::open(out, opts.force)?;
    if let Some(path) = &opts.save_init {
        model::save_weights(&vs, path)?;
    }
    if let Some(path) = &opts.save_data {
        let orders = train::batch_orders(config.seed, config.split_sizes().train, config.epochs);
        model::save_named(
            vec![
                ("x".into(), data.x.shallow_clone()),
                ("y".into(), data.y.shallow_clone()),
                ("order".into(), Tensor::f_stack(&orders, 0)?),
            ],
            path,
        )?;
    }
    drop(data);

    let sizes = config.split_sizes();
    let batches = config.batches_per_epoch();
    let mut console = Console::new(console);
    if !opts.quiet {
        console.print(&format!(
            "{} on {}: {} parameters, {} train / {} val / {} test rows, seed {}\n",
            config.model,
            device::name(device),
            spec.trainable_count(),
            sizes.train,
            sizes.val,
            sizes.test,
            config.seed
        ));
    }
    let mut observer = ConsoleObserver {
        history: HistoryFile::create(&dir.file(HISTORY))?,
        console: &mut console,
        quiet: opts.quiet,
        epochs: config.epochs,
        batches,
        bar: progress_bar(batches, opts.quiet),
    };
    let history = train::fit(&vs, &net, &split, config, &mut observer)?;
    observer.bar.finish_and_clear();

    let evaluation = train::evaluate(&net, &split.test_x, &split.test_y)?;
    let summary = write_outputs(
        &dir,
        Finished {
            config,
            device,
            threads: opts.execution.threads,
            spec: &spec,
            history: &history,
            evaluation: &evaluation,
            baseline_mse: baseline_mse(&split.train_y, &split.test_y),
            weights: model::weights_of(&vs, &spec),
            started,
            pack: None,
            init_from,
        },
    )?;
    if !opts.quiet {
        console.print(&report::final_report(&evaluation));
    }
    Ok(summary)
}

/// Test MSE of always predicting the mean training target.
pub(crate) fn baseline_mse(train_y: &Tensor, test_y: &Tensor) -> f64 {
    train::mse(&train_y.mean(Kind::Float).expand_as(test_y), test_y)
}

/// A trained run, ready for its folder.
pub(crate) struct Finished<'a> {
    pub config: &'a TrainConfig,
    pub device: Device,
    pub threads: usize,
    pub spec: &'a ModelSpec,
    pub history: &'a [EpochRecord],
    pub evaluation: &'a Evaluation,
    pub baseline_mse: f64,
    pub weights: Vec<(String, Tensor)>,
    pub started: Instant,
    pub pack: Option<PackRecord>,
    pub init_from: Option<InitSource>,
}

/// Writes predictions.csv, model.safetensors and, last, summary.json.
pub(crate) fn write_outputs(dir: &RunDir, f: Finished) -> Result<Summary> {
    output::write_atomic(
        &dir.file(PREDICTIONS),
        &report::predictions_csv(f.evaluation, f.config.fit_rows)?,
    )?;
    model::save_named(f.weights, &dir.file(WEIGHTS))?;
    let last = f.history.last().context("training ran no epoch")?;
    let summary = Summary {
        config: f.config.clone(),
        device: device::name(f.device),
        threads: Some(f.threads),
        versions: device::versions(f.device),
        split: f.config.split_sizes(),
        parameters: f.spec.trainable_count(),
        epochs_run: f.history.len() as i64,
        final_loss: last.loss,
        final_val_loss: last.val_loss,
        test_mse: f.evaluation.test_mse,
        baseline_mse: Some(f.baseline_mse),
        correctness: f.evaluation.correctness,
        test_failures: f.evaluation.failures,
        test_rows: f.evaluation.rows,
        seconds_per_epoch: f.history.iter().map(|r| r.seconds).sum::<f64>()
            / f.history.len() as f64,
        train_seconds_per_epoch: median_after_warmup(f.history),
        seconds_total: f.started.elapsed().as_secs_f64(),
        pack: f.pack,
        init_from: f.init_from,
    };
    output::write_atomic(
        &dir.file(SUMMARY),
        report::summary_json(&summary)?.as_bytes(),
    )?;
    Ok(summary)
}

/// Median training time per epoch, without the first (warm-up) epoch
/// when there are several.
fn median_after_warmup(history: &[EpochRecord]) -> f64 {
    let skip = usize::from(history.len() > 1);
    let mut times: Vec<f64> = history[skip..].iter().map(|r| r.train_seconds).collect();
    times.sort_by(f64::total_cmp);
    crate::stats::quantile(&times, 0.5)
}

struct ConsoleObserver<'a, 'c> {
    history: HistoryFile,
    console: &'a mut Console<'c>,
    quiet: bool,
    epochs: i64,
    batches: i64,
    bar: ProgressBar,
}

impl EpochObserver for ConsoleObserver<'_, '_> {
    fn batch_done(&mut self) {
        self.bar.inc(1);
    }

    fn epoch_done(&mut self, record: &EpochRecord) -> Result<()> {
        self.history.append(record)?;
        self.bar.reset();
        self.bar.set_message(format!("Epoch {}", record.epoch + 2));
        if !self.quiet {
            let line = report::epoch_line(record, self.epochs, self.batches) + "\n";
            let console = &mut *self.console;
            self.bar.suspend(|| console.print(&line));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
