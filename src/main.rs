//! The `rnn-lab` command line: parses flags into library configs and
//! dispatches; the experiments themselves live in the library.

use std::{
    io::{self, Write},
    path::PathBuf,
    process::ExitCode,
};

use anyhow::{bail, Result};
use clap::{ArgAction, Args, Parser, Subcommand};
use rnn_lab::config::{
    parse_seeds, Cell, DeviceSpec, InitScheme, Task, TrainConfig, DEFAULT_THREADS,
};
use rnn_lab::sweep::{Grid, Shard, SweepOptions};
use rnn_lab::{ReproduceConfig, RunOptions};

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
    /// The blog's experiment: every model and seed with the blog's settings,
    /// one folder per run under --out, then a table against the blog.
    Reproduce(ReproduceArgs),
    /// A grid of runs (tasks x models x inits x lengths x seeds), N at a
    /// time, resumable, optionally one shard of it (Slurm job arrays).
    Sweep(SweepArgs),
    /// Statistics of a sweep folder (any number of shards): aggregate.csv
    /// and aggregate.md.
    Aggregate(AggregateArgs),
    /// Print versions and what libtorch sees (CUDA, cuDNN, devices).
    Info {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Settings a sweep keeps fixed and a single run takes as they are.
#[derive(Args)]
struct SettingsArgs {
    /// Rows generated in total.
    #[arg(long, default_value_t = 3000)]
    samples: i64,
    /// Rows given to training and validation; the rest is the test set.
    #[arg(long, default_value_t = 2560)]
    fit_rows: i64,
    /// Share of the fit rows kept for validation (the last ones, as Keras).
    #[arg(long, default_value_t = 0.2)]
    val_split: f64,
    /// Hidden units per layer.
    #[arg(long, default_value_t = 30)]
    units: i64,
    /// Stacked recurrent layers.
    #[arg(long, default_value_t = 2)]
    layers: i64,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Adam epsilon (Keras's 1e-7; PyTorch's default is 1e-8).
    #[arg(long, default_value_t = 1e-7)]
    adam_eps: f64,
    /// Rows per batch; the last partial batch is kept.
    #[arg(long, default_value_t = 32)]
    batch_size: i64,
    /// Passes over the training rows.
    #[arg(long, default_value_t = 100)]
    epochs: i64,
    /// auto (CUDA when visible), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: DeviceSpec,
}

impl SettingsArgs {
    /// The config these flags describe, with the blog's task, model, init,
    /// length and seed until the caller sets them.
    fn config(&self, threads: usize) -> TrainConfig {
        TrainConfig {
            samples: self.samples,
            fit_rows: self.fit_rows,
            val_split: self.val_split,
            units: self.units,
            layers: self.layers,
            lr: self.lr,
            adam_eps: self.adam_eps,
            batch_size: self.batch_size,
            epochs: self.epochs,
            device: self.device,
            threads,
            ..TrainConfig::default()
        }
    }
}

#[derive(Args)]
#[command(allow_negative_numbers = true, args_override_self = true)]
struct TrainArgs {
    /// multiply (the blog's) or add.
    #[arg(long, default_value = "multiply")]
    task: Task,
    /// rnn (Elman, tanh), lstm or gru.
    #[arg(long, default_value = "lstm")]
    model: Cell,
    /// Time steps per row.
    #[arg(long, default_value_t = 100)]
    seq_len: i64,
    /// keras (Keras defaults) or torch (PyTorch defaults).
    #[arg(long, default_value = "keras")]
    init: InitScheme,
    /// Seeds the data, the initial weights and the batch order.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    settings: SettingsArgs,
    /// CPU threads for libtorch (1 is fastest for the blog's small model).
    #[arg(long, default_value_t = DEFAULT_THREADS)]
    threads: usize,
    /// Output folder [default: runs/<model>-seed<seed>].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also write the initial weights to this safetensors file.
    #[arg(long)]
    save_init: Option<PathBuf>,
    /// Start from these weights (safetensors, PyTorch names) instead of drawing them.
    #[arg(long)]
    init_from: Option<PathBuf>,
    /// Replace the run files in a non-empty output folder.
    #[arg(long)]
    force: bool,
    /// Print nothing; the output files are still written.
    #[arg(long, short)]
    quiet: bool,
}

/// A parsed `--seeds` list (an alias, so clap takes it as one value).
type SeedList = Vec<u64>;

#[derive(Args)]
struct ReproduceArgs {
    /// Models to run, in order.
    #[arg(long, value_delimiter = ',', default_value = "rnn,lstm")]
    models: Vec<Cell>,
    /// Seeds: 1, 1,4,9 or 1..5.
    #[arg(long, default_value = "1", value_parser = parse_seeds)]
    seeds: SeedList,
    /// keras (the blog's) or torch (an ablation).
    #[arg(long, default_value = "keras")]
    init: InitScheme,
    /// Epochs per run (the blog's 100; lower only for a quick look).
    #[arg(long, default_value_t = 100)]
    epochs: i64,
    /// auto (CUDA when visible), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: DeviceSpec,
    /// CPU threads for libtorch.
    #[arg(long, default_value_t = DEFAULT_THREADS)]
    threads: usize,
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
    /// Runs at once (processes); on a GPU they share it.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// CPU threads per run [default: cores / jobs, at least 1].
    #[arg(long)]
    threads: Option<usize>,
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
    /// val_loss that counts as learned, for the epochs-to-threshold column.
    #[arg(long, default_value_t = 0.01)]
    val_threshold: f64,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        // `rnn-lab ... | head`: the reader left; that is a normal end.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
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
        Command::Train(a) => {
            let config = TrainConfig {
                task: a.task,
                model: a.model,
                seq_len: a.seq_len,
                init: a.init,
                seed: a.seed,
                ..a.settings.config(a.threads)
            };
            let out = a.out.unwrap_or_else(|| {
                PathBuf::from(format!("runs/{}-seed{}", config.model, config.seed))
            });
            let opts = RunOptions {
                force: a.force,
                save_init: a.save_init,
                init_from: a.init_from,
                quiet: a.quiet,
            };
            rnn_lab::train(&config, &out, &opts, &mut console)?;
        }
        Command::Reproduce(a) => {
            let base = TrainConfig {
                init: a.init,
                epochs: a.epochs,
                device: a.device,
                threads: a.threads,
                ..TrainConfig::default()
            };
            let config = ReproduceConfig {
                models: a.models,
                seeds: a.seeds,
                base,
            };
            let opts = RunOptions {
                force: a.force,
                quiet: a.quiet,
                ..RunOptions::default()
            };
            rnn_lab::reproduce(&config, &a.out, &opts, &mut console)?;
        }
        Command::Sweep(a) => {
            let grid = Grid {
                tasks: a.tasks,
                models: a.models,
                inits: a.inits,
                seq_lens: a.seq_lens,
                seeds: a.seeds,
                base: a.settings.config(a.threads.unwrap_or(DEFAULT_THREADS)),
            };
            let shard = match a.shard {
                Some(s) => s,
                None => Shard::from_slurm(|k| std::env::var(k).ok())?.unwrap_or(Shard::ALL),
            };
            let opts = SweepOptions {
                jobs: a.jobs,
                threads: a.threads,
                shard,
                quiet: a.quiet,
                exe: std::env::current_exe()?,
            };
            let outcome = rnn_lab::sweep::sweep(&grid, &a.out, &opts, &mut console)?;
            let left = outcome.in_shard - outcome.skipped - outcome.finished;
            if !a.quiet {
                writeln!(
                    console,
                    "sweep: {} finished now, {} were already finished, {} failed, {} left",
                    outcome.finished,
                    outcome.skipped,
                    outcome.failed.len(),
                    left
                )?;
            }
            if outcome.elsewhere > 0 {
                bail!(
                    "{} run(s) were being run by another sweep on {} and were left to it; rerun once it ends to check",
                    outcome.elsewhere,
                    a.out.display()
                );
            }
            if outcome.interrupted {
                bail!("interrupted: {left} run(s) of this shard not finished; rerun the same command to resume");
            }
            if !outcome.failed.is_empty() {
                bail!(
                    "{} run(s) failed ({}); their logs are in {}/logs; rerun to retry them",
                    outcome.failed.len(),
                    outcome.failed.join(", "),
                    a.out.display()
                );
            }
        }
        Command::Aggregate(a) => {
            let (rows, md) = rnn_lab::aggregate::write(&a.dir, a.val_threshold)?;
            write!(
                console,
                "{}",
                rnn_lab::aggregate::markdown(&rows, a.val_threshold)
            )?;
            writeln!(
                console,
                "aggregate: wrote {} and aggregate.csv",
                md.display()
            )?;
        }
        Command::Info { json } => {
            let env = rnn_lab::run::environment();
            if json {
                writeln!(console, "{}", serde_json::to_string_pretty(&env)?)?;
            } else {
                let v = &env.versions;
                writeln!(
                    console,
                    "rnn-lab {} (tch {}, libtorch {})",
                    v.rnn_lab, v.tch, v.libtorch
                )?;
                writeln!(
                    console,
                    "cuda available: {} ({} device(s))",
                    env.cuda_available, env.cuda_devices
                )?;
                writeln!(console, "cudnn available: {}", env.cudnn_available)?;
                if let (Some(rt), Some(dnn)) = (v.cuda_runtime, v.cudnn) {
                    writeln!(console, "cuda runtime {rt}, cudnn {dnn}")?;
                }
                writeln!(console, "--device auto uses: {}", env.auto_device)?;
            }
        }
    }
    Ok(())
}
