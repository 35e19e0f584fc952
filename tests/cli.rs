//! End-to-end runs of the `rnn-lab` binary on small settings: output files
//! and their formats, determinism, learning, bad input, and `| head`.

mod common;

use std::{
    fs,
    io::{BufRead, BufReader},
    process::Stdio,
};

use common::*;

#[test]
fn train_writes_every_file_with_keras_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let loud: Vec<&str> = small()
        .iter()
        .copied()
        .filter(|a| *a != "--quiet")
        .collect();
    let stdout = run_ok(&with(&loud, &["--model", "gru", "--out", s(&out)]));
    assert!(stdout.contains("Epoch 1/2 - 5/5 - "), "{stdout}");
    assert!(
        stdout.contains(" - loss: ") && stdout.contains(" - val_loss: "),
        "{stdout}"
    );
    assert!(stdout.contains("correctness: "), "{stdout}");

    let history = csv_rows(&out.join("history.csv"));
    assert_eq!(
        history[0],
        [
            "epoch",
            "loss",
            "val_loss",
            "seconds",
            "train_seconds",
            "val_rel_loss",
            "grad_norm",
            "grad_norm_max",
            "sequences"
        ]
    );
    // 160 training rows an epoch.
    assert_eq!(
        (history[1][8].as_str(), history[2][8].as_str()),
        ("160", "320")
    );
    assert_eq!(history.len(), 3);
    assert_eq!(history[1][0], "0");
    assert_eq!(history[2][0], "1");
    for row in &history[1..] {
        let loss: f32 = row[1].parse().unwrap();
        assert!(loss.is_finite() && loss > 0.0);
    }

    let summary = json(&out.join("summary.json"));
    assert_eq!(summary["config"]["model"], "gru");
    assert_eq!(summary["config"]["seq_len"], 10);
    assert_eq!(summary["device"], "cpu");
    assert_eq!(summary["versions"]["tch"], "0.24.0");
    assert!(summary["versions"]["libtorch"]
        .as_str()
        .unwrap()
        .starts_with("2.11.0"));
    assert_eq!(summary["split"]["train"], 160);
    assert_eq!(summary["split"]["val"], 40);
    assert_eq!(summary["test_rows"], 40);
    assert_eq!(summary["epochs_run"], 2);
    // Keras GRU(8) x2 + Dense(1): 3*8*(2+8+2) + 3*8*(8+8+2) + 9
    assert_eq!(summary["parameters"], 288 + 432 + 9);
    let last_loss: f32 = history[2][1].parse().unwrap();
    assert_eq!(summary["final_loss"].as_f64().unwrap() as f32, last_loss);

    let predictions = csv_rows(&out.join("predictions.csv"));
    assert_eq!(predictions[0], ["row", "target", "prediction", "abs_error"]);
    assert_eq!(predictions.len(), 41);
    assert_eq!(predictions[1][0], "200");
    let failures = predictions[1..]
        .iter()
        .filter(|r| r[3].parse::<f64>().unwrap() > 0.04)
        .count() as f64;
    let correctness = summary["correctness"].as_f64().unwrap();
    assert!((correctness - (40.0 - failures) / 40.0 * 100.0).abs() < 1e-9);

    let weights = tch::Tensor::read_safetensors(out.join("model.safetensors")).unwrap();
    let mut names: Vec<String> = weights.iter().map(|(n, _)| n.clone()).collect();
    names.sort();
    assert_eq!(names.len(), 10);
    assert!(
        names.contains(&"rnn.weight_hh_l1".to_string()) && names.contains(&"head.bias".to_string())
    );
    let leftovers: Vec<_> = fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 4, "only the four run files: {leftovers:?}");
}

/// epoch, loss and val_loss of a history (the timing columns vary).
fn losses(path: &std::path::Path) -> Vec<Vec<String>> {
    csv_rows(path)
        .into_iter()
        .map(|r| r[..3].to_vec())
        .collect()
}

