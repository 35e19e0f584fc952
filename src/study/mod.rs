//! Studies of many runs: the blog's reproduction and sweeps over a grid,
//! their manifests and shards, the packing of runs into child processes,
//! and the statistics over their seeds.

pub mod aggregate;
pub mod grid;
pub mod packing;
pub mod reproduce;
pub mod sweep;
