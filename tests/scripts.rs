//! The scripts users feed rnn-lab's files to: the comparison table, the
//! plots and the docs' pandas example, run on small real outputs; and the
//! command line scripts/blog.sh hands to rnn-lab.

mod common;

use std::{fs, path::Path, process::Command};

use common::*;

fn script(name: &str, args: &[&str]) -> String {
    let out = python_script(name).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{name} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a Python script that must fail; returns its stderr.
fn script_error(name: &str, args: &[&str]) -> String {
    let out = python_script(name).args(args).output().unwrap();
    assert!(!out.status.success(), "{name} {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
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
    run_ok(&with(
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
            "--quiet",
            "--out",
            s(&root.join("rnn-lab")),
        ],
    ));
    let table = script("compare.py", &[s(root)]);
    let rnn = table
        .lines()
        .find(|l| l.starts_with("| rnn | rnn-lab, Keras init | 2 | "))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        !table.contains("textbook (Keras, 1 unseeded run)"),
        "published runs stand beside the blog's experiment only:\n{table}"
    );
    let summary = json(&root.join("rnn-lab/multiply-gru-keras-len10-seed2/summary.json"));
    let correctness = summary["correctness"].as_f64().unwrap();
    assert!(
        table.contains(&format!("{correctness:.2}")),
        "per-seed min/max come from the summaries:\n{table}"
    );
    // rnn-lab's own aggregate and compare.py agree on the median and range.
    let aggregate = fs::read_to_string(root.join("rnn-lab/aggregate.md")).unwrap();
    let ours = aggregate
        .lines()
        .find(|l| l.starts_with("| rnn |"))
        .unwrap();
    let cells = |line: &str| line.split(" | ").map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(
        cells(ours)[4],
        cells(rnn)[3],
        "median [IQR]: {ours} vs {rnn}"
    );
    assert_eq!(cells(ours)[6], cells(rnn)[5], "min .. max: {ours} vs {rnn}");

    script(
        "plot.py",
        &["--out", s(&root.join("plots")), s(&root.join("rnn-lab"))],
    );
    assert_png(&root.join("plots/rnn-lab-curves.png"));
}

/// Writes a run folder with just what compare.py reads.
fn fake_run(dir: &Path, seed: u64, correctness: f64, val_losses: &[f64]) {
    fs::create_dir_all(dir).unwrap();
    let summary =
        serde_json::json!({"config": {"seed": seed, "model": "lstm"}, "correctness": correctness});
    fs::write(dir.join("summary.json"), summary.to_string()).unwrap();
    let mut history = String::from("epoch,loss,val_loss,seconds,train_seconds\n");
    for (e, v) in val_losses.iter().enumerate() {
        history += &format!("{e},{v},{v},1.0,1.0\n");
    }
    fs::write(dir.join("history.csv"), history).unwrap();
}

/// Five seeds: a paired test cannot reach p < 0.05, --unpaired can.
#[test]
fn compare_unpaired_tests_five_seeds_as_independent_sets() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    for k in 1..=5u64 {
        let x = 10.0 * k as f64; // a: 10..50; b: 60..100, above every a
        fake_run(&root.join(format!("a/lstm/seed-{k}")), k, x, &[0.05]);
        fake_run(&root.join(format!("b/lstm/seed-{k}")), k, x + 50.0, &[0.05]);
    }
    let find = |table: &str, start: &str| {
        table
            .lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line {start:?} in\n{table}"))
            .to_owned()
    };
    // Wilcoxon's smallest two-sided p for 5 pairs: 2 / 2^5.
    let paired = find(
        &script("compare.py", &[s(root)]),
        "| lstm | a | b | paired, 5 |",
    );
    assert!(
        paired.contains("| too few runs to tell (p ≥ 0.0625 whatever the data) |"),
        "{paired}"
    );
    // Mann-Whitney, every b above every a: p = 2 / C(10, 5) = 2 / 252.
    let table = script("compare.py", &[s(root), "--unpaired"]);
    let unpaired = find(&table, "| lstm | a | b | independent, 5 vs 5 | – |");
    assert!(
        unpaired.contains("| -50.00 [") && unpaired.contains("| **different** (p = 0.00794) |"),
        "{unpaired}"
    );
}

