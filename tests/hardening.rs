//! A hostile user's probes: concurrent runs into one folder, absurd values,
//! `--force` with a failing replacement, a full disk. Each ends in a
//! one-line error or the documented behaviour, and no run folder is left
//! mixed or partial.

mod common;

use std::{fs, path::Path, process::Command};

use common::*;

/// Every failure is one line, exit code 1: no panic (101), no abort (134).
fn fails_in_one_line(args: &[&str], expected: &str) {
    let out = bin().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "rnn-lab {args:?}: {stderr}");
    assert!(stderr.starts_with("error: "), "rnn-lab {args:?}: {stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "rnn-lab {args:?}: more than one line:\n{stderr}"
    );
    assert!(
        stderr.contains(expected),
        "rnn-lab {args:?}: {stderr:?} lacks {expected:?}"
    );
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn two_trains_into_one_new_folder_never_mix() {
    let tmp = tempfile::tempdir().unwrap();
    for round in 0..4 {
        let out = tmp.path().join(format!("r{round}"));
        let start = |seed: &str, epochs: &str| {
            bin()
                .args(with(
                    &small(),
                    &["--seed", seed, "--epochs", epochs, "--out", s(&out)],
                ))
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (start("1", "6"), start("2", "3"));
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        assert!(
            a.status.success() != b.status.success(),
            "round {round}: exactly one run may take the folder ({:?}, {:?})",
            a.status,
            b.status
        );
        let (winner_seed, epochs, loser) = if a.status.success() {
            (1, 6, &b)
        } else {
            (2, 3, &a)
        };
        let err = String::from_utf8_lossy(&loser.stderr);
        assert!(
            err.contains("is in use by another rnn-lab run")
                || err.contains("exists and is not empty")
                // The winner's checkpoint, found before the lock: refused by name.
                || err.contains("was written by a run of other settings"),
            "round {round}: {err}"
        );
        assert_clean_history(&out, epochs);
        let summary = json(&out.join("summary.json"));
        assert_eq!(summary["config"]["seed"], winner_seed, "round {round}");
        assert_eq!(summary["epochs_run"], epochs as i64);
        for row in csv_rows(&out.join("history.csv")) {
            assert_eq!(row.len(), 9, "round {round}: {row:?}");
        }
    }
}

#[test]
fn absurd_values_are_refused_in_one_line_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("never");
    let o = s(&out);
    let cases: &[(&[&str], &str)] = &[
        (
            &["--lr", "1e38"],
            "lr must be a positive number up to 1e30, got 100000000000000000000000000000000000000",
        ),
        (
            &["--units", "1000000"],
            "units must be at most 16384, got 1000000",
        ),
        (&["--layers", "1000000000"], "layers must be at most 256"),
        (
            &["--epochs", "1000000000000"],
            "epochs must be at most 1000000",
        ),
        (
            &["--threads", "2147483648"],
            "threads must be between 1 and 4096, got 2147483648",
        ),
        (
            &["--threads", "4294967297"],
            "threads must be between 1 and 4096, got 4294967297",
        ),
        (&["--samples", "10000000000"], "is too much data"),
        (
            &["--init-from", "/"],
            "--init-from / is a folder; give a .safetensors file",
        ),
    ];
    for (flags, expected) in cases {
        fails_in_one_line(&with(&["train", "--out", o], flags), expected);
        assert!(!out.exists(), "{flags:?} created {o}");
    }
    fails_in_one_line(
        &["reproduce", "--epochs", "-1", "--out", o],
        "epochs must be at least 1, got -1",
    );
    assert!(!out.exists());
}

#[test]
fn a_huge_batch_is_one_batch_and_divergence_names_the_console_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let loud: Vec<&str> = small().into_iter().filter(|a| *a != "--quiet").collect();
    let stdout = run_ok(&with(
        &loud,
        &[
            "--batch-size",
            "9223372036854775807",
            "--out",
            s(&tmp.path().join("a")),
        ],
    ));
    assert!(stdout.contains("Epoch 1/2 - 1/1 - "), "{stdout}");
    fails_in_one_line(
        &with(
            &small(),
            &[
                "--epochs",
                "5",
                "--lr",
                "1e30",
                "--out",
                s(&tmp.path().join("b")),
            ],
        ),
        "in epoch 1/5; history.csv keeps every epoch up to it",
    );
}

