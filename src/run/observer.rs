//! What a run shows and keeps while it trains, fed by the training loop:
//! each member's history.csv, the console's epoch lines (Keras's line for
//! a lone run, one line per epoch for a pack) and the progress bar.

use anyhow::Result;
use indicatif::ProgressBar;

use super::checkpoint::Checkpoints;
use crate::nn::optim::Optimizer;
use crate::nn::Network;
use crate::store::console::{progress_bar, Console};
use crate::store::text::epoch_line;
use crate::store::{EpochRecord, HistoryFile};
use crate::train::{Observer, TrainState};

pub struct RunObserver<'a, 'c> {
    pub histories: Vec<HistoryFile>,
    pub console: &'a mut Console<'c>,
    pub checkpoints: Checkpoints,
    quiet: bool,
    epochs: i64,
    batches: i64,
    bar: ProgressBar,
}

impl<'a, 'c> RunObserver<'a, 'c> {
    pub fn new(
        histories: Vec<HistoryFile>,
        console: &'a mut Console<'c>,
        checkpoints: Checkpoints,
        quiet: bool,
        epochs: i64,
        batches: i64,
    ) -> RunObserver<'a, 'c> {
        RunObserver {
            histories,
            console,
            checkpoints,
            quiet,
            epochs,
            batches,
            bar: progress_bar(batches, quiet),
        }
    }

    /// Clears the progress bar (the run's last line stays the epoch line).
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    /// Saves every member's checkpoint; a failure is told once per
    /// failure (training goes on from the last good checkpoint).
    pub fn save(&mut self, net: &dyn Network, opt: &Optimizer, state: &TrainState) {
        self.checkpoints.save(net, opt, state);
        if let Some(e) = self.checkpoints.failed.take() {
            // Said even when quiet: the run is less safe than asked.
            let console = &mut *self.console;
            self.bar
                .suspend(|| console.print(&format!("warning: no checkpoint saved: {e}\n")));
        }
    }

    fn print(&mut self, line: String) {
        if !self.quiet {
            let console = &mut *self.console;
            self.bar.suspend(|| console.print(&(line + "\n")));
        }
    }
}

impl Observer for RunObserver<'_, '_> {
    fn batch_done(&mut self) {
        self.bar.inc(1);
    }

    fn member_epoch(&mut self, member: usize, record: &EpochRecord) -> Result<()> {
        self.histories[member].append(record)
    }

    fn checkpoint_due(&mut self) -> bool {
        self.checkpoints.due()
    }

    fn stop_asked(&self) -> bool {
        self.checkpoints.stop_asked()
    }

    fn checkpoint(&mut self, net: &dyn Network, opt: &Optimizer, state: &TrainState) {
        self.save(net, opt, state);
    }

    fn epoch_done(&mut self, records: &[Option<EpochRecord>], training: usize) {
        let Some(first) = records.iter().flatten().next() else {
            return;
        };
        self.bar.reset();
        self.bar.set_message(format!("Epoch {}", first.epoch + 2));
        let line = match records {
            [Some(record)] => epoch_line(record, self.epochs, self.batches),
            _ => pack_line(records, training, self.epochs),
        };
        self.print(line);
    }
}

/// A pack's epoch: how many members train on, and their val_loss range.
fn pack_line(records: &[Option<EpochRecord>], training: usize, epochs: i64) -> String {
    let first = records.iter().flatten().next().expect("one record");
    let finite: Vec<f64> = records
        .iter()
        .flatten()
        .map(EpochRecord::val_loss)
        .filter(|v| v.is_finite())
        .collect();
    let range = match (
        finite.iter().copied().reduce(f64::min),
        finite.iter().copied().reduce(f64::max),
    ) {
        (Some(lo), Some(hi)) => format!("{lo:.4e} .. {hi:.4e}"),
        _ => "–".into(),
    };
    format!(
        "Epoch {}/{epochs} - {training}/{} runs - {:.2}s - val_loss: {range}",
        first.epoch + 1,
        records.len(),
        first.seconds()
    )
}
