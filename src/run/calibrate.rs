//! What one training batch costs a run when K runs train as one pack: a
//! few batches of a pack of K copies of one run (its data, its weights),
//! timed after a warm-up, nothing written. `--pack auto` chooses from it.
//! The cost is the fastest of a few rounds: another process taking the
//! core for a moment slows a round, never speeds one up. Rounds go on
//! (up to nine) until the two fastest agree within 25 %.

use std::time::Instant;

use anyhow::Result;
use tch::{Device, Kind, Tensor};

use super::memory::{check_model_fits, guard, training_message};
use crate::config::{Execution, TrainConfig};
use crate::nn::init::draw_weights;
use crate::nn::kernel;
use crate::nn::tasks::Dataset;
use crate::nn::weights::copy;
use crate::nn::ModelSpec;
use crate::train::batch::PackData;
use crate::train::Stepper;

/// Batches in a round; one untimed round first (allocations, caches).
const TIMED: i64 = 4;
/// Timed rounds, of which the fastest counts.
const ROUNDS: i64 = 3;
/// More rounds while the two fastest differ by more than this share
/// (another process took the core): up to this many rounds in all.
pub const NOISE_BOUND: f64 = 0.25;
const MAX_ROUNDS: i64 = 9;

/// A measured cost, and whether it was steady (its two fastest rounds
/// within `NOISE_BOUND`): only a steady cost is worth caching.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measured {
    pub seconds: f64,
    pub steady: bool,
}

/// Seconds of training per run and batch for `members` copies of
/// `config` on `device` with `execution`'s kernel and Adam.
pub fn seconds_per_run_batch(
    config: &TrainConfig,
    execution: &Execution,
    device: Device,
    members: usize,
) -> Result<Measured> {
    let spec = ModelSpec::for_config(config);
    check_model_fits(&spec, members)?;
    // The threads each run of the study will have, not this process's.
    tch::set_num_threads(execution.threads as i32);
    let small = TrainConfig {
        samples: config.samples.min(config.fit_rows + 1),
        ..config.clone()
    };
    guard(
        || training_message(config, members),
        || {
            let split = Dataset::for_config(&small)?.split(&small, Device::Cpu)?;
            let data = PackData::stack(&vec![&split; members], device)?;
            let weights = draw_weights(&spec, config.seed);
            let copies = (0..members).map(|_| copy(&weights)).collect();
            let specs = vec![spec; members];
            let (net, mut opt) =
                kernel::build_with_adam(&specs, copies, device, execution, config)?;
            let mut step = Stepper::new(&*net, config);
            let order = Tensor::arange(data.rows, (Kind::Int64, Device::Cpu));
            let index = data.epoch_index(&vec![&order; members]);
            let batches = (data.rows / config.batch_size).clamp(1, 2 * TIMED);
            let mut run = |from: i64, to: i64| -> Result<f64> {
                let start = Instant::now();
                for b in from..to {
                    let first = (b % batches) * config.batch_size;
                    let len = config.batch_size.min(data.rows - first);
                    let _ = step.step(&mut opt, &data.batch(&index, first, len));
                }
                if let Device::Cuda(d) = device {
                    tch::Cuda::synchronize(d as i64);
                }
                Ok(start.elapsed().as_secs_f64())
            };
            run(0, TIMED)?;
            let mut times = Vec::new();
            let steady = |t: &mut Vec<f64>| {
                t.sort_by(f64::total_cmp);
                t.len() >= 2 && t[1] <= t[0] * (1.0 + NOISE_BOUND)
            };
            for round in 1..=MAX_ROUNDS {
                times.push(run(round * TIMED, (round + 1) * TIMED)?);
                if round >= ROUNDS && steady(&mut times) {
                    break;
                }
            }
            Ok(Measured {
                seconds: times[0] / (TIMED as f64 * members as f64),
                steady: steady(&mut times),
            })
        },
    )
}
