//! The edges a hostile probe of a finished release found, one test per
//! finding (numbered as the probe reported them): provenance that is
//! checked, `--force` that forces, a cgroup's memory limit, paths and
//! manifests that cannot lead a study astray, a stopped child, concurrent
//! aggregates, what a kill leaves behind, and the smaller edges. The setup
//! lock and the scripts' read-only outputs are in tests/scripts_safety.rs.

mod common;

use std::{
    fs,
    os::unix::ffi::OsStrExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::*;

/// A dead process's pid: above Linux's largest pid_max (2^22).
const DEAD_PID: u32 = 2_000_000_000;

/// Runs rnn-lab; asserts it fails (exit 1) with one line containing `expected`.
fn fails_in_one_line(cmd: &mut Command, expected: &str) -> String {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{cmd:?}: {stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "{cmd:?}: not one line:\n{stderr}"
    );
    assert!(stderr.contains(expected), "{stderr:?} lacks {expected:?}");
    stderr
}

/// A two-run study of tiny runs in `dir`.
fn tiny_study(dir: &Path, extra: &[&str]) -> Vec<String> {
    let base = with(
        &with(
            &[
                "sweep",
                "--models",
                "rnn",
                "--seq-lens",
                "5",
                "--seeds",
                "1,2",
            ],
            TINY,
        ),
        &[
            "--epochs",
            "2",
            "--device",
            "cpu",
            "--pack",
            "1",
            "--out",
            s(dir),
        ],
    );
    with(&base, extra).iter().map(|a| a.to_string()).collect()
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn p02_a_rerun_from_another_init_from_file_is_refused_with_both_hashes() {
    let tmp = tempfile::tempdir().unwrap();
    let (w1, w2) = (
        tmp.path().join("w1.safetensors"),
        tmp.path().join("w2.safetensors"),
    );
    for (seed, w) in [("1", &w1), ("2", &w2)] {
        let out = tmp.path().join(format!("draw{seed}"));
        run_ok(&with(
            &small(),
            &["--seed", seed, "--save-init", s(w), "--out", s(&out)],
        ));
    }
    let first = tmp.path().join("first");
    run_ok(&with(
        &small(),
        &["--init-from", s(&w1), "--out", s(&first)],
    ));
    let summary = first.join("summary.json");
    let recorded = json(&summary)["init_from"]["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    // The same file: the rerun is accepted.
    run_ok(&[
        "train",
        "--config",
        s(&summary),
        "--init-from",
        s(&w1),
        "--quiet",
        "--out",
        s(&tmp.path().join("again")),
    ]);
    // Another file at the path the run names.
    fs::copy(&w1, tmp.path().join("w1.keep")).unwrap();
    fs::copy(&w2, &w1).unwrap();
    let other = tmp.path().join("other");
    let err = fails_in_one_line(
        bin().args([
            "train",
            "--config",
            s(&summary),
            "--init-from",
            s(&w1),
            "--out",
            s(&other),
        ]),
        "give the file the run started from",
    );
    assert!(err.contains(&recorded), "{err}");
    assert!(
        err.contains(&format!("--init-from {} has sha256 ", s(&w1))),
        "{err}"
    );
    assert!(!other.exists());
    // A summary whose recorded hash was edited.
    fs::copy(tmp.path().join("w1.keep"), &w1).unwrap();
    let edited = tmp.path().join("edited.json");
    let text = fs::read_to_string(&summary).unwrap();
    fs::write(&edited, text.replace(&recorded, &"0".repeat(64))).unwrap();
    fails_in_one_line(
        bin().args([
            "train",
            "--config",
            s(&edited),
            "--init-from",
            s(&w1),
            "--out",
            s(&other),
        ]),
        &format!("with sha256 {}", "0".repeat(64)),
    );
    fs::write(&edited, text.replace(&recorded, "not-a-hash")).unwrap();
    fails_in_one_line(
        bin().args([
            "train",
            "--config",
            s(&edited),
            "--init-from",
            s(&w1),
            "--out",
            s(&other),
        ]),
        "is not a SHA-256",
    );
    assert!(!other.exists());
}

#[test]
fn p03_force_on_a_study_trains_its_finished_runs_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("study");
    let args = tiny_study(&dir, &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_ok(&args);
    let run = dir.join("multiply-rnn-keras-len5-seed1");
    let before = fs::read(run.join("summary.json")).unwrap();
    let written = fs::metadata(run.join("history.csv"))
        .unwrap()
        .modified()
        .unwrap();
    let forced = run_ok(&with(&args, &["--force"]));
    assert!(
        forced.contains("study: 2 finished now, 0 were already finished, 0 failed, 0 left"),
        "{forced}"
    );
    let after = fs::read(run.join("summary.json")).unwrap();
    assert_ne!(before, after, "summary.json was not written again");
    assert!(
        fs::metadata(run.join("history.csv"))
            .unwrap()
            .modified()
            .unwrap()
            > written
    );
    assert_clean_history(&run, 2);
    // Same seeds, same numbers: only the timings differ.
    let cut = |b: &[u8]| json_without_times(b);
    assert_eq!(cut(&before)["test_mse"], cut(&after)["test_mse"]);
}

fn json_without_times(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

/// Our memory cgroup (v1) folder, where one can be made (root, v1 mounted).
fn own_memory_cgroup() -> Option<PathBuf> {
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = text.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, c, p) = (parts.next()?, parts.next()?, parts.next()?);
        c.split(',').any(|c| c == "memory").then(|| p.to_owned())
    })?;
    let dir = Path::new("/sys/fs/cgroup/memory").join(path.trim_start_matches('/'));
    dir.join("memory.limit_in_bytes").exists().then_some(dir)
}

#[test]
fn p04_a_cgroup_memory_limit_gets_the_one_line_message_not_a_kill() {
    let Some(parent) = own_memory_cgroup() else {
        eprintln!("p04: no writable cgroup v1 memory controller here; only the unit tests of run::memory cover the limit");
        return;
    };
    let group = parent.join(format!("rnn-lab-test-{}", std::process::id()));
    if fs::create_dir(&group).is_err() {
        eprintln!(
            "p04: cannot make a cgroup under {}; skipped",
            parent.display()
        );
        return;
    }
    fs::write(
        group.join("memory.limit_in_bytes"),
        (1u64 << 30).to_string(),
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("never");
    // The shell joins the cgroup, then becomes rnn-lab: a Slurm --mem job.
    let script = format!(
        "echo $$ > {}/cgroup.procs && exec {} train --seq-len 300000 --out {}",
        group.display(),
        bin_path().display(),
        out.display()
    );
    let result = Command::new("sh").args(["-c", &script]).output().unwrap();
    let _ = fs::remove_dir(&group);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(
        result.status.code(),
        Some(1),
        "{:?}: {stderr}",
        result.status
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: out of memory generating the data of 1 run(s)")
            && stderr.contains("lower --samples or --seq-len")
            && stderr.contains("GiB more)"),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn p05_a_study_path_that_is_not_utf8_is_refused_by_name_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let mut raw = tmp.path().as_os_str().as_bytes().to_vec();
    raw.extend_from_slice(b"/caf\xe9");
    let dir = PathBuf::from(std::ffi::OsStr::from_bytes(&raw));
    for command in ["sweep", "reproduce"] {
        let mut cmd = bin();
        cmd.args([command, "--epochs", "1", "--out"]).arg(&dir);
        fails_in_one_line(&mut cmd, "caf\u{fffd} is not valid UTF-8");
        assert!(!dir.exists(), "{command} wrote {}", dir.display());
    }
    assert!(names(tmp.path()).is_empty());
}

/// The children of `pid` (Linux's /proc children list).
fn children(pid: u32) -> Vec<u32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

#[test]
fn p07_a_stopped_child_cannot_keep_two_sigterms_from_ending_the_study() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("study");
    let args = tiny_study(&dir, &["--epochs", "100000", "--quiet"]);
    let mut study = bin()
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = 0;
    wait_until("the study's first child", || {
        child = children(study.id()).first().copied().unwrap_or(0);
        child != 0 && history_rows(&dir.join("multiply-rnn-keras-len5-seed1")) >= 1
    });
    signal("STOP", &child.to_string());
    signal("TERM", &study.id().to_string());
    std::thread::sleep(Duration::from_millis(300));
    signal("TERM", &study.id().to_string());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = study.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = study.kill();
            signal("KILL", &child.to_string());
            panic!("the study did not end within 30 s of its second SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut study.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains("interrupted: 2 run(s) of this shard not finished"),
        "{stderr}"
    );
    wait_until("the stopped child to be gone", || {
        !Path::new(&format!("/proc/{child}")).exists()
            || fs::read_to_string(format!("/proc/{child}/stat")).is_ok_and(|s| s.contains(") Z "))
    });
}

#[test]
fn p08_two_aggregates_into_one_folder_write_one_set_or_the_other() {
    let tmp = tempfile::tempdir().unwrap();
    // One study of rnn, one of gru: every table names its study's cell.
    let studies: Vec<PathBuf> = ["rnn", "gru"].iter().map(|n| tmp.path().join(n)).collect();
    for (dir, model) in studies.iter().zip(["rnn", "gru"]) {
        let args = tiny_study(dir, &["--quiet", "--models", model]);
        run_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    }
    let out = tmp.path().join("tables");
    for round in 0..16 {
        let start = |dir: &Path| {
            bin()
                .args(["aggregate", s(dir), "--out", s(&out)])
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        };
        let (mut a, mut b) = (start(&studies[0]), start(&studies[1]));
        assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
        let owner = |file: &str| {
            let text = fs::read_to_string(out.join(file)).unwrap();
            match (text.contains("rnn"), text.contains("gru")) {
                (true, false) => "rnn",
                (false, true) => "gru",
                _ => panic!("round {round}: {file} names both or neither study:\n{text}"),
            }
        };
        let md = owner("aggregate.md");
        assert_eq!(owner("aggregate.csv"), md, "round {round}: a mixed set");
        assert_eq!(owner("aggregate.json"), md, "round {round}: a mixed set");
    }
}

#[test]
fn p09_a_probe_file_left_by_a_kill_does_not_block_a_study_or_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("study");
    fs::create_dir(&dir).unwrap();
    let probe = format!(".rnn-lab-probe-{DEAD_PID}");
    fs::write(dir.join(&probe), "").unwrap();
    let args = tiny_study(&dir, &["--quiet"]);
    run_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!dir.join(&probe).exists());
    assert!(dir
        .join("multiply-rnn-keras-len5-seed2/summary.json")
        .is_file());
    let run = tmp.path().join("run");
    fs::create_dir(&run).unwrap();
    fs::write(run.join(&probe), "").unwrap();
    run_ok(&with(&small(), &["--out", s(&run)]));
    assert!(run.join("summary.json").is_file());
}

