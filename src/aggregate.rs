//! `rnn-lab aggregate`: gathers the runs of one sweep (from any number of
//! shards copied into one folder), checks they belong to its grid, and
//! writes per-cell statistics as CSV and Markdown.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::config::{Cell, InitScheme, Task};
use crate::output;
use crate::report::Summary;
use crate::reproduce::mean_std;
use crate::sweep::{read_manifest, same_run, MANIFEST};

/// Statistics of one (task, model, init, length) cell over its seeds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CellStats {
    pub task: Task,
    pub model: Cell,
    pub init: InitScheme,
    pub seq_len: i64,
    pub runs: usize,
    pub missing: usize,
    pub correctness_mean: f64,
    pub correctness_std: f64,
    pub correctness_min: f64,
    pub correctness_max: f64,
    pub test_mse_mean: f64,
    /// MSE of always predicting the mean training target.
    pub baseline_mse_mean: f64,
    /// Runs whose val_loss fell below the threshold.
    pub reached: usize,
    /// Mean first epoch (from 1) with val_loss below the threshold, over
    /// the runs that reached it.
    pub epochs_to_threshold_mean: Option<f64>,
}

/// A finished run read back from its folder.
struct Finished {
    summary: Summary,
    val_losses: Vec<f64>,
}

fn read_run(dir: &Path) -> Result<Option<Finished>> {
    let summary_path = dir.join(output::SUMMARY);
    if !summary_path.exists() {
        return Ok(None);
    }
    let text = fs::read_to_string(&summary_path)
        .with_context(|| format!("cannot read {}", summary_path.display()))?;
    let summary: Summary = serde_json::from_str(&text)
        .with_context(|| format!("cannot parse {}", summary_path.display()))?;
    let history = dir.join(output::HISTORY);
    let mut reader = csv::Reader::from_path(&history)
        .with_context(|| format!("cannot read {}", history.display()))?;
    let mut val_losses = Vec::new();
    for row in reader.records() {
        let row = row.with_context(|| format!("cannot read {}", history.display()))?;
        val_losses.push(
            row[2]
                .parse()
                .with_context(|| format!("{}: bad val_loss {}", history.display(), &row[2]))?,
        );
    }
    Ok(Some(Finished {
        summary,
        val_losses,
    }))
}

/// Aggregates the sweep in `dir`; `threshold` is the val_loss that counts
/// as learned for "epochs to threshold".
pub fn aggregate(dir: &Path, threshold: f64) -> Result<Vec<CellStats>> {
    let manifest = read_manifest(dir)?.with_context(|| {
        format!(
            "{} has no {MANIFEST}: is it a sweep folder (rnn-lab sweep --out)?",
            dir.display()
        )
    })?;
    let known: BTreeMap<&str, _> = manifest
        .runs
        .iter()
        .map(|r| (r.name.as_str(), &r.config))
        .collect();
    // Every run folder must be one of the grid's, with the grid's settings.
    for entry in fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if !path.join(output::HISTORY).exists() && !path.join(output::SUMMARY).exists() {
            continue;
        }
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let Some(config) = known.get(name.as_str()) else {
            bail!(
                "{} is a run that is not in {}'s grid; move it out or aggregate its own sweep",
                path.display(),
                MANIFEST
            );
        };
        if let Some(run) = read_run(&path)? {
            if !same_run(&run.summary.config, config) {
                bail!(
                    "{} was run with other settings than {} lists for it",
                    path.display(),
                    MANIFEST
                );
            }
        }
    }
    // (task, model, init, length) -> (finished runs, missing runs)
    type Key = (Task, Cell, InitScheme, i64);
    let mut cells: BTreeMap<Key, (Vec<Finished>, usize)> = BTreeMap::new();
    for run in &manifest.runs {
        let c = &run.config;
        let cell = cells
            .entry((c.task, c.model, c.init, c.seq_len))
            .or_default();
        match read_run(&dir.join(&run.name))? {
            Some(f) => cell.0.push(f),
            None => cell.1 += 1,
        }
    }
    let mut rows = Vec::new();
    for ((task, model, init, seq_len), (runs, missing)) in cells {
        let correctness: Vec<f64> = runs.iter().map(|r| r.summary.correctness).collect();
        let (correctness_mean, correctness_std) = if runs.is_empty() {
            (f64::NAN, f64::NAN)
        } else {
            mean_std(&correctness)
        };
        let mean = |f: fn(&Finished) -> f64| runs.iter().map(f).sum::<f64>() / runs.len() as f64;
        let epochs: Vec<f64> = runs
            .iter()
            .filter_map(|r| {
                r.val_losses
                    .iter()
                    .position(|v| *v < threshold)
                    .map(|e| (e + 1) as f64)
            })
            .collect();
        rows.push(CellStats {
            task,
            model,
            init,
            seq_len,
            runs: runs.len(),
            missing,
            correctness_mean,
            correctness_std,
            correctness_min: correctness.iter().copied().fold(f64::NAN, f64::min),
            correctness_max: correctness.iter().copied().fold(f64::NAN, f64::max),
            test_mse_mean: mean(|r| r.summary.test_mse),
            baseline_mse_mean: mean(|r| r.summary.baseline_mse.unwrap_or(f64::NAN)),
            reached: epochs.len(),
            epochs_to_threshold_mean: (!epochs.is_empty())
                .then(|| epochs.iter().sum::<f64>() / epochs.len() as f64),
        });
    }
    Ok(rows)
}

