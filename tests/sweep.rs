//! End-to-end sweeps: manifest and folders, resume after a killed run,
//! Ctrl-C, shards (flag and Slurm variables) and aggregation over shards.

mod common;

use std::{
    fs,
    os::unix::process::CommandExt,
    path::Path,
    process::{Command, Stdio},
    thread::sleep,
    time::Duration,
};

use common::*;

/// A 4-run grid of tiny runs; `epochs` sets how long each takes.
fn grid(epochs: &'static str) -> Vec<&'static str> {
    let axes = [
        "sweep",
        "--tasks",
        "multiply,blog-add",
        "--models",
        "rnn",
        "--seq-lens",
        "5,8",
        "--seeds",
        "1",
    ];
    with(
        &with(&axes, TINY),
        &["--epochs", epochs, "--device", "cpu", "--quiet"],
    )
}

const NAMES: [&str; 4] = [
    "multiply-rnn-keras-len5-seed1",
    "multiply-rnn-keras-len8-seed1",
    "blog-add-rnn-keras-len5-seed1",
    "blog-add-rnn-keras-len8-seed1",
];

#[test]
fn sweep_writes_manifest_and_one_folder_per_run_and_resumes_after_a_kill() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sweep");
    let args = with(&grid("150"), &["--out", s(&out)]);
    // Power loss: kill the sweep and its runs while the first run is midway.
    let mut child = bin()
        .args(&args)
        .process_group(0)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let first = out.join(NAMES[0]);
    wait_until("the first run's third epoch", || history_rows(&first) >= 3);
    let status = Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{}", child.id())])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait().unwrap();
    assert!(
        !first.join("summary.json").exists(),
        "a killed run must not look finished"
    );
    let cut = history_rows(&first);
    assert!(cut < 150, "the run was cut midway ({cut} epochs)");

    let manifest = json(&out.join("study.json"));
    let names: Vec<&str> = manifest["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, NAMES);
    assert_eq!(manifest["runs"][3]["config"]["task"], "blog-add");
    assert_eq!(manifest["runs"][3]["config"]["seq_len"], 8);

    // Resume: everything finishes, the cut run restarted from scratch.
    run_ok(&args);
    for name in NAMES {
        let dir = out.join(name);
        let summary = json(&dir.join("summary.json"));
        assert_eq!(summary["epochs_run"], 150, "{name}");
        assert_clean_history(&dir, 150);
    }
    // A third call finds nothing to do and leaves the runs untouched.
    let before = fs::read(out.join(NAMES[1]).join("summary.json")).unwrap();
    let loud: Vec<&str> = args.iter().copied().filter(|a| *a != "--quiet").collect();
    let stdout = run_ok(&loud);
    assert!(stdout.contains("4 runs, 4 finished, 0 to run"), "{stdout}");
    assert_eq!(
        fs::read(out.join(NAMES[1]).join("summary.json")).unwrap(),
        before
    );
}

/// Processes whose command line names `path`: the sweep into it and its runs.
fn processes_naming(path: &Path) -> Vec<u32> {
    let needle = path.to_str().unwrap();
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            String::from_utf8_lossy(&cmdline)
                .contains(needle)
                .then_some(pid)
        })
        .collect()
}

#[test]
fn ctrl_c_stops_after_the_running_runs_and_resume_finishes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sweep");
    let args = with(&grid("60"), &["--out", s(&out), "--pack", "2"]);
    // Its own process group, as a shell gives a foreground job.
    let child = bin()
        .args(&args)
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first = out.join(NAMES[0]);
    wait_until("the first run's first epoch", || history_rows(&first) >= 1);
    // Ctrl-C in a terminal: SIGINT to the whole foreground group. The runs
    // sit in groups of their own, so only the sweep decides: it lets the
    // running pack finish and starts no more. (--pack 2 packs the SimpleRNN
    // runs of one length: multiply and blog-add of length 5 first.)
    signal("INT", &format!("-{}", child.id()));
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains(
            "interrupted: 2 run(s) of this shard not finished; rerun the same command to resume"
        ),
        "{stderr}"
    );
    for name in [NAMES[0], NAMES[2]] {
        let summary = json(&out.join(name).join("summary.json"));
        assert_eq!(
            summary["pack"]["members"], 2,
            "{name} trained in the running pack"
        );
    }
    assert!(!out.join(NAMES[1]).exists(), "no run started after Ctrl-C");
    run_ok(&args);
    assert!(NAMES
        .iter()
        .all(|n| out.join(n).join("summary.json").exists()));
}

