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
    writer_pid(path, PARTIAL).is_some()
}

/// The process that writes the temporary file `path` (named `...<tag><pid>`).
fn writer_pid(path: &Path, tag: &str) -> Option<i32> {
    let (_, pid) = path.file_name()?.to_str()?.rsplit_once(tag)?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

fn is_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

/// A partial file whose writer is gone (killed before its rename): never
/// renamed now, safe to remove.
pub fn is_stale_partial(path: &Path) -> bool {
    writer_pid(path, PARTIAL).is_some_and(|pid| !is_alive(pid))
}

const PROBE: &str = ".rnn-lab-probe-";

/// The file that proves a folder writable, unique per process.
pub fn probe_path(dir: &Path) -> PathBuf {
    dir.join(format!("{PROBE}{}", std::process::id()))
}

/// A writability probe: never data, only left behind by a process killed
/// between creating and removing it; a folder holding nothing else is
/// empty.
pub fn is_probe(path: &Path) -> bool {
    writer_pid(path, PROBE).is_some()
        && path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(PROBE))
}

/// Removes the stale partial files and probes in `dir` (best effort: a
/// file another process removes meanwhile is gone all the same).
pub fn remove_leftovers(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()) {
        let dead_probe = is_probe(&path) && writer_pid(&path, PROBE).is_some_and(|p| !is_alive(p));
        if dead_probe || is_stale_partial(&path) {
            let _ = fs::remove_file(&path);
        }
    }
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
    fn leftovers_of_dead_writers_are_removed_and_live_ones_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let dead = i32::MAX - 7; // above any pid_max
        let live = std::process::id();
        for name in [
            format!("study.json.partial-{dead}"),
            format!("study.json.partial-{live}"),
            format!(".rnn-lab-probe-{dead}"),
            format!(".rnn-lab-probe-{live}"),
            "notes.txt".to_string(),
        ] {
            fs::write(tmp.path().join(name), "").unwrap();
        }
        remove_leftovers(tmp.path());
        let mut left: Vec<String> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                format!(".rnn-lab-probe-{live}"),
                "notes.txt".to_string(),
                format!("study.json.partial-{live}")
            ]
        );
        assert!(is_probe(&tmp.path().join(".rnn-lab-probe-12")));
        assert!(!is_probe(&tmp.path().join("x.rnn-lab-probe-12")));
        assert!(!is_probe(&tmp.path().join(".rnn-lab-probe-")));
    }

    #[test]
    fn partial_names() {
        assert!(is_partial(Path::new("d/model.safetensors.partial-42")));
        assert!(!is_partial(Path::new("d/model.safetensors.partial-")));
        assert!(!is_partial(Path::new("d/notes.partial-x")));
        assert!(!is_partial(Path::new("d/history.csv")));
    }
}
