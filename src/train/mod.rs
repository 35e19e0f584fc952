//! The one training loop, for K >= 1 members at once (K = 1 is a lone run):
//! per-epoch shuffled mini-batches, one forward, backward and Adam step for
//! every member per batch, Keras's loss bookkeeping, the validation loss
//! and the other metrics after each epoch, and a failure mask: a member
//! whose loss is not finite (or whose history cannot be written) stops,
//! the others go on. Where the loop stands between two batches is a
//! [`TrainState`]: with the weights and Adam's state it is a checkpoint,
//! and the loop goes on from one exactly as if never stopped.

pub mod batch;
pub mod eval;
pub mod loss;
pub mod orders;

use std::time::Instant;

use anyhow::{anyhow, Result};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::config::{TaskShape, TrainConfig};
use crate::nn::optim::Optimizer;
use crate::nn::{Network, Read};
use crate::store::{EpochRecord, Metric};
use batch::{PackData, Stacked};
use eval::{baseline, predict};
use loss::{batch_losses, clip_grad_norms, grad_norms, member_losses};

/// What the loop reports while it trains: history files, the console,
/// the progress bar and checkpoints are all fed from here.
pub trait Observer {
    fn batch_done(&mut self) {}
    /// Member `member` finished `record`'s epoch; an error ends that member
    /// (what it reported before stays).
    fn member_epoch(&mut self, member: usize, record: &EpochRecord) -> Result<()>;
    /// The epoch is done: each member's record (None for members that had
    /// already stopped), and how many members train on.
    fn epoch_done(&mut self, _records: &[Option<EpochRecord>], _training: usize) {}
    /// Whether a checkpoint is due now, at an epoch's end.
    fn checkpoint_due(&mut self) -> bool {
        false
    }
    /// Whether the run was asked to stop (a signal): asked after every
    /// batch; the loop then saves a checkpoint and returns.
    fn stop_asked(&self) -> bool {
        false
    }
    /// Saves a checkpoint of `net`, `opt` and `state` (a failure is the
    /// observer's to report: training goes on from the last good one).
    fn checkpoint(&mut self, _net: &dyn Network, _opt: &Optimizer, _state: &TrainState) {}
}

/// Where training stands between two batches, besides the weights and
/// Adam's state: everything the loop needs to go on bit for bit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// The epoch under way, from 0 (`epochs` once every epoch is done).
    pub epoch: i64,
    /// Batches of it done.
    pub batch: i64,
    /// This epoch's sums so far per member: batch loss x rows, gradient
    /// norm, and the largest gradient norm (as the loop sums them, in
    /// float64).
    pub loss_sums: Vec<f64>,
    pub norm_sums: Vec<f64>,
    pub norm_maxes: Vec<f64>,
    /// Training time of this epoch before it was cut.
    pub train_seconds: f64,
    /// Each member's finished epochs.
    #[serde(skip)]
    pub histories: Vec<Vec<EpochRecord>>,
    /// Why a member stopped, for members that did.
    pub stopped: Vec<Option<String>>,
}

impl TrainState {
    /// Before the first batch of `members` members.
    pub fn start(members: usize) -> TrainState {
        TrainState {
            epoch: 0,
            batch: 0,
            loss_sums: vec![0.0; members],
            norm_sums: vec![0.0; members],
            norm_maxes: vec![0.0; members],
            train_seconds: 0.0,
            histories: vec![Vec::new(); members],
            stopped: vec![None; members],
        }
    }

    fn new_epoch(&mut self) {
        self.epoch += 1;
        self.batch = 0;
        self.train_seconds = 0.0;
        for v in [
            &mut self.loss_sums,
            &mut self.norm_sums,
            &mut self.norm_maxes,
        ] {
            v.iter_mut().for_each(|x| *x = 0.0);
        }
    }
}

/// How the loop ended.
pub enum Fitted {
    /// Every epoch ran (or every member stopped): each member's history,
    /// or why it stopped.
    Done(Vec<Result<Vec<EpochRecord>>>),
    /// Asked to stop: a checkpoint was saved where it stood.
    Stopped,
}