#[test]
fn same_seed_same_history_other_seed_other_history() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs: Vec<_> = ["a", "b", "c"].iter().map(|d| tmp.path().join(d)).collect();
    for (dir, seed) in dirs.iter().zip(["3", "3", "4"]) {
        run_ok(&with(
            &small(),
            &["--model", "rnn", "--seed", seed, "--out", s(dir)],
        ));
    }
    let a = losses(&dirs[0].join("history.csv"));
    assert_eq!(a, losses(&dirs[1].join("history.csv")));
    assert_ne!(a, losses(&dirs[2].join("history.csv")));
    assert_eq!(
        fs::read(dirs[0].join("predictions.csv")).unwrap(),
        fs::read(dirs[1].join("predictions.csv")).unwrap()
    );
}

#[test]
fn lstm_learns_the_short_multiplication_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    run_ok(&[
        "train",
        "--model",
        "lstm",
        "--seq-len",
        "10",
        "--samples",
        "1200",
        "--fit-rows",
        "1000",
        "--units",
        "16",
        "--epochs",
        "12",
        "--lr",
        "0.01",
        "--quiet",
        "--out",
        s(&out),
    ]);
    let history = csv_rows(&out.join("history.csv"));
    let val = |row: usize| history[row][2].parse::<f64>().unwrap();
    let first = val(1);
    let last = val(history.len() - 1);
    assert!(last < 0.25 * first, "val_loss went from {first} to {last}");
    let summary = json(&out.join("summary.json"));
    assert!(summary["correctness"].as_f64().unwrap() > 40.0, "{summary}");
}

#[test]
fn reproduce_writes_one_folder_per_model_and_seed_and_the_table() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("blog");
    let stdout = run_ok(&with(
        &with(
            &[
                "reproduce",
                "--models",
                "rnn,gru",
                "--seeds",
                "1,2",
                "--seq-len",
                "10",
            ],
            TINY,
        ),
        &[
            "--epochs",
            "2",
            "--device",
            "cpu",
            "--threads",
            "1",
            "--out",
            s(&out),
        ],
    ));
    let mut correctness = Vec::new();
    for model in ["rnn", "gru"] {
        for seed in [1, 2] {
            let dir = out.join(format!("multiply-{model}-keras-len10-seed{seed}"));
            let summary = json(&dir.join("summary.json"));
            assert_eq!(summary["config"]["model"], model);
            assert_eq!(summary["config"]["seed"], seed);
            assert_eq!(
                summary["config"]["seq_len"], 10,
                "the size flags reach the runs"
            );
            assert_eq!(summary["config"]["units"], 8);
            assert_eq!(summary["split"]["train"], 160);
            assert_eq!(summary["threads"], 1, "the threads used are recorded");
            correctness.push(summary["correctness"].as_f64().unwrap());
        }
    }
    let table = fs::read_to_string(out.join("aggregate.md")).unwrap();
    assert_eq!(table.lines().count(), 7, "{table}");
    let rnn = table.lines().nth(4).unwrap();
    assert!(rnn.starts_with("| rnn | keras | 10 | 2 | "), "{table}");
    // Median of two seeds is their mean; min .. max are the two values.
    let (lo, hi) = (
        correctness[0].min(correctness[1]),
        correctness[0].max(correctness[1]),
    );
    assert!(
        rnn.contains(&format!("| {:.2} [", (lo + hi) / 2.0)),
        "{rnn}"
    );
    assert!(rnn.contains(&format!("| {lo:.2} .. {hi:.2} % |")), "{rnn}");
    // The console's table: one line per cell, the columns that vary.
    let line = format!("rnn    2  {:.2} [", (lo + hi) / 2.0);
    assert!(stdout.contains(&line), "{stdout}");
    let table_lines = stdout
        .lines()
        .filter(|l| ["model", "rnn ", "gru "].iter().any(|p| l.starts_with(p)));
    assert_eq!(table_lines.clone().count(), 3, "{stdout}");
    assert!(
        table_lines.into_iter().all(|l| l.chars().count() <= 100),
        "{stdout}"
    );
    let aggregate = json(&out.join("aggregate.json"));
    assert_eq!(aggregate[0]["model"], "rnn");
    assert_eq!(aggregate[0]["correctness"]["n"], 2);
    let c = &aggregate[0]["correctness"];
    assert!(c["ci_low"].as_f64().unwrap() <= c["mean"].as_f64().unwrap());
    assert!(c["ci_high"].as_f64().unwrap() >= c["mean"].as_f64().unwrap());
}

