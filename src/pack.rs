//! Packed runs: several runs that differ only in seed, init scheme or task
//! train together in one process, one batched forward, backward and Adam
//! step for all of them per batch (`packed_model`). Each member gets its
//! single run's data, initial weights (bit for bit) and batch order, and
//! writes exactly the folder its single run writes, so `aggregate`, plots,
//! resume, shards and Slurm see ordinary runs. A member whose loss turns
//! non-finite ends as its single run would (its rows kept, no summary, the
//! error named); the others are untouched by it, since members share no
//! value.

use std::{
    fmt,
    io::Write,
    path::{Path, PathBuf},
    str::FromStr,
    time::Instant,
};

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};

use crate::config::{Cell, InitScheme, Task, TrainConfig};
use crate::console::Console;
use crate::data::Dataset;
use crate::model::{self, ModelSpec};
use crate::output::{HistoryFile, RunDir};
use crate::packed_model::PackedModel;
use crate::records::{EpochRecord, InitSource, PackRecord, Summary, HISTORY};
use crate::run::{self, RunOptions};
use crate::train::{self, EVAL_CHUNK};

/// `--pack`: how many runs train together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum PackSize {
    /// Per cell and device, from the measurements in the README (Speed):
    /// never slower per run than one run at a time where measured.
    Auto,
    /// At most this many runs per pack; 1 trains each run alone.
    Fixed(usize),
}

/// Most members of one pack.
pub const MAX_PACK: usize = 1024;

impl PackSize {
    /// Members per pack for `cell` on `device`. On the CPU, packing beats
    /// libtorch's per-op overhead for the Elman RNN and GRU (0.30x and
    /// 0.39x per run at 32 members) but not oneDNN's fused LSTM kernel
    /// (1.35x), so the LSTM trains alone there. On CUDA, where one run
    /// leaves the GPU idle between kernel launches, 32 members.
    pub fn members(self, cell: Cell, device: Device) -> usize {
        match self {
            PackSize::Fixed(n) => n,
            PackSize::Auto if device.is_cuda() => 32,
            PackSize::Auto => match cell {
                Cell::Lstm => 1,
                Cell::Rnn | Cell::Gru => 32,
            },
        }
    }
}

impl fmt::Display for PackSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PackSize::Auto => f.write_str("auto"),
            PackSize::Fixed(n) => write!(f, "{n}"),
        }
    }
}

impl FromStr for PackSize {
    type Err = String;
    fn from_str(s: &str) -> Result<PackSize, String> {
        if s.eq_ignore_ascii_case("auto") {
            return Ok(PackSize::Auto);
        }
        match s.parse::<usize>() {
            Ok(n) if (1..=MAX_PACK).contains(&n) => Ok(PackSize::Fixed(n)),
            _ => Err(format!(
                "invalid pack size '{s}' (expected auto or 1..={MAX_PACK})"
            )),
        }
    }
}

impl From<PackSize> for String {
    fn from(p: PackSize) -> String {
        p.to_string()
    }
}

impl TryFrom<String> for PackSize {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

/// One run of a pack: its config, its folder, and optionally the weights
/// it starts from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub config: TrainConfig,
    pub out: PathBuf,
    #[serde(default)]
    pub init_from: Option<PathBuf>,
}

/// The settings a pack shares: everything but seed, init scheme and task.
fn shared(c: &TrainConfig) -> TrainConfig {
    TrainConfig {
        seed: 0,
        init: InitScheme::Keras,
        task: Task::Multiply,
        ..c.clone()
    }
}

/// Whether two runs can train in one pack.
pub fn can_pack(a: &TrainConfig, b: &TrainConfig) -> bool {
    shared(a) == shared(b)
}

/// Splits `items` (in order) into packs of at most `size` runs that can
/// train together; the relative order of runs is kept.
pub fn group<T>(items: Vec<T>, size: usize, config: impl Fn(&T) -> &TrainConfig) -> Vec<Vec<T>> {
    let mut packs: Vec<Vec<T>> = Vec::new();
    for item in items {
        match packs
            .iter_mut()
            .find(|p| p.len() < size && can_pack(config(&p[0]), config(&item)))
        {
            Some(p) => p.push(item),
            None => packs.push(vec![item]),
        }
    }
    packs
}

/// How each member of a pack ended.
pub type MemberResult = Result<Summary, String>;

