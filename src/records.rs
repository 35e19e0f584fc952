//! The records a run leaves on disk and their readers: `EpochRecord` (one
//! row of history.csv, read back by column name), `Summary` (summary.json,
//! old files included, with the `InitSource` a run started from) and a
//! finished run's pair of them.

use std::{fs, path::Path};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::config::{SplitSizes, TrainConfig};

pub const HISTORY: &str = "history.csv";
pub const SUMMARY: &str = "summary.json";
pub const PREDICTIONS: &str = "predictions.csv";
pub const WEIGHTS: &str = "model.safetensors";

/// One finished epoch, as Keras's CSVLogger would log it, plus timings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// From 0, like CSVLogger.
    pub epoch: i64,
    /// Mean of the batch losses weighted by batch size, taken while the
    /// weights change during the epoch (Keras's `loss`).
    pub loss: f64,
    /// MSE over all validation rows after the epoch's last step.
    pub val_loss: f64,
    /// Wall time of the epoch, training and validation.
    pub seconds: f64,
    /// Wall time of the training steps alone.
    pub train_seconds: f64,
}

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
    pub test_mse: f64,
    /// Test MSE of always predicting the mean training target (about
    /// 0.049 for multiply, 0.167 for add): the score of learning nothing.
    #[serde(default)]
    pub baseline_mse: Option<f64>,
    /// Percent of test rows within 0.04 of the target.
    pub correctness: f64,
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
}

/// Where a run sat in the pack it trained in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PackRecord {
    /// Members trained together.
    pub members: usize,
    /// This run's place among them, from 0.
    pub position: usize,
}

/// Keras CSVLogger's columns first, then the timings.
pub const HISTORY_COLUMNS: [&str; 5] = ["epoch", "loss", "val_loss", "seconds", "train_seconds"];

/// One history.csv row. Losses at full f32 precision: the shortest text
/// that reads back as the same f32 (what Keras's float32 logs hold).
pub fn history_row(r: &EpochRecord) -> [String; 5] {
    [
        r.epoch.to_string(),
        f32_text(r.loss),
        f32_text(r.val_loss),
        format!("{:.4}", r.seconds),
        format!("{:.4}", r.train_seconds),
    ]
}

/// Shortest round-trip text of `x` as f32.
pub fn f32_text(x: f64) -> String {
    format!("{}", x as f32)
}

/// Reads a history.csv by column name (rnn-lab's, or the reference's).
pub fn read_history(path: &Path) -> Result<Vec<EpochRecord>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut rows = Vec::new();
    for (line, row) in reader.deserialize::<EpochRecord>().enumerate() {
        rows.push(row.with_context(|| format!("{}: bad row {}", path.display(), line + 2))?);
    }
    Ok(rows)
}

/// Reads a summary.json.
pub fn read_summary(path: &Path) -> Result<Summary> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("cannot parse {}", path.display()))
}

/// A run's settings from a JSON file: a run config (as `sweep` hands its
/// children) or a summary.json (its `config`), so any finished run can be
/// rerun exactly.
pub fn read_config(path: &Path) -> Result<TrainConfig> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("cannot read --config {}", path.display()))?;
    let mut value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("--config {} is not JSON", path.display()))?;
    if let Some(inner) = value.get_mut("config") {
        value = inner.take();
    }
    serde_json::from_value(value)
        .with_context(|| format!("--config {} is not a run config", path.display()))
}

/// The weights file a summary.json says its run started from; None for a
/// run config file or a run that drew its weights from the seed.
pub fn recorded_init(path: &Path) -> Result<Option<InitSource>> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("cannot read --config {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("--config {} is not JSON", path.display()))?;
    match value.get("init_from") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .with_context(|| {
                format!(
                    "--config {}: its init_from is not a weights record",
                    path.display()
                )
            }),
    }
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
            .position(|r| r.val_loss < threshold)
            .map(|e| e as i64 + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_row_keeps_f32_precision() {
        let r = EpochRecord {
            epoch: 4,
            loss: 0.123456789,
            val_loss: 1.0 / 3.0,
            seconds: 2.0,
            train_seconds: 1.75,
        };
        let row = history_row(&r);
        assert_eq!(row, ["4", "0.12345679", "0.33333334", "2.0000", "1.7500"]);
        assert_eq!(row[1].parse::<f32>().unwrap(), 0.123456789f64 as f32);
        let nan = EpochRecord {
            loss: f64::NAN,
            val_loss: f64::INFINITY,
            ..r
        };
        assert_eq!(&history_row(&nan)[1..3], ["NaN", "inf"]);
    }

    #[test]
    fn history_reads_by_column_name_in_any_order() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(HISTORY);
        fs::write(
            &path,
            "val_loss,epoch,train_seconds,loss,seconds\n0.25,0,1.0,0.5,1.5\nNaN,1,1.0,inf,1.5\n",
        )
        .unwrap();
        let h = read_history(&path).unwrap();
        assert_eq!(h[0].loss, 0.5);
        assert_eq!(h[0].val_loss, 0.25);
        assert_eq!(h[1].epoch, 1);
        assert!(h[1].val_loss.is_nan() && h[1].loss.is_infinite());
        fs::write(&path, "epoch,loss\n0,0.5\n").unwrap();
        let err = format!("{:#}", read_history(&path).unwrap_err());
        assert!(
            err.contains("bad row 2") && err.contains("val_loss"),
            "{err}"
        );
    }

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