/// Runs a failing command and checks its one-line error.
fn fails(args: &[&str], expected: &str) {
    let (ok, _, stderr) = run(args);
    assert!(!ok, "rnn-lab {args:?} succeeded");
    assert!(
        stderr.contains(expected),
        "rnn-lab {args:?}: stderr {stderr:?} lacks {expected:?}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_flags_fail_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("never");
    let o = s(&out);
    let cases: &[(&[&str], &str)] = &[
        (
            &["--samples", "0"],
            "error: samples must be at least 1, got 0",
        ),
        (
            &["--units", "-4"],
            "error: units must be at least 1, got -4",
        ),
        (
            &["--batch-size", "0"],
            "error: batch_size must be at least 1",
        ),
        (&["--epochs", "0"], "error: epochs must be at least 1"),
        (&["--seq-len", "1"], "error: seq_len must be at least 2"),
        (
            &["--val-split", "1.5"],
            "error: val_split must be in (0, 1), got 1.5",
        ),
        (
            &["--val-split", "0"],
            "error: val_split must be in (0, 1), got 0",
        ),
        (
            &["--fit-rows", "5000"],
            "error: fit_rows (5000) must be less than samples (3000)",
        ),
        (
            &["--fit-rows", "3000"],
            "the rows after the fit rows are the test set",
        ),
        (
            &["--fit-rows", "10", "--val-split", "1e-17"],
            "leaves 10 training and 0 validation rows",
        ),
        (
            &["--fit-rows", "1", "--val-split", "0.5"],
            "leaves 0 training and 1 validation rows",
        ),
        (&["--lr", "-1"], "error: lr must be a positive number"),
        (
            &["--threads", "0"],
            "error: threads must be between 1 and 4096, got 0",
        ),
        (
            &["--model", "transformer"],
            "unknown model 'transformer' (expected one of: rnn, irnn, lstm, gru, indrnn, mingru, minlstm, lru)",
        ),
        (
            &["--init", "xavier"],
            "unknown init 'xavier' (expected one of: keras, torch)",
        ),
        (&["--task", "parity"], "unknown task 'parity'"),
        (
            &["--device", "tpu"],
            "unknown device 'tpu' (expected auto, cpu, cuda or cuda:N)",
        ),
        (
            &["--init-from", "/nonexistent/w.safetensors"],
            "error: --init-from /nonexistent/w.safetensors: no such file",
        ),
        (
            &["--save-init", "/nonexistent/dir/w.safetensors"],
            "folder /nonexistent/dir does not exist",
        ),
    ];
    for (flags, expected) in cases {
        let args = with(&["train", "--out", o], flags);
        fails(&args, expected);
        assert!(!out.exists(), "rnn-lab {args:?} created {o}");
    }
}

#[test]
fn cuda_without_a_gpu_is_refused() {
    if tch::Cuda::is_available() {
        return; // this machine has a GPU: the refusal cannot be observed
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("never");
    fails(
        &["train", "--device", "cuda", "--out", s(&out)],
        "no CUDA device is visible to libtorch; use --device cpu",
    );
    fails(
        &["reproduce", "--device", "cuda:1", "--out", s(&out)],
        "no CUDA device is visible",
    );
    assert!(!out.exists());
}

#[test]
fn existing_output_is_never_overwritten_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    run_ok(&with(&small(), &["--out", s(&out)]));
    let before = fs::read(out.join("summary.json")).unwrap();
    fails(
        &with(&small(), &["--out", s(&out)]),
        "exists and is not empty; choose a new --out, or pass --force",
    );
    assert_eq!(fs::read(out.join("summary.json")).unwrap(), before);
    // A study never writes into a folder that is not a study.
    let blog = tmp.path().join("blog");
    fs::create_dir_all(blog.join("lstm/seed-1")).unwrap();
    fs::write(blog.join("lstm/seed-1/keep.txt"), "mine").unwrap();
    fails(
        &["reproduce", "--epochs", "1", "--out", s(&blog)],
        "is not empty and holds no study.json",
    );
    assert_eq!(fs::read_dir(&blog).unwrap().count(), 1, "nothing written");
    // --force replaces the run files.
    run_ok(&with(
        &small(),
        &["--out", s(&out), "--seed", "9", "--force"],
    ));
    assert_eq!(json(&out.join("summary.json"))["config"]["seed"], 9);
}

#[test]
fn unwritable_output_is_refused_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    fs::write(&file, "x").unwrap();
    fails(
        &with(&small(), &["--out", s(&file.join("run"))]),
        "is not a folder",
    );
    // /proc takes no new files, even for root.
    fails(
        &with(&small(), &["--out", "/proc/rnn-lab-test"]),
        "/proc is not writable; choose a writable --out",
    );
}

