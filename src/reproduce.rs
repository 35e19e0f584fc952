//! The blog's experiment: each model and seed with the blog's settings,
//! one folder per run, then the aggregate side by side with the published
//! numbers.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::config::{Cell, InitScheme, TrainConfig};
use crate::output;
use crate::report::Summary;
use crate::run::{self, RunOptions};

/// What `rnn-lab reproduce` runs: `base` (the blog's settings) for every
/// model and seed.
#[derive(Clone, Debug)]
pub struct ReproduceConfig {
    pub models: Vec<Cell>,
    pub seeds: Vec<u64>,
    pub base: TrainConfig,
}

/// Published single-run test correctness (percent): the blog's, and the
/// Keras textbook's that the blog follows.
pub fn published(cell: Cell) -> (Option<f64>, Option<f64>) {
    match cell {
        Cell::Rnn => (None, Some(9.32)),
        Cell::Lstm => (Some(92.95), Some(94.77)),
        Cell::Gru => (None, Some(98.86)),
    }
}

/// `out/<model>/seed-<seed>`.
pub fn run_dir(out: &Path, cell: Cell, seed: u64) -> PathBuf {
    out.join(cell.name()).join(format!("seed-{seed}"))
}

/// Per-model statistics over seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelAggregate {
    pub model: Cell,
    pub init: InitScheme,
    pub seeds: Vec<u64>,
    pub correctness_mean: f64,
    /// Sample standard deviation (n - 1); 0 for a single run.
    pub correctness_std: f64,
    pub correctness_min: f64,
    pub correctness_max: f64,
    pub final_loss_mean: f64,
    pub final_val_loss_mean: f64,
    pub test_mse_mean: f64,
    pub train_seconds_per_epoch_mean: f64,
    pub blog: Option<f64>,
    pub textbook: Option<f64>,
}

/// Mean and sample standard deviation.
pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    if xs.len() < 2 {
        return (mean, 0.0);
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// Aggregates the summaries of one model.
pub fn aggregate(summaries: &[Summary]) -> ModelAggregate {
    let first = &summaries[0].config;
    let col = |f: fn(&Summary) -> f64| summaries.iter().map(f).collect::<Vec<f64>>();
    let mean = |f: fn(&Summary) -> f64| mean_std(&col(f)).0;
    let correctness = col(|s| s.correctness);
    let (correctness_mean, correctness_std) = mean_std(&correctness);
    let (blog, textbook) = published(first.model);
    ModelAggregate {
        model: first.model,
        init: first.init,
        seeds: summaries.iter().map(|s| s.config.seed).collect(),
        correctness_mean,
        correctness_std,
        correctness_min: correctness.iter().copied().fold(f64::INFINITY, f64::min),
        correctness_max: correctness
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max),
        final_loss_mean: mean(|s| s.final_loss),
        final_val_loss_mean: mean(|s| s.final_val_loss),
        test_mse_mean: mean(|s| s.test_mse),
        train_seconds_per_epoch_mean: mean(|s| s.train_seconds_per_epoch),
        blog,
        textbook,
    }
}

fn percent(x: Option<f64>) -> String {
    x.map_or("–".into(), |v| format!("{v:.2} %"))
}

/// The Markdown table of the aggregates against the published numbers.
pub fn markdown_table(rows: &[ModelAggregate]) -> String {
    let mut text = String::from(
        "| model | init | seeds | correctness mean ± std | min .. max | final loss | final val_loss | test MSE | train s/epoch | blog (Keras, 1 run) | textbook (1 run) |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        text += &format!(
            "| {} | {} | {} | {:.2} ± {:.2} % | {:.2} .. {:.2} % | {:.3e} | {:.3e} | {:.3e} | {:.3} | {} | {} |\n",
            r.model,
            r.init,
            r.seeds.len(),
            r.correctness_mean,
            r.correctness_std,
            r.correctness_min,
            r.correctness_max,
            r.final_loss_mean,
            r.final_val_loss_mean,
            r.test_mse_mean,
            r.train_seconds_per_epoch_mean,
            percent(r.blog),
            percent(r.textbook),
        );
    }
    text
}

/// Runs every model and seed into `out`, then writes `aggregate.md` and
/// `aggregate.json` there. Every folder is checked before the first run.
pub fn reproduce(
    config: &ReproduceConfig,
    out: &Path,
    opts: &RunOptions,
    console: &mut dyn Write,
) -> Result<Vec<ModelAggregate>> {
    if config.models.is_empty() || config.seeds.is_empty() {
        bail!("reproduce needs at least one model and one seed");
    }
    output::check_run_dir(out, true)?;
    for (i, m) in config.models.iter().enumerate() {
        if config.models[..i].contains(m) {
            bail!("--models lists {m} twice");
        }
    }
    let runs: Vec<(TrainConfig, PathBuf)> = config
        .models
        .iter()
        .flat_map(|&model| {
            config.seeds.iter().map(move |&seed| {
                (
                    TrainConfig {
                        model,
                        seed,
                        ..config.base.clone()
                    },
                    run_dir(out, model, seed),
                )
            })
        })
        .collect();
    for (c, dir) in &runs {
        run::check(c, dir, opts)?;
    }
    let mut by_model: Vec<Vec<Summary>> = vec![Vec::new(); config.models.len()];
    for (c, dir) in &runs {
        if !opts.quiet {
            writeln!(
                console,
                "\n== {} seed {} -> {}",
                c.model,
                c.seed,
                dir.display()
            )?;
        }
        let summary = run::train(c, dir, opts, console)?;
        let slot = config
            .models
            .iter()
            .position(|m| *m == c.model)
            .expect("model in list");
        by_model[slot].push(summary);
    }
    let rows: Vec<ModelAggregate> = by_model.iter().map(|s| aggregate(s)).collect();
    let table = markdown_table(&rows);
    output::write_atomic(&out.join("aggregate.md"), table.as_bytes())?;
    output::write_atomic(
        &out.join("aggregate.json"),
        (serde_json::to_string_pretty(&rows)? + "\n").as_bytes(),
    )?;
    if !opts.quiet {
        writeln!(console, "\n{table}")?;
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_std() {
        assert_eq!(mean_std(&[5.0]), (5.0, 0.0));
        let (m, s) = mean_std(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(m, 5.0);
        assert!((s - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn table_places_published_numbers() {
        let row = ModelAggregate {
            model: Cell::Lstm,
            init: InitScheme::Keras,
            seeds: vec![1, 2],
            correctness_mean: 90.0,
            correctness_std: 1.5,
            correctness_min: 88.5,
            correctness_max: 91.5,
            final_loss_mean: 0.00012,
            final_val_loss_mean: 0.0003,
            test_mse_mean: 0.00025,
            train_seconds_per_epoch_mean: 1.25,
            blog: published(Cell::Lstm).0,
            textbook: published(Cell::Lstm).1,
        };
        let table = markdown_table(&[row]);
        let last = table.lines().last().unwrap();
        assert_eq!(
            last,
            "| lstm | keras | 2 | 90.00 ± 1.50 % | 88.50 .. 91.50 % | 1.200e-4 | 3.000e-4 | 2.500e-4 | 1.250 | 92.95 % | 94.77 % |"
        );
        assert_eq!(published(Cell::Rnn), (None, Some(9.32)));
    }
}
