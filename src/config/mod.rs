//! What a run is, as plain data: `TrainConfig` (what defines a run) and
//! `Execution` (how it runs), validated in one place and serialised beside
//! the run's outputs, so it is enough to rerun it. The keywords, seed lists
//! and the network's shape are submodules.

mod keywords;
mod limits;
mod seeds;
mod task;

use serde::{Deserialize, Serialize};

pub(crate) use keywords::serde_as_text;
pub use keywords::{
    AdamKind, AdamLayout, Cell, CheckpointEvery, DeviceSpec, InitScheme, Kernel, Task,
};
pub use limits::*;
pub use seeds::parse_seeds;
pub use task::{catalogue, Loss, Readout, Score, TaskInfo, TaskShape};

/// What defines one training run: the task, the data, the model, the
/// optimiser and the seed. How it is executed (device, threads, console)
/// is [`Execution`], kept apart so that "the same run" is plain equality.
/// `Default` is the blog's experiment, read from `src/config/defaults.json` (the
/// PyTorch reference reads the same file).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
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
    /// Clip each member's gradient to this L2 norm over all its weights
    /// before each step (PyTorch's clip_grad_norm_); none when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_norm: Option<f64>,
    /// Stop once val_loss has been below this for `patience` epochs in a
    /// row (opt-in: without it a run trains every epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_below: Option<f64>,
    /// Epochs in a row with val_loss below `stop_below` before the run
    /// stops (1 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patience: Option<i64>,
}

/// Keys older files held inside a run's config (its execution, before it
/// moved out): read and dropped. Any other unknown key is refused by name.
const LEGACY_KEYS: [&str; 2] = ["device", "threads"];

impl Serialize for TrainConfig {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        TrainConfig::serialize(self, s)
    }
}

impl<'de> Deserialize<'de> for TrainConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<TrainConfig, D::Error> {
        let mut fields = serde_json::Map::deserialize(d)?;
        for key in LEGACY_KEYS {
            fields.remove(key);
        }
        TrainConfig::deserialize(serde_json::Value::Object(fields))
            .map_err(serde::de::Error::custom)
    }
}

/// How a run is executed: where, on how many threads, and which kernel
/// and Adam layout compute it. It changes no setting of the run; the
/// kernels compute the same function with float32 rounding in another
/// order (their results agree within 1e-6 relative, see `nn::kernel`),
/// and CPU and CUDA round differently too. The defaults are
/// `defaults.json`'s, for `train` and studies alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Execution {
    pub device: DeviceSpec,
    /// CPU threads for libtorch's intra-op parallelism. One by default: the
    /// blog's model is tiny (30 units), so libtorch's per-op parallel
    /// overhead outweighs the work it splits (see docs/speed.md).
    pub threads: usize,
    /// What computes the recurrence (absent in older plans, which ran auto).
    #[serde(default = "older_plans_kernel")]
    pub kernel: Kernel,
    /// How Adam holds the weights (absent in older plans, which ran flat).
    #[serde(default = "older_plans_adam_layout")]
    pub adam_layout: AdamLayout,
    /// How often a run saves a checkpoint (absent in older plans).
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: CheckpointEvery,
}

/// Older plans' checkpoint interval: the default.
fn default_checkpoint_every() -> CheckpointEvery {
    defaults().execution.checkpoint_every
}

/// The kernel of a plan written before plans named one.
fn older_plans_kernel() -> Kernel {
    Kernel::Auto
}

/// The Adam layout of a plan written before plans named one.
fn older_plans_adam_layout() -> AdamLayout {
    AdamLayout::Flat
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

/// Row counts of the three sets, as Keras's `fit(validation_split=...)`
/// and the blog's `X[2560:]` test slice make them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitSizes {
    pub train: i64,
    pub val: i64,
    pub test: i64,
}

/// A setting's value as flags, folder names and tables write it: a
/// keyword bare (`lstm`), a number as JSON writes it (`0.001`).
pub fn value_text(v: &serde_json::Value) -> String {
    v.as_str().map_or(v.to_string(), str::to_owned)
}

impl TrainConfig {
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
    /// weights; tasks of one shape and length), never in what shapes the
    /// step they share.
    pub fn packs_with(&self, other: &TrainConfig) -> bool {
        let shared = |c: &TrainConfig| TrainConfig {
            seed: 0,
            init: InitScheme::Keras,
            task: Task::Multiply,
            ..c.clone()
        };
        let steps = |c: &TrainConfig| (c.task.shape(), c.task.steps(c.seq_len));
        shared(self) == shared(other) && steps(self) == steps(other)
    }

    /// The epochs in a row below `stop_below` that end a run early, if it
    /// stops at the criterion.
    pub fn stop_rule(&self) -> Option<(f64, i64)> {
        self.stop_below
            .map(|below| (below, self.patience.unwrap_or(1)))
    }

    /// Mini-batches per epoch (the last partial batch counts).
    pub fn batches_per_epoch(&self) -> i64 {
        let train = self.split_sizes().train;
        train / self.batch_size + i64::from(train % self.batch_size != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let blog = TrainConfig::default();
        assert_eq!(
            (blog.split_sizes(), blog.batches_per_epoch()),
            (
                SplitSizes {
                    train: 2048,
                    val: 512,
                    test: 440
                },
                64
            ),
            "the blog's 2560 fit rows: 2048 / 512, and 440 test rows"
        );
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
