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
    /// When both are there, the file given must be the one recorded: its
    /// SHA-256 is compared, and a different file is refused with both hashes.
    pub fn check_init(&self, path: &Path, init_from: Option<&Path>) -> Result<()> {
        match (&self.init_from, init_from) {
            (Some(init), None) => bail!(
                "{} is a run that started from the weights in {} (sha256 {}), not from its seed: \
                 pass --init-from {} to rerun it",
                path.display(),
                init.path,
                init.sha256,
                init.path
            ),
            (Some(init), Some(given)) => {
                if !is_sha256(&init.sha256) {
                    bail!(
                        "{}: its init_from.sha256 {:?} is not a SHA-256 (64 lowercase hex digits); \
                         the file was edited: rerun from an unedited summary.json",
                        path.display(),
                        init.sha256
                    );
                }
                let actual = InitSource::of(given)?;
                if actual.sha256 != init.sha256 {
                    bail!(
                        "--init-from {} has sha256 {}, but {} started from {} with sha256 {}: \
                         give the file the run started from",
                        given.display(),
                        actual.sha256,
                        path.display(),
                        init.path,
                        init.sha256
                    );
                }
                Ok(())
            }
            (None, _) => Ok(()),
        }
    }
}

fn is_sha256(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
