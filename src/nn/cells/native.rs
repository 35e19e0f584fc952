//! What the cells' native kernels share: a layer's large products over
//! all steps (the input projection, the weight gradients, the input's
//! gradient) and the gradient reaching a layer's outputs, feature-major
//! (see `nn::native`). Each cell's own file holds its step loops.

use std::any::Any;

use tch::{Kind, Tensor};

use super::handwritten::OutputGrad;
use super::HandWritten;
use crate::nn::native::blas::{gemm, Mat};
use crate::nn::native::{feature_major, for_members, time_major, Members, Scratch, Seq};
use crate::vectorised;

/// A layer's sizes: `k` members, `input` features in, `units` out, `rows`
/// pre-activation rows per member (gates x units), over `seq`.
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    pub k: usize,
    pub input: usize,
    pub units: usize,
    pub rows: usize,
    pub seq: Seq,
}

impl Dims {
    /// The sizes of a layer reading feature-major `x` (`[K, in, L, B]`)
    /// with `rows` pre-activation rows of which `units` are outputs.
    pub fn of(x: &Tensor, units: i64, rows: i64) -> Dims {
        let s = x.size();
        Dims {
            k: s[0] as usize,
            input: s[1] as usize,
            units: units as usize,
            rows: rows as usize,
            seq: Seq {
                steps: s[2] as usize,
                batch: s[3] as usize,
            },
        }
    }

    /// A new feature-major `[K, n, L, B]` tensor, uninitialised: the
    /// kernels write every element (zeroing them cost 5-10 % of a layer).
    pub fn empty(&self, n: usize) -> Tensor {
        let s = self.seq;
        Tensor::empty(
            [self.k as i64, n as i64, s.steps as i64, s.batch as i64],
            (Kind::Float, tch::Device::Cpu),
        )
    }
}

/// `b` floats of row `j` of a matrix of rows of `ld`, from column `at`:
/// a step's part of one unit's row.
#[inline(always)]
pub fn row(m: &[f32], j: usize, ld: usize, at: usize, b: usize) -> &[f32] {
    &m[j * ld + at..][..b]
}

/// `row`, writable.
#[inline(always)]
pub fn row_mut(m: &mut [f32], j: usize, ld: usize, at: usize, b: usize) -> &mut [f32] {
    &mut m[j * ld + at..][..b]
}

/// `out [rows, cols] = bias (per row) + W [rows, in] X [in, cols]`, the
/// input side of every step in one product.
///
/// # Safety
/// The slices hold the shapes `d` gives.
pub unsafe fn project(d: &Dims, w: &[f32], bias: &[f32], x: &[f32], out: &mut [f32]) {
    let cols = d.seq.cols();
    for (row, b) in out.chunks_exact_mut(cols).zip(bias) {
        row.fill(*b);
    }
    gemm(
        Mat::of(w, d.rows, d.input),
        Mat::of(x, d.input, cols),
        1.0,
        out.as_mut_ptr(),
        cols,
    );
}

/// `out [rows, B] (+)= W [rows, H] h` with `h` the step block of `hs`
/// (`[H, cols]`) at column `at`: the recurrent product of one step, into a
/// dense block (`out_ld = B`) or a step block of a `[rows, cols]` matrix
/// (`out_ld = cols`).
///
/// # Safety
/// `out` points at `rows` rows of `out_ld` floats, not overlapping `hs`.
pub unsafe fn recur(
    d: &Dims,
    w_hh: &[f32],
    hs: &[f32],
    at: usize,
    beta: f32,
    out: *mut f32,
    out_ld: usize,
) {
    let (cols, b) = (d.seq.cols(), d.seq.batch);
    gemm(
        Mat::of(w_hh, d.rows, d.units),
        Mat::cols_of(hs, d.units, cols, at, b),
        beta,
        out,
        out_ld,
    );
}

