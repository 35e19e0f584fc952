//! How far a study is: runs done and left, epochs trained (read from the
//! running runs' history.csv, so a pack of 32 reports its members as they
//! go), the time elapsed and an estimate of the time left from the epochs
//! finished so far.

use std::{fs, path::Path, time::Instant};

use crate::store::HISTORY;

/// Epochs a run folder's history.csv holds (0 when it has none yet).
pub fn history_rows(dir: &Path) -> i64 {
    fs::read(dir.join(HISTORY))
        .map(|b| b.iter().filter(|&&c| c == b'\n').count().saturating_sub(1) as i64)
        .unwrap_or(0)
}

/// `45s`, `12m03s`, `1h05m`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// The epochs a study's queue needs and has trained.
pub struct Progress {
    started: Instant,
    /// Epochs of every queued run (a cut-off run restarts from its first).
    pub epochs_total: i64,
    /// Epochs of the runs that have ended.
    pub epochs_ended: i64,
}

impl Progress {
    pub fn new(epochs_total: i64) -> Progress {
        Progress {
            started: Instant::now(),
            epochs_total,
            epochs_ended: 0,
        }
    }

    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// "12m03s elapsed, ~25m left" with `running` epochs trained by the
    /// runs still going; no estimate before the first epoch.
    pub fn times(&self, running: i64) -> String {
        let elapsed = self.elapsed();
        let done = self.epochs_ended + running;
        let left = match done {
            0 => "time left unknown yet".to_string(),
            _ => {
                let rate = done as f64 / elapsed.max(1e-9);
                let remaining = (self.epochs_total - done).max(0) as f64 / rate;
                format!("~{} left", duration(remaining))
            }
        };
        format!("{} elapsed, {left}", duration(elapsed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_clock() {
        assert_eq!(duration(4.4), "4s");
        assert_eq!(duration(723.0), "12m03s");
        assert_eq!(duration(3900.0), "1h05m");
    }

    #[test]
    fn history_rows_count_epochs() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(history_rows(tmp.path()), 0);
        fs::write(tmp.path().join(HISTORY), "epoch,loss\n0,1\n1,1\n").unwrap();
        assert_eq!(history_rows(tmp.path()), 2);
    }
}
