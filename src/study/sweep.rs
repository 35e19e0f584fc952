//! Sweeps: a grid of runs into one folder, N runs at once as child
//! processes, resumable after any stop, one shard of the grid at a time.
//! Three steps: `prepare` checks and records the grid, `plan` picks this
//! shard's unfinished runs, `schedule` runs them. Each child gets its run's
//! `TrainConfig` as a file (the one contract between the two processes)
//! and dies with the sweep that started it.

use std::{
    fs,
    io::Write,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use super::grid::{read_manifest, Grid, Manifest, RunSpec, Shard, MANIFEST};
use super::packing::{group, PackSize};
use crate::config::{DeviceSpec, Execution, TrainConfig};
use crate::nn::device;
use crate::run::{Job, Plan};
use crate::store::console::Console;
use crate::store::{self, check_run_dir, read_summary, write_atomic, FinishedRun, SUMMARY};

/// Most runs one sweep process supervises at once.
pub const MAX_JOBS: usize = 1024;

/// How a sweep runs; nothing here changes what its runs compute.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    pub jobs: usize,
    pub device: DeviceSpec,
    /// Threads per run; None picks cores / jobs (at least 1).
    pub threads: Option<usize>,
    pub shard: Shard,
    /// Runs per child process (`--pack`).
    pub pack: PackSize,
    pub quiet: bool,
    /// The rnn-lab binary that runs each run (normally this one).
    pub exe: PathBuf,
}

/// What a sweep did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SweepOutcome {
    pub in_shard: usize,
    pub skipped: usize,
    pub finished: usize,
    /// Runs that another sweep process was running (their lock was held).
    pub elsewhere: usize,
    pub failed: Vec<String>,
    /// A SIGINT or SIGTERM stopped the sweep before its shard was done.
    pub interrupted: bool,
}

impl SweepOutcome {
    /// The sweep's end as an exit: an error when a run failed, the sweep
    /// was interrupted, or another sweep holds runs of it (so a script
    /// never mistakes an unfinished shard for a finished one).
    pub fn into_result(self, out: &Path) -> Result<()> {
        if self.elsewhere > 0 {
            bail!(
                "{} run(s) were being run by another sweep on {} and were left to it; rerun once it ends to check",
                self.elsewhere,
                out.display()
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
                out.display()
            );
        }
        Ok(())
    }

    /// Runs of this shard that are neither finished nor failed.
    pub fn left(&self) -> usize {
        self.in_shard - self.skipped - self.finished - self.failed.len()
    }
}

/// Whether `dir` holds a finished run of exactly `config`, its weights
/// drawn from the seed as a sweep's are.
pub fn is_complete(dir: &Path, config: &TrainConfig) -> bool {
    FinishedRun::read(dir)
        .ok()
        .flatten()
        .is_some_and(|r| r.summary.config == *config && r.summary.init_from.is_none())
}

/// Checks the grid and the folder, then records the grid in `sweep.json`.
/// A folder that is not empty must be this same sweep's.
pub fn prepare(grid: &Grid, out: &Path, opts: &SweepOptions) -> Result<Vec<RunSpec>> {
    grid.validate()?;
    if !(1..=MAX_JOBS).contains(&opts.jobs) {
        bail!("--jobs must be between 1 and {MAX_JOBS}, got {}", opts.jobs);
    }
    if let Some(threads) = opts.threads {
        Execution {
            device: opts.device,
            threads,
        }
        .validate()?;
    }
    device::resolve(opts.device)?;
    check_run_dir(out, true)?;
    // Shards of one sweep (a Slurm array) start at the same moment: the
    // check of the folder and the writing of its manifest happen under a
    // lock on the folder, or one shard would see the other's half-made
    // folder as foreign.
    fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let _folder = store::lock(out)?;
    match read_manifest(out)? {
        Some(existing) if existing.grid != *grid => bail!(
            "{} holds another sweep ({MANIFEST}); choose another --out, or rerun with that sweep's flags to resume it",
            out.display()
        ),
        Some(_) => {}
        None if out.is_dir() && fs::read_dir(out)?.next().is_some() => bail!(
            "{} is not empty and holds no {MANIFEST}; sweep into a new or empty folder (or an earlier sweep's folder to resume it)",
            out.display()
        ),
        None => {}
    }
    fs::create_dir_all(out.join("logs"))
        .with_context(|| format!("cannot create {}", out.display()))?;
    let runs = grid.runs();
    let manifest = Manifest {
        grid: grid.clone(),
        runs: runs.clone(),
    };
    write_atomic(
        &out.join(MANIFEST),
        (serde_json::to_string_pretty(&manifest)? + "\n").as_bytes(),
    )?;
    Ok(runs)
}

