//! The GRU's native kernel (gates r, z, n; the reset applied after the
//! recurrent product, as in `handwritten`): a layer's whole sequence
//! forward and backward in one call each (see `nn::native` for the
//! layout). Per step forward one product `W_hh h + b_hh` into a dense
//! `[3H, B]` block and the gates over it; per step backward the gates'
//! gradients and one product `W_hh^T dGH`. The input projection and every
//! weight gradient are one product over all steps.

use std::any::Any;

use tch::Tensor;

use crate::lanes;
use crate::nn::cells::handwritten::OutputGrad;
use crate::nn::cells::native::{
    grads_like, project, pytorch_grads, recur, recur_back, row, row_mut, Dims, NativeFns, Reaching,
};
use crate::nn::native::math::{sigmoid, tanh};
use crate::nn::native::{feature_major, for_members, time_major, Members, Scratch};

pub struct Tape {
    d: Dims,
    x: Tensor,
    /// Every step's output, r, z, n and the candidate's recurrent side
    /// `W_hn h + b_hn`, each `[K, H, L, B]`.
    h: Tensor,
    r: Tensor,
    z: Tensor,
    n: Tensor,
    ghn: Tensor,
}

/// Unit j's rows of a step in each third of a `[3H, cols]` matrix.
#[inline(always)]
fn rows3(
    m: &mut [f32],
    units: usize,
    j: usize,
    cols: usize,
    at: usize,
    b: usize,
) -> (&mut [f32], &mut [f32], &mut [f32]) {
    let (first, rest) = m.split_at_mut((units + j) * cols + at);
    let (second, third) = rest.split_at_mut(units * cols);
    (
        &mut first[j * cols + at..][..b],
        &mut second[..b],
        &mut third[..b],
    )
}

lanes! {
    /// One element of a step: from the input side's and the recurrent
    /// side's pre-activations (r, z, n) and the previous output, the gates,
    /// the candidate's recurrent side (kept for backward) and the output.
    fn gates_row(a_r, a_z, a_n, h_r, h_z, h_n, p => r, z, n, ghn, h) {
        let rv = sigmoid(a_r + h_r);
        let zv = sigmoid(a_z + h_z);
        let nv = tanh(a_n + rv * h_n);
        [rv, zv, nv, h_n, nv + zv * (p - nv)]
    }
}

lanes! {
    /// One element's gate gradients from dh: `[da_r, da_z, da_n]` (input
    /// side), `[da_r, da_z, da_n r]` (recurrent side), and `dh z`, what
    /// passes to the previous output outside the recurrent product.
    fn grads_row(dh, r, z, n, ghn, p => ir, iz, in_, hr, hz, hn, next) {
        let da_n = dh * ((1.0 - z) * (1.0 - n * n));
        let da_z = dh * ((p - n) * z * (1.0 - z));
        let da_r = da_n * (ghn * r * (1.0 - r));
        [da_r, da_z, da_n, da_r, da_z, da_n * r, dh * z]
    }
}

/// The gates of step `at` from the input side `gi` (`[3H, cols]`) and
/// the recurrent side `gh` (`[3H, B]`, dense), the previous output in
/// `hs` at `at - b` (zero at the first step).
#[allow(clippy::too_many_arguments)]
fn gates(
    gi: &[f32],
    gh: &[f32],
    r: &mut [f32],
    z: &mut [f32],
    n: &mut [f32],
    ghn: &mut [f32],
    hs: &mut [f32],
    units: usize,
    cols: usize,
    at: usize,
    b: usize,
) {
    let zero = vec![0f32; b];
    for j in 0..units {
        let (prev, out): (&[f32], &mut [f32]) = if at == 0 {
            (&zero, row_mut(hs, j, cols, at, b))
        } else {
            let (before, after) = hs.split_at_mut(j * cols + at);
            (&before[j * cols + at - b..][..b], &mut after[..b])
        };
        gates_row(
            row(gi, j, cols, at, b),
            row(gi, units + j, cols, at, b),
            row(gi, 2 * units + j, cols, at, b),
            row(gh, j, b, 0, b),
            row(gh, units + j, b, 0, b),
            row(gh, 2 * units + j, b, 0, b),
            prev,
            row_mut(r, j, cols, at, b),
            row_mut(z, j, cols, at, b),
            row_mut(n, j, cols, at, b),
            row_mut(ghn, j, cols, at, b),
            out,
        );
    }
}

/// The gates' gradients at step `at` from `dh` (`[H, B]`) into `d_gi`,
/// `d_gh` and `next` (`[H, B]`, set to `dh z`).
#[allow(clippy::too_many_arguments)]
fn gate_grads(
    dh: &[f32],
    r: &[f32],
    z: &[f32],
    n: &[f32],
    ghn: &[f32],
    hs: &[f32],
    d_gi: &mut [f32],
    d_gh: &mut [f32],
    next: &mut [f32],
    units: usize,
    cols: usize,
    at: usize,
    b: usize,
) {
    let zero = vec![0f32; b];
    for j in 0..units {
        let prev: &[f32] = if at == 0 {
            &zero
        } else {
            row(hs, j, cols, at - b, b)
        };
        let (ir, iz, in_) = rows3(d_gi, units, j, cols, at, b);
        let (hr, hz, hn) = rows3(d_gh, units, j, cols, at, b);
        grads_row(
            row(dh, j, b, 0, b),
            row(r, j, cols, at, b),
            row(z, j, cols, at, b),
            row(n, j, cols, at, b),
            row(ghn, j, cols, at, b),
            prev,
            ir,
            iz,
            in_,
            hr,
            hz,
            hn,
            row_mut(next, j, b, 0, b),
        );
    }
}

