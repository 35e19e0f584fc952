//! checkpoint.safetensors: where a cut-off run goes on from. One file per
//! member, written whole or not at all: the member's trainable weights and
//! Adam's two moments (each variable as the network holds it, the
//! member's slice of it), and a `meta` tensor of JSON with the settings,
//! how it was computed, Adam's step count, the loop's [`TrainState`] and
//! the history so far, and the SHA-256 of the tensors. The data and the
//! batch orders are not saved: they are drawn again from the seed.

use std::{
    fs,
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tch::{Device, Kind, Tensor};

use super::signals::signals;
use crate::config::{AdamLayout, CheckpointEvery, Kernel, TrainConfig};
use crate::nn::optim::Optimizer;
use crate::nn::weights::save_named;
use crate::nn::Network;
use crate::store::history::METRICS;
use crate::store::{EpochRecord, InitSource, CHECKPOINT};
use crate::train::TrainState;

/// The checkpoint format this rnn-lab writes and reads.
const FORMAT: u32 = 1;

/// How a checkpoint's run was computed: a resume that computes it another
/// way goes on, but is not bit for bit the run it continues.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Computed {
    pub kernel: Kernel,
    pub adam_layout: AdamLayout,
    pub device: String,
    pub threads: usize,
    /// Members trained together, and this one's place among them.
    pub members: usize,
    pub position: usize,
}

/// What a checkpoint records besides its tensors.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    pub format: u32,
    pub config: TrainConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<InitSource>,
    pub computed: Computed,
    /// The network's trainable variables, in the order of the tensors.
    pub variables: Vec<String>,
    pub adam_steps: i64,
    /// The loop's state, this member's sums alone.
    pub epoch: i64,
    pub batch: i64,
    pub loss_sum: f64,
    pub norm_sum: f64,
    pub norm_max: f64,
    pub train_seconds: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// history.csv's rows so far, each value as Rust's shortest exact text.
    pub history: Vec<Vec<Option<String>>>,
    /// SHA-256 of the tensors (name, then bytes, in name order) and of
    /// this record as JSON with this field empty.
    pub sha256: String,
}

impl Meta {
    /// Member `member` of `state`'s history as saved.
    fn history_of(state: &TrainState, member: usize) -> Vec<Vec<Option<String>>> {
        state.histories[member]
            .iter()
            .map(|r| {
                std::iter::once(Some(r.epoch.to_string()))
                    .chain(
                        METRICS
                            .iter()
                            .map(|d| r.get(d.metric).map(|v| format!("{v}"))),
                    )
                    .collect()
            })
            .collect()
    }

    /// The history as the run recorded it, every value exact.
    pub fn history(&self) -> Result<Vec<EpochRecord>> {
        self.history
            .iter()
            .map(|row| {
                ensure!(
                    row.len() == METRICS.len() + 1,
                    "a history row of {} cells",
                    row.len()
                );
                let epoch = row[0]
                    .as_deref()
                    .context("a history row without its epoch")?;
                let mut r = EpochRecord::new(epoch.parse()?);
                for (d, cell) in METRICS.iter().zip(&row[1..]) {
                    if let Some(text) = cell {
                        r = r.with(d.metric, text.parse()?);
                    }
                }
                Ok(r)
            })
            .collect()
    }
}

/// A checkpoint read back: its record and its tensors by name.
pub struct Checkpoint {
    pub path: PathBuf,
    pub meta: Meta,
    tensors: Vec<(String, Tensor)>,
    /// The file's length and modification time when read (a resume checks
    /// them again under the folder's lock).
    stamp: (u64, Option<std::time::SystemTime>),
}

fn stamp(path: &Path) -> Result<(u64, Option<std::time::SystemTime>)> {
    let m = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok((m.len(), m.modified().ok()))
}

/// Each trainable variable of `net` with member `k`'s slice of it (a view).
fn member_slice(net: &dyn Network, t: &Tensor, k: usize) -> Tensor {
    match net.stacked() {
        true => t.get(k as i64),
        false => t.shallow_clone(),
    }
}