#[test]
fn shards_split_the_grid_and_aggregate_reads_them_together() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sweep");
    let args = with(&grid("2"), &["--out", s(&out), "--seeds", "1..2"]);
    run_ok(&with(&args, &["--shard", "1/3"]));
    let done = |n: &str| out.join(n).join("summary.json").exists();
    let manifest = json(&out.join("study.json"));
    let names: Vec<String> = manifest["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), 8);
    let finished: Vec<usize> = (0..8).filter(|&i| done(&names[i])).collect();
    assert_eq!(finished, [0, 3, 6], "shard 1/3 takes every third run");

    let stdout = run_ok(&["aggregate", s(&out)]);
    assert!(stdout.contains("| rnn | keras | 5 |"), "{stdout}");
    let csv = csv_rows(&out.join("aggregate.csv"));
    assert_eq!(
        csv[0][..6],
        ["task", "model", "init", "seq_len", "missing", "runs"]
    );
    let missing: usize = csv[1..]
        .iter()
        .map(|r| r[4].parse::<usize>().unwrap())
        .sum();
    assert_eq!(missing, 5);
    // --complete turns missing runs into a failure, after writing the tables.
    let (ok, _, stderr) = run(&["aggregate", s(&out), "--complete"]);
    assert!(!ok);
    assert!(stderr.contains("error: 5 run(s) of the grid"), "{stderr}");

    // Slurm array task 1 of 3 (counted from 0) is shard 2/3.
    let status = bin()
        .args(&args)
        .env("SLURM_ARRAY_TASK_ID", "1")
        .env("SLURM_ARRAY_TASK_COUNT", "3")
        .env_remove("SLURM_ARRAY_TASK_MIN")
        .status()
        .unwrap();
    assert!(status.success());
    let finished: Vec<usize> = (0..8).filter(|&i| done(&names[i])).collect();
    assert_eq!(finished, [0, 1, 3, 4, 6, 7]);
    run_ok(&with(&args, &["--shard", "3/3"]));
    assert!((0..8).all(|i| done(&names[i])));

    run_ok(&["aggregate", s(&out), "--complete"]);
    let csv = csv_rows(&out.join("aggregate.csv"));
    assert_eq!(csv.len(), 5, "4 cells + header");
    let col = |name: &str| csv[0].iter().position(|c| c == name).unwrap();
    for row in &csv[1..] {
        assert_eq!(
            (row[col("runs")].as_str(), row[col("missing")].as_str()),
            ("2", "0"),
            "{row:?}"
        );
        let baseline: f64 = row[col("baseline_mse_mean")].parse().unwrap();
        let expected = if row[0] == "blog-add" { 0.167 } else { 0.049 };
        assert!(
            (baseline - expected).abs() < 0.05,
            "baseline MSE {baseline} for {}",
            row[0]
        );
    }
    let md = fs::read_to_string(out.join("aggregate.md")).unwrap();
    assert!(
        md.contains("### multiply") && md.contains("### blog-add"),
        "{md}"
    );
    // --out may name a folder that does not exist yet: the same tables.
    let elsewhere = out.join("tables/new");
    run_ok(&["aggregate", s(&out), "--out", s(&elsewhere)]);
    assert_eq!(
        fs::read_to_string(elsewhere.join("aggregate.md")).unwrap(),
        md
    );
}

#[test]
fn aggregate_refuses_runs_of_another_grid() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sweep");
    run_ok(&with(
        &grid("1"),
        &["--out", s(&out), "--tasks", "multiply", "--seq-lens", "5"],
    ));
    let stray = out.join("stray");
    run_ok(&with(
        &with(
            &["train", "--seq-len", "5", "--epochs", "1", "--quiet"],
            TINY,
        ),
        &["--out", s(&stray)],
    ));
    let (ok, _, stderr) = run(&["aggregate", s(&out)]);
    assert!(!ok);
    assert!(
        stderr.contains("stray is a run that is not in study.json's grid"),
        "{stderr}"
    );
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let (ok, _, stderr) = run(&["aggregate", s(&empty)]);
    assert!(
        !ok && stderr.contains("holds no study (no study.json and no finished runs)"),
        "{stderr}"
    );
}

#[test]
fn a_second_sweep_on_the_same_folder_leaves_running_runs_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sweep");
    let args = with(
        &grid("400"),
        &["--out", s(&out), "--tasks", "multiply", "--seq-lens", "5"],
    );
    let mut first = bin()
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let dir = out.join(NAMES[0]);
    wait_until("the first sweep's run to start", || history_rows(&dir) >= 1);
    let (ok, _, stderr) = run(&args);
    assert!(!ok, "the second sweep must say it left a run alone");
    assert!(
        stderr.contains("1 run(s) were being run by another process"),
        "{stderr}"
    );
    assert!(first.wait().unwrap().success());
    assert_clean_history(&dir, 400); // one writer
    run_ok(&args); // the lock died with the first sweep
}

