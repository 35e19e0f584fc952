//! Evaluation without gradients: every member's predictions in chunks, the
//! MSE per member (Keras's `evaluate`), the constant-mean baseline, and
//! the blog's test report of one member.

use anyhow::{Context, Result};
use tch::{Device, Kind, Tensor};

use crate::nn::Network;
use crate::store::Evaluation;

/// Rows per forward pass when evaluating (bounds memory on big sets).
/// The PyTorch reference evaluates in the same chunks.
pub const EVAL_CHUNK: i64 = 1024;

/// Predictions `[K, rows, 1]` for `x` (`[K, rows, steps, features]`),
/// without gradients, in chunks of [`EVAL_CHUNK`] rows.
pub fn predict(net: &dyn Network, x: &Tensor) -> Result<Tensor> {
    tch::no_grad(|| {
        let rows = x.size()[1];
        let chunks: Vec<Tensor> = (0..rows)
            .step_by(EVAL_CHUNK as usize)
            .map(|first| net.forward(&x.narrow(1, first, EVAL_CHUNK.min(rows - first))))
            .collect();
        Tensor::f_cat(&chunks, 1).context("joining prediction chunks")
    })
}

/// Each member's [`mse`] over its rows (`[K, rows, 1]` both).
pub fn mse_per_member(prediction: &Tensor, target: &Tensor) -> Vec<f64> {
    (0..prediction.size()[0])
        .map(|k| mse(&prediction.get(k), &target.get(k)))
        .collect()
}

/// The mean squared error of one member's `prediction` against `target`
/// (same shape): the squares summed in float32, divided in float64.
pub fn mse(prediction: &Tensor, target: &Tensor) -> f64 {
    let rows = target.size()[0] as f64;
    (prediction - target)
        .pow_tensor_scalar(2)
        .sum(Kind::Float)
        .double_value(&[])
        / rows
}

/// Test MSE of always predicting the mean training target.
pub fn baseline_mse(train_y: &Tensor, test_y: &Tensor) -> f64 {
    mse(&train_y.mean(Kind::Float).expand_as(test_y), test_y)
}

/// The blog's test report of one member's `prediction` (`[rows, 1]`)
/// against `y`.
pub fn score(prediction: &Tensor, y: &Tensor) -> Result<Evaluation> {
    let test_mse = mse(prediction, y);
    let predictions = Vec::<f32>::try_from(prediction.flatten(0, -1).to(Device::Cpu))?;
    let targets = Vec::<f32>::try_from(y.flatten(0, -1).to(Device::Cpu))?;
    Ok(Evaluation::of(test_mse, predictions, targets))
}
