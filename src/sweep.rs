//! Sweeps: a grid of runs from flags, one folder per run with a stable
//! name, a `sweep.json` manifest, N runs at once, resume after any stop,
//! and disjoint shards for cluster job arrays.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    str::FromStr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::config::{Cell, DeviceSpec, InitScheme, Task, TrainConfig};
use crate::output;
use crate::report::Summary;
use crate::run;

pub const MANIFEST: &str = "sweep.json";

/// The axes of a sweep; every other setting is fixed in `base`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    pub tasks: Vec<Task>,
    pub models: Vec<Cell>,
    pub inits: Vec<InitScheme>,
    pub seq_lens: Vec<i64>,
    pub seeds: Vec<u64>,
    /// The fixed settings (its task, model, init, seq_len and seed are
    /// replaced by each run's; device and threads are not part of a run's
    /// identity and are stored as the first shard chose them).
    pub base: TrainConfig,
}

/// One run of the grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// Folder name, stable for the same settings: `multiply-lstm-keras-len100-seed1`.
    pub name: String,
    pub config: TrainConfig,
}

/// `sweep.json`: the grid and every run of it, in grid order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub grid: Grid,
    pub runs: Vec<RunSpec>,
}

/// The folder name of a run.
pub fn run_name(c: &TrainConfig) -> String {
    format!(
        "{}-{}-{}-len{}-seed{}",
        c.task, c.model, c.init, c.seq_len, c.seed
    )
}

impl Grid {
    /// Every run, ordered task, model, init, length, seed.
    pub fn runs(&self) -> Vec<RunSpec> {
        let mut runs = Vec::new();
        for &task in &self.tasks {
            for &model in &self.models {
                for &init in &self.inits {
                    for &seq_len in &self.seq_lens {
                        for &seed in &self.seeds {
                            let config = TrainConfig {
                                task,
                                model,
                                init,
                                seq_len,
                                seed,
                                ..self.base.clone()
                            };
                            runs.push(RunSpec {
                                name: run_name(&config),
                                config,
                            });
                        }
                    }
                }
            }
        }
        runs
    }

    /// Checks the axes and every run's settings.
    pub fn validate(&self) -> Result<()> {
        fn axis<T: PartialEq + std::fmt::Display>(flag: &str, values: &[T]) -> Result<()> {
            if values.is_empty() {
                bail!("{flag} needs at least one value");
            }
            for (i, v) in values.iter().enumerate() {
                if values[..i].contains(v) {
                    bail!("{flag} lists {v} twice");
                }
            }
            Ok(())
        }
        axis("--tasks", &self.tasks)?;
        axis("--models", &self.models)?;
        axis("--inits", &self.inits)?;
        axis("--seq-lens", &self.seq_lens)?;
        axis("--seeds", &self.seeds)?;
        for run in self.runs() {
            run.config
                .validate()
                .with_context(|| format!("run {}", run.name))?;
        }
        Ok(())
    }

    /// Same runs, whatever device or thread count each shard used.
    fn same_runs_as(&self, other: &Grid) -> bool {
        let strip = |g: &Grid| Grid {
            base: TrainConfig {
                device: DeviceSpec::Auto,
                threads: 1,
                ..g.base.clone()
            },
            ..g.clone()
        };
        strip(self) == strip(other)
    }
}

/// The K-th (1-based) of N disjoint slices of a grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("invalid shard '{s}' (expected K/N with 1 <= K <= N, e.g. 2/8)");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (usize, usize) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if n == 0 || k == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard { index: k, count: n })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    /// The shard of a Slurm job array task: `SLURM_ARRAY_TASK_ID` counted
    /// from `SLURM_ARRAY_TASK_MIN` (0 when unset) among
    /// `SLURM_ARRAY_TASK_COUNT` tasks. None outside a job array.
    pub fn from_slurm(var: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>> {
        let (Some(id), Some(count)) = (var("SLURM_ARRAY_TASK_ID"), var("SLURM_ARRAY_TASK_COUNT"))
        else {
            return Ok(None);
        };
        let num = |name: &str, v: &str| -> Result<usize> {
            v.trim()
                .parse()
                .with_context(|| format!("{name}={v} is not a number"))
        };
        let id = num("SLURM_ARRAY_TASK_ID", &id)?;
        let count = num("SLURM_ARRAY_TASK_COUNT", &count)?;
        let min = var("SLURM_ARRAY_TASK_MIN")
            .map(|m| num("SLURM_ARRAY_TASK_MIN", &m))
            .transpose()?
            .unwrap_or(0);
        if id < min || id - min >= count {
            bail!(
                "SLURM_ARRAY_TASK_ID={id} is outside the array ({count} tasks from {min}); use a contiguous --array, or pass --shard K/N"
            );
        }
        Ok(Some(Shard {
            index: id - min + 1,
            count,
        }))
    }

    /// Whether the `i`-th run of the grid (0-based) is this shard's.
    /// Round-robin, so every shard gets a mix of cheap and costly runs.
    pub fn owns(&self, i: usize) -> bool {
        i % self.count == self.index - 1
    }
}

