//! What the cells of Feng et al. 2024 ("Were RNNs All We Needed?") share:
//! a layer of one input projection, the positive g, and the log-space
//! parallel scan (section 3 and appendix B; BorealisAI/minRNNs
//! `associative_scan_log`) of the recurrence `h_t = a_t ⊙ h_{t-1} + b_t`
//! with `h_0 = 0` and positive `a`, `b` given as logarithms, over a whole
//! sequence in a handful of ops:
//!   a*_t = Σ_{s≤t} log a_s,  h_t = exp(a*_t + logcumsumexp_{s≤t}(log b_s − a*_s)).

use tch::{Kind, Tensor};

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

/// `h` over dimension `dim` of `log_a` and `log_b` (same shape). The
/// running sum a* grows with the sequence (about 0.7 a step at z = 0.5, up
/// to 10 with saturated gates), and log h is a difference of two such
/// sums: in float32 its error would grow to 1e-3 relative over 1000 steps.
/// The sums are taken in float64 (error below 1e-9 at any length this tool
/// runs), and h is returned in the inputs' kind.
pub fn log_space(log_a: &Tensor, log_b: &Tensor, dim: i64) -> Tensor {
    let kind = log_a.kind();
    let (log_a, log_b) = (log_a.to_kind(Kind::Double), log_b.to_kind(Kind::Double));
    let a_star = log_a.cumsum(dim, Kind::Double);
    (&a_star + (log_b - &a_star).logcumsumexp(dim))
        .exp()
        .to_kind(kind)
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