/// `dh [H, B] += W_hh^T [H, rows] dG`, `dG` the step block at column `at`
/// of `d_rec` (`[rows, cols]`): the gradient a step passes to the previous
/// step's outputs.
///
/// # Safety
/// `dh` does not overlap the others.
pub unsafe fn recur_back(d: &Dims, w_hh: &[f32], d_rec: &[f32], at: usize, dh: &mut [f32]) {
    let (cols, b) = (d.seq.cols(), d.seq.batch);
    gemm(
        Mat::of(w_hh, d.rows, d.units).tr(),
        Mat::cols_of(d_rec, d.rows, cols, at, b),
        1.0,
        dh.as_mut_ptr(),
        b,
    );
}

vectorised! {
    /// Each row's sum (`[rows, cols]` to `[rows]`), in f32 left to right:
    /// a bias's gradient over every step and row.
    pub fn row_sums(m: &[f32], cols: usize, out: &mut [f32]) {
        for (row, o) in m.chunks_exact(cols).zip(out.iter_mut()) {
            // Eight running sums, so the loop vectorises.
            let mut acc = [0f32; 8];
            let mut chunks = row.chunks_exact(8);
            for c in &mut chunks {
                for i in 0..8 {
                    acc[i] += c[i];
                }
            }
            let mut s = acc.iter().sum::<f32>();
            for v in chunks.remainder() {
                s += v;
            }
            *o = s;
        }
    }
}

/// The input side's gradients from `d_in` (`[rows, cols]`, the gradient
/// of `W_ih x + b_ih` at every step): `W_ih`'s, `b_ih`'s and, when asked,
/// the input's (`[in, cols]`).
///
/// # Safety
/// The slices hold the shapes `d` gives.
pub unsafe fn input_grads(
    d: &Dims,
    x: &[f32],
    w_ih: &[f32],
    d_in: &[f32],
    g_w_ih: &mut [f32],
    g_b_ih: &mut [f32],
    dx: Option<&mut [f32]>,
) {
    let cols = d.seq.cols();
    gemm(
        Mat::of(d_in, d.rows, cols),
        Mat::of(x, d.input, cols).tr(),
        0.0,
        g_w_ih.as_mut_ptr(),
        d.input,
    );
    row_sums(d_in, cols, g_b_ih);
    if let Some(dx) = dx {
        gemm(
            Mat::of(w_ih, d.rows, d.input).tr(),
            Mat::of(d_in, d.rows, cols),
            0.0,
            dx.as_mut_ptr(),
            cols,
        );
    }
}

/// The recurrent side's gradients from `d_rec` (`[rows, cols]`, the
/// gradient of `W_hh h + b_hh` at every step): `W_hh`'s (`[rows, H]`,
/// each step against the previous step's outputs, the first step's being
/// zero) and `b_hh`'s.
///
/// # Safety
/// The slices hold the shapes `d` gives.
pub unsafe fn recurrent_grads(
    d: &Dims,
    hs: &[f32],
    d_rec: &[f32],
    g_w_hh: &mut [f32],
    g_b_hh: &mut [f32],
) {
    let (cols, b) = (d.seq.cols(), d.seq.batch);
    if d.seq.steps > 1 {
        gemm(
            Mat::cols_of(d_rec, d.rows, cols, b, cols - b),
            Mat::cols_of(hs, d.units, cols, 0, cols - b).tr(),
            0.0,
            g_w_hh.as_mut_ptr(),
            d.units,
        );
    } else {
        g_w_hh.fill(0.0);
    }
    row_sums(d_rec, cols, g_b_hh);
}

/// The loss's gradient reaching a layer's outputs, feature-major: at the
/// last step only (`[K, H, B]`) or at every step (`[K, H, L, B]`).
pub struct Reaching {
    /// Kept alive for `mem`.
    _grad: Tensor,
    every: bool,
    mem: Members,
}

// Safety: the tensor is only kept alive here; its memory is read through
// `mem`, one member per thread.
unsafe impl Sync for Reaching {}

impl Reaching {
    pub fn of(d_out: &OutputGrad) -> Reaching {
        let (grad, every) = match d_out {
            OutputGrad::Last(g) => (g.permute([0, 2, 1]).contiguous(), false),
            OutputGrad::Every(g) => (feature_major(g), true),
        };
        let mem = Members::of(&grad);
        Reaching {
            _grad: grad,
            every,
            mem,
        }
    }

