//! rnn-lab: SimpleRNN, LSTM and GRU on long-term-dependency tasks (the
//! multiplication and adding problems) on libtorch through tch, faithful to
//! the Keras experiment it reproduces and checkable against PyTorch.

pub mod aggregate;
pub mod config;
pub mod data;
pub mod model;
pub mod output;
pub mod report;
pub mod reproduce;
pub mod run;
pub mod seed;
pub mod sweep;
pub mod train;

pub use config::{Cell, DeviceSpec, InitScheme, Task, TrainConfig};
pub use report::Summary;
pub use reproduce::{reproduce, ReproduceConfig};
pub use run::{train, RunOptions};