#[test]
fn compare_tests_paired_and_independent_sets_on_constructed_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    for k in 1..=10u64 {
        let x = 45.0 + 5.0 * k as f64; // 50, 55, .., 95
                                       // a learns in epoch 3; b is 10 points worse in every seed and never learns.
        fake_run(
            &root.join(format!("a/lstm/seed-{k}")),
            k,
            x,
            &[0.05, 0.02, 0.005],
        );
        fake_run(
            &root.join(format!("b/lstm/seed-{k}")),
            k,
            x - 10.0,
            &[0.05, 0.05, 0.05],
        );
        // c: a's values from Keras's blog path, whose seeds name other data:
        // an independent set from the same distribution, never paired.
        let c = root.join(format!("c/lstm/seed-{k}"));
        fake_run(&c, k, x, &[0.05, 0.02, 0.005]);
        let mut summary = json(&c.join("summary.json"));
        summary["path"] = serde_json::json!("blog");
        fs::write(c.join("summary.json"), summary.to_string()).unwrap();
    }
    let table = script("compare.py", &[s(root)]);
    let line = |start: &str| {
        table
            .lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line {start:?} in\n{table}"))
            .to_owned()
    };
    // numpy: percentile([50..95], [25, 50, 75]) = 61.25, 72.5, 83.75
    let a = line("| lstm | a | 10 |");
    assert!(a.contains("| 72.50 [61.25, 83.75] % |"), "{a}");
    assert!(a.contains("| 50.00 .. 95.00 % | 10/10 | 3 (3..3) |"), "{a}");
    assert!(line("| lstm | b | 10 |").ends_with("| 0/10 | never |"));
    // Paired, +10 in all 10 seeds: exact Wilcoxon p = 2 / 2^10 = 0.00195.
    // Their losses agree in epoch 1 only (0.05), then part: 1 epoch in step.
    let ab = line("| lstm | a | b | paired, 10 | 1 (1..1) |");
    assert!(
        ab.contains("| +10.00 [+10.00, +10.00] (first ahead in 10, second in 0 of 10) | **different** (p = 0.00195) |"),
        "{ab}"
    );
    // Epochs to learn: 3 against never (counted as 4): -1 in every seed,
    // so the first set learns sooner in all 10.
    assert!(ab.ends_with("| -1.00 [-1.00, -1.00] (first sooner in 10, second in 0 of 10) | **different** (p = 0.00195) |"), "{ab}");
    // Same values under other seeds: independent, no difference at all.
    let ac = line("| lstm | a | c | independent, 10 vs 10 | – |");
    assert!(ac.contains("| no detectable difference (p = 1) |"), "{ac}");
    // --pairs lists each seed's differences: seed 1, a 50 % learning in
    // epoch 3, b 40 % never (counted as 4).
    let pairs = script("compare.py", &[s(root), "--pairs", "a:b"]);
    assert!(
        pairs.contains("\n| 1 | 1 | 50.00 | 40.00 | +10.00 | 3 | – | -1 |\n"),
        "{pairs}"
    );
    let bad = script_error("compare.py", &[s(root), "--pairs", "a:zz"]);
    assert!(
        bad.contains("--pairs: a:zz is not two sets of a, b, c"),
        "{bad}"
    );
    // A published single run (shown with --published only) can never be
    // told apart from 10 seeds.
    assert!(
        !table.contains("blog ("),
        "published runs unasked:\n{table}"
    );
    let published = script("compare.py", &[s(root), "--published"]);
    let blog = published
        .lines()
        .find(|l| l.starts_with("| lstm | blog (92.95 %, 1 run) | a |"))
        .unwrap_or_else(|| panic!("no published row in\n{published}"));
    assert!(
        blog.contains("too few runs to tell (p ≥ 0.182 whatever the data)"),
        "{blog}"
    );
}

