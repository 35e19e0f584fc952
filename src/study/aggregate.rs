//! Statistics of one or several studies (a sweep, a reproduction, shards
//! copied into one folder, an older folder of runs): one cell per set and
//! point of every axis that varies, its seeds pooled (see `stats`), beside
//! the published single runs where the cell is the blog's experiment; as
//! CSV, JSON and Markdown.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde::Serialize;
use serde_json::{Map, Value};

use super::published::published_for;
use super::read::{read_study, StudyRun};
use crate::config::{value_text, Cell, InitScheme, Task, TrainConfig};
use crate::stats::{markdown_headers, RunSetStats};
use crate::store::text::{markdown_table, sci};
use crate::store::{lock, write_atomic, FinishedRun};

/// Statistics of one cell over its seeds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CellStats {
    /// The study the cell comes from, when several are read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set: Option<String>,
    pub task: Task,
    pub model: Cell,
    pub init: InitScheme,
    pub seq_len: i64,
    /// Every other setting that varies, with this cell's value.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub settings: Map<String, Value>,
    /// Runs the study lists for this cell that have not finished.
    pub missing: usize,
    #[serde(flatten)]
    pub stats: RunSetStats,
    /// The blog's and the textbook's single runs, for the blog's experiment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<(Option<f64>, Option<f64>)>,
}

impl CellStats {
    pub fn missing_total(rows: &[CellStats]) -> usize {
        rows.iter().map(|r| r.missing).sum()
    }
}

/// The cell a run belongs to: everything but its seed.
fn cell_of(
    c: &TrainConfig,
    settings: &[String],
) -> (Task, Cell, InitScheme, i64, Map<String, Value>) {
    let all = serde_json::to_value(c).expect("a config serialises");
    let others = settings
        .iter()
        .map(|s| (s.clone(), all[s.as_str()].clone()))
        .collect();
    (c.task, c.model, c.init, c.seq_len, others)
}

/// Aggregates the studies in `dirs`; `threshold` is the val_loss that
/// counts as learned. Studies in folders of one name form one set.
pub fn aggregate(dirs: &[PathBuf], threshold: f64) -> Result<Vec<CellStats>> {
    if !(threshold.is_finite() && threshold > 0.0) {
        bail!("--val-threshold must be a positive number, got {threshold}");
    }
    let studies = dirs
        .iter()
        .map(|d| read_study(d))
        .collect::<Result<Vec<_>>>()?;
    let mut settings: Vec<String> = Vec::new();
    for s in &studies {
        for axis in &s.axes {
            if !["task", "model", "init", "seq_len", "seed"].contains(&axis.as_str())
                && !settings.contains(axis)
            {
                settings.push(axis.clone());
            }
        }
    }
    type Key = (
        Option<String>,
        (Task, Cell, InitScheme, i64, Map<String, Value>),
    );
    let mut cells: Vec<(Key, Vec<FinishedRun>, usize, TrainConfig)> = Vec::new();
    for study in studies {
        let set = (dirs.len() > 1).then(|| set_name(&study.dir));
        for StudyRun {
            config, finished, ..
        } in study.runs
        {
            let key = (set.clone(), cell_of(&config, &settings));
            let index = match cells.iter().position(|c| c.0 == key) {
                Some(i) => i,
                None => {
                    cells.push((key, Vec::new(), 0, config.clone()));
                    cells.len() - 1
                }
            };
            match finished {
                Some(f) => cells[index].1.push(f),
                None => cells[index].2 += 1,
            }
        }
    }
    Ok(cells
        .into_iter()
        .map(
            |((set, (task, model, init, seq_len, settings)), runs, missing, config)| CellStats {
                set,
                task,
                model,
                init,
                seq_len,
                settings,
                missing,
                stats: RunSetStats::of(&runs, threshold),
                published: published_for(&config),
            },
        )
        .collect())
}

