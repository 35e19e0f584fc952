//! The LSTM's native kernel (PyTorch's gates i, f, g, o): a layer's whole
//! sequence forward and backward in one call each (see `nn::native` for
//! the layout). Per step forward one product `W_hh h` added to the step's
//! pre-activations, the gates in place, then c and h; per step backward
//! the gates' gradients and one product `W_hh^T dG`. The input projection
//! and every weight gradient are one product over all steps.

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
    /// Every step's output `[K, H, L, B]`, the gates after their
    /// nonlinearities `[K, 4H, L, B]`, the cell state and its tanh `[K, H, L, B]`.
    h: Tensor,
    gates: Tensor,
    c: Tensor,
    tc: Tensor,
}

/// Unit j's rows of a step in each quarter of a `[4H, cols]` matrix.
#[inline(always)]
fn rows4(
    m: &mut [f32],
    units: usize,
    j: usize,
    cols: usize,
    at: usize,
    b: usize,
) -> [&mut [f32]; 4] {
    let (first, rest) = m.split_at_mut((units + j) * cols + at);
    let (second, rest) = rest.split_at_mut(units * cols);
    let (third, fourth) = rest.split_at_mut(units * cols);
    [
        &mut first[j * cols + at..][..b],
        &mut second[..b],
        &mut third[..b],
        &mut fourth[..b],
    ]
}

/// Unit j's rows of a step in each quarter of a `[4H, cols]` matrix, read only.
#[inline(always)]
fn gate_rows(m: &[f32], units: usize, j: usize, cols: usize, at: usize, b: usize) -> [&[f32]; 4] {
    [
        row(m, j, cols, at, b),
        row(m, units + j, cols, at, b),
        row(m, 2 * units + j, cols, at, b),
        row(m, 3 * units + j, cols, at, b),
    ]
}

lanes! {
    /// One element of a step: the gates from their pre-activations, then
    /// `c = f c_prev + i g`, `tanh(c)` and `h = o tanh(c)`.
    fn cell_row(a_i, a_f, a_g, a_o, p => i, f, g, o, c, tc, h) {
        let (iv, fv) = (sigmoid(a_i), sigmoid(a_f));
        let (gv, ov) = (tanh(a_g), sigmoid(a_o));
        let c = fv * p + iv * gv;
        let tv = tanh(c);
        [iv, fv, gv, ov, c, tv, ov * tv]
    }
}

lanes! {
    /// One element's gate gradients from dh and the cell state's gradient
    /// dc, and the previous step's cell-state gradient.
    fn grads_row(i, f, g, o, p, tc, dh, dc => di, df, dg, do_, dc_prev) {
        let dct = dc + dh * o * (1.0 - tc * tc);
        [
            dct * g * (i * (1.0 - i)),
            dct * p * (f * (1.0 - f)),
            dct * i * (1.0 - g * g),
            dh * tc * (o * (1.0 - o)),
            dct * f,
        ]
    }
}

/// Step `at`: the gates from the pre-activations `pre` into `g` (both
/// `[4H, cols]`), the cell state, its tanh and the output.
#[allow(clippy::too_many_arguments)]
fn cell(
    pre: &[f32],
    g: &mut [f32],
    c: &mut [f32],
    tc: &mut [f32],
    hs: &mut [f32],
    units: usize,
    cols: usize,
    at: usize,
    b: usize,
) {
    let zero = vec![0f32; b];
    for j in 0..units {
        let [a_i, a_f, a_g, a_o] = gate_rows(pre, units, j, cols, at, b);
        let [i, f, gg, o] = rows4(g, units, j, cols, at, b);
        let (prev, cv): (&[f32], &mut [f32]) = if at == 0 {
            (&zero, row_mut(c, j, cols, at, b))
        } else {
            let (before, after) = c.split_at_mut(j * cols + at);
            (&before[j * cols + at - b..][..b], &mut after[..b])
        };
        let (t, h) = (row_mut(tc, j, cols, at, b), row_mut(hs, j, cols, at, b));
        cell_row(a_i, a_f, a_g, a_o, prev, i, f, gg, o, cv, t, h);
    }
}

