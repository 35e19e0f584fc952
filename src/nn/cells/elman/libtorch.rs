//! libtorch's Elman RNN (tanh, or ReLU for the IRNN) as tch builds its
//! LSTM and GRU: weights named `weight_ih_l0`..., flattened for cuDNN on
//! CUDA, run through the fused `rnn_tanh` or `rnn_relu` op.

use tch::nn::{self, RNN};
use tch::{Device, Kind, Tensor};

use crate::nn::cells::FusedStack;

/// libtorch's Elman RNN, built the way tch builds its LSTM and GRU.
#[derive(Debug)]
pub struct ElmanRnn {
    /// ReLU (the IRNN) instead of tanh.
    relu: bool,
    flat_weights: Vec<Tensor>,
    hidden: i64,
    layers: i64,
    device: Device,
}

/// Hidden state of the Elman RNN, `[layers, batch, hidden]`.
#[derive(Debug)]
pub struct ElmanState(pub Tensor);

/// cuDNN's mode numbers, as in PyTorch's `get_cudnn_mode`.
const CUDNN_RNN_RELU: i64 = 0;
const CUDNN_RNN_TANH: i64 = 1;

impl ElmanRnn {
    pub fn new(vs: &nn::Path, input: i64, hidden: i64, layers: i64, relu: bool) -> ElmanRnn {
        let mut flat_weights = Vec::new();
        for layer in 0..layers {
            let in_dim = if layer == 0 { input } else { hidden };
            let zero = nn::Init::Const(0.0);
            flat_weights.push(vs.var(&format!("weight_ih_l{layer}"), &[hidden, in_dim], zero));
            flat_weights.push(vs.var(&format!("weight_hh_l{layer}"), &[hidden, hidden], zero));
            flat_weights.push(vs.var(&format!("bias_ih_l{layer}"), &[hidden], zero));
            flat_weights.push(vs.var(&format!("bias_hh_l{layer}"), &[hidden], zero));
        }
        if vs.device().is_cuda() && tch::Cuda::cudnn_is_available() {
            let _ = Tensor::internal_cudnn_rnn_flatten_weight(
                &flat_weights,
                4,
                input,
                if relu { CUDNN_RNN_RELU } else { CUDNN_RNN_TANH },
                hidden,
                0,
                layers,
                true,
                false,
            );
        }
        ElmanRnn {
            relu,
            flat_weights,
            hidden,
            layers,
            device: vs.device(),
        }
    }
}

impl RNN for ElmanRnn {
    type State = ElmanState;

    fn zero_state(&self, batch_dim: i64) -> ElmanState {
        ElmanState(Tensor::zeros(
            [self.layers, batch_dim, self.hidden],
            (Kind::Float, self.device),
        ))
    }

    fn step(&self, input: &Tensor, state: &ElmanState) -> ElmanState {
        self.seq_init(&input.unsqueeze(1), state).1
    }

    fn seq_init(&self, input: &Tensor, state: &ElmanState) -> (Tensor, ElmanState) {
        let (w, n) = (&self.flat_weights, self.layers);
        let (output, h) = if self.relu {
            input.rnn_relu(&state.0, w, true, n, 0.0, true, false, true)
        } else {
            input.rnn_tanh(&state.0, w, true, n, 0.0, true, false, true)
        };
        (output, ElmanState(h))
    }
}

impl FusedStack for ElmanRnn {
    fn seq(&self, x: &Tensor) -> Tensor {
        RNN::seq(self, x).0
    }
}