/// Everything a member needs before training, built without writing.
struct Prepared {
    spec: ModelSpec,
    train_x: Tensor,
    train_y: Tensor,
    val_x: Tensor,
    val_y: Tensor,
    test_x: Tensor,
    test_y: Tensor,
    weights: Vec<(String, Tensor)>,
    /// One batch order per epoch, as the single run draws them.
    orders: Vec<Tensor>,
    init_from: Option<InitSource>,
}

/// Bytes of batch orders a pack may hold (they are drawn up front: each
/// member's shuffle stream must continue across epochs, and libtorch's
/// generator is one per process).
const MAX_ORDER_BYTES: i64 = 4 << 30;

fn prepare(m: &Member) -> Result<Prepared> {
    let c = &m.config;
    let split = Dataset::for_config(c)?.split(c, Device::Cpu)?;
    let spec = ModelSpec::for_config(c);
    let (vs, _) = model::build(spec, Device::Cpu);
    let init_from = run::initial_weights(&vs, &spec, c.seed, m.init_from.as_deref())?;
    let rows = split.train_x.size()[0];
    let orders = train::batch_orders(c.seed, rows, c.epochs);
    Ok(Prepared {
        spec,
        weights: model::weights_of(&vs, &spec),
        train_x: split.train_x,
        train_y: split.train_y,
        val_x: split.val_x,
        val_y: split.val_y,
        test_x: split.test_x,
        test_y: split.test_y,
        orders,
        init_from,
    })
}

/// A member still training: its folder and history.
struct Active {
    dir: RunDir,
    history: HistoryFile,
    records: Vec<EpochRecord>,
    failed: Option<String>,
}