#[test]
fn p10_a_run_name_in_study_json_cannot_lead_outside_the_study() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("study");
    let args = tiny_study(&dir, &["--quiet", "--epochs", "1"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_ok(&args);
    let manifest = dir.join("study.json");
    let text = fs::read_to_string(&manifest).unwrap();
    for bad in ["../escaped", "/tmp/escaped", "a/b", "..", "logs"] {
        let edited = text.replace(
            "\"name\": \"multiply-rnn-keras-len5-seed2\"",
            &format!("\"name\": {}", serde_json::to_string(bad).unwrap()),
        );
        assert_ne!(edited, text, "the manifest's run name was not found");
        fs::write(&manifest, &edited).unwrap();
        let mut cmd = bin();
        cmd.args(with(&args, &["--force"]));
        fails_in_one_line(
            &mut cmd,
            &format!(
                "{}: run name {} is not a folder name inside the study",
                manifest.display(),
                serde_json::to_string(bad).unwrap()
            ),
        );
        assert!(!tmp.path().join("escaped").exists());
    }
}

#[test]
fn p11_partial_manifests_of_killed_studies_are_removed_on_the_next_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("study");
    let args = tiny_study(&dir, &["--quiet", "--epochs", "1"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_ok(&args);
    let stale = dir.join(format!("study.json.partial-{DEAD_PID}"));
    fs::write(&stale, "{\"ba").unwrap();
    run_ok(&args);
    assert!(!stale.exists());
}

/// Where `--pack auto` caches its measurements for `cache`.
fn costs_file(cache: &Path) -> PathBuf {
    cache.join("pack-costs.json")
}

#[test]
fn p11_bad_and_negative_cached_pack_costs_are_measured_again_and_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let dir = tmp.path().join("study");
    let mut args = tiny_study(&dir, &[]);
    args.retain(|a| a != "--pack" && a != "1");
    args.extend(["--pack", "auto", "--seeds", "1,2"].map(String::from));
    let run = |args: &[String]| {
        let out = bin()
            .args(args)
            .env("RNN_LAB_CACHE", &cache)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = run(&args);
    assert!(
        first.contains("--pack auto: multiply rnn at 5 (2 runs): "),
        "{first}"
    );
    let text = fs::read_to_string(costs_file(&cache)).unwrap();
    // Every measured cost made negative: never trusted.
    let negative: serde_json::Value = serde_json::from_str(&text).unwrap();
    let negative = negative
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let costs = v
                .as_object()
                .unwrap()
                .keys()
                .map(|n| (n.clone(), (-5.0).into()));
            (k.clone(), serde_json::Value::Object(costs.collect()))
        })
        .collect::<serde_json::Map<_, _>>();
    fs::write(
        costs_file(&cache),
        serde_json::to_string(&negative).unwrap(),
    )
    .unwrap();
    let dry = run(&with(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &["--dry-run", "--force"],
    )
    .iter()
    .map(|a| a.to_string())
    .collect::<Vec<_>>());
    assert!(!dry.contains("-5.00e0") && !dry.contains("cached"), "{dry}");
    // A cache that does not parse is replaced by the next measurement.
    fs::write(costs_file(&cache), "{ not json").unwrap();
    let grown = with(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &["--seeds", "1,2,3", "--force"],
    )
    .iter()
    .map(|a| a.to_string())
    .collect::<Vec<_>>();
    run(&grown);
    let rebuilt: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(costs_file(&cache)).unwrap())
            .expect("the cache was rebuilt as JSON");
    assert!(!rebuilt.as_object().unwrap().is_empty());
}

