//! The grid of a sweep: its axes, one run per point with a stable folder
//! name, the `sweep.json` manifest, and disjoint shards for job arrays.

use std::{fs, path::Path, str::FromStr};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::config::{Cell, InitScheme, Task, TrainConfig};

pub const MANIFEST: &str = "sweep.json";

/// The axes of a sweep; every other setting is fixed in `base`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    pub tasks: Vec<Task>,
    pub models: Vec<Cell>,
    pub inits: Vec<InitScheme>,
    pub seq_lens: Vec<i64>,
    pub seeds: Vec<u64>,
    /// The fixed settings (its task, model, init, seq_len and seed are
    /// replaced by each run's).
    pub base: TrainConfig,
}

/// One run of the grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// Folder name, stable for the same settings: `multiply-lstm-keras-len100-seed1`.
    pub name: String,
    pub config: TrainConfig,
}

/// `sweep.json`: the grid and every run of it, in grid order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub grid: Grid,
    pub runs: Vec<RunSpec>,
}

/// The folder name of a run.
pub fn run_name(c: &TrainConfig) -> String {
    format!(
        "{}-{}-{}-len{}-seed{}",
        c.task, c.model, c.init, c.seq_len, c.seed
    )
}

impl Grid {
    /// Every run, ordered task, model, init, length, seed.
    pub fn runs(&self) -> Vec<RunSpec> {
        let mut runs = Vec::new();
        for &task in &self.tasks {
            for &model in &self.models {
                for &init in &self.inits {
                    for &seq_len in &self.seq_lens {
                        for &seed in &self.seeds {
                            let config = TrainConfig {
                                task,
                                model,
                                init,
                                seq_len,
                                seed,
                                ..self.base.clone()
                            };
                            runs.push(RunSpec {
                                name: run_name(&config),
                                config,
                            });
                        }
                    }
                }
            }
        }
        runs
    }

    /// Checks the axes and every run's settings.
    pub fn validate(&self) -> Result<()> {
        fn axis<T: PartialEq + std::fmt::Display>(flag: &str, values: &[T]) -> Result<()> {
            if values.is_empty() {
                bail!("{flag} needs at least one value");
            }
            for (i, v) in values.iter().enumerate() {
                if values[..i].contains(v) {
                    bail!("{flag} lists {v} twice");
                }
            }
            Ok(())
        }
        axis("tasks", &self.tasks)?;
        axis("models", &self.models)?;
        axis("inits", &self.inits)?;
        axis("seq_lens", &self.seq_lens)?;
        axis("seeds", &self.seeds)?;
        for run in self.runs() {
            run.config
                .validate()
                .with_context(|| format!("run {}", run.name))?;
        }
        Ok(())
    }
}

/// The K-th (1-based) of N disjoint slices of a grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("invalid shard '{s}' (expected K/N with 1 <= K <= N, e.g. 2/8)");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (usize, usize) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if n == 0 || k == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard { index: k, count: n })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    /// The shard of a Slurm job array task: `SLURM_ARRAY_TASK_ID` counted
    /// from `SLURM_ARRAY_TASK_MIN` (0 when unset) among
    /// `SLURM_ARRAY_TASK_COUNT` tasks. None outside a job array.
    pub fn from_slurm(var: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>> {
        let (Some(id), Some(count)) = (var("SLURM_ARRAY_TASK_ID"), var("SLURM_ARRAY_TASK_COUNT"))
        else {
            return Ok(None);
        };
        let num = |name: &str, v: &str| -> Result<usize> {
            v.trim()
                .parse()
                .with_context(|| format!("{name}={v} is not a number"))
        };
        let id = num("SLURM_ARRAY_TASK_ID", &id)?;
        let count = num("SLURM_ARRAY_TASK_COUNT", &count)?;
        let min = var("SLURM_ARRAY_TASK_MIN")
            .map(|m| num("SLURM_ARRAY_TASK_MIN", &m))
            .transpose()?
            .unwrap_or(0);
        if id < min || id - min >= count {
            bail!(
                "SLURM_ARRAY_TASK_ID={id} is outside the array ({count} tasks from {min}); use a contiguous --array, or pass --shard K/N"
            );
        }
        Ok(Some(Shard {
            index: id - min + 1,
            count,
        }))
    }

    /// Whether the `i`-th run of the grid (0-based) is this shard's.
    /// Round-robin, so every shard gets a mix of cheap and costly runs.
    pub fn owns(&self, i: usize) -> bool {
        i % self.count == self.index - 1
    }
}

