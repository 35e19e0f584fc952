//! How a command's end becomes the process's: one line on stderr and exit
//! code 1 for an error, success when the reader of a listing left.

use std::{io, process::ExitCode};

use rnn_lab::run::life::Stopped;

/// The exit code of a run stopped by a signal with its checkpoint saved
/// (sysexits' EX_TEMPFAIL: run it again).
pub const STOPPED: u8 = 75;

/// The exit of a command that ended with `result`.
pub fn exit(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `rnn-lab info | head`: the reader left; that is a normal end.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        // Stopped by a signal with a checkpoint: EX_TEMPFAIL, "try again".
        Err(e) if e.downcast_ref::<Stopped>().is_some() => {
            use std::io::Write;
            let _ = writeln!(io::stderr(), "{e}");
            ExitCode::from(STOPPED)
        }
        Err(e) => {
            // Best effort: with stderr gone there is nowhere left to say it.
            use std::io::Write;
            let _ = writeln!(io::stderr(), "error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error chain on one line: each cause's first line (libtorch appends
/// its C++ frames on the following lines).
pub fn one_line(e: &anyhow::Error) -> String {
    e.chain()
        .map(|c| {
            c.to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .trim_end()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join(": ")
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtorch_frames_stay_off_the_console() {
        let torch = anyhow::anyhow!(
            "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory\n\
             Exception raised from alloc_cpu at /pytorch/c10/core/impl/alloc_cpu.cpp:117\n\
             frame #0: c10::Error::Error(...) + 0x8c"
        );
        let e = torch.context("cannot generate 1000 samples: lower --samples or --seq-len");
        assert_eq!(
            one_line(&e),
            "cannot generate 1000 samples: lower --samples or --seq-len: \
             [enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory"
        );
    }
}
