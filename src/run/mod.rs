//! A job's life: a plan of runs checked once (settings, device, folders,
//! weights files), its folders locked, the members trained together in the
//! one loop, and each member's files written.

pub mod calibrate;
pub mod check;
pub mod job;
pub mod life;
pub mod memory;
pub mod observer;
pub mod outputs;

pub use check::{CheckedPlan, MAX_PACK};
pub use job::{Job, Plan};
pub use life::{execute, failures};
