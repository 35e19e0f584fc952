//! What runs report: the history CSV rows, summary.json, predictions.csv,
//! the console lines, and the Markdown tables; each a function from results
//! to text, so formats are tested without files.

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::config::{SplitSizes, TrainConfig};
use crate::train::{EpochRecord, Evaluation};

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

/// Everything a finished run reports, written last as summary.json.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub config: TrainConfig,
    /// The device actually used (`auto` resolved).
    pub device: String,
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
}

/// Keras CSVLogger's columns first, then the timings.
pub fn history_header() -> [&'static str; 5] {
    ["epoch", "loss", "val_loss", "seconds", "train_seconds"]
}

/// Losses at full f32 precision: the shortest text that reads back as the
/// same f32 (what Keras's float32 logs hold).
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

/// predictions.csv: one line per test row; `row` is the row's index in the
/// whole data set (the blog's `Y[2560 + i]`).
pub fn predictions_csv(e: &Evaluation, first_row: i64) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["row", "target", "prediction", "abs_error"])?;
    for (i, (t, p)) in e.targets.iter().zip(&e.predictions).enumerate() {
        w.write_record([
            (first_row + i as i64).to_string(),
            t.to_string(),
            p.to_string(),
            (p - t).abs().to_string(),
        ])?;
    }
    Ok(w.into_inner()?)
}

pub fn summary_json(s: &Summary) -> Result<String> {
    Ok(serde_json::to_string_pretty(s)? + "\n")
}

/// Keras prints `%.4f`, switching to `%.4e` below 1e-3.
fn keras_number(x: f64) -> String {
    if x != 0.0 && x.abs() < 1e-3 {
        format!("{x:.4e}")
    } else {
        format!("{x:.4}")
    }
}

/// The Keras-like line printed after each epoch.
pub fn epoch_line(r: &EpochRecord, epochs: i64, batches: i64) -> String {
    format!(
        "Epoch {}/{epochs} - {batches}/{batches} - {:.2}s - loss: {} - val_loss: {}",
        r.epoch + 1,
        r.seconds,
        keras_number(r.loss),
        keras_number(r.val_loss)
    )
}

/// The blog's closing report: test MSE, the first five test rows, and the
/// correctness.
pub fn final_report(e: &Evaluation) -> String {
    let mut text = format!("test mse: {}\n", keras_number(e.test_mse));
    for (t, p) in e.targets.iter().zip(&e.predictions).take(5) {
        text += &format!("{t:.6}\t{p:.6}\tdiff: {:.6}\n", (p - t).abs());
    }
    text += &format!("correctness: {:.2} %\n", e.correctness);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evaluation() -> Evaluation {
        Evaluation {
            test_mse: 0.00012345,
            correctness: 66.66666666666667,
            failures: 1,
            rows: 3,
            targets: vec![0.25, 0.1, 0.5],
            predictions: vec![0.26, 0.2, 0.5],
        }
    }

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
    fn predictions_csv_text() {
        let text = String::from_utf8(predictions_csv(&evaluation(), 2560).unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "row,target,prediction,abs_error");
        assert_eq!(
            lines[1],
            format!("2560,0.25,0.26,{}", (0.26f32 - 0.25f32).abs())
        );
        assert_eq!(lines[3], "2562,0.5,0.5,0");
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn console_lines() {
        let r = EpochRecord {
            epoch: 11,
            loss: 0.047,
            val_loss: 0.00049123,
            seconds: 0.623,
            train_seconds: 0.5,
        };
        assert_eq!(
            epoch_line(&r, 100, 64),
            "Epoch 12/100 - 64/64 - 0.62s - loss: 0.0470 - val_loss: 4.9123e-4"
        );
        let report = final_report(&evaluation());
        assert_eq!(
            report,
            "test mse: 1.2345e-4\n0.250000\t0.260000\tdiff: 0.010000\n0.100000\t0.200000\tdiff: 0.100000\n\
             0.500000\t0.500000\tdiff: 0.000000\ncorrectness: 66.67 %\n"
        );
    }
}