/// Trains the members of `net` on `data` for `config.epochs` epochs (the
/// settings every member shares), from `state` on (`TrainState::start` for
/// a new run), epoch `e` of member `k` in the order `orders[k][e]`.
pub fn fit(
    net: &dyn Network,
    opt: &mut Optimizer,
    data: &PackData,
    orders: &[Vec<Tensor>],
    config: &TrainConfig,
    mut state: TrainState,
    observer: &mut dyn Observer,
) -> Result<Fitted> {
    let k = net.members() as usize;
    let task = config.task.shape();
    let val = &data.val;
    let val_baselines: Vec<f64> = (0..k as i64)
        .map(|m| baseline(&task, &data.member_train_y(m), &val.y.get(m)))
        .collect();
    let device = data.train_x.device();
    let mut stopped: Vec<Option<anyhow::Error>> = state
        .stopped
        .iter()
        .map(|s| s.as_ref().map(|e| anyhow!("{e}")))
        .collect();
    // Members that met the criterion for long enough (`--stop-below`): done.
    let met = |h: &[EpochRecord]| {
        config.stop_rule().is_some_and(|(below, patience)| {
            h.iter().rev().take_while(|r| r.val_loss() < below).count() as i64 >= patience
        })
    };
    let mut done: Vec<bool> = state.histories.iter().map(|h| met(h)).collect();
    let training = |stopped: &[Option<anyhow::Error>], done: &[bool]| {
        stopped
            .iter()
            .zip(done)
            .filter(|(s, d)| s.is_none() && !**d)
            .count()
    };
    while state.epoch < config.epochs && training(&stopped, &done) > 0 {
        let start = Instant::now();
        let epoch = state.epoch;
        let index = data.epoch_index(
            &orders
                .iter()
                .map(|o| &o[epoch as usize])
                .collect::<Vec<_>>(),
        );
        let mut sums = Sums::of(&state, device);
        let (rows, batch) = (data.rows, config.batch_size);
        let mut step = Stepper::new(net, config);
        let batches = (rows + batch - 1) / batch;
        for b in state.batch..batches {
            let first = b * batch;
            let len = batch.min(rows - first);
            let (losses, norms) = step.step(opt, &data.batch(&index, first, len));
            sums.add(&losses, &norms, len);
            observer.batch_done();
            if observer.stop_asked() && b + 1 < batches {
                sums.into_state(&mut state, b + 1, start.elapsed().as_secs_f64());
                state.stopped = messages(&stopped);
                observer.checkpoint(net, opt, &state);
                return Ok(Fitted::Stopped);
            }
        }
        let (losses, norms, norm_maxes) = sums.epoch_means(rows, batches);
        let train_seconds = state.train_seconds + start.elapsed().as_secs_f64();
        let val_losses = member_losses(task.loss, &predict(net, val, task.readout)?, &val.y);
        let seconds = state.train_seconds + start.elapsed().as_secs_f64();
        let mut records = vec![None; k];
        for m in 0..k {
            if stopped[m].is_some() || done[m] {
                continue;
            }
            let record = EpochRecord::core(epoch, losses[m], val_losses[m], seconds, train_seconds)
                .with(Metric::ValRelLoss, val_losses[m] / val_baselines[m])
                .with(Metric::GradNorm, norms[m])
                .with(Metric::GradNormMax, norm_maxes[m])
                .with(Metric::Sequences, ((epoch + 1) * rows) as f64);
            if let Err(e) = observer.member_epoch(m, &record) {
                stopped[m] = Some(e);
                continue;
            }
            if !record.loss().is_finite() || !record.val_loss().is_finite() {
                stopped[m] = Some(diverged(&record, config.epochs));
            }
            state.histories[m].push(record.clone());
            done[m] = met(&state.histories[m]);
            records[m] = Some(record);
        }
        let training = training(&stopped, &done);
        observer.epoch_done(&records, training);
        state.new_epoch();
        let more = state.epoch < config.epochs && training > 0;
        if more && (observer.checkpoint_due() || observer.stop_asked()) {
            state.stopped = messages(&stopped);
            observer.checkpoint(net, opt, &state);
            if observer.stop_asked() {
                return Ok(Fitted::Stopped);
            }
        }
    }
    Ok(Fitted::Done(
        std::mem::take(&mut state.histories)
            .into_iter()
            .zip(stopped)
            .map(|(h, s)| match s {
                Some(e) => Err(e),
                None => Ok(h),
            })
            .collect(),
    ))
}

