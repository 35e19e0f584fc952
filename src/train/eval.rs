//! Evaluation without gradients: every member's answers in chunks, and
//! one member's test report: its loss, its task's score and the chance
//! baseline beside it.

use anyhow::{Context, Result};
use tch::{Device, Kind, Tensor};

use super::batch::Stacked;
use super::loss::set_loss;
use crate::config::{Loss, Readout, Score, TaskShape};
use crate::nn::{Network, Read};
use crate::store::Evaluation;

/// Rows per forward pass when evaluating (bounds memory on big sets).
/// The PyTorch reference evaluates in the same chunks.
pub const EVAL_CHUNK: i64 = 1024;

/// Every member's answers on `set` where `readout` reads them, without
/// gradients, in chunks of [`EVAL_CHUNK`] rows.
pub fn predict(net: &dyn Network, set: &Stacked, readout: Readout) -> Result<Tensor> {
    tch::no_grad(|| {
        let rows = set.x.size()[1];
        let chunks: Vec<Tensor> = (0..rows)
            .step_by(EVAL_CHUNK as usize)
            .map(|first| {
                let len = EVAL_CHUNK.min(rows - first);
                let last_steps = set.last_steps.narrow(1, first, len);
                net.forward(
                    &set.x.narrow(1, first, len),
                    &Read::of(readout, &last_steps),
                )
            })
            .collect();
        Tensor::f_cat(&chunks, 1).context("joining prediction chunks")
    })
}

/// The test loss of learning nothing: the MSE of always predicting the
/// mean training target, or chance's cross-entropy (ln of the classes;
/// for a recall, the copied symbols' ln of their alphabet over all the
/// steps, blanks being certain: 10 ln 8 / (T + 20) for the copy task).
pub fn baseline(task: &TaskShape, train_y: &Tensor, test_y: &Tensor) -> f64 {
    match task.score {
        Score::Within => set_loss(
            Loss::Mse,
            &train_y.mean(Kind::Float).expand_as(test_y),
            test_y,
        ),
        Score::Class { classes } => (classes as f64).ln(),
        Score::Recall { copied, symbols } => {
            copied as f64 * (symbols as f64).ln() / test_y.size()[1] as f64
        }
    }
}

/// One member's test report: its answers `out` (`[rows, ...]`) against
/// `y`, scored as `task` scores.
pub fn evaluate(task: &TaskShape, out: &Tensor, y: &Tensor) -> Result<Evaluation> {
    let loss = set_loss(task.loss, out, y);
    let longs = |t: &Tensor| Vec::<i64>::try_from(t.flatten(0, -1).to(Device::Cpu));
    Ok(match task.score {
        Score::Within => {
            let floats = |t: &Tensor| Vec::<f32>::try_from(t.flatten(0, -1).to(Device::Cpu));
            Evaluation::of(loss, floats(out)?, floats(y)?)
        }
        Score::Class { .. } => Evaluation::classes(loss, longs(&out.argmax(-1, false))?, longs(y)?),
        Score::Recall { copied, .. } => {
            let steps = y.size()[1];
            let tail = |t: &Tensor| -> Result<Vec<Vec<i64>>> {
                let rows = longs(&t.narrow(1, steps - copied, copied))?;
                Ok(rows.chunks(copied as usize).map(<[i64]>::to_vec).collect())
            };
            Evaluation::recalls(loss, tail(&out.argmax(-1, false))?, tail(y)?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Task;
    use crate::nn::tasks::generate;

    /// Each chance baseline is the loss of the predictor that knows the
    /// task's structure but remembers nothing.
    #[test]
    fn baselines_are_the_losses_of_learning_nothing() {
        let (t, rows) = (30, 500);
        let copy = Task::Copy.shape();
        let d = generate(Task::Copy, rows, t, 1).unwrap();
        // Certain blanks until the answer, then the 8 symbols alike.
        let logits = Tensor::full([rows, t + 20, 9], -1e9, (Kind::Float, Device::Cpu));
        let _ = logits.narrow(1, 0, t + 10).narrow(2, 0, 1).fill_(0.0);
        let _ = logits.narrow(1, t + 10, 10).narrow(2, 1, 8).fill_(0.0);
        let memoryless = set_loss(Loss::CrossEntropy, &logits, &d.y);
        let chance = baseline(&copy, &d.y, &d.y);
        assert!(
            (memoryless / chance - 1.0).abs() < 1e-6,
            "{memoryless} vs {chance}"
        );
        assert!((chance - 10.0 * 8f64.ln() / 50.0).abs() < 1e-12);

        let order = Task::Order.shape();
        let d = generate(Task::Order, rows, t, 2).unwrap();
        let uniform = Tensor::zeros([rows, 4], (Kind::Float, Device::Cpu));
        let loss = set_loss(Loss::CrossEntropy, &uniform, &d.y);
        assert!((loss - baseline(&order, &d.y, &d.y)).abs() < 1e-6);

        // The constant mean's MSE: the targets' variance around the training mean.
        let d = generate(Task::HsAdd, 2 * rows, t, 3).unwrap();
        let (train, test) = (d.y.narrow(0, 0, rows), d.y.narrow(0, rows, rows));
        let mean = train.mean(Kind::Double).double_value(&[]);
        let expected = (&test - mean).square().mean(Kind::Double).double_value(&[]);
        let got = baseline(&Task::HsAdd.shape(), &train, &test);
        assert!((got / expected - 1.0).abs() < 1e-5, "{got} vs {expected}");
    }
}
