//! One function per command: its flags (clap) turned into library configs
//! and plans, the library called, its outcome written. Defaults come from
//! the library (`src/config/defaults.json`), never from here.

use std::{io::Write, path::PathBuf};

use anyhow::{bail, Result};
use clap::Args;
use serde_json::{Map, Value};

use super::args::{apply_single, flag, ExecArgs, RunArgs, RunOutputArgs};
use rnn_lab::config::{Cell, Execution, InitScheme, Task};
use rnn_lab::nn::device;
use rnn_lab::run::{execute, failures, Job, Plan};
use rnn_lab::stats::DEFAULT_VAL_THRESHOLD;
use rnn_lab::store::RunFile;
use rnn_lab::study::aggregate::{self, CellStats};
use rnn_lab::study::grid::{Grid, Shard};
use rnn_lab::study::packing::PackSize;
use rnn_lab::study::reproduce::{self, ReproduceConfig, ReproduceOptions};
use rnn_lab::study::sweep::{self, SweepOptions};
use rnn_lab::TrainConfig;

#[derive(Args)]
#[command(args_override_self = true)]
pub struct TrainArgs {
    /// Start from the run settings in this JSON file (a run config, or a
    /// summary.json to rerun that run); the run flags given apply on top
    /// and summary.json records the result.
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    exec: ExecArgs,
    #[command(flatten)]
    output: RunOutputArgs,
    /// Also write the initial weights to this safetensors file.
    #[arg(long)]
    save_init: Option<PathBuf>,
    /// Start from these weights (safetensors, PyTorch names) instead of drawing them.
    #[arg(long)]
    init_from: Option<PathBuf>,
    /// Also write the data set and every epoch's batch order to this
    /// safetensors file (x, y, order), for lockstep references.
    #[arg(long)]
    save_data: Option<PathBuf>,
    #[command(flatten)]
    run: RunArgs,
}

pub fn train(a: TrainArgs, console: &mut dyn Write) -> Result<()> {
    let base = match &a.config {
        Some(path) => {
            let file = RunFile::read(path)?;
            file.check_init(path, a.init_from.as_deref())?;
            file.config
        }
        None => TrainConfig::default(),
    };
    let config = a.run.apply(&base)?;
    let out = a.output.out.unwrap_or_else(|| Job::default_out(&config));
    let plan = Plan {
        execution: a.exec.apply(Execution::default()),
        force: a.output.force,
        quiet: a.output.quiet,
        jobs: vec![Job {
            config,
            out,
            init_from: a.init_from,
            save_init: a.save_init,
            save_data: a.save_data,
        }],
    };
    let mut results = execute(&plan.check()?, console)?;
    results.pop().expect("one run")?;
    Ok(())
}

#[derive(Args)]
#[command(args_override_self = true)]
pub struct TrainPackArgs {
    /// The plan: its runs ({config, out, init_from} each) and how they
    /// execute, as `sweep` writes it to logs/ (or a bare JSON list of runs).
    #[arg(long)]
    plan: PathBuf,
    #[command(flatten)]
    exec: ExecArgs,
    /// Replace the run files in non-empty output folders.
    #[arg(long)]
    force: bool,
    /// Print nothing; the output files are still written.
    #[arg(long, short)]
    quiet: bool,
}

pub fn train_pack(a: TrainPackArgs, console: &mut dyn Write) -> Result<()> {
    let mut plan = Plan::read(&a.plan)?;
    plan.execution = a.exec.apply(plan.execution);
    plan.force |= a.force;
    plan.quiet |= a.quiet;
    let plan = plan.check()?;
    let results = execute(&plan, console)?;
    let failed = failures(&plan, &results);
    if !failed.is_empty() {
        let others = match failed.len() == results.len() {
            true => "none finished",
            false => "the others finished",
        };
        bail!(
            "{} of {} run(s) failed, {others}: {}",
            failed.len(),
            results.len(),
            failed.join("; ")
        );
    }
    Ok(())
}

/// The settings of a study that are not its axes: each given one must have
/// a single value.
fn fixed_settings(
    mut given: Map<String, Value>,
    axes: &[&str],
    base: TrainConfig,
) -> Result<TrainConfig> {
    for axis in axes {
        given.remove(*axis);
    }
    let hint = format!(
        "the axes of a study are {}",
        axes.iter().map(|a| flag(a)).collect::<Vec<_>>().join(", ")
    );
    apply_single(given, &base, &hint)
}

/// The values given for `setting`, or `default`.
fn axis<T: serde::de::DeserializeOwned>(
    given: &Map<String, Value>,
    setting: &str,
    default: Vec<T>,
) -> Result<Vec<T>> {
    match given.get(setting) {
        Some(values) => Ok(serde_json::from_value(values.clone())?),
        None => Ok(default),
    }
}

#[derive(Args)]
#[command(args_override_self = true)]
pub struct ReproduceArgs {
    #[command(flatten)]
    exec: ExecArgs,
    /// Runs trained together as one pack: auto (per model and device, see
    /// README, Speed) or a number; 1 trains each run alone.
    #[arg(long, default_value = "auto")]
    pack: PackSize,
    /// Output folder; runs go to <out>/<model>/seed-<seed>.
    #[arg(long, default_value = "runs/reproduce")]
    out: PathBuf,
    /// Replace the run files in non-empty run folders.
    #[arg(long)]
    force: bool,
    /// Print only the final table.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    run: RunArgs,
}

/// reproduce's own defaults: the blog's two models, seed 1.
pub const REPRODUCE_MODELS: [Cell; 2] = [Cell::Rnn, Cell::Lstm];