/// Trains `members` as one pack. Every member is checked before any
/// folder is touched; a member that diverges ends alone, the others finish.
/// Returns each member's summary or error, in order.
pub fn train_pack(
    members: &[Member],
    opts: &RunOptions,
    console: &mut dyn Write,
) -> Result<Vec<MemberResult>> {
    ensure!(!members.is_empty(), "a pack needs at least one member");
    ensure!(
        members.len() <= MAX_PACK,
        "a pack holds at most {MAX_PACK} members"
    );
    let started = Instant::now();
    let first = &members[0].config;
    let mut device = Device::Cpu;
    for (i, m) in members.iter().enumerate() {
        if !can_pack(first, &m.config) {
            bail!(
                "{} and {} differ in more than seed, init and task: they cannot train in one pack",
                members[0].out.display(),
                m.out.display()
            );
        }
        if members[..i].iter().any(|o| o.out == m.out) {
            bail!("two members of one pack write to {}", m.out.display());
        }
        let member_opts = RunOptions {
            init_from: m.init_from.clone(),
            ..opts.clone()
        };
        device = run::check(&m.config, &m.out, &member_opts)?;
    }
    let k = members.len() as i64;
    let rows = first.split_sizes().train;
    if k * first.epochs * rows * 8 > MAX_ORDER_BYTES {
        bail!(
            "a pack of {k} runs x {} epochs x {rows} rows needs more than 4 GiB of batch orders; use a smaller --pack",
            first.epochs
        );
    }
    tch::set_num_threads(opts.execution.threads as i32);
    let prepared = members.iter().map(prepare).collect::<Result<Vec<_>>>()?;
    let stack = |f: fn(&Prepared) -> &Tensor| -> Result<Tensor> {
        let parts: Vec<&Tensor> = prepared.iter().map(f).collect();
        Ok(Tensor::f_stack(&parts, 0)?.f_to(device)?)
    };
    let train_x = stack(|p| &p.train_x).context("moving the training rows")?;
    let (steps, features) = (train_x.size()[2], train_x.size()[3]);
    let train_x = train_x.view([k * rows, steps, features]);
    let train_y = stack(|p| &p.train_y)?.view([k * rows, 1]);
    let (val_x, val_y) = (stack(|p| &p.val_x)?, stack(|p| &p.val_y)?);
    let (test_x, test_y) = (stack(|p| &p.test_x)?, stack(|p| &p.test_y)?);
    let specs: Vec<ModelSpec> = prepared.iter().map(|p| p.spec).collect();
    let weights: Vec<Vec<(String, Tensor)>> = prepared
        .iter()
        .map(|p| {
            p.weights
                .iter()
                .map(|(n, t)| (n.clone(), t.shallow_clone()))
                .collect()
        })
        .collect();
    let vs = nn::VarStore::new(device);
    let net = PackedModel::new(&vs, &specs, &weights)?;
    let mut opt = crate::optim::Optimizer::new(&vs, first)?;

    // Every input is checked and built: only now are the folders touched.
    let mut active = Vec::new();
    for m in members {
        let dir = RunDir::open(&m.out, opts.force)?;
        let history = HistoryFile::create(&dir.file(HISTORY))?;
        active.push(Active {
            dir,
            history,
            records: Vec::new(),
            failed: None,
        });
    }
    let mut console = Console::new(console);
    if !opts.quiet {
        console.print(&format!(
            "pack of {k} {} runs on {}: seeds {}\n",
            first.model,
            crate::device::name(device),
            members
                .iter()
                .map(|m| m.config.seed.to_string())
                .collect::<Vec<_>>()
                .join(",")
        ));
    }
    let offsets = (Tensor::arange(k, (Kind::Int64, device)) * rows).view([k, 1]);
    let batch = first.batch_size;
    for epoch in 0..first.epochs {
        let start = Instant::now();
        let order = Tensor::stack(
            &prepared
                .iter()
                .map(|p| &p.orders[epoch as usize])
                .collect::<Vec<_>>(),
            0,
        )
        .to(device)
            + &offsets;
        let mut total = Tensor::zeros([k], (Kind::Double, device));
        for first_row in (0..rows).step_by(batch as usize) {
            let len = batch.min(rows - first_row);
            let index = order.narrow(1, first_row, len).reshape([-1]);
            let x = train_x
                .index_select(0, &index)
                .view([k, len, steps, features]);
            let y = train_y.index_select(0, &index).view([k, len, 1]);
            let per_member =
                (net.forward(&x) - y)
                    .square()
                    .mean_dim([1, 2].as_slice(), false, Kind::Float);
            opt.backward_step(&per_member.sum(Kind::Float));
            total += per_member.detach().to_kind(Kind::Double) * len as f64;
        }
        let losses = Vec::<f64>::try_from(total.to(Device::Cpu) / rows as f64)?;
        let train_seconds = start.elapsed().as_secs_f64();
        let val_losses = mse_per_member(&predict(&net, &val_x)?, &val_y)?;
        let seconds = start.elapsed().as_secs_f64();
        for (i, a) in active.iter_mut().enumerate() {
            if a.failed.is_some() {
                continue;
            }
            let record = EpochRecord {
                epoch,
                loss: losses[i],
                val_loss: val_losses[i],
                seconds,
                train_seconds,
            };
            if let Err(e) = a.history.append(&record) {
                a.failed = Some(format!("{e:#}"));
                continue;
            }
            if !record.loss.is_finite() || !record.val_loss.is_finite() {
                a.failed = Some(format!(
                    "training diverged: loss {} and val_loss {} in epoch {}/{}; history.csv keeps every epoch up to it. Try a smaller --lr",
                    record.loss,
                    record.val_loss,
                    epoch + 1,
                    first.epochs
                ));
            }
            a.records.push(record);
        }
        let training = active.iter().filter(|a| a.failed.is_none()).count();
        if !opts.quiet {
            console.print(&format!(
                "Epoch {}/{} - {training}/{k} runs - {seconds:.2}s - val_loss: {}\n",
                epoch + 1,
                first.epochs,
                range(&val_losses)
            ));
        }
        if training == 0 {
            break;
        }
    }

    let test_predictions = predict(&net, &test_x)?;
    let mut results = Vec::new();
    for (i, (a, m)) in active.into_iter().zip(members).enumerate() {
        if let Some(e) = a.failed {
            results.push(Err(e));
            continue;
        }
        let p = &prepared[i];
        let member = i as i64;
        let finish = || -> Result<Summary> {
            let evaluation = train::score(&test_predictions.get(member), &test_y.get(member))?;
            run::write_outputs(
                &a.dir,
                run::Finished {
                    config: &m.config,
                    device,
                    threads: opts.execution.threads,
                    spec: &p.spec,
                    history: &a.records,
                    evaluation: &evaluation,
                    baseline_mse: run::baseline_mse(
                        &train_y.narrow(0, member * rows, rows),
                        &test_y.get(member),
                    ),
                    weights: net.member_weights(&p.spec, member),
                    started,
                    pack: Some(PackRecord {
                        members: members.len(),
                        position: i,
                    }),
                    init_from: p.init_from.clone(),
                },
            )
        };
        results.push(finish().map_err(|e| format!("{e:#}")));
    }
    Ok(results)
}