#[test]
fn p11_an_empty_rnn_lab_cache_never_writes_into_the_current_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let (cwd, home) = (tmp.path().join("cwd"), tmp.path().join("home"));
    fs::create_dir_all(&cwd).unwrap();
    let dir = tmp.path().join("study");
    let mut args = tiny_study(&dir, &["--quiet"]);
    args.retain(|a| a != "--pack" && a != "1");
    let out = bin()
        .args(&args)
        .current_dir(&cwd)
        .env("RNN_LAB_CACHE", "")
        .env_remove("XDG_CACHE_HOME")
        .env("HOME", &home)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        names(&cwd).is_empty(),
        "wrote {:?} into the current folder",
        names(&cwd)
    );
    assert!(home.join(".cache/rnn-lab/pack-costs.json").is_file());
}

#[test]
fn p11_lr_nan_names_its_flag() {
    for value in ["nan", "inf", "-inf"] {
        let out = bin()
            .args(["train", &format!("--lr={value}"), "--out", "never"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.starts_with(&format!(
                "error: invalid value '{value}' for '--lr <LR>': takes a finite number, got {value}"
            )),
            "{stderr}"
        );
    }
    assert!(!Path::new("never").exists());
}

#[test]
fn p11_train_refuses_a_study_folder_as_its_out_even_with_force() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("study");
    let args = tiny_study(&dir, &["--quiet", "--epochs", "1"]);
    run_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let before = names(&dir);
    let mut cmd = bin();
    cmd.args(with(&small(), &["--out", s(&dir), "--force"]));
    fails_in_one_line(
        &mut cmd,
        &format!(
            "--out {} is a study's folder (it holds study.json)",
            s(&dir)
        ),
    );
    assert_eq!(names(&dir), before);
}

#[test]
fn p11_a_dry_run_of_twenty_thousand_seeds_lists_every_run() {
    // Growing the manifest and packing were quadratic in the runs (10^4
    // seeds took 103 s, 10^5 would take hours); now linear.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("big");
    let args = with(
        &with(
            &[
                "sweep",
                "--seeds",
                "1..20000",
                "--models",
                "rnn",
                "--seq-lens",
                "5",
            ],
            TINY,
        ),
        &[
            "--epochs",
            "1",
            "--device",
            "cpu",
            "--pack",
            "1",
            "--dry-run",
            "--out",
            s(&dir),
        ],
    );
    let out = run_ok(&args);
    assert!(
        out.contains("20000 runs (20000 new); shard 1/1: 20000 runs, 0 finished, 20000 to run"),
        "{}",
        &out[..out.len().min(500)]
    );
    assert!(out.contains("  process 20000: multiply-rnn-keras-len5-seed20000\n"));
    assert!(out.contains("\ndry run: nothing was started or written\nestimated training time: "));
    assert!(!dir.exists());
}
