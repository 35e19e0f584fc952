//! Writes that are whole or nothing (a temporary name, synced, renamed)
//! and OS locks (flock) on files and folders, which die with their process.

use std::{
    fs::{self, File},
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};

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

pub fn is_partial(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.rsplit_once(PARTIAL))
        .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::bail;

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
}
