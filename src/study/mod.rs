//! Studies of many runs, one model for all of them: `reproduce` (the
//! blog's grid) and `sweep` (any grid) make a study folder that resumes
//! and grows in place. A study is prepared (its manifest grown and written
//! first), its shard's unfinished runs are packed into child processes and
//! scheduled, and its tables are refreshed as runs end.

pub mod aggregate;
pub mod calibration;
pub mod discover;
pub mod grid;
pub mod manifest;
pub mod packing;
pub mod prepare;
pub mod progress;
pub mod published;
pub mod queue;
pub mod read;
pub mod scheduler;
pub mod shard;

pub mod tables;

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::{bail, Result};

use crate::config::{Execution, TrainConfig};
use crate::nn::device;
use crate::run::calibrate;
use crate::run::life::Stopped;
use crate::run::signals::{catch_signals, signals};
use crate::store::console::Console;
use grid::Grid;
use packing::PackSize;
use prepare::{prepare, Study};
use queue::{packs, queue, Queue};
use scheduler::{schedule, Outcome, Processes, Schedule};
use shard::Shard;

/// Most child processes one study process supervises at once.
pub const MAX_JOBS: usize = 1024;

/// How a study runs; nothing here changes what its runs compute.
#[derive(Clone, Debug)]
pub struct StudyOptions {
    pub jobs: usize,
    /// How each child computes: the same defaults as `train` (one thread).
    pub execution: Execution,
    pub shard: Shard,
    /// Runs per child process.
    pub pack: PackSize,
    /// Train finished runs again.
    pub force: bool,
    /// List what would run, run nothing, write nothing.
    pub dry_run: bool,
    pub quiet: bool,
    /// The rnn-lab binary that runs each pack (normally this one).
    pub exe: PathBuf,
}

/// Runs this shard of the study `grid` in `dir`: prepares the study,
/// trains what is left of it, refreshes its tables and prints where it
/// stands. With `dry_run`, says what it would run and stops.
pub fn run_study(
    grid: &Grid,
    dir: &Path,
    opts: &StudyOptions,
    console: &mut dyn Write,
) -> Result<Outcome> {
    catch_signals();
    if !(1..=MAX_JOBS).contains(&opts.jobs) {
        bail!("--jobs must be between 1 and {MAX_JOBS}, got {}", opts.jobs);
    }
    let execution = opts.execution;
    execution.validate()?;
    let dev = device::resolve(execution.device)?;
    let study = prepare(grid, dir, opts.dry_run)?;
    let queue = queue(&study, opts.shard, opts.force)?;
    let (packs, choices) = packs(
        &study.dir,
        &queue.todo,
        opts.pack,
        &execution,
        dev,
        !opts.dry_run,
    )?;
    let mut console = Console::new(console);
    if !opts.quiet {
        console.print(&header(
            &study,
            &queue,
            packs.len(),
            opts,
            device::announce(execution.device, dev),
            execution,
        ));
        for (shape, choice) in &choices {
            console.print(&format!("  --pack auto: {shape}: {}\n", choice.describe()));
        }
    }
    if opts.dry_run {
        console.print(&dry_run_listing(&packs));
        let seconds = dry_run_estimate(&packs, &choices, opts.jobs, &execution, dev)?;
        let about = match seconds {
            s if s < 1.0 => "under a second".to_string(),
            s => format!("~{}", progress::duration(s)),
        };
        console.print(&format!(
            "estimated training time: {about} on this machine ({} process(es) at a time; \
             from the measured cost of a batch per run at each pack size, times the batches \
             and epochs of every pack; evaluation and start-up add a little)\n",
            opts.jobs
        ));
        return Ok(Outcome {
            in_shard: queue.in_shard,
            skipped: queue.done,
            ..Outcome::default()
        });
    }
    let mut refresh = || {
        // Best effort while training: a table that cannot be written now
        // is written at the end, where its error is reported.
        let _ = tables::refresh(dir);
    };
    let outcome = schedule(
        &mut Processes {
            exe: opts.exe.clone(),
        },
        packs,
        queue.in_shard,
        queue.done,
        Schedule {
            dir,
            jobs: opts.jobs,
            execution,
            quiet: opts.quiet,
            interrupts: &signals,
            on_end: &mut refresh,
            status_every: 30.0,
            force: opts.force,
        },
        &mut console,
    )?;
    let rows = tables::refresh(dir)?;
    if !opts.quiet {
        console.print(&format!("\n{}", tables::console_table(&rows)));
        // The binary as it was called (`target/release/rnn-lab` from a
        // clone): `rnn-lab` is on PATH only after `cargo install --path .`.
        let exe = std::env::args().next().unwrap_or_else(|| "rnn-lab".into());
        console.print(&format!(
            "\nin {}: aggregate.md, runs.csv, curves.csv; next:\n  \
             {exe} aggregate {0}      # the statistics again (--val-threshold)\n  \
             scripts/plot.py {0}        # curves, and correctness against length\n  \
             scripts/compare.py {0}     # which differences are real (--by model, length, ...)\n",
            dir.display()
        ));
    }
    Ok(outcome)
}

