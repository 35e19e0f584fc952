//! A trained run's files: predictions.csv, model.safetensors and, last,
//! summary.json, whose presence marks the run finished.

use std::time::Instant;

use anyhow::{Context, Result};
use tch::{Device, Tensor};

use crate::config::{AdamLayout, Kernel, Loss, TrainConfig};
use crate::nn::weights::save_named;
use crate::nn::ModelSpec;
use crate::nn::{cpu, device};
use crate::stats::quantile;
use crate::store::text::{predictions_csv, summary_json};
use crate::store::{
    write_atomic, CheckpointRecord, CriterionRecord, EpochRecord, Evaluation, InitSource, Metric,
    PackRecord, RunDir, Summary, PREDICTIONS, SUMMARY, WEIGHTS,
};

/// A trained run, ready for its folder.
pub struct Finished<'a> {
    pub config: &'a TrainConfig,
    pub device: Device,
    pub threads: usize,
    pub spec: &'a ModelSpec,
    pub history: &'a [EpochRecord],
    pub evaluation: &'a Evaluation,
    /// The test loss of learning nothing (`train::eval::baseline`).
    pub baseline: f64,
    pub weights: Vec<(String, Tensor)>,
    pub started: Instant,
    pub pack: Option<PackRecord>,
    pub init_from: Option<InitSource>,
    /// What computed the recurrence (`Network::kernel`).
    pub kernel: Kernel,
    pub adam_layout: AdamLayout,
    pub checkpoints: Option<CheckpointRecord>,
}

/// Writes predictions.csv, model.safetensors and, last, summary.json.
pub fn write_outputs(dir: &RunDir, f: Finished) -> Result<Summary> {
    write_atomic(
        &dir.file(PREDICTIONS),
        &predictions_csv(f.evaluation, f.config.fit_rows)?,
    )?;
    save_named(f.weights, &dir.file(WEIGHTS))?;
    let last = f.history.last().context("training ran no epoch")?;
    let task = f.config.task.shape();
    let mse = |v: f64| (task.loss == Loss::Mse).then_some(v);
    let summary = Summary {
        config: f.config.clone(),
        device: device::name(f.device),
        threads: Some(f.threads),
        versions: device::versions(f.device),
        split: f.config.split_sizes(),
        parameters: f.spec.trainable_count(),
        epochs_run: f.history.len() as i64,
        final_loss: last.loss(),
        final_val_loss: last.val_loss(),
        test_mse: mse(f.evaluation.test_loss),
        test_loss: Some(f.evaluation.test_loss),
        baseline_mse: mse(f.baseline),
        baseline_loss: Some(f.baseline),
        correctness: f.evaluation.correctness,
        score: Some(task.score.describe().to_owned()),
        test_failures: f.evaluation.failures,
        test_rows: f.evaluation.rows,
        seconds_per_epoch: f.history.iter().map(EpochRecord::seconds).sum::<f64>()
            / f.history.len() as f64,
        train_seconds_per_epoch: median_after_warmup(f.history),
        seconds_total: f.started.elapsed().as_secs_f64(),
        pack: f.pack,
        init_from: f.init_from,
        cpu: (!f.device.is_cuda()).then(cpu::record),
        kernel: Some(f.kernel.to_string()),
        adam_layout: Some(f.adam_layout),
        criterion: criterion(f.config, f.history),
        checkpoints: f.checkpoints,
    };
    write_atomic(&dir.file(SUMMARY), summary_json(&summary)?.as_bytes())?;
    Ok(summary)
}

/// When a run with `--stop-below` first met it, and whether it stopped.
fn criterion(config: &TrainConfig, history: &[EpochRecord]) -> Option<CriterionRecord> {
    let (below, patience) = config.stop_rule()?;
    let first = history.iter().find(|r| r.val_loss() < below);
    Some(CriterionRecord {
        val_loss_below: below,
        patience,
        first_met_epoch: first.map(|r| r.epoch + 1),
        first_met_sequences: first
            .and_then(|r| r.get(Metric::Sequences))
            .map(|s| s as i64),
        stopped_early: (history.len() as i64) < config.epochs
            && history.last().is_some_and(|r| r.val_loss().is_finite()),
    })
}

/// Median training time per epoch, without the first (warm-up) epoch
/// when there are several.
fn median_after_warmup(history: &[EpochRecord]) -> f64 {
    let skip = usize::from(history.len() > 1);
    let mut times: Vec<f64> = history[skip..]
        .iter()
        .map(EpochRecord::train_seconds)
        .collect();
    times.sort_by(f64::total_cmp);
    quantile(&times, 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_skips_warmup() {
        let r = |s: f64| EpochRecord::core(0, 0.0, 0.0, s, s);
        assert_eq!(median_after_warmup(&[r(9.0)]), 9.0);
        assert_eq!(median_after_warmup(&[r(9.0), r(1.0), r(3.0), r(2.0)]), 2.0);
        assert_eq!(median_after_warmup(&[r(9.0), r(1.0), r(3.0)]), 2.0);
    }
}