#[test]
fn diverging_loss_stops_keeps_the_history_and_writes_no_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    fails(
        &with(
            &small(),
            &["--epochs", "5", "--lr", "1e30", "--out", s(&out)],
        ),
        "training diverged: loss NaN",
    );
    let history = csv_rows(&out.join("history.csv"));
    assert_eq!(history[0][1], "loss");
    let last = history.last().unwrap();
    assert!(last[1] == "NaN" || last[1] == "inf", "{last:?}");
    assert!(history.len() < 6, "stopped at the first bad epoch");
    assert!(
        !out.join("summary.json").exists(),
        "a diverged run must not look finished"
    );
}

#[test]
fn a_closed_console_stops_printing_not_training() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let mut child = bin()
        .args(["train", "--seq-len", "10"])
        .args(TINY)
        .args(["--epochs", "40", "--out", s(&out)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is dropped here: the pipe closes like `| head -1`.
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(first.starts_with("lstm on cpu"), "{first}");
    assert!(status.success(), "exit {status:?}, stderr {stderr}");
    assert_eq!(stderr, "", "no message, no panic");
    // The console went away; the run did not: every epoch and every file.
    assert_clean_history(&out, 40);
    assert_eq!(json(&out.join("summary.json"))["epochs_run"], 40);
    assert!(out.join("model.safetensors").exists() && out.join("predictions.csv").exists());
}

#[test]
fn binary_has_runpath_and_keeps_torch_cuda() {
    let out = std::process::Command::new("readelf")
        .args(["-d", env!("CARGO_BIN_EXE_rnn-lab")])
        .output()
        .unwrap();
    let dynamic = String::from_utf8_lossy(&out.stdout);
    let runpath = dynamic
        .lines()
        .find(|l| l.contains("(RUNPATH)"))
        .unwrap_or_else(|| panic!("no RUNPATH in:\n{dynamic}"));
    let dir = runpath.split('[').nth(1).unwrap().trim_end_matches(']');
    let lib = std::path::Path::new(dir);
    assert!(
        lib.join("libtorch_cpu.so").exists(),
        "RUNPATH {dir} holds no libtorch"
    );
    let needed = |name: &str| {
        dynamic
            .lines()
            .any(|l| l.contains("(NEEDED)") && l.contains(&format!("[{name}]")))
    };
    assert!(needed("libtorch_cpu.so"));
    assert_eq!(
        needed("libtorch_cuda.so"),
        lib.join("libtorch_cuda.so").exists(),
        "libtorch_cuda.so must be NEEDED exactly when the libtorch has it"
    );
}

#[test]
fn train_config_file_reruns_a_finished_run_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    run_ok(&with(
        &small(),
        &["--model", "gru", "--seed", "5", "--out", s(&a)],
    ));
    let summary = a.join("summary.json");
    run_ok(&["train", "--config", s(&summary), "--quiet", "--out", s(&b)]);
    assert_eq!(
        json(&b.join("summary.json"))["config"],
        json(&summary)["config"]
    );
    assert_eq!(
        losses(&a.join("history.csv")),
        losses(&b.join("history.csv"))
    );
    // Run flags beside --config apply on top of it, every one of them
    // (--adam too), and the summary records what ran.
    let c = tmp.path().join("c");
    run_ok(&[
        "train",
        "--config",
        s(&summary),
        "--seed",
        "2",
        "--epochs",
        "3",
        "--adam",
        "keras",
        "--quiet",
        "--out",
        s(&c),
    ]);
    let mut expected = json(&summary)["config"].clone();
    expected["seed"] = 2.into();
    expected["epochs"] = 3.into();
    expected["adam"] = "keras".into();
    assert_eq!(json(&c.join("summary.json"))["config"], expected);
    assert_eq!(epochs(&c).len(), 3);
    let bad = tmp.path().join("bad.json");
    fs::write(&bad, "{\"model\": \"lstm\"}").unwrap();
    fails(
        &[
            "train",
            "--config",
            s(&bad),
            "--out",
            s(&tmp.path().join("d")),
        ],
        "is not a run config: missing field",
    );
    assert!(!tmp.path().join("d").exists());
}