/// The first lines of a study: its runs, this shard's, and where they run.
fn header(
    study: &Study,
    queue: &Queue,
    processes: usize,
    opts: &StudyOptions,
    device: String,
    e: Execution,
) -> String {
    format!(
        "study {}: {} runs ({} new); shard {}: {} runs, {} finished, {} to run\n  \
         in {processes} process(es) on {device}, {} at a time, {} thread(s) each\n",
        study.dir.display(),
        study.manifest.runs.len(),
        study.added,
        opts.shard,
        queue.in_shard,
        queue.done,
        queue.todo.len(),
        opts.jobs,
        e.threads,
    )
}

/// How long the packs will train: `--pack auto`'s measured costs where it
/// measured the size, else each shape and size measured now (a few
/// batches each).
fn dry_run_estimate(
    packs: &[Vec<grid::RunSpec>],
    choices: &[(String, calibration::Choice)],
    jobs: usize,
    execution: &Execution,
    dev: tch::Device,
) -> Result<f64> {
    let shape = |c: &TrainConfig| format!("{} {} at {}", c.task, c.model, c.seq_len);
    let mut known: std::collections::BTreeMap<(String, usize), f64> = choices
        .iter()
        .flat_map(|(label, choice)| {
            let prefix = label.split(" (").next().unwrap_or_default().to_owned();
            choice
                .costs
                .iter()
                .map(move |(k, c)| ((prefix.clone(), *k), *c))
        })
        .collect();
    queue::estimate(packs, jobs, |pack| {
        let key = (shape(&pack[0].config), pack.len());
        if let Some(c) = known.get(&key) {
            return Ok(*c);
        }
        if signals() > 0 {
            bail!("interrupted while estimating the study's time; nothing was started");
        }
        let measured =
            calibrate::seconds_per_run_batch(&pack[0].config, execution, dev, pack.len())?;
        known.insert(key, measured.seconds);
        Ok(measured.seconds)
    })
}

/// `--dry-run`: every pack that would start, one line each.
fn dry_run_listing(packs: &[Vec<grid::RunSpec>]) -> String {
    let mut text = String::new();
    for (i, pack) in packs.iter().enumerate() {
        let names: Vec<&str> = pack.iter().map(|r| r.name.as_str()).collect();
        text += &match names.as_slice() {
            [one] => format!("  process {}: {one}\n", i + 1),
            _ => format!(
                "  process {}: pack of {}: {}\n",
                i + 1,
                names.len(),
                names.join(", ")
            ),
        };
    }
    text + "dry run: nothing was started or written\n"
}

impl Outcome {
    /// The study's end as an exit: an error when a run failed, the study
    /// was interrupted, or another process holds runs of it (so a script
    /// never mistakes an unfinished shard for a finished one).
    pub fn into_result(self, dir: &Path) -> Result<()> {
        if self.elsewhere > 0 {
            bail!(
                "{} run(s) were being run by another process on {} and were left to it; rerun once it ends to check",
                self.elsewhere,
                dir.display()
            );
        }
        if self.interrupted {
            return Err(Stopped(format!(
                "interrupted: {} run(s) of this shard not finished; rerun the same command to resume (cut-off runs go on from their checkpoints)",
                self.left()
            ))
            .into());
        }
        if !self.failed.is_empty() {
            bail!(
                "{} run(s) failed ({}); their logs are in {}/logs; rerun to retry them",
                self.failed.len(),
                self.failed.join(", "),
                dir.display()
            );
        }
        Ok(())
    }
}
