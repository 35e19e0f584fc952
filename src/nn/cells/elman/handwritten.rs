//! The Elman RNN, PyTorch's `h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} +
//! b_hh)` with f = tanh (the SimpleRNN) or ReLU (the IRNN), forward and
//! backward by hand: two ops a step each way (an in-place `baddbmm` and
//! `f`; f's backward from its output, and a `bmm`).

use tch::Tensor;

use crate::nn::cells::handwritten::{flat, weight_grads, LayerGrads, LayerWeights, OutputGrad};

pub struct Tape {
    relu: bool,
    /// The layer's input `[K, L, B, in]`.
    x: Tensor,
    /// Every step's output `[K, L, B, H]`.
    h: Tensor,
}

pub fn forward(w: &LayerWeights, x: &Tensor, relu: bool) -> (Tensor, Tape) {
    let s = x.size();
    let (k, steps, batch) = (s[0], s[1], s[2]);
    // Both biases add before the nonlinearity: folded into the input side.
    let bias = w.b_ih.unsqueeze(1) + w.b_hh;
    let h = bias
        .baddbmm(&flat(x), &w.w_ih.transpose(1, 2), 1, 1)
        .view([k, steps, batch, -1]);
    let w_hh_t = w.w_hh.transpose(1, 2);
    let mut previous: Option<Tensor> = None;
    for mut step in h.unbind(1) {
        if let Some(p) = &previous {
            let _ = step.baddbmm_(p, &w_hh_t);
        }
        let _ = if relu { step.relu_() } else { step.tanh_() };
        previous = Some(step);
    }
    (
        h.shallow_clone(),
        Tape {
            relu,
            x: x.shallow_clone(),
            h,
        },
    )
}

pub fn backward(w: &LayerWeights, tape: &Tape, d_out: &OutputGrad, input_grad: bool) -> LayerGrads {
    let steps = tape.h.size()[1];
    let d_a = tape.h.zeros_like();
    let d_steps = d_a.unbind(1);
    let h_steps = tape.h.unbind(1);
    let mut dh = d_out
        .at(steps - 1, steps)
        .expect("the last step has a gradient");
    for t in (0..steps).rev() {
        let ti = t as usize;
        let _ = if tape.relu {
            // ReLU's gradient from its output: through where h > 0.
            h_steps[ti].threshold_backward_grad_input(&d_steps[ti], &dh, 0.0)
        } else {
            Tensor::tanh_backward_grad_input(&d_steps[ti], &dh, &h_steps[ti])
        };
        if t > 0 {
            dh = match d_out.at(t - 1, steps) {
                Some(g) => g.baddbmm(&d_steps[ti], w.w_hh, 1, 1),
                None => d_steps[ti].bmm(w.w_hh),
            };
        }
    }
    weight_grads(w, &tape.x, &tape.h, &d_a, &d_a, input_grad)
}
