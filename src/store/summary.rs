//! summary.json: everything a finished run reports (older files included),
//! with the `InitSource` a run started from and where it sat in a pack,
//! and a finished run read back from its folder.

use std::{fs, path::Path};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::history::{read_history, EpochRecord};
use super::{HISTORY, SUMMARY};
use crate::config::{AdamLayout, SplitSizes, TrainConfig};

/// Versions of what computed a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Versions {
    pub rnn_lab: String,
    pub tch: String,
    pub libtorch: String,
    /// CUDA runtime and cuDNN versions, when the run used CUDA.
    pub cuda_runtime: Option<i64>,
    pub cudnn: Option<i64>,
}

/// What computed a run on the CPU.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CpuRecord {
    /// The CPU's name (CPUID's brand string).
    pub model: String,
    /// The widest vector instructions the CPU has (avx512, avx2, ...).
    pub best_isa: String,
    /// ATen's kernels' capability as libtorch reports it (AVX512, AVX2, DEFAULT).
    pub aten: String,
    pub onednn_version: String,
    /// ONEDNN_MAX_CPU_ISA when set; otherwise oneDNN takes the CPU's best.
    pub onednn_max_isa: String,
    pub mkl_version: String,
    /// MKL's conditional-reproducibility branch (MKL_CBWR): OFF unless set.
    pub mkl_branch: String,
}

/// The weights file a run started from (`--init-from`) instead of drawing
/// its initial weights from the seed: with the config, what defines it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InitSource {
    /// The path as given.
    pub path: String,
    /// SHA-256 of the file's bytes, lowercase hex.
    pub sha256: String,
}

impl InitSource {
    /// Reads and hashes the weights file at `path`.
    pub fn of(path: &Path) -> Result<InitSource> {
        use sha2::{Digest, Sha256};
        let bytes = fs::read(path)
            .with_context(|| format!("cannot read --init-from {}", path.display()))?;
        let digest = Sha256::digest(&bytes);
        Ok(InitSource {
            path: path.display().to_string(),
            sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
        })
    }
}

/// Everything a finished run reports, written last as summary.json.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub config: TrainConfig,
    /// The device actually used (`auto` resolved).
    pub device: String,
    /// libtorch CPU threads the run used (absent in files written before
    /// it was recorded).
    #[serde(default)]
    pub threads: Option<usize>,
    pub versions: Versions,
    pub split: SplitSizes,
    /// Trainable parameters.
    pub parameters: i64,
    pub epochs_run: i64,
    pub final_loss: f64,
    pub final_val_loss: f64,
    /// The test MSE, for a task with a value to give.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_mse: Option<f64>,
    /// The test loss, whatever the task's (MSE, or cross-entropy); absent in
    /// files written before the classification tasks (then `test_mse`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_loss: Option<f64>,
    /// Test MSE of always predicting the mean training target (about
    /// 0.049 for multiply, 0.167 for blog-add): the score of learning nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_mse: Option<f64>,
    /// The test loss of learning nothing, whatever the task's: the constant
    /// predictor's MSE, or chance's cross-entropy (10 ln 8 / (T + 20) for the
    /// copy task, ln 4 for the temporal order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_loss: Option<f64>,
    /// The task's score in percent: test rows within 0.04 of the target,
    /// classified right, or copied symbols recalled (see `score`).
    pub correctness: f64,
    /// What `correctness` counts (absent in older files: rows within 0.04).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<String>,
    pub test_failures: i64,
    pub test_rows: i64,
    /// Mean wall time of an epoch, training and validation.
    pub seconds_per_epoch: f64,
    /// Median wall time of the training steps of an epoch, first epoch
    /// (warm-up) left out when there are several.
    pub train_seconds_per_epoch: f64,
    pub seconds_total: f64,
    /// Set when the run trained as a member of a pack (`--pack`); its
    /// timings are then the whole pack's.
    #[serde(default)]
    pub pack: Option<PackRecord>,
    /// Set when the run started from a weights file, not from its seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<InitSource>,
    /// The CPU code it ran, for a run on the CPU (absent in older files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuRecord>,
    /// What computed the recurrence: libtorch (its fused op), composed
    /// (batched ops through autograd) or handwritten (the hand-written
    /// backward); absent in files written before there was a choice, all
    /// of which are libtorch for a lone run and composed for a pack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// How Adam held the weights (absent in files written before there was
    /// a choice: per-tensor). Either gives the same numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adam_layout: Option<AdamLayout>,
    /// With `--stop-below`: when the run first met it, and whether it
    /// stopped there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criterion: Option<CriterionRecord>,
    /// The checkpoints the run wrote (absent in older files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoints: Option<CheckpointRecord>,
}

