//! The GRU's forward and backward by hand (gates r, z, n; the reset applied after the
//! recurrent matmul, Keras's `reset_after=True`):
//!   r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(W_iz x + b_iz + W_hz h + b_hz)
//!   n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = n + z ⊙ (h − n)
//! forward and backward by hand. Backward's per-step factors that do not
//! depend on the incoming gradient are computed for all steps at once, so
//! a step is six ops.

use tch::{Kind, Tensor};

use crate::nn::cells::handwritten::{flat, weight_grads, LayerGrads, LayerWeights, OutputGrad};

pub struct Tape {
    x: Tensor,
    /// Every step's output `[K, L, B, H]`.
    h: Tensor,
    /// σ of the reset and update gates `[K, L, B, 2H]`.
    rz: Tensor,
    /// The candidate `[K, L, B, H]`.
    n: Tensor,
    /// The recurrent side `W_hh h + b_hh` `[K, L, B, 3H]` (of it the
    /// candidate's third, `W_hn h + b_hn`, is used).
    gh: Tensor,
}

pub fn forward(w: &LayerWeights, x: &Tensor) -> (Tensor, Tape) {
    let s = x.size();
    let (k, steps, batch) = (s[0], s[1], s[2]);
    let units = w.w_hh.size()[2];
    let gi = w
        .b_ih
        .unsqueeze(1)
        .baddbmm(&flat(x), &w.w_ih.transpose(1, 2), 1, 1)
        .view([k, steps, batch, 3 * units]);
    let state = |n: i64| Tensor::zeros([k, steps, batch, n], (Kind::Float, x.device()));
    let (h, rz, n, gh) = (
        state(units),
        state(2 * units),
        state(units),
        state(3 * units),
    );
    let w_hh_t = w.w_hh.transpose(1, 2);
    let zero = Tensor::zeros([k, batch, units], (Kind::Float, x.device()));
    let (h_s, rz_s, n_s, gh_s) = (h.unbind(1), rz.unbind(1), n.unbind(1), gh.unbind(1));
    for (t, gi_t) in gi.unbind(1).iter().enumerate() {
        let previous = if t == 0 { &zero } else { &h_s[t - 1] };
        let _ = w.b_hh.baddbmm_out(&gh_s[t], previous, &w_hh_t);
        let _ =
            (gi_t.narrow(2, 0, 2 * units) + gh_s[t].narrow(2, 0, 2 * units)).sigmoid_out(&rz_s[t]);
        let r = rz_s[t].narrow(2, 0, units);
        let z = rz_s[t].narrow(2, units, units);
        let _ = gi_t
            .narrow(2, 2 * units, units)
            .addcmul(&r, &gh_s[t].narrow(2, 2 * units, units))
            .tanh_out(&n_s[t]);
        // h' = n + z (h - n)
        let _ = n_s[t].addcmul_out(&h_s[t], &z, &(previous - &n_s[t]));
    }
    let tape = Tape {
        x: x.shallow_clone(),
        h: h.shallow_clone(),
        rz,
        n,
        gh,
    };
    (h, tape)
}

pub fn backward(w: &LayerWeights, tape: &Tape, d_out: &OutputGrad, input_grad: bool) -> LayerGrads {
    let steps = tape.h.size()[1];
    let units = tape.n.size()[3];
    // Contiguous copies: every step below reads and writes whole rows.
    let r = tape.rz.narrow(3, 0, units).contiguous();
    let z = tape.rz.narrow(3, units, units).contiguous();
    let previous = Tensor::cat(
        &[
            tape.h.zeros_like().narrow(1, 0, 1),
            tape.h.narrow(1, 0, steps - 1),
        ],
        1,
    );
    let one_minus = |t: &Tensor| t.g_mul_scalar(-1.0).g_add_scalar(1.0);
    // What multiplies the incoming gradient dh in each gate's pre-activation:
    // da_n = dh (1 - z)(1 - n²), da_z = dh (h_prev - n) z (1 - z),
    // da_r = da_n ghn r (1 - r); ghn's gradient is da_n r.
    let c_n: Tensor = one_minus(&z) * one_minus(&tape.n.square());
    let c_z: Tensor = (&previous - &tape.n) * &z * one_minus(&z);
    let c_r: Tensor = tape.gh.narrow(3, 2 * units, units) * &r * one_minus(&r);
    // dGH = [da_r, da_z, da_n r] (the recurrent matmul's output gradient).
    let (d_r, d_z, d_n, d_ghn) = (
        r.zeros_like(),
        r.zeros_like(),
        r.zeros_like(),
        r.zeros_like(),
    );
    let d_gh = tape.gh.zeros_like();
    let (r_s, z_s) = (r.unbind(1), z.unbind(1));
    let (cn_s, cz_s, cr_s) = (c_n.unbind(1), c_z.unbind(1), c_r.unbind(1));
    let (dr_s, dz_s, dn_s, dghn_s, dgh_s) = (
        d_r.unbind(1),
        d_z.unbind(1),
        d_n.unbind(1),
        d_ghn.unbind(1),
        d_gh.unbind(1),
    );
    let mut dh = d_out
        .at(steps - 1, steps)
        .expect("the last step has a gradient");
    for t in (0..steps as usize).rev() {
        let _ = dh.mul_out(&dn_s[t], &cn_s[t]);
        let _ = dh.mul_out(&dz_s[t], &cz_s[t]);
        let _ = dn_s[t].mul_out(&dr_s[t], &cr_s[t]);
        let _ = dn_s[t].mul_out(&dghn_s[t], &r_s[t]);
        if t > 0 {
            let _ = Tensor::cat_out(&dgh_s[t], &[&dr_s[t], &dz_s[t], &dghn_s[t]], 2);
            let through = match d_out.at(t as i64 - 1, steps) {
                Some(g) => g.addcmul(&dh, &z_s[t]),
                None => &dh * &z_s[t],
            };
            dh = through.baddbmm(&dgh_s[t], w.w_hh, 1, 1);
        }
    }
    // The first step's dGH only feeds b_hh's gradient (its h_prev is zero).
    let _ = Tensor::cat_out(&dgh_s[0], &[&dr_s[0], &dz_s[0], &dghn_s[0]], 2);
    // dGI = [da_r, da_z, da_n]: the input side's gradient.
    let d_gi = Tensor::cat(&[&d_r, &d_z, &d_n], 3);
    weight_grads(w, &tape.x, &tape.h, &d_gi, &d_gh, input_grad)
}