    /// Sets `dh` (`[H, B]`) to what reaches member `m`'s step t directly:
    /// zero at every step but the last when only the last step is read.
    ///
    /// # Safety
    /// Member `m`'s part is read by one thread at a time.
    pub unsafe fn at(&self, d: &Dims, m: usize, t: usize, dh: &mut [f32]) {
        let b = d.seq.batch;
        let g = self.mem.member(m);
        if self.every {
            let cols = d.seq.cols();
            for (j, row) in dh.chunks_exact_mut(b).enumerate() {
                row.copy_from_slice(&g[j * cols + t * b..][..b]);
            }
        } else if t + 1 == d.seq.steps {
            dh.copy_from_slice(&g[..d.units * b]);
        } else {
            dh.fill(0.0);
        }
    }
}

impl Reaching {
    /// Adds to `dh` (`[H, B]`) what reaches member `m`'s step t directly.
    ///
    /// # Safety
    /// As `at`.
    pub unsafe fn add(&self, d: &Dims, m: usize, t: usize, dh: &mut [f32]) {
        let b = d.seq.batch;
        let g = self.mem.member(m);
        let add = |dst: &mut [f32], src: &[f32]| dst.iter_mut().zip(src).for_each(|(a, s)| *a += s);
        if self.every {
            let cols = d.seq.cols();
            for (j, row) in dh.chunks_exact_mut(b).enumerate() {
                add(row, &g[j * cols + t * b..][..b]);
            }
        } else if t + 1 == d.seq.steps {
            add(dh, &g[..d.units * b]);
        }
    }
}

/// PyTorch's four weights' gradients (`weight_ih`, `weight_hh`,
/// `bias_ih`, `bias_hh`, in `grads`) and the input's for member `m`, from
/// the gradients of the input side `d_in` and the recurrent side `d_rec`.
///
/// # Safety
/// As `input_grads` and `recurrent_grads`; member `m` on one thread.
#[allow(clippy::too_many_arguments)]
pub unsafe fn pytorch_grads(
    d: &Dims,
    m: usize,
    x: Members,
    w_ih: Members,
    grads: &[Members],
    dx: Option<Members>,
    hs: &[f32],
    d_in: &[f32],
    d_rec: &[f32],
) {
    let g = |i: usize| grads[i].member(m);
    input_grads(
        d,
        x.member(m),
        w_ih.member(m),
        d_in,
        g(0),
        g(2),
        dx.map(|t| t.member(m)),
    );
    recurrent_grads(d, hs, d_rec, g(1), g(3));
}

/// A native kernel as the network calls it: a cell's forward and
/// backward functions.
pub struct NativeFns {
    pub forward: fn(&[Tensor], &Tensor) -> (Tensor, Box<dyn Any>),
    pub backward: fn(&[Tensor], &dyn Any, &OutputGrad, bool) -> (Vec<Tensor>, Option<Tensor>),
}

impl HandWritten for NativeFns {
    fn forward(&self, w: &[Tensor], x: &Tensor) -> (Tensor, Box<dyn Any>) {
        (self.forward)(w, x)
    }

    fn backward(
        &self,
        w: &[Tensor],
        tape: &dyn Any,
        d_out: &OutputGrad,
        input_grad: bool,
    ) -> (Vec<Tensor>, Option<Tensor>) {
        (self.backward)(w, tape, d_out, input_grad)
    }
}

/// Each member's gradients of a layer's parameters, as `[K, ...]` tensors
/// of the parameters' shapes, uninitialised (the kernels write them whole).
pub fn grads_like(w: &[Tensor]) -> Vec<Tensor> {
    w.iter()
        .map(|t| Tensor::empty(t.size(), (Kind::Float, tch::Device::Cpu)))
        .collect()
}

