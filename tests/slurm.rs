//! The Slurm path on a real Slurm: a one-node cluster on this machine
//! (tests/slurm/local-cluster.sh), scripts/slurm-sweep.sh submitted
//! unedited as a job array, one array task cancelled mid-run and
//! resubmitted, and `aggregate --complete` finding every run once; and a
//! task requeued by Slurm mid-run and one warned of its time limit, both
//! resuming from their checkpoints into the study an uninterrupted sweep
//! makes, bit for bit. Needs root to install and start the daemons:
//! skipped elsewhere, never in CI.

mod common;

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
    thread::sleep,
    time::{Duration, Instant},
};

use common::*;

/// One cluster at a time on this machine (its daemons' ports and munge's
/// socket are fixed): each test holds this while its cluster runs.
static ONE_CLUSTER: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn cluster_script() -> PathBuf {
    repo().join("tests/slurm/local-cluster.sh")
}

/// The cluster's daemons, stopped when the test ends, whatever happens.
struct Cluster {
    dir: PathBuf,
    conf: PathBuf,
}

impl Cluster {
    fn start(dir: &Path) -> Cluster {
        let ok = |out: Output, what: &str| {
            assert!(
                out.status.success(),
                "{what} failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        };
        ok(
            Command::new(cluster_script())
                .arg("install")
                .output()
                .unwrap(),
            "install",
        );
        let cluster = Cluster {
            dir: dir.to_owned(),
            conf: dir.join("slurm.conf"),
        };
        ok(
            Command::new(cluster_script())
                .arg("start")
                .arg(dir)
                .output()
                .unwrap(),
            "start",
        );
        cluster
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", &self.conf);
        c
    }

    fn run(&self, program: &str, args: &[&str]) -> String {
        let out = self.command(program).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Waits until no task of `job` is queued or running.
    fn wait_for(&self, job: &str) {
        let start = Instant::now();
        while !self.run("squeue", &["-h", "-j", job]).is_empty() {
            assert!(
                start.elapsed() < Duration::from_secs(180),
                "job {job} still queued: {}",
                self.run("squeue", &[])
            );
            sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(cluster_script())
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}

/// Whether this machine can start a cluster (as root); CI must.
fn can_run_slurm() -> bool {
    if is_root() {
        return true;
    }
    assert_ne!(
        std::env::var("CI").as_deref(),
        Ok("true"),
        "CI must run the Slurm test: run it as root"
    );
    eprintln!("skipped: installing and starting Slurm needs root");
    false
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[test]
fn a_job_array_survives_a_cancelled_task_and_its_resubmission() {
    if !can_run_slurm() {
        return;
    }
    let _one = ONE_CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(&tmp.path().join("cluster"));
    let out = tmp.path().join("study");
    // 6 tiny runs, 3 array tasks of 2 runs each (round-robin shards).
    let mut grid = with(
        &[
            "--tasks",
            "multiply",
            "--models",
            "rnn",
            "--seq-lens",
            "5,8",
            "--seeds",
            "1..3",
            "--device",
            "cpu",
            "--jobs",
            "1",
            "--threads",
            "1",
            "--epochs",
            "150",
        ],
        TINY,
    );
    grid.extend(["--out", s(&out)]);
    let submit = |extra: &[&str], script_args: &[&str]| -> String {
        let log = tmp.path().join("slurm-%A_%a.out");
        let mut args = vec!["--parsable", "-c", "1", "--output", s(&log)];
        args.extend(extra);
        args.push(s(&repo().join("scripts/slurm-sweep.sh")).to_owned().leak());
        args.extend(script_args);
        // Submitted from the clone, as the README says: the script finds
        // target/release/rnn-lab of the submit folder by itself (a debug
        // test build names its binary instead).
        let built = repo().join("target/release/rnn-lab");
        let mut sbatch = cluster.command("sbatch");
        sbatch
            .args(&args)
            .current_dir(repo())
            .env_remove("RNN_LAB_DIR");
        if built != Path::new(env!("CARGO_BIN_EXE_rnn-lab")) {
            sbatch.env("RNN_LAB_BIN", env!("CARGO_BIN_EXE_rnn-lab"));
        } else {
            sbatch.env_remove("RNN_LAB_BIN");
        }
        let out = sbatch.output().unwrap();
        assert!(
            out.status.success(),
            "sbatch: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };

    let job = submit(&["--array=0-2"], &grid);
    // Task 1 is shard 2/3: runs 1 and 4 of the grid (seed 2 of each length).
    let cut = out.join("multiply-rnn-keras-len5-seed2");
    let start = Instant::now();
    while history_rows(&cut) < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "task 1 never started its first run; its log: {}",
            fs::read_to_string(tmp.path().join(format!("slurm-{job}_1.out"))).unwrap_or_default()
        );
        sleep(Duration::from_millis(20));
    }
    cluster.run("scancel", &[&format!("{job}_1")]);
    cluster.wait_for(&job);
    assert!(
        !cut.join("summary.json").exists(),
        "the cancelled task's run was cut midway"
    );
    let left: Vec<_> = fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let pid = e.ok()?.file_name().to_str()?.parse::<u32>().ok()?;
            let cmd = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            String::from_utf8_lossy(&cmd)
                .contains(s(&out))
                .then_some(pid)
        })
        .collect();
    assert!(
        left.is_empty(),
        "processes outlived the cancelled job: {left:?}"
    );
    let (ok, _, stderr) = run(&["aggregate", s(&out), "--complete"]);
    assert!(
        !ok && stderr.contains("error: 2 run(s) of the grid"),
        "{stderr}"
    );

    // Retry the one shard, as the script's header says.
    let mut retry = grid.clone();
    retry.extend(["--shard", "2/3"]);
    let again = submit(&["--array=0"], &retry);
    cluster.wait_for(&again);

    run_ok(&["aggregate", s(&out), "--complete"]);
    let runs: Vec<_> = fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("history.csv").exists())
        .collect();
    assert_eq!(runs.len(), 6, "every run once");
    for run in runs {
        assert_clean_history(&run.path(), 150);
        assert_eq!(json(&run.path().join("summary.json"))["epochs_run"], 150);
    }
}

#[test]
fn requeued_and_time_limited_tasks_resume_from_their_checkpoints_bit_for_bit() {
    if !can_run_slurm() {
        return;
    }
    let _one = ONE_CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(&tmp.path().join("cluster"));
    let out = tmp.path().join("study");
    let mut grid = with(
        &[
            "--tasks",
            "multiply",
            "--models",
            "gru",
            "--seq-lens",
            "8",
            "--seeds",
            "1..2",
            "--device",
            "cpu",
            "--jobs",
            "1",
            "--threads",
            "1",
            "--epochs",
            "300",
            "--pack",
            "1",
            "--checkpoint-every",
            "20",
        ],
        TINY,
    );
    // The same study without Slurm: what the interrupted one must become.
    let whole = tmp.path().join("whole");
    run_ok(&with(
        &with(&["sweep"], &grid),
        &["--quiet", "--out", s(&whole)],
    ));
    grid.extend(["--out", s(&out)]);
    let log = tmp.path().join("slurm-%A_%a.out");
    let mut args = vec!["--parsable", "-c", "1", "--array=0-1", "--output", s(&log)];
    args.push(s(&repo().join("scripts/slurm-sweep.sh")).to_owned().leak());
    args.extend(grid.iter().copied());
    let submitted = cluster
        .command("sbatch")
        .args(&args)
        .current_dir(repo())
        .env("RNN_LAB_BIN", bin_path())
        .output()
        .unwrap();
    assert!(
        submitted.status.success(),
        "sbatch: {}",
        String::from_utf8_lossy(&submitted.stderr)
    );
    let job = String::from_utf8_lossy(&submitted.stdout).trim().to_owned();
    let names = [
        "multiply-gru-keras-len8-seed1",
        "multiply-gru-keras-len8-seed2",
    ];
    let started = |name: &str, epochs: usize| {
        let dir = out.join(name);
        let start = Instant::now();
        while history_rows(&dir) < epochs {
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "{name} never reached epoch {epochs}"
            );
            sleep(Duration::from_millis(20));
        }
    };
    // Task 0 (seed 1) is requeued by Slurm; task 1 (seed 2) gets the
    // warning of its time limit (USR1 to the batch shell), saves and
    // requeues itself.
    started(names[0], 30);
    cluster.run("scontrol", &["requeue", &format!("{job}_0")]);
    started(names[1], 30);
    cluster.run(
        "scancel",
        &["--batch", "--signal=USR1", &format!("{job}_1")],
    );
    cluster.wait_for(&job);
    for name in names {
        let (cut, full) = (out.join(name), whole.join(name));
        assert_clean_history(&cut, 300);
        assert_eq!(history_numbers(&cut), history_numbers(&full), "{name}");
        assert_eq!(
            fs::read(cut.join("model.safetensors")).unwrap(),
            fs::read(full.join("model.safetensors")).unwrap(),
            "{name}"
        );
        assert!(!cut.join("checkpoint.safetensors").exists());
    }
    // Each run's last child resumed (its log is the last launch's).
    for name in names {
        let log = fs::read_to_string(out.join("logs").join(format!("{name}.log"))).unwrap();
        assert!(
            log.contains("resuming from its checkpoint: epoch "),
            "{name}: {log}"
        );
    }
    let warned = fs::read_to_string(tmp.path().join(format!("slurm-{job}_1.out"))).unwrap();
    assert!(
        warned.contains("slurm-sweep: time limit near: runs saved their checkpoints; requeueing"),
        "{warned}"
    );
    run_ok(&["aggregate", s(&out), "--complete"]);
}
