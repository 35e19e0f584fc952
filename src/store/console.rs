//! What a run shows while it trains: Keras-like epoch lines on the console
//! and a progress bar on a terminal's stderr. The console is best effort:
//! when it goes away (`rnn-lab train | head -1`, a closed terminal) the run
//! stops printing and goes on training and writing its files.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A console that stops taking lines after its first failed write.
pub struct Console<'a> {
    out: &'a mut dyn Write,
    open: bool,
}

impl<'a> Console<'a> {
    pub fn new(out: &'a mut dyn Write) -> Console<'a> {
        Console { out, open: true }
    }

    /// Writes `text`; after a failure (closed pipe, hung-up terminal) every
    /// later call is a no-op. Returns whether the console is still open.
    pub fn print(&mut self, text: &str) -> bool {
        if self.open {
            self.open = self
                .out
                .write_all(text.as_bytes())
                .and_then(|_| self.out.flush())
                .is_ok();
        }
        self.open
    }
}

/// A closed terminal sends SIGHUP, whose default is to end the process:
/// a run ignores it from its first instruction (children inherit that), so
/// a terminal that goes away stops the printing, never the training.
pub fn keep_training_on_hangup() {
    // SAFETY: setting a signal's disposition to ignored has no preconditions.
    unsafe {
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
}

/// A progress bar over one epoch's batches on stderr, drawn only when
/// stderr is a terminal.
pub fn progress_bar(batches: i64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(batches as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{msg} {pos:>4}/{len} [{bar:30}] {elapsed_precise} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message("Epoch 1");
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Broken(usize);
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            self.0 += 1;
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_console_is_written_once_then_left_alone() {
        let mut sink = Broken(0);
        let mut console = Console::new(&mut sink);
        assert!(!console.print("one\n"));
        assert!(!console.print("two\n"));
        assert_eq!(sink.0, 1);
        let mut text = Vec::new();
        let mut console = Console::new(&mut text);
        assert!(console.print("a\n") && console.print("b\n"));
        assert_eq!(text, b"a\nb\n");
    }
}