/// The names of `net`'s trainable variables, in `trainable_variables()` order.
fn variable_names(net: &dyn Network) -> Vec<String> {
    let named = net.var_store().variables();
    net.var_store()
        .trainable_variables()
        .iter()
        .map(|t| {
            named
                .iter()
                .find(|(_, v)| v.data_ptr() == t.data_ptr() && v.size() == t.size())
                .map_or_else(|| "?".to_owned(), |(n, _)| n.clone())
        })
        .collect()
}

/// SHA-256 over `tensors` sorted by name (each name, then its bytes),
/// then over `meta` as JSON with its own hash left empty.
fn digest(tensors: &[(String, Tensor)], meta: &Meta) -> Result<String> {
    let mut sorted: Vec<&(String, Tensor)> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut h = Sha256::new();
    for (name, t) in sorted {
        let t = t.to(Device::Cpu).contiguous();
        let bytes = t.numel() * t.kind().elt_size_in_bytes();
        let mut buf = vec![0u8; bytes];
        t.f_copy_data_u8(&mut buf, t.numel())?;
        h.update(name.as_bytes());
        h.update(&buf);
    }
    h.update(serde_json::to_vec(&Meta {
        sha256: String::new(),
        ..meta.clone()
    })?);
    Ok(format!("{:x}", h.finalize()))
}

/// What every member's checkpoint shares.
pub struct Saving<'a> {
    pub net: &'a dyn Network,
    pub opt: &'a Optimizer,
    pub state: &'a TrainState,
    pub computed: Computed,
}

/// Writes member `k`'s checkpoint of `config` to `dir`, whole or not at all.
pub fn save(
    s: &Saving,
    k: usize,
    config: &TrainConfig,
    init_from: Option<&InitSource>,
    dir: &Path,
) -> Result<()> {
    let vars = s.net.var_store().trainable_variables();
    let moments = s.opt.moments();
    let mut tensors = Vec::with_capacity(3 * vars.len());
    tch::no_grad(|| {
        for (i, (var, (m, v))) in vars.iter().zip(&moments).enumerate() {
            for (what, t) in [("weight", var), ("adam_m", m), ("adam_v", v)] {
                let part = member_slice(s.net, &t.detach(), k)
                    .to(Device::Cpu)
                    .contiguous();
                tensors.push((format!("{what}.{i:03}"), part));
            }
        }
    });
    let st = s.state;
    let mut meta = Meta {
        format: FORMAT,
        config: config.clone(),
        init_from: init_from.cloned(),
        computed: Computed {
            position: k,
            ..s.computed.clone()
        },
        variables: variable_names(s.net),
        adam_steps: s.opt.steps(),
        epoch: st.epoch,
        batch: st.batch,
        loss_sum: st.loss_sums[k],
        norm_sum: st.norm_sums[k],
        norm_max: st.norm_maxes[k],
        train_seconds: st.train_seconds,
        stopped: st.stopped[k].clone(),
        history: Meta::history_of(st, k),
        sha256: String::new(),
    };
    meta.sha256 = digest(&tensors, &meta)?;
    let json = serde_json::to_vec(&meta)?;
    tensors.push(("meta".into(), Tensor::from_slice(&json)));
    save_named(tensors, &dir.join(CHECKPOINT))
}

