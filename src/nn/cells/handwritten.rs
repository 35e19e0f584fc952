//! What the cells with a backward written by hand share (the Elman RNN's
//! and the GRU's, where libtorch has no fast op on the CPU and runs them
//! step by step through autograd: about ten small ops per step and layer
//! forward and more backward, each paying dispatch and autograd).
//! There the input side of every step is one batched matmul, each step is a
//! few ops with no autograd tape, and the weight gradients are one matmul
//! over all steps after the loop. Everything is time-major
//! (`[K, steps, batch, units]`), so a step is a contiguous view.
//!
//! Forward keeps what backward needs (a tape); backward takes the loss's
//! gradient at the layer's outputs and returns every weight's gradient.
//! Gate order and formulas are PyTorch's; `nn::handwritten`'s tests prove
//! the gradients equal autograd's through the composed model.

use tch::{Kind, Tensor};

/// One layer's weights in PyTorch's layout (`[K, ...]`), with `b_hh`
/// already masked for members that do not train it.
pub struct LayerWeights<'a> {
    pub w_ih: &'a Tensor,
    pub w_hh: &'a Tensor,
    pub b_ih: &'a Tensor,
    /// `[K, 1, G * H]`.
    pub b_hh: &'a Tensor,
}

/// Calls `f` with a layer's four tensors as the registry hands them over
/// (`b_hh` as `[K, G * H]`, masked) in this layout.
pub fn with_layer<R>(w: &[Tensor], f: impl FnOnce(&LayerWeights) -> R) -> R {
    let b_hh = w[3].unsqueeze(1);
    f(&LayerWeights {
        w_ih: &w[0],
        w_hh: &w[1],
        b_ih: &w[2],
        b_hh: &b_hh,
    })
}

/// One layer's gradients: its weights' and, for a layer above another,
/// its input's.
pub struct LayerGrads {
    pub w_ih: Tensor,
    pub w_hh: Tensor,
    pub b_ih: Tensor,
    pub b_hh: Tensor,
    pub input: Option<Tensor>,
}

impl LayerGrads {
    /// The weights' gradients in the layer's parameter order, and the input's.
    pub fn into_parts(self) -> (Vec<Tensor>, Option<Tensor>) {
        (vec![self.w_ih, self.w_hh, self.b_ih, self.b_hh], self.input)
    }
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
    pub fn at(&self, t: i64, steps: i64) -> Option<Tensor> {
        match self {
            OutputGrad::Last(g) => (t == steps - 1).then(|| g.shallow_clone()),
            OutputGrad::Every(g) => Some(g.select(1, t)),
        }
    }
}

/// `[K, L, B, n]` as `[K, L * B, n]`.
pub fn flat(t: &Tensor) -> Tensor {
    let s = t.size();
    t.view([s[0], s[1] * s[2], s[3]])
}

/// The weight gradients every cell shares: `dW_ih = dGI^T X`, `dW_hh =
/// dGH[1..]^T H[..L-1]` (the first step's previous state is zero), the
/// biases' sums over steps and rows, and the input's gradient `dGI W_ih`.
pub fn weight_grads(
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
