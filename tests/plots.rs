//! What scripts/plot.py draws, read back from its `--describe` files (a
//! JSON beside each PNG listing the figure's title, axes, legends and
//! reference lines, taken from the drawn figure): titles that say the task,
//! length, budget and seeds; shared y-axes; one legend per figure; the
//! learned criterion, the learning-nothing baseline and chance drawn as
//! labelled lines; lines at 100 % kept apart; "never" inside its panel.

mod common;

use std::{fs, path::Path};

use common::*;
use serde_json::Value;

/// Runs plot.py with `--describe` and this build's rnn-lab; panics with its
/// stderr on failure.
fn plot(args: &[&str]) -> String {
    let out = python_script("plot.py")
        .arg("--describe")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "plot.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The description plot.py wrote beside `png`.
fn described(png: &Path) -> Value {
    assert!(png.exists(), "{} not drawn", png.display());
    json(&png.with_extension("json"))
}

fn title(figure: &Value) -> &str {
    figure["title"].as_str().unwrap()
}

/// The labels of a figure's horizontal reference lines, over all panels.
fn references(figure: &Value) -> Vec<String> {
    figure["axes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["references"].as_array().unwrap())
        .map(|r| r["label"].as_str().unwrap().to_owned())
        .collect()
}

fn reference_at(figure: &Value, start: &str) -> Vec<f64> {
    figure["axes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["references"].as_array().unwrap())
        .filter(|r| r["label"].as_str().unwrap().starts_with(start))
        .map(|r| r["y"].as_f64().unwrap())
        .collect()
}

/// Shared y, one legend for the figure and none in a panel.
fn assert_one_legend_and_shared_y(figure: &Value) {
    assert_eq!(figure["sharey"], true, "{figure:#}");
    assert_eq!(figure["figure_legends"], 1, "{figure:#}");
    assert_eq!(figure["axes_legends"], 0, "{figure:#}");
}

/// A study of two models on a regression and a classification task at two
/// lengths: curves and correctness against length.
#[test]
fn study_figures_say_what_was_run_and_draw_their_references() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("my-folder");
    let grid = [
        "sweep",
        "--tasks",
        "multiply,order",
        "--models",
        "rnn,lstm",
        "--seq-lens",
        "20,24",
        "--seeds",
        "1..2",
    ];
    run_ok(&with(
        &with(&grid, TINY),
        &["--epochs", "2", "--jobs", "2", "--quiet", "--out", s(&out)],
    ));
    plot(&[s(&out)]);

    let curves = described(&out.join("my-folder-curves.png"));
    assert_one_legend_and_shared_y(&curves);
    let t = title(&curves);
    assert!(!t.contains("my-folder"), "titled with the folder: {t}");
    // TINY: 200 fit rows, 160 of them for training.
    for part in ["2 epochs x 160 training sequences", "2 seeds"] {
        assert!(t.contains(part), "no {part:?} in {t:?}");
    }
    // Tasks and lengths vary: each panel names its own.
    let panels: Vec<&str> = curves["axes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    for part in ["multiply", "order", "length 20", "length 24"] {
        assert!(
            panels.iter().any(|p| p.contains(part)),
            "no panel names {part:?}: {panels:?}"
        );
    }
    let criterion = reference_at(&curves, "criterion");
    assert!(
        !criterion.is_empty() && criterion.iter().all(|&y| y == 0.01),
        "{:?}",
        references(&curves)
    );
    // The multiply panels: predicting the mean scores about 0.05.
    let baseline = reference_at(&curves, "predicting the mean");
    assert!(
        !baseline.is_empty() && baseline.iter().all(|&y| (0.02..0.1).contains(&y)),
        "{:?}",
        references(&curves)
    );
    // The order panels: chance's cross-entropy, ln 4.
    let chance = reference_at(&curves, "chance");
    assert!(
        chance.iter().any(|&y| (y - 4f64.ln()).abs() < 1e-6),
        "{:?}",
        references(&curves)
    );

    let vs = described(&out.join("correctness-vs-length.png"));
    assert_one_legend_and_shared_y(&vs);
    let t = title(&vs);
    assert!(!t.contains("my-folder"), "{t}");
    for part in ["2 epochs x 160 training sequences", "2 seeds"] {
        assert!(t.contains(part), "no {part:?} in {t:?}");
    }
    for panel in vs["axes"].as_array().unwrap() {
        let name = panel["title"].as_str().unwrap();
        let chance = panel["references"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["label"].as_str().unwrap().starts_with("chance"))
            .map(|r| r["y"].as_f64().unwrap())
            .collect::<Vec<_>>();
        if name.starts_with("order") {
            assert_eq!(chance, [25.0], "{panel:#}");
        } else {
            assert!(chance.is_empty(), "chance on a regression: {panel:#}");
        }
        // Room above 100 %, and no line hidden exactly under another.
        assert!(panel["ylim"][1].as_f64().unwrap() > 100.0, "{panel:#}");
        let lines = panel["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 2, "{panel:#}");
        assert_ne!(lines[0]["x"], lines[1]["x"], "{panel:#}");
        assert_ne!(lines[0]["marker"], lines[1]["marker"], "{panel:#}");
    }
}

/// Writes a run folder with what plot.py reads: a multiply run of the
/// blog's settings with a constant-mean baseline of 0.05.
fn fake_run(dir: &Path, seed: u64, model: &str, correctness: f64, val_losses: &[f64]) {
    fs::create_dir_all(dir).unwrap();
    let summary = serde_json::json!({
        "config": {"seed": seed, "model": model},
        "split": {"train": 2048, "val": 512, "test": 440},
        "correctness": correctness,
        "baseline_mse": 0.05,
    });
    fs::write(dir.join("summary.json"), summary.to_string()).unwrap();
    let mut history = String::from("epoch,loss,val_loss,seconds,train_seconds\n");
    for (e, v) in val_losses.iter().enumerate() {
        history += &format!("{e},{v},{v},1.0,1.0\n");
    }
    fs::write(dir.join("history.csv"), history).unwrap();
}

/// Two sets of runs: the strips, one legend each, and "never" inside its panel.
#[test]
fn strips_have_one_legend_and_never_stays_in_its_panel() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    for set in ["a-set-with-a-long-name", "another-set-with-a-long-name"] {
        for model in ["rnn", "lstm"] {
            for k in 1..=3u64 {
                let learned: &[f64] = if model == "lstm" && k > 1 {
                    &[0.05, 0.02, 0.005]
                } else {
                    &[0.05, 0.05, 0.05]
                };
                fake_run(
                    &root.join(format!("{set}/{model}/seed-{k}")),
                    k,
                    model,
                    if learned[2] < 0.01 { 90.0 } else { 10.0 },
                    learned,
                );
            }
        }
    }
    let plots = root.join("plots");
    plot(&[
        "--out",
        s(&plots),
        s(&root.join("a-set-with-a-long-name")),
        s(&root.join("another-set-with-a-long-name")),
    ]);
    for png in ["correctness-strip.png", "epochs-strip.png"] {
        let figure = described(&plots.join(png));
        assert_one_legend_and_shared_y(&figure);
        let t = title(&figure);
        for part in [
            "multiply",
            "length 100",
            "3 epochs x 2048 training sequences",
            "3 seeds",
        ] {
            assert!(t.contains(part), "{png}: no {part:?} in {t:?}");
        }
    }
    let epochs = described(&plots.join("epochs-strip.png"));
    let texts: Vec<&Value> = epochs["axes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["texts"].as_array().unwrap())
        .filter(|t| t["text"].as_str().unwrap().contains("never"))
        .collect();
    assert!(!texts.is_empty(), "{epochs:#}");
    for text in texts {
        assert_eq!(text["inside"], true, "spills out of its panel: {text:#}");
    }
    // The blog's experiment: the published runs, once in the legend.
    let strip = described(&plots.join("correctness-strip.png"));
    assert!(
        references(&strip).iter().any(|l| l.contains("textbook")),
        "{strip:#}"
    );
}
