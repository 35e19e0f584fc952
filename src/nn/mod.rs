//! Numerics on libtorch (tch): seed streams, the task data, initial
//! weights and weight files, the networks (fused for one member, packed
//! for many, behind one `Network` trait), the optimizers, the device.

pub mod cpu;
pub mod device;
pub mod elman;
pub mod fused;
pub mod handwritten;
pub mod init;
pub mod kernel;
pub mod manual;
pub mod network;
pub mod optim;
pub mod packed;
pub mod seed;
pub mod tasks;
pub mod weights;

pub use network::{Network, Read};
pub use weights::Weights;