#[test]
fn plot_draws_strips_of_correctness_and_of_the_plateau_end() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    for k in 1..=3u64 {
        // "soon" learns in epoch 2 or 3; "never" and "also-never" stay on their plateau.
        fake_run(
            &root.join(format!("also-never/lstm/seed-{k}")),
            k,
            12.0,
            &[0.05, 0.05, 0.05],
        );
        let learned: &[f64] = if k == 1 {
            &[0.05, 0.005, 0.004]
        } else {
            &[0.05, 0.02, 0.005]
        };
        fake_run(&root.join(format!("soon/lstm/seed-{k}")), k, 90.0, learned);
        fake_run(
            &root.join(format!("never/lstm/seed-{k}")),
            k,
            10.0,
            &[0.05, 0.05, 0.05],
        );
    }
    let plots = root.join("plots");
    let out = script(
        "plot.py",
        &[
            "--out",
            s(&plots),
            s(&root.join("never")),
            s(&root.join("also-never")),
        ],
    );
    assert_png(&plots.join("correctness-strip.png"));
    assert!(
        !plots.join("epochs-strip.png").exists(),
        "no run learned, yet an epochs strip was drawn:\n{out}"
    );
    script(
        "plot.py",
        &[
            "--out",
            s(&plots),
            "--strips-only",
            s(&root.join("soon")),
            s(&root.join("never")),
        ],
    );
    assert_png(&plots.join("epochs-strip.png"));
    assert!(
        !plots.join("soon-curves.png").exists(),
        "--strips-only drew curves"
    );
    // A threshold no run reaches: nothing learned, no strip.
    fs::remove_file(plots.join("epochs-strip.png")).unwrap();
    script(
        "plot.py",
        &[
            "--out",
            s(&plots),
            "--threshold",
            "0.001",
            s(&root.join("soon")),
            s(&root.join("never")),
        ],
    );
    assert!(!plots.join("epochs-strip.png").exists());
    // Strips of a model no set ran: a clear error, not an empty figure.
    let none = script_error(
        "plot.py",
        &[
            "--strips-only",
            "--models",
            "gru",
            "--out",
            s(&plots),
            s(&root.join("soon")),
            s(&root.join("never")),
        ],
    );
    assert!(
        none.starts_with("plot: no runs of --models gru under "),
        "{none}"
    );
}

#[test]
fn compare_and_plot_read_a_sweep_over_two_lengths_next_to_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sweep");
    let grid = [
        "sweep",
        "--tasks",
        "multiply,blog-add",
        "--models",
        "rnn,lstm",
        "--seq-lens",
        "5,8",
        "--seeds",
        "1..2",
    ];
    run_ok(&with(
        &with(&grid, TINY),
        &["--epochs", "2", "--jobs", "2", "--quiet", "--out", s(&out)],
    ));
    let printed = script("plot.py", &[s(&out)]);
    for png in ["sweep-curves.png", "correctness-vs-length.png"] {
        assert_png(&out.join(png));
        assert!(
            printed.contains(&format!("plot: wrote {}", out.join(png).display())),
            "{printed}"
        );
    }
    // One cell per task, model and length: "seed 1" never appears twice in a cell.
    let table = script("compare.py", &[s(&out)]);
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.contains("| sweep | 2 |"))
        .collect();
    assert_eq!(rows.len(), 8, "2 tasks x 2 models x 2 lengths:\n{table}");
    assert!(
        table.contains("| multiply, rnn, seq_len 5 | sweep | 2 |"),
        "{table}"
    );
    assert!(
        table.contains("| blog-add, lstm, seq_len 8 | sweep | 2 |"),
        "{table}"
    );
    // --by model: rnn against lstm within each task and length, paired by seed.
    let by = script("compare.py", &[s(&out), "--by", "model"]);
    let pairs: Vec<&str> = by
        .lines()
        .filter(|l| l.contains("| rnn | lstm | paired, 2 |"))
        .collect();
    assert_eq!(pairs.len(), 4, "{by}");
    assert!(
        by.contains("| sweep, blog-add, seq_len 8 | rnn | lstm | paired, 2 |"),
        "{by}"
    );
    let err = script_error("compare.py", &[s(&out), "--by", "colour"]);
    assert_eq!(
        err.trim(),
        "compare: --by colour: the axes that vary here are task, model, seq_len (or set)"
    );
    let err = script_error("plot.py", &[s(&out.join("logs"))]);
    assert!(
        err.starts_with("plot: no runs (folders with summary.json) under "),
        "{err}"
    );
}

