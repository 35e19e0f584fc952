//! A run to do and a plan of runs: the one contract between the command
//! line, a study and the child processes it starts. A `Job` is what a run
//! computes (its config and where its initial weights come from) and where
//! it goes; a `Plan` is jobs trained together as one pack (a plan of one is
//! a lone run) with how they execute beside them.

use std::{fs, path::Path, path::PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::config::{Execution, TrainConfig};
use crate::store::write_atomic;

/// One run: its settings, its initial weights (drawn from the seed unless
/// `init_from` names a weights file) and its folder, plus files it also
/// exports for lockstep references.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    pub config: TrainConfig,
    pub out: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<PathBuf>,
    /// Also write the initial weights here (safetensors) before training.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub save_init: Option<PathBuf>,
    /// Also write the data set and every epoch's batch order here
    /// (safetensors: `x`, `y`, `order` `[epochs, train rows]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub save_data: Option<PathBuf>,
}

impl Job {
    /// Where `train` writes a run when no `--out` is given.
    pub fn default_out(config: &TrainConfig) -> PathBuf {
        PathBuf::from(format!("runs/{}-seed{}", config.model, config.seed))
    }

    /// A run of `config` into `out`, its weights drawn from its seed.
    pub fn new(config: TrainConfig, out: PathBuf) -> Job {
        Job {
            config,
            out,
            init_from: None,
            save_init: None,
            save_data: None,
        }
    }
}

/// Jobs trained together in one process, and how.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub execution: Execution,
    /// Replace the run files of non-empty folders (a cut-off run restarts).
    #[serde(default)]
    pub force: bool,
    /// With `force`: still resume a cut-off run from its checkpoint where
    /// it has a good one of its settings (what a study's children do).
    #[serde(default)]
    pub resume: bool,
    /// Print nothing; the files are still written.
    #[serde(default)]
    pub quiet: bool,
    pub jobs: Vec<Job>,
}

impl Plan {
    /// Reads a plan file: a plan, or (as sweeps wrote them before plans
    /// carried their execution) a bare list of jobs, which gets the
    /// default execution.
    pub fn read(path: &Path) -> Result<Plan> {
        let text = fs::read_to_string(path)
            .with_context(|| format!("cannot read --plan {}", path.display()))?;
        let what = || {
            format!(
                "--plan {} is not a plan (execution and jobs, or a list of jobs)",
                path.display()
            )
        };
        let value: serde_json::Value = serde_json::from_str(&text).with_context(what)?;
        if value.is_array() {
            let jobs = serde_json::from_value(value).with_context(what)?;
            return Ok(Plan {
                execution: Execution::default(),
                force: false,
                resume: false,
                quiet: false,
                jobs,
            });
        }
        serde_json::from_value(value).with_context(what)
    }

    /// Writes the plan to `path`, whole or not at all.
    pub fn write(&self, path: &Path) -> Result<()> {
        write_atomic(
            path,
            (serde_json::to_string_pretty(self)? + "\n").as_bytes(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_round_trip_and_old_job_lists_still_read() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("p.json");
        let plan = Plan {
            execution: Execution::default(),
            force: true,
            resume: false,
            quiet: true,
            jobs: vec![Job::new(TrainConfig::default(), "a".into())],
        };
        plan.write(&path).unwrap();
        assert_eq!(Plan::read(&path).unwrap(), plan);
        let old =
            serde_json::json!([{"config": TrainConfig::default(), "out": "a", "init_from": null}]);
        fs::write(&path, old.to_string()).unwrap();
        let read = Plan::read(&path).unwrap();
        assert_eq!((read.jobs, read.force), (plan.jobs, false));
        fs::write(&path, "{\"jobs\": 3}").unwrap();
        let err = Plan::read(&path).unwrap_err().to_string();
        assert!(
            err.ends_with("is not a plan (execution and jobs, or a list of jobs)"),
            "{err}"
        );
    }
}
