//! Checkpoints: a run cut off by SIGKILL at random points and run again
//! until it finishes is bit for bit the uninterrupted run (history.csv
//! but for its timing columns, and model.safetensors byte for byte), lone
//! and packed; a stop signal saves a checkpoint mid-epoch and exits 75; a
//! checkpoint of other settings is refused by name, --force starts over.

mod common;

use std::{
    fs,
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use common::*;
use serde_json::json;

/// A GRU on 30 steps, 800 training rows, 12 epochs, a checkpoint after
/// every epoch: about a second of training on these machines.
const RUN: &[&str] = &[
    "--model",
    "gru",
    "--seq-len",
    "30",
    "--samples",
    "1200",
    "--fit-rows",
    "1000",
    "--units",
    "12",
    "--epochs",
    "12",
    "--checkpoint-every",
    "1",
    "--quiet",
];

/// A small deterministic stream of delays (xorshift), so a failure names
/// the points it cut at.
struct Delays(u64);

impl Delays {
    fn next(&mut self, lo: f64, hi: f64) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_secs_f64(lo + (hi - lo) * (self.0 % 10_000) as f64 / 10_000.0)
    }
}

/// Runs `args` again and again, each try SIGKILLed after the next delay
/// (between 5 % and 60 % of `whole`, the uninterrupted run's time), until
/// one finishes on its own; returns the delays that cut it.
fn cut_until_finished(
    args: &[&str],
    dir: &Path,
    whole: Duration,
    delays: &mut Delays,
) -> Vec<Duration> {
    let mut cuts = Vec::new();
    let whole = whole.as_secs_f64();
    for _ in 0..40 {
        let delay = delays.next(0.05 * whole, 0.6 * whole);
        let mut child = bin()
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                use std::io::Read;
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                assert!(status.success(), "{status}: {err} (after cuts at {cuts:?})");
                assert!(dir.join("summary.json").exists());
                return cuts;
            }
            if start.elapsed() >= delay {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                cuts.push(delay);
                if dir.join("summary.json").exists() {
                    // Cut after its summary, the mark of a finished run.
                    return cuts;
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    panic!("never finished after cuts at {cuts:?}");
}

fn assert_same_run(cut: &Path, whole: &Path, cuts: &[Duration]) {
    assert_eq!(
        history_numbers(cut),
        history_numbers(whole),
        "history after cuts at {cuts:?}"
    );
    assert!(
        fs::read(cut.join("model.safetensors")).unwrap()
            == fs::read(whole.join("model.safetensors")).unwrap(),
        "final weights differ after cuts at {cuts:?}"
    );
    assert!(
        !cut.join("checkpoint.safetensors").exists(),
        "a finished run keeps no checkpoint"
    );
}

#[test]
fn a_lone_run_killed_at_random_points_resumes_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, cut) = (tmp.path().join("whole"), tmp.path().join("cut"));
    let took = Instant::now();
    run_ok(&with(&with(&["train"], RUN), &["--out", s(&whole)]));
    let took = took.elapsed();
    let args = with(&with(&["train"], RUN), &["--out", s(&cut)]);
    let cuts = cut_until_finished(&args, &cut, took, &mut Delays(0x9e37_79b9_7f4a_7c15));
    assert!(cuts.len() >= 2, "the run should have been cut: {cuts:?}");
    assert_same_run(&cut, &whole, &cuts);
}

#[test]
fn a_pack_killed_at_random_points_resumes_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let info: serde_json::Value = serde_json::from_str(&run_ok(&["info", "--json"])).unwrap();
    let plan = |name: &str| {
        let jobs: Vec<_> = [(1, "keras"), (2, "torch")]
            .iter()
            .map(|(seed, init)| {
                let mut config = info["defaults"].clone();
                for (k, v) in [
                    ("model", json!("lstm")),
                    ("init", json!(init)),
                    ("seed", json!(seed)),
                    ("seq_len", json!(30)),
                    ("samples", json!(1200)),
                    ("fit_rows", json!(1000)),
                    ("units", json!(12)),
                    ("epochs", json!(8)),
                ] {
                    config[k] = v;
                }
                json!({"config": config, "out": tmp.path().join(format!("{name}-{seed}"))})
            })
            .collect();
        let path = tmp.path().join(format!("{name}.json"));
        let plan = json!({
            "execution": {"device": "cpu", "threads": 1, "kernel": "auto",
                          "adam_layout": "flat", "checkpoint_every": "1"},
            "quiet": true,
            "jobs": jobs,
        });
        fs::write(&path, plan.to_string()).unwrap();
        path
    };
    let whole = plan("whole");
    let took = Instant::now();
    run_ok(&["train-pack", "--plan", s(&whole)]);
    let took = took.elapsed();
    let cut = plan("cut");
    let args = ["train-pack", "--plan", s(&cut)];
    let cuts = cut_until_finished(&args, &tmp.path().join("cut-1"), took, &mut Delays(42));
    assert!(cuts.len() >= 2, "the pack should have been cut: {cuts:?}");
    for seed in [1, 2] {
        let dir = |name: &str| tmp.path().join(format!("{name}-{seed}"));
        assert_same_run(&dir("cut"), &dir("whole"), &cuts);
    }
}

