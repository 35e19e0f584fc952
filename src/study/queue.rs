//! What a shard of a study still has to run: its finished runs are skipped,
//! cut-off ones restart, and a folder holding a run of other settings than
//! the manifest lists is refused by name (never silently retrained). The
//! runs to do are grouped into packs, one child process each.

use std::path::Path;

use anyhow::{bail, Result};
use tch::Device;

use super::calibration::{choose, Choice};
use super::grid::RunSpec;
use super::manifest::MANIFEST;
use super::packing::{even_chunks, group, PackSize};
use super::prepare::Study;
use super::shard::Shard;
use crate::config::{value_text, Execution, TrainConfig};
use crate::run::checkpoint::Checkpoint;
use crate::run::MAX_PACK;
use crate::store::FinishedRun;

/// This shard's runs and which of them are still to run.
pub struct Queue {
    pub in_shard: usize,
    /// Finished already.
    pub done: usize,
    pub todo: Vec<RunSpec>,
}

/// Whether `dir` holds a finished run of exactly `config`, its weights
/// drawn from its seed as a study's are.
pub fn is_done(dir: &Path, run: &RunSpec) -> bool {
    FinishedRun::read(&dir.join(&run.name))
        .ok()
        .flatten()
        .is_some_and(|r| r.summary.config == run.config && r.summary.init_from.is_none())
}

/// This shard's runs of `study`; with `force`, finished runs are done again.
pub fn queue(study: &Study, shard: Shard, force: bool) -> Result<Queue> {
    let mine: Vec<&RunSpec> = study
        .manifest
        .runs
        .iter()
        .enumerate()
        .filter(|(i, _)| shard.owns(*i))
        .map(|(_, r)| r)
        .collect();
    let mut todo = Vec::new();
    for run in &mine {
        let folder = study.dir.join(&run.name);
        let finished = match FinishedRun::read(&folder) {
            Ok(f) => f,
            Err(_) if force => None,
            Err(e) => return Err(e.context("pass --force to train that run again")),
        };
        match finished {
            Some(f) if force => drop(f),
            Some(f) if f.summary.init_from.is_some() => bail!(
                "{} holds a run that started from a weights file, not one of this study's; \
                 move it away, or pass --force to train it again",
                folder.display()
            ),
            Some(f) if f.summary.config != run.config => bail!(
                "{} holds a run of other settings than {MANIFEST} lists for it ({}); \
                 move it away, or pass --force to train it again",
                folder.display(),
                differences(&f.summary.config, &run.config)
            ),
            Some(_) => continue,
            None => {}
        }
        todo.push((*run).clone());
    }
    Ok(Queue {
        in_shard: mine.len(),
        done: mine.len() - todo.len(),
        todo,
    })
}

/// "epochs 3 (study: 5)" for each setting that differs.
fn differences(found: &TrainConfig, listed: &TrainConfig) -> String {
    let (a, b) = (
        serde_json::to_value(found).unwrap_or_default(),
        serde_json::to_value(listed).unwrap_or_default(),
    );
    a.as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| b.get(k.as_str()) != Some(v))
        .map(|(k, v)| {
            format!(
                "{k} {} (study: {})",
                value_text(v),
                b.get(k.as_str()).map_or("–".into(), value_text)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The runs of a study in packs, and `--pack auto`'s choices (what shape
/// of run, and why that size), for the header.
pub type Packing = (Vec<Vec<RunSpec>>, Vec<(String, Choice)>);

/// Seconds a study's packs will train, `jobs` at a time, from the measured
/// cost of a batch per run in a pack of each size (`cost(pack)`): each
/// pack's batches x epochs, the packs given to the first free process in
/// order, as the scheduler does. Evaluation and start-up are not counted.
pub fn estimate(
    packs: &[Vec<RunSpec>],
    jobs: usize,
    mut cost: impl FnMut(&[RunSpec]) -> Result<f64>,
) -> Result<f64> {
    let mut free_at = vec![0.0f64; jobs.max(1)];
    for pack in packs {
        let c = &pack[0].config;
        let seconds = cost(pack)? * pack.len() as f64 * (c.batches_per_epoch() * c.epochs) as f64;
        let slot = free_at
            .iter_mut()
            .min_by(|a, b| a.total_cmp(b))
            .expect("one process at least");
        *slot += seconds;
    }
    Ok(free_at.into_iter().fold(0.0, f64::max))
}

/// Where the cut-off run `run` of the study in `dir` resumes from (epoch,
/// batch), when it has a checkpoint of its settings; None for a run that
/// starts afresh (a bad checkpoint included: the child starts it over).
pub fn resumes_at(dir: &Path, run: &RunSpec) -> Option<(i64, i64)> {
    let checkpoint = Checkpoint::find(&dir.join(&run.name)).ok().flatten()?;
    checkpoint.check_belongs(&run.config, None).ok()?;
    Some((checkpoint.meta.epoch, checkpoint.meta.batch))
}

/// The runs to do in packs: runs that can share a step and resume from
/// one point (or start afresh), in the study's order, at most `pack` a
/// pack, or for `auto` the size measured cheapest per run for their shape
/// (each choice returned, for the header).
pub fn packs(
    dir: &Path,
    todo: &[RunSpec],
    pack: PackSize,
    execution: &Execution,
    device: Device,
    save: bool,
) -> Result<Packing> {
    let mut packs = Vec::new();
    let mut choices = Vec::new();
    let mut by_point: Vec<(Option<(i64, i64)>, RunSpec)> = todo
        .iter()
        .map(|r| (resumes_at(dir, r), r.clone()))
        .collect();
    // Stable: the study's order within each point, fresh runs first.
    by_point.sort_by_key(|(point, _)| *point);
    let mut groups = Vec::new();
    let mut rest = by_point.as_slice();
    while let Some((point, _)) = rest.first() {
        let n = rest.iter().take_while(|(p, _)| p == point).count();
        let runs: Vec<RunSpec> = rest[..n].iter().map(|(_, r)| r.clone()).collect();
        groups.extend(group(runs, MAX_PACK, |r| &r.config));
        rest = &rest[n..];
    }
    for group in groups {
        let size = match pack {
            PackSize::Fixed(n) => n,
            PackSize::Auto => {
                let c = &group[0].config;
                let choice = choose(c, group.len(), execution, device, save)?;
                let n = group.len();
                let runs = if n == 1 { "run" } else { "runs" };
                let label = format!("{} {} at {} ({n} {runs})", c.task, c.model, c.seq_len);
                let size = choice.members;
                choices.push((label, choice));
                size
            }
        };
        packs.extend(even_chunks(&group, size));
    }
    Ok((packs, choices))
}
