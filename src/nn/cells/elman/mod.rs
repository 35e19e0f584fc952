//! The Elman RNN, PyTorch's `h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} +
//! b_hh)`: with f = tanh the SimpleRNN (Elman 1990; Keras SimpleRNN,
//! nn.RNN), with f = ReLU from an identity recurrent kernel the IRNN (Le
//! et al. 2015). libtorch's fused op is in `libtorch`, the backward by
//! hand in `handwritten`.

mod handwritten;
mod libtorch;
mod native;

use std::any::Any;

use tch::{nn, Device, Kind, Tensor};

use super::handwritten::{with_layer, OutputGrad};
use super::{
    collect, draw_pytorch_layer, keras_single_bias_trains, project, pytorch_layer, CellDef,
    FusedStack, HandWritten, Layer, LayerParam, Outputs,
};
use crate::config::{InitScheme, Kernel};

pub struct Elman {
    /// ReLU and the identity init (the IRNN) instead of tanh.
    relu: bool,
}

pub static RNN: Elman = Elman { relu: false };
pub static IRNN: Elman = Elman { relu: true };

/// Le et al.'s standard deviation of the IRNN's input and output weights.
const IRNN_STD: f64 = 0.001;

impl CellDef for Elman {
    fn about(&self) -> &'static str {
        if self.relu {
            "Elman RNN with ReLU from an identity recurrent kernel and zero biases (Le et al. 2015)"
        } else {
            "Elman RNN with tanh (Keras SimpleRNN, nn.RNN)"
        }
    }

    fn init_note(&self) -> &'static str {
        if self.relu {
            "Le et al. 2015 (3) under either scheme: identity recurrent kernel, zero biases, input kernel and head N(0, 0.001)"
        } else {
            "keras: glorot_uniform input kernel, orthogonal recurrent kernel, zero bias; torch: nn.RNN's U(+-1/sqrt(H))"
        }
    }

    fn layer(&self, input: i64, units: i64) -> Vec<LayerParam> {
        pytorch_layer(1, input, units)
    }

    fn trains(&self, leaf: &str, init: InitScheme) -> bool {
        keras_single_bias_trains(leaf, init)
    }

    /// The IRNN is its initialisation, under either scheme: Le et al. 2015
    /// (3): "the recurrent weight matrix initialized to the identity matrix
    /// and biases to zero", the other weights from a Gaussian of standard
    /// deviation 0.001.
    fn draw(&self, layer: &Layer, params: &[LayerParam]) -> Vec<Tensor> {
        if !self.relu {
            return draw_pytorch_layer(layer, params, false);
        }
        let cpu = (Kind::Float, Device::Cpu);
        params
            .iter()
            .map(|p| match p.leaf {
                "weight_ih" => Tensor::randn(p.shape.as_slice(), cpu) * IRNN_STD,
                "weight_hh" => Tensor::eye(layer.units, cpu),
                _ => Tensor::zeros(p.shape.as_slice(), cpu),
            })
            .collect()
    }

    fn draw_head(&self, outputs: i64, units: i64) -> Option<(Tensor, Tensor)> {
        let cpu = (Kind::Float, Device::Cpu);
        self.relu.then(|| {
            (
                Tensor::randn([outputs, units], cpu) * IRNN_STD,
                Tensor::zeros([outputs], cpu),
            )
        })
    }

    fn forward(&self, w: &[Tensor], x: &Tensor, every: bool) -> Outputs {
        let (w_ih, w_hh, b_ih, b_hh) = (&w[0], &w[1], &w[2], &w[3]);
        let s = x.size();
        // Both biases add before the nonlinearity: folded into the input side.
        let bias = b_ih + b_hh;
        // One view per step; unbind's backward is a single stack, where a
        // select per step would scatter into a full-size zero tensor per
        // step (quadratic in the sequence length).
        let gates_x = project(x, w_ih, &bias).unbind(2);
        let w_hh_t = w_hh.transpose(1, 2);
        let mut h = Tensor::zeros([s[0], s[1], w_hh.size()[1]], (x.kind(), x.device()));
        let mut outputs = Vec::new();
        for gx in &gates_x {
            let a = gx.baddbmm(&h, &w_hh_t, 1, 1);
            h = if self.relu { a.relu() } else { a.tanh() };
            if every {
                outputs.push(h.shallow_clone());
            }
        }
        collect(outputs, h, every)
    }

    fn libtorch(
        &self,
        path: &nn::Path,
        input: i64,
        units: i64,
        layers: i64,
    ) -> Option<Box<dyn FusedStack>> {
        Some(Box::new(libtorch::ElmanRnn::new(
            path, input, units, layers, self.relu,
        )))
    }

    fn handwritten(&self) -> Option<&dyn HandWritten> {
        Some(self)
    }

    /// The hand-written backward halves a lone run (scripts/bench.sh).
    fn native(&self) -> Option<&dyn HandWritten> {
        Some(if self.relu {
            &native::IRNN
        } else {
            &native::RNN
        })
    }

    fn lone_cpu_kernel(&self) -> Kernel {
        Kernel::Handwritten
    }

    fn published(&self) -> (Option<f64>, Option<f64>) {
        if self.relu {
            (None, None)
        } else {
            (None, Some(9.32))
        }
    }
}

impl HandWritten for Elman {
    fn forward(&self, w: &[Tensor], x: &Tensor) -> (Tensor, Box<dyn Any>) {
        let (h, tape) = with_layer(w, |lw| handwritten::forward(lw, x, self.relu));
        (h, Box::new(tape))
    }

    fn backward(
        &self,
        w: &[Tensor],
        tape: &dyn Any,
        d_out: &OutputGrad,
        input_grad: bool,
    ) -> (Vec<Tensor>, Option<Tensor>) {
        let tape = tape.downcast_ref().expect("an Elman tape");
        with_layer(w, |lw| handwritten::backward(lw, tape, d_out, input_grad)).into_parts()
    }
}
