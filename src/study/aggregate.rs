//! `rnn-lab aggregate`: gathers the runs of one sweep (from any number of
//! shards copied into one folder), checks they belong to its grid, and
//! writes per-cell statistics (see `stats`) as CSV, JSON and Markdown.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::grid::{read_manifest, MANIFEST};
use crate::config::{Cell, InitScheme, Task};
use crate::stats::{markdown_headers, RunSetStats};
use crate::store::text::{markdown_table, sci};
use crate::store::{write_atomic, FinishedRun, HISTORY, SUMMARY};

/// Statistics of one (task, model, init, length) cell over its seeds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CellStats {
    pub task: Task,
    pub model: Cell,
    pub init: InitScheme,
    pub seq_len: i64,
    /// Runs of the grid in this cell without a finished run folder.
    pub missing: usize,
    #[serde(flatten)]
    pub stats: RunSetStats,
}

impl CellStats {
    pub fn missing_total(rows: &[CellStats]) -> usize {
        rows.iter().map(|r| r.missing).sum()
    }
}

/// Aggregates the sweep in `dir`; `threshold` is the val_loss that counts
/// as learned.
pub fn aggregate(dir: &Path, threshold: f64) -> Result<Vec<CellStats>> {
    if !(threshold.is_finite() && threshold > 0.0) {
        bail!("--val-threshold must be a positive number, got {threshold}");
    }
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
        if !path.join(HISTORY).exists() && !path.join(SUMMARY).exists() {
            continue;
        }
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let Some(config) = known.get(name.as_str()) else {
            bail!(
                "{} is a run that is not in {MANIFEST}'s grid; move it out or aggregate its own sweep",
                path.display()
            );
        };
        if let Some(run) = FinishedRun::read(&path)? {
            if run.summary.config != **config {
                bail!(
                    "{} was run with other settings than {MANIFEST} lists for it",
                    path.display()
                );
            }
        }
    }
    // (task, model, init, length) -> (finished runs, missing runs)
    type Key = (Task, Cell, InitScheme, i64);
    let mut cells: BTreeMap<Key, (Vec<FinishedRun>, usize)> = BTreeMap::new();
    for run in &manifest.runs {
        let c = &run.config;
        let cell = cells
            .entry((c.task, c.model, c.init, c.seq_len))
            .or_default();
        match FinishedRun::read(&dir.join(&run.name))? {
            Some(f) => cell.0.push(f),
            None => cell.1 += 1,
        }
    }
    Ok(cells
        .into_iter()
        .map(
            |((task, model, init, seq_len), (runs, missing))| CellStats {
                task,
                model,
                init,
                seq_len,
                missing,
                stats: RunSetStats::of(&runs, threshold),
            },
        )
        .collect())
}

/// aggregate.csv: one line per cell, plain numbers, empty where undefined.
pub fn csv_text(rows: &[CellStats]) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let keys = ["task", "model", "init", "seq_len", "missing"];
    if let Some(first) = rows.first() {
        let names = first.stats.columns().into_iter().map(|(n, _)| n);
        w.write_record(keys.into_iter().chain(names))?;
    }
    for r in rows {
        let key = [
            r.task.to_string(),
            r.model.to_string(),
            r.init.to_string(),
            r.seq_len.to_string(),
            r.missing.to_string(),
        ];
        w.write_record(
            key.into_iter()
                .chain(r.stats.columns().into_iter().map(|(_, v)| v)),
        )?;
    }
    Ok(w.into_inner()?)
}

/// aggregate.md: one table per task.
pub fn markdown(rows: &[CellStats], threshold: f64) -> String {
    let mut headers: Vec<String> = ["model", "init", "length", "n"].map(String::from).to_vec();
    headers.extend(markdown_headers(threshold));
    headers.extend(["test MSE (mean)", "baseline MSE", "missing"].map(String::from));
    let mut text = String::new();
    let mut tasks: Vec<Task> = rows.iter().map(|r| r.task).collect();
    tasks.dedup();
    for task in tasks {
        let lines: Vec<Vec<String>> = rows
            .iter()
            .filter(|r| r.task == task)
            .map(|r| {
                let mut cells = vec![
                    r.model.to_string(),
                    r.init.to_string(),
                    r.seq_len.to_string(),
                    r.stats.runs.to_string(),
                ];
                cells.extend(r.stats.markdown_cells());
                cells.extend([
                    sci(r.stats.test_mse_mean),
                    sci(r.stats.baseline_mse_mean),
                    r.missing.to_string(),
                ]);
                cells
            })
            .collect();
        text += &format!("### {task}\n\n{}\n", markdown_table(&headers, &lines));
    }
    text
}

/// Aggregates `dir` and writes aggregate.csv, aggregate.json and
/// aggregate.md into it.
pub fn write(dir: &Path, threshold: f64) -> Result<(Vec<CellStats>, PathBuf)> {
    let rows = aggregate(dir, threshold)?;
    write_atomic(&dir.join("aggregate.csv"), &csv_text(&rows)?)?;
    write_atomic(
        &dir.join("aggregate.json"),
        (serde_json::to_string_pretty(&rows)? + "\n").as_bytes(),
    )?;
    let md = dir.join("aggregate.md");
    write_atomic(&md, markdown(&rows, threshold).as_bytes())?;
    Ok((rows, md))
}
