//! Numerics on libtorch (tch): seed streams, the task data, the recurrent
//! cells (one file each, behind one registry), the network's shape,
//! initial weights and weight files, the networks (fused for one member,
//! packed for many, behind one `Network` trait), the optimizers, the device.

pub mod cells;
pub mod cpu;
pub mod device;
pub mod fused;
pub mod handwritten;
pub mod init;
pub mod kernel;
pub mod native;
pub mod network;
pub mod optim;
pub mod packed;
pub mod seed;
pub mod shape;
pub mod tasks;
pub mod weights;

pub use network::{Network, Read};
pub use shape::{ModelSpec, Param};
pub use weights::Weights;
