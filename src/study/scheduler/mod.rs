//! Runs a study's packs as child processes, `jobs` at a time: each child
//! gets one plan file (its runs and their execution) and writes its epoch
//! lines to its log; the supervisor holds each run's lock, reports every
//! run that ends with the time left, and a status line while they train.
//! A first SIGINT stops launching and lets the running runs finish; a
//! second, or a first SIGTERM (Slurm's preemption and time limit), stops
//! them now: SIGTERM and SIGCONT to each child, which saves its
//! checkpoints and exits 75, and they resume when the study runs again.
//! A further signal, or 30 seconds, and they are killed (a stopped or
//! hung child cannot hold the study; its last checkpoint stays). The
//! processes are behind `Launcher`, so the scheduling is tested without
//! them.

mod launcher;
#[cfg(test)]
mod tests;

use std::{
    fs,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

use super::grid::RunSpec;
use super::progress::{history_rows, Progress};
use super::queue::is_done;
use crate::config::Execution;
use crate::run::{Job, Plan};
use crate::store::console::Console;
use crate::store::{self, read_summary, write_atomic, SUMMARY};
pub use launcher::{Ended, Launcher, Processes};

/// What a shard's scheduling did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    pub in_shard: usize,
    /// Finished before (or by another study process meanwhile).
    pub skipped: usize,
    pub finished: usize,
    /// Runs that another process was running (their lock was held).
    pub elsewhere: usize,
    pub failed: Vec<String>,
    /// A SIGINT or SIGTERM stopped the study before its shard was done.
    pub interrupted: bool,
}

impl Outcome {
    /// Runs of this shard that are neither finished nor failed.
    pub fn left(&self) -> usize {
        self.in_shard - self.skipped - self.finished - self.failed.len()
    }
}

/// How the scheduler runs: what it needs besides the packs.
pub struct Schedule<'a> {
    pub dir: &'a Path,
    pub jobs: usize,
    pub execution: Execution,
    pub quiet: bool,
    /// SIGINT/SIGTERM received so far.
    pub interrupts: &'a dyn Fn() -> usize,
    /// Called after runs end (the study's tables are refreshed there).
    pub on_end: &'a mut dyn FnMut(),
    /// Seconds between status lines while runs train.
    pub status_every: f64,
    /// Train the runs given even where they are finished (`--force`).
    pub force: bool,
}

/// After the children are told to stop, how long they have to save their
/// checkpoints and end before they are killed: a child that cannot act on
/// it (stopped, hung) never keeps the study from ending. Slurm's grace
/// before a preempted job's SIGKILL is KillWait (30 s by default).
const KILL_AFTER: Duration = Duration::from_secs(30);

/// A pack being trained by a child.
struct Running<C> {
    child: C,
    runs: Vec<RunSpec>,
    _locks: Vec<fs::File>,
    /// Epochs of its first run already shown on the console, and the size
    /// of that run's history.csv when they were read.
    shown: usize,
    history_len: u64,
}

/// Runs `packs` (the shard's `in_shard` runs less `skipped` finished ones).
pub fn schedule<L: Launcher>(
    launcher: &mut L,
    packs: Vec<Vec<RunSpec>>,
    in_shard: usize,
    skipped: usize,
    s: Schedule,
    console: &mut Console,
) -> Result<Outcome> {
    let mut outcome = Outcome {
        in_shard,
        skipped,
        ..Default::default()
    };
    let total: i64 = packs.iter().flatten().map(|r| r.config.epochs).sum();
    let mut progress = Progress::new(total);
    let mut running: Vec<Running<L::Child>> = Vec::new();
    let mut next = packs.into_iter();
    let baseline = (s.interrupts)();
    let (mut stopping_said, mut last_status) = (false, Instant::now());
    let (mut stopped_at, mut killed): (Option<Instant>, bool) = (None, false);
    loop {
        let interrupts = (s.interrupts)() - baseline;
        if interrupts == 0 {
            while running.len() < s.jobs {
                let Some(pack) = next.next() else { break };
                if let Some(r) = launch(launcher, pack, &s, &mut outcome)? {
                    running.push(r);
                }
            }
        } else {
            outcome.interrupted = true;
            if !stopping_said && !running.is_empty() && !s.quiet {
                console.print(&match interrupts {
                    1 => format!(
                        "stopping: waiting for {} running pack(s) to finish (signal again to stop them now, each saving its checkpoint)\n",
                        running.len()
                    ),
                    _ => format!(
                        "stopping: {} running pack(s) save their checkpoints and stop; rerun the same command to resume\n",
                        running.len()
                    ),
                });
            }
            stopping_said = true;
            if interrupts >= 2 {
                let first = *stopped_at.get_or_insert_with(|| {
                    running.iter().for_each(|r| launcher.stop(&r.child));
                    Instant::now()
                });
                if !killed && (first.elapsed() >= KILL_AFTER || interrupts >= 4) {
                    running.iter().for_each(|r| launcher.kill(&r.child));
                    killed = true;
                }
            }
        }
        if running.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        let mut i = 0;
        let mut ended = false;
        while i < running.len() {
            match launcher.poll(&mut running[i].child)? {
                Some(end) => {
                    let done = running.swap_remove(i);
                    for run in &done.runs {
                        progress.epochs_ended += run.config.epochs;
                        report_end(
                            run,
                            &end,
                            &mut outcome,
                            &progress,
                            &s,
                            interrupts > 0,
                            console,
                        );
                    }
                    ended = true;
                }
                None => i += 1,
            }
        }
        if ended {
            (s.on_end)();
        }
        if !s.quiet && !running.is_empty() {
            let lines = epoch_lines(&mut running, &outcome, &progress, s.dir);
            if !lines.is_empty() {
                console.print(&lines);
                last_status = Instant::now();
            } else if last_status.elapsed().as_secs_f64() >= s.status_every {
                console.print(&status_line(&running, &outcome, &progress, s.dir));
                last_status = Instant::now();
            }
        }
    }
    outcome.interrupted |= (s.interrupts)() > baseline;
    Ok(outcome)
}

