//! A study read back: every run its manifest lists with its finished run,
//! if any (and a run folder the manifest does not list refused, so a
//! table never mixes two studies), or, for a folder without a manifest,
//! the finished runs found in it. One reader for every kind of study.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};

use super::discover::discover_runs;
use super::grid::setting_order;
use super::manifest::{Manifest, LEGACY_MANIFEST, MANIFEST};
use crate::config::TrainConfig;
use crate::store::{FinishedRun, HISTORY, SUMMARY};

/// One run of a study.
pub struct StudyRun {
    /// Its folder, relative to the study.
    pub name: String,
    pub config: TrainConfig,
    /// None while it has not finished.
    pub finished: Option<FinishedRun>,
}

pub struct StudyRuns {
    pub dir: PathBuf,
    /// The study lists its runs (so the ones not finished are known).
    pub has_manifest: bool,
    /// The settings that vary over its runs, in expansion order (the
    /// canonical axes always).
    pub axes: Vec<String>,
    pub runs: Vec<StudyRun>,
}

/// Reads the study in `dir`.
pub fn read_study(dir: &Path) -> Result<StudyRuns> {
    let has_manifest = dir.join(MANIFEST).exists() || dir.join(LEGACY_MANIFEST).exists();
    let manifest = Manifest::read(dir)?.with_context(|| {
        format!(
            "{} holds no study (no {MANIFEST} and no finished runs): is it a study folder \
             (rnn-lab sweep --out, rnn-lab reproduce --out)?",
            dir.display()
        )
    })?;
    let varying = manifest.varying();
    let axes = setting_order()
        .into_iter()
        .filter(|s| varying.contains_key(s))
        .collect();
    if has_manifest {
        refuse_strays(dir, &manifest)?;
    }
    let mut runs = Vec::new();
    for spec in manifest.runs {
        let folder = dir.join(&spec.name);
        let finished = FinishedRun::read(&folder)?;
        if let Some(f) = &finished {
            if f.summary.config != spec.config {
                bail!(
                    "{} was run with other settings than {MANIFEST} lists for it",
                    folder.display()
                );
            }
        }
        runs.push(StudyRun {
            name: spec.name,
            config: spec.config,
            finished,
        });
    }
    Ok(StudyRuns {
        dir: dir.to_owned(),
        has_manifest,
        axes,
        runs,
    })
}

/// Every run folder in `dir` must be one the manifest lists.
fn refuse_strays(dir: &Path, manifest: &Manifest) -> Result<()> {
    let listed: Vec<PathBuf> = manifest.runs.iter().map(|r| dir.join(&r.name)).collect();
    for entry in fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        let is_run = path.join(HISTORY).exists() || path.join(SUMMARY).exists();
        if is_run && !listed.contains(&path) {
            bail!(
                "{} is a run that is not in {MANIFEST}'s grid; move it out or aggregate its own study",
                path.display()
            );
        }
    }
    // Runs found below the study but not listed (another layout) too.
    for (name, _) in discover_runs(dir)? {
        if !listed.contains(&dir.join(&name)) {
            bail!(
                "{} is a run that is not in {MANIFEST}'s grid; move it out or aggregate its own study",
                dir.join(name).display()
            );
        }
    }
    Ok(())
}
