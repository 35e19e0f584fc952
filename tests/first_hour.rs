//! What a newcomer sees in the first hour: a study's console that shows
//! every epoch of the run it trains (on a terminal and piped), how long a
//! study will take before it starts, one thread default, `--help` that fits
//! the terminal with the everyday flags first and examples, and next steps
//! that name the binary as it was called.

mod common;

use std::{path::Path, process::Command};

use common::*;

fn study_args(dir: &Path) -> Vec<String> {
    with(
        &with(
            &[
                "sweep",
                "--models",
                "rnn,gru",
                "--seq-lens",
                "5",
                "--seeds",
                "1",
            ],
            TINY,
        ),
        &[
            "--epochs",
            "3",
            "--device",
            "cpu",
            "--pack",
            "1",
            "--out",
            s(dir),
        ],
    )
    .iter()
    .map(|a| a.to_string())
    .collect()
}

/// Every epoch of every run, as the console printed it.
fn assert_epoch_lines(text: &str) {
    for run in [
        "multiply-rnn-keras-len5-seed1",
        "multiply-gru-keras-len5-seed1",
    ] {
        for epoch in 1..=3 {
            let head = format!("  {run}: epoch {epoch}/3 - loss: ");
            let line = text
                .lines()
                .find(|l| l.trim_end_matches('\r').starts_with(&head))
                .unwrap_or_else(|| panic!("no line {head:?} in:\n{text}"));
            assert!(
                line.contains(" - val_loss: ")
                    && line.contains(" runs ended, ")
                    && line.contains(" elapsed, "),
                "{line}"
            );
        }
    }
}

#[test]
fn a_study_on_a_terminal_prints_every_epoch_of_the_run_it_trains() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("study");
    let cmd: Vec<String> = std::iter::once(bin_path().display().to_string())
        .chain(study_args(&dir))
        .map(|a| format!("'{a}'"))
        .collect();
    // util-linux's script(1) gives the study a pseudo-terminal.
    let out = Command::new("script")
        .args(["-qec", &cmd.join(" "), "/dev/null"])
        .env("RNN_LAB_CACHE", tmp.path().join("cache"))
        .output()
        .expect("script(1) from util-linux");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert_epoch_lines(&text);
}

#[test]
fn a_piped_study_prints_the_same_epoch_lines_and_next_steps_name_the_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("study");
    let args = study_args(&dir);
    let text = run_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_epoch_lines(&text);
    assert!(
        text.contains(&format!("  {} aggregate {}", bin_path().display(), s(&dir))),
        "{text}"
    );
    assert!(text.contains("1 at a time, 1 thread(s) each\n"), "{text}");
}

#[test]
fn a_dry_run_says_how_long_the_study_will_take() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("study");
    let args = study_args(&dir);
    let text = run_ok(&with(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &["--dry-run", "--jobs", "2"],
    ));
    let line = text
        .lines()
        .find(|l| l.starts_with("estimated training time: "))
        .unwrap_or_else(|| panic!("no estimate in:\n{text}"));
    assert!(
        line.contains(" on this machine (2 process(es) at a time; "),
        "{line}"
    );
    assert!(
        text.contains("dry run: nothing was started or written"),
        "{text}"
    );
    assert!(!dir.exists());
}

#[test]
fn train_and_studies_default_to_one_thread_and_say_so_once() {
    for command in ["train", "sweep", "reproduce"] {
        let help = run_ok(&[command, "--help"]);
        let threads: String = help
            .split("--threads <THREADS>")
            .nth(1)
            .unwrap()
            .split("--kernel")
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            threads.ends_with("[default: 1, the fastest measured for the blog's small model]"),
            "{command}: {threads}"
        );
    }
}

#[test]
fn help_fits_the_terminal_puts_the_run_settings_first_and_ends_in_examples() {
    for command in ["train", "sweep", "reproduce", "aggregate"] {
        let out = bin()
            .args([command, "--help"])
            .env("COLUMNS", "80")
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        let widest = help.lines().map(|l| l.chars().count()).max().unwrap();
        assert!(
            widest <= 80,
            "{command} --help has a line of {widest} columns:\n{help}"
        );
        let examples = help
            .find("\nExamples:\n")
            .unwrap_or_else(|| panic!("{command}: no examples:\n{help}"));
        assert!(
            help[examples..].contains(&format!("rnn-lab {command} ")),
            "{help}"
        );
        if command != "aggregate" {
            let (run, exec) = (
                help.find("\nRun settings:\n").unwrap(),
                help.find("\nExecution (").unwrap(),
            );
            assert!(
                run < exec,
                "{command}: the execution flags come before the run settings"
            );
        }
    }
}

#[test]
fn a_grid_file_names_only_what_differs_from_the_defaults() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("grid.json");
    std::fs::write(
        &file,
        r#"{"base": {"samples": 240, "fit_rows": 200, "units": 8, "epochs": 1}, "axes": {"seed": [1, 2]}}"#,
    )
    .unwrap();
    let dir = tmp.path().join("study");
    let text = run_ok(&[
        "sweep",
        "--grid",
        s(&file),
        "--out",
        s(&dir),
        "--pack",
        "1",
        "--dry-run",
    ]);
    assert!(text.contains("2 runs (2 new)"), "{text}");
    std::fs::write(&file, r#"{"base": {"epochz": 1}, "axes": {"seed": [1]}}"#).unwrap();
    let (ok, _, err) = run(&["sweep", "--grid", s(&file), "--out", s(&dir), "--dry-run"]);
    assert!(!ok && err.contains("unknown field `epochz`"), "{err}");
}

#[test]
fn runs_csv_tells_a_started_run_from_a_missing_one_and_the_table_leaves_an_unstarted_cell_blank() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("study");
    let mut args = study_args(&dir);
    args.extend(["--shard", "1/2"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let first = run_ok(&args);
    // Shard 2's run (the GRU) has not begun: its cell has nothing to say.
    let gru = first
        .lines()
        .find(|l| l.starts_with("gru "))
        .unwrap_or_else(|| panic!("no gru row:\n{first}"));
    assert_eq!(
        gru.split_whitespace().collect::<Vec<_>>(),
        ["gru", "0", "–", "–", "–"],
        "{first}"
    );
    assert!(first.contains("learned  epochs to learn"), "{first}");
    // run, status and epochs_run of every row of runs.csv.
    let status = || -> Vec<String> {
        let rows = csv_rows(&dir.join("runs.csv"));
        let col = rows[0].iter().position(|c| c == "status").unwrap();
        assert_eq!(rows[0][col + 1], "epochs_run");
        rows[1..]
            .iter()
            .map(|r| format!("{} {} {}", r[0], r[col], r[col + 1]))
            .collect()
    };
    assert_eq!(
        status(),
        [
            "multiply-rnn-keras-len5-seed1 finished 3",
            "multiply-gru-keras-len5-seed1 missing "
        ]
    );
    // The GRU's folder as a cut-off (or running) run leaves it.
    let gru_dir = dir.join("multiply-gru-keras-len5-seed1");
    std::fs::create_dir_all(&gru_dir).unwrap();
    std::fs::write(
        gru_dir.join("history.csv"),
        "epoch,loss,val_loss,seconds,train_seconds\n0,0.5,0.5,0.1,0.1\n1,0.4,0.4,0.1,0.1\n",
    )
    .unwrap();
    run_ok(&args);
    assert_eq!(
        status(),
        [
            "multiply-rnn-keras-len5-seed1 finished 3",
            "multiply-gru-keras-len5-seed1 started 2"
        ]
    );
}
