//! A study's tables for other tools and for the console: `curves.csv`
//! (long format, one row per finished run and epoch, every axis and the
//! seed as columns: what pandas, seaborn, ggplot or gnuplot read in one
//! call), `runs.csv` (one row per run of the study, finished or not), and
//! the table a study prints when it ends (at most 100 columns).

use std::path::Path;

use anyhow::Result;

use super::aggregate::{self, CellStats};
use super::progress::history_rows;
use super::read::{read_study, StudyRuns};
use crate::config::{value_text, TrainConfig};
use crate::stats::DEFAULT_VAL_THRESHOLD;
use crate::store::history::{history_columns, history_row};
use crate::store::write_atomic;

pub const CURVES: &str = "curves.csv";
pub const RUNS: &str = "runs.csv";

/// The axis values of a run, in the study's axis order.
fn axis_cells(study: &StudyRuns, config: &TrainConfig) -> Vec<String> {
    let all = serde_json::to_value(config).expect("a config serialises");
    study
        .axes
        .iter()
        .map(|a| value_text(&all[a.as_str()]))
        .collect()
}

/// curves.csv: `run`, the axes, then history.csv's columns (every metric;
/// empty where a run's history did not record it).
pub fn curves_csv(study: &StudyRuns) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["run".to_string()];
    header.extend(study.axes.iter().cloned());
    header.extend(history_columns());
    w.write_record(&header)?;
    for run in &study.runs {
        let Some(f) = &run.finished else { continue };
        let axes = axis_cells(study, &run.config);
        for r in &f.history {
            let mut line = vec![run.name.clone()];
            line.extend(axes.iter().cloned());
            line.extend(history_row(r));
            w.write_record(&line)?;
        }
    }
    Ok(w.into_inner()?)
}

/// runs.csv: `run`, the axes, `status` (finished; started: training now or
/// cut off, with its epochs so far; missing: not begun) and the final
/// numbers of the finished ones. The test and baseline losses are each
/// task's own (the MSE of a value task), once: summary.json's `test_mse`
/// and `baseline_mse` repeat them for the value tasks, and runs.csv wrote
/// them twice before.
pub fn runs_csv(study: &StudyRuns, threshold: f64) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["run".to_string()];
    header.extend(study.axes.iter().cloned());
    header.extend(
        [
            "status",
            "epochs_run",
            "final_loss",
            "final_val_loss",
            "test_loss",
            "baseline_loss",
            "correctness",
            "epochs_to_threshold",
            "seconds_total",
            "device",
        ]
        .map(String::from),
    );
    w.write_record(&header)?;
    for run in &study.runs {
        let mut line = vec![run.name.clone()];
        line.extend(axis_cells(study, &run.config));
        match &run.finished {
            Some(f) => {
                let s = &f.summary;
                line.extend([
                    "finished".into(),
                    s.epochs_run.to_string(),
                    s.final_loss.to_string(),
                    s.final_val_loss.to_string(),
                    s.loss().map_or(String::new(), |v| v.to_string()),
                    s.chance().map_or(String::new(), |v| v.to_string()),
                    s.correctness.to_string(),
                    f.epochs_to(threshold)
                        .map_or(String::new(), |e| e.to_string()),
                    format!("{:.1}", s.seconds_total),
                    s.device.clone(),
                ]);
            }
            None => {
                // Training now, or cut off (it restarts on resume): its
                // epochs so far; not begun: missing.
                let epochs = history_rows(&study.dir.join(&run.name));
                line.push(if epochs > 0 { "started" } else { "missing" }.into());
                line.push(if epochs > 0 {
                    epochs.to_string()
                } else {
                    String::new()
                });
                line.extend(std::iter::repeat_n(String::new(), 8));
            }
        }
        w.write_record(&line)?;
    }
    Ok(w.into_inner()?)
}

/// Writes curves.csv, runs.csv and the aggregate tables of the study in
/// `dir`; returns the aggregate's cells.
pub fn refresh(dir: &Path) -> Result<Vec<CellStats>> {
    let study = read_study(dir)?;
    write_atomic(&dir.join(CURVES), &curves_csv(&study)?)?;
    write_atomic(&dir.join(RUNS), &runs_csv(&study, DEFAULT_VAL_THRESHOLD)?)?;
    aggregate::write(&[dir.to_owned()], DEFAULT_VAL_THRESHOLD, dir)
}

/// The table a study prints at its end: one line per cell, the columns
/// that vary, correctness median [IQR], learned share, epochs to learn and
/// the published runs; at most 100 characters wide.
pub fn console_table(rows: &[CellStats]) -> String {
    let keys = |r: &CellStats| -> Vec<(String, String)> {
        let mut k = vec![
            ("task".to_string(), r.task.to_string()),
            ("model".into(), r.model.to_string()),
            ("init".into(), r.init.to_string()),
            ("len".into(), r.seq_len.to_string()),
        ];
        k.extend(r.settings.iter().map(|(s, v)| (s.clone(), value_text(v))));
        k
    };
    let Some(first) = rows.first() else {
        return String::new();
    };
    let shown: Vec<usize> = (0..keys(first).len())
        .filter(|&i| i == 1 || rows.iter().any(|r| keys(r)[i].1 != keys(first)[i].1))
        .collect();
    let mut table: Vec<Vec<String>> = Vec::new();
    let mut header: Vec<String> = shown.iter().map(|&i| keys(first)[i].0.clone()).collect();
    header.extend(
        [
            "n",
            "correctness median [IQR]",
            "learned",
            "epochs to learn",
        ]
        .map(String::from),
    );
    let published = rows.iter().any(|r| r.published.is_some());
    if published {
        header.push("blog / textbook".into());
    }
    table.push(header);
    for r in rows {
        let k = keys(r);
        let mut line: Vec<String> = shown.iter().map(|&i| k[i].1.clone()).collect();
        let c = r.stats.correctness.as_ref();
        line.push(r.stats.runs.to_string());
        line.push(c.map_or("–".into(), |c| {
            if c.n == 1 {
                format!("{:.2} %", c.median)
            } else {
                format!("{:.2} [{:.1}, {:.1}] %", c.median, c.q1, c.q3)
            }
        }));
        // A cell with no finished run yet has nothing learned or not.
        let (learned, epochs) = match r.stats.runs {
            0 => ("–".to_string(), "–".to_string()),
            n => (
                format!("{}/{n}", r.stats.learned),
                r.stats
                    .epochs_to_threshold
                    .as_ref()
                    .map_or("never".into(), |e| format!("{}", e.median)),
            ),
        };
        line.push(learned);
        line.push(epochs);
        if published {
            let p = |x: Option<f64>| x.map_or("–".into(), |v| format!("{v:.2}"));
            line.push(
                r.published
                    .map_or(String::new(), |(b, t)| format!("{} / {} %", p(b), p(t))),
            );
        }
        table.push(line);
    }
    let widths: Vec<usize> = (0..table[0].len())
        .map(|i| {
            table
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for line in table {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        text += cells.join("  ").trim_end();
        text += "\n";
    }
    text
}