/// "out: error" for each member that failed, in order.
pub fn failures(members: &[Member], results: &[MemberResult]) -> Vec<String> {
    members
        .iter()
        .zip(results)
        .filter_map(|(m, r)| {
            r.as_ref()
                .err()
                .map(|e| format!("{}: {e}", m.out.display()))
        })
        .collect()
}

/// Predictions `[K, rows, 1]` for `x` (`[K, rows, steps, features]`)
/// without gradients, in chunks of [`EVAL_CHUNK`] rows.
fn predict(net: &PackedModel, x: &Tensor) -> Result<Tensor> {
    tch::no_grad(|| {
        let rows = x.size()[1];
        let chunks: Vec<Tensor> = (0..rows)
            .step_by(EVAL_CHUNK as usize)
            .map(|first| net.forward(&x.narrow(1, first, EVAL_CHUNK.min(rows - first))))
            .collect();
        Tensor::f_cat(&chunks, 1).context("joining prediction chunks")
    })
}

/// Each member's MSE over its rows, as `train::mse` computes it alone.
fn mse_per_member(prediction: &Tensor, target: &Tensor) -> Result<Vec<f64>> {
    let rows = target.size()[1] as f64;
    let sums = (prediction - target)
        .pow_tensor_scalar(2)
        .sum_dim_intlist([1, 2].as_slice(), false, Kind::Float)
        .to_kind(Kind::Double)
        / rows;
    Ok(Vec::<f64>::try_from(sums.to(Device::Cpu))?)
}

fn range(values: &[f64]) -> String {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    match (
        finite.iter().copied().reduce(f64::min),
        finite.iter().copied().reduce(f64::max),
    ) {
        (Some(lo), Some(hi)) => format!("{lo:.4e} .. {hi:.4e}"),
        _ => "–".into(),
    }
}

/// Reads a pack plan (a JSON list of members), as `sweep` writes it.
pub fn read_plan(path: &Path) -> Result<Vec<Member>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --plan {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("--plan {} is not a list of pack members", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_sizes_parse_and_resolve() {
        assert_eq!("auto".parse::<PackSize>().unwrap(), PackSize::Auto);
        assert_eq!("8".parse::<PackSize>().unwrap(), PackSize::Fixed(8));
        for bad in ["0", "-1", "x", "1025"] {
            assert!(
                bad.parse::<PackSize>()
                    .unwrap_err()
                    .contains("expected auto or 1..=1024"),
                "{bad}"
            );
        }
        assert_eq!(PackSize::Auto.members(Cell::Lstm, Device::Cpu), 1);
        assert_eq!(PackSize::Auto.members(Cell::Gru, Device::Cpu), 32);
        assert_eq!(PackSize::Auto.members(Cell::Lstm, Device::Cuda(0)), 32);
        assert_eq!(PackSize::Fixed(3).members(Cell::Lstm, Device::Cpu), 3);
    }

    #[test]
    fn grouping_keeps_order_and_packs_only_compatible_runs() {
        let c = |seed, model, seq_len| TrainConfig {
            seed,
            model,
            seq_len,
            ..TrainConfig::default()
        };
        let runs = vec![
            c(1, Cell::Rnn, 10),
            c(2, Cell::Rnn, 10),
            c(1, Cell::Rnn, 20),
            c(3, Cell::Rnn, 10),
            c(1, Cell::Gru, 10),
            c(4, Cell::Rnn, 10),
        ];
        let packs = group(runs, 3, |c| c);
        let seeds: Vec<Vec<(u64, i64)>> = packs
            .iter()
            .map(|p| p.iter().map(|c| (c.seed, c.seq_len)).collect())
            .collect();
        assert_eq!(
            seeds,
            [
                vec![(1, 10), (2, 10), (3, 10)],
                vec![(1, 20)],
                vec![(1, 10)],
                vec![(4, 10)]
            ]
        );
        assert!(can_pack(
            &c(1, Cell::Rnn, 10),
            &TrainConfig {
                task: Task::Add,
                init: InitScheme::Torch,
                ..c(9, Cell::Rnn, 10)
            }
        ));
        assert!(!can_pack(
            &c(1, Cell::Rnn, 10),
            &TrainConfig {
                lr: 0.01,
                ..c(1, Cell::Rnn, 10)
            }
        ));
    }
}
