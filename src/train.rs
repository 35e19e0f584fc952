//! The training loop (nn::Adam, per-epoch shuffled mini-batches, Keras's
//! loss bookkeeping) and the evaluation the blog does afterwards.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tch::{nn, Device, Kind, Reduction, Tensor};

use crate::config::TrainConfig;
use crate::data::Split;
use crate::model::Model;
use crate::records::EpochRecord;
use crate::seed::{rng_lock, seed_stream, Stream};

/// Rows per forward pass when evaluating (bounds memory on big sets).
/// The PyTorch reference evaluates in the same chunks.
pub const EVAL_CHUNK: i64 = 1024;

/// Hochreiter & Schmidhuber's threshold: a prediction within 0.04 of the
/// target counts as correct.
pub const CORRECT_WITHIN: f64 = 0.04;

/// What training reports after each epoch; an error stops training.
pub trait EpochObserver {
    fn batch_done(&mut self) {}
    fn epoch_done(&mut self, record: &EpochRecord) -> Result<()>;
}

/// Trains `model` on `split.train_*` for `config.epochs` epochs with Adam
/// (`config.lr`, betas 0.9/0.999, `config.adam_eps`), batch order drawn on
/// the CPU from the seed's shuffle stream (so it is the same on any device).
/// Stops with an error, after reporting the epoch, when a loss is not finite.
pub fn fit(
    vs: &nn::VarStore,
    model: &Model,
    split: &Split,
    config: &TrainConfig,
    observer: &mut dyn EpochObserver,
) -> Result<Vec<EpochRecord>> {
    let mut opt = crate::optim::Optimizer::new(vs, config)?;
    let device = vs.device();
    let rows = split.train_x.size()[0];
    let batch = config.batch_size;
    // Held for the whole training: each epoch's order continues the stream.
    let _rng = rng_lock();
    tch::manual_seed(seed_stream(config.seed, Stream::Shuffle));
    let mut history = Vec::new();
    for epoch in 0..config.epochs {
        let start = Instant::now();
        let order = Tensor::randperm(rows, (Kind::Int64, Device::Cpu)).to(device);
        // Summed on the device so a GPU is not synchronised every batch.
        let mut total = Tensor::zeros([], (Kind::Double, device));
        for first in (0..rows).step_by(batch as usize) {
            let len = batch.min(rows - first);
            let index = order.narrow(0, first, len);
            let x = split.train_x.index_select(0, &index);
            let y = split.train_y.index_select(0, &index);
            let loss = model.forward(&x).mse_loss(&y, Reduction::Mean);
            opt.backward_step(&loss);
            total += loss.detach().to_kind(Kind::Double) * len as f64;
            observer.batch_done();
        }
        let loss = total.double_value(&[]) / rows as f64;
        let train_seconds = start.elapsed().as_secs_f64();
        let val_loss = mse(&predict(model, &split.val_x)?, &split.val_y);
        let record = EpochRecord {
            epoch,
            loss,
            val_loss,
            seconds: start.elapsed().as_secs_f64(),
            train_seconds,
        };
        observer.epoch_done(&record)?;
        history.push(record);
        if !loss.is_finite() || !val_loss.is_finite() {
            bail!(
                "training diverged: loss {} and val_loss {} in epoch {}/{}; history.csv keeps every epoch up to it. Try a smaller --lr",
                loss,
                val_loss,
                epoch + 1,
                config.epochs
            );
        }
    }
    Ok(history)
}

/// Every epoch's batch order of a run (`[rows]` each, on the CPU): what
/// [`fit`] draws epoch by epoch from the seed's shuffle stream, drawn at
/// once (for packs, and for `--save-data`).
pub fn batch_orders(seed: u64, rows: i64, epochs: i64) -> Vec<Tensor> {
    let _rng = rng_lock();
    tch::manual_seed(seed_stream(seed, Stream::Shuffle));
    (0..epochs)
        .map(|_| Tensor::randperm(rows, (Kind::Int64, Device::Cpu)))
        .collect()
}

/// Predictions for `x` (`[rows, 1]`), without gradients, in chunks of
/// [`EVAL_CHUNK`] rows.
pub fn predict(model: &Model, x: &Tensor) -> Result<Tensor> {
    tch::no_grad(|| {
        let rows = x.size()[0];
        let chunks: Vec<Tensor> = (0..rows)
            .step_by(EVAL_CHUNK as usize)
            .map(|first| model.forward(&x.narrow(0, first, EVAL_CHUNK.min(rows - first))))
            .collect();
        Tensor::f_cat(&chunks, 0).context("joining prediction chunks")
    })
}

/// Mean squared error over all rows (Keras's `evaluate` for MSE).
pub fn mse(prediction: &Tensor, target: &Tensor) -> f64 {
    let rows = target.size()[0] as f64;
    (prediction - target)
        .pow_tensor_scalar(2)
        .sum(Kind::Float)
        .double_value(&[])
        / rows
}

/// The blog's final report on the test set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    pub test_mse: f64,
    /// Share of test rows with |prediction - target| <= 0.04, in percent.
    pub correctness: f64,
    pub failures: i64,
    pub rows: i64,
    /// Targets and predictions of every test row, on the CPU.
    #[serde(skip)]
    pub targets: Vec<f32>,
    #[serde(skip)]
    pub predictions: Vec<f32>,
}

