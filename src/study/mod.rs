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
    sync::atomic::{AtomicUsize, Ordering},
};

use anyhow::{bail, Result};

use crate::config::{AdamLayout, DeviceSpec, Execution, Kernel};
use crate::nn::device;
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
    pub device: DeviceSpec,
    /// Threads per process; None picks cores / jobs (at least 1).
    pub threads: Option<usize>,
    pub kernel: Kernel,
    pub adam_layout: AdamLayout,
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

/// SIGINT and SIGTERM received since the process started.
static SIGNALS: AtomicUsize = AtomicUsize::new(0);

fn signals() -> usize {
    SIGNALS.load(Ordering::SeqCst)
}

extern "C" fn count_signal(_: libc::c_int) {
    // An atomic add is async-signal-safe; nothing else happens here.
    SIGNALS.fetch_add(1, Ordering::SeqCst);
}

/// Counts SIGINT and SIGTERM from now on (before anything of a study is
/// written, so a signal at any moment is a stop, never a kill). SIGHUP is
/// not among them: a closed terminal stops the printing, not the study.
fn catch_signals() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only touches an atomic.
        unsafe {
            libc::signal(
                signal,
                count_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
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
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let execution = Execution {
        device: opts.device,
        threads: opts.threads.unwrap_or((cores / opts.jobs).max(1)),
        kernel: opts.kernel,
        adam_layout: opts.adam_layout,
    };
    execution.validate()?;
    let dev = device::resolve(opts.device)?;
    let study = prepare(grid, dir, opts.dry_run)?;
    let queue = queue(&study, opts.shard, opts.force)?;
    let (packs, choices) = packs(&queue.todo, opts.pack, &execution, dev, !opts.dry_run)?;
    let mut console = Console::new(console);
    if !opts.quiet {
        console.print(&header(
            &study,
            &queue,
            packs.len(),
            opts,
            device::announce(opts.device, dev),
            execution,
        ));
        for (shape, choice) in &choices {
            console.print(&format!("  --pack auto: {shape}: {}\n", choice.describe()));
        }
    }
    if opts.dry_run {
        console.print(&dry_run_listing(&packs));
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
        console.print(&format!(
            "\nin {}: aggregate.md, runs.csv, curves.csv; next:\n  \
             rnn-lab aggregate {0}      # the statistics again (--val-threshold)\n  \
             scripts/plot.py {0}        # curves, and correctness against length\n  \
             scripts/compare.py {0}     # which differences are real\n",
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
            bail!(
                "interrupted: {} run(s) of this shard not finished; rerun the same command to resume",
                self.left()
            );
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