/// Reads `dir/sweep.json`, if any.
pub fn read_manifest(dir: &Path) -> Result<Option<Manifest>> {
    let path = dir.join(MANIFEST);
    match fs::read_to_string(&path) {
        Ok(text) => {
            Ok(Some(serde_json::from_str(&text).with_context(|| {
                format!("cannot parse {}", path.display())
            })?))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Grid {
        Grid {
            tasks: vec![Task::Multiply, Task::Add],
            models: vec![Cell::Rnn, Cell::Lstm, Cell::Gru],
            inits: vec![InitScheme::Keras],
            seq_lens: vec![10, 25, 50, 100, 200],
            seeds: vec![1, 2, 3],
            base: TrainConfig::default(),
        }
    }

    #[test]
    fn grid_expands_in_order_with_stable_names() {
        let runs = grid().runs();
        assert_eq!(runs.len(), 2 * 3 * 5 * 3);
        assert_eq!(runs[0].name, "multiply-rnn-keras-len10-seed1");
        assert_eq!(runs[1].name, "multiply-rnn-keras-len10-seed2");
        assert_eq!(runs[3].name, "multiply-rnn-keras-len25-seed1");
        assert_eq!(runs[89].name, "add-gru-keras-len200-seed3");
        assert_eq!(runs[89].config.seq_len, 200);
        assert_eq!(runs[89].config.task, Task::Add);
        let mut names: Vec<_> = runs.iter().map(|r| r.name.clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 90, "names are unique");
        assert_eq!(grid().runs(), runs, "expansion is deterministic");
    }

    #[test]
    fn grid_validation_names_the_axis() {
        let g = Grid {
            seq_lens: vec![10, 10],
            ..grid()
        };
        assert_eq!(
            g.validate().unwrap_err().to_string(),
            "seq_lens lists 10 twice"
        );
        let g = Grid {
            models: vec![],
            ..grid()
        };
        assert_eq!(
            g.validate().unwrap_err().to_string(),
            "models needs at least one value"
        );
        let g = Grid {
            seq_lens: vec![1],
            ..grid()
        };
        let err = format!("{:#}", g.validate().unwrap_err());
        assert!(
            err.contains("run multiply-rnn-keras-len1-seed1: seq_len must be at least 2"),
            "{err}"
        );
    }

    #[test]
    fn shards_are_disjoint_and_complete_for_any_count() {
        for total in [1usize, 2, 7, 90, 91] {
            for count in 1..=12 {
                let mut owners = vec![0; total];
                for index in 1..=count {
                    let shard = Shard { index, count };
                    for (i, o) in owners.iter_mut().enumerate() {
                        if shard.owns(i) {
                            *o += 1;
                        }
                    }
                }
                assert!(
                    owners.iter().all(|&o| o == 1),
                    "{total} runs over {count} shards: {owners:?}"
                );
            }
        }
    }

    #[test]
    fn shard_flag_and_slurm_environment() {
        assert_eq!(
            "2/8".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 8 }
        );
        for bad in ["0/8", "9/8", "1/0", "x", "1-2"] {
            assert!(
                bad.parse::<Shard>().unwrap_err().contains("expected K/N"),
                "{bad}"
            );
        }
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(Shard::from_slurm(env(&[])).unwrap(), None);
        let s = Shard::from_slurm(env(&[
            ("SLURM_ARRAY_TASK_ID", "0"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]))
        .unwrap();
        assert_eq!(s, Some(Shard { index: 1, count: 4 }));
        let s = Shard::from_slurm(env(&[
            ("SLURM_ARRAY_TASK_ID", "4"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
        ]))
        .unwrap();
        assert_eq!(s, Some(Shard { index: 4, count: 4 }));
        let err = Shard::from_slurm(env(&[
            ("SLURM_ARRAY_TASK_ID", "9"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]));
        assert!(err.unwrap_err().to_string().contains("outside the array"));
    }
}
