//! The `rnn-lab` command line: parses flags into library configs and
//! dispatches; the experiments themselves live in the library.

use std::{
    io::{self, Write},
    path::PathBuf,
    process::ExitCode,
};

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use rnn_lab::config::{
    parse_seeds, Cell, DeviceSpec, InitScheme, Task, TrainConfig, DEFAULT_THREADS,
};
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
    /// Print versions and what libtorch sees (CUDA, cuDNN, devices).
    Info {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Settings shared by every run.
#[derive(Args)]
struct RuntimeArgs {
    /// auto (CUDA when visible), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: DeviceSpec,
    /// CPU threads for libtorch (1 is fastest for the blog's small model).
    #[arg(long, default_value_t = DEFAULT_THREADS)]
    threads: usize,
    /// Replace the run files in a non-empty output folder.
    #[arg(long)]
    force: bool,
    /// Print nothing; the output files are still written.
    #[arg(long, short)]
    quiet: bool,
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
    /// Rows generated in total.
    #[arg(long, default_value_t = 3000)]
    samples: i64,
    /// Time steps per row.
    #[arg(long, default_value_t = 100)]
    seq_len: i64,
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
    /// keras (Keras defaults) or torch (PyTorch defaults).
    #[arg(long, default_value = "keras")]
    init: InitScheme,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Adam epsilon (Keras's 1e-7; PyTorch's default is 1e-8).
    #[arg(long, default_value_t = 1e-7)]
    adam_eps: f64,
    /// Rows per batch; the last partial batch is kept.
    #[arg(long, default_value_t = 32)]
    batch_size: i64,
    #[arg(long, default_value_t = 100)]
    epochs: i64,
    /// Seeds the data, the initial weights and the batch order.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output folder [default: runs/<model>-seed<seed>].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also write the initial weights to this safetensors file.
    #[arg(long)]
    save_init: Option<PathBuf>,
    /// Start from these weights (safetensors, PyTorch names) instead of drawing them.
    #[arg(long)]
    init_from: Option<PathBuf>,
    #[command(flatten)]
    runtime: RuntimeArgs,
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
    /// Output folder; runs go to <out>/<model>/seed-<seed>.
    #[arg(long, default_value = "runs/reproduce")]
    out: PathBuf,
    #[command(flatten)]
    runtime: RuntimeArgs,
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
                samples: a.samples,
                seq_len: a.seq_len,
                fit_rows: a.fit_rows,
                val_split: a.val_split,
                model: a.model,
                units: a.units,
                layers: a.layers,
                init: a.init,
                lr: a.lr,
                adam_eps: a.adam_eps,
                batch_size: a.batch_size,
                epochs: a.epochs,
                seed: a.seed,
                device: a.runtime.device,
                threads: a.runtime.threads,
            };
            let out = a.out.unwrap_or_else(|| {
                PathBuf::from(format!("runs/{}-seed{}", config.model, config.seed))
            });
            let opts = RunOptions {
                force: a.runtime.force,
                save_init: a.save_init,
                init_from: a.init_from,
                quiet: a.runtime.quiet,
            };
            rnn_lab::train(&config, &out, &opts, &mut console)?;
        }
        Command::Reproduce(a) => {
            let base = TrainConfig {
                init: a.init,
                epochs: a.epochs,
                device: a.runtime.device,
                threads: a.runtime.threads,
                ..TrainConfig::default()
            };
            let config = ReproduceConfig {
                models: a.models,
                seeds: a.seeds,
                base,
            };
            let opts = RunOptions {
                force: a.runtime.force,
                quiet: a.runtime.quiet,
                ..RunOptions::default()
            };
            rnn_lab::reproduce(&config, &a.out, &opts, &mut console)?;
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
