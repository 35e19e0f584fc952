//! `rnn-lab inspect`: a committed run's states and gates as CSV, whose
//! answers are the run's own predictions, drawn by `scripts/plot.py
//! --inspect` with the marked steps; and its refusals in one line.

mod common;

use std::{collections::HashMap, fs, path::Path};

use common::*;

/// The committed blog runs (seed 1 at the blog's settings).
fn committed(model: &str) -> std::path::PathBuf {
    repo().join(format!("results/blog-cpu/rnn-lab/{model}/seed-1"))
}

/// The CSV's rows as maps of column to value.
fn rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    reader
        .records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(String::from))
                .collect()
        })
        .collect()
}

#[test]
fn inspect_writes_each_steps_state_and_gates_and_the_runs_own_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("lstm.csv");
    let stdout = run_ok(&[
        "inspect",
        s(&committed("lstm")),
        "--rows",
        "2",
        "--out",
        s(&out),
    ]);
    // 2 rows x 100 steps x 2 layers x 30 units x 6 quantities (h, c, 4 gates).
    assert_eq!(
        stdout.trim_end(),
        format!(
            "wrote {}: 72000 rows (row, step, layer, quantity, unit, value, input, marker, target, prediction)",
            out.display()
        )
    );
    let text = fs::read_to_string(&out).unwrap();
    assert_eq!(
        text.lines().next().unwrap(),
        "row,step,layer,quantity,unit,value,input,marker,target,prediction"
    );
    let all = rows(&out);
    assert_eq!(all.len(), 72000);
    let quantities: std::collections::BTreeSet<&str> =
        all.iter().map(|r| r["quantity"].as_str()).collect();
    assert_eq!(
        quantities.into_iter().collect::<Vec<_>>(),
        ["c", "gate_f", "gate_g", "gate_i", "gate_o", "h"]
    );
    // Two marked steps a row, and the target is the product of their values.
    for row in ["0", "1"] {
        let marked: Vec<f64> = all
            .iter()
            .filter(|r| {
                r["row"] == row && r["layer"] == "0" && r["quantity"] == "h" && r["unit"] == "0"
            })
            .filter(|r| r["marker"] == "1")
            .map(|r| r["input"].parse().unwrap())
            .collect();
        assert_eq!(marked.len(), 2, "row {row}");
        let first = all.iter().find(|r| r["row"] == row).unwrap();
        let target: f64 = first["target"].parse().unwrap();
        assert!((marked[0] * marked[1] - target).abs() < 1e-6, "row {row}");
    }
    // The answers are the run's own predictions.csv (its first test rows).
    let predictions = csv_rows(&committed("lstm").join("predictions.csv"));
    for (row, line) in ["0", "1"].iter().zip(&predictions[1..3]) {
        let first = all.iter().find(|r| r["row"] == *row).unwrap();
        let ours: f64 = first["prediction"].parse().unwrap();
        let theirs: f64 = line[2].parse().unwrap();
        assert!(
            (ours - theirs).abs() < 1e-5,
            "row {row}: {ours} vs {theirs}"
        );
        assert_eq!(first["target"], line[1]);
    }
    // Gates are in (0, 1), the cell's output is o * tanh(c).
    for r in all
        .iter()
        .filter(|r| r["quantity"].starts_with("gate_") && r["quantity"] != "gate_g")
    {
        let v: f64 = r["value"].parse().unwrap();
        assert!((0.0..=1.0).contains(&v), "{r:?}");
    }
}

#[test]
fn plot_draws_the_inspection_with_the_marked_steps() {
    let tmp = tempfile::tempdir().unwrap();
    let mut csvs = Vec::new();
    for model in ["lstm", "rnn"] {
        // Beside a copy of the run's summary.json, as inspect writes by default.
        let dir = tmp.path().join(model);
        fs::create_dir(&dir).unwrap();
        fs::copy(
            committed(model).join("summary.json"),
            dir.join("summary.json"),
        )
        .unwrap();
        let out = dir.join("inspect.csv");
        run_ok(&[
            "inspect",
            s(&committed(model)),
            "--rows",
            "1",
            "--out",
            s(&out),
        ]);
        csvs.push(out);
    }
    let png = tmp.path().join("inside.png");
    let out = python_script("plot.py")
        .args([
            "--inspect",
            s(&csvs[0]),
            s(&csvs[1]),
            "--out",
            s(&png),
            "--describe",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(fs::metadata(&png).unwrap().len() > 10_000);
    let described = json(&tmp.path().join("inside.json"));
    let panels = described["axes"].as_array().unwrap();
    let titles: Vec<&str> = panels
        .iter()
        .filter_map(|p| p["title"].as_str())
        .filter(|t| !t.is_empty())
        .collect();
    assert_eq!(
        titles,
        [
            "LSTM, multiply at 100: layer 1, state h",
            "SimpleRNN (Elman), multiply at 100: layer 1, state h",
            "layer 1, cell state c",
            "layer 2, state h",
            "layer 2, state h",
            "layer 2, cell state c",
        ]
    );
    // Each heatmap marks the row's two marked steps.
    let marked: Vec<f64> = rows(&csvs[0])
        .iter()
        .filter(|r| {
            r["layer"] == "0" && r["quantity"] == "h" && r["unit"] == "0" && r["marker"] == "1"
        })
        .map(|r| r["step"].parse().unwrap())
        .collect();
    assert_eq!(marked.len(), 2);
    let want: Vec<String> = marked.iter().map(|s| format!("marked step {s}")).collect();
    for p in panels
        .iter()
        .filter(|p| !p["title"].as_str().unwrap_or("").is_empty())
    {
        let lines: Vec<String> = p["references"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["label"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(lines, want, "{p}");
    }
}

#[test]
fn inspect_refuses_what_it_cannot_read_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, _, err) = run(&["inspect", s(tmp.path())]);
    assert!(!ok);
    assert_eq!(
        err.trim_end(),
        format!(
            "error: {} holds no finished run (no summary.json); inspect a run folder that `rnn-lab train` finished",
            tmp.path().display()
        )
    );
    let (ok, _, err) = run(&["inspect", s(&committed("rnn")), "--rows", "0"]);
    assert!(!ok);
    assert_eq!(err.trim_end(), "error: --rows must be 1 to 64, got 0");
}
