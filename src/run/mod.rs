//! A job's life: a plan of runs checked once (settings, device, folders,
//! weights files, checkpoints to resume from), its folders locked, the
//! members trained together in the one loop with checkpoints along the
//! way, and each member's files written.

pub mod calibrate;
pub mod check;
pub mod checkpoint;
pub mod inspect;
pub mod job;
pub mod life;
pub mod memory;
pub mod observer;
pub mod outputs;
pub mod signals;

pub use check::{CheckedPlan, MAX_PACK};
pub use job::{Job, Plan};
pub use life::{execute, failures};
