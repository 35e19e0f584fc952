//! Stop signals: SIGINT and SIGTERM are counted, never acted on in the
//! handler, so a training run saves a checkpoint and stops between two
//! batches, and a study's scheduler and calibration stop at a safe point
//! (the first signal) or end the children (the second).

use std::sync::atomic::{AtomicUsize, Ordering};

/// SIGINT and SIGTERM received since the process started.
static SIGNALS: AtomicUsize = AtomicUsize::new(0);

pub fn signals() -> usize {
    SIGNALS.load(Ordering::SeqCst)
}

extern "C" fn count_signal(_: libc::c_int) {
    // An atomic add is async-signal-safe; nothing else happens here.
    SIGNALS.fetch_add(1, Ordering::SeqCst);
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
