//! Helpers shared by the integration tests: the built binary, the Python
//! that scripts/setup.sh installed, and small run settings.
#![allow(dead_code)]

pub mod commands;

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
};

/// The binary under test: this build's, or $RNN_LAB_TEST_BIN (to show a
/// new test failing on an older binary).
pub fn bin() -> Command {
    let mut command = Command::new(bin_path());
    // --pack auto's measurements stay with the tests' build, not in
    // ~/.cache, and each test binary measures afresh.
    command.env(
        "RNN_LAB_CACHE",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cache-{}", std::process::id())),
    );
    command
}

pub fn bin_path() -> PathBuf {
    std::env::var_os("RNN_LAB_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_rnn-lab")))
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The virtualenv Python of scripts/setup.sh (or $RNN_LAB_PYTHON).
pub fn python() -> PathBuf {
    let path = std::env::var_os("RNN_LAB_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"));
    assert!(
        path.exists(),
        "{} missing: run scripts/setup.sh first",
        path.display()
    );
    path
}

/// scripts/`name` under `python`, asking this build for rnn-lab's tasks,
/// cells and limits (not whatever target/release holds).
pub fn python_script_with(python: &Path, name: &str) -> Command {
    let mut command = Command::new(python);
    command
        .arg(repo().join("scripts").join(name))
        .env("RNN_LAB_BIN", bin_path());
    command
}

/// scripts/`name` under the virtualenv Python of scripts/setup.sh.
pub fn python_script(name: &str) -> Command {
    python_script_with(&python(), name)
}

/// Runs scripts/reference.py with `args`; panics with its stderr on failure.
pub fn reference(args: &[&str]) -> Output {
    let out = python_script("reference.py")
        .args(args)
        .output()
        .expect("start reference.py");
    assert!(
        out.status.success(),
        "reference.py {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs rnn-lab with `args`, returning (success, stdout, stderr).
pub fn run(args: &[&str]) -> (bool, String, String) {
    let out = bin().args(args).output().expect("start rnn-lab");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Runs rnn-lab and panics with its stderr unless it succeeds.
pub fn run_ok(args: &[&str]) -> String {
    let (ok, stdout, stderr) = run(args);
    assert!(ok, "rnn-lab {args:?} failed:\n{stderr}");
    stdout
}

/// Few rows and units: the data and model part of every small run.
pub const TINY: &[&str] = &["--samples", "240", "--fit-rows", "200", "--units", "8"];

/// Small, fast `train` settings: short sequences, few rows, two epochs.
pub fn small() -> Vec<&'static str> {
    with(
        &with(&["train", "--seq-len", "10"], TINY),
        &["--epochs", "2", "--quiet"],
    )
}

pub fn with<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    base.iter().chain(extra).copied().collect()
}

/// Rows of a CSV file as string fields, header included.
pub fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(
        &fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// The epoch column of a run's history.csv.
pub fn epochs(dir: &Path) -> Vec<String> {
    csv_rows(&dir.join("history.csv"))[1..]
        .iter()
        .map(|r| r[0].clone())
        .collect()
}

/// Asserts a history of exactly epochs 0..n, each once.
pub fn assert_clean_history(dir: &Path, n: usize) {
    let expected: Vec<String> = (0..n).map(|e| e.to_string()).collect();
    assert_eq!(
        epochs(dir),
        expected,
        "{}: not a clean history of {n} epochs",
        dir.display()
    );
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// (loss, val_loss) of every epoch of a run folder's history.csv.
pub fn loss_pairs(dir: &Path) -> Vec<(f64, f64)> {
    csv_rows(&dir.join("history.csv"))[1..]
        .iter()
        .map(|r| (r[1].parse().unwrap(), r[2].parse().unwrap()))
        .collect()
}

/// The largest relative difference of any epoch's loss or val_loss.
pub fn largest_relative_loss(a: &[(f64, f64)], b: &[(f64, f64)]) -> f64 {
    assert_eq!(a.len(), b.len(), "histories of different lengths");
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| [(x.0, y.0), (x.1, y.1)])
        .map(|(x, y)| (x - y).abs() / y.abs())
        .fold(0.0, f64::max)
}

/// A run folder's history.csv without its timing columns (`seconds`,
/// `train_seconds`): what a resumed run must reproduce bit for bit.
pub fn history_numbers(dir: &Path) -> Vec<Vec<String>> {
    let rows = csv_rows(&dir.join("history.csv"));
    let keep: Vec<usize> = (0..rows[0].len())
        .filter(|&i| !rows[0][i].contains("seconds"))
        .collect();
    assert_eq!(
        keep.len() + 2,
        rows[0].len(),
        "two timing columns: {:?}",
        rows[0]
    );
    rows.iter()
        .map(|r| keep.iter().map(|&i| r[i].clone()).collect())
        .collect()
}

/// Epochs a run folder's history.csv holds.
pub fn history_rows(dir: &Path) -> usize {
    fs::read_to_string(dir.join("history.csv"))
        .map(|t| t.lines().count().saturating_sub(1))
        .unwrap_or(0)
}

/// Waits up to a minute for `done`, or fails naming `what`.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Sends `sig` (INT, TERM, KILL) to `target` (a pid, or -pgid).
pub fn signal(sig: &str, target: &str) {
    assert!(Command::new("kill")
        .args(["-s", sig, "--", target])
        .status()
        .unwrap()
        .success());
}
