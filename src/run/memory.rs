//! Memory running out is a user's limit, not a bug: one line naming what
//! was being built and how to make it smaller. tch's non-`f_` calls (its
//! var store, many ops) turn libtorch's allocation error into a panic; a
//! guard catches exactly those at the boundary of each stage of a run,
//! silencing the panic message, and lets every other panic through.

use std::{
    cell::Cell,
    panic::{self, AssertUnwindSafe},
    sync::Once,
};

use anyhow::{anyhow, Result};

use crate::config::{ModelSpec, TrainConfig};

thread_local! {
    /// Inside a guard: a panic is caught there, so its message stays quiet.
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

/// What libtorch (or the C++ runtime) says when an allocation fails.
fn is_out_of_memory(text: &str) -> bool {
    [
        "can't allocate memory",
        "not enough memory",
        "out of memory",
        "std::bad_alloc",
        "Cannot allocate memory",
    ]
    .iter()
    .any(|m| text.contains(m))
}

fn quiet_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !GUARDED.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Runs `f`; an allocation that fails in it, as an error or as tch's panic,
/// becomes the error `what()`. Any other panic goes on unwinding.
pub fn guard<T>(what: impl Fn() -> String, f: impl FnOnce() -> Result<T>) -> Result<T> {
    quiet_hook();
    let was = GUARDED.with(|g| g.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(was));
    match result {
        Ok(Err(e)) if is_out_of_memory(&format!("{e:#}")) => Err(anyhow!(what())),
        Ok(r) => r,
        Err(payload) => {
            let text = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or_default();
            if is_out_of_memory(text) {
                return Err(anyhow!(what()));
            }
            // A bug: its message was held back by the hook; say it now.
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "rnn-lab panicked: {text}");
            panic::resume_unwind(payload)
        }
    }
}

/// Bytes this process may still allocate for certain: what its address
/// space limit (RLIMIT_AS, as `prlimit` and cluster schedulers set it)
/// leaves, and at most the machine's memory and swap. None where unknown.
fn allocatable() -> Option<u64> {
    let field = |text: &str, key: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(key))?;
        line.split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
            .map(|kib| kib * 1024)
    };
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let machine = field(&meminfo, "MemTotal:")? + field(&meminfo, "SwapTotal:").unwrap_or(0);
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    let capped = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } == 0
        && limit.rlim_cur != libc::RLIM_INFINITY;
    if !capped {
        return Some(machine);
    }
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let used = field(&status, "VmSize:")?;
    #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every platform
    let cap = limit.rlim_cur as u64;
    Some(machine.min(cap.saturating_sub(used)))
}

/// Refuses at once a model that cannot fit: its weights, gradients and
/// Adam's two moments (four copies), before minutes of drawing them.
pub fn check_model_fits(spec: &ModelSpec, members: usize) -> Result<()> {
    let need = spec.parameter_count() as u64 * 4 * 4 * members as u64;
    match allocatable() {
        Some(have) if need > have => Err(anyhow!(model_message(spec, members))),
        _ => Ok(()),
    }
}

/// Keeps freed memory in the process for the next batch. A batch's tensors
/// past glibc's mmap threshold (32 MiB at most: a pack's activations and
/// the hand-written backward's tapes) are otherwise mapped fresh and
/// page-faulted in every batch, then returned; measured, that was a sixth
/// of a GRU pack's backward and a fifth of a lone run's.
pub fn keep_freed_memory() {
    // SAFETY: mallopt only tunes glibc's allocator; called before training.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

fn gib(values: i64) -> String {
    format!("{:.1} GiB", values as f64 * 4.0 / (1u64 << 30) as f64)
}

/// "out of memory generating the data ...".
pub fn data_message(c: &TrainConfig, members: usize) -> String {
    let values = c.samples * c.seq_len * 2 * members as i64;
    format!(
        "out of memory generating the data of {members} run(s) ({} samples x {} steps each, {}): lower --samples or --seq-len",
        c.samples,
        c.seq_len,
        gib(values)
    )
}

/// "out of memory building a model of N weights ...".
pub fn model_message(spec: &ModelSpec, members: usize) -> String {
    let n = spec.parameter_count();
    let models = match members {
        1 => "a model".to_string(),
        k => format!("{k} models"),
    };
    format!(
        "out of memory building {models} of {n} weights ({} with gradients and Adam's moments): lower --units or --layers{}",
        gib(n * 4 * members as i64),
        if members > 1 { " (or --pack)" } else { "" }
    )
}

/// "out of memory training ...".
pub fn training_message(c: &TrainConfig, members: usize) -> String {
    format!(
        "out of memory training {members} run(s) of {} weights on batches of {} x {} steps: \
         lower --batch-size, or --units or --layers{}",
        ModelSpec::for_config(c).parameter_count(),
        c.batch_size,
        c.seq_len,
        if members > 1 { " (or --pack)" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allocation_panic_becomes_the_message_and_other_panics_stay_panics() {
        let r: Result<()> = guard(
            || "out of memory building it".into(),
            || panic!("Torch(\"DefaultCPUAllocator: can't allocate memory: you tried 1 TB\")"),
        );
        assert_eq!(r.unwrap_err().to_string(), "out of memory building it");
        let r: Result<()> = guard(|| "x".into(), || Err(anyhow!("std::bad_alloc")));
        assert_eq!(r.unwrap_err().to_string(), "x");
        let r: Result<i32> = guard(|| "x".into(), || Err(anyhow!("no such file")));
        assert_eq!(r.unwrap_err().to_string(), "no such file");
        let bug = panic::catch_unwind(|| {
            guard(
                || "x".into(),
                || -> Result<()> { panic!("index out of bounds") },
            )
        });
        assert!(bug.is_err(), "a bug is not an out of memory error");
    }
}