/// Asserts a failed script: exit 1, one line on stderr containing `expected`.
fn one_line(out: &std::process::Output, expected: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(lines.len(), 1, "not one line:\n{err}");
    assert!(lines[0].contains(expected), "{err}");
}

/// A `--force` rerun that must fail in one line and leave the old run's
/// summary.json byte for byte.
fn refused_keeping(run: &Path, before: &[u8], out: &std::process::Output, expected: &str) {
    one_line(out, expected);
    assert_eq!(
        fs::read(run.join("summary.json")).unwrap(),
        before,
        "a failed replacement emptied the run"
    );
}

fn run_script(python: &Path, name: &str, args: &[&str]) -> std::process::Output {
    python_script_with(python, name)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_python_scripts_check_before_they_replace_and_fail_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |name: &str| tmp.path().join(name);
    let size = [
        "--model",
        "rnn",
        "--samples",
        "240",
        "--fit-rows",
        "200",
        "--units",
        "4",
        "--seq-len",
        "6",
        "--epochs",
        "1",
        "-q",
    ];
    let reference = |extra: &[&str]| run_script(&python(), "reference.py", &with(&size, extra));
    assert!(reference(&["--out", s(&p("ref1"))]).status.success());
    let before = fs::read(p("ref1/summary.json")).unwrap();
    let ref1 = |extra: &[&str]| reference(&with(&["--out", s(&p("ref1")), "--force"], extra));
    refused_keeping(
        &p("ref1"),
        &before,
        &ref1(&["--init-from", "/nonexistent.safetensors"]),
        "--init-from /nonexistent.safetensors: no such file",
    );
    fs::write(p("junk.safetensors"), "not safetensors").unwrap();
    refused_keeping(
        &p("ref1"),
        &before,
        &ref1(&["--init-from", s(&p("junk.safetensors"))]),
        "cannot load it into a rnn",
    );
    one_line(
        &reference(&["--out", s(&p("ref2")), "--batch-size", "0"]),
        "--batch-size must be at least 1, got 0",
    );
    assert!(!p("ref2").exists());

    let keras_python = repo().join(".venv-keras/bin/python");
    let keras = |extra: &[&str]| {
        let size: Vec<&str> = size.iter().copied().filter(|a| *a != "--init").collect();
        run_script(&keras_python, "keras_reference.py", &with(&size, extra))
    };
    assert!(keras(&["--out", s(&p("k1"))]).status.success());
    let before = fs::read(p("k1/summary.json")).unwrap();
    let k1 = |data: &Path| keras(&["--out", s(&p("k1")), "--force", "--data", s(data)]);
    refused_keeping(
        &p("k1"),
        &before,
        &k1(&p("junk.safetensors")),
        "is not a safetensors file",
    );
    // rnn-lab's data file without its x: named, the old run kept.
    let data = p("d.safetensors");
    run_ok(&with(
        &with(
            &[
                "train",
                "--model",
                "rnn",
                "--seq-len",
                "6",
                "--epochs",
                "1",
                "-q",
            ],
            TINY,
        ),
        &["--out", s(&p("r")), "--save-data", s(&data)],
    ));
    let mut bytes = fs::read(&data).unwrap();
    let at = bytes.windows(3).position(|w| w == b"\"x\"").unwrap();
    bytes[at + 1] = b'w'; // the header names the tensor "w": no "x" left
    fs::write(p("no-x.safetensors"), &bytes).unwrap();
    refused_keeping(
        &p("k1"),
        &before,
        &k1(&p("no-x.safetensors")),
        "has no tensor 'x'",
    );
    // A cell rnn-lab has and Keras has no layer for: one line, nothing kept from it.
    refused_keeping(
        &p("k1"),
        &before,
        &keras(&["--out", s(&p("k1")), "--force", "--model", "lru"]),
        "--model lru: Keras has no such layer; the Keras reference runs rnn, irnn, lstm, gru",
    );

    // The readers: a corrupt summary, a corrupt or cut history.
    let set = p("set");
    fake_run(&set.join("lstm/seed-1"), 1, 50.0, &[0.05, 0.02]);
    fs::write(set.join("lstm/seed-1/summary.json"), "{\"config\": ").unwrap();
    for script in ["compare.py", "plot.py"] {
        let out = run_script(&python(), script, &[s(&set)]);
        one_line(&out, "is not a readable summary.json");
    }
    fake_run(&set.join("lstm/seed-1"), 1, 50.0, &[0.05, 0.02]);
    fs::write(
        set.join("lstm/seed-1/history.csv"),
        "epoch,loss,val_loss\n0,0.05,abc\n",
    )
    .unwrap();
    one_line(
        &run_script(&python(), "compare.py", &[s(&set)]),
        "is not a readable history.csv",
    );
    // A history cut short of what its summary says.
    fake_run(&set.join("lstm/seed-1"), 1, 50.0, &[0.05, 0.02, 0.01]);
    let mut summary = json(&set.join("lstm/seed-1/summary.json"));
    summary["epochs_run"] = 5.into();
    fs::write(set.join("lstm/seed-1/summary.json"), summary.to_string()).unwrap();
    one_line(
        &run_script(&python(), "plot.py", &[s(&set)]),
        "has 3 epochs but its summary.json says 5",
    );
}