/// aggregate.csv: one line per cell, plain numbers.
pub fn csv_text(rows: &[CellStats]) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r)?;
    }
    Ok(w.into_inner()?)
}

fn num(x: f64, f: impl Fn(f64) -> String) -> String {
    if x.is_nan() {
        "–".into()
    } else {
        f(x)
    }
}

/// aggregate.md: one table per task.
pub fn markdown(rows: &[CellStats], threshold: f64) -> String {
    let mut text = String::new();
    let mut tasks: Vec<Task> = rows.iter().map(|r| r.task).collect();
    tasks.dedup();
    for task in tasks {
        text += &format!(
            "### {task}\n\n| model | init | length | correctness mean ± std | min .. max | test MSE | baseline MSE | epochs to val_loss < {threshold} | runs | missing |\n\
             |---|---|---|---|---|---|---|---|---|---|\n"
        );
        for r in rows.iter().filter(|r| r.task == task) {
            text += &format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                r.model,
                r.init,
                r.seq_len,
                num(r.correctness_mean, |m| format!(
                    "{m:.2} ± {:.2} %",
                    r.correctness_std
                )),
                num(r.correctness_min, |m| format!(
                    "{m:.2} .. {:.2} %",
                    r.correctness_max
                )),
                num(r.test_mse_mean, |m| format!("{m:.3e}")),
                num(r.baseline_mse_mean, |m| format!("{m:.3e}")),
                match r.epochs_to_threshold_mean {
                    Some(e) => format!("{e:.1} ({}/{} runs)", r.reached, r.runs),
                    None => format!("never (0/{} runs)", r.runs),
                },
                r.runs,
                r.missing
            );
        }
        text += "\n";
    }
    text
}

/// Aggregates `dir` and writes aggregate.csv and aggregate.md into it.
pub fn write(dir: &Path, threshold: f64) -> Result<(Vec<CellStats>, PathBuf)> {
    if !(threshold.is_finite() && threshold > 0.0) {
        bail!("--val-threshold must be a positive number, got {threshold}");
    }
    let rows = aggregate(dir, threshold)?;
    output::write_atomic(&dir.join("aggregate.csv"), &csv_text(&rows)?)?;
    let md = dir.join("aggregate.md");
    output::write_atomic(&md, markdown(&rows, threshold).as_bytes())?;
    Ok((rows, md))
}
