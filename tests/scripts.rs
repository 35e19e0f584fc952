//! The Python scripts users feed rnn-lab's files to: the comparison table
//! and the plots, run on small real outputs.

mod common;

use std::{fs, path::Path, process::Command};

use common::*;

fn script(name: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(repo().join("scripts").join(name))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn assert_png(path: &Path) {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    assert!(
        bytes.len() > 10_000,
        "{} is suspiciously small",
        path.display()
    );
}

#[test]
fn compare_and_plot_read_a_reproduction() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    run_ok(&[
        "reproduce",
        "--models",
        "rnn,gru",
        "--seeds",
        "1,2",
        "--epochs",
        "2",
        "--quiet",
        "--out",
        s(&root.join("rnn-lab")),
    ]);
    let table = script("compare.py", &[s(root)]);
    let rnn = table
        .lines()
        .find(|l| l.starts_with("| rnn | – | 9.32 % |"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(rnn.contains("n=2)"), "{rnn}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("| lstm | 92.95 % | 94.77 % | – |")),
        "{table}"
    );
    let summary = json(&root.join("rnn-lab/gru/seed-2/summary.json"));
    let correctness = summary["correctness"].as_f64().unwrap();
    assert!(
        table.contains(&format!("{correctness:.2}")),
        "per-seed min/max come from the summaries:\n{table}"
    );

    script(
        "plot.py",
        &["--out", s(&root.join("plots")), s(&root.join("rnn-lab"))],
    );
    assert_png(&root.join("plots/rnn-lab-curves.png"));
}

#[test]
fn plot_draws_correctness_against_length_for_a_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sweep");
    let grid = [
        "sweep",
        "--tasks",
        "multiply,add",
        "--models",
        "rnn,lstm",
        "--seq-lens",
        "5,8",
        "--seeds",
        "1..2",
    ];
    run_ok(&with(
        &with(&grid, TINY),
        &["--epochs", "1", "--jobs", "2", "--quiet", "--out", s(&out)],
    ));
    run_ok(&["aggregate", s(&out)]);
    script("plot.py", &["--sweep", s(&out)]);
    assert_png(&out.join("correctness-vs-length.png"));
    let err = Command::new(python())
        .arg(repo().join("scripts/plot.py"))
        .args(["--sweep", s(tmp.path())])
        .output()
        .unwrap();
    assert!(!err.status.success());
    assert!(
        String::from_utf8_lossy(&err.stderr).contains("run `rnn-lab aggregate"),
        "clear message without aggregate.csv"
    );
}
