//! The blog's experiment: each model and seed with the blog's settings
//! (or smaller ones), one folder per run, then per-model statistics over
//! the seeds beside the published single runs.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use super::packing::{group, PackSize};
use crate::config::{Cell, Execution, InitScheme, TrainConfig};
use crate::nn::device;
use crate::run::{execute, failures, Job, Plan};
use crate::stats::{markdown_headers, RunSetStats, DEFAULT_VAL_THRESHOLD};
use crate::store::console::Console;
use crate::store::text::{self, sci};
use crate::store::{check_run_dir, write_atomic, FinishedRun, HISTORY};

/// How `reproduce` runs; nothing here changes what its runs compute.
#[derive(Clone, Debug, Default)]
pub struct ReproduceOptions {
    pub execution: Execution,
    pub force: bool,
    pub quiet: bool,
}

/// What `rnn-lab reproduce` runs: `base` for every model and seed.
#[derive(Clone, Debug)]
pub struct ReproduceConfig {
    pub models: Vec<Cell>,
    pub seeds: Vec<u64>,
    pub base: TrainConfig,
    /// Runs trained together per process step (`--pack`).
    pub pack: PackSize,
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

/// Per-model statistics over seeds, beside the published numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelAggregate {
    pub model: Cell,
    pub init: InitScheme,
    pub seeds: Vec<u64>,
    #[serde(flatten)]
    pub stats: RunSetStats,
    pub blog: Option<f64>,
    pub textbook: Option<f64>,
}

impl ModelAggregate {
    pub fn of(model: Cell, init: InitScheme, runs: &[FinishedRun]) -> ModelAggregate {
        let (blog, textbook) = published(model);
        ModelAggregate {
            model,
            init,
            seeds: runs.iter().map(|r| r.summary.config.seed).collect(),
            stats: RunSetStats::of(runs, DEFAULT_VAL_THRESHOLD),
            blog,
            textbook,
        }
    }
}

fn percent(x: Option<f64>) -> String {
    x.map_or("–".into(), |v| format!("{v:.2} %"))
}

/// The Markdown table of the aggregates against the published numbers.
pub fn markdown_table(rows: &[ModelAggregate]) -> String {
    let mut headers: Vec<String> = ["model", "init", "n"].map(String::from).to_vec();
    headers.extend(markdown_headers(DEFAULT_VAL_THRESHOLD));
    headers.extend(
        [
            "final loss (mean)",
            "final val_loss (mean)",
            "test MSE (mean)",
            "train s/epoch",
            "blog (Keras, 1 run)",
            "textbook (1 run)",
        ]
        .map(String::from),
    );
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut cells = vec![
                r.model.to_string(),
                r.init.to_string(),
                r.stats.runs.to_string(),
            ];
            cells.extend(r.stats.markdown_cells());
            cells.extend([
                sci(r.stats.final_loss_mean),
                sci(r.stats.final_val_loss_mean),
                sci(r.stats.test_mse_mean),
                r.stats
                    .train_seconds_per_epoch_mean
                    .map_or("–".into(), |s| format!("{s:.3}")),
                percent(r.blog),
                percent(r.textbook),
            ]);
            cells
        })
        .collect();
    text::markdown_table(&headers, &lines)
}

/// Runs every model and seed into `out`, then writes `aggregate.md` and
/// `aggregate.json` there. Every folder is checked before the first run.
pub fn reproduce(
    config: &ReproduceConfig,
    out: &Path,
    opts: &ReproduceOptions,
    console: &mut dyn Write,
) -> Result<Vec<ModelAggregate>> {
    if config.models.is_empty() || config.seeds.is_empty() {
        bail!("reproduce needs at least one model and one seed");
    }
    for (i, m) in config.models.iter().enumerate() {
        if config.models[..i].contains(m) {
            bail!("--models lists {m} twice");
        }
    }
    check_run_dir(out, true)?;
    let device = device::resolve(opts.execution.device)?;
    let mut plans = Vec::new();
    for &model in &config.models {
        let jobs: Vec<Job> = config
            .seeds
            .iter()
            .map(|&seed| {
                let c = TrainConfig {
                    model,
                    seed,
                    ..config.base.clone()
                };
                Job::new(c, run_dir(out, model, seed))
            })
            .collect();
        for jobs in group(jobs, config.pack.members(model, device), |j| &j.config) {
            let plan = Plan {
                execution: opts.execution,
                force: opts.force,
                quiet: opts.quiet,
                jobs,
            };
            plans.push(plan.check()?);
        }
    }
    for plan in &plans {
        if let ([job], false) = (plan.jobs.as_slice(), opts.quiet) {
            let c = &job.job.config;
            Console::new(console).print(&format!(
                "\n== {} seed {} -> {}\n",
                c.model,
                c.seed,
                job.job.out.display()
            ));
        }
        let mut results = execute(plan, console)?;
        if plan.jobs.len() == 1 {
            results.pop().expect("one result")?;
            continue;
        }
        let failed = failures(plan, &results);
        if !failed.is_empty() {
            bail!(
                "{} run(s) of a pack failed: {}",
                failed.len(),
                failed.join("; ")
            );
        }
    }
    let mut rows = Vec::new();
    for &model in &config.models {
        let mut finished = Vec::new();
        for &seed in &config.seeds {
            let dir = run_dir(out, model, seed);
            finished.push(FinishedRun::read(&dir)?.ok_or_else(|| {
                anyhow::anyhow!(
                    "{} lost its {HISTORY} or summary during the run",
                    dir.display()
                )
            })?);
        }
        rows.push(ModelAggregate::of(model, config.base.init, &finished));
    }
    let table = markdown_table(&rows);
    write_atomic(&out.join("aggregate.md"), table.as_bytes())?;
    write_atomic(
        &out.join("aggregate.json"),
        (serde_json::to_string_pretty(&rows)? + "\n").as_bytes(),
    )?;
    if !opts.quiet {
        Console::new(console).print(&format!("\n{table}"));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_places_published_numbers() {
        let row = ModelAggregate {
            model: Cell::Lstm,
            init: InitScheme::Keras,
            seeds: vec![1],
            stats: RunSetStats::of(&[], DEFAULT_VAL_THRESHOLD),
            blog: published(Cell::Lstm).0,
            textbook: published(Cell::Lstm).1,
        };
        let table = markdown_table(&[row]);
        let last = table.lines().last().unwrap();
        assert_eq!(
            last,
            "| lstm | keras | 0 | – | – | – | 0/0 | – | – | – | – | – | 92.95 % | 94.77 % |"
        );
        let header_cells = table.lines().next().unwrap().matches('|').count();
        assert_eq!(header_cells, last.matches('|').count());
        assert_eq!(
            header_cells,
            table.lines().nth(1).unwrap().matches('|').count()
        );
        assert_eq!(published(Cell::Rnn), (None, Some(9.32)));
    }
}
