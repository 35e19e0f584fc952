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

#[cfg(test)]
use super::scan::g;
use super::scan::{log_g, log_space};
use super::{project, torch_linear, CellDef, Layer, LayerParam, Outputs};

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
}

/// A layer of one input projection: `weight_ih [parts * H, in]`, `bias_ih`.
pub(super) fn linear_layer(parts: i64, input: i64, units: i64) -> Vec<LayerParam> {
    vec![
        LayerParam {
            leaf: "weight_ih",
            shape: vec![parts * units, input],
        },
        LayerParam {
            leaf: "bias_ih",
            shape: vec![parts * units],
        },
    ]
}

/// A scan's `[K, B, L, H]` as a layer's outputs.
pub(super) fn scanned(h: Tensor, every: bool) -> Outputs {
    let steps = h.size()[2];
    Outputs {
        last: h.select(2, steps - 1),
        every: every.then_some(h),
    }
}
