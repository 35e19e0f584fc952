//! history.csv: one `EpochRecord` per finished epoch, its columns the
//! named metrics of [`METRICS`] (Keras CSVLogger's `epoch`, `loss`,
//! `val_loss` first), written one whole flushed row at a time and read
//! back by column name (rnn-lab's of any version, the PyTorch reference's,
//! Keras's). A new metric is one entry of `Metric` and [`METRICS`].

use std::{
    fs::{File, OpenOptions},
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};

/// What the training loop measures each epoch, one history.csv column each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Mean of the batch losses weighted by batch size, taken while the
    /// weights change during the epoch (Keras's `loss`).
    Loss,
    /// The loss over all validation rows after the epoch's last step.
    ValLoss,
    /// `val_loss` over the validation loss of the best constant answer
    /// (the training targets' mean, or their class frequencies): 1 is
    /// learning nothing, on every task and scale.
    ValRelLoss,
    /// Mean over the epoch's batches of the gradient's global 2-norm,
    /// before clipping.
    GradNorm,
    /// The largest of those norms.
    GradNormMax,
    /// Training sequences seen so far, this epoch's included.
    Sequences,
    /// Wall time of the epoch, training and validation.
    Seconds,
    /// Wall time of the training steps alone.
    TrainSeconds,
}

/// How a metric's value is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Text {
    /// The shortest text that reads back as the same f32 (what Keras's
    /// float32 logs hold).
    F32,
    /// Seconds to four places.
    Seconds,
    /// A whole number.
    Count,
}

/// One history.csv column.
pub struct MetricDef {
    pub metric: Metric,
    pub column: &'static str,
    pub text: Text,
}

const fn def(metric: Metric, column: &'static str, text: Text) -> MetricDef {
    MetricDef {
        metric,
        column,
        text,
    }
}

/// history.csv's columns after `epoch`, in order, each `Metric` at its own
/// index (Keras CSVLogger's first, then the timings as earlier files have
/// them, then the newer measures).
pub const METRICS: [MetricDef; 8] = [
    def(Metric::Loss, "loss", Text::F32),
    def(Metric::ValLoss, "val_loss", Text::F32),
    def(Metric::Seconds, "seconds", Text::Seconds),
    def(Metric::TrainSeconds, "train_seconds", Text::Seconds),
    def(Metric::ValRelLoss, "val_rel_loss", Text::F32),
    def(Metric::GradNorm, "grad_norm", Text::F32),
    def(Metric::GradNormMax, "grad_norm_max", Text::F32),
    def(Metric::Sequences, "sequences", Text::Count),
];

impl Metric {
    fn index(self) -> usize {
        METRICS
            .iter()
            .position(|d| d.metric == self)
            .expect("every metric is in METRICS")
    }

    pub fn column(self) -> &'static str {
        METRICS[self.index()].column
    }
}

/// One finished epoch: its number (from 0, like CSVLogger) and each
/// metric's value; None where it was not recorded (a file of an earlier
/// version, or a reference's), NaN where it was not finite.
#[derive(Clone, Debug)]
pub struct EpochRecord {
    pub epoch: i64,
    values: [Option<f64>; METRICS.len()],
}

/// Equal when every value has the same bits (NaN equals NaN).
impl PartialEq for EpochRecord {
    fn eq(&self, other: &Self) -> bool {
        let bits = |r: &EpochRecord| r.values.map(|v| v.map(f64::to_bits));
        self.epoch == other.epoch && bits(self) == bits(other)
    }
}

impl EpochRecord {
    /// Epoch `epoch` with nothing recorded yet.
    pub fn new(epoch: i64) -> EpochRecord {
        EpochRecord {
            epoch,
            values: [None; METRICS.len()],
        }
    }

    /// Epoch `epoch` with the four measures every history has.
    pub fn core(
        epoch: i64,
        loss: f64,
        val_loss: f64,
        seconds: f64,
        train_seconds: f64,
    ) -> EpochRecord {
        EpochRecord::new(epoch)
            .with(Metric::Loss, loss)
            .with(Metric::ValLoss, val_loss)
            .with(Metric::Seconds, seconds)
            .with(Metric::TrainSeconds, train_seconds)
    }

    /// `self` with `metric` set to `value`.
    pub fn with(mut self, metric: Metric, value: f64) -> EpochRecord {
        self.values[metric.index()] = Some(value);
        self
    }

    /// The value of `metric`, if recorded.
    pub fn get(&self, metric: Metric) -> Option<f64> {
        self.values[metric.index()]
    }

