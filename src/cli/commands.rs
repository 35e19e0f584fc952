//! One function per command: its flags (clap) turned into library configs
//! and plans, the library called, its outcome written. Defaults come from
//! the library (`src/config/defaults.json`), never from here.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Serialize;
use serde_json::{Map, Value};

use super::args::{apply_single, ExecArgs, RunArgs, RunOutputArgs};
use rnn_lab::config::{value_text, Execution, Limits};
use rnn_lab::nn::device;
use rnn_lab::run::{execute, failures, Job, Plan};
use rnn_lab::stats::DEFAULT_VAL_THRESHOLD;
use rnn_lab::store::RunFile;
use rnn_lab::study::aggregate::{self, CellStats};
use rnn_lab::study::grid::{Grid, CANONICAL_AXES};
use rnn_lab::study::manifest::Manifest;
use rnn_lab::study::packing::PackSize;
use rnn_lab::study::shard::Shard;
use rnn_lab::study::{run_study, StudyOptions};
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
    #[command(flatten)]
    exec: ExecArgs,
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
    let quiet = a.output.quiet;
    let plan = Plan {
        execution: a.exec.apply(Execution::default()),
        force: a.output.force,
        resume: false,
        quiet: a.output.quiet,
        jobs: vec![Job {
            config,
            out: out.clone(),
            init_from: a.init_from,
            save_init: a.save_init,
            save_data: a.save_data,
        }],
    };
    let mut results = execute(&plan.check()?, console)?;
    results.pop().expect("one run")?;
    if !quiet {
        // Best effort: the run is written whether or not anyone reads this.
        let _ = writeln!(
            console,
            "wrote {}: history.csv, summary.json, predictions.csv, model.safetensors",
            out.display()
        );
    }
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

/// How a study runs (`reproduce` and `sweep` alike).
#[derive(Args)]
#[command(next_help_heading = "Study")]
pub struct StudyArgs {
    /// Start from the grid in this JSON file ({"base": settings, "axes":
    /// {setting: [values]}}, or a study.json); the run flags given apply on
    /// top: a flag replaces that axis, or that fixed setting.
    #[arg(long)]
    grid: Option<PathBuf>,
    /// Processes at once; on a GPU they share it.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Runs per process, trained as one pack: auto (per model and device,
    /// see docs/speed.md) or a number; 1 trains each run alone.
    #[arg(long, default_value = "auto")]
    pack: PackSize,
    /// Run only the K-th of N disjoint slices of the study [default: from
    /// SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT, else all of it].
    #[arg(long)]
    shard: Option<Shard>,
    /// Train the study's finished runs again too.
    #[arg(long)]
    force: bool,
    /// List the runs and packs that would start, and what is done; start
    /// nothing, write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    exec: ExecArgs,
}

#[derive(Args)]
#[command(args_override_self = true)]
pub struct ReproduceArgs {
    /// The study folder: study.json, logs/, one folder per run, the tables.
    #[arg(long, default_value = "runs/reproduce")]
    out: PathBuf,
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    study: StudyArgs,
}

#[derive(Args)]
#[command(args_override_self = true)]
pub struct SweepArgs {
    /// The study folder: study.json, logs/, one folder per run, the tables.
    #[arg(long, default_value = "runs/sweep")]
    out: PathBuf,
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    study: StudyArgs,
}

/// reproduce's axes: the blog's two models, one seed, its length.
fn reproduce_axes() -> Map<String, Value> {
    let d = TrainConfig::default();
    json_map(serde_json::json!({
        "task": [d.task], "model": ["rnn", "lstm"], "init": [d.init],
        "seq_len": [d.seq_len], "seed": [d.seed],
    }))
}

/// sweep's axes: the long-term-dependency study.
fn sweep_axes() -> Map<String, Value> {
    json_map(serde_json::json!({
        "task": ["multiply"], "model": ["rnn", "lstm", "gru"], "init": ["keras"],
        "seq_len": [10, 25, 50, 100, 200], "seed": [1, 2, 3],
    }))
}

fn json_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("an object"),
    }
}

/// The grid a study command asks for: the grid file's (or the command's
/// defaults), with every run flag given applied: a canonical axis or a
/// list replaces that axis, a single value fixes that setting.
fn study_grid(
    file: Option<&Path>,
    defaults: Map<String, Value>,
    given: Map<String, Value>,
) -> Result<Grid> {
    let mut grid = match file {
        Some(path) => read_grid(path)?,
        None => Grid {
            base: TrainConfig::default(),
            axes: defaults,
        },
    };
    let mut fixed = Map::new();
    for (setting, values) in given {
        let many = values.as_array().is_some_and(|v| v.len() > 1);
        if CANONICAL_AXES.contains(&setting.as_str()) || many {
            grid.axes.insert(setting, values);
        } else {
            grid.axes.remove(&setting);
            fixed.insert(setting, values);
        }
    }
    grid.base = apply_single(fixed, &grid.base, "")?;
    Ok(grid)
}

/// A grid file: a grid, or a study's manifest (its runs' settings).
fn read_grid(path: &Path) -> Result<Grid> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --grid {}", path.display()))?;
    if let Ok(serde_json::Value::Object(mut file)) = serde_json::from_str(&text) {
        // A grid's base names only what differs from the defaults.
        if let (Some(Value::Object(given)), true) = (file.get("base"), file.contains_key("axes")) {
            let mut base = json_map(serde_json::to_value(TrainConfig::default())?);
            base.extend(given.clone());
            file.insert("base".into(), Value::Object(base));
            let grid: Grid = serde_json::from_value(Value::Object(file))
                .with_context(|| format!("--grid {}", path.display()))?;
            return Ok(grid);
        }
    }
    let manifest: Manifest = serde_json::from_str(&text).with_context(|| {
        format!(
            "--grid {} is neither a grid ({{\"base\", \"axes\"}}) nor a study.json",
            path.display()
        )
    })?;
    Ok(Grid {
        axes: manifest.varying(),
        base: manifest.base,
    })
}

