//! The `rnn-lab` command line: parses flags into library configs and
//! dispatches; the experiments themselves live in the library. Defaults
//! come from the library (`src/defaults.json`), never from here.

use std::{
    io::{self, Write},
    path::PathBuf,
    process::ExitCode,
};

use anyhow::{bail, Result};
use clap::{ArgAction, Args, Parser, Subcommand};
use rnn_lab::aggregate::{self, CellStats};
use rnn_lab::config::{
    parse_seeds, AdamKind, Cell, DeviceSpec, Execution, InitScheme, Task, TrainConfig,
};
use rnn_lab::grid::{Grid, Shard};
use rnn_lab::pack::{self, PackSize};
use rnn_lab::records;
use rnn_lab::reproduce::{self, ReproduceConfig};
use rnn_lab::run::{self, RunOptions};
use rnn_lab::stats::DEFAULT_VAL_THRESHOLD;
use rnn_lab::sweep::{self, SweepOptions};

/// SimpleRNN vs LSTM vs GRU on long-term-dependency tasks, on libtorch.
#[derive(Parser)]
#[command(name = "rnn-lab", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train one model and write history.csv, summary.json, predictions.csv
    /// and model.safetensors to --out.
    Train(TrainArgs),
    /// Train several runs as one pack (what `sweep --pack` runs): PLAN is a
    /// JSON list of {config, out, init_from}; each run writes its own folder.
    TrainPack(TrainPackArgs),
    /// The blog's experiment: every model and seed with the blog's settings,
    /// one folder per run under --out, then a table against the blog.
    Reproduce(ReproduceArgs),
    /// A grid of runs (tasks x models x inits x lengths x seeds), N at a
    /// time, resumable, optionally one shard of it (Slurm job arrays).
    Sweep(SweepArgs),
    /// Statistics of a sweep folder (any number of shards): aggregate.csv,
    /// aggregate.json and aggregate.md.
    Aggregate(AggregateArgs),
    /// Print versions, defaults and what libtorch sees (CUDA, cuDNN, devices).
    Info {
        /// As JSON (versions, devices, and every default setting).
        #[arg(long)]
        json: bool,
    },
}

fn d() -> TrainConfig {
    TrainConfig::default()
}

/// Settings every kind of run takes as fixed values.
#[derive(Args)]
struct SettingsArgs {
    /// Rows generated in total.
    #[arg(long, default_value_t = d().samples)]
    samples: i64,
    /// Rows given to training and validation; the rest is the test set.
    #[arg(long, default_value_t = d().fit_rows)]
    fit_rows: i64,
    /// Share of the fit rows kept for validation (the last ones, as Keras).
    #[arg(long, default_value_t = d().val_split)]
    val_split: f64,
    /// Hidden units per layer.
    #[arg(long, default_value_t = d().units)]
    units: i64,
    /// Stacked recurrent layers.
    #[arg(long, default_value_t = d().layers)]
    layers: i64,
    /// Adam learning rate.
    #[arg(long, default_value_t = d().lr)]
    lr: f64,
    /// Adam epsilon (Keras's 1e-7; PyTorch's default is 1e-8).
    #[arg(long, default_value_t = d().adam_eps)]
    adam_eps: f64,
    /// Whose Adam: torch (libtorch's) or keras (Keras's update step exactly:
    /// epsilon added before the bias correction).
    #[arg(long, default_value_t = d().adam)]
    adam: AdamKind,
    /// Rows per batch; the last partial batch is kept.
    #[arg(long, default_value_t = d().batch_size)]
    batch_size: i64,
    /// Passes over the training rows.
    #[arg(long, default_value_t = d().epochs)]
    epochs: i64,
}

impl SettingsArgs {
    /// The config these flags describe; the rest as `base` has it.
    fn apply(&self, base: TrainConfig) -> TrainConfig {
        TrainConfig {
            samples: self.samples,
            fit_rows: self.fit_rows,
            val_split: self.val_split,
            units: self.units,
            layers: self.layers,
            lr: self.lr,
            adam_eps: self.adam_eps,
            adam: self.adam,
            batch_size: self.batch_size,
            epochs: self.epochs,
            ..base
        }
    }
}

/// Where and how runs compute.
#[derive(Args)]
struct ExecArgs {
    /// auto (CUDA when visible), cpu, cuda or cuda:N.
    #[arg(long, default_value_t = Execution::default().device)]
    device: DeviceSpec,
    /// CPU threads for libtorch per run [default: 1, fastest for the blog's
    /// small model; sweep: cores / jobs].
    #[arg(long)]
    threads: Option<usize>,
}