#[test]
fn force_with_a_failing_replacement_keeps_the_old_run() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    run_ok(&with(&small(), &["--out", s(&out)]));
    let before: Vec<(String, Vec<u8>)> = files_in(&out)
        .into_iter()
        .map(|n| (n.clone(), fs::read(out.join(&n)).unwrap()))
        .collect();
    let garbage = tmp.path().join("not-weights.safetensors");
    fs::write(&garbage, "these are not weights").unwrap();
    let other = tmp.path().join("other.safetensors");
    run_ok(&with(
        &small(),
        &[
            "--units",
            "5",
            "--out",
            s(&tmp.path().join("u5")),
            "--save-init",
            s(&other),
        ],
    ));
    let cases: &[(&[&str], &str)] = &[
        (&["--init-from", s(&garbage)], "cannot read weights from"),
        (
            &["--init-from", s(&other)],
            "has shape [20, 2], this model needs [32, 2]",
        ),
        (&["--units", "1000000"], "units must be at most 16384"),
        (
            &["--save-init", s(tmp.path())],
            "is a folder; give a file path",
        ),
    ];
    for (flags, expected) in cases {
        fails_in_one_line(
            &with(&with(&small(), &["--force", "--out", s(&out)]), flags),
            expected,
        );
        let after: Vec<(String, Vec<u8>)> = files_in(&out)
            .into_iter()
            .map(|n| (n.clone(), fs::read(out.join(&n)).unwrap()))
            .collect();
        assert!(after == before, "{flags:?} touched the finished run");
    }
    // Without --force a failing run leaves no folder behind.
    let fresh = tmp.path().join("fresh");
    fails_in_one_line(
        &with(&small(), &["--init-from", s(&garbage), "--out", s(&fresh)]),
        "cannot read weights from",
    );
    assert!(!fresh.exists());
    assert_eq!(
        files_in(tmp.path()),
        ["not-weights.safetensors", "other.safetensors", "run", "u5"],
        "nothing written beside the inputs"
    );
}

/// A tmpfs of `pages` free 4 KiB pages at `dir` (root only), or None.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, free_pages: usize) -> Option<Tmpfs> {
        fs::create_dir_all(dir).unwrap();
        let size = format!("size={}k", 4 * (free_pages + 16));
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &size, "tmpfs", s(dir)])
            .status()
            .is_ok_and(|st| st.success());
        if !ok {
            return None;
        }
        // Fill all but `free_pages`; the filler is then left in place.
        fs::write(dir.join("filler"), vec![0u8; 16 * 4096]).unwrap();
        Some(Tmpfs(dir.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_never_leaves_partial_files_or_half_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    // 0 free pages fails at the first checkpoint, 16 is enough for all
    // files (the checkpoint four pages, and as many for its next copy while
    // it is written; history, predictions, summary a page each; the weights
    // two): every write of a run meets a full disk in one of these.
    for free in 0..=16 {
        let mount = tmp.path().join(format!("disk{free}"));
        let Some(_disk) = Tmpfs::mount(&mount, free) else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI must be able to mount a tmpfs (run as root)"
            );
            eprintln!("skipped: cannot mount a tmpfs here (not root?)");
            return;
        };
        let out = mount.join("run");
        let result = bin()
            .args(with(
                &small(),
                &["--epochs", "3", "--checkpoint-every", "1", "--out", s(&out)],
            ))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&result.stderr);
        let names = files_in(&out);
        assert!(
            !names.iter().any(|n| n.contains(".partial-")),
            "{free} free pages: partial file left: {names:?}"
        );
        if let Ok(history) = fs::read_to_string(out.join("history.csv")) {
            assert!(
                history.is_empty() || history.ends_with('\n'),
                "{free}: half a line: {history:?}"
            );
            assert!(
                history.lines().all(|l| l.split(',').count() == 9),
                "{free}: {history:?}"
            );
        }
        if result.status.success() {
            assert_eq!(
                names,
                [
                    "history.csv",
                    "model.safetensors",
                    "predictions.csv",
                    "summary.json"
                ],
                "{free} free pages"
            );
        } else {
            assert_eq!(result.status.code(), Some(1), "{free}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{free}: {stderr}");
            assert!(
                stderr.contains("No space left on device"),
                "{free}: {stderr}"
            );
            assert!(
                !names.contains(&"summary.json".to_string()),
                "{free}: looks finished"
            );
            eprintln!("{free} free pages: {stderr}");
            failures.push(free);
        }
    }
    assert!(
        failures.len() >= 4,
        "the disk filled at too few points: {failures:?}"
    );
    assert!(!failures.contains(&16), "16 free pages hold a whole run");
}