fn run_study_command(
    out: &Path,
    study: StudyArgs,
    grid: Grid,
    console: &mut dyn Write,
) -> Result<()> {
    let shard = match study.shard {
        Some(s) => s,
        None => Shard::from_slurm(|k| std::env::var(k).ok())?.unwrap_or(Shard::ALL),
    };
    let opts = StudyOptions {
        jobs: study.jobs,
        execution: study.exec.apply(Execution::default()),
        shard,
        pack: study.pack,
        force: study.force,
        dry_run: study.dry_run,
        quiet: study.quiet,
        exe: std::env::current_exe()?,
    };
    let outcome = run_study(&grid, out, &opts, console)?;
    if !study.quiet && !study.dry_run {
        // Best effort: a closed console must not turn the outcome into success.
        let _ = writeln!(
            console,
            "study: {} finished now, {} were already finished, {} failed, {} left",
            outcome.finished,
            outcome.skipped,
            outcome.failed.len(),
            outcome.left()
        );
    }
    outcome.into_result(out)
}

pub fn reproduce(a: ReproduceArgs, console: &mut dyn Write) -> Result<()> {
    let grid = study_grid(a.study.grid.as_deref(), reproduce_axes(), a.run.given())?;
    run_study_command(&a.out, a.study, grid, console)
}

pub fn sweep(a: SweepArgs, console: &mut dyn Write) -> Result<()> {
    let grid = study_grid(a.study.grid.as_deref(), sweep_axes(), a.run.given())?;
    run_study_command(&a.out, a.study, grid, console)
}

/// Each run setting's default in `command`, as `--help` shows it: the
/// library's defaults, and a study's default axes.
pub fn setting_defaults(command: &str) -> Result<Map<String, Value>> {
    let mut defaults = json_map(serde_json::to_value(TrainConfig::default())?);
    let axes = match command {
        "reproduce" => reproduce_axes(),
        "sweep" => sweep_axes(),
        _ => Map::new(),
    };
    for (setting, values) in axes {
        let shown: Vec<String> = values
            .as_array()
            .into_iter()
            .flatten()
            .map(value_text)
            .collect();
        defaults.insert(setting, Value::String(shown.join(",")));
    }
    Ok(defaults)
}

#[derive(Args)]
pub struct AggregateArgs {
    /// Study folders (a sweep, a reproduction, several shards copied into
    /// one, or older folders of runs); several are read as sets side by side.
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    /// Where to write the tables [default: the first folder].
    #[arg(long)]
    out: Option<PathBuf>,
    /// val_loss that counts as learned (learned share, epochs to learn).
    #[arg(long, default_value_t = DEFAULT_VAL_THRESHOLD)]
    val_threshold: f64,
    /// Fail (exit 1) when any run of the studies is missing, after writing
    /// the tables: for scripts and CI.
    #[arg(long)]
    complete: bool,
}

pub fn aggregate(a: AggregateArgs, console: &mut dyn Write) -> Result<()> {
    let out = a.out.clone().unwrap_or_else(|| a.dirs[0].clone());
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let rows = aggregate::write(&a.dirs, a.val_threshold, &out)?;
    write!(console, "{}", aggregate::markdown(&rows, a.val_threshold))?;
    writeln!(
        console,
        "aggregate: wrote {}, aggregate.csv and aggregate.json",
        out.join("aggregate.md").display()
    )?;
    let missing = CellStats::missing_total(&rows);
    if a.complete && missing > 0 {
        bail!(
            "{missing} run(s) of the grid in {} are missing (see the missing column); run the study's missing shards, then aggregate again",
            a.dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

/// `info --json`: what the build sees, and the limits of every setting
/// (the Python scripts check their flags against them).
#[derive(Serialize)]
struct InfoJson<'a> {
    #[serde(flatten)]
    environment: &'a device::Environment,
    limits: Limits,
}

#[derive(Args)]
pub struct InspectArgs {
    /// A finished run's folder (summary.json and model.safetensors).
    run: PathBuf,
    /// Test rows to run the model on (the first ones, 1 to 64).
    #[arg(long, default_value_t = 4)]
    rows: i64,
    /// Where to write the CSV [default: RUN/inspect.csv].
    #[arg(long)]
    out: Option<PathBuf>,
}

/// `rnn-lab inspect`: each step's state and gates of a trained run.
pub fn inspect(a: InspectArgs, console: &mut dyn Write) -> Result<()> {
    let (out, rows) = rnn_lab::run::inspect::inspect(&rnn_lab::run::inspect::Inspect {
        run: a.run,
        rows: a.rows,
        out: a.out,
    })?;
    // Best effort: the file is written whether or not anyone reads this.
    let _ = writeln!(
        console,
        "wrote {}: {rows} rows (row, step, layer, quantity, unit, value, input, marker, target, prediction)",
        out.display()
    );
    Ok(())
}

pub fn info(json: bool, console: &mut dyn Write) -> Result<()> {
    let env = device::environment();
    let text = if json {
        let info = InfoJson {
            environment: &env,
            limits: Limits::current(),
        };
        serde_json::to_string_pretty(&info)? + "\n"
    } else {
        device::describe(&env)
    };
    console.write_all(text.as_bytes())?;
    Ok(())
}