fn messages(stopped: &[Option<anyhow::Error>]) -> Vec<Option<String>> {
    stopped
        .iter()
        .map(|s| s.as_ref().map(|e| format!("{e:#}")))
        .collect()
}

/// An epoch's running sums per member, on the device (a GPU is not
/// synchronised every batch), in float64.
struct Sums {
    loss: Tensor,
    norm: Tensor,
    norm_max: Tensor,
}

impl Sums {
    fn of(state: &TrainState, device: Device) -> Sums {
        let t = |v: &[f64]| Tensor::from_slice(v).to(device);
        Sums {
            loss: t(&state.loss_sums),
            norm: t(&state.norm_sums),
            norm_max: t(&state.norm_maxes),
        }
    }

    fn add(&mut self, losses: &Tensor, norms: &Tensor, rows: i64) {
        self.loss += losses.to_kind(Kind::Double) * rows as f64;
        let norms = norms.to_kind(Kind::Double);
        self.norm += &norms;
        self.norm_max = self.norm_max.maximum(&norms);
    }

    fn cpu(t: &Tensor) -> Vec<f64> {
        Vec::<f64>::try_from(t.to(Device::Cpu)).expect("a float64 vector")
    }

    /// The sums kept in `state`, `batch` batches and `seconds` into the epoch.
    fn into_state(self, state: &mut TrainState, batch: i64, seconds: f64) {
        state.batch = batch;
        state.loss_sums = Sums::cpu(&self.loss);
        state.norm_sums = Sums::cpu(&self.norm);
        state.norm_maxes = Sums::cpu(&self.norm_max);
        state.train_seconds += seconds;
    }

    /// Each member's loss (the batches' weighted by their rows, Keras's
    /// bookkeeping), mean and largest gradient norm over the epoch.
    fn epoch_means(&self, rows: i64, batches: i64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        (
            Sums::cpu(&(&self.loss / rows as f64)),
            Sums::cpu(&(&self.norm / batches as f64)),
            Sums::cpu(&self.norm_max),
        )
    }
}

/// One training step of every member: what it needs, gathered once.
pub struct Stepper<'a> {
    net: &'a dyn Network,
    task: TaskShape,
    vars: Vec<Tensor>,
    clip_norm: Option<f64>,
}