impl Checkpoint {
    /// The checkpoint in `dir`, if it has one; an unreadable or damaged one
    /// is an error that says how to start over.
    pub fn find(dir: &Path) -> Result<Option<Checkpoint>> {
        let path = dir.join(CHECKPOINT);
        if !path.exists() {
            return Ok(None);
        }
        let over = "pass --force to start the run over";
        let stamp = stamp(&path)?;
        let tensors = Tensor::read_safetensors(&path)
            .with_context(|| format!("checkpoint {} is unreadable; {over}", path.display()))?;
        let (meta, tensors): (Vec<_>, Vec<_>) = tensors.into_iter().partition(|(n, _)| n == "meta");
        let Some((_, meta)) = meta.into_iter().next() else {
            bail!("checkpoint {} has no record (meta); {over}", path.display());
        };
        let bytes = Vec::<u8>::try_from(&meta)?;
        let meta: Meta = serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "checkpoint {}: its record is unreadable; {over}",
                path.display()
            )
        })?;
        if meta.format != FORMAT {
            bail!(
                "checkpoint {} is of format {}, this rnn-lab reads {FORMAT}; {over}",
                path.display(),
                meta.format
            );
        }
        if digest(&tensors, &meta)? != meta.sha256 {
            bail!(
                "checkpoint {} is damaged: it does not match its recorded SHA-256; {over}",
                path.display()
            );
        }
        meta.history().with_context(|| {
            format!(
                "checkpoint {}: its history is unreadable; {over}",
                path.display()
            )
        })?;
        Ok(Some(Checkpoint {
            path,
            meta,
            tensors,
            stamp,
        }))
    }

    /// Refuses a checkpoint of other settings (named) or another initial
    /// weights file: it is not this run's.
    pub fn check_belongs(
        &self,
        config: &TrainConfig,
        init_from: Option<&InitSource>,
    ) -> Result<()> {
        let differ = config_differences(&self.meta.config, config);
        if !differ.is_empty() {
            bail!(
                "{} was written by a run of other settings ({}); run the same settings to resume it, or pass --force to start over",
                self.path.display(),
                differ.join(", ")
            );
        }
        let hash = |s: Option<&InitSource>| s.map(|s| s.sha256.clone());
        if hash(self.meta.init_from.as_ref()) != hash(init_from) {
            bail!(
                "{} was written by a run from other initial weights (--init-from); give the same file to resume it, or pass --force to start over",
                self.path.display()
            );
        }
        Ok(())
    }

    /// Whether the file is still the one read (checked under the lock).
    pub fn unchanged(&self) -> bool {
        stamp(&self.path).is_ok_and(|s| s == self.stamp)
    }

    /// Puts member `k`'s weights and Adam moments into `net` and `opt`.
    pub fn restore(&self, net: &dyn Network, opt: &Optimizer, k: usize) -> Result<()> {
        let names = variable_names(net);
        if names != self.meta.variables {
            bail!(
                "{} was written by a network of other variables (--kernel {} there, {} here); resume with --kernel {}, or pass --force to start over",
                self.path.display(),
                self.meta.computed.kernel,
                net.kernel(),
                self.meta.computed.kernel
            );
        }
        let vars = net.var_store().trainable_variables();
        let moments = opt.moments();
        let by_name: std::collections::HashMap<&str, &Tensor> =
            self.tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
        ensure!(
            by_name.len() == 3 * vars.len(),
            "{} holds {} tensors, this network needs {}; pass --force to start over",
            self.path.display(),
            by_name.len(),
            3 * vars.len()
        );
        tch::no_grad(|| -> Result<()> {
            for (i, (var, (m, v))) in vars.iter().zip(&moments).enumerate() {
                for (what, t) in [("weight", var), ("adam_m", m), ("adam_v", v)] {
                    let name = format!("{what}.{i:03}");
                    let saved = by_name
                        .get(name.as_str())
                        .with_context(|| format!("{} has no {name}", self.path.display()))?;
                    let mut target = member_slice(net, &t.detach(), k);
                    ensure!(
                        target.size() == saved.size() && saved.kind() == Kind::Float,
                        "{}: {name} is {:?}, this network's is {:?}; pass --force to start over",
                        self.path.display(),
                        saved.size(),
                        target.size()
                    );
                    target.f_copy_(saved)?;
                }
            }
            Ok(())
        })
    }
}

/// The settings two configs differ in, as `name X there, Y here`.
pub fn config_differences(saved: &TrainConfig, now: &TrainConfig) -> Vec<String> {
    let (a, b) = (
        serde_json::to_value(saved).unwrap_or_default(),
        serde_json::to_value(now).unwrap_or_default(),
    );
    let empty = serde_json::Map::new();
    let (a, b) = (
        a.as_object().unwrap_or(&empty),
        b.as_object().unwrap_or(&empty),
    );
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let show = |v: Option<&serde_json::Value>| {
        v.map_or("none".to_owned(), |v| {
            v.to_string().trim_matches('"').to_owned()
        })
    };
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("{k} {} there, {} here", show(a.get(k)), show(b.get(k))))
        .collect()
}