/// Locks the pack's runs, writes its plan and starts its child; None when
/// every run of it is held elsewhere or finished meanwhile.
fn launch<L: Launcher>(
    launcher: &mut L,
    pack: Vec<RunSpec>,
    s: &Schedule,
    outcome: &mut Outcome,
) -> Result<Option<Running<L::Child>>> {
    let (mut runs, mut locks) = (Vec::new(), Vec::new());
    for run in pack {
        let Some(lock) = lock_run(s.dir, &run.name)? else {
            outcome.elsewhere += 1;
            continue;
        };
        if !s.force && is_done(s.dir, &run) {
            outcome.skipped += 1; // another study process finished it meanwhile
            continue;
        }
        runs.push(run);
        locks.push(lock);
    }
    let Some(first) = runs.first() else {
        return Ok(None);
    };
    let logs = s.dir.join("logs");
    let log = logs.join(format!("{}.log", first.name));
    let plan = logs.join(format!("{}.plan.json", first.name));
    Plan {
        execution: s.execution,
        // A run cut off earlier resumes from its checkpoint; without one
        // (or with --force) it starts afresh.
        force: true,
        resume: !s.force,
        quiet: false,
        jobs: runs
            .iter()
            .map(|r| Job::new(r.config.clone(), s.dir.join(&r.name)))
            .collect(),
    }
    .write(&plan)?;
    for r in &runs[1..] {
        let note = format!(
            "trained in the pack of {}: see {}\n",
            first.name,
            log.display()
        );
        write_atomic(&logs.join(format!("{}.log", r.name)), note.as_bytes())?;
    }
    let child = launcher.start(&plan, &log)?;
    Ok(Some(Running {
        child,
        runs,
        _locks: locks,
        shown: 0,
        history_len: 0,
    }))
}

fn report_end(
    run: &RunSpec,
    end: &Ended,
    outcome: &mut Outcome,
    progress: &Progress,
    s: &Schedule,
    interrupted: bool,
    console: &mut Console,
) {
    let dir = s.dir.join(&run.name);
    let count = |o: &Outcome| o.finished + o.failed.len();
    if is_done(s.dir, run) {
        outcome.finished += 1;
        if !s.quiet {
            let result = read_summary(&dir.join(SUMMARY)).map_or(String::new(), |r| {
                format!(
                    "correctness {:.2} %, {:.1}s; ",
                    r.correctness, r.seconds_total
                )
            });
            console.print(&format!(
                "[{:>4}/{}] {}: {result}{}\n",
                count(outcome),
                outcome.in_shard - outcome.skipped,
                run.name,
                progress.times(0)
            ));
        }
    } else if end.stopped {
        // Saved its checkpoint and stopped (our signal, or Slurm's): not
        // a failure, it resumes.
        outcome.interrupted = true;
    } else if !(interrupted && end.by_signal) {
        // A run killed by our own signal is not a failure: it resumes.
        outcome.failed.push(run.name.clone());
        if !s.quiet {
            let log = s.dir.join("logs").join(format!("{}.log", run.name));
            console.print(&format!(
                "[{:>4}/{}] {} failed ({}); see {}\n",
                count(outcome),
                outcome.in_shard - outcome.skipped,
                run.name,
                end.status,
                log.display()
            ));
        }
    }
}

