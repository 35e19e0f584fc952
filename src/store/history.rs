//! history.csv: one `EpochRecord` per finished epoch, Keras CSVLogger's
//! columns first, written one whole flushed row at a time and read back by
//! column name (rnn-lab's, the PyTorch reference's, Keras's).

use std::{
    fs::{File, OpenOptions},
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

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

/// `history.csv`, one whole row written and flushed per finished epoch, so
/// an interrupted run keeps every epoch it finished. A write that fails
/// (disk full) is cut back to the last whole row before the error returns.
pub struct HistoryFile {
    path: PathBuf,
    file: File,
    len: u64,
}

impl HistoryFile {
    pub fn create(path: &Path) -> Result<HistoryFile> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut history = HistoryFile {
            path: path.to_owned(),
            file,
            len: 0,
        };
        history.write_line(&HISTORY_COLUMNS.map(String::from))?;
        Ok(history)
    }

    pub fn append(&mut self, record: &EpochRecord) -> Result<()> {
        self.write_line(&history_row(record))
    }

    fn write_line(&mut self, fields: &[String]) -> Result<()> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(fields)?;
        let line = w.into_inner().context("formatting a history row")?;
        match self
            .file
            .write_all(&line)
            .and_then(|_| self.file.sync_data())
        {
            Ok(()) => {
                self.len += line.len() as u64;
                Ok(())
            }
            Err(e) => {
                let _ = self.file.set_len(self.len);
                Err(e).with_context(|| format!("cannot write {}", self.path.display()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    use crate::store::HISTORY;

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
    fn history_rows_are_flushed_one_by_one() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(HISTORY);
        let mut h = HistoryFile::create(&path).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "epoch,loss,val_loss,seconds,train_seconds\n"
        );
        let r = EpochRecord {
            epoch: 0,
            loss: 0.5,
            val_loss: 0.25,
            seconds: 1.5,
            train_seconds: 1.25,
        };
        h.append(&r).unwrap();
        // Readable before the writer is dropped.
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "epoch,loss,val_loss,seconds,train_seconds\n0,0.5,0.25,1.5000,1.2500\n"
        );
    }
}
