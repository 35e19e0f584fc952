//! The `rnn-lab` command line: parses the flags and dispatches to one
//! function per command (`cli::commands`); the experiments themselves live
//! in the library.

mod cli;

use std::{io, process::ExitCode};

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use cli::commands::{
    self, AggregateArgs, InspectArgs, ReproduceArgs, SweepArgs, TrainArgs, TrainPackArgs,
};
use rnn_lab::config::value_text;
use rnn_lab::nn::native::keep_freed_memory;
use rnn_lab::store::console::keep_training_on_hangup;

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
    #[command(after_help = "Examples:\n  \
        rnn-lab train --model lstm --seed 3 --out runs/lstm-3\n  \
        rnn-lab train --task hs-add --seq-len 200 --model gru --lr 3e-3 --clip-norm 1\n  \
        rnn-lab train --config runs/lstm-3/summary.json --out runs/lstm-3-again   # rerun exactly")]
    Train(TrainArgs),
    /// Train the runs of a plan file as one pack (what `sweep` runs in each
    /// child process); each run writes its own folder.
    TrainPack(TrainPackArgs),
    /// The blog's experiment: every model and seed with the blog's settings,
    /// one folder per run under --out, then a table against the blog.
    #[command(after_help = "Examples:\n  \
        rnn-lab reproduce --seeds 1..20 --out runs/blog          # resumes when run again\n  \
        rnn-lab reproduce --seeds 1..20 --out runs/blog --dry-run   # what would run, and how long\n  \
        rnn-lab reproduce --models rnn,lstm,gru --seeds 21..30 --out runs/blog   # grow it")]
    Reproduce(ReproduceArgs),
    /// A grid of runs (tasks x models x inits x lengths x seeds), N at a
    /// time, resumable, optionally one shard of it (Slurm job arrays).
    #[command(after_help = "Examples:\n  \
        rnn-lab sweep --tasks add-halves --models rnn,lstm,gru --seq-lens 25,50,100 --seeds 1..5 --out runs/halves\n  \
        rnn-lab sweep --out runs/halves --seeds 6..10     # grow the same study by five seeds\n  \
        rnn-lab sweep --out runs/halves --jobs 2 --dry-run   # the packs, and the time it will take")]
    Sweep(SweepArgs),
    /// Statistics of a sweep folder (any number of shards): aggregate.csv,
    /// aggregate.json and aggregate.md.
    #[command(after_help = "Examples:\n  \
        rnn-lab aggregate runs/halves\n  \
        rnn-lab aggregate shard-a shard-b --out runs/tables --complete")]
    Aggregate(AggregateArgs),
    /// Run a trained model on a few test rows and write each step's state
    /// per layer (and the gates and cell state of gated cells) as a
    /// long-format CSV, the inputs, markers and targets alongside.
    #[command(after_help = "Examples:\n  \
        rnn-lab inspect runs/lstm-3                 # writes runs/lstm-3/inspect.csv\n  \
        scripts/plot.py --inspect runs/lstm-3/inspect.csv runs/rnn-3/inspect.csv --out inside.png")]
    Inspect(InspectArgs),
    /// Print versions, defaults and what libtorch sees (CUDA, cuDNN, devices).
    Info {
        /// As JSON (versions, devices, and every default setting).
        #[arg(long)]
        json: bool,
    },
}

/// The command line with each run setting's default in its help, taken
/// from the library for each command (one copy of the defaults).
fn command() -> clap::Command {
    let mut cli = Cli::command();
    for name in ["train", "reproduce", "sweep"] {
        let defaults = commands::setting_defaults(name).expect("defaults serialise");
        cli = cli.mut_subcommand(name, |mut sub| {
            for (setting, value) in defaults {
                let shown = value_text(&value);
                sub = sub.mut_arg(setting, |arg| {
                    let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                    arg.help(format!("{help} [default: {shown}]"))
                });
            }
            sub
        });
    }
    cli
}

/// libtorch's static initialisers take a few hundred milliseconds before
/// `main`; a terminal closed in them would end the run. The executable's
/// pre-init functions run before any shared object's, so the hang-up is
/// ignored from (almost) the first instruction.
#[cfg(target_os = "linux")]
#[used]
#[link_section = ".preinit_array"]
static IGNORE_HANGUP_EARLY: extern "C" fn() = ignore_hangup_early;

#[cfg(target_os = "linux")]
extern "C" fn ignore_hangup_early() {
    keep_training_on_hangup();
}

fn main() -> ExitCode {
    keep_training_on_hangup();
    keep_freed_memory();
    let cli = Cli::from_arg_matches(&command().get_matches()).unwrap_or_else(|e| e.exit());
    let stdout = io::stdout();
    let console = &mut stdout.lock();
    cli::exit::exit(match cli.command {
        Command::Train(a) => commands::train(a, console),
        Command::TrainPack(a) => commands::train_pack(a, console),
        Command::Reproduce(a) => commands::reproduce(a, console),
        Command::Sweep(a) => commands::sweep(a, console),
        Command::Aggregate(a) => commands::aggregate(a, console),
        Command::Inspect(a) => commands::inspect(a, console),
        Command::Info { json } => commands::info(json, console),
    })
}
