//! `--pack auto`: the pack size with the lowest measured cost per run, for
//! each shape of run a study trains. Candidates 1, 8, 32 and 128 (up to the
//! runs there are, which is a candidate too) are timed for a few batches
//! (`run::calibrate`); the costs are cached per run shape, kernel, device
//! and CPU (or GPU) model in `$RNN_LAB_CACHE` (default
//! `~/.cache/rnn-lab`), `pack-costs.json`, so a study measures a shape once
//! per machine.

use std::{collections::BTreeMap, fs, path::PathBuf};

use anyhow::{bail, Result};
use tch::Device;

use crate::run::signals::signals;

use crate::config::{Execution, TrainConfig};
use crate::nn::cpu;
use crate::nn::ModelSpec;
use crate::run::calibrate::seconds_per_run_batch;
use crate::run::MAX_PACK;
use crate::store::write_atomic;

/// Pack sizes tried, besides the number of runs there are.
const CANDIDATES: [usize; 4] = [1, 8, 32, 128];

/// The measured costs of one shape: seconds per run and batch by pack size.
pub type Costs = BTreeMap<usize, f64>;

/// What `--pack auto` chose for one shape of run, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    pub members: usize,
    pub costs: Costs,
    /// Whether the costs came from the cache.
    pub cached: bool,
}

impl Choice {
    /// "32 (s per run-batch: 1 4.1e-3, 8 1.3e-3, 32 9.8e-4; cached)".
    pub fn describe(&self) -> String {
        if self.costs.is_empty() {
            return format!("{} (nothing to pack)", self.members);
        }
        let costs: Vec<String> = self
            .costs
            .iter()
            .map(|(k, s)| format!("{k} {s:.2e}"))
            .collect();
        let cached = if self.cached { "; cached" } else { "" };
        format!(
            "{} (s per run-batch: {}{cached})",
            self.members,
            costs.join(", ")
        )
    }
}

/// `$RNN_LAB_CACHE/pack-costs.json`, else under `$XDG_CACHE_HOME` or
/// `~/.cache`; a variable set to "" counts as unset (never the current
/// folder).
fn cache_file() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let dir = var("RNN_LAB_CACHE")
        .map(PathBuf::from)
        .or_else(|| var("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("rnn-lab")))
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cache").join("rnn-lab")))?;
    Some(dir.join("pack-costs.json"))
}

/// The machine part of a cache key: on CUDA the device and every GPU
/// model the driver lists (CUDA's device order need not be the driver's),
/// the CPU's model otherwise, and the threads.
fn machine(dev: Device, execution: &Execution) -> String {
    match dev {
        Device::Cuda(d) => {
            let mut models: Vec<String> = fs::read_dir("/proc/driver/nvidia/gpus")
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| fs::read_to_string(e.path().join("information")).ok())
                .filter_map(|info| {
                    info.lines()
                        .find_map(|l| l.strip_prefix("Model:"))
                        .map(|m| m.trim().to_owned())
                })
                .collect();
            models.sort();
            if models.is_empty() {
                models.push("unknown GPU".into());
            }
            format!("cuda:{d} of [{}]", models.join(", "))
        }
        _ => format!(
            "cpu {} ({} thread(s))",
            cpu::record().model,
            execution.threads
        ),
    }
}

/// The cache key of runs of `config`'s shape: everything that changes
/// what a training step computes and so what it costs.
fn key(config: &TrainConfig, execution: &Execution, dev: Device) -> String {
    let spec = ModelSpec::for_config(config);
    let task = config.task.shape();
    format!(
        "rnn-lab {} | {} {}x{} | {} steps x {} features -> {} | read {:?}, loss {:?} | batch {} | clip {:?} | kernel {} | adam {} {:?} | {}",
        env!("CARGO_PKG_VERSION"),
        spec.cell,
        spec.layers,
        spec.units,
        config.task.steps(config.seq_len),
        spec.input_size,
        spec.output_size,
        task.readout,
        task.loss,
        config.batch_size,
        config.clip_norm,
        execution.kernel,
        config.adam,
        execution.adam_layout,
        machine(dev, execution),
    )
}

/// The cache's entries; a file that does not parse counts as empty (and
/// is replaced by the next measurement), and a cost that is not a positive
/// finite number is dropped (measured again).
fn read_cache() -> BTreeMap<String, Costs> {
    let mut cache: BTreeMap<String, Costs> = match cache_file().map(fs::read) {
        Some(Ok(bytes)) => serde_json::from_slice(&bytes).unwrap_or_default(),
        _ => BTreeMap::new(),
    };
    for costs in cache.values_mut() {
        costs.retain(|_, c| c.is_finite() && *c > 0.0);
    }
    cache
}

/// Adds `costs` under `key`, re-reading the file first so that another
/// study's entries written meanwhile are kept. Best effort: a cache that
/// cannot be written is measured again next time.
fn save_costs(key: String, costs: &Costs) {
    let (Some(file), mut cache) = (cache_file(), read_cache()) else {
        return;
    };
    cache.entry(key).or_default().extend(costs);
    let _ = fs::create_dir_all(file.parent().expect("a folder"));
    if let Ok(bytes) = serde_json::to_vec_pretty(&cache) {
        let _ = write_atomic(&file, &bytes);
    }
}

/// The pack size for `runs` runs of `config`'s shape: measured, or read
/// from the cache; with `save`, new measurements are cached.
pub fn choose(
    config: &TrainConfig,
    runs: usize,
    execution: &Execution,
    dev: Device,
    save: bool,
) -> Result<Choice> {
    if runs <= 1 {
        return Ok(Choice {
            members: 1,
            costs: Costs::new(),
            cached: false,
        });
    }
    let key = key(config, execution, dev);
    let mut candidates: Vec<usize> = CANDIDATES.iter().copied().filter(|&k| k < runs).collect();
    candidates.push(runs.min(MAX_PACK));
    candidates.retain(|&k| k >= 1);
    candidates.dedup();
    let known = read_cache().remove(&key).unwrap_or_default();
    let cached = candidates.iter().all(|k| known.contains_key(k));
    let mut costs = Costs::new();
    // Costs measured now whose rounds disagreed beyond the noise bound:
    // used for this choice, never cached.
    let mut noisy = Vec::new();
    for &k in &candidates {
        if signals() > 0 {
            bail!("interrupted while measuring --pack auto; nothing was started");
        }
        let cost = match known.get(&k) {
            Some(&c) => c,
            None => match seconds_per_run_batch(config, execution, dev, k) {
                Ok(m) => {
                    if !m.steady {
                        noisy.push(k);
                    }
                    m.seconds
                }
                // A pack too large for this machine is not a candidate.
                Err(_) if k > 1 => continue,
                Err(e) => {
                    return Err(e.context(
                        "measuring runs alone for --pack auto (give --pack N to skip it)",
                    ))
                }
            },
        };
        costs.insert(k, cost);
    }
    let members = *costs
        .iter()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .map(|(k, _)| k)
        .expect("a candidate");
    if save && !cached {
        let mut steady = costs.clone();
        steady.retain(|k, _| !noisy.contains(k));
        save_costs(key, &steady);
    }
    Ok(Choice {
        members,
        costs,
        cached,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_describe_their_costs() {
        let c = Choice {
            members: 8,
            costs: [(1, 4.1e-3), (8, 1.3e-3)].into_iter().collect(),
            cached: true,
        };
        assert_eq!(
            c.describe(),
            "8 (s per run-batch: 1 4.10e-3, 8 1.30e-3; cached)"
        );
    }
}