fn set_name(dir: &Path) -> String {
    dir.file_name().map_or_else(
        || dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn opt_percent(x: Option<f64>) -> String {
    x.map_or(String::new(), |v| v.to_string())
}

/// aggregate.csv: one line per cell, plain numbers, empty where undefined.
pub fn csv_text(rows: &[CellStats]) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let Some(first) = rows.first() else {
        return Ok(w.into_inner()?);
    };
    let mut header: Vec<String> = Vec::new();
    if first.set.is_some() {
        header.push("set".into());
    }
    header.extend(["task", "model", "init", "seq_len"].map(String::from));
    header.extend(first.settings.keys().cloned());
    header.push("missing".into());
    header.extend(
        first
            .stats
            .columns()
            .into_iter()
            .map(|(n, _)| n.to_string()),
    );
    header.extend(["published_blog", "published_textbook"].map(String::from));
    w.write_record(&header)?;
    for r in rows {
        let mut line: Vec<String> = r.set.iter().cloned().collect();
        line.extend([
            r.task.to_string(),
            r.model.to_string(),
            r.init.to_string(),
            r.seq_len.to_string(),
        ]);
        line.extend(r.settings.values().map(value_text));
        line.push(r.missing.to_string());
        line.extend(r.stats.columns().into_iter().map(|(_, v)| v));
        let (blog, textbook) = r.published.unwrap_or_default();
        line.extend([opt_percent(blog), opt_percent(textbook)]);
        w.write_record(&line)?;
    }
    Ok(w.into_inner()?)
}

fn percent(x: Option<f64>) -> String {
    x.map_or("–".into(), |v| format!("{v:.2} %"))
}

/// aggregate.md: one table per task (and set).
pub fn markdown(rows: &[CellStats], threshold: f64) -> String {
    let others: Vec<String> = rows
        .first()
        .map(|r| r.settings.keys().cloned().collect())
        .unwrap_or_default();
    let any_published = rows.iter().any(|r| r.published.is_some());
    let mut headers: Vec<String> = ["model", "init", "length"].map(String::from).to_vec();
    headers.extend(others.iter().cloned());
    headers.push("n".into());
    headers.extend(markdown_headers(threshold));
    headers.extend(["test MSE (mean)", "baseline MSE", "missing"].map(String::from));
    if any_published {
        headers.extend(["blog (Keras, 1 run)", "textbook (1 run)"].map(String::from));
    }
    let mut groups: Vec<(Option<String>, Task)> = Vec::new();
    for r in rows {
        if !groups.contains(&(r.set.clone(), r.task)) {
            groups.push((r.set.clone(), r.task));
        }
    }
    let mut text = String::new();
    for (set, task) in groups {
        let lines: Vec<Vec<String>> = rows
            .iter()
            .filter(|r| r.set == set && r.task == task)
            .map(|r| {
                let mut cells = vec![
                    r.model.to_string(),
                    r.init.to_string(),
                    r.seq_len.to_string(),
                ];
                cells.extend(r.settings.values().map(value_text));
                cells.push(r.stats.runs.to_string());
                cells.extend(r.stats.markdown_cells());
                cells.extend([
                    sci(r.stats.test_mse_mean),
                    sci(r.stats.baseline_mse_mean),
                    r.missing.to_string(),
                ]);
                if any_published {
                    let (blog, textbook) = r.published.unwrap_or_default();
                    cells.extend([percent(blog), percent(textbook)]);
                }
                cells
            })
            .collect();
        let title = match &set {
            Some(s) => format!("{s}: {task}"),
            None => task.to_string(),
        };
        text += &format!("### {title}\n\n{}\n", markdown_table(&headers, &lines));
    }
    text
}

/// Aggregates `dirs` and writes aggregate.csv, aggregate.json and
/// aggregate.md into `out` as one set: under a lock on `out`, so two
/// aggregates into one folder write one after the other, never a mix.
pub fn write(dirs: &[PathBuf], threshold: f64, out: &Path) -> Result<Vec<CellStats>> {
    let rows = aggregate(dirs, threshold)?;
    let _set = lock(out)?;
    write_atomic(&out.join("aggregate.csv"), &csv_text(&rows)?)?;
    write_atomic(
        &out.join("aggregate.json"),
        (serde_json::to_string_pretty(&rows)? + "\n").as_bytes(),
    )?;
    write_atomic(
        &out.join("aggregate.md"),
        markdown(&rows, threshold).as_bytes(),
    )?;
    Ok(rows)
}
