//! The run folder: checked before anything is written, then locked for the
//! whole run and checked again under the lock, and only then cleared of an
//! earlier run's files.

use std::{
    fs::{self, File},
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};

use super::atomic::{is_partial, is_probe, is_stale_partial, probe_path, try_lock};
use super::{CHECKPOINT, HISTORY, PREDICTIONS, SUMMARY, WEIGHTS};

/// Files a run writes into its folder. `summary.json` is written last, so
/// its presence means the run finished.
const RUN_FILES: [&str; 5] = [SUMMARY, HISTORY, PREDICTIONS, WEIGHTS, CHECKPOINT];

/// Checks, without writing, that `dir` can become a run folder: it is
/// absent or an empty folder (any folder with `force`), and the nearest
/// existing ancestor is a writable folder.
pub fn check_run_dir(dir: &Path, force: bool) -> Result<()> {
    if dir.exists() {
        if !dir.is_dir() {
            bail!(
                "--out {} exists and is not a folder; choose another --out",
                dir.display()
            );
        }
        if !force && !is_unstarted(dir)? {
            bail!(
                "output folder {} exists and is not empty; choose a new --out, or pass --force to replace its run files",
                dir.display()
            );
        }
        return check_writable(dir, dir);
    }
    let mut ancestor = dir.parent();
    while let Some(a) = ancestor {
        let a = if a.as_os_str().is_empty() {
            Path::new(".")
        } else {
            a
        };
        if a.exists() {
            if !a.is_dir() {
                bail!(
                    "cannot create output folder {}: {} is not a folder",
                    dir.display(),
                    a.display()
                );
            }
            return check_writable(dir, a);
        }
        ancestor = a.parent();
    }
    Ok(())
}

