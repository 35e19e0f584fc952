//! IndRNN (Li et al. 2018, "Independently Recurrent Neural Network
//! (IndRNN): Building A Longer and Deeper RNN"; reference code
//! Sunnydreamrain/IndRNN_pytorch, `Indrnn_plainnet.py`, and the adding
//! problem of Sunnydreamrain/IndRNN_Theano_Lasagne): one recurrent
//! weight per unit, so each unit's memory is its own:
//!   h' = relu(W x + b + u ⊙ h)
//! The paper keeps every |u| at most MAG^(1/T) (MAG = 2, T the sequence's
//! steps: a unit's state may grow by at most MAG over the sequence), here
//! after every optimizer step (the reference code clips before each
//! forward: the same training, and the saved weights are clipped too).
//! Init, the adding-problem code's under either scheme: u ~ U(0,
//! MAG^(1/T)), the top layer's u ~ U(MAG^(-1/T), MAG^(1/T)) (close to 1,
//! so the last step remembers: the paper's choice for tasks read at the
//! last step), input weights N(0, 0.001), zero biases.

mod native;

use tch::{Device, Kind, Tensor};

use super::{collect, project, CellDef, HandWritten, Layer, LayerParam, Outputs};

pub struct IndRnn;

pub static INDRNN: IndRnn = IndRnn;

/// How much a unit's state may grow over the whole sequence.
const MAG: f64 = 2.0;
/// The input weights' standard deviation.
const INPUT_STD: f64 = 0.001;

/// The largest |u| for sequences of `steps`.
fn bound(steps: i64) -> f64 {
    MAG.powf(1.0 / steps as f64)
}

impl CellDef for IndRnn {
    fn about(&self) -> &'static str {
        "IndRNN (Li et al. 2018): ReLU units, one recurrent weight each, clipped to 2^(1/T)"
    }

    fn init_note(&self) -> &'static str {
        "the paper's adding-problem code under either scheme: u ~ U(0, 2^(1/T)), the top layer's U(2^(-1/T), 2^(1/T)); input weights N(0, 0.001); zero biases"
    }

    fn layer(&self, input: i64, units: i64) -> Vec<LayerParam> {
        vec![
            LayerParam {
                leaf: "weight_ih",
                shape: vec![units, input],
            },
            LayerParam {
                leaf: "weight_hh",
                shape: vec![units],
            },
            LayerParam {
                leaf: "bias_ih",
                shape: vec![units],
            },
        ]
    }

    fn draw(&self, layer: &Layer, params: &[LayerParam]) -> Vec<Tensor> {
        let high = bound(layer.steps);
        let low = if layer.index + 1 == layer.layers {
            1.0 / high
        } else {
            0.0
        };
        let cpu = (Kind::Float, Device::Cpu);
        vec![
            Tensor::randn(params[0].shape.as_slice(), cpu) * INPUT_STD,
            Tensor::empty(params[1].shape.as_slice(), cpu).uniform_(low, high),
            Tensor::zeros(params[2].shape.as_slice(), cpu),
        ]
    }

    fn forward(&self, w: &[Tensor], x: &Tensor, every: bool) -> Outputs {
        let s = x.size();
        let gates_x = project(x, &w[0], &w[2]).unbind(2);
        let u = w[1].unsqueeze(1);
        let mut h = Tensor::zeros([s[0], s[1], w[1].size()[1]], (x.kind(), x.device()));
        let mut outputs = Vec::new();
        for gx in &gates_x {
            h = (gx + &u * &h).relu();
            if every {
                outputs.push(h.shallow_clone());
            }
        }
        collect(outputs, h, every)
    }

    fn native(&self) -> Option<&dyn HandWritten> {
        Some(&native::INDRNN)
    }

    fn constrain(&self, layer: &Layer, w: &[Tensor]) {
        let b = bound(layer.steps);
        let _ = w[1].shallow_clone().clamp_(-b, b);
    }
}

#[cfg(test)]
mod tests {
    use tch::{Device, Kind, Tensor};

    use super::super::tests::{member_layer, rand, relative, spec};
    use crate::config::Cell;
    use crate::nn::init::draw_weights;
    use crate::nn::shape::ModelSpec;

    /// h' = relu(W x + b + u * h), written out.
    #[test]
    fn computes_the_papers_step() {
        let kind = Kind::Double;
        let x = rand(&[1, 2, 7, 2], 4, kind);
        let s = spec(Cell::Indrnn, 4, 1);
        let w = member_layer(&s, 2, 0, kind);
        let mut h = Tensor::zeros([2, 4], (kind, Device::Cpu));
        for t in 0..7 {
            let xt = x.get(0).select(1, t);
            h = (xt.matmul(&w[0].get(0).tr()) + w[2].get(0) + w[1].get(0) * &h).relu();
        }
        let out = s.def().forward(&w, &x, false).last;
        assert!(relative(&out.get(0), &h) < 1e-12);
    }

    /// u in [0, 2^(1/T)], the top layer's in [2^(-1/T), 2^(1/T)]; input
    /// weights N(0, 0.001); zero biases.
    #[test]
    fn draws_the_papers_init() {
        let s = ModelSpec {
            steps: 50,
            ..spec(Cell::Indrnn, 200, 2)
        };
        let w = draw_weights(&s, 3);
        let high = 2f64.powf(1.0 / 50.0);
        let (bottom, top) = (&w[1].1, &w[4].1);
        assert_eq!(
            (w[1].0.as_str(), w[4].0.as_str()),
            ("rnn.weight_hh_l0", "rnn.weight_hh_l1")
        );
        assert!(bottom.min().double_value(&[]) >= 0.0 && bottom.max().double_value(&[]) <= high);
        assert!(
            bottom.min().double_value(&[]) < 0.05,
            "the bottom layer reaches near 0"
        );
        assert!(top.min().double_value(&[]) >= 1.0 / high - 1e-7);
        assert!(top.max().double_value(&[]) <= high + 1e-7);
        let std = w[0].1.std(true).double_value(&[]);
        assert!((std / 0.001 - 1.0).abs() < 0.15, "input weights' std {std}");
        assert_eq!(w[2].1.abs().max().double_value(&[]), 0.0);
    }

    #[test]
    fn clips_its_recurrent_weights() {
        let s = ModelSpec {
            steps: 10,
            ..spec(Cell::Indrnn, 4, 1)
        };
        let w: Vec<Tensor> = member_layer(&s, 1, 0, Kind::Float);
        let _ = w[1].shallow_clone().fill_(3.0);
        let _ = w[1].narrow(1, 0, 1).fill_(-3.0);
        s.def().constrain(&s.layer(0), &w);
        let b = 2f64.powf(0.1);
        assert!((w[1].max().double_value(&[]) - b).abs() < 1e-6);
        assert!((w[1].min().double_value(&[]) + b).abs() < 1e-6);
    }
}
