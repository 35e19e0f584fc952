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

use crate::config::TrainConfig;
use crate::nn::ModelSpec;

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

/// A memory cgroup's limit and what its processes use now, less the file
/// cache the kernel reclaims first.
#[derive(Clone, Copy, Debug, PartialEq)]
struct CgroupLevel {
    limit: u64,
    usage: u64,
    reclaimable: u64,
}

impl CgroupLevel {
    fn headroom(&self) -> u64 {
        self.limit
            .saturating_sub(self.usage.saturating_sub(self.reclaimable))
    }
}

/// The folders of this process's memory cgroup, innermost first, with
/// every ancestor up to its hierarchy's mount (a limit anywhere above
/// binds too): cgroup v2 (`0::/path` on a cgroup2 mount) and v1 (the
/// `memory` controller's line and mount). `cgroup` is /proc/self/cgroup,
/// `mountinfo` /proc/self/mountinfo.
fn cgroup_dirs(cgroup: &str, mountinfo: &str) -> Vec<(std::path::PathBuf, bool)> {
    let mut found = Vec::new();
    for line in cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let v2 = controllers.is_empty();
        if !v2 && !controllers.split(',').any(|c| c == "memory") {
            continue;
        }
        for mount in mountinfo.lines() {
            let Some((left, right)) = mount.split_once(" - ") else {
                continue;
            };
            let fields: Vec<&str> = left.split_whitespace().collect();
            let mut sup = right.split_whitespace();
            let fstype = sup.next().unwrap_or_default();
            let options = sup.nth(1).unwrap_or_default();
            let fits = if v2 {
                fstype == "cgroup2"
            } else {
                fstype == "cgroup" && options.split(',').any(|o| o == "memory")
            };
            if !fits || fields.len() < 5 {
                continue;
            }
            let (root, point) = (fields[3], std::path::Path::new(fields[4]));
            let Some(inner) = path.strip_prefix(root) else {
                continue;
            };
            let mut dir = point.join(inner.trim_start_matches('/'));
            loop {
                found.push((dir.clone(), v2));
                if dir == point || !dir.pop() {
                    break;
                }
            }
        }
    }
    found
}

/// One cgroup folder's limit and use; None where it sets no limit.
fn cgroup_level(dir: &std::path::Path, v2: bool) -> Option<CgroupLevel> {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
    let number = |name: &str| read(name)?.trim().parse::<u64>().ok();
    let (limit, usage, cache_key) = if v2 {
        (
            number("memory.max")?,
            number("memory.current")?,
            "inactive_file",
        )
    } else {
        let limit = number("memory.limit_in_bytes")?;
        (
            limit,
            number("memory.usage_in_bytes")?,
            "total_inactive_file",
        )
    };
    // v1's "no limit" is a huge number rounded to the page size.
    if limit >= 1 << 60 {
        return None;
    }
    let reclaimable = read("memory.stat")
        .and_then(|stat| {
            stat.lines().find_map(|l| {
                let (key, value) = l.split_once(' ')?;
                (key == cache_key).then(|| value.trim().parse().ok())?
            })
        })
        .unwrap_or(0);
    Some(CgroupLevel {
        limit,
        usage,
        reclaimable,
    })
}

/// What this process's memory cgroups (Slurm's --mem, a container's
/// limit) still allow: the least headroom of any level. None without one.
fn cgroup_headroom() -> Option<u64> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    cgroup_dirs(&cgroup, &mountinfo)
        .iter()
        .filter_map(|(dir, v2)| cgroup_level(dir, *v2))
        .map(|l| l.headroom())
        .min()
}

/// Bytes this process may still allocate for certain: what its address
/// space limit (RLIMIT_AS, as `prlimit` and cluster schedulers set it)
/// and its memory cgroup (Slurm's --mem) leave, and at most the machine's
/// memory and swap. None where unknown.
fn allocatable() -> Option<u64> {
    let own = own_allocatable()?;
    Some(cgroup_headroom().map_or(own, |c| c.min(own)))
}

fn own_allocatable() -> Option<u64> {
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

/// Refuses at once data that cannot fit (where a cgroup's limit would
/// otherwise kill the process without a word): every member's sequences,
/// a lower bound of what generating them holds.
pub fn check_data_fits(c: &TrainConfig, members: usize) -> Result<()> {
    let values = c.samples * c.task.steps(c.seq_len) * c.task.shape().features * members as i64;
    let need = values.max(0) as u64 * 4;
    match allocatable() {
        Some(have) if need > have => Err(anyhow!(
            "{} (this process may allocate {} more)",
            data_message(c, members),
            gib_bytes(have)
        )),
        _ => Ok(()),
    }
}

fn gib_bytes(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
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
    let steps = c.task.steps(c.seq_len);
    let values = c.samples * steps * c.task.shape().features * members as i64;
    format!(
        "out of memory generating the data of {members} run(s) ({} samples x {} steps each, {}): lower --samples or --seq-len",
        c.samples,
        steps,
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
    fn the_memory_cgroup_is_found_in_v1_and_v2() {
        let v1 = "9:name=systemd:/\n4:memory:/slurm/uid_0/job_7\n0::/\n";
        let mounts = "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
                      36 31 0:33 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n";
        let dirs: Vec<String> = cgroup_dirs(v1, mounts)
            .iter()
            .map(|(d, v2)| format!("{} {v2}", d.display()))
            .collect();
        assert_eq!(
            dirs,
            [
                "/sys/fs/cgroup/memory/slurm/uid_0/job_7 false",
                "/sys/fs/cgroup/memory/slurm/uid_0 false",
                "/sys/fs/cgroup/memory/slurm false",
                "/sys/fs/cgroup/memory false"
            ]
        );
        let v2 = "0::/system.slice/job.scope\n";
        let mounts = "29 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let dirs: Vec<String> = cgroup_dirs(v2, mounts)
            .iter()
            .map(|(d, v2)| format!("{} {v2}", d.display()))
            .collect();
        assert_eq!(
            dirs,
            [
                "/sys/fs/cgroup/system.slice/job.scope true",
                "/sys/fs/cgroup/system.slice true",
                "/sys/fs/cgroup true"
            ]
        );
        // A container sees its own cgroup as the mount's root.
        let inside = "0::/\n";
        let dirs = cgroup_dirs(inside, mounts);
        assert_eq!(dirs.len(), 1);
        assert_eq!(dirs[0].0, std::path::Path::new("/sys/fs/cgroup"));
    }

    #[test]
    fn a_cgroup_level_reads_its_limit_use_and_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::write(d.join("memory.max"), "4294967296\n").unwrap();
        std::fs::write(d.join("memory.current"), "1073741824\n").unwrap();
        std::fs::write(d.join("memory.stat"), "anon 1\ninactive_file 536870912\n").unwrap();
        let level = cgroup_level(d, true).unwrap();
        assert_eq!(level.headroom(), (4 << 30) - (1 << 30) + (1 << 29));
        std::fs::write(d.join("memory.max"), "max\n").unwrap();
        assert_eq!(cgroup_level(d, true), None);
        std::fs::write(d.join("memory.limit_in_bytes"), "9223372036854771712\n").unwrap();
        std::fs::write(d.join("memory.usage_in_bytes"), "10\n").unwrap();
        assert_eq!(cgroup_level(d, false), None);
        std::fs::write(d.join("memory.limit_in_bytes"), "100\n").unwrap();
        std::fs::write(d.join("memory.stat"), "total_inactive_file 5\n").unwrap();
        assert_eq!(cgroup_level(d, false).unwrap().headroom(), 95);
    }

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
