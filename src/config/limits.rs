//! Upper limits and the checks of every setting, in one place; each
//! message names the setting and how to fix it.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use serde::Serialize;

use super::{Execution, TrainConfig};

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
/// Weights of one model, about 4 GiB of f32 before gradients and Adam's moments
/// (checked by `nn::ModelSpec::check_size`, which knows each cell's parameters).
pub const MAX_PARAMETERS: i64 = 1 << 30;

/// The range of each whole-number setting: what `validate` checks, and
/// what `rnn-lab info --json` lists for the scripts that check the same
/// flags (scripts/common.py).
const RANGES: [(&str, Range); 7] = [
    ("samples", Range::from_one()),
    ("fit_rows", Range::from_one()),
    ("units", Range::one_to(MAX_UNITS)),
    ("layers", Range::one_to(MAX_LAYERS)),
    ("batch_size", Range::from_one()),
    ("epochs", Range::one_to(MAX_EPOCHS)),
    ("threads", Range::one_to(MAX_THREADS as i64)),
];

/// The values a whole-number setting may take; no `max`, no upper limit.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Range {
    pub min: i64,
    pub max: Option<i64>,
}

impl Range {
    /// 1 or more.
    const fn from_one() -> Range {
        Range { min: 1, max: None }
    }

    /// 1 to `max`.
    const fn one_to(max: i64) -> Range {
        Range {
            min: 1,
            max: Some(max),
        }
    }

    fn of(setting: &str) -> Range {
        RANGES
            .iter()
            .find(|(name, _)| *name == setting)
            .map(|(_, range)| *range)
            .expect("a setting with a range")
    }
}

/// The limits as `rnn-lab info --json` lists them.
#[derive(Clone, Debug, Serialize)]
pub struct Limits {
    /// Each whole-number setting's range, by its name in a config.
    pub ranges: BTreeMap<&'static str, Range>,
    /// The largest learning rate; every rate must be above 0.
    pub max_lr: f64,
    /// Values in one generated data set (rows x steps x features).
    pub max_data_values: i64,
    /// Weights of one model.
    pub max_parameters: i64,
}

impl Limits {
    pub fn current() -> Limits {
        Limits {
            ranges: RANGES.into_iter().collect(),
            max_lr: MAX_LR,
            max_data_values: MAX_DATA_VALUES,
            max_parameters: MAX_PARAMETERS,
        }
    }
}

impl TrainConfig {
    /// Checks every setting; the message names the setting and how to fix it.
    pub fn validate(&self) -> Result<()> {
        within("samples", self.samples)?;
        let (shortest, why) = self.task.min_seq_len();
        if self.seq_len < shortest {
            bail!(
                "seq_len must be at least {shortest} for the {} task ({why}), got {}",
                self.task,
                self.seq_len
            );
        }
        if self
            .seq_len
            .checked_add(self.seq_len / 10 + 20)
            .and_then(|_| self.samples.checked_mul(self.task.steps(self.seq_len)))
            .and_then(|v| v.checked_mul(self.task.shape().features))
            .is_none_or(|v| v > MAX_DATA_VALUES)
        {
            bail!(
                "samples x seq_len = {} x {} is too much data (at most {} values in all); lower samples or seq_len",
                self.samples,
                self.seq_len,
                MAX_DATA_VALUES
            );
        }
        within("fit_rows", self.fit_rows)?;
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
        within("units", self.units)?;
        within("layers", self.layers)?;
        within("batch_size", self.batch_size)?;
        within("epochs", self.epochs)?;
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr <= MAX_LR) {
            bail!(
                "lr must be a positive number up to {MAX_LR:e}, got {}",
                self.lr
            );
        }
        if !(self.adam_eps.is_finite() && self.adam_eps > 0.0) {
            bail!("adam_eps must be a positive number, got {}", self.adam_eps);
        }
        if let Some(clip) = self.clip_norm {
            if !(clip.is_finite() && clip > 0.0) {
                bail!("clip_norm must be a positive number, got {clip}");
            }
        }
        if let Some(below) = self.stop_below {
            if !(below.is_finite() && below > 0.0) {
                bail!("stop_below must be a positive number, got {below}");
            }
        }
        match (self.patience, self.stop_below) {
            (Some(p), _) if p < 1 => bail!("patience must be 1 or more, got {p}"),
            (Some(_), None) => bail!("patience needs stop_below: give --stop-below VAL_LOSS too"),
            _ => {}
        }
        Ok(())
    }
}

impl Execution {
    pub fn validate(&self) -> Result<()> {
        let Range { min, max } = Range::of("threads");
        let max = max.expect("threads have an upper limit");
        if !(min..=max).contains(&i64::try_from(self.threads).unwrap_or(i64::MAX)) {
            bail!(
                "threads must be between {min} and {max}, got {}",
                self.threads
            );
        }
        Ok(())
    }
}

/// Checks a whole-number setting against its range in `RANGES`.
fn within(name: &str, value: i64) -> Result<()> {
    let Range { min, max } = Range::of(name);
    if value < min {
        bail!("{name} must be at least {min}, got {value}");
    }
    if let Some(max) = max.filter(|&max| value > max) {
        bail!("{name} must be at most {max}, got {value}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each config is refused with an error containing its text.
    fn refused(cases: Vec<(TrainConfig, &str)>) {
        for (config, expected) in cases {
            match config.validate() {
                Ok(()) => panic!("accepted {config:?}, expected error {expected:?}"),
                Err(e) => assert!(
                    e.to_string().contains(expected),
                    "{e} does not contain {expected}"
                ),
            }
        }
    }

    #[test]
    fn rejects_bad_sizes_naming_the_setting() {
        let d = TrainConfig::default;
        refused(vec![
            (
                TrainConfig { samples: 0, ..d() },
                "samples must be at least 1, got 0",
            ),
            (
                TrainConfig { seq_len: 1, ..d() },
                "seq_len must be at least 2 for the multiply task",
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
        ]);
    }

    #[test]
    fn rejects_bad_model_naming_the_setting() {
        let d = TrainConfig::default;
        refused(vec![
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
        ]);
    }

    #[test]
    fn rejects_bad_training_naming_the_setting() {
        let d = TrainConfig::default;
        refused(vec![
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
        ]);
    }

    /// What `info --json` lists is what `validate` checks.
    #[test]
    fn the_limits_listed_are_the_limits_checked() {
        let listed = serde_json::to_value(Limits::current()).unwrap();
        assert_eq!(
            listed["ranges"],
            serde_json::json!({
                "batch_size": {"min": 1, "max": null},
                "epochs": {"min": 1, "max": 1_000_000},
                "fit_rows": {"min": 1, "max": null},
                "layers": {"min": 1, "max": 256},
                "samples": {"min": 1, "max": null},
                "threads": {"min": 1, "max": 4096},
                "units": {"min": 1, "max": 16_384},
            })
        );
        assert_eq!(listed["max_lr"], 1e30);
        assert_eq!(listed["max_data_values"], 2_147_483_648_i64);
        assert_eq!(listed["max_parameters"], 1_073_741_824);
        let d = TrainConfig::default;
        assert_eq!(
            TrainConfig {
                epochs: 1_000_001,
                ..d()
            }
            .validate()
            .unwrap_err()
            .to_string(),
            "epochs must be at most 1000000, got 1000001"
        );
        assert!(TrainConfig {
            epochs: 1_000_000,
            ..d()
        }
        .validate()
        .is_ok());
    }

    #[test]
    fn accepts_the_smallest_sensible_settings_and_refuses_bad_threads() {
        let d = TrainConfig::default;
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
}