/// This shard's runs, and which of them are still to run.
pub struct ShardPlan {
    pub in_shard: usize,
    pub skipped: usize,
    pub queue: Vec<RunSpec>,
}

pub fn plan(runs: &[RunSpec], out: &Path, shard: Shard) -> ShardPlan {
    let mine: Vec<&RunSpec> = runs
        .iter()
        .enumerate()
        .filter(|(i, _)| shard.owns(*i))
        .map(|(_, r)| r)
        .collect();
    let queue: Vec<RunSpec> = mine
        .iter()
        .filter(|r| !is_complete(&out.join(&r.name), &r.config))
        .map(|r| (*r).clone())
        .collect();
    ShardPlan {
        in_shard: mine.len(),
        skipped: mine.len() - queue.len(),
        queue,
    }
}

/// SIGINT and SIGTERM received since the process started.
static SIGNALS: AtomicUsize = AtomicUsize::new(0);

fn signals() -> usize {
    SIGNALS.load(Ordering::SeqCst)
}

/// Runs this shard's unfinished runs of `grid` into `out`, `jobs` packs
/// at a time (a pack is one child process training up to `--pack` runs). The first SIGINT or SIGTERM stops launching and lets the running
/// runs finish; a second one stops them at once (they restart on resume).
pub fn sweep(
    grid: &Grid,
    out: &Path,
    opts: &SweepOptions,
    console: &mut dyn Write,
) -> Result<SweepOutcome> {
    let runs = prepare(grid, out, opts)?;
    let plan = plan(&runs, out, opts.shard);
    let device = device::resolve(opts.device)?;
    let packs = group(plan.queue.clone(), MAX_JOBS, |r| &r.config)
        .into_iter()
        .flat_map(|p| {
            let size = opts.pack.members(p[0].config.model, device).max(1);
            p.chunks(size).map(<[RunSpec]>::to_vec).collect::<Vec<_>>()
        })
        .collect::<Vec<_>>();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = opts.threads.unwrap_or((cores / opts.jobs).max(1));
    let mut console = Console::new(console);
    if !opts.quiet {
        console.print(&format!(
            "sweep {}: {} runs in grid, {} in shard {}, {} already finished, {} to run in {} pack(s) ({} at a time, {} thread(s) each)\n",
            out.display(),
            runs.len(),
            plan.in_shard,
            opts.shard,
            plan.skipped,
            plan.queue.len(),
            packs.len(),
            opts.jobs,
            threads
        ));
    }
    // Fails only if a handler is already set (a second sweep in-process),
    // which then counts into the same SIGNALS.
    let _ = ctrlc::set_handler(|| {
        SIGNALS.fetch_add(1, Ordering::SeqCst);
    });
    let execution = Execution {
        device: opts.device,
        threads,
    };
    schedule(plan, packs, out, opts, execution, &mut console)
}

/// A pack of runs being trained by a child process.
struct Running {
    child: Child,
    runs: Vec<RunSpec>,
    _locks: Vec<fs::File>,
}

fn schedule(
    plan: ShardPlan,
    packs: Vec<Vec<RunSpec>>,
    out: &Path,
    opts: &SweepOptions,
    execution: Execution,
    console: &mut Console,
) -> Result<SweepOutcome> {
    let mut outcome = SweepOutcome {
        in_shard: plan.in_shard,
        skipped: plan.skipped,
        ..Default::default()
    };
    let started = Instant::now();
    let mut running: Vec<Running> = Vec::new();
    let mut next = packs.into_iter();
    let baseline = signals();
    let mut stopping_said = false;
    loop {
        let interrupts = signals() - baseline;
        if interrupts == 0 {
            while running.len() < opts.jobs {
                let Some(candidates) = next.next() else { break };
                let (mut runs, mut locks) = (Vec::new(), Vec::new());
                for run in candidates {
                    let Some(lock) = lock_run(out, &run.name)? else {
                        outcome.elsewhere += 1;
                        continue;
                    };
                    if is_complete(&out.join(&run.name), &run.config) {
                        outcome.skipped += 1; // another sweep finished it meanwhile
                        continue;
                    }
                    runs.push(run);
                    locks.push(lock);
                }
                if runs.is_empty() {
                    continue;
                }
                let child = spawn(opts, &runs, out, execution)?;
                running.push(Running {
                    child,
                    runs,
                    _locks: locks,
                });
            }
        } else {
            outcome.interrupted = true;
            if !stopping_said && !running.is_empty() && !opts.quiet {
                console.print(&format!(
                    "sweep: stopping; waiting for {} running run(s) to finish (signal again to stop them now)\n",
                    running.len()
                ));
            }
            stopping_said = true;
            if interrupts >= 2 {
                for r in &running {
                    // SAFETY: kill(2) on our own child's pid, which we have not reaped yet.
                    unsafe { libc::kill(r.child.id() as libc::pid_t, libc::SIGTERM) };
                }
            }
        }
        if running.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        let mut i = 0;
        while i < running.len() {
            match running[i].child.try_wait()? {
                Some(status) => {
                    let done = running.swap_remove(i);
                    for run in &done.runs {
                        report_end(out, run, status, &mut outcome, started, opts.quiet, console);
                    }
                }
                None => i += 1,
            }
        }
    }
    outcome.interrupted |= signals() > baseline;
    Ok(outcome)
}