    /// The value of `metric`, NaN if not recorded.
    pub fn value(&self, metric: Metric) -> f64 {
        self.get(metric).unwrap_or(f64::NAN)
    }

    pub fn loss(&self) -> f64 {
        self.value(Metric::Loss)
    }

    pub fn val_loss(&self) -> f64 {
        self.value(Metric::ValLoss)
    }

    pub fn seconds(&self) -> f64 {
        self.value(Metric::Seconds)
    }

    pub fn train_seconds(&self) -> f64 {
        self.value(Metric::TrainSeconds)
    }
}

/// history.csv's header: `epoch`, then every metric's column.
pub fn history_columns() -> Vec<String> {
    std::iter::once("epoch")
        .chain(METRICS.iter().map(|d| d.column))
        .map(String::from)
        .collect()
}

/// One history.csv row, an empty cell where a value was not recorded.
pub fn history_row(r: &EpochRecord) -> Vec<String> {
    let mut row = vec![r.epoch.to_string()];
    row.extend(METRICS.iter().zip(&r.values).map(|(d, v)| match v {
        None => String::new(),
        Some(v) => value_text(d.text, *v),
    }));
    row
}

fn value_text(text: Text, v: f64) -> String {
    match text {
        Text::F32 => f32_text(v),
        Text::Seconds => format!("{v:.4}"),
        Text::Count => format!("{v:.0}"),
    }
}

/// Shortest round-trip text of `x` as f32.
pub fn f32_text(x: f64) -> String {
    format!("{}", x as f32)
}

/// The columns a history must have to be read.
const REQUIRED: [&str; 3] = ["epoch", "loss", "val_loss"];

/// Reads a history.csv by column name (rnn-lab's of any version, or the
/// reference's): `epoch`, `loss` and `val_loss` must be there, any metric
/// column missing is not recorded, and columns of no metric are ignored.
pub fn read_history(path: &Path) -> Result<Vec<EpochRecord>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    let header = reader
        .headers()
        .with_context(|| format!("cannot read {}", path.display()))?
        .clone();
    let find = |name: &str| header.iter().position(|h| h == name);
    for name in REQUIRED {
        if find(name).is_none() {
            bail!("{}: no {name} column", path.display());
        }
    }
    let epoch_at = find("epoch").expect("checked");
    let at: Vec<Option<usize>> = METRICS.iter().map(|d| find(d.column)).collect();
    let mut rows = Vec::new();
    for (line, row) in reader.records().enumerate() {
        let bad = || format!("{}: bad row {}", path.display(), line + 2);
        let row = row.with_context(bad)?;
        let cell = |i: usize| row.get(i).map(str::trim).unwrap_or("");
        let epoch: i64 = cell(epoch_at)
            .parse()
            .with_context(|| format!("epoch {:?} is not a whole number", cell(epoch_at)))
            .with_context(bad)?;
        let mut record = EpochRecord::new(epoch);
        for ((d, at), slot) in METRICS.iter().zip(&at).zip(record.values.iter_mut()) {
            let Some(i) = *at else { continue };
            let text = cell(i);
            if text.is_empty() {
                if REQUIRED.contains(&d.column) {
                    return Err(anyhow::anyhow!("no {} value", d.column)).with_context(bad);
                }
                continue;
            }
            *slot = Some(
                parse_number(text)
                    .with_context(|| format!("{} {text:?} is not a number", d.column))
                    .with_context(bad)?,
            );
        }
        rows.push(record);
    }
    Ok(rows)
}

