//! The run folder: checked before anything is written, locked for the
//! whole run, files replaced atomically (whole or not at all), and the
//! per-epoch history appended and flushed one whole line at a time.

use std::{
    fs::{self, File, OpenOptions},
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};

use crate::records::{
    history_row, EpochRecord, HISTORY, HISTORY_COLUMNS, PREDICTIONS, SUMMARY, WEIGHTS,
};

/// Files a run writes into its folder. `summary.json` is written last, so
/// its presence means the run finished.
const RUN_FILES: [&str; 4] = [SUMMARY, HISTORY, PREDICTIONS, WEIGHTS];

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
        if !force && !is_empty(dir)? {
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

fn is_empty(dir: &Path) -> Result<bool> {
    Ok(fs::read_dir(dir)
        .with_context(|| format!("cannot read output folder {}", dir.display()))?
        .next()
        .is_none())
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
    let probe = dir.join(format!(".rnn-lab-probe-{}", std::process::id()));
    match File::create(&probe) {
        Ok(_) => fs::remove_file(&probe).is_ok(),
        Err(_) => false,
    }
}

/// Takes an exclusive OS lock (flock) on `path`, or None when another
/// process holds it. The lock dies with its process, so a killed run
/// never leaves a stale lock.
pub fn try_lock(path: &Path) -> Result<Option<File>> {
    let file =
        File::open(path).with_context(|| format!("cannot open {} to lock it", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(fs::TryLockError::WouldBlock) => Ok(None),
        Err(fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// Waits for an exclusive OS lock (flock) on `path` (a file or a folder);
/// held until the returned file is dropped.
pub fn lock(path: &Path) -> Result<File> {
    let file =
        File::open(path).with_context(|| format!("cannot open {} to lock it", path.display()))?;
    file.lock()
        .with_context(|| format!("cannot lock {}", path.display()))?;
    Ok(file)
}

/// A run folder held by this process: created if needed, locked until
/// dropped, and cleared of an earlier run's files.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    _lock: File,
}

impl RunDir {
    /// Creates and locks `dir`, then (under the lock) checks it again and,
    /// with `force`, removes an earlier run's files and any partial file,
    /// summary first so a folder never looks finished with a half-replaced
    /// history. Call after everything that can fail has been checked.
    pub fn open(dir: &Path, force: bool) -> Result<RunDir> {
        fs::create_dir_all(dir)
            .with_context(|| format!("cannot create output folder {}", dir.display()))?;
        let lock = try_lock(dir)?.with_context(|| {
            format!(
                "output folder {} is in use by another rnn-lab run; wait for it to end or choose another --out",
                dir.display()
            )
        })?;
        if !force && !is_empty(dir)? {
            bail!(
                "output folder {} exists and is not empty; choose a new --out, or pass --force to replace its run files",
                dir.display()
            );
        }
        for name in RUN_FILES {
            let path = dir.join(name);
            if path.exists() {
                fs::remove_file(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
            }
        }
        for entry in fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
            let path = entry?.path();
            if is_partial(&path) {
                fs::remove_file(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
            }
        }
        Ok(RunDir {
            path: dir.to_owned(),
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

/// Writes `path` whole or not at all: `write` fills a temporary file next
/// to it, which is synced and renamed over `path`; on any failure the
/// temporary file is removed and `path` is untouched.
pub fn write_atomic_with(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = partial_path(path);
    let result = write(&tmp)
        .and_then(|()| {
            File::open(&tmp)
                .and_then(|f| f.sync_all())
                .with_context(|| format!("cannot write {}", tmp.display()))
        })
        .and_then(|()| {
            fs::rename(&tmp, path)
                .with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))
        });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Writes `bytes` to `path` whole or not at all (see [`write_atomic_with`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |tmp| {
        let mut file =
            File::create(tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        file.write_all(bytes)
            .with_context(|| format!("cannot write {}", tmp.display()))
    })
}

const PARTIAL: &str = ".partial-";

/// The temporary name a file is written under before its rename; unique
/// per process, so shards writing the same sweep.json cannot interleave.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!("{PARTIAL}{}", std::process::id()));
    path.with_file_name(name)
}

fn is_partial(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.rsplit_once(PARTIAL))
        .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// `history.csv`, one whole row written and flushed per finished epoch, so
/// an interrupted run keeps every epoch it finished. A write that fails
/// (disk full) is cut back to the last whole row before the error returns.
pub struct HistoryFile {
    path: PathBuf,
    file: File,
    len: u64,
}

impl HistoryFile {
    pub fn create(path: &Path) -> Result<HistoryFile> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut history = HistoryFile {
            path: path.to_owned(),
            file,
            len: 0,
        };
        history.write_line(&HISTORY_COLUMNS.map(String::from))?;
        Ok(history)
    }

    pub fn append(&mut self, record: &EpochRecord) -> Result<()> {
        self.write_line(&history_row(record))
    }

    fn write_line(&mut self, fields: &[String]) -> Result<()> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(fields)?;
        let line = w.into_inner().context("formatting a history row")?;
        match self
            .file
            .write_all(&line)
            .and_then(|_| self.file.sync_data())
        {
            Ok(()) => {
                self.len += line.len() as u64;
                Ok(())
            }
            Err(e) => {
                let _ = self.file.set_len(self.len);
                Err(e).with_context(|| format!("cannot write {}", self.path.display()))
            }
        }
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

    #[test]
    fn atomic_write_leaves_no_partial_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "two");
        assert!(!partial_path(&path).exists());
        // A writer that fails midway: the old file stays, no partial file.
        let err = write_atomic_with(&path, |tmp| {
            fs::write(tmp, "half")?;
            bail!("disk full")
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(fs::read_to_string(&path).unwrap(), "two");
        assert!(!partial_path(&path).exists());
        // A target that is a folder: refused, nothing left beside it.
        let err = write_atomic(tmp.path(), b"x").unwrap_err();
        assert!(format!("{err:#}").contains("cannot"), "{err:#}");
        let names: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["x.json"]);
    }

    #[test]
    fn partial_names() {
        assert!(is_partial(Path::new("d/model.safetensors.partial-42")));
        assert!(!is_partial(Path::new("d/model.safetensors.partial-")));
        assert!(!is_partial(Path::new("d/notes.partial-x")));
        assert!(!is_partial(Path::new("d/history.csv")));
    }

    #[test]
    fn history_rows_are_flushed_one_by_one() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(HISTORY);
        let mut h = HistoryFile::create(&path).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "epoch,loss,val_loss,seconds,train_seconds\n"
        );
        let r = EpochRecord {
            epoch: 0,
            loss: 0.5,
            val_loss: 0.25,
            seconds: 1.5,
            train_seconds: 1.25,
        };
        h.append(&r).unwrap();
        // Readable before the writer is dropped.
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "epoch,loss,val_loss,seconds,train_seconds\n0,0.5,0.25,1.5000,1.2500\n"
        );
    }
}
