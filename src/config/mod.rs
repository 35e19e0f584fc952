//! What a run is, as plain data: `TrainConfig` (what defines a run) and
//! `Execution` (how it runs), validated in one place and serialised beside
//! the run's outputs, so it is enough to rerun it. The keywords, seed lists
//! and the network's shape are submodules.

mod keywords;
mod seeds;
mod shape;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

pub use keywords::{AdamKind, Cell, DeviceSpec, InitScheme, Task};
pub use seeds::parse_seeds;
pub use shape::{ModelSpec, Param, Role, INPUT_SIZE};

/// What defines one training run: the task, the data, the model, the
/// optimiser and the seed. How it is executed (device, threads, console)
/// is [`Execution`], kept apart so that "the same run" is plain equality.
/// `Default` is the blog's experiment, read from `src/config/defaults.json` (the
/// PyTorch reference reads the same file).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub task: Task,
    /// Rows generated in total (fit rows first, the rest is the test set).
    pub samples: i64,
    /// Time steps per sample.
    pub seq_len: i64,
    /// Rows handed to Keras's `fit`; rows after them are the test set.
    pub fit_rows: i64,
    /// Keras's `validation_split`: the last share of the fit rows.
    pub val_split: f64,
    pub model: Cell,
    pub units: i64,
    pub layers: i64,
    pub init: InitScheme,
    pub lr: f64,
    pub adam_eps: f64,
    /// Whose Adam (absent in configs written before it existed: torch).
    #[serde(default)]
    pub adam: AdamKind,
    pub batch_size: i64,
    pub epochs: i64,
    pub seed: u64,
}

/// How a run is executed; none of it changes what the run computes (on
/// one device; CPU and CUDA kernels round differently).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    pub device: DeviceSpec,
    /// CPU threads for libtorch's intra-op parallelism. One by default: the
    /// blog's model is tiny (30 units), so libtorch's per-op parallel
    /// overhead outweighs the work it splits (see README, Speed).
    pub threads: usize,
}

/// The one copy of the defaults, shared with `scripts/reference.py`.
#[derive(Deserialize)]
struct Defaults {
    config: TrainConfig,
    execution: Execution,
}

fn defaults() -> &'static Defaults {
    static DEFAULTS: std::sync::OnceLock<Defaults> = std::sync::OnceLock::new();
    DEFAULTS.get_or_init(|| {
        serde_json::from_str(include_str!("defaults.json"))
            .expect("src/config/defaults.json is valid")
    })
}

impl Default for TrainConfig {
    fn default() -> Self {
        defaults().config.clone()
    }
}

impl Default for Execution {
    fn default() -> Self {
        defaults().execution
    }
}

/// Upper limits: far beyond any sensible experiment, low enough that
/// libtorch and the allocator fail with a message, not a panic.
pub const MAX_UNITS: i64 = 16_384;
pub const MAX_LAYERS: i64 = 256;
pub const MAX_EPOCHS: i64 = 1_000_000;
pub const MAX_THREADS: usize = 4096;
/// Largest learning rate accepted (f32 Adam arithmetic overflows far below f64's range).
pub const MAX_LR: f64 = 1e30;
/// Values in one generated data set (rows x steps x 2 features), about 8 GiB of f32.
pub const MAX_DATA_VALUES: i64 = 1 << 31;
/// Weights of one model, about 4 GiB of f32 before gradients and Adam's moments.
pub const MAX_PARAMETERS: i64 = 1 << 30;

/// Row counts of the three sets, as Keras's `fit(validation_split=...)`
/// and the blog's `X[2560:]` test slice make them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitSizes {
    pub train: i64,
    pub val: i64,
    pub test: i64,
}