/// The backward loop over the steps of a recurrence that is elementwise
/// in h (IndRNN, the linear scans), from the last step to the first:
/// `row(o, dh, prev, next)` gets the step's gradient at one unit's row
/// (its block starts at `o` in the `[H, cols]` matrices), that row of the
/// previous output (zero at the first step), and writes into `next` what
/// passes back through the recurrence; what reaches the previous step
/// directly is added to it.
///
/// # Safety
/// Member `m`'s part of `reaching` is read by this thread only.
pub unsafe fn elementwise_backward(
    d: &Dims,
    m: usize,
    reaching: &Reaching,
    hs: &[f32],
    mut row: impl FnMut(usize, &[f32], &[f32], &mut [f32]),
) {
    let (cols, b) = (d.seq.cols(), d.seq.batch);
    let zero = vec![0f32; b];
    let mut dh = Scratch::zeros(d.units * b);
    let mut next = Scratch::zeros(d.units * b);
    reaching.at(d, m, d.seq.steps - 1, &mut dh);
    for t in (0..d.seq.steps).rev() {
        let at = d.seq.at(t);
        for j in 0..d.units {
            let o = j * cols + at;
            let prev: &[f32] = if t == 0 { &zero } else { &hs[o - b..][..b] };
            row(o, &dh[j * b..][..b], prev, &mut next[j * b..][..b]);
        }
        if t > 0 {
            reaching.add(d, m, t - 1, &mut next);
            std::mem::swap(&mut dh, &mut next);
        }
    }
}

/// A cell whose recurrence is `h' = a ⊙ h + b`, with a and b from its
/// input projection alone (minGRU, minLSTM): the native kernel computes a
/// and b for all steps at once, runs the recurrence step by step
/// (sequentially, in float32: what the papers' step mode computes, where
/// the composed kernel takes the log-space scan), and takes the gradients
/// of a and b back to the projection for all steps at once.
pub trait LinearScan: Sync {
    /// The projection's rows per unit (its parts: the candidate, then the gates).
    const PARTS: usize;
    /// a and b over `n` elements from one unit's row of each part.
    fn coefficients(&self, pre: &[&[f32]], a: &mut [f32], b: &mut [f32]);
    /// Each part's gradient from those of a and b.
    fn part_grads(&self, pre: &[&[f32]], da: &[f32], db: &[f32], d_pre: &mut [&mut [f32]]);
}

/// The papers' g (`v + 0.5` from 0 up, σ(v) below) and its slope, given
/// `sv = σ(v)`; the slope at exactly 0 is 0, as autograd takes it through
/// the composed kernel's `relu`.
#[inline(always)]
pub fn g_and_slope(v: f32, sv: f32) -> (f32, f32) {
    if v > 0.0 {
        (v + 0.5, 1.0)
    } else if v == 0.0 {
        (0.5, 0.0)
    } else {
        (sv, sv * (1.0 - sv))
    }
}

/// The native kernel of a `LinearScan` cell.
pub struct ScanNative<C: 'static>(pub &'static C);

/// What the scan's backward needs: the input, the projection, a and
/// every step's output, feature-major.
struct ScanTape {
    d: Dims,
    x: Tensor,
    pre: Tensor,
    a: Tensor,
    h: Tensor,
}

crate::lanes! {
    fn scan_row(a, p, b => h) {
        [a * p + b]
    }
}

crate::lanes! {
    /// One element's gradients of a and b from dh, and what it passes to
    /// the previous output.
    fn scan_back_row(g, a, p => da, db, next) {
        [g * p, g, a * g]
    }
}

/// The rows of unit j in each of `parts` blocks of `units` rows of `cols`.
fn part_rows(m: &[f32], parts: usize, units: usize, j: usize, cols: usize) -> Vec<&[f32]> {
    (0..parts)
        .map(|q| &m[(q * units + j) * cols..][..cols])
        .collect()
}

