//! The child processes of a study behind one small trait, so the
//! scheduler is tested without processes: `Processes` starts `rnn-lab
//! train-pack --plan P` for real.

use std::{
    fs,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

use anyhow::{Context, Result};

/// Starts and watches the child processes of a study.
pub trait Launcher {
    type Child;
    /// Starts a child that trains the plan in `plan`, its output to `log`.
    fn start(&mut self, plan: &Path, log: &Path) -> Result<Self::Child>;
    /// None while the child runs; whether it ended by a signal otherwise.
    fn poll(&mut self, child: &mut Self::Child) -> Result<Option<Ended>>;
    /// Asks the child to stop now (it may still save what it has).
    fn stop(&mut self, child: &Self::Child);
    /// Ends the child at once, whatever state it is in.
    fn kill(&mut self, child: &Self::Child);
}

/// How a child ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Ended {
    /// As the OS says it (`exit status: 1`).
    pub status: String,
    /// Killed by a signal rather than exiting.
    pub by_signal: bool,
    /// Stopped by a signal after saving its checkpoints (exit code 75):
    /// it resumes when the study runs again.
    pub stopped: bool,
}

/// `rnn-lab train-pack --plan P`, in its own process group (a terminal's
/// Ctrl-C reaches the supervisor alone, which decides), killed by the
/// kernel if the supervisor dies first (PR_SET_PDEATHSIG): no run outlives
/// its supervisor.
pub struct Processes {
    pub exe: PathBuf,
}

impl Launcher for Processes {
    type Child = Child;

    fn start(&mut self, plan: &Path, log: &Path) -> Result<Child> {
        let log =
            fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let supervisor = std::process::id() as libc::pid_t;
        let mut command = Command::new(&self.exe);
        command
            .arg("train-pack")
            .arg("--plan")
            .arg(plan)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0);
        // SAFETY: prctl and getppid are async-signal-safe; nothing else runs here.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The supervisor may have died before prctl took effect.
                if libc::getppid() != supervisor {
                    return Err(std::io::Error::other(
                        "the study that started this run has exited",
                    ));
                }
                Ok(())
            });
        }
        command
            .spawn()
            .with_context(|| format!("cannot start {}", self.exe.display()))
    }

    fn poll(&mut self, child: &mut Child) -> Result<Option<Ended>> {
        Ok(child.try_wait()?.map(|status| Ended {
            status: status.to_string(),
            by_signal: status.code().is_none(),
            stopped: status.code() == Some(75),
        }))
    }

    fn stop(&mut self, child: &Child) {
        let pid = child.id() as libc::pid_t;
        // SAFETY: kill(2) on our own child's pid, which we have not reaped
        // yet. SIGCONT after SIGTERM: a stopped child (SIGSTOP, Ctrl-Z of
        // its group) acts on the SIGTERM only once it runs again.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
            libc::kill(pid, libc::SIGCONT);
        }
    }

    fn kill(&mut self, child: &Child) {
        let pid = child.id() as libc::pid_t;
        // SAFETY: as in `stop`; SIGKILL ends even a stopped process.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::kill(pid, libc::SIGCONT);
        }
    }
}