impl TrainConfig {
    /// Checks every setting; the message names the setting and how to fix it.
    pub fn validate(&self) -> Result<()> {
        within("samples", self.samples, 1, i64::MAX)?;
        if self.seq_len < 2 {
            bail!(
                "seq_len must be at least 2 (two distinct marked steps), got {}",
                self.seq_len
            );
        }
        if self
            .samples
            .checked_mul(self.seq_len)
            .and_then(|v| v.checked_mul(2))
            .is_none_or(|v| v > MAX_DATA_VALUES)
        {
            bail!(
                "samples x seq_len = {} x {} is too much data (at most {} values in all); lower samples or seq_len",
                self.samples,
                self.seq_len,
                MAX_DATA_VALUES / 2
            );
        }
        within("fit_rows", self.fit_rows, 1, i64::MAX)?;
        if self.fit_rows >= self.samples {
            bail!(
                "fit_rows ({}) must be less than samples ({}): the rows after the fit rows are the test set",
                self.fit_rows,
                self.samples
            );
        }
        if !(self.val_split > 0.0 && self.val_split < 1.0) {
            bail!("val_split must be in (0, 1), got {}", self.val_split);
        }
        let sizes = self.split_sizes();
        if sizes.train < 1 || sizes.val < 1 {
            bail!(
                "val_split {} of {} fit rows leaves {} training and {} validation rows; both must be at least 1",
                self.val_split,
                self.fit_rows,
                sizes.train,
                sizes.val
            );
        }
        within("units", self.units, 1, MAX_UNITS)?;
        within("layers", self.layers, 1, MAX_LAYERS)?;
        let parameters = ModelSpec::for_config(self).parameter_count();
        if parameters > MAX_PARAMETERS {
            bail!(
                "units {} x layers {} make {} weights (at most {}); lower units or layers",
                self.units,
                self.layers,
                parameters,
                MAX_PARAMETERS
            );
        }
        within("batch_size", self.batch_size, 1, i64::MAX)?;
        within("epochs", self.epochs, 1, MAX_EPOCHS)?;
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr <= MAX_LR) {
            bail!(
                "lr must be a positive number up to {MAX_LR:e}, got {}",
                self.lr
            );
        }
        if !(self.adam_eps.is_finite() && self.adam_eps > 0.0) {
            bail!("adam_eps must be a positive number, got {}", self.adam_eps);
        }
        Ok(())
    }

    /// Keras: `split_at = floor(n * (1 - validation_split))`, the validation
    /// rows are the last ones, taken before any shuffling.
    pub fn split_sizes(&self) -> SplitSizes {
        let train = (self.fit_rows as f64 * (1.0 - self.val_split)).floor() as i64;
        SplitSizes {
            train,
            val: self.fit_rows - train,
            test: self.samples - self.fit_rows,
        }
    }

    /// Whether `other` can train in one pack with this run: they may differ
    /// in seed, init scheme and task (each member has its own data and
    /// weights), never in what shapes the step they share.
    pub fn packs_with(&self, other: &TrainConfig) -> bool {
        let shared = |c: &TrainConfig| TrainConfig {
            seed: 0,
            init: InitScheme::Keras,
            task: Task::Multiply,
            ..c.clone()
        };
        shared(self) == shared(other)
    }

    /// Mini-batches per epoch (the last partial batch counts).
    pub fn batches_per_epoch(&self) -> i64 {
        let train = self.split_sizes().train;
        train / self.batch_size + i64::from(train % self.batch_size != 0)
    }
}

impl Execution {
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_THREADS).contains(&self.threads) {
            bail!(
                "threads must be between 1 and {MAX_THREADS}, got {}",
                self.threads
            );
        }
        Ok(())
    }
}