#[test]
fn a_stop_signal_saves_mid_epoch_and_the_same_command_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, cut) = (tmp.path().join("whole"), tmp.path().join("cut"));
    // Long epochs (125 batches) and no checkpoint but the signal's.
    let run: Vec<&str> = [
        "train",
        "--model",
        "lstm",
        "--seq-len",
        "40",
        "--samples",
        "6000",
        "--fit-rows",
        "5000",
        "--units",
        "16",
        "--epochs",
        "3",
        "--checkpoint-every",
        "never",
        "--out",
    ]
    .to_vec();
    run_ok(&with(&with(&run, &[s(&whole)]), &["--quiet"]));
    let mut child = bin()
        .args(with(&run, &[s(&cut)]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the first epoch", || history_rows(&cut) >= 1);
    signal("TERM", &child.id().to_string());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{err}");
    assert!(
        err.starts_with("stopped by a signal in epoch ")
            && err
                .trim_end()
                .ends_with(": checkpoint saved; run the same command again to resume"),
        "{err}"
    );
    assert!(cut.join("checkpoint.safetensors").exists());
    assert!(!cut.join("summary.json").exists());
    let resumed = run_ok(&with(&run, &[s(&cut)]));
    assert!(
        resumed.starts_with("resuming from its checkpoint: epoch "),
        "{resumed}"
    );
    assert_same_run(&cut, &whole, &[]);
}

#[test]
fn a_checkpoint_of_other_settings_is_refused_by_name_and_force_starts_over() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let args = with(&with(&["train"], RUN), &["--out", s(&dir)]);
    // Cut before the end: kill at the second epoch.
    let mut child = bin().args(&args).stdout(Stdio::null()).spawn().unwrap();
    wait_until("two epochs", || history_rows(&dir) >= 2);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(dir.join("checkpoint.safetensors").exists());
    let before = fs::read(dir.join("checkpoint.safetensors")).unwrap();
    let (ok, _, err) = run(&with(&args, &["--lr", "0.003", "--units", "10"]));
    assert!(!ok);
    assert_eq!(
        err.trim_end(),
        format!(
            "error: {}/checkpoint.safetensors was written by a run of other settings \
             (lr 0.001 there, 0.003 here, units 12 there, 10 here); run the same settings \
             to resume it, or pass --force to start over",
            dir.display()
        )
    );
    assert_eq!(
        fs::read(dir.join("checkpoint.safetensors")).unwrap(),
        before,
        "a refused resume touches nothing"
    );
    // A damaged checkpoint is refused too, and named: one bit flipped in
    // a weight, or in the record (a digit of the history, say).
    let key = b"\"history\"";
    let in_record = before
        .windows(key.len())
        .rposition(|w| w == key)
        .expect("the record")
        + 30;
    let in_weights = 200; // past the safetensors header of names and offsets
    let header = u64::from_le_bytes(before[..8].try_into().unwrap()) as usize;
    for at in [8 + header + in_weights, in_record] {
        let mut damaged = before.clone();
        damaged[at] ^= 1;
        fs::write(dir.join("checkpoint.safetensors"), &damaged).unwrap();
        let (ok, _, err) = run(&args);
        assert!(!ok, "a flipped byte at {at} went unnoticed");
        assert!(
            err.trim_end().ends_with(
                "checkpoint.safetensors is damaged: it does not match its recorded SHA-256; pass --force to start the run over"
            ) || err.contains("its record is unreadable"),
            "{err}"
        );
    }
    // --force: the other settings start over and finish.
    run_ok(&with(&args, &["--lr", "0.003", "--force"]));
    assert_clean_history(&dir, 12);
    assert_eq!(json(&dir.join("summary.json"))["config"]["lr"], 0.003);
    assert!(!dir.join("checkpoint.safetensors").exists());
}

/// The checkpoint interval's text reaches the run; a bad one is one line.
#[test]
fn a_bad_checkpoint_interval_is_refused_in_one_line() {
    let out = bin()
        .args(with(&small(), &["--checkpoint-every", "1h"]))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--checkpoint-every '1h' is not an interval: give epochs (10), seconds (60s), minutes (5m) or never"),
        "{err}"
    );
}

#[test]
fn a_run_stops_once_its_criterion_held_for_the_patience_and_records_when() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let args = [
        "train",
        "--model",
        "gru",
        "--seq-len",
        "5",
        "--samples",
        "1200",
        "--fit-rows",
        "1000",
        "--units",
        "12",
        "--epochs",
        "300",
        "--stop-below",
        "0.02",
        "--patience",
        "3",
        "--quiet",
        "--out",
        s(&dir),
    ];
    run_ok(&args);
    let summary = json(&dir.join("summary.json"));
    let history = csv_rows(&dir.join("history.csv"));
    let val: Vec<f64> = history[1..].iter().map(|r| r[2].parse().unwrap()).collect();
    let epochs = val.len();
    assert!(
        epochs < 300,
        "it should have stopped early: {epochs} epochs"
    );
    assert_eq!(summary["epochs_run"], epochs as i64);
    // The last three epochs held, the one before them did not.
    assert!(val[epochs - 3..].iter().all(|v| *v < 0.02), "{val:?}");
    assert!(epochs == 3 || val[epochs - 4] >= 0.02, "{val:?}");
    let first = val.iter().position(|v| *v < 0.02).unwrap() + 1;
    let c = &summary["criterion"];
    assert_eq!(c["val_loss_below"], 0.02);
    assert_eq!(c["patience"], 3);
    assert_eq!(c["first_met_epoch"], first as i64);
    assert_eq!(c["first_met_sequences"], 800 * first as i64);
    assert_eq!(c["stopped_early"], true);
    let (ok, _, err) = run(&with(&small(), &["--patience", "3"]));
    assert!(!ok);
    assert_eq!(
        err.trim_end(),
        "error: patience needs stop_below: give --stop-below VAL_LOSS too"
    );
}
