//! Stop signals: SIGINT and SIGTERM are counted, never acted on in the
//! handler, so a training run saves a checkpoint and stops between two
//! batches, and a study's scheduler and calibration stop at a safe point
//! (the first signal) or end the children (the second).

use std::sync::atomic::{AtomicUsize, Ordering};

/// Stop signals received since the process started, a SIGINT counted
/// once and a SIGTERM twice: a terminal's Ctrl-C lets a study's running
/// packs finish (a second one stops them), while SIGTERM (Slurm's
/// preemption and time limit, `kill`) stops them at once, each saving
/// its checkpoint.
static SIGNALS: AtomicUsize = AtomicUsize::new(0);

pub fn signals() -> usize {
    SIGNALS.load(Ordering::SeqCst)
}

extern "C" fn count_signal(signal: libc::c_int) {
    // An atomic add is async-signal-safe; nothing else happens here.
    let weight = if signal == libc::SIGTERM { 2 } else { 1 };
    SIGNALS.fetch_add(weight, Ordering::SeqCst);
}

/// Counts SIGINT and SIGTERM from now on (before anything of a study is
/// written, so a signal at any moment is a stop, never a kill). SIGHUP is
/// not among them: a closed terminal stops the printing, not the study.
pub fn catch_signals() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only touches an atomic.
        unsafe {
            libc::signal(
                signal,
                count_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
}