/// A number as Rust, Python and Keras write them (`nan`, `inf` included).
fn parse_number(text: &str) -> Result<f64> {
    match text.to_ascii_lowercase().as_str() {
        "nan" => Ok(f64::NAN),
        "inf" | "infinity" => Ok(f64::INFINITY),
        "-inf" | "-infinity" => Ok(f64::NEG_INFINITY),
        _ => Ok(text.parse::<f64>()?),
    }
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
        history.write_line(&history_columns())?;
        Ok(history)
    }

    /// Replaces `path` with a history of `records` (whole or not at all)
    /// and opens it to go on: a resumed run's history as its checkpoint
    /// holds it, whatever the cut-off run wrote after.
    pub fn resume(path: &Path, records: &[EpochRecord]) -> Result<HistoryFile> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(history_columns())?;
        for r in records {
            w.write_record(history_row(r))?;
        }
        let text = w.into_inner().context("formatting a history")?;
        super::write_atomic(path, &text)?;
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok(HistoryFile {
            path: path.to_owned(),
            file,
            len: text.len() as u64,
        })
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

    fn record(epoch: i64, loss: f64, val_loss: f64) -> EpochRecord {
        EpochRecord::new(epoch)
            .with(Metric::Loss, loss)
            .with(Metric::ValLoss, val_loss)
            .with(Metric::Seconds, 2.0)
            .with(Metric::TrainSeconds, 1.75)
    }

    #[test]
    fn every_metric_has_one_column_and_its_place() {
        let columns = history_columns();
        assert_eq!(
            columns,
            [
                "epoch",
                "loss",
                "val_loss",
                "seconds",
                "train_seconds",
                "val_rel_loss",
                "grad_norm",
                "grad_norm_max",
                "sequences"
            ]
        );
        for (i, d) in METRICS.iter().enumerate() {
            assert_eq!(d.metric.index(), i);
            assert_eq!(d.metric.column(), columns[i + 1]);
        }
    }

    #[test]
    fn history_row_keeps_f32_precision_and_leaves_unrecorded_cells_empty() {
        let r = record(4, 0.123456789, 1.0 / 3.0).with(Metric::Sequences, 2048.0);
        let row = history_row(&r);
        assert_eq!(
            row,
            [
                "4",
                "0.12345679",
                "0.33333334",
                "2.0000",
                "1.7500",
                "",
                "",
                "",
                "2048"
            ]
        );
        assert_eq!(row[1].parse::<f32>().unwrap(), 0.123456789f64 as f32);
        let nan = r
            .with(Metric::Loss, f64::NAN)
            .with(Metric::ValLoss, f64::INFINITY);
        assert_eq!(&history_row(&nan)[1..3], ["NaN", "inf"]);
        assert_eq!(nan, nan.clone(), "NaN values compare by their bits");
    }

    #[test]
    fn history_reads_by_column_name_in_any_order_and_older_files_still_read() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(HISTORY);
        fs::write(
            &path,
            "val_loss,epoch,train_seconds,loss,seconds\n0.25,0,1.0,0.5,1.5\nNaN,1,1.0,inf,1.5\n",
        )
        .unwrap();
        let h = read_history(&path).unwrap();
        assert_eq!(h[0].loss(), 0.5);
        assert_eq!(h[0].val_loss(), 0.25);
        assert_eq!(
            h[0].get(Metric::GradNorm),
            None,
            "not in the file: not recorded"
        );
        assert_eq!(h[1].epoch, 1);
        assert!(h[1].val_loss().is_nan() && h[1].loss().is_infinite());
        // Keras's CSVLogger: epoch, loss, val_loss alone.
        fs::write(&path, "epoch,loss,val_loss\n0,0.5,nan\n").unwrap();
        let h = read_history(&path).unwrap();
        assert!(h[0].val_loss().is_nan() && h[0].get(Metric::Seconds).is_none());
        fs::write(&path, "epoch,loss\n0,0.5\n").unwrap();
        let err = format!("{:#}", read_history(&path).unwrap_err());
        assert!(err.ends_with("history.csv: no val_loss column"), "{err}");
        fs::write(&path, "epoch,loss,val_loss\n0,0.5,\n").unwrap();
        let err = format!("{:#}", read_history(&path).unwrap_err());
        assert!(err.contains("bad row 2: no val_loss value"), "{err}");
        fs::write(&path, "epoch,loss,val_loss,grad_norm\n0,0.5,0.1,big\n").unwrap();
        let err = format!("{:#}", read_history(&path).unwrap_err());
        assert!(
            err.contains("bad row 2: grad_norm \"big\" is not a number"),
            "{err}"
        );
    }

    #[test]
    fn history_rows_are_flushed_one_by_one_and_a_resumed_history_goes_on() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(HISTORY);
        let mut h = HistoryFile::create(&path).unwrap();
        let header = "epoch,loss,val_loss,seconds,train_seconds,val_rel_loss,grad_norm,grad_norm_max,sequences\n";
        assert_eq!(fs::read_to_string(&path).unwrap(), header);
        h.append(&record(0, 0.5, 0.25)).unwrap();
        // Readable before the writer is dropped.
        let first = format!("{header}0,0.5,0.25,2.0000,1.7500,,,,\n");
        assert_eq!(fs::read_to_string(&path).unwrap(), first);
        h.append(&record(1, 0.4, 0.2)).unwrap();
        drop(h);
        let mut h = HistoryFile::resume(&path, &[record(0, 0.5, 0.25)]).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), first);
        h.append(&record(1, 0.3, 0.1)).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("{first}1,0.3,0.1,2.0000,1.7500,,,,\n")
        );
    }
}