/// A run with `--stop-below`: its criterion and when it first held.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CriterionRecord {
    /// val_loss below this, `patience` epochs in a row.
    pub val_loss_below: f64,
    pub patience: i64,
    /// The first epoch (from 1) whose val_loss was below it, and the
    /// training sequences seen by its end; None if it never was.
    pub first_met_epoch: Option<i64>,
    pub first_met_sequences: Option<i64>,
    /// Whether the run stopped before its last epoch because it held.
    pub stopped_early: bool,
}

/// What the checkpoints of a run cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointRecord {
    /// Checkpoints written (the first, before training, included).
    pub written: u64,
    /// Seconds spent writing them (a pack's: all its members').
    pub seconds: f64,
    /// This run's checkpoint file, in bytes.
    pub bytes: u64,
}

impl Summary {
    /// The test loss, in files old and new.
    pub fn loss(&self) -> Option<f64> {
        self.test_loss.or(self.test_mse)
    }

    /// The chance loss, in files old and new.
    pub fn chance(&self) -> Option<f64> {
        self.baseline_loss.or(self.baseline_mse)
    }
}

/// Where a run sat in the pack it trained in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PackRecord {
    /// Members trained together.
    pub members: usize,
    /// This run's place among them, from 0.
    pub position: usize,
}

/// Reads a summary.json.
pub fn read_summary(path: &Path) -> Result<Summary> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("cannot parse {}", path.display()))
}

/// A finished run read back from its folder.
#[derive(Clone, Debug, PartialEq)]
pub struct FinishedRun {
    pub summary: Summary,
    pub history: Vec<EpochRecord>,
}

impl FinishedRun {
    /// The run in `dir`, or None when it has no summary.json (not finished).
    pub fn read(dir: &Path) -> Result<Option<FinishedRun>> {
        let summary_path = dir.join(SUMMARY);
        if !summary_path.exists() {
            return Ok(None);
        }
        let summary = read_summary(&summary_path)?;
        let history = read_history(&dir.join(HISTORY))?;
        if history.len() as i64 != summary.epochs_run {
            bail!(
                "{}: {} epochs in {HISTORY}, {} in {SUMMARY}; the run folder was changed after the run",
                dir.display(),
                history.len(),
                summary.epochs_run
            );
        }
        Ok(Some(FinishedRun { summary, history }))
    }

    /// First epoch, counted from 1, whose val_loss is below `threshold`.
    pub fn epochs_to(&self, threshold: f64) -> Option<i64> {
        self.history
            .iter()
            .position(|r| r.val_loss() < threshold)
            .map(|e| e as i64 + 1)
    }
}

#[cfg(test)]
impl Summary {
    /// A summary of a made-up finished run of `config`, for tests of what
    /// reads summaries.
    pub fn example(config: TrainConfig, correctness: f64, history: &[EpochRecord]) -> Summary {
        let last = history.last().map_or(0.1, |r| r.val_loss());
        Summary {
            split: config.split_sizes(),
            config,
            device: "cpu".into(),
            threads: Some(1),
            versions: Versions {
                rnn_lab: "t".into(),
                tch: "t".into(),
                libtorch: "t".into(),
                cuda_runtime: None,
                cudnn: None,
            },
            parameters: 1,
            epochs_run: history.len() as i64,
            final_loss: last,
            final_val_loss: last,
            test_mse: Some(0.5),
            test_loss: Some(0.5),
            baseline_mse: Some(0.05),
            baseline_loss: Some(0.05),
            score: None,
            correctness,
            test_failures: 0,
            test_rows: 440,
            seconds_per_epoch: 1.0,
            train_seconds_per_epoch: 1.0,
            seconds_total: 1.0,
            pack: None,
            init_from: None,
            cpu: None,
            kernel: None,
            adam_layout: None,
            criterion: None,
            checkpoints: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_written_before_threads_was_recorded_still_read() {
        // A summary.json as rnn-lab 0.1 wrote it: device and threads in the config.
        let old = r#"{"config":{"task":"multiply","samples":3000,"seq_len":100,"fit_rows":2560,
            "val_split":0.2,"model":"lstm","units":30,"layers":2,"init":"keras","lr":0.001,
            "adam_eps":1e-7,"batch_size":32,"epochs":100,"seed":3,"device":"auto","threads":1},
            "device":"cpu","versions":{"rnn_lab":"0.1.0","tch":"0.24.0","libtorch":"2.11.0",
            "cuda_runtime":null,"cudnn":null},"split":{"train":2048,"val":512,"test":440},
            "parameters":11311,"epochs_run":100,"final_loss":0.001,"final_val_loss":0.001,
            "test_mse":0.001,"correctness":60.2,"test_failures":175,"test_rows":440,
            "seconds_per_epoch":0.3,"train_seconds_per_epoch":0.3,"seconds_total":34.0}"#;
        let s: Summary = serde_json::from_str(old).unwrap();
        assert_eq!(s.config.seed, 3);
        assert_eq!(s.threads, None);
        assert_eq!(s.baseline_mse, None);
    }
}