/// How a sweep runs.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    pub jobs: usize,
    /// Threads per run; None picks cores / jobs (at least 1).
    pub threads: Option<usize>,
    pub shard: Shard,
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
    pub interrupted: bool,
}

/// Whether `dir` holds a finished run of `config`.
pub fn is_complete(dir: &Path, config: &TrainConfig) -> bool {
    let Ok(text) = fs::read_to_string(dir.join(output::SUMMARY)) else {
        return false;
    };
    serde_json::from_str::<Summary>(&text).is_ok_and(|s| same_run(&s.config, config))
}

/// Same run identity (device and threads aside).
pub fn same_run(a: &TrainConfig, b: &TrainConfig) -> bool {
    TrainConfig {
        device: b.device,
        threads: b.threads,
        ..a.clone()
    } == *b
}

/// Reads `dir/sweep.json`, if any.
pub fn read_manifest(dir: &Path) -> Result<Option<Manifest>> {
    let path = dir.join(MANIFEST);
    match fs::read_to_string(&path) {
        Ok(text) => {
            Ok(Some(serde_json::from_str(&text).with_context(|| {
                format!("cannot parse {}", path.display())
            })?))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// The command-line flags that make `rnn-lab train` run `c`.
pub fn train_args(c: &TrainConfig) -> Vec<String> {
    let pairs: [(&str, String); 16] = [
        ("--task", c.task.to_string()),
        ("--model", c.model.to_string()),
        ("--samples", c.samples.to_string()),
        ("--seq-len", c.seq_len.to_string()),
        ("--fit-rows", c.fit_rows.to_string()),
        ("--val-split", c.val_split.to_string()),
        ("--units", c.units.to_string()),
        ("--layers", c.layers.to_string()),
        ("--init", c.init.to_string()),
        ("--lr", c.lr.to_string()),
        ("--adam-eps", c.adam_eps.to_string()),
        ("--batch-size", c.batch_size.to_string()),
        ("--epochs", c.epochs.to_string()),
        ("--seed", c.seed.to_string()),
        ("--device", c.device.to_string()),
        ("--threads", c.threads.to_string()),
    ];
    let mut args = vec!["train".to_string()];
    for (flag, value) in pairs {
        args.push(flag.into());
        args.push(value);
    }
    args
}

/// Runs this shard's unfinished runs of `grid` into `out`, `jobs` at a
/// time, each as its own `rnn-lab train` process (libtorch's generator is
/// per process, so runs cannot disturb each other's random streams).
pub fn sweep(
    grid: &Grid,
    out: &Path,
    opts: &SweepOptions,
    console: &mut dyn Write,
) -> Result<SweepOutcome> {
    grid.validate()?;
    if opts.jobs < 1 {
        bail!("--jobs must be at least 1, got {}", opts.jobs);
    }
    run::resolve_device(grid.base.device)?;
    output::check_run_dir(out, true)?;
    let runs = grid.runs();
    if let Some(existing) = read_manifest(out)? {
        if !existing.grid.same_runs_as(grid) {
            bail!(
                "{} holds another sweep ({}); choose another --out, or rerun with that sweep's flags to resume it",
                out.display(),
                MANIFEST
            );
        }
    }
    fs::create_dir_all(out.join("logs"))
        .with_context(|| format!("cannot create {}", out.display()))?;
    let manifest = Manifest {
        grid: grid.clone(),
        runs: runs.clone(),
    };
    output::write_atomic(
        &out.join(MANIFEST),
        (serde_json::to_string_pretty(&manifest)? + "\n").as_bytes(),
    )?;

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = opts.threads.unwrap_or((cores / opts.jobs).max(1));
    let mine: Vec<&RunSpec> = runs
        .iter()
        .enumerate()
        .filter(|(i, _)| opts.shard.owns(*i))
        .map(|(_, r)| r)
        .collect();
    let mut outcome = SweepOutcome {
        in_shard: mine.len(),
        ..Default::default()
    };
    let mut queue: Vec<&RunSpec> = Vec::new();
    for run in &mine {
        if is_complete(&out.join(&run.name), &run.config) {
            outcome.skipped += 1;
        } else {
            queue.push(run);
        }
    }
    if !opts.quiet {
        writeln!(
            console,
            "sweep {}: {} runs in grid, {} in shard {}, {} already finished, {} to run ({} at a time, {} thread(s) each)",
            out.display(),
            runs.len(),
            mine.len(),
            opts.shard,
            outcome.skipped,
            queue.len(),
            opts.jobs,
            threads
        )?;
    }

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // Fails only if a handler is already set (a second sweep in-process).
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    }
    let started = Instant::now();
    let mut running: Vec<(Child, &RunSpec, fs::File)> = Vec::new();
    let mut next = queue.into_iter();
    loop {
        while running.len() < opts.jobs && !stop.load(Ordering::SeqCst) {
            let Some(run) = next.next() else { break };
            let Some(lock) = lock_run(out, &run.name)? else {
                outcome.elsewhere += 1;
                continue;
            };
            if is_complete(&out.join(&run.name), &run.config) {
                outcome.skipped += 1; // another sweep finished it meanwhile
                continue;
            }
            running.push((spawn(opts, run, out, threads)?, run, lock));
        }
        if running.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        let mut i = 0;
        while i < running.len() {
            if let Some(status) = running[i].0.try_wait()? {
                let (_, run, _lock) = running.swap_remove(i);
                if status.success() && is_complete(&out.join(&run.name), &run.config) {
                    outcome.finished += 1;
                    if !opts.quiet {
                        let s = fs::read_to_string(out.join(&run.name).join(output::SUMMARY))?;
                        let s: Summary = serde_json::from_str(&s)?;
                        writeln!(
                            console,
                            "[{:>4}/{}] {} correctness {:.2} %, {:.1}s ({:.0}s elapsed)",
                            outcome.finished + outcome.failed.len(),
                            outcome.in_shard - outcome.skipped,
                            run.name,
                            s.correctness,
                            s.seconds_total,
                            started.elapsed().as_secs_f64()
                        )?;
                    }
                } else if !stop.load(Ordering::SeqCst) {
                    outcome.failed.push(run.name.clone());
                    if !opts.quiet {
                        let log = out.join("logs").join(format!("{}.log", run.name));
                        writeln!(
                            console,
                            "{} failed ({status}); see {}",
                            run.name,
                            log.display()
                        )?;
                    }
                }
            } else {
                i += 1;
            }
        }
    }
    outcome.interrupted = stop.load(Ordering::SeqCst);
    Ok(outcome)
}

/// Takes the run's lock (`logs/<name>.lock`, an OS file lock that dies
/// with its process), or None when another sweep holds it: two sweeps on
/// one folder (a resubmitted job, a second terminal) never train the same
/// run into the same files.
fn lock_run(out: &Path, name: &str) -> Result<Option<fs::File>> {
    let path = out.join("logs").join(format!("{name}.lock"));
    let file =
        fs::File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(fs::TryLockError::WouldBlock) => Ok(None),
        Err(fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

fn spawn(opts: &SweepOptions, run: &RunSpec, out: &Path, threads: usize) -> Result<Child> {
    let config = TrainConfig {
        threads,
        ..run.config.clone()
    };
    let log_path = out.join("logs").join(format!("{}.log", run.name));
    let log = fs::File::create(&log_path)
        .with_context(|| format!("cannot create {}", log_path.display()))?;
    Command::new(&opts.exe)
        .args(train_args(&config))
        // A run cut off earlier left files but no summary: start it afresh.
        .args(["--quiet", "--force", "--out"])
        .arg(out.join(&run.name))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {}", opts.exe.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Grid {
        Grid {
            tasks: vec![Task::Multiply, Task::Add],
            models: vec![Cell::Rnn, Cell::Lstm, Cell::Gru],
            inits: vec![InitScheme::Keras],
            seq_lens: vec![10, 25, 50, 100, 200],
            seeds: vec![1, 2, 3],
            base: TrainConfig::default(),
        }
    }

    #[test]
    fn grid_expands_in_order_with_stable_names() {
        let runs = grid().runs();
        assert_eq!(runs.len(), 2 * 3 * 5 * 3);
        assert_eq!(runs[0].name, "multiply-rnn-keras-len10-seed1");
        assert_eq!(runs[1].name, "multiply-rnn-keras-len10-seed2");
        assert_eq!(runs[3].name, "multiply-rnn-keras-len25-seed1");
        assert_eq!(runs[89].name, "add-gru-keras-len200-seed3");
        assert_eq!(runs[89].config.seq_len, 200);
        assert_eq!(runs[89].config.task, Task::Add);
        let mut names: Vec<_> = runs.iter().map(|r| r.name.clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 90, "names are unique");
        assert_eq!(grid().runs(), runs, "expansion is deterministic");
    }

    #[test]
    fn grid_validation_names_the_axis() {
        let g = Grid {
            seq_lens: vec![10, 10],
            ..grid()
        };
        assert_eq!(
            g.validate().unwrap_err().to_string(),
            "--seq-lens lists 10 twice"
        );
        let g = Grid {
            models: vec![],
            ..grid()
        };
        assert_eq!(
            g.validate().unwrap_err().to_string(),
            "--models needs at least one value"
        );
        let g = Grid {
            seq_lens: vec![1],
            ..grid()
        };
        let err = format!("{:#}", g.validate().unwrap_err());
        assert!(
            err.contains("run multiply-rnn-keras-len1-seed1: --seq-len must be at least 2"),
            "{err}"
        );
    }

    #[test]
    fn shards_are_disjoint_and_complete_for_any_count() {
        for total in [1usize, 2, 7, 90, 91] {
            for count in 1..=12 {
                let mut owners = vec![0; total];
                for index in 1..=count {
                    let shard = Shard { index, count };
                    for (i, o) in owners.iter_mut().enumerate() {
                        if shard.owns(i) {
                            *o += 1;
                        }
                    }
                }
                assert!(
                    owners.iter().all(|&o| o == 1),
                    "{total} runs over {count} shards: {owners:?}"
                );
            }
        }
    }

    #[test]
    fn shard_flag_and_slurm_environment() {
        assert_eq!(
            "2/8".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 8 }
        );
        for bad in ["0/8", "9/8", "1/0", "x", "1-2"] {
            assert!(
                bad.parse::<Shard>().unwrap_err().contains("expected K/N"),
                "{bad}"
            );
        }
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(Shard::from_slurm(env(&[])).unwrap(), None);
        let s = Shard::from_slurm(env(&[
            ("SLURM_ARRAY_TASK_ID", "0"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]))
        .unwrap();
        assert_eq!(s, Some(Shard { index: 1, count: 4 }));
        let s = Shard::from_slurm(env(&[
            ("SLURM_ARRAY_TASK_ID", "4"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
        ]))
        .unwrap();
        assert_eq!(s, Some(Shard { index: 4, count: 4 }));
        let err = Shard::from_slurm(env(&[
            ("SLURM_ARRAY_TASK_ID", "9"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]));
        assert!(err.unwrap_err().to_string().contains("outside the array"));
    }

    #[test]
    fn train_args_cover_every_setting() {
        let c = TrainConfig {
            seed: 7,
            lr: 0.0025,
            val_split: 0.125,
            ..TrainConfig::default()
        };
        let args = train_args(&c);
        assert_eq!(args[0], "train");
        assert_eq!(args.len(), 1 + 2 * 16);
        // One flag per TrainConfig field: a new field must get its flag here.
        assert_eq!(
            serde_json::to_value(&c).unwrap().as_object().unwrap().len(),
            16
        );
        let at = |flag: &str| &args[args.iter().position(|a| a == flag).unwrap() + 1];
        assert_eq!(at("--lr"), "0.0025");
        assert_eq!(at("--val-split"), "0.125");
        assert_eq!(at("--adam-eps"), "0.0000001");
        assert_eq!(at("--adam-eps").parse::<f64>().unwrap(), 1e-7);
        assert_eq!(at("--device"), "auto");
    }
}
