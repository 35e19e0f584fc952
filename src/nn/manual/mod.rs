//! The recurrence of K members with a backward written by hand, for the
//! Elman RNN and the GRU, where libtorch has no fast op on the CPU (it
//! runs them step by step through autograd: about ten small ops per step
//! and layer forward and more backward, each paying dispatch and autograd).
//! (The IRNN, a ReLU Elman cell, shares the Elman code.)
//! Here the input side of every step is one batched matmul, each step is a
//! few ops with no autograd tape, and the weight gradients are one matmul
//! over all steps after the loop. Everything is time-major
//! (`[K, steps, batch, units]`), so a step is a contiguous view.
//!
//! Forward keeps what backward needs (a `Tape`); backward takes the loss's
//! gradient at the last layer's last step and returns every weight's
//! gradient. Gate order and formulas are PyTorch's; the tests prove the
//! gradients equal autograd's through the composed model.

mod elman;
mod gru;

use tch::{Kind, Tensor};

use crate::config::Cell;

/// One layer's weights as the packed model holds them (`[K, ...]`), with
/// `b_hh` already masked for members that do not train it.
pub struct LayerWeights<'a> {
    pub w_ih: &'a Tensor,
    pub w_hh: &'a Tensor,
    pub b_ih: &'a Tensor,
    /// `[K, 1, G * H]`.
    pub b_hh: &'a Tensor,
}

/// What a layer's forward kept for its backward.
pub enum Tape {
    Elman(elman::Tape),
    Gru(gru::Tape),
}

/// One layer's gradients: its weights' (`b_hh` before masking) and, for a
/// layer above another, its input's.
pub struct LayerGrads {
    pub w_ih: Tensor,
    pub w_hh: Tensor,
    pub b_ih: Tensor,
    pub b_hh: Tensor,
    pub input: Option<Tensor>,
}

/// Where the loss's gradient enters a layer: at the last step only (the
/// top layer, whose last output the head reads), or at every step (a layer
/// under another).
pub enum OutputGrad {
    Last(Tensor),
    Every(Tensor),
}

impl OutputGrad {
    /// The gradient at step `t` (`[K, B, H]`), if any reaches it directly.
    fn at(&self, t: i64, steps: i64) -> Option<Tensor> {
        match self {
            OutputGrad::Last(g) => (t == steps - 1).then(|| g.shallow_clone()),
            OutputGrad::Every(g) => Some(g.select(1, t)),
        }
    }
}

/// Runs a layer over `x` (`[K, L, B, in]`, time-major) without a tape of
/// autograd; returns every step's output `[K, L, B, H]` and what its
/// backward needs. Call under `no_grad`.
pub fn forward(cell: Cell, w: &LayerWeights, x: &Tensor) -> (Tensor, Tape) {
    match cell {
        Cell::Rnn | Cell::Irnn => {
            let (h, tape) = elman::forward(w, x, cell == Cell::Irnn);
            (h, Tape::Elman(tape))
        }
        Cell::Gru => {
            let (h, tape) = gru::forward(w, x);
            (h, Tape::Gru(tape))
        }
        Cell::Lstm => unreachable!("no hand-written LSTM: the kernel choice refuses it"),
    }
}

/// The gradients of a layer whose outputs receive `d_out`; the input's
/// gradient only when `input_grad` (a layer under another). Call under
/// `no_grad`.
pub fn backward(w: &LayerWeights, tape: &Tape, d_out: &OutputGrad, input_grad: bool) -> LayerGrads {
    match tape {
        Tape::Elman(t) => elman::backward(w, t, d_out, input_grad),
        Tape::Gru(t) => gru::backward(w, t, d_out, input_grad),
    }
}

/// Whether `cell` has a hand-written backward.
pub fn supports(cell: Cell) -> bool {
    matches!(cell, Cell::Rnn | Cell::Irnn | Cell::Gru)
}

/// `[K, L, B, n]` as `[K, L * B, n]`.
fn flat(t: &Tensor) -> Tensor {
    let s = t.size();
    t.view([s[0], s[1] * s[2], s[3]])
}

/// The weight gradients every cell shares: `dW_ih = dGI^T X`, `dW_hh =
/// dGH[1..]^T H[..L-1]` (the first step's previous state is zero), the
/// biases' sums over steps and rows, and the input's gradient `dGI W_ih`.
fn weight_grads(
    w: &LayerWeights,
    x: &Tensor,
    h: &Tensor,
    d_gi: &Tensor,
    d_gh: &Tensor,
    input_grad: bool,
) -> LayerGrads {
    let steps = h.size()[1];
    let w_hh = if steps > 1 {
        flat(&d_gh.narrow(1, 1, steps - 1))
            .transpose(1, 2)
            .bmm(&flat(&h.narrow(1, 0, steps - 1)))
    } else {
        w.w_hh.zeros_like()
    };
    let input = input_grad.then(|| {
        let s = x.size();
        flat(d_gi).bmm(w.w_ih).view([s[0], s[1], s[2], s[3]])
    });
    LayerGrads {
        w_ih: flat(d_gi).transpose(1, 2).bmm(&flat(x)),
        w_hh,
        b_ih: d_gi.sum_dim_intlist([1, 2].as_slice(), false, Kind::Float),
        b_hh: d_gh.sum_dim_intlist([1, 2].as_slice(), false, Kind::Float),
        input,
    }
}
