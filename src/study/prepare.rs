//! A study folder made ready: under a lock on the folder (shards of one
//! Slurm array start in the same millisecond), its manifest read (or an
//! older one converted, or its finished runs adopted), grown by the grid
//! asked for, and written before anything else of the study.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};

use super::grid::Grid;
use super::manifest::{Manifest, LEGACY_MANIFEST, MANIFEST};
use crate::store::atomic::{is_partial, is_probe, remove_leftovers};
use crate::store::{self, check_run_dir};

/// A study whose manifest holds the grid asked for.
#[derive(Debug)]
pub struct Study {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// Runs the grid added to the study now.
    pub added: usize,
    /// The study existed before this command.
    pub existed: bool,
}

/// Checks `grid` and the folder `dir`, then makes `dir` a study holding
/// `grid`'s runs (with `dry_run`, only in memory: nothing is written).
pub fn prepare(grid: &Grid, dir: &Path, dry_run: bool) -> Result<Study> {
    if dir.to_str().is_none() {
        bail!(
            "study folder {} is not valid UTF-8: a study records its folders in JSON; \
             choose a folder name in UTF-8",
            dir.display()
        );
    }
    grid.validate()?;
    check_run_dir(dir, true)?;
    if dry_run {
        let existing = Manifest::read(dir)?;
        if existing.is_none() {
            check_takeover(dir, false)?;
        }
        return grow(grid, dir, existing);
    }
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let _folder = store::lock(dir)?;
    let existing = Manifest::read(dir)?;
    if existing.is_none() {
        check_takeover(dir, true)?;
    }
    // A manifest's partial file or a probe of a process killed earlier.
    remove_leftovers(dir);
    let study = grow(grid, dir, existing)?;
    // The manifest first: a study killed at any moment after this line is
    // resumed by the next command; before it, the folder holds nothing.
    study.manifest.write(dir)?;
    let logs = dir.join("logs");
    fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    Ok(study)
}

fn grow(grid: &Grid, dir: &Path, existing: Option<Manifest>) -> Result<Study> {
    let existed = existing.is_some();
    let mut manifest = existing.unwrap_or_else(|| Manifest::new(grid.base.clone()));
    let added = manifest.grow(grid, dir)?;
    Ok(Study {
        dir: dir.to_owned(),
        manifest,
        added,
        existed,
    })
}

/// A folder without a manifest becomes a study only when it holds nothing
/// but what a study writes before its manifest (a study killed in its
/// first milliseconds): an empty logs/, a manifest's partial file. With
/// `clean`, those are removed.
fn check_takeover(dir: &Path, clean: bool) -> Result<()> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    let mut leftovers = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot read {}", dir.display()))?
            .path();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let empty_logs =
            name == "logs" && fs::read_dir(&path).is_ok_and(|mut d| d.next().is_none());
        let partial = is_partial(&path)
            && [MANIFEST, LEGACY_MANIFEST]
                .iter()
                .any(|m| name.starts_with(&format!("{m}.partial-")));
        if !(empty_logs || partial || is_probe(&path)) {
            bail!(
                "{} is not empty and holds no {MANIFEST}; make a study in a new or empty folder \
                 (or rerun in an earlier study's folder to resume or grow it)",
                dir.display()
            );
        }
        leftovers.push((path, empty_logs));
    }
    if clean {
        for (path, is_dir) in leftovers {
            let removed = if is_dir {
                fs::remove_dir(&path)
            } else {
                fs::remove_file(&path)
            };
            removed.with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::TrainConfig;

    fn grid() -> Grid {
        let base = TrainConfig {
            samples: 100,
            fit_rows: 80,
            ..TrainConfig::default()
        };
        Grid {
            base,
            axes: json!({"seed": [1, 2]}).as_object().unwrap().clone(),
        }
    }

    #[test]
    fn what_a_study_killed_at_its_start_leaves_is_taken_over() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("s");
        fs::create_dir_all(dir.join("logs")).unwrap();
        fs::write(dir.join("study.json.partial-4242"), "{\"ba").unwrap();
        fs::write(dir.join("sweep.json.partial-17"), "").unwrap();
        let study = prepare(&grid(), &dir, false).unwrap();
        assert_eq!((study.added, study.existed), (2, false));
        let mut left: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["logs", "study.json"]);
        let again = prepare(&grid(), &dir, false).unwrap();
        assert_eq!((again.added, again.existed), (0, true));
    }

    #[test]
    fn a_folder_of_other_files_is_refused_and_a_dry_run_writes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("s");
        fs::create_dir_all(dir.join("logs")).unwrap();
        fs::write(dir.join("logs/x.log"), "mine").unwrap();
        let err = prepare(&grid(), &dir, false).unwrap_err().to_string();
        assert!(
            err.contains("is not empty and holds no study.json"),
            "{err}"
        );
        let fresh = tmp.path().join("new");
        let study = prepare(&grid(), &fresh, true).unwrap();
        assert_eq!(study.added, 2);
        assert!(!fresh.exists());
    }
}