fn report_end(
    out: &Path,
    run: &RunSpec,
    status: ExitStatus,
    outcome: &mut SweepOutcome,
    started: Instant,
    quiet: bool,
    console: &mut Console,
) {
    let dir = out.join(&run.name);
    if is_complete(&dir, &run.config) {
        outcome.finished += 1;
        if !quiet {
            if let Ok(s) = read_summary(&dir.join(SUMMARY)) {
                console.print(&format!(
                    "[{:>4}/{}] {} correctness {:.2} %, {:.1}s ({:.0}s elapsed)\n",
                    outcome.finished + outcome.failed.len(),
                    outcome.in_shard - outcome.skipped,
                    run.name,
                    s.correctness,
                    s.seconds_total,
                    started.elapsed().as_secs_f64()
                ));
            }
        }
    } else if signals() == 0 || status.code().is_some() {
        // A run stopped by our own signal is not a failure: it resumes.
        outcome.failed.push(run.name.clone());
        if !quiet {
            let log = out.join("logs").join(format!("{}.log", run.name));
            console.print(&format!(
                "{} failed ({status}); see {}\n",
                run.name,
                log.display()
            ));
        }
    }
}

/// Takes the run's lock (`logs/<name>.lock`, an OS file lock that dies
/// with its process), or None when another sweep holds it: two sweeps on
/// one folder (a resubmitted job, a second terminal) never train the same
/// run into the same files.
fn lock_run(out: &Path, name: &str) -> Result<Option<fs::File>> {
    let path = out.join("logs").join(format!("{name}.lock"));
    fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    store::try_lock(&path)
}

/// Starts one child for a pack of runs: `rnn-lab train-pack --plan
/// logs/<first>.plan.json`, the plan holding the runs and their execution
/// (a plan of one is a lone run). The child sits in its own process group
/// (a terminal's Ctrl-C reaches the sweep alone, which decides) and is
/// killed by the kernel if the sweep dies first (PR_SET_PDEATHSIG), so no
/// run outlives its supervisor.
fn spawn(opts: &SweepOptions, runs: &[RunSpec], out: &Path, execution: Execution) -> Result<Child> {
    let first = &runs[0];
    let log_path = out.join("logs").join(format!("{}.log", first.name));
    let plan_path = out.join("logs").join(format!("{}.plan.json", first.name));
    Plan {
        execution,
        // A run cut off earlier left files but no summary: start it afresh.
        force: true,
        quiet: true,
        jobs: runs
            .iter()
            .map(|r| Job::new(r.config.clone(), out.join(&r.name)))
            .collect(),
    }
    .write(&plan_path)?;
    // Each member's log points at the pack's.
    for r in &runs[1..] {
        let note = format!(
            "trained in the pack of {}: see {}\n",
            first.name,
            log_path.display()
        );
        write_atomic(
            &out.join("logs").join(format!("{}.log", r.name)),
            note.as_bytes(),
        )?;
    }
    let log = fs::File::create(&log_path)
        .with_context(|| format!("cannot create {}", log_path.display()))?;
    let supervisor = std::process::id() as libc::pid_t;
    let mut command = Command::new(&opts.exe);
    command
        .arg("train-pack")
        .arg("--plan")
        .arg(&plan_path)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0);
    // SAFETY: prctl and getppid are async-signal-safe; nothing else runs here.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The sweep may have died before prctl took effect.
            if libc::getppid() != supervisor {
                return Err(std::io::Error::other(
                    "the sweep that started this run has exited",
                ));
            }
            Ok(())
        });
    }
    command
        .spawn()
        .with_context(|| format!("cannot start {}", opts.exe.display()))
}
