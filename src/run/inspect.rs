//! `rnn-lab inspect RUN`: a trained run's model on the first test rows,
//! each layer's state at every step (and, for gated cells, the gates and
//! the cell state) as a long-format CSV, the inputs, markers, targets and
//! the model's answers alongside, so a heatmap shows where a cell holds
//! the two marked values, or loses them.

use std::path::PathBuf;

use anyhow::{bail, ensure, Context, Result};
use tch::{Device, Kind, Tensor};

use crate::config::{Readout, TrainConfig};
use crate::nn::cells;
use crate::nn::network::head;
use crate::nn::tasks::Dataset;
use crate::nn::weights::read_weights;
use crate::nn::ModelSpec;
use crate::store::{read_summary, write_atomic, SUMMARY, WEIGHTS};

/// Most test rows one inspection writes.
pub const MAX_ROWS: i64 = 64;

/// What to inspect and where the CSV goes.
pub struct Inspect {
    pub run: PathBuf,
    pub rows: i64,
    pub out: Option<PathBuf>,
}

/// The CSV's columns.
pub const COLUMNS: [&str; 10] = [
    "row",
    "step",
    "layer",
    "quantity",
    "unit",
    "value",
    "input",
    "marker",
    "target",
    "prediction",
];

/// Writes the inspection of `a.run`; returns the CSV's path and rows.
pub fn inspect(a: &Inspect) -> Result<(PathBuf, usize)> {
    ensure!(
        (1..=MAX_ROWS).contains(&a.rows),
        "--rows must be 1 to {MAX_ROWS}, got {}",
        a.rows
    );
    let summary_path = a.run.join(SUMMARY);
    if !summary_path.exists() {
        bail!(
            "{} holds no finished run (no {SUMMARY}); inspect a run folder that `rnn-lab train` finished",
            a.run.display()
        );
    }
    let summary = read_summary(&summary_path)?;
    let config = &summary.config;
    let spec = ModelSpec::for_config(config);
    let weights = read_weights(&spec, &a.run.join(WEIGHTS))?;
    let data = Dataset::for_config(config)?.split(config, Device::Cpu)?;
    let rows = a.rows.min(data.test.x.size()[0]);
    let x = data.test.x.narrow(0, 0, rows);
    let y = data.test.y.narrow(0, 0, rows);
    let last_steps = data.test.lengths.narrow(0, 0, rows) - 1;
    let text = tch::no_grad(|| csv_text(config, &spec, &weights, &x, &y, &last_steps))?;
    let out = a.out.clone().unwrap_or_else(|| a.run.join("inspect.csv"));
    write_atomic(&out, text.0.as_bytes())
        .with_context(|| format!("cannot write {}", out.display()))?;
    Ok((out, text.1))
}

/// The CSV of `weights` run on `x` (`[rows, steps, features]`), and its
/// row count.
fn csv_text(
    config: &TrainConfig,
    spec: &ModelSpec,
    weights: &[(String, Tensor)],
    x: &Tensor,
    y: &Tensor,
    last_steps: &Tensor,
) -> Result<(String, usize)> {
    let def = cells::def(config.model);
    let mut params = weights.iter().map(|(_, t)| t.unsqueeze(0));
    let mut input = x.unsqueeze(0);
    let mut layers = Vec::new();
    for index in 0..spec.layers {
        let layer = spec.layer(index);
        let n = def.layer(layer.input, layer.units).len();
        let w: Vec<Tensor> = params.by_ref().take(n).collect();
        ensure!(w.len() == n, "the weights file has too few tensors");
        let quantities = def.inside(&w, &input);
        input = quantities[0].1.shallow_clone();
        layers.push(quantities);
    }
    let (head_w, head_b) = match (params.next(), params.next()) {
        (Some(w), Some(b)) => (w, b),
        _ => bail!("the weights file has no head"),
    };
    let task = config.task.shape();
    // The model's answer where the task reads it (one value or class).
    let prediction: Option<Vec<String>> = match task.readout {
        Readout::EveryStep => None,
        readout => {
            let steps = last_steps.unsqueeze(0);
            let read = crate::nn::Read::of(readout, &steps);
            let out = head(&head_w, &head_b, &read.pick(&input)).squeeze_dim(0);
            Some(answer_texts(&out))
        }
    };
    let (rows, steps, features) = (x.size()[0], x.size()[1], x.size()[2]);
    let xs: Vec<f32> = Vec::try_from(x.to_kind(Kind::Float).flatten(0, -1))?;
    let targets = answer_texts(&y.reshape([rows, -1]).narrow(1, 0, 1).squeeze_dim(1));
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(COLUMNS)?;
    let mut count = 0;
    for (l, quantities) in layers.iter().enumerate() {
        for (name, t) in quantities {
            let t = t.squeeze_dim(0).to_kind(Kind::Float).contiguous(); // [rows, steps, units]
            let units = t.size()[2];
            let values: Vec<f32> = Vec::try_from(t.flatten(0, -1))?;
            for r in 0..rows {
                for s in 0..steps {
                    let at = ((r * steps + s) * features) as usize;
                    let (input, marker) = step_input(&xs[at..at + features as usize]);
                    let prediction = prediction.as_ref().map_or("", |p| p[r as usize].as_str());
                    for u in 0..units {
                        let v = values[((r * steps + s) * units + u) as usize];
                        w.write_record([
                            r.to_string(),
                            s.to_string(),
                            l.to_string(),
                            name.to_string(),
                            u.to_string(),
                            format!("{v}"),
                            input.clone(),
                            marker.clone(),
                            targets[r as usize].clone(),
                            prediction.to_owned(),
                        ])?;
                        count += 1;
                    }
                }
            }
        }
    }
    Ok((String::from_utf8(w.into_inner()?)?, count))
}

/// A step's input as the CSV shows it: the value and the marker of the
/// two-channel tasks (channels marker, value); for the others the symbol
/// (the hot channel of a one-hot step) and no marker.
fn step_input(x: &[f32]) -> (String, String) {
    match x {
        [marker, value] => (format!("{value}"), format!("{marker}")),
        _ => {
            let hot = x
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i);
            (hot.to_string(), String::new())
        }
    }
}

/// One answer per row as text: the value (`[rows]` or `[rows, 1]`
/// floats), or the class (integers, or the argmax of `[rows, classes]`).
fn answer_texts(t: &Tensor) -> Vec<String> {
    let t = match (t.kind(), t.dim()) {
        (Kind::Int64, _) => return longs(t),
        (_, 2) if t.size()[1] > 1 => return longs(&t.argmax(-1, false)),
        (_, 2) => t.squeeze_dim(1),
        _ => t.shallow_clone(),
    };
    Vec::<f32>::try_from(t.to_kind(Kind::Float).flatten(0, -1))
        .unwrap_or_default()
        .iter()
        .map(|v| format!("{v}"))
        .collect()
}

fn longs(t: &Tensor) -> Vec<String> {
    Vec::<i64>::try_from(t.flatten(0, -1))
        .unwrap_or_default()
        .iter()
        .map(i64::to_string)
        .collect()
}