/// The epochs the running packs finished since the last call, one line
/// each, as Keras's `fit` prints them (for a pack, its first run's, with
/// how many train beside it), with the study's time elapsed and left:
/// `  multiply-rnn-keras-len100-seed1 +7 more: epoch 12/100 - loss: 0.0431 -
/// val_loss: 0.0452 - 0.15s; 2/40 runs ended, 1m05s elapsed, ~3m10s left`.
fn epoch_lines<C>(
    running: &mut [Running<C>],
    outcome: &Outcome,
    progress: &Progress,
    dir: &Path,
) -> String {
    let mut new_rows: Vec<(usize, Vec<String>)> = Vec::new();
    for (i, r) in running.iter_mut().enumerate() {
        let path = dir.join(&r.runs[0].name).join(store::HISTORY);
        let len = fs::metadata(&path).map_or(0, |m| m.len());
        if len == r.history_len {
            continue;
        }
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        r.history_len = len;
        // Whole rows only: the last line may still be being written.
        let rows: Vec<&str> = text.split_inclusive('\n').skip(1).collect();
        let whole = rows.iter().filter(|l| l.ends_with('\n')).count();
        for row in &rows[r.shown.min(whole)..whole] {
            new_rows.push((i, row.trim_end().split(',').map(str::to_owned).collect()));
        }
        r.shown = r.shown.max(whole);
    }
    if new_rows.is_empty() {
        return String::new();
    }
    let trained: i64 = running
        .iter()
        .flat_map(|r| &r.runs)
        .map(|run| history_rows(&dir.join(&run.name)))
        .sum();
    let times = progress.times(trained);
    let ended = outcome.finished + outcome.failed.len();
    let mut text = String::new();
    for (i, row) in new_rows {
        let r = &running[i];
        let more = match r.runs.len() {
            1 => String::new(),
            n => format!(" +{} more", n - 1),
        };
        let field = |k: usize| row.get(k).map_or("?", String::as_str);
        let epoch = field(0).parse::<i64>().map_or(0, |e| e + 1);
        text += &format!(
            "  {}{more}: epoch {epoch}/{} - loss: {} - val_loss: {} - {}s; {ended}/{} runs ended, {times}\n",
            r.runs[0].name,
            r.runs[0].config.epochs,
            short(field(1)),
            short(field(2)),
            field(3).parse::<f64>().map_or("?".into(), |s| format!("{s:.2}")),
            outcome.in_shard - outcome.skipped,
        );
    }
    text
}

/// A loss as Keras prints it: four decimals, or four digits and an
/// exponent below 1e-3.
fn short(value: &str) -> String {
    match value.parse::<f64>() {
        Ok(v) if v == 0.0 || v.abs() >= 1e-3 || !v.is_finite() => format!("{v:.4}"),
        Ok(v) => format!("{v:.4e}"),
        Err(_) => value.to_owned(),
    }
}

/// "3/40 runs ended; training: <pack> at epoch 40/100, ...; 12m elapsed, ~25m left".
fn status_line<C>(
    running: &[Running<C>],
    outcome: &Outcome,
    progress: &Progress,
    dir: &Path,
) -> String {
    let mut epochs = 0;
    let packs: Vec<String> = running
        .iter()
        .map(|r| {
            let done: Vec<i64> = r
                .runs
                .iter()
                .map(|run| history_rows(&dir.join(&run.name)))
                .collect();
            epochs += done.iter().sum::<i64>();
            let least = done.iter().copied().min().unwrap_or(0);
            let more = match r.runs.len() {
                1 => String::new(),
                n => format!(" +{} more", n - 1),
            };
            format!(
                "{}{more} at epoch {least}/{}",
                r.runs[0].name, r.runs[0].config.epochs
            )
        })
        .collect();
    format!(
        "{}/{} runs ended; training {}; {}\n",
        outcome.finished + outcome.failed.len(),
        outcome.in_shard - outcome.skipped,
        packs.join(", "),
        progress.times(epochs)
    )
}

/// Takes the run's lock (`logs/<name>.lock`, an OS file lock that dies
/// with its process), or None when another study process holds it: two
/// processes on one folder (a resubmitted job, a second terminal) never
/// train the same run into the same files.
fn lock_run(dir: &Path, name: &str) -> Result<Option<fs::File>> {
    let path = dir.join("logs").join(format!("{name}.lock"));
    fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    store::try_lock(&path)
}