/// Within the threshold; a NaN prediction is never correct.
fn is_correct(prediction: f32, target: f32) -> bool {
    (prediction - target).abs() as f64 <= CORRECT_WITHIN
}

/// Evaluates on the test rows as the blog does.
pub fn evaluate(model: &Model, x: &Tensor, y: &Tensor) -> Result<Evaluation> {
    score(&predict(model, x)?, y)
}

/// The blog's test report of `prediction` (`[rows, 1]`) against `y`.
pub fn score(prediction: &Tensor, y: &Tensor) -> Result<Evaluation> {
    let test_mse = mse(prediction, y);
    let predictions = Vec::<f32>::try_from(prediction.flatten(0, -1).to(Device::Cpu))?;
    let targets = Vec::<f32>::try_from(y.flatten(0, -1).to(Device::Cpu))?;
    let failures = predictions
        .iter()
        .zip(&targets)
        .filter(|(p, t)| !is_correct(**p, **t))
        .count() as i64;
    let rows = targets.len() as i64;
    let correctness = (rows - failures) as f64 / rows as f64 * 100.0;
    Ok(Evaluation {
        test_mse,
        correctness,
        failures,
        rows,
        targets,
        predictions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Cell, InitScheme};
    use crate::data::Dataset;
    use crate::model::{build, initialise, ModelSpec};

    struct Collect(Vec<EpochRecord>, usize);
    impl EpochObserver for Collect {
        fn batch_done(&mut self) {
            self.1 += 1;
        }
        fn epoch_done(&mut self, r: &EpochRecord) -> Result<()> {
            self.0.push(r.clone());
            Ok(())
        }
    }

    fn small(model: Cell) -> TrainConfig {
        TrainConfig {
            samples: 300,
            fit_rows: 250,
            seq_len: 8,
            units: 8,
            epochs: 3,
            model,
            init: InitScheme::Keras,
            ..Default::default()
        }
    }

    fn run(config: &TrainConfig) -> (Vec<EpochRecord>, usize) {
        let data = Dataset::for_config(config).unwrap();
        let split = data.split(config, Device::Cpu).unwrap();
        let spec = ModelSpec::for_config(config);
        let (vs, model) = build(spec, Device::Cpu);
        initialise(&vs, &spec, config.seed).unwrap();
        let mut c = Collect(vec![], 0);
        let h = fit(&vs, &model, &split, config, &mut c).unwrap();
        assert_eq!(h, c.0);
        (h, c.1)
    }

    #[test]
    fn keeps_the_last_partial_batch() {
        // 250 fit rows, val 0.2 -> 200 train rows -> 7 batches of 32 (6 full + 8 rows).
        let (history, batches) = run(&small(Cell::Gru));
        assert_eq!(history.len(), 3);
        assert_eq!(batches, 3 * 7);
        assert_eq!(
            history.iter().map(|r| r.epoch).collect::<Vec<_>>(),
            [0, 1, 2]
        );
    }

    #[test]
    fn same_seed_same_losses() {
        let (a, _) = run(&small(Cell::Rnn));
        let (b, _) = run(&small(Cell::Rnn));
        let losses = |h: &[EpochRecord]| h.iter().map(|r| (r.loss, r.val_loss)).collect::<Vec<_>>();
        assert_eq!(losses(&a), losses(&b));
        let (c, _) = run(&TrainConfig {
            seed: 2,
            ..small(Cell::Rnn)
        });
        assert_ne!(losses(&a), losses(&c));
    }

    #[test]
    fn frozen_keras_bias_stays_zero_while_training() {
        let config = small(Cell::Lstm);
        let data = Dataset::for_config(&config).unwrap();
        let split = data.split(&config, Device::Cpu).unwrap();
        let spec = ModelSpec::for_config(&config);
        let (vs, model) = build(spec, Device::Cpu);
        initialise(&vs, &spec, 1).unwrap();
        let before = vs.variables()["rnn.bias_ih_l0"].copy();
        fit(&vs, &model, &split, &config, &mut Collect(vec![], 0)).unwrap();
        let v = vs.variables();
        assert_eq!(v["rnn.bias_hh_l0"].abs().max().double_value(&[]), 0.0);
        assert!(
            !v["rnn.bias_ih_l0"].equal(&before),
            "the Keras bias must train"
        );
    }

    #[test]
    fn evaluation_counts_within_threshold() {
        let spec = ModelSpec {
            cell: Cell::Rnn,
            input_size: 2,
            units: 3,
            layers: 1,
            init: InitScheme::Keras,
        };
        let (vs, model) = build(spec, Device::Cpu);
        initialise(&vs, &spec, 1).unwrap();
        // Keras init: head bias 0 and zero input -> prediction exactly 0.
        let x = Tensor::zeros([4, 5, 2], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[0.0f32, 0.04, 0.05, -0.5]).view([4, 1]);
        let e = evaluate(&model, &x, &y).unwrap();
        assert_eq!(e.failures, 2);
        assert_eq!(e.correctness, 50.0);
        let expected = (0.04f32 * 0.04 + 0.05 * 0.05 + 0.25) as f64 / 4.0;
        assert!(
            (e.test_mse - expected).abs() < 1e-7,
            "{} vs {expected}",
            e.test_mse
        );
    }
}
