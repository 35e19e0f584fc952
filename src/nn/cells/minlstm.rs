//! minLSTM (Feng et al. 2024, "Were RNNs All We Needed?", section 3.2;
//! reference code BorealisAI/minRNNs, `models/minRNNs.py` with
//! `use_coeff_norm`): the LSTM with its gates from the input alone and
//! normalised to sum to one, trained with a parallel scan:
//!   f = σ(W_f x + b_f), i = σ(W_i x + b_i), h̃ = g(W_h x + b_h)
//!   h' = f / (f + i) ⊙ h + i / (f + i) ⊙ h̃
//! One layer is the paper's `to_hidden_and_gate` (rows: the candidate,
//! the forget gate, the input gate), expansion factor 1, no output
//! projection, no forget-bias offset, h_0 = 0. Init: nn.Linear's defaults
//! (the reference code's), under either scheme.

use tch::Tensor;

use super::native::g_and_slope;
use super::native::{LinearScan, ScanNative};
#[cfg(test)]
use super::scan::g;
use super::scan::{linear_layer, log_g, log_space, scanned};
use super::{project, torch_linear, CellDef, HandWritten, Layer, LayerParam, Outputs};
use crate::lanes;
use crate::nn::native::math::sigmoid;

pub struct MinLstm;

pub static MINLSTM: MinLstm = MinLstm;

impl MinLstm {
    /// One step of the recurrence (`pre`: the layer's projection at that
    /// step, `[..., 3H]`), as the scan computes it over all steps.
    #[cfg(test)]
    pub fn step(pre: &Tensor, h: &Tensor) -> Tensor {
        let parts = pre.chunk(3, -1);
        let (f, i) = (parts[1].sigmoid(), parts[2].sigmoid());
        let norm = &f + &i;
        f / &norm * h + i / &norm * g(&parts[0])
    }
}

impl CellDef for MinLstm {
    fn about(&self) -> &'static str {
        "minLSTM (Feng et al. 2024): LSTM gates from the input only, normalised, trained with a parallel scan"
    }

    fn init_note(&self) -> &'static str {
        "nn.Linear's defaults (the paper's code) under either scheme"
    }

    fn layer(&self, input: i64, units: i64) -> Vec<LayerParam> {
        linear_layer(3, input, units)
    }

    fn draw(&self, _layer: &Layer, params: &[LayerParam]) -> Vec<Tensor> {
        let (w, b) = torch_linear(&params[0].shape, &params[1].shape);
        vec![w, b]
    }

    fn forward(&self, w: &[Tensor], x: &Tensor, every: bool) -> Outputs {
        let pre = project(x, &w[0], &w[1]);
        let parts = pre.chunk(3, 3);
        // log f/(f+i) = -softplus(d), log i/(f+i) = -softplus(-d), with
        // d = softplus(-f) - softplus(-i) (the reference code's).
        let diff = (-&parts[1]).softplus() - (-&parts[2]).softplus();
        let log_a = -diff.softplus();
        let log_b = -(-&diff).softplus() + log_g(&parts[0]);
        scanned(log_space(&log_a, &log_b, 2), every)
    }

    fn native(&self) -> Option<&dyn HandWritten> {
        Some(&NATIVE)
    }
}

static NATIVE: ScanNative<MinLstm> = ScanNative(&MINLSTM);

lanes! {
    /// a = f / (f + i), b = i / (f + i) g(v).
    fn coefficients(v, kf, ki => a, b) {
        let (f, i) = (sigmoid(kf), sigmoid(ki));
        let s = f + i;
        let g = if v >= 0.0 { v + 0.5 } else { sigmoid(v) };
        [f / s, i / s * g]
    }
}

lanes! {
    /// The candidate's and the gates' pre-activation gradients from a's and b's.
    fn part_grads(v, kf, ki, da, db => dv, dkf, dki) {
        let (f, i) = (sigmoid(kf), sigmoid(ki));
        let s = f + i;
        let sv = sigmoid(v);
        let (g, slope) = g_and_slope(v, sv);
        // d/dw of b = w g is g: then through w = i / s and a = f / s.
        let dw = db * g;
        // (i / s)(f / s), not i f / s², which underflows with both gates
        // far below zero.
        let (a, w) = (f / s, i / s);
        [
            db * w * slope,
            (da - dw) * w * a * (1.0 - f),
            (dw - da) * a * w * (1.0 - i),
        ]
    }
}

impl LinearScan for MinLstm {
    const PARTS: usize = 3;

    fn coefficients(&self, pre: &[&[f32]], a: &mut [f32], b: &mut [f32]) {
        coefficients(pre[0], pre[1], pre[2], a, b);
    }

    fn part_grads(&self, pre: &[&[f32]], da: &[f32], db: &[f32], d_pre: &mut [&mut [f32]]) {
        let [dv, dkf, dki] = d_pre else {
            unreachable!("three parts")
        };
        part_grads(pre[0], pre[1], pre[2], da, db, dv, dkf, dki);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::assert_scan_equals_loop;
    use super::*;
    use crate::config::Cell;

    #[test]
    fn the_scan_equals_the_step_loop() {
        assert_scan_equals_loop(Cell::Minlstm, MinLstm::step);
    }

    /// With both gates far below zero (f + i about 1e-26, whose square
    /// underflows float32) the native kernel's gate gradients stay finite
    /// and equal the float64 formula's.
    #[test]
    fn the_native_gate_gradients_survive_saturated_gates() {
        let (v, kf, ki, da, db) = ([0.3f32], [-60f32], [-61f32], [0.2f32], [0.1f32]);
        let (mut dv, mut dkf, mut dki) = ([0f32], [0f32], [0f32]);
        part_grads(&v, &kf, &ki, &da, &db, &mut dv, &mut dkf, &mut dki);
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        let (f, i) = (sig(-60.0), sig(-61.0));
        let s = f + i;
        let dw = 0.1 * 0.8;
        let want_f = (0.2 - dw) * i / (s * s) * f * (1.0 - f);
        let want_i = (dw - 0.2) * f / (s * s) * i * (1.0 - i);
        for (got, want) in [(dkf[0], want_f), (dki[0], want_i)] {
            assert!(got.is_finite(), "{got}");
            assert!(
                (got as f64 - want).abs() <= 1e-6 * want.abs().max(1e-30),
                "{got} vs {want}"
            );
        }
    }
}
