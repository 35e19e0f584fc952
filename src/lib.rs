//! rnn-lab: SimpleRNN, LSTM and GRU on long-term-dependency tasks (the
//! multiplication and adding problems) on libtorch through tch, faithful to
//! the Keras experiment it reproduces and checkable against PyTorch.

pub mod aggregate;
pub mod config;
pub mod console;
pub mod data;
pub mod device;
pub mod grid;
pub mod model;
pub mod optim;
pub mod output;
pub mod pack;
pub mod packed_model;
pub mod records;
pub mod report;
pub mod reproduce;
pub mod run;
pub mod seed;
pub mod stats;
pub mod sweep;
pub mod train;

pub use config::{Cell, DeviceSpec, Execution, InitScheme, Task, TrainConfig};
pub use records::Summary;
pub use run::RunOptions;