#[test]
fn a_run_from_a_weights_file_records_it_and_reruns_only_from_it() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |name: &str| tmp.path().join(name);
    let weights = p("w.safetensors");
    run_ok(&with(
        &small(),
        &[
            "--seed",
            "3",
            "--save-init",
            s(&weights),
            "--out",
            s(&p("drawn")),
        ],
    ));
    // Seed 3's weights under seed 4's config: the file, not the seed, decides.
    run_ok(&with(
        &small(),
        &[
            "--seed",
            "4",
            "--init-from",
            s(&weights),
            "--out",
            s(&p("from")),
        ],
    ));
    assert!(
        json(&p("drawn/summary.json")).get("init_from").is_none(),
        "a run that drew its weights names no file"
    );
    let summary = p("from/summary.json");
    let recorded = &json(&summary)["init_from"];
    assert_eq!(recorded["path"], s(&weights));
    let sha = std::process::Command::new("sha256sum")
        .arg(&weights)
        .output()
        .unwrap();
    let sha = String::from_utf8(sha.stdout).unwrap();
    assert_eq!(recorded["sha256"], sha.split_whitespace().next().unwrap());

    // Rerunning its summary without the file would draw seed 4's weights:
    // refused, naming the file; with it, the same run again.
    fails(
        &["train", "--config", s(&summary), "--out", s(&p("again"))],
        &format!(
            "started from the weights in {} (sha256 {}), not from its seed: pass --init-from {}",
            s(&weights),
            recorded["sha256"].as_str().unwrap(),
            s(&weights)
        ),
    );
    assert!(!p("again").exists());
    run_ok(&[
        "train",
        "--config",
        s(&summary),
        "--init-from",
        s(&weights),
        "--quiet",
        "--out",
        s(&p("again")),
    ]);
    assert_eq!(
        losses(&p("from/history.csv")),
        losses(&p("again/history.csv"))
    );
    assert_ne!(
        losses(&p("drawn/history.csv")),
        losses(&p("from/history.csv")),
        "seed 4's data and batch order from seed 3's weights is another run"
    );
}

/// The IndRNN's recurrent weights stay within 2^(1/T) however large
/// Adam's steps, alone and in a pack, on the flat buffer and per tensor
/// (the clip follows every step); without the clip this learning rate
/// pushes them to about 2.7.
#[test]
fn indrnn_weights_stay_clipped_through_training() {
    let tmp = tempfile::tempdir().unwrap();
    let bound = 2f64.powf(1.0 / 8.0);
    for (name, extra) in [
        ("flat", vec!["--seeds", "1"]),
        (
            "per-tensor",
            vec!["--seeds", "1", "--adam-layout", "per-tensor"],
        ),
        ("pack", vec!["--seeds", "1,2", "--pack", "2"]),
    ] {
        let out = tmp.path().join(name);
        let mut args = vec![
            "sweep",
            "--models",
            "indrnn",
            "--lr",
            "0.5",
            "--samples",
            "300",
            "--fit-rows",
            "250",
            "--seq-lens",
            "8",
            "--units",
            "8",
            "--epochs",
            "3",
            "--quiet",
            "--out",
        ];
        args.push(s(&out));
        args.extend(extra);
        run_ok(&args);
        let summaries: Vec<_> = walk_files(&out, "model.safetensors");
        assert!(!summaries.is_empty(), "{name}: no model written");
        for path in summaries {
            let largest = tch::Tensor::read_safetensors(&path)
                .unwrap()
                .into_iter()
                .filter(|(n, _)| n.starts_with("rnn.weight_hh"))
                .map(|(_, t)| t.abs().max().double_value(&[]))
                .fold(0.0, f64::max);
            assert!(
                (largest - bound).abs() < 1e-6,
                "{name} {}: largest |u| {largest}, bound {bound}",
                path.display()
            );
        }
    }
}

/// Every file named `name` under `dir`.
fn walk_files(dir: &std::path::Path, name: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(walk_files(&path, name));
        } else if path.file_name().is_some_and(|n| n == name) {
            found.push(path);
        }
    }
    found
}
