//! What the cells of Feng et al. 2024 ("Were RNNs All We Needed?") share:
//! a layer of one input projection, the positive g, and the log-space
//! parallel scan (section 3 and appendix B; BorealisAI/minRNNs
//! `associative_scan_log`) of the recurrence `h_t = a_t ⊙ h_{t-1} + b_t`
//! with `h_0 = 0` and positive `a`, `b` given as logarithms, over a whole
//! sequence in a handful of ops:
//!   a*_t = Σ_{s≤t} log a_s,  h_t = exp(a*_t + logcumsumexp_{s≤t}(log b_s − a*_s)).

use tch::Tensor;

use super::{LayerParam, Outputs};

/// A layer of one input projection: `weight_ih [parts * H, in]`, `bias_ih`.
pub fn linear_layer(parts: i64, input: i64, units: i64) -> Vec<LayerParam> {
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
pub fn scanned(h: Tensor, every: bool) -> Outputs {
    let steps = h.size()[2];
    Outputs {
        last: h.select(2, steps - 1),
        every: every.then_some(h),
    }
}

/// `h` over dimension `dim` of `log_a` and `log_b` (same shape).
pub fn log_space(log_a: &Tensor, log_b: &Tensor, dim: i64) -> Tensor {
    let a_star = log_a.cumsum(dim, log_a.kind());
    (&a_star + (log_b - &a_star).logcumsumexp(dim)).exp()
}

/// The papers' g, which keeps the state positive: `x + 0.5` for x ≥ 0,
/// σ(x) below.
#[cfg(test)]
pub fn g(x: &Tensor) -> Tensor {
    (x.relu() + 0.5).where_self(&x.ge(0.0), &x.sigmoid())
}

/// log g(x), computed stably: `log(x + 0.5)` for x ≥ 0, `−softplus(−x)` below.
pub fn log_g(x: &Tensor) -> Tensor {
    (x.relu() + 0.5)
        .log()
        .where_self(&x.ge(0.0), &-(-x).softplus())
}