/// Empty but for writability probes (a process killed while probing
/// leaves one; it holds nothing).
fn is_empty(dir: &Path) -> Result<bool> {
    for entry in
        fs::read_dir(dir).with_context(|| format!("cannot read output folder {}", dir.display()))?
    {
        let entry =
            entry.with_context(|| format!("cannot read output folder {}", dir.display()))?;
        if !is_probe(&entry.path()) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Holds nothing of a run: empty, or what a run killed before its first
/// checkpoint leaves (a history.csv of its header alone, partial files of
/// a process that is gone, probes).
fn is_unstarted(dir: &Path) -> Result<bool> {
    for entry in
        fs::read_dir(dir).with_context(|| format!("cannot read output folder {}", dir.display()))?
    {
        let path = entry
            .with_context(|| format!("cannot read output folder {}", dir.display()))?
            .path();
        let header_only = path.file_name().is_some_and(|n| n == HISTORY)
            && fs::read_to_string(&path).is_ok_and(|t| t.lines().count() <= 1);
        if !(is_probe(&path) || is_stale_partial(&path) || header_only) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `out` is the requested folder, `existing` the folder that must take writes.
fn check_writable(out: &Path, existing: &Path) -> Result<()> {
    if !can_create_in(existing) {
        bail!(
            "cannot write --out {}: {} is not writable; choose a writable --out",
            out.display(),
            existing.display()
        );
    }
    Ok(())
}

/// Creating and removing a probe file is the one check that also holds
/// for root, ACLs and read-only mounts.
fn can_create_in(dir: &Path) -> bool {
    let probe = probe_path(dir);
    match File::create(&probe) {
        Ok(_) => fs::remove_file(&probe).is_ok(),
        Err(_) => false,
    }
}

/// A run folder held by this process: created if needed and locked until
/// dropped.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    /// This process created the folder (so a start that fails may remove it).
    created: bool,
    _lock: File,
}

impl RunDir {
    /// Creates and locks `dir`, then checks it again under the lock (empty,
    /// or any folder with `force`). Clears nothing: see [`RunDir::clear`].
    pub fn lock(dir: &Path, force: bool) -> Result<RunDir> {
        let created = !dir.exists();
        fs::create_dir_all(dir)
            .with_context(|| format!("cannot create output folder {}", dir.display()))?;
        let held = RunDir {
            path: dir.to_owned(),
            created,
            _lock: match try_lock(dir)? {
                Some(lock) => lock,
                None => bail!(
                    "output folder {} is in use by another rnn-lab run; wait for it to end or choose another --out",
                    dir.display()
                ),
            },
        };
        if !force && !is_unstarted(dir)? {
            bail!(
                "output folder {} exists and is not empty; choose a new --out, or pass --force to replace its run files",
                dir.display()
            );
        }
        Ok(held)
    }

    /// Removes an earlier run's files and any partial file, summary first,
    /// so a folder never looks finished with a half-replaced history.
    /// Other files (a user's notes) stay.
    pub fn clear(&self) -> Result<()> {
        self.clear_but(&[])
    }

    /// For a run that resumes: [`RunDir::clear`] but for its history.csv
    /// (replaced from the checkpoint) and its checkpoint.
    pub fn clear_to_resume(&self) -> Result<()> {
        self.clear_but(&[HISTORY, CHECKPOINT])
    }

    fn clear_but(&self, keep: &[&str]) -> Result<()> {
        for name in RUN_FILES.into_iter().filter(|n| !keep.contains(n)) {
            let path = self.path.join(name);
            if path.exists() {
                fs::remove_file(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
            }
        }
        let entries = fs::read_dir(&self.path)
            .with_context(|| format!("cannot read {}", self.path.display()))?;
        for entry in entries {
            let path = entry?.path();
            if is_partial(&path) {
                fs::remove_file(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
            }
        }
        Ok(())
    }

    /// [`RunDir::lock`], then [`RunDir::clear`].
    pub fn open(dir: &Path, force: bool) -> Result<RunDir> {
        let dir = RunDir::lock(dir, force)?;
        dir.clear()?;
        Ok(dir)
    }

    /// Gives the folder up; removes it when this process created it and it
    /// is still empty (a start that failed leaves no folder).
    pub fn abandon(self) {
        if self.created && is_empty(&self.path).unwrap_or(false) {
            let _ = fs::remove_dir(&self.path);
        }
    }

    /// For a run that failed before its first epoch ended: its history.csv
    /// (a header alone) and its first checkpoint (the initial weights)
    /// go, then [`RunDir::abandon`], so a start that failed (out of memory,
    /// say) leaves no folder it made.
    pub fn abandon_if_unstarted(self) {
        let history = self.file(HISTORY);
        let rows = fs::read_to_string(&history).map_or(0, |t| t.lines().count());
        if rows <= 1 {
            let _ = fs::remove_file(&history);
            let _ = fs::remove_file(self.file(CHECKPOINT));
        }
        self.abandon();
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_dir_rules() {
        let tmp = tempfile::tempdir().unwrap();
        let fresh = tmp.path().join("a/b/run");
        check_run_dir(&fresh, false).unwrap();
        assert!(
            !tmp.path().join("a").exists(),
            "checking must not create anything"
        );
        drop(RunDir::open(&fresh, false).unwrap());
        check_run_dir(&fresh, false).unwrap(); // empty folder is fine
        fs::write(fresh.join(SUMMARY), "{}").unwrap();
        fs::write(fresh.join("notes.txt"), "mine").unwrap();
        fs::write(fresh.join("model.safetensors.partial-123"), "half").unwrap();
        let err = check_run_dir(&fresh, false).unwrap_err().to_string();
        assert!(
            err.contains("exists and is not empty") && err.contains("--force"),
            "{err}"
        );
        let err = RunDir::open(&fresh, false).unwrap_err().to_string();
        assert!(err.contains("exists and is not empty"), "{err}");
        check_run_dir(&fresh, true).unwrap();
        drop(RunDir::open(&fresh, true).unwrap());
        assert!(
            !fresh.join(SUMMARY).exists(),
            "--force removes the old summary"
        );
        assert!(
            !fresh.join("model.safetensors.partial-123").exists(),
            "--force removes partial files"
        );
        assert_eq!(
            fs::read_to_string(fresh.join("notes.txt")).unwrap(),
            "mine",
            "other files are kept"
        );
        let file = tmp.path().join("file");
        fs::write(&file, "x").unwrap();
        // What a run killed before its first checkpoint leaves is no run.
        let cut = tmp.path().join("cut");
        fs::create_dir(&cut).unwrap();
        fs::write(cut.join(HISTORY), "epoch,loss,val_loss\n").unwrap();
        fs::write(cut.join("checkpoint.safetensors.partial-999999999"), "half").unwrap();
        check_run_dir(&cut, false).unwrap();
        drop(RunDir::open(&cut, false).unwrap());
        assert_eq!(fs::read_dir(&cut).unwrap().count(), 0, "cleared");
        fs::write(cut.join(HISTORY), "epoch,loss,val_loss\n0,1,1\n").unwrap();
        let err = check_run_dir(&cut, false).unwrap_err().to_string();
        assert!(err.contains("exists and is not empty"), "{err}");
        let err = check_run_dir(&file, true).unwrap_err().to_string();
        assert!(err.contains("is not a folder"), "{err}");
        let err = check_run_dir(&file.join("sub"), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a folder"), "{err}");
    }

    #[test]
    fn a_locked_run_folder_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        let held = RunDir::open(&dir, false).unwrap();
        let err = RunDir::open(&dir, true).unwrap_err().to_string();
        assert!(err.contains("is in use by another rnn-lab run"), "{err}");
        drop(held);
        RunDir::open(&dir, true).unwrap();
    }
}
