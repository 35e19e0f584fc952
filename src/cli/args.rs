//! The flag groups of the command line, each flag defined once. Every run
//! setting is one field of `RunArgs`, named as its `TrainConfig` field and
//! flattened into every command that takes run settings; what a command
//! does with the values given (a value for `train`, an axis of a study) is
//! derived from that one definition, never from a hand-kept list.

use std::{fmt, path::PathBuf, str::FromStr};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Serialize;
use serde_json::{Map, Value};

use rnn_lab::config::{
    parse_seeds, AdamKind, AdamLayout, Cell, CheckpointEvery, DeviceSpec, Execution, InitScheme,
    Kernel, Task,
};
use rnn_lab::TrainConfig;

/// A comma-separated list of values of one setting (`rnn,lstm`, `10,25`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct List<T>(pub Vec<T>);

impl<T: FromStr<Err = E>, E: fmt::Display> FromStr for List<T> {
    type Err = String;
    fn from_str(s: &str) -> Result<List<T>, String> {
        s.split(',')
            .map(|part| {
                let part = part.trim();
                // f64 parses these, but no setting takes them (and JSON,
                // where settings are recorded, has no NaN or infinity).
                let word = part.trim_start_matches(['+', '-']).to_ascii_lowercase();
                if ["nan", "inf", "infinity"].contains(&word.as_str()) {
                    return Err(format!("takes a finite number, got {part}"));
                }
                part.parse::<T>().map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<T>, String>>()
            .map(List)
    }
}

/// A seed list: `1`, `1,4,9`, `1..5` or a mix.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Seeds(pub Vec<u64>);

impl FromStr for Seeds {
    type Err = String;
    fn from_str(s: &str) -> Result<Seeds, String> {
        parse_seeds(s).map(Seeds)
    }
}

/// Every setting of a run. Each takes one value in `train` and a list in a
/// study (a list of several values makes that setting an axis of the
/// grid); a setting left out keeps the command's default.
#[derive(Args, Clone, Debug, Default, Serialize)]
#[command(next_help_heading = "Run settings")]
pub struct RunArgs {
    /// multiply (the blog's), blog-add (the blog's sampling, target the sum;
    /// `add` still works),
    /// add-halves (Le et al. 2015's adding problem: a marker in each half),
    /// hs-add, hs-multiply (Hochreiter & Schmidhuber 1997, experiments 4
    /// and 5: lengths T..T+T/10), copy (Arjovsky et al. 2016's copying
    /// memory, T + 20 steps) or order (H&S experiment 6a, temporal order);
    /// `rnn-lab info` lists them.
    #[arg(long, visible_alias = "tasks")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<List<Task>>,
    /// The recurrent cell; `rnn-lab info` lists every cell with its source
    /// and init.
    #[arg(long, visible_alias = "models")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<List<Cell>>,
    /// Time steps per row.
    #[arg(long, visible_alias = "seq-lens")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq_len: Option<List<i64>>,
    /// keras (Keras defaults) or torch (PyTorch defaults).
    #[arg(long, visible_alias = "inits")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<List<InitScheme>>,
    /// Seeds the data, the initial weights and the batch order: 1, 1,4,9 or 1..5.
    #[arg(long, visible_alias = "seeds")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<Seeds>,
    /// Rows generated in total.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub samples: Option<List<i64>>,
    /// Rows given to training and validation; the rest is the test set.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fit_rows: Option<List<i64>>,
    /// Share of the fit rows kept for validation (the last ones, as Keras).
    #[arg(long, allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub val_split: Option<List<f64>>,
    /// Hidden units per layer.
    #[arg(long, allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub units: Option<List<i64>>,
    /// Stacked recurrent layers.
    #[arg(long, allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layers: Option<List<i64>>,
    /// Adam learning rate.
    #[arg(long, allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr: Option<List<f64>>,
    /// Adam epsilon (Keras's 1e-7; PyTorch's default is 1e-8).
    #[arg(long, allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adam_eps: Option<List<f64>>,
    /// Whose Adam: torch (libtorch's) or keras (Keras's update step exactly:
    /// epsilon added before the bias correction).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adam: Option<List<AdamKind>>,
    /// Rows per batch; the last partial batch is kept.
    #[arg(long, allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<List<i64>>,
    /// Passes over the training rows.
    #[arg(long, allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epochs: Option<List<i64>>,
    /// Clip each run's gradient to this L2 norm before each step, as
    /// PyTorch's clip_grad_norm_ (in a pack, each member's own) [default: none].
    #[arg(long, allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clip_norm: Option<List<f64>>,
    /// Stop a run once its val_loss has been below this for --patience
    /// epochs in a row [default: none, every epoch runs].
    #[arg(long, allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_below: Option<List<f64>>,
    /// Epochs in a row below --stop-below before the run stops [default: 1].
    #[arg(long, allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patience: Option<List<i64>>,
}

/// The flag that sets `setting`.
pub fn flag(setting: &str) -> String {
    format!("--{}", setting.replace('_', "-"))
}

impl RunArgs {
    /// The settings given on the command line, by `TrainConfig` field name,
    /// each with its list of values.
    pub fn given(&self) -> Map<String, Value> {
        match serde_json::to_value(self).expect("run flags serialise") {
            Value::Object(map) => map,
            _ => unreachable!("RunArgs is a struct"),
        }
    }

    /// `base` with every setting given on the command line applied; each
    /// must have one value (a run is one point, not a grid).
    pub fn apply(&self, base: &TrainConfig) -> Result<TrainConfig> {
        apply_single(
            self.given(),
            base,
            "a list of values is for `rnn-lab sweep`",
        )
    }
}

/// `base` with each of `given`'s settings set to its one value; `hint`
/// says where lists go instead.
pub fn apply_single(
    given: Map<String, Value>,
    base: &TrainConfig,
    hint: &str,
) -> Result<TrainConfig> {
    let mut config = serde_json::to_value(base)?;
    for (setting, values) in given {
        let single = match values {
            Value::Array(mut v) if v.len() == 1 => v.remove(0),
            Value::Array(v) => bail!(
                "{} takes one value here, got {}; {hint}",
                flag(&setting),
                v.len()
            ),
            other => other,
        };
        config[setting.as_str()] = single;
    }
    serde_json::from_value(config).context("applying the run flags")
}

/// Where and how runs compute.
#[derive(Args, Clone, Debug, Default)]
#[command(next_help_heading = "Execution (how a run computes, not what)")]
pub struct ExecArgs {
    /// auto (CUDA when visible), cpu, cuda or cuda:N [default: auto].
    #[arg(long)]
    pub device: Option<DeviceSpec>,
    /// CPU threads for libtorch per run (a study's runs each get this many;
    /// use --jobs for more runs at once) [default: 1, the fastest measured
    /// for the blog's small model].
    #[arg(long)]
    pub threads: Option<usize>,
    /// What computes the recurrence: auto (on the CPU the native kernel
    /// where the cell has one, else the composed ops; on CUDA libtorch's
    /// fused op for a lone run, the hand-written backward or composed ops
    /// for a pack), native, libtorch, composed or handwritten [default: auto].
    /// `rnn-lab info` lists each cell's kernels.
    #[arg(long)]
    pub kernel: Option<Kernel>,
    /// How Adam holds the weights: flat (one buffer, a few ops a step) or
    /// per-tensor (libtorch's optimizer as it comes); the same numbers bit
    /// for bit. A lone run on cuDNN keeps per-tensor [default: flat].
    #[arg(long)]
    pub adam_layout: Option<AdamLayout>,
    /// How often a run saves checkpoint.safetensors at an epoch's end:
    /// seconds (60s), minutes (5m), epochs (10) or never; a stop signal
    /// (SIGINT, SIGTERM) always saves one [default: 1m].
    #[arg(long)]
    pub checkpoint_every: Option<CheckpointEvery>,
}

impl ExecArgs {
    /// `base` with the flags given applied.
    pub fn apply(&self, base: Execution) -> Execution {
        Execution {
            device: self.device.unwrap_or(base.device),
            threads: self.threads.unwrap_or(base.threads),
            kernel: self.kernel.unwrap_or(base.kernel),
            adam_layout: self.adam_layout.unwrap_or(base.adam_layout),
            checkpoint_every: self.checkpoint_every.unwrap_or(base.checkpoint_every),
        }
    }
}

/// Output and console flags of a single run.
#[derive(Args, Clone, Debug, Default)]
pub struct RunOutputArgs {
    /// Output folder [default: runs/<model>-seed<seed>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace the run files in a non-empty output folder.
    #[arg(long)]
    pub force: bool,
    /// Print nothing; the output files are still written.
    #[arg(long, short)]
    pub quiet: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[derive(clap::Parser)]
    struct Probe {
        #[command(flatten)]
        run: RunArgs,
    }

    /// Every field of TrainConfig has exactly one flag here, and every flag
    /// is a field: a new setting cannot be forgotten by the command line.
    #[test]
    fn every_setting_has_one_flag() {
        // A config with every optional setting set, so each one is a key.
        let config = serde_json::to_value(TrainConfig {
            clip_norm: Some(1.0),
            stop_below: Some(0.01),
            patience: Some(3),
            ..TrainConfig::default()
        })
        .unwrap();
        let mut settings: Vec<String> = config.as_object().unwrap().keys().cloned().collect();
        let mut flags: Vec<String> = Probe::command()
            .get_arguments()
            .filter_map(|a| a.get_long().map(|l| l.replace('-', "_")))
            .collect();
        settings.sort();
        flags.sort();
        assert_eq!(flags, settings);
    }

    #[test]
    fn given_flags_apply_and_lists_are_refused_for_a_run() {
        use clap::Parser;
        let p = Probe::try_parse_from(["x", "--epochs", "3", "--models", "gru", "--lr", "0.01"])
            .unwrap();
        let c = p.run.apply(&TrainConfig::default()).unwrap();
        assert_eq!((c.epochs, c.model, c.lr), (3, Cell::Gru, 0.01));
        assert_eq!(c.units, TrainConfig::default().units);
        let p = Probe::try_parse_from(["x", "--seq-len", "10,20"]).unwrap();
        let err = p
            .run
            .apply(&TrainConfig::default())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "--seq-len takes one value here, got 2; a list of values is for `rnn-lab sweep`"
        );
        let err = Probe::try_parse_from(["x", "--model", "rnn,transformer"])
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("unknown model 'transformer'"),
            "{err}"
        );
    }
}