fn within(name: &str, value: i64, low: i64, high: i64) -> Result<()> {
    if value < low {
        bail!("{name} must be at least {low}, got {value}");
    }
    if value > high {
        bail!("{name} must be at most {high}, got {value}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_file_is_the_blog_experiment() {
        let c = TrainConfig::default();
        assert_eq!(
            (c.task, c.model, c.init),
            (Task::Multiply, Cell::Lstm, InitScheme::Keras)
        );
        assert_eq!(
            (c.samples, c.seq_len, c.fit_rows, c.units, c.layers),
            (3000, 100, 2560, 30, 2)
        );
        assert_eq!(
            (c.lr, c.adam_eps, c.batch_size, c.epochs),
            (1e-3, 1e-7, 32, 100)
        );
        assert_eq!(
            c.split_sizes(),
            SplitSizes {
                train: 2048,
                val: 512,
                test: 440
            }
        );
        assert_eq!(c.batches_per_epoch(), 64);
        assert_eq!(Execution::default().device, DeviceSpec::Auto);
    }

    #[test]
    fn split_floors_like_keras() {
        let c = TrainConfig {
            fit_rows: 101,
            val_split: 0.3,
            ..TrainConfig::default()
        };
        // floor(101 * 0.7) = floor(70.7) = 70
        assert_eq!(
            c.split_sizes(),
            SplitSizes {
                train: 70,
                val: 31,
                test: 2899
            }
        );
        assert_eq!(c.batches_per_epoch(), 3, "70 rows: 32 + 32 + 6");
    }

    #[test]
    fn rejects_bad_settings_with_the_setting_name() {
        let d = TrainConfig::default;
        let cases: Vec<(TrainConfig, &str)> = vec![
            (
                TrainConfig { samples: 0, ..d() },
                "samples must be at least 1, got 0",
            ),
            (
                TrainConfig { seq_len: 1, ..d() },
                "seq_len must be at least 2",
            ),
            (
                TrainConfig {
                    samples: 10_000_000_000,
                    ..d()
                },
                "samples x seq_len = 10000000000 x 100 is too much data",
            ),
            (
                TrainConfig {
                    seq_len: i64::MAX,
                    ..d()
                },
                "is too much data",
            ),
            (
                TrainConfig {
                    fit_rows: 3000,
                    ..d()
                },
                "fit_rows (3000) must be less than samples (3000)",
            ),
            (
                TrainConfig {
                    val_split: 1.5,
                    ..d()
                },
                "val_split must be in (0, 1), got 1.5",
            ),
            (
                TrainConfig {
                    val_split: 0.0,
                    ..d()
                },
                "val_split must be in (0, 1), got 0",
            ),
            (
                TrainConfig {
                    val_split: f64::NAN,
                    ..d()
                },
                "val_split must be in (0, 1), got NaN",
            ),
            (
                TrainConfig {
                    fit_rows: 1,
                    val_split: 0.5,
                    ..d()
                },
                "leaves 0 training and 1 validation",
            ),
            (
                TrainConfig { units: -3, ..d() },
                "units must be at least 1, got -3",
            ),
            (
                TrainConfig {
                    units: 1_000_000,
                    ..d()
                },
                "units must be at most 16384, got 1000000",
            ),
            (
                TrainConfig { layers: 0, ..d() },
                "layers must be at least 1",
            ),
            (
                TrainConfig {
                    layers: 1_000_000_000,
                    ..d()
                },
                "layers must be at most 256",
            ),
            (
                TrainConfig {
                    units: 16_384,
                    layers: 256,
                    ..d()
                },
                "lower units or layers",
            ),
            (
                TrainConfig {
                    batch_size: 0,
                    ..d()
                },
                "batch_size must be at least 1",
            ),
            (
                TrainConfig { epochs: 0, ..d() },
                "epochs must be at least 1",
            ),
            (
                TrainConfig {
                    epochs: 1_000_000_000_000,
                    ..d()
                },
                "epochs must be at most 1000000, got 1000000000000",
            ),
            (
                TrainConfig { lr: -1.0, ..d() },
                "lr must be a positive number up to 1e30, got -1",
            ),
            (
                TrainConfig { lr: 1e38, ..d() },
                "lr must be a positive number up to 1e30",
            ),
            (
                TrainConfig {
                    adam_eps: f64::INFINITY,
                    ..d()
                },
                "adam_eps must be a positive number",
            ),
        ];
        for (config, expected) in cases {
            match config.validate() {
                Ok(()) => panic!("accepted {config:?}, expected error {expected:?}"),
                Err(e) => assert!(
                    e.to_string().contains(expected),
                    "{e} does not contain {expected}"
                ),
            }
        }
        assert!(d().validate().is_ok());
        // The smallest split that leaves one row in each set is accepted.
        assert!(TrainConfig {
            fit_rows: 2,
            val_split: 0.5,
            ..d()
        }
        .validate()
        .is_ok());
        for threads in [0, 4097, 2_147_483_648, 4_294_967_297] {
            let e = Execution {
                threads,
                ..Execution::default()
            };
            assert_eq!(
                e.validate().unwrap_err().to_string(),
                format!("threads must be between 1 and 4096, got {threads}")
            );
        }
    }

    #[test]
    fn config_round_trips_through_json_and_reads_old_summaries() {
        let c = TrainConfig {
            model: Cell::Gru,
            ..Default::default()
        };
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"model\":\"gru\""), "{json}");
        assert!(
            !json.contains("device") && !json.contains("threads"),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<TrainConfig>(&json).unwrap(), c);
        // Configs written before device and threads moved out still read.
        let old = json.replace('}', ",\"device\":\"cpu\",\"threads\":1}");
        assert_eq!(serde_json::from_str::<TrainConfig>(&old).unwrap(), c);
    }
}