pub fn reproduce(a: ReproduceArgs, console: &mut dyn Write) -> Result<()> {
    let given = a.run.given();
    let config = ReproduceConfig {
        models: axis(&given, "model", REPRODUCE_MODELS.to_vec())?,
        seeds: axis(&given, "seed", vec![TrainConfig::default().seed])?,
        base: fixed_settings(given, &["model", "seed"], TrainConfig::default())?,
        pack: a.pack,
    };
    let opts = ReproduceOptions {
        execution: a.exec.apply(Execution::default()),
        force: a.force,
        quiet: a.quiet,
    };
    reproduce::reproduce(&config, &a.out, &opts, console)?;
    Ok(())
}

#[derive(Args)]
#[command(args_override_self = true)]
pub struct SweepArgs {
    #[command(flatten)]
    exec: ExecArgs,
    /// Processes at once; on a GPU they share it.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Runs per process, trained as one pack: auto (per model and device,
    /// see README, Speed) or a number; 1 trains each run alone.
    #[arg(long, default_value = "auto")]
    pack: PackSize,
    /// Run only the K-th of N disjoint slices of the grid [default: from
    /// SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT, else the whole grid].
    #[arg(long)]
    shard: Option<Shard>,
    /// The sweep folder: sweep.json, logs/ and one folder per run.
    #[arg(long, default_value = "runs/sweep")]
    out: PathBuf,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    run: RunArgs,
}

/// Each run setting's default in `command`, as `--help` shows it: the
/// library's defaults, and a study's default axes.
pub fn setting_defaults(command: &str) -> Result<Map<String, Value>> {
    let mut defaults = match serde_json::to_value(TrainConfig::default())? {
        Value::Object(map) => map,
        _ => unreachable!("a config is an object"),
    };
    let list = |v: Value| -> Value {
        match v {
            Value::Array(items) => Value::String(
                items
                    .iter()
                    .map(|i| i.as_str().map_or(i.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            other => other,
        }
    };
    match command {
        "reproduce" => {
            defaults.insert(
                "model".into(),
                list(serde_json::to_value(REPRODUCE_MODELS)?),
            );
        }
        "sweep" => {
            let grid = sweep_grid(Map::new())?;
            for (setting, values) in [
                ("task", serde_json::to_value(&grid.tasks)?),
                ("model", serde_json::to_value(&grid.models)?),
                ("init", serde_json::to_value(&grid.inits)?),
                ("seq_len", serde_json::to_value(&grid.seq_lens)?),
                ("seed", serde_json::to_value(&grid.seeds)?),
            ] {
                defaults.insert(setting.into(), list(values));
            }
        }
        _ => {}
    }
    Ok(defaults)
}

/// The sweep's axes and their defaults: the long-term-dependency study.
pub fn sweep_grid(given: Map<String, Value>) -> Result<Grid> {
    Ok(Grid {
        tasks: axis(&given, "task", vec![Task::Multiply])?,
        models: axis(&given, "model", vec![Cell::Rnn, Cell::Lstm, Cell::Gru])?,
        inits: axis(&given, "init", vec![InitScheme::Keras])?,
        seq_lens: axis(&given, "seq_len", vec![10, 25, 50, 100, 200])?,
        seeds: axis(&given, "seed", vec![1, 2, 3])?,
        base: fixed_settings(
            given,
            &["task", "model", "init", "seq_len", "seed"],
            TrainConfig::default(),
        )?,
    })
}

pub fn sweep(a: SweepArgs, console: &mut dyn Write) -> Result<()> {
    let grid = sweep_grid(a.run.given())?;
    let shard = match a.shard {
        Some(s) => s,
        None => Shard::from_slurm(|k| std::env::var(k).ok())?.unwrap_or(Shard::ALL),
    };
    let opts = SweepOptions {
        jobs: a.jobs,
        device: a.exec.device.unwrap_or(Execution::default().device),
        threads: a.exec.threads,
        shard,
        pack: a.pack,
        quiet: a.quiet,
        exe: std::env::current_exe()?,
    };
    let outcome = sweep::sweep(&grid, &a.out, &opts, console)?;
    if !a.quiet {
        // Best effort: a closed console must not turn the outcome into success.
        let _ = writeln!(
            console,
            "sweep: {} finished now, {} were already finished, {} failed, {} left",
            outcome.finished,
            outcome.skipped,
            outcome.failed.len(),
            outcome.left()
        );
    }
    outcome.into_result(&a.out)
}

#[derive(Args)]
pub struct AggregateArgs {
    /// A sweep folder (with sweep.json).
    dir: PathBuf,
    /// val_loss that counts as learned (learned share, epochs to learn).
    #[arg(long, default_value_t = DEFAULT_VAL_THRESHOLD)]
    val_threshold: f64,
    /// Fail (exit 1) when any run of the grid is missing, after writing
    /// the tables: for scripts and CI.
    #[arg(long)]
    complete: bool,
}

pub fn aggregate(a: AggregateArgs, console: &mut dyn Write) -> Result<()> {
    let (rows, md) = aggregate::write(&a.dir, a.val_threshold)?;
    write!(console, "{}", aggregate::markdown(&rows, a.val_threshold))?;
    writeln!(
        console,
        "aggregate: wrote {}, aggregate.csv and aggregate.json",
        md.display()
    )?;
    let missing = CellStats::missing_total(&rows);
    if a.complete && missing > 0 {
        bail!(
            "{missing} run(s) of the grid in {} are missing (see the missing column); run the sweep's missing shards, then aggregate again",
            a.dir.display()
        );
    }
    Ok(())
}

pub fn info(json: bool, console: &mut dyn Write) -> Result<()> {
    let env = device::environment();
    let text = if json {
        serde_json::to_string_pretty(&env)? + "\n"
    } else {
        device::describe(&env)
    };
    console.write_all(text.as_bytes())?;
    Ok(())
}
