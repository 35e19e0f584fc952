//! The Elman RNN's native kernel: a layer's whole sequence forward and
//! backward in one call each (see `nn::native` for the layout). Forward,
//! per step, one product `W_hh h` into the step's pre-activations and f
//! over them in place; backward, per step, f' and one product `W_hh^T dA`.
//! The input projection and every gradient of a weight are one product
//! over all steps.

use std::any::Any;

use tch::Tensor;

use crate::lanes;
use crate::nn::cells::handwritten::OutputGrad;
use crate::nn::cells::native::{
    grads_like, project, pytorch_grads, recur, recur_back, Dims, NativeFns, Reaching,
};
use crate::nn::native::math::{relu, tanh};
use crate::nn::native::{feature_major, for_members, time_major, Members, Scratch};

pub struct Tape {
    d: Dims,
    /// The layer's input and every step's output, feature-major.
    x: Tensor,
    h: Tensor,
}

lanes! {
    fn tanh_row(a => h) { [tanh(a)] }
}

lanes! {
    fn relu_row(a => h) { [relu(a)] }
}

lanes! {
    /// tanh's gradient from its output.
    fn tanh_grad(g, y => d) { [g * (1.0 - y * y)] }
}

lanes! {
    /// ReLU's gradient from its output: through where it is positive.
    fn relu_grad(g, y => d) { [if y > 0.0 { g } else { 0.0 }] }
}

/// f over step `at`'s block of `pre` into `hs` (rows of `cols`).
fn activate(
    pre: &[f32],
    hs: &mut [f32],
    units: usize,
    cols: usize,
    at: usize,
    b: usize,
    is_relu: bool,
) {
    for j in 0..units {
        let (a, h) = (&pre[j * cols + at..][..b], &mut hs[j * cols + at..][..b]);
        if is_relu {
            relu_row(a, h)
        } else {
            tanh_row(a, h)
        }
    }
}

/// `dA = dh f'(a)` at step `at`, f' from the outputs h.
fn derivative(
    dh: &[f32],
    h: &[f32],
    da: &mut [f32],
    units: usize,
    cols: usize,
    at: usize,
    b: usize,
    is_relu: bool,
) {
    for j in 0..units {
        let (g, y) = (&dh[j * b..][..b], &h[j * cols + at..][..b]);
        let d = &mut da[j * cols + at..][..b];
        if is_relu {
            relu_grad(g, y, d)
        } else {
            tanh_grad(g, y, d)
        }
    }
}

pub fn forward(w: &[Tensor], x: &Tensor, is_relu: bool) -> (Tensor, Box<dyn Any>) {
    let x = feature_major(x);
    let units = w[1].size()[2];
    let d = Dims::of(&x, units, units);
    let (h, pre) = (d.empty(d.units), d.empty(d.units));
    // Both biases add before f: folded into the input side.
    let bias = (&w[2] + &w[3]).contiguous();
    let (w_ih, w_hh) = (w[0].contiguous(), w[1].contiguous());
    let (xm, hm, pm, wi, wh, bm) = (
        Members::of(&x),
        Members::of(&h),
        Members::of(&pre),
        Members::of(&w_ih),
        Members::of(&w_hh),
        Members::of(&bias),
    );
    let (cols, b) = (d.seq.cols(), d.seq.batch);
    for_members(d.k, |m| unsafe {
        let (hs, pre) = (hm.member(m), pm.member(m));
        project(&d, wi.member(m), bm.member(m), xm.member(m), pre);
        let w_hh = wh.member(m);
        for t in 0..d.seq.steps {
            let at = d.seq.at(t);
            if t > 0 {
                recur(&d, w_hh, hs, at - b, 1.0, pre.as_mut_ptr().add(at), cols);
            }
            activate(pre, hs, d.units, cols, at, b, is_relu);
        }
    });
    (time_major(&h), Box::new(Tape { d, x, h }))
}

pub fn backward(
    w: &[Tensor],
    tape: &dyn Any,
    d_out: &OutputGrad,
    input_grad: bool,
    is_relu: bool,
) -> (Vec<Tensor>, Option<Tensor>) {
    let Tape { d, x, h } = tape.downcast_ref().expect("an Elman native tape");
    let d = *d;
    let reaching = Reaching::of(d_out);
    let da = d.empty(d.rows);
    let dx = input_grad.then(|| d.empty(d.input));
    let grads = grads_like(w);
    let (w_ih, w_hh) = (w[0].contiguous(), w[1].contiguous());
    let mem = |t: &Tensor| Members::of(t);
    let (xm, hm, dam, wi, wh) = (mem(x), mem(h), mem(&da), mem(&w_ih), mem(&w_hh));
    let gm: Vec<Members> = grads.iter().map(mem).collect();
    let dxm = dx.as_ref().map(mem);
    let (cols, b) = (d.seq.cols(), d.seq.batch);
    for_members(d.k, |m| unsafe {
        let (hs, da, w_hh) = (hm.member(m), dam.member(m), wh.member(m));
        let mut dh = Scratch::zeros(d.units * b);
        reaching.at(&d, m, d.seq.steps - 1, &mut dh);
        for t in (0..d.seq.steps).rev() {
            let at = d.seq.at(t);
            derivative(&dh, hs, da, d.units, cols, at, b, is_relu);
            if t > 0 {
                reaching.at(&d, m, t - 1, &mut dh);
                recur_back(&d, w_hh, da, at, &mut dh);
            }
        }
        pytorch_grads(&d, m, xm, wi, &gm, dxm, hs, da, da);
    });
    (grads, dx.map(|t| time_major(&t)))
}

/// The kernels as the network calls them.
pub static RNN: NativeFns = NativeFns {
    forward: |w, x| forward(w, x, false),
    backward: |w, tape, d_out, input_grad| backward(w, tape, d_out, input_grad, false),
};

pub static IRNN: NativeFns = NativeFns {
    forward: |w, x| forward(w, x, true),
    backward: |w, tape, d_out, input_grad| backward(w, tape, d_out, input_grad, true),
};