#[test]
fn sigterm_saves_the_running_runs_and_the_resumed_study_is_the_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sweep");
    // Two runs, both running at once.
    let flags = [
        "--jobs",
        "2",
        "--seq-lens",
        "5",
        "--checkpoint-every",
        "never",
    ];
    let args = with(&with(&grid("150"), &flags), &["--out", s(&out)]);
    let whole = tmp.path().join("whole");
    run_ok(&with(&with(&grid("150"), &flags), &["--out", s(&whole)]));
    let mut sweep = bin()
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (a, b) = (out.join(NAMES[0]), out.join(NAMES[2]));
    wait_until("both runs' first epoch", || {
        history_rows(&a) >= 1 && history_rows(&b) >= 1
    });
    // Slurm's preemption, scancel and time limit: SIGTERM. The running runs
    // save their checkpoints where they stand and stop.
    signal("TERM", &sweep.id().to_string());
    let status = sweep.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut sweep.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(75), "{stderr}");
    assert!(
        stderr.contains(
            "interrupted: 2 run(s) of this shard not finished; rerun the same command to resume (cut-off runs go on from their checkpoints)"
        ),
        "{stderr}"
    );
    wait_until("every run process to end", || {
        processes_naming(&out).is_empty()
    });
    for dir in [&a, &b] {
        assert!(!dir.join("summary.json").exists());
        assert!(
            dir.join("checkpoint.safetensors").exists(),
            "{}",
            dir.display()
        );
        assert!(history_rows(dir) < 150);
    }
    run_ok(&args);
    for name in [NAMES[0], NAMES[2]] {
        assert_clean_history(&out.join(name), 150);
        assert_eq!(
            history_numbers(&out.join(name)),
            history_numbers(&whole.join(name)),
            "{name}"
        );
        assert_eq!(
            fs::read(out.join(name).join("model.safetensors")).unwrap(),
            fs::read(whole.join(name).join("model.safetensors")).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn a_killed_sweep_takes_its_runs_with_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sweep");
    let args = with(
        &grid("150"),
        &["--out", s(&out), "--tasks", "multiply", "--seq-lens", "5"],
    );
    let mut sweep = bin().args(&args).stdout(Stdio::null()).spawn().unwrap();
    let first = out.join(NAMES[0]);
    wait_until("the first run's first epoch", || history_rows(&first) >= 1);
    // SIGKILL to the sweep alone (OOM killer, node failure): no handler runs,
    // yet its run must not train on unsupervised and unlocked.
    signal("KILL", &sweep.id().to_string());
    sweep.wait().unwrap();
    wait_until("the orphaned run to die", || {
        processes_naming(&out).is_empty()
    });
    let cut = history_rows(&first);
    sleep(Duration::from_millis(300));
    assert_eq!(history_rows(&first), cut, "nobody writes the run any more");
    run_ok(&args);
    assert_clean_history(&first, 150);
}

#[test]
fn a_sweep_whose_console_closes_finishes_its_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sweep");
    let args: Vec<&str> = with(&grid("20"), &["--out", s(&out)])
        .into_iter()
        .filter(|a| *a != "--quiet")
        .collect();
    let mut sweep = bin()
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(sweep.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    // The reader is gone, as with `rnn-lab sweep | head -1`.
    assert!(first.starts_with("study "), "{first}");
    let status = sweep.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut sweep.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{status:?}: {stderr}");
    assert_eq!(stderr, "");
    for name in NAMES {
        assert_clean_history(&out.join(name), 20);
        assert!(out.join(name).join("summary.json").exists(), "{name}");
    }
}

#[test]
fn a_sweep_never_writes_into_a_folder_that_is_not_a_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("mine");
    fs::create_dir_all(out.join(NAMES[0])).unwrap();
    fs::write(out.join(NAMES[0]).join("history.csv"), "my own file").unwrap();
    let (ok, _, stderr) = run(&with(&grid("1"), &["--out", s(&out)]));
    assert!(!ok);
    assert!(
        stderr.contains(
            "is not empty and holds no study.json; make a study in a new or empty folder"
        ),
        "{stderr}"
    );
    assert_eq!(fs::read_dir(&out).unwrap().count(), 1, "nothing added");
    assert_eq!(
        fs::read_to_string(out.join(NAMES[0]).join("history.csv")).unwrap(),
        "my own file"
    );
}

/// The shards of a Slurm array start at the same moment on one new folder:
/// each must take the other's half-made folder for its own sweep (before
/// the folder lock, one refused it as "not empty and holds no sweep.json").
#[test]
fn shards_starting_together_on_a_new_folder_all_run() {
    let tmp = tempfile::tempdir().unwrap();
    for round in 0..6 {
        let out = tmp.path().join(format!("round-{round}"));
        let children: Vec<_> = (1..=3)
            .map(|k| {
                let shard = format!("{k}/3");
                bin()
                    .args(with(&grid("1"), &["--shard", &shard, "--out", s(&out)]))
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: a shard failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        run_ok(&["aggregate", s(&out), "--complete"]);
    }
}