/// The ```python block that follows `marker` in a docs page, as a reader
/// copies it.
fn docs_python_block(page: &str, marker: &str) -> String {
    let text = fs::read_to_string(repo().join(page)).unwrap();
    let (_, after) = text
        .split_once(marker)
        .unwrap_or_else(|| panic!("{page}: no {marker:?}"));
    let body = after
        .trim_start()
        .strip_prefix("```python\n")
        .unwrap_or_else(|| panic!("{page}: no ```python block right after {marker:?}"));
    let (code, _) = body
        .split_once("\n```")
        .unwrap_or_else(|| panic!("{page}: the block after {marker:?} never ends"));
    format!("{code}\n")
}

/// The middle value, or the mean of the two middle ones (as pandas').
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// docs/studies.md's pandas example, run as written from a folder holding
/// runs/blog, prints each model's median over seeds of its runs' last
/// val_loss, as curves.csv holds them.
#[test]
fn the_docs_pandas_example_reads_a_studys_curves() {
    let tmp = tempfile::tempdir().unwrap();
    let study = tmp.path().join("runs/blog");
    run_ok(&with(
        &with(
            &[
                "reproduce",
                "--models",
                "rnn,lstm",
                "--seeds",
                "1..3",
                "--seq-len",
                "10",
            ],
            TINY,
        ),
        &[
            "--epochs",
            "2",
            "--pack",
            "1",
            "--quiet",
            "--out",
            s(&study),
        ],
    ));
    let code = docs_python_block(
        "docs/studies.md",
        "<!-- tests/scripts.rs runs this block -->",
    );
    let out = Command::new(python())
        .arg("-c")
        .arg(&code)
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{code}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();

    let rows = csv_rows(&study.join("curves.csv"));
    let column = |name: &str| rows[0].iter().position(|c| c == name).unwrap();
    let (run, model, epoch, val_loss) = (
        column("run"),
        column("model"),
        column("epoch"),
        column("val_loss"),
    );
    // Rows come in epoch order per run: the last one seen is the last epoch.
    let mut last: Vec<(String, String, u64, f64)> = Vec::new();
    for row in &rows[1..] {
        let e: u64 = row[epoch].parse().unwrap();
        let v: f64 = row[val_loss].parse().unwrap();
        match last.iter_mut().find(|l| l.0 == row[run]) {
            Some(l) if e > l.2 => (l.2, l.3) = (e, v),
            Some(_) => {}
            None => last.push((row[run].clone(), row[model].clone(), e, v)),
        }
    }
    assert_eq!(last.len(), 6, "2 models x 3 seeds in curves.csv: {rows:?}");
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.first(), Some(&"model"), "{printed}");
    let medians: Vec<(&str, f64)> = lines[1..]
        .iter()
        .map(|l| {
            let (name, value) = l.split_once(' ').unwrap_or_else(|| panic!("{printed}"));
            (
                name,
                value.trim().parse().unwrap_or_else(|_| panic!("{printed}")),
            )
        })
        .collect();
    let names: Vec<&str> = medians.iter().map(|m| m.0).collect();
    assert_eq!(names, ["lstm", "rnn"], "{printed}");
    for (name, shown) in medians {
        let want = median(last.iter().filter(|l| l.1 == name).map(|l| l.3).collect());
        // pandas prints 6 decimals.
        assert!(
            (shown - want).abs() <= 1e-6 + 1e-5 * want.abs(),
            "{name}: printed {shown}, curves.csv gives {want}:\n{printed}"
        );
    }
}