/// The loop's state for a plan whose members resume from `checkpoints`
/// (one per member, in order), after checking they stand at one point.
pub fn resumed_state(checkpoints: &[&Checkpoint]) -> Result<TrainState> {
    let first = &checkpoints[0].meta;
    for c in checkpoints {
        let m = &c.meta;
        if (m.epoch, m.batch, m.adam_steps) != (first.epoch, first.batch, first.adam_steps) {
            bail!(
                "{} stopped at epoch {} batch {}, {} at epoch {} batch {}: members of one pack resume from one point; resume them one by one (a plan of one), or pass --force to start over",
                checkpoints[0].path.display(),
                first.epoch,
                first.batch,
                c.path.display(),
                m.epoch,
                m.batch
            );
        }
    }
    let each = |f: fn(&Meta) -> f64| checkpoints.iter().map(|c| f(&c.meta)).collect();
    Ok(TrainState {
        epoch: first.epoch,
        batch: first.batch,
        loss_sums: each(|m| m.loss_sum),
        norm_sums: each(|m| m.norm_sum),
        norm_maxes: each(|m| m.norm_max),
        train_seconds: first.train_seconds,
        histories: checkpoints
            .iter()
            .map(|c| c.meta.history())
            .collect::<Result<_>>()?,
        stopped: checkpoints.iter().map(|c| c.meta.stopped.clone()).collect(),
    })
}

/// When a plan's members save their checkpoints, and where to.
pub struct Checkpoints {
    /// Each member's settings, initial weights file and folder.
    members: Vec<(TrainConfig, Option<InitSource>, PathBuf)>,
    computed: Computed,
    every: CheckpointEvery,
    last: Instant,
    epochs_since: u64,
    /// Stop signals before training began (a later one asks to stop).
    signals_before: usize,
    /// Why the last save failed, not yet told.
    pub failed: Option<String>,
    /// Where the last checkpoint stands (epoch, batch).
    pub saved: Option<(i64, i64)>,
    /// Checkpoints written by this process, and the seconds they took.
    pub written: u64,
    pub seconds: f64,
}

impl Checkpoints {
    pub fn new(
        members: Vec<(TrainConfig, Option<InitSource>, PathBuf)>,
        computed: Computed,
        every: CheckpointEvery,
        signals_before: usize,
    ) -> Checkpoints {
        Checkpoints {
            members,
            computed,
            every,
            last: Instant::now(),
            epochs_since: 0,
            signals_before,
            failed: None,
            saved: None,
            written: 0,
            seconds: 0.0,
        }
    }

    /// At an epoch's end: whether the interval has passed.
    pub fn due(&mut self) -> bool {
        self.epochs_since += 1;
        match self.every {
            CheckpointEvery::Seconds(s) => self.last.elapsed().as_secs_f64() >= s as f64,
            CheckpointEvery::Epochs(n) => self.epochs_since >= n,
            CheckpointEvery::Never => false,
        }
    }

    /// A SIGINT or SIGTERM came since training began.
    pub fn stop_asked(&self) -> bool {
        signals() > self.signals_before
    }

    /// Every member's checkpoint of `net`, `opt` and `state`; the first
    /// failure stops the saving and is kept in `failed`.
    pub fn save(&mut self, net: &dyn Network, opt: &Optimizer, state: &TrainState) {
        let start = Instant::now();
        let saving = Saving {
            net,
            opt,
            state,
            computed: self.computed.clone(),
        };
        let saved = self
            .members
            .iter()
            .enumerate()
            .try_for_each(|(k, (config, init, dir))| save(&saving, k, config, init.as_ref(), dir));
        self.last = Instant::now();
        self.epochs_since = 0;
        self.seconds += start.elapsed().as_secs_f64();
        match saved {
            Ok(()) => {
                self.saved = Some((state.epoch, state.batch));
                self.written += 1;
            }
            Err(e) => self.failed = Some(format!("{e:#}")),
        }
    }
}
