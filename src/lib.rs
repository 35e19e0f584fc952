//! rnn-lab: SimpleRNN, LSTM and GRU on long-term-dependency tasks (the
//! multiplication and adding problems) on libtorch through tch, faithful to
//! the Keras experiment it reproduces and checkable against PyTorch.
//!
//! The folders are the floors, bottom up, every import pointing down:
//! `config` (what a run is) -> `store` (its files; no tch) -> `stats` ->
//! `nn` (numerics on tch) -> `train` (the one loop) -> `run` (a plan's
//! life) -> `study` (many runs) -> the CLI (`src/cli`, the binary).

pub mod config;
pub mod nn;
pub mod run;
pub mod stats;
pub mod store;
pub mod study;
pub mod train;

pub use config::{Cell, DeviceSpec, Execution, InitScheme, Task, TrainConfig};
pub use run::{Job, Plan};
pub use store::Summary;
