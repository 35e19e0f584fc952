//! The run folder: checked before anything is written, files replaced
//! atomically, and the per-epoch history appended and flushed as it grows.

use std::{
    fs::{self, File},
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};

use crate::report::{history_header, history_row};
use crate::train::EpochRecord;

/// Files a run writes into its folder. `summary.json` is written last, so
/// its presence means the run finished.
pub const HISTORY: &str = "history.csv";
pub const SUMMARY: &str = "summary.json";
pub const PREDICTIONS: &str = "predictions.csv";
pub const WEIGHTS: &str = "model.safetensors";
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
        let non_empty = fs::read_dir(dir)
            .with_context(|| format!("cannot read output folder {}", dir.display()))?
            .next()
            .is_some();
        if non_empty && !force {
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

/// Creates the run folder (after [`check_run_dir`]) and removes the run
/// files an earlier run left there (`--force`), summary first so a folder
/// never looks finished with a half-replaced history.
pub fn create_run_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir)
        .with_context(|| format!("cannot create output folder {}", dir.display()))?;
    for name in RUN_FILES {
        let path = dir.join(name);
        if path.exists() {
            fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a
/// reader never sees a half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = partial_path(path);
    let mut file =
        File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    file.write_all(bytes)
        .and_then(|_| file.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, path)
        .with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))
}

/// The temporary name a file is written under before its rename; unique
/// per process, so shards writing the same sweep.json cannot interleave.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".partial-{}", std::process::id()));
    path.with_file_name(name)
}

/// `history.csv`, one row written and flushed per finished epoch, so an
/// interrupted run keeps every epoch it finished.
pub struct HistoryFile {
    path: PathBuf,
    writer: csv::Writer<File>,
}

impl HistoryFile {
    pub fn create(path: &Path) -> Result<HistoryFile> {
        let file =
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut writer = csv::Writer::from_writer(file);
        writer
            .write_record(history_header())
            .with_context(|| format!("cannot write {}", path.display()))?;
        writer
            .flush()
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(HistoryFile {
            path: path.to_owned(),
            writer,
        })
    }

    pub fn append(&mut self, record: &EpochRecord) -> Result<()> {
        self.writer
            .write_record(history_row(record))
            .and_then(|_| self.writer.flush().map_err(csv::Error::from))
            .with_context(|| format!("cannot write {}", self.path.display()))
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
        create_run_dir(&fresh).unwrap();
        check_run_dir(&fresh, false).unwrap(); // empty folder is fine
        fs::write(fresh.join(SUMMARY), "{}").unwrap();
        fs::write(fresh.join("notes.txt"), "mine").unwrap();
        let err = check_run_dir(&fresh, false).unwrap_err().to_string();
        assert!(
            err.contains("exists and is not empty") && err.contains("--force"),
            "{err}"
        );
        check_run_dir(&fresh, true).unwrap();
        create_run_dir(&fresh).unwrap();
        assert!(
            !fresh.join(SUMMARY).exists(),
            "--force removes the old summary"
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
    fn atomic_write_leaves_no_partial_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "two");
        assert!(!partial_path(&path).exists());
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