fn write_executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// scripts/blog.sh shows and runs `rnn-lab reproduce` with one --out: the
/// user's when given (as `--out DIR` or `--out=DIR`), else runs/blog. Run
/// in a scratch clone whose setup.sh and cargo do nothing and whose
/// target/release/rnn-lab is this build's, so nothing is installed or built.
#[test]
fn blog_sh_runs_reproduce_with_the_users_out_or_runs_blog() {
    let tmp = tempfile::tempdir().unwrap();
    let clone = tmp.path().join("clone");
    let scripts = clone.join("scripts");
    fs::create_dir_all(&scripts).unwrap();
    for name in ["blog.sh", "lib.sh"] {
        fs::copy(repo().join("scripts").join(name), scripts.join(name)).unwrap();
    }
    write_executable(&scripts.join("setup.sh"), "#!/bin/sh\nexit 0\n");
    let tools = tmp.path().join("bin");
    fs::create_dir_all(&tools).unwrap();
    write_executable(&tools.join("cargo"), "#!/bin/sh\nexit 0\n");
    fs::create_dir_all(clone.join("target/release")).unwrap();
    std::os::unix::fs::symlink(bin_path(), clone.join("target/release/rnn-lab")).unwrap();
    let path = format!(
        "{}:{}",
        tools.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let blog = |args: &[&str]| {
        let out = Command::new("bash")
            .arg(scripts.join("blog.sh"))
            .args(args)
            .env("PATH", &path)
            .env("RNN_LAB_CACHE", tmp.path().join("cache"))
            // The scratch clone's target/ holds the binary, not cargo's.
            .env_remove("CARGO_TARGET_DIR")
            .current_dir(tmp.path())
            .output()
            .unwrap();
        let printed = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "blog.sh {args:?}:\n{printed}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        printed
    };
    let echoed = |printed: &str| -> Vec<String> {
        printed
            .lines()
            .filter(|l| l.starts_with("blog: "))
            .map(str::to_owned)
            .collect()
    };
    let flags = ["--dry-run", "--pack", "1", "--epochs", "1"];
    let mine = tmp.path().join("mine");
    let equals = format!("--out={}", mine.display());
    for given in [vec!["--out", s(&mine)], vec![equals.as_str()]] {
        let printed = blog(&with(&given, &flags));
        assert_eq!(
            echoed(&printed),
            [format!(
                "blog: target/release/rnn-lab reproduce {} --dry-run --pack 1 --epochs 1",
                given.join(" ")
            )],
            "{printed}"
        );
        assert!(
            printed.contains(&format!("study {}: ", mine.display())),
            "{printed}"
        );
        assert!(!printed.contains("runs/blog"), "{printed}");
    }
    let printed = blog(&flags);
    assert_eq!(
        echoed(&printed),
        ["blog: target/release/rnn-lab reproduce --out runs/blog --dry-run --pack 1 --epochs 1"],
        "{printed}"
    );
    assert!(printed.contains("study runs/blog: "), "{printed}");
    assert!(
        !mine.exists() && !clone.join("runs").exists(),
        "a dry run wrote"
    );
}

/// The Python scripts take rnn-lab's lists from `rnn-lab info --json`:
/// its tasks (an old name read as today's, an unknown one refused in
/// rnn-lab's words, never drawn as another task), each task's shape, and
/// the limits of the settings; --help alone works without a build.
#[test]
fn the_scripts_ask_rnn_lab_for_its_tasks_shapes_and_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let refused = |args: &[&str], expected: &str| {
        let run = run_script(&python(), "reference.py", &with(args, &["--out", s(&out)]));
        one_line(&run, expected);
        assert_eq!(String::from_utf8_lossy(&run.stderr).trim(), expected);
        assert!(!out.exists(), "reference.py {args:?} wrote before refusing");
    };
    refused(
        &["--task", "sum"],
        "reference: unknown task 'sum' (expected one of: multiply, blog-add, add-halves, hs-add, \
         hs-multiply, copy, order)",
    );
    refused(
        &["--units", "20000"],
        "reference: --units must be at most 16384, got 20000",
    );
    refused(
        &["--task", "hs-add", "--seq-len", "21"],
        "reference: --seq-len must be at least 22 for the hs-add task, got 21",
    );
    refused(
        &["--model", "transformer"],
        "reference: unknown model 'transformer' (expected one of: rnn, irnn, lstm, gru, indrnn, mingru, minlstm, lru)",
    );

    // The old name trains blog-add, and its summary says so.
    let small = [
        "--samples",
        "240",
        "--fit-rows",
        "200",
        "--units",
        "4",
        "--seq-len",
        "6",
        "--epochs",
        "1",
        "-q",
    ];
    let run = run_script(
        &python(),
        "reference.py",
        &with(&with(&["--task", "add"], &small), &["--out", s(&out)]),
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        json(&out.join("summary.json"))["config"]["task"],
        "blog-add"
    );

    // tasks.shape is rnn-lab's; an unknown task is an error, not order's shape.
    let shapes = Command::new(python())
        .arg("-c")
        .arg(
            "import sys; sys.path.insert(0, sys.argv[1]); import tasks\n\
              print(tasks.shape('copy'), tasks.shape('add'))\ntasks.shape('sum')",
        )
        .arg(repo().join("scripts"))
        .env("RNN_LAB_BIN", bin_path())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&shapes.stdout),
        "(10, 9, 'every-step', 'cross-entropy') (2, 1, 'last', 'mse')\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&shapes.stderr).trim(),
        "-c: unknown task 'sum' (expected one of: multiply, blog-add, add-halves, hs-add, \
         hs-multiply, copy, order)"
    );
    assert_eq!(shapes.status.code(), Some(1));

    // --help names the lists when a build answers, and works without one.
    let help = |bin: &Path| {
        let out = python_script("reference.py")
            .arg("--help")
            .env("RNN_LAB_BIN", bin)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(
        help(&bin_path()).contains("--task TASK as rnn-lab train: multiply, blog-add, add-halves,"),
        "{}",
        help(&bin_path())
    );
    let without = help(Path::new("/nonexistent/rnn-lab"));
    assert!(
        without
            .contains("--task TASK as rnn-lab train: `rnn-lab info` lists them (default multiply)"),
        "{without}"
    );
    // Asked for more than --help, a missing build is one line that says what to do.
    let missing = python_script("reference.py")
        .args(["--out", s(&out)])
        .env("RNN_LAB_BIN", "/nonexistent/rnn-lab")
        .output()
        .unwrap();
    one_line(
        &missing,
        "reference: cannot ask /nonexistent/rnn-lab for its tasks, cells and limits \
         (build it with cargo build --release, or set RNN_LAB_BIN)",
    );
}