pub fn forward(w: &[Tensor], x: &Tensor) -> (Tensor, Box<dyn Any>) {
    let x = feature_major(x);
    let units = w[1].size()[2];
    let d = Dims::of(&x, units, 3 * units);
    let (h, r, z, n, ghn) = (
        d.empty(d.units),
        d.empty(d.units),
        d.empty(d.units),
        d.empty(d.units),
        d.empty(d.units),
    );
    let gi = d.empty(d.rows);
    let (w_ih, w_hh, b_ih, b_hh) = (
        w[0].contiguous(),
        w[1].contiguous(),
        w[2].contiguous(),
        w[3].contiguous(),
    );
    let mem = Members::of;
    let (xm, gim, hm, rm, zm, nm, ghm) = (
        mem(&x),
        mem(&gi),
        mem(&h),
        mem(&r),
        mem(&z),
        mem(&n),
        mem(&ghn),
    );
    let (wi, wh, bi, bh) = (mem(&w_ih), mem(&w_hh), mem(&b_ih), mem(&b_hh));
    let b = d.seq.batch;
    for_members(d.k, |m| unsafe {
        let (gi, hs) = (gim.member(m), hm.member(m));
        project(&d, wi.member(m), bi.member(m), xm.member(m), gi);
        let (w_hh, b_hh) = (wh.member(m), bh.member(m));
        let mut gh = Scratch::zeros(d.rows * b);
        for t in 0..d.seq.steps {
            let at = d.seq.at(t);
            for (rw, bias) in gh.chunks_exact_mut(b).zip(b_hh.iter()) {
                rw.fill(*bias);
            }
            if t > 0 {
                recur(&d, w_hh, hs, at - b, 1.0, gh.as_mut_ptr(), b);
            }
            gates(
                gi,
                &gh,
                rm.member(m),
                zm.member(m),
                nm.member(m),
                ghm.member(m),
                hs,
                d.units,
                d.seq.cols(),
                at,
                b,
            );
        }
    });
    (
        time_major(&h),
        Box::new(Tape {
            d,
            x,
            h,
            r,
            z,
            n,
            ghn,
        }),
    )
}

pub fn backward(
    w: &[Tensor],
    tape: &dyn Any,
    d_out: &OutputGrad,
    input_grad: bool,
) -> (Vec<Tensor>, Option<Tensor>) {
    let Tape {
        d,
        x,
        h,
        r,
        z,
        n,
        ghn,
    } = tape.downcast_ref().expect("a GRU native tape");
    let d = *d;
    let reaching = Reaching::of(d_out);
    let (d_gi, d_gh) = (d.empty(d.rows), d.empty(d.rows));
    let dx = input_grad.then(|| d.empty(d.input));
    let grads = grads_like(w);
    let (w_ih, w_hh) = (w[0].contiguous(), w[1].contiguous());
    let mem = Members::of;
    let (xm, hm, rm, zm, nm, ghm) = (mem(x), mem(h), mem(r), mem(z), mem(n), mem(ghn));
    let (dim, dhm, wi, wh) = (mem(&d_gi), mem(&d_gh), mem(&w_ih), mem(&w_hh));
    let gm: Vec<Members> = grads.iter().map(mem).collect();
    let dxm = dx.as_ref().map(mem);
    let (cols, b) = (d.seq.cols(), d.seq.batch);
    for_members(d.k, |m| unsafe {
        let (hs, d_gi, d_gh, w_hh) = (hm.member(m), dim.member(m), dhm.member(m), wh.member(m));
        let (r, z, n, ghn) = (rm.member(m), zm.member(m), nm.member(m), ghm.member(m));
        let mut dh = Scratch::zeros(d.units * b);
        let mut next = Scratch::zeros(d.units * b);
        reaching.at(&d, m, d.seq.steps - 1, &mut dh);
        for t in (0..d.seq.steps).rev() {
            let at = d.seq.at(t);
            gate_grads(
                &dh, r, z, n, ghn, hs, d_gi, d_gh, &mut next, d.units, cols, at, b,
            );
            if t > 0 {
                reaching.add(&d, m, t - 1, &mut next);
                recur_back(&d, w_hh, d_gh, at, &mut next);
                std::mem::swap(&mut dh, &mut next);
            }
        }
        pytorch_grads(&d, m, xm, wi, &gm, dxm, hs, d_gi, d_gh);
    });
    (grads, dx.map(|t| time_major(&t)))
}

/// The kernel as the network calls it.
pub static GRU: NativeFns = NativeFns { forward, backward };