impl ExecArgs {
    fn execution(&self) -> Execution {
        Execution {
            device: self.device,
            threads: self.threads.unwrap_or(Execution::default().threads),
        }
    }
}

/// The flags that define a run; `--config` replaces all of them.
const RUN_FLAGS: [&str; 14] = [
    "task",
    "model",
    "seq_len",
    "init",
    "seed",
    "samples",
    "fit_rows",
    "val_split",
    "units",
    "layers",
    "lr",
    "adam_eps",
    "batch_size",
    "epochs",
];

#[derive(Args)]
#[command(allow_negative_numbers = true, args_override_self = true)]
struct TrainArgs {
    /// multiply (the blog's) or add.
    #[arg(long, default_value_t = d().task)]
    task: Task,
    /// rnn (Elman, tanh), lstm or gru.
    #[arg(long, default_value_t = d().model)]
    model: Cell,
    /// Time steps per row.
    #[arg(long, default_value_t = d().seq_len)]
    seq_len: i64,
    /// keras (Keras defaults) or torch (PyTorch defaults).
    #[arg(long, default_value_t = d().init)]
    init: InitScheme,
    /// Seeds the data, the initial weights and the batch order.
    #[arg(long, default_value_t = d().seed)]
    seed: u64,
    #[command(flatten)]
    settings: SettingsArgs,
    /// Take every run setting from this JSON file instead: a run config
    /// (as `sweep` writes to logs/) or a summary.json (rerun that run).
    #[arg(long, conflicts_with_all = RUN_FLAGS)]
    config: Option<PathBuf>,
    #[command(flatten)]
    exec: ExecArgs,
    /// Output folder [default: runs/<model>-seed<seed>].
    #[arg(long)]
    out: Option<PathBuf>,
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
    /// Replace the run files in a non-empty output folder.
    #[arg(long)]
    force: bool,
    /// Print nothing; the output files are still written.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args)]
struct TrainPackArgs {
    /// The pack's members (JSON list of {config, out, init_from}).
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

/// A parsed `--seeds` list (an alias, so clap takes it as one value).
type SeedList = Vec<u64>;

#[derive(Args)]
#[command(allow_negative_numbers = true)]
struct ReproduceArgs {
    /// Models to run, in order.
    #[arg(long, value_delimiter = ',', default_value = "rnn,lstm")]
    models: Vec<Cell>,
    /// Seeds: 1, 1,4,9 or 1..5.
    #[arg(long, default_value = "1", value_parser = parse_seeds)]
    seeds: SeedList,
    /// keras (the blog's) or torch (an ablation).
    #[arg(long, default_value_t = d().init)]
    init: InitScheme,
    /// Time steps per row.
    #[arg(long, default_value_t = d().seq_len)]
    seq_len: i64,
    #[command(flatten)]
    settings: SettingsArgs,
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
}

#[derive(Args)]
#[command(allow_negative_numbers = true, args_override_self = true)]
struct SweepArgs {
    /// Tasks, comma-separated: multiply, add.
    #[arg(long, value_delimiter = ',', action = ArgAction::Set, default_value = "multiply")]
    tasks: Vec<Task>,
    /// Models, comma-separated: rnn, lstm, gru.
    #[arg(long, value_delimiter = ',', action = ArgAction::Set, default_value = "rnn,lstm,gru")]
    models: Vec<Cell>,
    /// Init schemes, comma-separated: keras, torch.
    #[arg(long, value_delimiter = ',', action = ArgAction::Set, default_value = "keras")]
    inits: Vec<InitScheme>,
    /// Sequence lengths, comma-separated.
    #[arg(long, value_delimiter = ',', action = ArgAction::Set, default_value = "10,25,50,100,200")]
    seq_lens: Vec<i64>,
    /// Seeds: 1, 1,4,9 or 1..5.
    #[arg(long, default_value = "1..3", value_parser = parse_seeds)]
    seeds: SeedList,
    #[command(flatten)]
    settings: SettingsArgs,
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
}

#[derive(Args)]
struct AggregateArgs {
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

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        // `rnn-lab info | head`: the reader left; that is a normal end.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error chain on one line: each cause's first line (libtorch appends
/// its C++ frames on the following lines).
fn one_line(e: &anyhow::Error) -> String {
    e.chain()
        .map(|c| {
            c.to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .trim_end()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join(": ")
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> Result<()> {
    let stdout = io::stdout();
    let mut console = stdout.lock();
    match cli.command {
        Command::Train(a) => train(a, &mut console),
        Command::TrainPack(a) => train_pack(a, &mut console),
        Command::Reproduce(a) => reproduce(a, &mut console),
        Command::Sweep(a) => sweep(a, &mut console),
        Command::Aggregate(a) => aggregate(a, &mut console),
        Command::Info { json } => {
            let env = rnn_lab::device::environment();
            let text = if json {
                serde_json::to_string_pretty(&env)? + "\n"
            } else {
                rnn_lab::device::describe(&env)
            };
            console.write_all(text.as_bytes())?;
            Ok(())
        }
    }
}

fn train(a: TrainArgs, console: &mut dyn Write) -> Result<()> {
    if let (Some(path), None) = (&a.config, &a.init_from) {
        if let Some(init) = records::recorded_init(path)? {
            bail!(
                "{} is a run that started from the weights in {} (sha256 {}), not from its seed: \
                 pass --init-from {} to rerun it",
                path.display(),
                init.path,
                init.sha256,
                init.path
            );
        }
    }
    let config = match &a.config {
        Some(path) => records::read_config(path)?,
        None => a.settings.apply(TrainConfig {
            task: a.task,
            model: a.model,
            seq_len: a.seq_len,
            init: a.init,
            seed: a.seed,
            ..d()
        }),
    };
    let out = a
        .out
        .unwrap_or_else(|| PathBuf::from(format!("runs/{}-seed{}", config.model, config.seed)));
    let opts = RunOptions {
        execution: a.exec.execution(),
        force: a.force,
        save_init: a.save_init,
        init_from: a.init_from,
        save_data: a.save_data,
        quiet: a.quiet,
    };
    run::train(&config, &out, &opts, console)?;
    Ok(())
}

fn train_pack(a: TrainPackArgs, console: &mut dyn Write) -> Result<()> {
    let members = pack::read_plan(&a.plan)?;
    let opts = RunOptions {
        execution: a.exec.execution(),
        force: a.force,
        quiet: a.quiet,
        ..RunOptions::default()
    };
    let results = pack::train_pack(&members, &opts, console)?;
    let failed = pack::failures(&members, &results);
    if !failed.is_empty() {
        bail!(
            "{} of {} run(s) failed, the others finished: {}",
            failed.len(),
            members.len(),
            failed.join("; ")
        );
    }
    Ok(())
}

fn reproduce(a: ReproduceArgs, console: &mut dyn Write) -> Result<()> {
    let config = ReproduceConfig {
        models: a.models,
        seeds: a.seeds,
        base: a.settings.apply(TrainConfig {
            init: a.init,
            seq_len: a.seq_len,
            ..d()
        }),
        pack: a.pack,
    };
    let opts = RunOptions {
        execution: a.exec.execution(),
        force: a.force,
        quiet: a.quiet,
        ..RunOptions::default()
    };
    reproduce::reproduce(&config, &a.out, &opts, console)?;
    Ok(())
}

fn sweep(a: SweepArgs, console: &mut dyn Write) -> Result<()> {
    let grid = Grid {
        tasks: a.tasks,
        models: a.models,
        inits: a.inits,
        seq_lens: a.seq_lens,
        seeds: a.seeds,
        base: a.settings.apply(d()),
    };
    let shard = match a.shard {
        Some(s) => s,
        None => Shard::from_slurm(|k| std::env::var(k).ok())?.unwrap_or(Shard::ALL),
    };
    let opts = SweepOptions {
        jobs: a.jobs,
        device: a.exec.device,
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
    if outcome.elsewhere > 0 {
        bail!(
            "{} run(s) were being run by another sweep on {} and were left to it; rerun once it ends to check",
            outcome.elsewhere,
            a.out.display()
        );
    }
    if outcome.interrupted {
        bail!(
            "interrupted: {} run(s) of this shard not finished; rerun the same command to resume",
            outcome.left()
        );
    }
    if !outcome.failed.is_empty() {
        bail!(
            "{} run(s) failed ({}); their logs are in {}/logs; rerun to retry them",
            outcome.failed.len(),
            outcome.failed.join(", "),
            a.out.display()
        );
    }
    Ok(())
}

fn aggregate(a: AggregateArgs, console: &mut dyn Write) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtorch_frames_stay_off_the_console() {
        let torch = anyhow::anyhow!(
            "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory\n\
             Exception raised from alloc_cpu at /pytorch/c10/core/impl/alloc_cpu.cpp:117\n\
             frame #0: c10::Error::Error(...) + 0x8c"
        );
        let e = torch.context("cannot generate 1000 samples: lower --samples or --seq-len");
        assert_eq!(
            one_line(&e),
            "cannot generate 1000 samples: lower --samples or --seq-len: \
             [enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory"
        );
    }
}
