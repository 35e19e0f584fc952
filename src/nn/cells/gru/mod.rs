//! The GRU (Cho et al. 2014) in PyTorch's and Keras's `reset_after` form,
//! gates r, z, n:
//!   r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(W_iz x + b_iz + W_hz h + b_hz)
//!   n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (1 − z) ⊙ n + z ⊙ h
//! Keras's GRU has both biases, like PyTorch. libtorch's fused op serves
//! one member on CUDA; the backward by hand is in `handwritten`.

mod handwritten;
mod native;

use std::any::Any;

use tch::nn;
use tch::Tensor;

use super::handwritten::{with_layer, OutputGrad};
use super::{
    collect, draw_pytorch_layer, project, pytorch_layer, stack_steps, zero_config, CellDef, Fused,
    FusedStack, HandWritten, Layer, LayerParam, Outputs,
};
use crate::config::Kernel;

pub struct Gru;

pub static GRU: Gru = Gru;

impl CellDef for Gru {
    fn about(&self) -> &'static str {
        "GRU (Cho et al. 2014; PyTorch's and Keras's reset_after form)"
    }

    fn init_note(&self) -> &'static str {
        "keras: glorot_uniform input kernel, orthogonal recurrent kernel, zero biases; torch: nn.GRU's U(+-1/sqrt(H))"
    }

    fn layer(&self, input: i64, units: i64) -> Vec<LayerParam> {
        pytorch_layer(3, input, units)
    }

    fn draw(&self, layer: &Layer, params: &[LayerParam]) -> Vec<Tensor> {
        draw_pytorch_layer(layer, params, false)
    }

    fn forward(&self, w: &[Tensor], x: &Tensor, every: bool) -> Outputs {
        let mut outputs = Vec::new();
        let h = steps(w, x, |q| {
            if every {
                outputs.push(q[0].1.shallow_clone());
            }
        });
        collect(outputs, h, every)
    }

    fn inside(&self, w: &[Tensor], x: &Tensor) -> Vec<(&'static str, Tensor)> {
        let mut seen: Vec<Vec<(&'static str, Tensor)>> = Vec::new();
        let _ = steps(w, x, |q| {
            seen.push(q.iter().map(|(n, t)| (*n, t.shallow_clone())).collect())
        });
        stack_steps(seen)
    }

    fn libtorch(
        &self,
        path: &nn::Path,
        input: i64,
        units: i64,
        layers: i64,
    ) -> Option<Box<dyn FusedStack>> {
        Some(Box::new(Fused(nn::gru(
            path,
            input,
            units,
            zero_config(layers),
        ))))
    }

    fn handwritten(&self) -> Option<&dyn HandWritten> {
        Some(self)
    }

    fn native(&self) -> Option<&dyn HandWritten> {
        Some(&native::GRU)
    }

    /// The hand-written backward halves a lone run (scripts/bench.sh).
    fn lone_cpu_kernel(&self) -> Kernel {
        Kernel::Handwritten
    }

    fn published(&self) -> (Option<f64>, Option<f64>) {
        (None, Some(98.86))
    }
}

impl HandWritten for Gru {
    fn forward(&self, w: &[Tensor], x: &Tensor) -> (Tensor, Box<dyn Any>) {
        let (h, tape) = with_layer(w, |lw| handwritten::forward(lw, x));
        (h, Box::new(tape))
    }

    fn backward(
        &self,
        w: &[Tensor],
        tape: &dyn Any,
        d_out: &OutputGrad,
        input_grad: bool,
    ) -> (Vec<Tensor>, Option<Tensor>) {
        let tape = tape.downcast_ref().expect("a GRU tape");
        with_layer(w, |lw| handwritten::backward(lw, tape, d_out, input_grad)).into_parts()
    }
}

/// The layer step by step (PyTorch's GRU: gates r, z and the candidate
/// n), `seen` given each step's `h` and gates; returns the last `h`.
fn steps(w: &[Tensor], x: &Tensor, mut seen: impl FnMut(&[(&'static str, &Tensor)])) -> Tensor {
    let (w_ih, w_hh, b_ih, b_hh) = (&w[0], &w[1], &w[2], &w[3]);
    let s = x.size();
    // The candidate multiplies r by (W_hn h + b_hn): b_hh stays apart.
    let gates_x = project(x, w_ih, b_ih).unbind(2);
    let (w_hh_t, b_hh) = (w_hh.transpose(1, 2), b_hh.unsqueeze(1));
    let mut h = Tensor::zeros([s[0], s[1], w_hh.size()[2]], (x.kind(), x.device()));
    for gx in &gates_x {
        let gh = b_hh.baddbmm(&h, &w_hh_t, 1, 1).chunk(3, 2);
        let gi = gx.chunk(3, 2);
        let r = (&gi[0] + &gh[0]).sigmoid();
        let z = (&gi[1] + &gh[1]).sigmoid();
        let n = (&gi[2] + &r * &gh[2]).tanh();
        // PyTorch: h' = (1 - z) * n + z * h
        h = (1.0 - &z) * &n + &z * &h;
        seen(&[
            ("h", &h),
            ("gate_r", &r),
            ("gate_z", &z),
            ("candidate_n", &n),
        ]);
    }
    h
}
