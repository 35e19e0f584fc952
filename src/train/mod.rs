//! The one training loop, for K >= 1 members at once (K = 1 is a lone run):
//! per-epoch shuffled mini-batches, one forward, backward and Adam step for
//! every member per batch, Keras's loss bookkeeping, the validation loss
//! after each epoch, and a failure mask: a member whose loss is not finite
//! (or whose history cannot be written) stops, the others go on.

pub mod batch;
pub mod eval;
pub mod loss;
pub mod orders;

use std::time::Instant;

use anyhow::{anyhow, Result};
use tch::{Device, Kind, Tensor};

use crate::config::{TaskShape, TrainConfig};
use crate::nn::optim::Optimizer;
use crate::nn::{Network, Read};
use crate::store::EpochRecord;
use batch::{PackData, Stacked};
use eval::predict;
use loss::{batch_losses, clip_grad_norms, member_losses};

/// What the loop reports while it trains: history files, the console and
/// the progress bar are all fed from here.
pub trait Observer {
    fn batch_done(&mut self) {}
    /// Member `member` finished `record`'s epoch; an error ends that member
    /// (what it reported before stays).
    fn member_epoch(&mut self, member: usize, record: &EpochRecord) -> Result<()>;
    /// The epoch is done: each member's record (None for members that had
    /// already stopped), and how many members train on.
    fn epoch_done(&mut self, _records: &[Option<EpochRecord>], _training: usize) {}
}

/// Trains the members of `net` on `data` for `config.epochs` epochs (the
/// settings every member shares), epoch `e` of member `k` in the order
/// `orders[k][e]`. Returns each member's history, or why it stopped.
pub fn fit(
    net: &dyn Network,
    opt: &mut Optimizer,
    data: &PackData,
    orders: &[Vec<Tensor>],
    config: &TrainConfig,
    observer: &mut dyn Observer,
) -> Result<Vec<Result<Vec<EpochRecord>>>> {
    let k = net.members() as usize;
    let task = config.task.shape();
    let mut histories: Vec<Vec<EpochRecord>> = vec![Vec::new(); k];
    let mut stopped: Vec<Option<anyhow::Error>> = (0..k).map(|_| None).collect();
    for epoch in 0..config.epochs {
        let start = Instant::now();
        let index = data.epoch_index(
            &orders
                .iter()
                .map(|o| &o[epoch as usize])
                .collect::<Vec<_>>(),
        );
        let losses = train_epoch(net, opt, data, &index, config, observer)?;
        let train_seconds = start.elapsed().as_secs_f64();
        let val = &data.val;
        let val_losses = member_losses(task.loss, &predict(net, val, task.readout)?, &val.y);
        let seconds = start.elapsed().as_secs_f64();
        let mut records = vec![None; k];
        for m in 0..k {
            if stopped[m].is_some() {
                continue;
            }
            let record = EpochRecord {
                epoch,
                loss: losses[m],
                val_loss: val_losses[m],
                seconds,
                train_seconds,
            };
            if let Err(e) = observer.member_epoch(m, &record) {
                stopped[m] = Some(e);
                continue;
            }
            if !record.loss.is_finite() || !record.val_loss.is_finite() {
                stopped[m] = Some(diverged(&record, config.epochs));
            }
            histories[m].push(record.clone());
            records[m] = Some(record);
        }
        let training = stopped.iter().filter(|s| s.is_none()).count();
        observer.epoch_done(&records, training);
        if training == 0 {
            break;
        }
    }
    Ok(histories
        .into_iter()
        .zip(stopped)
        .map(|(h, s)| match s {
            Some(e) => Err(e),
            None => Ok(h),
        })
        .collect())
}

/// One pass over the training rows in `index`'s order: a forward,
/// backward and (clipped) Adam step a batch. Returns each member's loss,
/// the batches' weighted by their rows (Keras's bookkeeping).
fn train_epoch(
    net: &dyn Network,
    opt: &mut Optimizer,
    data: &PackData,
    index: &Tensor,
    config: &TrainConfig,
    observer: &mut dyn Observer,
) -> Result<Vec<f64>> {
    let (rows, batch) = (data.rows, config.batch_size);
    let mut step = Stepper::new(net, config);
    // Summed on the device so a GPU is not synchronised every batch.
    let mut total = Tensor::zeros([net.members()], (Kind::Double, data.train_x.device()));
    for first in (0..rows).step_by(batch as usize) {
        let len = batch.min(rows - first);
        let losses = step.step(opt, &data.batch(index, first, len));
        total += losses.to_kind(Kind::Double) * len as f64;
        observer.batch_done();
    }
    Ok(Vec::<f64>::try_from((total / rows as f64).to(Device::Cpu))?)
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
    /// member's loss on it, `[K]`, detached.
    pub fn step(&mut self, opt: &mut Optimizer, b: &Stacked) -> Tensor {
        let out = self
            .net
            .forward(&b.x, &Read::of(self.task.readout, &b.last_steps));
        let losses = batch_losses(self.task.loss, &out, &b.y);
        opt.backward_step(|| {
            self.net.backward(&losses.sum(Kind::Float));
            if let Some(max_norm) = self.clip_norm {
                clip_grad_norms(&self.vars, self.net.members(), max_norm);
            }
        });
        self.net.constrain();
        losses.detach()
    }
}

/// The one divergence message; the epoch is counted as the console does.
fn diverged(record: &EpochRecord, epochs: i64) -> anyhow::Error {
    anyhow!(
        "training diverged: loss {} and val_loss {} in epoch {}/{}; history.csv keeps every epoch up to it. Try a smaller --lr",
        record.loss,
        record.val_loss,
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
        let histories = fit(&*net, &mut opt, &data, &orders, &configs[0], &mut seen).unwrap();
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
    }

    #[test]
    fn same_seed_same_losses_other_seed_other_losses() {
        let losses = |h: &[EpochRecord]| h.iter().map(|r| (r.loss, r.val_loss)).collect::<Vec<_>>();
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
                    (p.loss / a.loss - 1.0).abs() < 1e-5,
                    "{} vs {}",
                    p.loss,
                    a.loss
                );
                assert!((p.val_loss / a.val_loss - 1.0).abs() < 1e-5);
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
                        h.iter().flatten().map(|r| (r.loss, r.val_loss)).collect()
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
