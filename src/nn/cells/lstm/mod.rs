//! The LSTM (Hochreiter & Schmidhuber 1997, with the forget gate of Gers
//! et al. 2000), PyTorch's gates i, f, g, o:
//!   (i, f, g, o) = (σ, σ, tanh, σ)(W_ih x + b_ih + W_hh h + b_hh)
//!   c' = f ⊙ c + i ⊙ g,  h' = o ⊙ tanh(c')
//! On one member libtorch's fused op (oneDNN on the CPU, cuDNN on CUDA) is
//! the fastest; packs compose it from batched matmuls.

mod native;

use tch::nn;
use tch::Tensor;

use super::{
    collect, draw_pytorch_layer, keras_single_bias_trains, project, pytorch_layer, stack_steps,
    zero_config, CellDef, Fused, FusedStack, HandWritten, Layer, LayerParam, Outputs,
};
use crate::config::{InitScheme, Kernel};

pub struct Lstm;

pub static LSTM: Lstm = Lstm;

impl CellDef for Lstm {
    fn about(&self) -> &'static str {
        "LSTM (Hochreiter & Schmidhuber 1997, with forget gate)"
    }

    fn init_note(&self) -> &'static str {
        "keras: glorot_uniform input kernel, orthogonal recurrent kernel, zero bias with the forget gate's at 1; torch: nn.LSTM's U(+-1/sqrt(H))"
    }

    fn layer(&self, input: i64, units: i64) -> Vec<LayerParam> {
        pytorch_layer(4, input, units)
    }

    fn trains(&self, leaf: &str, init: InitScheme) -> bool {
        keras_single_bias_trains(leaf, init)
    }

    fn draw(&self, layer: &Layer, params: &[LayerParam]) -> Vec<Tensor> {
        draw_pytorch_layer(layer, params, true)
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
        Some(Box::new(Fused(nn::lstm(
            path,
            input,
            units,
            zero_config(layers),
        ))))
    }

    fn native(&self) -> Option<&dyn HandWritten> {
        Some(&native::LSTM)
    }

    /// oneDNN's LSTM beats the composed ops on one member (scripts/bench.sh).
    fn lone_cpu_kernel(&self) -> Kernel {
        Kernel::Libtorch
    }

    fn published(&self) -> (Option<f64>, Option<f64>) {
        (Some(92.95), Some(94.77))
    }
}

/// The layer step by step (PyTorch's LSTM: gates i, f, g, o), `seen`
/// given each step's `h`, `c` and gates; returns the last `h`.
fn steps(w: &[Tensor], x: &Tensor, mut seen: impl FnMut(&[(&'static str, &Tensor)])) -> Tensor {
    let (w_ih, w_hh, b_ih, b_hh) = (&w[0], &w[1], &w[2], &w[3]);
    let s = x.size();
    let units = w_hh.size()[2];
    let gates_x = project(x, w_ih, &(b_ih + b_hh)).unbind(2);
    let w_hh_t = w_hh.transpose(1, 2);
    let zeros = || Tensor::zeros([s[0], s[1], units], (x.kind(), x.device()));
    let (mut h, mut c) = (zeros(), zeros());
    for gx in &gates_x {
        let gates = gx.baddbmm(&h, &w_hh_t, 1, 1).chunk(4, 2);
        let (i, f) = (gates[0].sigmoid(), gates[1].sigmoid());
        let (g, o) = (gates[2].tanh(), gates[3].sigmoid());
        c = &f * &c + &i * &g;
        h = &o * c.tanh();
        seen(&[
            ("h", &h),
            ("c", &c),
            ("gate_i", &i),
            ("gate_f", &f),
            ("gate_g", &g),
            ("gate_o", &o),
        ]);
    }
    h
}
