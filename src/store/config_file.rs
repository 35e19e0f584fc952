//! A run's settings from a JSON file (`train --config`): a run config, or a
//! summary.json (its `config`), so any finished run can be rerun exactly.
//! Read once, with the weights file the run started from, if any.

use std::{fs, path::Path};

use anyhow::{bail, Context, Result};

use super::summary::InitSource;
use crate::config::TrainConfig;

/// What a config file says about a run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunFile {
    pub config: TrainConfig,
    /// The weights file a summary.json says its run started from; None for
    /// a run config, or a run that drew its weights from its seed.
    pub init_from: Option<InitSource>,
}

impl RunFile {
    /// Reads `path` (named `--config` in messages).
    pub fn read(path: &Path) -> Result<RunFile> {
        let text = fs::read_to_string(path)
            .with_context(|| format!("cannot read --config {}", path.display()))?;
        let mut value: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("--config {} is not JSON", path.display()))?;
        let init_from = match value.get("init_from") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(serde_json::from_value(v.clone()).with_context(|| {
                format!(
                    "--config {}: its init_from is not a weights record",
                    path.display()
                )
            })?),
        };
        if let Some(inner) = value.get_mut("config") {
            value = inner.take();
        }
        let config = serde_json::from_value(value)
            .with_context(|| format!("--config {} is not a run config", path.display()))?;
        Ok(RunFile { config, init_from })
    }
}

impl RunFile {
    /// A run that started from a weights file is defined by that file too:
    /// rerunning it from `path` needs the file (`init_from`), never the seed.
    pub fn check_init(&self, path: &Path, init_from: Option<&Path>) -> Result<()> {
        if let (Some(init), None) = (&self.init_from, init_from) {
            bail!(
                "{} is a run that started from the weights in {} (sha256 {}), not from its seed: \
                 pass --init-from {} to rerun it",
                path.display(),
                init.path,
                init.sha256,
                init.path
            );
        }
        Ok(())
    }
}
