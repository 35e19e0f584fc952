//! minGRU (Feng et al. 2024, "Were RNNs All We Needed?", section 3.1;
//! reference code BorealisAI/minRNNs, `models/minRNNs.py`): the GRU with
//! its gates computed from the input alone, so the recurrence is linear in
//! h and trains with a parallel scan over the sequence:
//!   z = σ(W_z x + b_z),  h̃ = g(W_h x + b_h),  h' = (1 − z) ⊙ h + z ⊙ h̃
//! with g(v) = v + 0.5 for v ≥ 0 and σ(v) below. One layer is the paper's
//! `to_hidden_and_gate` (rows: the candidate, then the gate), expansion
//! factor 1, no output projection (the next layer's or the head's linear
//! map takes its place) and h_0 = 0. Init: nn.Linear's defaults (the
//! reference code's), under either scheme.

use tch::Tensor;

use super::native::g_and_slope;
use super::native::{LinearScan, ScanNative};
#[cfg(test)]
use super::scan::g;
use super::scan::{linear_layer, log_g, log_space, scanned};
use super::{project, torch_linear, CellDef, HandWritten, Layer, LayerParam, Outputs};
use crate::lanes;
use crate::nn::native::math::sigmoid;

pub struct MinGru;

pub static MINGRU: MinGru = MinGru;

impl MinGru {
    /// One step of the recurrence (`pre`: the layer's projection at that
    /// step, `[..., 2H]`), as the scan computes it over all steps.
    #[cfg(test)]
    pub fn step(pre: &Tensor, h: &Tensor) -> Tensor {
        let parts = pre.chunk(2, -1);
        let z = parts[1].sigmoid();
        (1.0 - &z) * h + z * g(&parts[0])
    }
}

impl CellDef for MinGru {
    fn about(&self) -> &'static str {
        "minGRU (Feng et al. 2024): GRU gates from the input only, trained with a parallel scan"
    }

    fn init_note(&self) -> &'static str {
        "nn.Linear's defaults (the paper's code) under either scheme"
    }

    fn layer(&self, input: i64, units: i64) -> Vec<LayerParam> {
        linear_layer(2, input, units)
    }

    fn draw(&self, _layer: &Layer, params: &[LayerParam]) -> Vec<Tensor> {
        let (w, b) = torch_linear(&params[0].shape, &params[1].shape);
        vec![w, b]
    }

    fn forward(&self, w: &[Tensor], x: &Tensor, every: bool) -> Outputs {
        let pre = project(x, &w[0], &w[1]);
        let parts = pre.chunk(2, 3);
        let (hidden, gate) = (&parts[0], &parts[1]);
        // log(1 - z) = -softplus(k), log z = -softplus(-k).
        let log_a = -gate.softplus();
        let log_b = -(-gate).softplus() + log_g(hidden);
        scanned(log_space(&log_a, &log_b, 2), every)
    }

    fn native(&self) -> Option<&dyn HandWritten> {
        Some(&NATIVE)
    }
}

static NATIVE: ScanNative<MinGru> = ScanNative(&MINGRU);

lanes! {
    /// a = 1 - z, b = z g(v), z = σ(k).
    fn coefficients(v, k => a, b) {
        let z = sigmoid(k);
        let g = if v >= 0.0 { v + 0.5 } else { sigmoid(v) };
        [1.0 - z, z * g]
    }
}

lanes! {
    /// The candidate's and the gate's pre-activation gradients from a's and b's.
    fn part_grads(v, k, da, db => dv, dk) {
        let z = sigmoid(k);
        let s = sigmoid(v);
        let (g, slope) = g_and_slope(v, s);
        [db * z * slope, (db * g - da) * (z * (1.0 - z))]
    }
}

impl LinearScan for MinGru {
    const PARTS: usize = 2;

    fn coefficients(&self, pre: &[&[f32]], a: &mut [f32], b: &mut [f32]) {
        coefficients(pre[0], pre[1], a, b);
    }

    fn part_grads(&self, pre: &[&[f32]], da: &[f32], db: &[f32], d_pre: &mut [&mut [f32]]) {
        let [dv, dk] = d_pre else {
            unreachable!("two parts")
        };
        part_grads(pre[0], pre[1], da, db, dv, dk);
    }
}

#[cfg(test)]
mod tests {
    use tch::{Device, Kind, Tensor};

    use super::super::tests::{assert_scan_equals_loop, member_layer, rand, relative, spec};
    use super::*;
    use crate::config::Cell;
    use crate::nn::init::draw_weights;

    #[test]
    fn the_scan_equals_the_step_loop() {
        assert_scan_equals_loop(Cell::Mingru, MinGru::step);
    }

    /// Over 1000 steps with saturated gates (log(1 - z) about -10 a step)
    /// the float32 scan stays within 1e-5 of the float64 step loop.
    #[test]
    fn the_scan_holds_over_a_thousand_saturated_steps() {
        let s = spec(Cell::Mingru, 3, 1);
        let w = member_layer(&s, 3, 0, Kind::Float);
        let _ = w[1].shallow_clone().narrow(1, 3, 3).fill_(10.0);
        let x = rand(&[1, 2, 1000, 2], 5, Kind::Float);
        let scanned = s.def().forward(&w, &x, true).every.unwrap();
        let wd: Vec<Tensor> = w.iter().map(|t| t.to_kind(Kind::Double)).collect();
        let pre = project(&x.to_kind(Kind::Double), &wd[0], &wd[1]);
        let mut h = Tensor::zeros([1, 2, 3], (Kind::Double, Device::Cpu));
        let mut steps = Vec::new();
        for t in 0..1000 {
            h = MinGru::step(&pre.select(2, t), &h);
            steps.push(h.shallow_clone());
        }
        let err = relative(&scanned.to_kind(Kind::Double), &Tensor::stack(&steps, 2));
        assert!(err < 1e-5, "scan and loop differ by {err}");
    }

    /// nn.Linear's U(+-1/sqrt(in)) for weight and bias.
    #[test]
    fn draws_nn_linears_defaults() {
        let w = draw_weights(&spec(Cell::Mingru, 30, 1), 3);
        for t in [&w[0].1, &w[1].1] {
            let m = t.abs().max().double_value(&[]);
            assert!(m <= 1.0 / 2f64.sqrt() && m > 0.6, "{m}");
        }
    }
}
