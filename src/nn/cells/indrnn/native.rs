//! IndRNN's native kernel: a layer's whole sequence forward and backward
//! in one call each (see `nn::native` for the layout). The recurrence is
//! elementwise (`h' = relu(W x + b + u ⊙ h)`), so a step is one
//! vectorised loop each way; the input projection and the input side's
//! gradients are one product over all steps, u's gradient one sum.

use std::any::Any;

use tch::Tensor;

use crate::lanes;
use crate::nn::cells::handwritten::OutputGrad;
use crate::nn::cells::native::{
    elementwise_backward, grads_like, input_grads, project, row_sums, Dims, NativeFns, Reaching,
};
use crate::nn::native::math::relu;
use crate::nn::native::{feature_major, for_members, time_major, Members};

pub struct Tape {
    d: Dims,
    /// The layer's input and every step's output, feature-major.
    x: Tensor,
    h: Tensor,
}

lanes! {
    fn step_row(a, u, p => h) {
        [relu(a + u * p)]
    }
}

lanes! {
    /// One element's pre-activation gradient (ReLU's, from the output),
    /// its part of u's gradient, and what it passes to the previous output.
    fn back_row(g, y, u, p => d, du, next) {
        let d = if y > 0.0 { g } else { 0.0 };
        [d, d * p, u * d]
    }
}

/// Each unit's recurrent weight repeated over a step's `b` rows: `[H, B]`.
fn spread(u: &[f32], b: usize) -> Vec<f32> {
    u.iter().flat_map(|&v| std::iter::repeat_n(v, b)).collect()
}

pub fn forward(w: &[Tensor], x: &Tensor) -> (Tensor, Box<dyn Any>) {
    let x = feature_major(x);
    let units = w[1].size()[1];
    let d = Dims::of(&x, units, units);
    let (h, pre) = (d.empty(d.units), d.empty(d.units));
    let (w_ih, u, b_ih) = (w[0].contiguous(), w[1].contiguous(), w[2].contiguous());
    let mem = Members::of;
    let (xm, hm, pm, wi, um, bm) = (mem(&x), mem(&h), mem(&pre), mem(&w_ih), mem(&u), mem(&b_ih));
    let (cols, b) = (d.seq.cols(), d.seq.batch);
    for_members(d.k, |m| unsafe {
        let (hs, pre) = (hm.member(m), pm.member(m));
        project(&d, wi.member(m), bm.member(m), xm.member(m), pre);
        let u = spread(um.member(m), b);
        let zero = vec![0f32; b];
        for t in 0..d.seq.steps {
            let at = d.seq.at(t);
            for j in 0..d.units {
                let o = j * cols + at;
                let (before, after) = hs.split_at_mut(o);
                let prev: &[f32] = if t == 0 { &zero } else { &before[o - b..] };
                step_row(
                    &pre[o..][..b],
                    &u[j * b..][..b],
                    &prev[..b],
                    &mut after[..b],
                );
            }
        }
    });
    (time_major(&h), Box::new(Tape { d, x, h }))
}

pub fn backward(
    w: &[Tensor],
    tape: &dyn Any,
    d_out: &OutputGrad,
    input_grad: bool,
) -> (Vec<Tensor>, Option<Tensor>) {
    let Tape { d, x, h } = tape.downcast_ref().expect("an IndRNN native tape");
    let d = *d;
    let reaching = Reaching::of(d_out);
    let (da, du_parts) = (d.empty(d.units), d.empty(d.units));
    let dx = input_grad.then(|| d.empty(d.input));
    let grads = grads_like(w);
    let (w_ih, u) = (w[0].contiguous(), w[1].contiguous());
    let mem = Members::of;
    let (xm, hm, dam, dum, wi, um) = (
        mem(x),
        mem(h),
        mem(&da),
        mem(&du_parts),
        mem(&w_ih),
        mem(&u),
    );
    let gm: Vec<Members> = grads.iter().map(mem).collect();
    let dxm = dx.as_ref().map(mem);
    let (cols, b) = (d.seq.cols(), d.seq.batch);
    for_members(d.k, |m| unsafe {
        let (hs, da, du) = (hm.member(m), dam.member(m), dum.member(m));
        let u = spread(um.member(m), b);
        elementwise_backward(&d, m, &reaching, hs, |o, dh, prev, next| {
            let j = o / cols;
            back_row(
                dh,
                &hs[o..][..b],
                &u[j * b..][..b],
                prev,
                &mut da[o..][..b],
                &mut du[o..][..b],
                next,
            );
        });
        input_grads(
            &d,
            xm.member(m),
            wi.member(m),
            da,
            gm[0].member(m),
            gm[2].member(m),
            dxm.map(|x| x.member(m)),
        );
        row_sums(du, cols, gm[1].member(m));
    });
    (grads, dx.map(|t| time_major(&t)))
}

/// The kernel as the network calls it.
pub static INDRNN: NativeFns = NativeFns { forward, backward };
