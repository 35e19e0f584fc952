//! Every check a plan needs before anything is written, run once, into a
//! `CheckedPlan` the rest trusts: settings and limits, the device (resolved
//! once), every run folder, members that can share one step, weights files
//! read and matched to their model, export paths.

use std::path::{Component, Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use tch::Device;

use super::checkpoint::{resumed_state, Checkpoint};
use super::job::{Job, Plan};
use crate::config::Execution;
use crate::nn::device;
use crate::nn::weights::{read_weights, Weights};
use crate::nn::ModelSpec;
use crate::store::{check_run_dir, InitSource, SUMMARY};
use crate::train::orders::check_order_memory;
use crate::train::TrainState;

/// Most members of one pack.
pub const MAX_PACK: usize = 1024;

/// A plan whose every input has been checked.
pub struct CheckedPlan {
    pub device: Device,
    pub execution: Execution,
    pub force: bool,
    pub quiet: bool,
    pub jobs: Vec<CheckedJob>,
    /// Where the loop goes on from, when every member resumes from its
    /// checkpoint.
    pub resume: Option<TrainState>,
}

/// A checked job: its model's shape, the weights file it starts from
/// (read once, with its hash for the summary), if any, and the checkpoint
/// of its cut-off run it resumes from, if any.
pub struct CheckedJob {
    pub job: Job,
    pub spec: ModelSpec,
    pub init_from: Option<(InitSource, Weights)>,
    pub resume: Option<Checkpoint>,
}

impl Plan {
    /// Checks everything that can fail before a folder is touched.
    pub fn check(self) -> Result<CheckedPlan> {
        ensure!(!self.jobs.is_empty(), "a plan needs at least one run");
        ensure!(
            self.jobs.len() <= MAX_PACK,
            "a pack holds at most {MAX_PACK} runs, got {}",
            self.jobs.len()
        );
        self.execution.validate()?;
        let device = device::resolve(self.execution.device)?;
        let first = &self.jobs[0];
        let many = self.jobs.len() > 1;
        let mut folders: Vec<(PathBuf, PathBuf)> = Vec::new();
        let mut jobs = Vec::new();
        for job in self.jobs.iter() {
            // A lone run's messages already name what is wrong.
            let checked = if many {
                check_job(job, self.force, self.resume)
                    .with_context(|| format!("run {}", job.out.display()))?
            } else {
                check_job(job, self.force, self.resume)?
            };
            if !first.config.packs_with(&job.config) {
                bail!(
                    "{} and {} differ in more than seed, init and task: they cannot train in one pack",
                    first.out.display(),
                    job.out.display()
                );
            }
            let folder = identity(&job.out);
            if let Some((other, _)) = folders.iter().find(|(_, f)| *f == folder) {
                bail!(
                    "two members of one pack write to one folder: {} and {}",
                    other.display(),
                    job.out.display()
                );
            }
            folders.push((job.out.clone(), folder));
            jobs.push(checked);
        }
        let c = &first.config;
        check_order_memory(jobs.len(), c.epochs, c.split_sizes().train)?;
        let resume = check_resume(&jobs)?;
        Ok(CheckedPlan {
            device,
            execution: self.execution,
            force: self.force,
            quiet: self.quiet,
            jobs,
            resume,
        })
    }
}

/// A plan resumes when every member has a checkpoint, all at one point;
/// a plan of members with and without is refused by name.
fn check_resume(jobs: &[CheckedJob]) -> Result<Option<TrainState>> {
    let with: Vec<&Checkpoint> = jobs.iter().filter_map(|j| j.resume.as_ref()).collect();
    if with.is_empty() {
        return Ok(None);
    }
    if let Some(fresh) = jobs.iter().find(|j| j.resume.is_none()) {
        bail!(
            "{} has a checkpoint to resume from and {} has none: members of one pack resume together; train them in separate plans, or pass --force to start them all over",
            with[0].path.display(),
            fresh.job.out.display()
        );
    }
    resumed_state(&with).map(Some)
}

/// What marks a study's folder (its manifest, or a sweep's from before).
const STUDY_FILES: [&str; 2] = ["study.json", "sweep.json"];

fn check_job(job: &Job, force: bool, resume_forced: bool) -> Result<CheckedJob> {
    job.config.validate()?;
    ModelSpec::for_config(&job.config).check_size()?;
    if let Some(file) = STUDY_FILES.iter().find(|f| job.out.join(f).is_file()) {
        bail!(
            "--out {} is a study's folder (it holds {file}); a run goes into a folder of its own: \
             choose another --out",
            job.out.display()
        );
    }
    // A cut-off run's folder (a checkpoint, no summary) is resumed, not
    // refused; `--force` starts it over, unless the plan resumes what it
    // can (a study's), where a checkpoint that cannot be resumed is
    // started over.
    let resume = if job.out.join(SUMMARY).exists() || (force && !resume_forced) {
        None
    } else if force {
        Checkpoint::find(&job.out).ok().flatten()
    } else {
        Checkpoint::find(&job.out)?
    };
    check_run_dir(&job.out, force || resume.is_some())?;
    let spec = ModelSpec::for_config(&job.config);
    let init_from = match &job.init_from {
        Some(path) => {
            if path.is_dir() {
                bail!(
                    "--init-from {} is a folder; give a .safetensors file",
                    path.display()
                );
            }
            if !path.is_file() {
                bail!("--init-from {}: no such file", path.display());
            }
            let weights = read_weights(&spec, path)?;
            Some((InitSource::of(path)?, weights))
        }
        None => None,
    };
    for (flag, path) in [
        ("--save-init", &job.save_init),
        ("--save-data", &job.save_data),
    ] {
        // A resumed run wrote them when it started.
        if let (Some(path), None) = (path, &resume) {
            check_new_file(flag, path, &job.out, force)?;
        }
    }
    let resume = match resume {
        Some(c) => match c.check_belongs(&job.config, init_from.as_ref().map(|(s, _)| s)) {
            Ok(()) => Some(c),
            Err(_) if force => None,
            Err(e) => return Err(e),
        },
        None => None,
    };
    Ok(CheckedJob {
        job: job.clone(),
        spec,
        init_from,
        resume,
    })
}

/// A file a run will write beside its folder (or inside it).
fn check_new_file(flag: &str, path: &Path, out: &Path, force: bool) -> Result<()> {
    if path.is_dir() {
        bail!("{flag} {} is a folder; give a file path", path.display());
    }
    if path.exists() && !force {
        bail!(
            "{flag} {} exists; choose another path or pass --force",
            path.display()
        );
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // The run folder itself is created before the file is written.
    if !parent.is_dir() && parent != out {
        bail!(
            "{flag} {}: folder {} does not exist",
            path.display(),
            parent.display()
        );
    }
    Ok(())
}

/// Where `path` really is: its nearest existing ancestor resolved (links,
/// `.` and `..`), the rest appended lexically; two names of one folder
/// (`m/a` and `./m/a`) give one identity.
pub fn identity(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let parts: Vec<Component> = absolute.components().collect();
    let prefix = |n: usize| parts[..n].iter().collect::<PathBuf>();
    let mut existing = parts.len();
    while existing > 0 && !prefix(existing).exists() {
        existing -= 1;
    }
    let mut resolved = prefix(existing)
        .canonicalize()
        .unwrap_or_else(|_| prefix(existing));
    for part in &parts[existing..] {
        match part {
            Component::ParentDir => {
                resolved.pop();
            }
            Component::Normal(name) => resolved.push(name),
            _ => {}
        }
    }
    resolved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_names_of_one_folder_are_one_identity() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir(root.join("m")).unwrap();
        assert_eq!(identity(&root.join("m/a")), identity(&root.join("m/./a")));
        assert_eq!(
            identity(&root.join("m/a")),
            identity(&root.join("m/b/../a"))
        );
        assert_eq!(
            identity(&root.join("x/../m/a")),
            identity(&root.join("m/a"))
        );
        assert_ne!(identity(&root.join("m/a")), identity(&root.join("m/b")));
    }
}