/// Step `at`'s gate gradients into `dg` (`[4H, cols]`) from `dh` and the
/// cell state's gradient `dc` (`[H, B]`), the previous step's into `dc_prev`.
#[allow(clippy::too_many_arguments)]
fn cell_grads(
    dh: &[f32],
    dc: &[f32],
    dc_prev: &mut [f32],
    g: &[f32],
    c: &[f32],
    tc: &[f32],
    dg: &mut [f32],
    units: usize,
    cols: usize,
    at: usize,
    b: usize,
) {
    let zero = vec![0f32; b];
    for j in 0..units {
        let [i, f, gg, o] = gate_rows(g, units, j, cols, at, b);
        let prev: &[f32] = if at == 0 {
            &zero
        } else {
            row(c, j, cols, at - b, b)
        };
        let [di, df, dgg, do_] = rows4(dg, units, j, cols, at, b);
        grads_row(
            i,
            f,
            gg,
            o,
            prev,
            row(tc, j, cols, at, b),
            row(dh, j, b, 0, b),
            row(dc, j, b, 0, b),
            di,
            df,
            dgg,
            do_,
            row_mut(dc_prev, j, b, 0, b),
        );
    }
}

pub fn forward(w: &[Tensor], x: &Tensor) -> (Tensor, Box<dyn Any>) {
    let x = feature_major(x);
    let units = w[1].size()[2];
    let d = Dims::of(&x, units, 4 * units);
    let (h, c, tc, gates, pre) = (
        d.empty(d.units),
        d.empty(d.units),
        d.empty(d.units),
        d.empty(d.rows),
        d.empty(d.rows),
    );
    // Both biases add before the gates: folded into the input side.
    let bias = (&w[2] + &w[3]).contiguous();
    let (w_ih, w_hh) = (w[0].contiguous(), w[1].contiguous());
    let mem = Members::of;
    let (xm, gm, pm, hm, cm, tm) = (mem(&x), mem(&gates), mem(&pre), mem(&h), mem(&c), mem(&tc));
    let (wi, wh, bm) = (mem(&w_ih), mem(&w_hh), mem(&bias));
    let (cols, b) = (d.seq.cols(), d.seq.batch);
    for_members(d.k, |m| unsafe {
        let (g, pre, hs) = (gm.member(m), pm.member(m), hm.member(m));
        project(&d, wi.member(m), bm.member(m), xm.member(m), pre);
        let w_hh = wh.member(m);
        for t in 0..d.seq.steps {
            let at = d.seq.at(t);
            if t > 0 {
                recur(&d, w_hh, hs, at - b, 1.0, pre.as_mut_ptr().add(at), cols);
            }
            cell(pre, g, cm.member(m), tm.member(m), hs, d.units, cols, at, b);
        }
    });
    (
        time_major(&h),
        Box::new(Tape {
            d,
            x,
            h,
            gates,
            c,
            tc,
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
        gates,
        c,
        tc,
    } = tape.downcast_ref().expect("an LSTM native tape");
    let d = *d;
    let reaching = Reaching::of(d_out);
    let dg = d.empty(d.rows);
    let dx = input_grad.then(|| d.empty(d.input));
    let grads = grads_like(w);
    let (w_ih, w_hh) = (w[0].contiguous(), w[1].contiguous());
    let mem = Members::of;
    let (xm, hm, gm, cm, tm, dgm) = (mem(x), mem(h), mem(gates), mem(c), mem(tc), mem(&dg));
    let (wi, wh) = (mem(&w_ih), mem(&w_hh));
    let pm: Vec<Members> = grads.iter().map(mem).collect();
    let dxm = dx.as_ref().map(mem);
    let (cols, b) = (d.seq.cols(), d.seq.batch);
    for_members(d.k, |m| unsafe {
        let (hs, dg, w_hh) = (hm.member(m), dgm.member(m), wh.member(m));
        let (g, c, tc) = (gm.member(m), cm.member(m), tm.member(m));
        let mut dh = Scratch::zeros(d.units * b);
        let (mut dc, mut dc_prev) = (vec![0f32; d.units * b], vec![0f32; d.units * b]);
        reaching.at(&d, m, d.seq.steps - 1, &mut dh);
        for t in (0..d.seq.steps).rev() {
            let at = d.seq.at(t);
            cell_grads(&dh, &dc, &mut dc_prev, g, c, tc, dg, d.units, cols, at, b);
            std::mem::swap(&mut dc, &mut dc_prev);
            if t > 0 {
                reaching.at(&d, m, t - 1, &mut dh);
                recur_back(&d, w_hh, dg, at, &mut dh);
            }
        }
        pytorch_grads(&d, m, xm, wi, &pm, dxm, hs, dg, dg);
    });
    (grads, dx.map(|t| time_major(&t)))
}

/// The kernel as the network calls it.
pub static LSTM: NativeFns = NativeFns { forward, backward };
