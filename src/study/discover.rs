//! The finished runs in a folder that has no manifest: run folders one or
//! two levels down (a study's `<run>/`, or `<model>/seed-<n>/` as
//! `reproduce` and the reference scripts lay them out), found by their
//! summary.json.

use std::{fs, path::Path};

use anyhow::{Context, Result};

use crate::store::{FinishedRun, SUMMARY};

/// (folder relative to `dir`, the run), sorted by folder.
pub fn discover_runs(dir: &Path) -> Result<Vec<(String, FinishedRun)>> {
    let mut found = Vec::new();
    for (name, path) in subfolders(dir)? {
        if path.join(SUMMARY).exists() {
            found.push((name, path));
            continue;
        }
        for (inner, path) in subfolders(&path)? {
            if path.join(SUMMARY).exists() {
                found.push((format!("{name}/{inner}"), path));
            }
        }
    }
    found.sort();
    found
        .into_iter()
        .filter_map(|(name, path)| {
            FinishedRun::read(&path)
                .transpose()
                .map(|r| r.map(|r| (name, r)))
        })
        .collect()
}

fn subfolders(dir: &Path) -> Result<Vec<(String, std::path::PathBuf)>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_dir() && name != "logs" && !name.starts_with('.') {
            out.push((name, entry.path()));
        }
    }
    Ok(out)
}