impl<C: LinearScan> HandWritten for ScanNative<C> {
    fn forward(&self, w: &[Tensor], x: &Tensor) -> (Tensor, Box<dyn Any>) {
        let x = feature_major(x);
        let parts = C::PARTS;
        let units = w[0].size()[1] / parts as i64;
        let d = Dims::of(&x, units, parts as i64 * units);
        let (pre, a, bb, h) = (
            d.empty(d.rows),
            d.empty(d.units),
            d.empty(d.units),
            d.empty(d.units),
        );
        let (w_ih, b_ih) = (w[0].contiguous(), w[1].contiguous());
        let mem = Members::of;
        let (xm, pm, am, bm, hm, wi, bi) = (
            mem(&x),
            mem(&pre),
            mem(&a),
            mem(&bb),
            mem(&h),
            mem(&w_ih),
            mem(&b_ih),
        );
        let (cols, b) = (d.seq.cols(), d.seq.batch);
        for_members(d.k, |m| unsafe {
            let (pre, a, bb, hs) = (pm.member(m), am.member(m), bm.member(m), hm.member(m));
            project(&d, wi.member(m), bi.member(m), xm.member(m), pre);
            for j in 0..d.units {
                let rows = part_rows(pre, parts, d.units, j, cols);
                self.0.coefficients(
                    &rows,
                    &mut a[j * cols..][..cols],
                    &mut bb[j * cols..][..cols],
                );
            }
            let zero = vec![0f32; b];
            for t in 0..d.seq.steps {
                let at = d.seq.at(t);
                for j in 0..d.units {
                    let o = j * cols + at;
                    let (before, after) = hs.split_at_mut(o);
                    let prev: &[f32] = if t == 0 { &zero } else { &before[o - b..][..b] };
                    scan_row(&a[o..][..b], prev, &bb[o..][..b], &mut after[..b]);
                }
            }
        });
        (time_major(&h), Box::new(ScanTape { d, x, pre, a, h }))
    }

    fn backward(
        &self,
        w: &[Tensor],
        tape: &dyn Any,
        d_out: &OutputGrad,
        input_grad: bool,
    ) -> (Vec<Tensor>, Option<Tensor>) {
        let ScanTape { d, x, pre, a, h } = tape.downcast_ref().expect("a scan native tape");
        let d = *d;
        let parts = C::PARTS;
        let reaching = Reaching::of(d_out);
        let (da, db, d_pre) = (d.empty(d.units), d.empty(d.units), d.empty(d.rows));
        let dx = input_grad.then(|| d.empty(d.input));
        let grads = grads_like(w);
        let w_ih = w[0].contiguous();
        let mem = Members::of;
        let (xm, pm, am, hm, wi) = (mem(x), mem(pre), mem(a), mem(h), mem(&w_ih));
        let (dam, dbm, dpm) = (mem(&da), mem(&db), mem(&d_pre));
        let gm: Vec<Members> = grads.iter().map(mem).collect();
        let dxm = dx.as_ref().map(mem);
        let (cols, b) = (d.seq.cols(), d.seq.batch);
        for_members(d.k, |m| unsafe {
            let (a, hs, da, db) = (am.member(m), hm.member(m), dam.member(m), dbm.member(m));
            elementwise_backward(&d, m, &reaching, hs, |o, dh, prev, next| {
                scan_back_row(
                    dh,
                    &a[o..][..b],
                    prev,
                    &mut da[o..][..b],
                    &mut db[o..][..b],
                    next,
                );
            });
            let (pre, d_pre) = (pm.member(m), dpm.member(m));
            for j in 0..d.units {
                let rows = part_rows(pre, parts, d.units, j, cols);
                // Unit j's row of each part of d_pre, split apart.
                let mut outs: Vec<&mut [f32]> = Vec::with_capacity(parts);
                let mut rest: &mut [f32] = &mut d_pre[j * cols..];
                for q in 0..parts {
                    let (row, tail) = std::mem::take(&mut rest).split_at_mut(cols);
                    outs.push(row);
                    if q + 1 < parts {
                        rest = &mut tail[(d.units - 1) * cols..];
                    }
                }
                self.0.part_grads(
                    &rows,
                    &da[j * cols..][..cols],
                    &db[j * cols..][..cols],
                    &mut outs,
                );
            }
            input_grads(
                &d,
                xm.member(m),
                wi.member(m),
                d_pre,
                gm[0].member(m),
                gm[1].member(m),
                dxm.map(|x| x.member(m)),
            );
        });
        (grads, dx.map(|t| time_major(&t)))
    }
}