impl<'a> Stepper<'a> {
    pub fn new(net: &'a dyn Network, config: &TrainConfig) -> Stepper<'a> {
        Stepper {
            net,
            task: config.task.shape(),
            vars: net.var_store().trainable_variables(),
            clip_norm: config.clip_norm,
        }
    }

    /// A forward, backward and (clipped) Adam step on the batch `b`; each
    /// member's loss on it and its gradient's global norm before
    /// clipping, `[K]` each, detached.
    pub fn step(&mut self, opt: &mut Optimizer, b: &Stacked) -> (Tensor, Tensor) {
        let out = self
            .net
            .forward(&b.x, &Read::of(self.task.readout, &b.last_steps));
        let losses = batch_losses(self.task.loss, &out, &b.y);
        let mut norms = None;
        opt.backward_step(|| {
            self.net.backward(&losses.sum(Kind::Float));
            let members = self.net.members();
            let total = grad_norms(&self.vars, members);
            if let Some(max_norm) = self.clip_norm {
                clip_grad_norms(&self.vars, members, max_norm, &total);
            }
            norms = Some(total);
        });
        self.net.constrain();
        (losses.detach(), norms.expect("a backward step"))
    }
}

/// The one divergence message; the epoch is counted as the console does.
fn diverged(record: &EpochRecord, epochs: i64) -> anyhow::Error {
    anyhow!(
        "training diverged: loss {} and val_loss {} in epoch {}/{}; history.csv keeps every epoch up to it. Try a smaller --lr",
        record.loss(),
        record.val_loss(),
        record.epoch + 1,
        epochs
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AdamKind, AdamLayout, Cell, InitScheme, Kernel};
    use crate::nn::init::draw_weights;
    use crate::nn::kernel;
    use crate::nn::tasks::Dataset;
    use crate::nn::ModelSpec;

    #[derive(Default)]
    struct Collect(Vec<(usize, EpochRecord)>, usize);
    impl Observer for Collect {
        fn batch_done(&mut self) {
            self.1 += 1;
        }
        fn member_epoch(&mut self, member: usize, r: &EpochRecord) -> Result<()> {
            self.0.push((member, r.clone()));
            Ok(())
        }
    }

    fn small(model: Cell, seed: u64) -> TrainConfig {
        TrainConfig {
            samples: 300,
            fit_rows: 250,
            seq_len: 8,
            units: 8,
            epochs: 3,
            model,
            init: InitScheme::Keras,
            seed,
            ..Default::default()
        }
    }

    /// Trains `configs` (one shape) as one network; returns the histories,
    /// what the observer saw, and the network.
    fn train(configs: &[TrainConfig]) -> (Vec<Vec<EpochRecord>>, Collect, Box<dyn Network>) {
        train_with(configs, Kernel::Auto, AdamLayout::Flat)
    }

    fn train_with(
        configs: &[TrainConfig],
        kernel: Kernel,
        layout: AdamLayout,
    ) -> (Vec<Vec<EpochRecord>>, Collect, Box<dyn Network>) {
        let splits: Vec<_> = configs
            .iter()
            .map(|c| {
                Dataset::for_config(c)
                    .unwrap()
                    .split(c, Device::Cpu)
                    .unwrap()
            })
            .collect();
        let data = PackData::stack(&splits.iter().collect::<Vec<_>>(), Device::Cpu).unwrap();
        let specs: Vec<_> = configs.iter().map(ModelSpec::for_config).collect();
        let weights = specs
            .iter()
            .zip(configs)
            .map(|(s, c)| draw_weights(s, c.seed))
            .collect();
        let net = kernel::build(&specs, weights, Device::Cpu, kernel).unwrap();
        let orders: Vec<_> = configs
            .iter()
            .map(|c| orders::batch_orders(c.seed, data.rows, c.epochs))
            .collect();
        let mut opt = Optimizer::new(net.var_store(), &configs[0], layout).unwrap();
        let mut seen = Collect::default();
        let start = TrainState::start(configs.len());
        let Fitted::Done(histories) = fit(
            &*net,
            &mut opt,
            &data,
            &orders,
            &configs[0],
            start,
            &mut seen,
        )
        .unwrap() else {
            panic!("nothing asks to stop")
        };
        let histories = histories.into_iter().map(Result::unwrap).collect();
        (histories, seen, net)
    }

    #[test]
    fn keeps_the_last_partial_batch_and_reports_every_epoch() {
        // 250 fit rows, val 0.2 -> 200 train rows -> 7 batches of 32 (6 full + 8 rows).
        let (histories, seen, _) = train(&[small(Cell::Gru, 1)]);
        assert_eq!(seen.1, 3 * 7);
        let epochs: Vec<i64> = histories[0].iter().map(|r| r.epoch).collect();
        assert_eq!(epochs, [0, 1, 2]);
        let reported: Vec<EpochRecord> = seen.0.into_iter().map(|(_, r)| r).collect();
        assert_eq!(reported, histories[0]);
        let each = |m: Metric| histories[0].iter().map(|r| r.value(m)).collect::<Vec<_>>();
        assert_eq!(each(Metric::Sequences), [200.0, 400.0, 600.0]);
        // One baseline (the constant answer's validation loss) divides every epoch's.
        let baseline = histories[0][0].val_loss() / histories[0][0].value(Metric::ValRelLoss);
        assert!(baseline > 0.0 && baseline.is_finite());
        for r in &histories[0] {
            let (mean, max) = (r.value(Metric::GradNorm), r.value(Metric::GradNormMax));
            assert!(mean > 0.0 && max >= mean, "{mean} {max}");
            let rel = r.value(Metric::ValRelLoss);
            assert!((rel * baseline / r.val_loss() - 1.0).abs() < 1e-12, "{rel}");
        }
    }

    #[test]
    fn same_seed_same_losses_other_seed_other_losses() {
        let losses = |h: &[EpochRecord]| {
            h.iter()
                .map(|r| (r.loss(), r.val_loss()))
                .collect::<Vec<_>>()
        };
        let (a, _, _) = train(&[small(Cell::Rnn, 1)]);
        let (b, _, _) = train(&[small(Cell::Rnn, 1)]);
        let (c, _, _) = train(&[small(Cell::Rnn, 2)]);
        assert_eq!(losses(&a[0]), losses(&b[0]));
        assert_ne!(losses(&a[0]), losses(&c[0]));
    }

    #[test]
    fn packed_members_follow_their_lone_runs() {
        let configs = [small(Cell::Gru, 1), small(Cell::Gru, 2)];
        let (packed, seen, _) = train(&configs);
        assert_eq!(seen.0.iter().filter(|(m, _)| *m == 1).count(), 3);
        for (config, member) in configs.iter().zip(&packed) {
            let (alone, _, _) = train(std::slice::from_ref(config));
            for (p, a) in member.iter().zip(&alone[0]) {
                assert!(
                    (p.loss() / a.loss() - 1.0).abs() < 1e-5,
                    "{} vs {}",
                    p.loss(),
                    a.loss()
                );
                assert!((p.val_loss() / a.val_loss() - 1.0).abs() < 1e-5);
            }
        }
    }

    /// One buffer or one tensor at a time, both Adams, every kernel, a
    /// pack and Keras's frozen bias: the same weights bit for bit.
    #[test]
    fn the_flat_adam_trains_bit_for_bit_as_the_per_tensor_one() {
        for adam in [AdamKind::Torch, AdamKind::Keras] {
            for (kernel, cells, members) in [
                (Kernel::Libtorch, vec![Cell::Lstm, Cell::Gru], 1),
                (Kernel::Handwritten, vec![Cell::Rnn, Cell::Gru], 1),
                (Kernel::Native, vec![Cell::Lstm, Cell::Irnn], 2),
                (Kernel::Composed, vec![Cell::Lstm], 3),
            ] {
                for cell in cells {
                    let configs: Vec<TrainConfig> = (0..members)
                        .map(|m| TrainConfig {
                            adam,
                            ..small(cell, 1 + m)
                        })
                        .collect();
                    let (a, _, net_a) = train_with(&configs, kernel, AdamLayout::Flat);
                    let (b, _, net_b) = train_with(&configs, kernel, AdamLayout::PerTensor);
                    let numbers = |h: &[Vec<EpochRecord>]| -> Vec<(f64, f64)> {
                        h.iter()
                            .flatten()
                            .map(|r| (r.loss(), r.val_loss()))
                            .collect()
                    };
                    assert_eq!(numbers(&a), numbers(&b), "{adam:?} {kernel:?} {cell}");
                    for (name, t) in net_a.var_store().variables() {
                        assert!(
                            t.equal(&net_b.var_store().variables()[&name]),
                            "{adam:?} {kernel:?} {cell}: {name}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn frozen_keras_bias_stays_zero_while_training() {
        let (_, _, net) = train(&[small(Cell::Lstm, 1)]);
        let v = net.var_store().variables();
        assert_eq!(v["rnn.bias_hh_l0"].abs().max().double_value(&[]), 0.0);
        let drawn = draw_weights(&ModelSpec::for_config(&small(Cell::Lstm, 1)), 1);
        assert!(
            !v["rnn.bias_ih_l0"].equal(&drawn[2].1),
            "the Keras bias must train"
        );
    }
}
