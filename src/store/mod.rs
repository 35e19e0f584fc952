//! A run's files on disk and the text formats: whole-or-nothing writes and
//! locks, the run folder, history.csv, summary.json, predictions.csv, the
//! config file a run is read from, tables and the console lines. No tch:
//! everything here is plain data and bytes.

pub mod atomic;
pub mod config_file;
pub mod console;
pub mod evaluation;
pub mod history;
pub mod run_dir;
pub mod summary;
pub mod text;

pub use atomic::{lock, partial_path, try_lock, write_atomic, write_atomic_with};
pub use config_file::RunFile;
pub use evaluation::Evaluation;
pub use history::{read_history, EpochRecord, HistoryFile, Metric};
pub use run_dir::{check_run_dir, RunDir};
pub use summary::{
    read_summary, CheckpointRecord, CpuRecord, CriterionRecord, FinishedRun, InitSource,
    PackRecord, Summary, Versions,
};

pub const HISTORY: &str = "history.csv";
pub const SUMMARY: &str = "summary.json";
pub const PREDICTIONS: &str = "predictions.csv";
pub const WEIGHTS: &str = "model.safetensors";
/// Where a cut-off run goes on from (`run::checkpoint`); removed once the
/// run's summary is written.
pub const CHECKPOINT: &str = "checkpoint.safetensors";
