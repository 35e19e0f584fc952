//! The recurrent cells, one file (or small folder) each, and the registry
//! the rest of rnn-lab reads them through. A cell says what its layer's
//! parameters are (names and shapes), how each init scheme draws them, one
//! layer's forward over a whole sequence for K members (through autograd),
//! and, where it has them, libtorch's fused op for one member, a backward
//! written by hand, a constraint after each optimizer step and the
//! published numbers of the blog's experiment. The network, the kernel
//! choice, the init, the weight files, `info` and the reports ask
//! [`def`] and know no cell by name.
//!
//! Adding a cell: its file here, its line in [`def`], and its keyword in
//! `config::Cell`.

mod elman;
mod gru;
pub mod handwritten;
mod indrnn;
mod lru;
mod lstm;
mod mingru;
mod minlstm;
pub mod native;
mod scan;

use std::any::Any;
use std::fmt::Debug;

use serde::Serialize;
use tch::{nn, Device, Kind, Tensor};

use self::handwritten::OutputGrad;
use crate::config::{Cell, InitScheme, Kernel};

/// The cell of each keyword.
pub fn def(cell: Cell) -> &'static dyn CellDef {
    match cell {
        Cell::Rnn => &elman::RNN,
        Cell::Irnn => &elman::IRNN,
        Cell::Lstm => &lstm::LSTM,
        Cell::Gru => &gru::GRU,
        Cell::Indrnn => &indrnn::INDRNN,
        Cell::Mingru => &mingru::MINGRU,
        Cell::Minlstm => &minlstm::MINLSTM,
        Cell::Lru => &lru::LRU,
    }
}

/// One parameter of a layer: its name before the layer's suffix
/// (`weight_ih` of `rnn.weight_ih_l0`) and its shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerParam {
    pub leaf: &'static str,
    pub shape: Vec<i64>,
}

/// What a layer's draw needs to know of the network.
#[derive(Clone, Copy, Debug)]
pub struct Layer {
    pub init: InitScheme,
    pub units: i64,
    /// The layer's input features.
    pub input: i64,
    /// Which layer (0 is the bottom) of how many.
    pub index: i64,
    pub layers: i64,
    /// The longest row's steps (the IndRNN's bounds depend on it).
    pub steps: i64,
}

/// A layer's outputs from its composed forward: every step's
/// (`[K, B, L, H]`, when asked for) and the last step's (`[K, B, H]`).
pub struct Outputs {
    pub every: Option<Tensor>,
    pub last: Tensor,
}

/// libtorch's own op for a whole stack of one member (`[B, L, in]` to the
/// top layer's outputs `[B, L, H]`), its variables already created.
pub trait FusedStack: Debug {
    fn seq(&self, x: &Tensor) -> Tensor;
}

/// Any of tch's recurrent modules as a fused stack.
#[derive(Debug)]
struct Fused<R>(R);

impl<R: nn::RNN + Debug> FusedStack for Fused<R> {
    fn seq(&self, x: &Tensor) -> Tensor {
        self.0.seq(x).0
    }
}

/// A layer's forward and backward written by hand, for K members,
/// time-major (`[K, L, B, in]`), run under `no_grad`.
pub trait HandWritten: Sync {
    /// Every step's output `[K, L, B, H]` and what backward needs.
    fn forward(&self, w: &[Tensor], x: &Tensor) -> (Tensor, Box<dyn Any>);
    /// Each weight's gradient (in the layer's parameter order) and, when
    /// `input_grad`, the input's.
    fn backward(
        &self,
        w: &[Tensor],
        tape: &dyn Any,
        d_out: &OutputGrad,
        input_grad: bool,
    ) -> (Vec<Tensor>, Option<Tensor>);
}

/// One recurrent cell.
pub trait CellDef: Sync {
    /// What the cell is and where it comes from, for `rnn-lab info`.
    fn about(&self) -> &'static str;
    /// How its initial weights are drawn, for `rnn-lab info`.
    fn init_note(&self) -> &'static str;
    /// A layer's parameters, in order, for a layer reading `input` features.
    fn layer(&self, input: i64, units: i64) -> Vec<LayerParam>;
    /// Whether the parameter `leaf` trains under `init`.
    fn trains(&self, _leaf: &str, _init: InitScheme) -> bool {
        true
    }
    /// Draws a layer's parameters (`layer()`'s, in order) from the CPU
    /// generator, already seeded.
    fn draw(&self, layer: &Layer, params: &[LayerParam]) -> Vec<Tensor>;
    /// The head's weight and bias when the cell's paper fixes them (the
    /// IRNN's); `None`: the init scheme's.
    fn draw_head(&self, _outputs: i64, _units: i64) -> Option<(Tensor, Tensor)> {
        None
    }
    /// One layer over `x` (`[K, B, L, in]`) for K members through
    /// autograd, `w` its parameters (`[K, ...]`, frozen ones masked); every
    /// step's output only when `every`.
    fn forward(&self, w: &[Tensor], x: &Tensor, every: bool) -> Outputs;
    /// What `rnn-lab inspect` shows of a layer over `x` (`[K, B, L, in]`):
    /// named quantities at every step, `[K, B, L, units]` each, the
    /// layer's output (`h`) first; gated cells add their gates and state.
    fn inside(&self, w: &[Tensor], x: &Tensor) -> Vec<(&'static str, Tensor)> {
        let out = self.forward(w, x, true);
        vec![("h", out.every.expect("every step asked for"))]
    }
    /// libtorch's fused op for a stack of one member, its variables made
    /// under `path` with PyTorch's names.
    fn libtorch(
        &self,
        _path: &nn::Path,
        _input: i64,
        _units: i64,
        _layers: i64,
    ) -> Option<Box<dyn FusedStack>> {
        None
    }
    /// The backward written by hand, where the cell has one.
    fn handwritten(&self) -> Option<&dyn HandWritten> {
        None
    }
    /// The native kernel (the layer's whole sequence in one call each way,
    /// CPU only), where the cell has one.
    fn native(&self) -> Option<&dyn HandWritten> {
        None
    }
    /// What `--kernel auto` gives one member on the CPU (measured with
    /// scripts/bench.sh).
    fn lone_cpu_kernel(&self) -> Kernel {
        Kernel::Composed
    }
    /// Applied to a layer's parameters after each optimizer step.
    fn constrain(&self, _layer: &Layer, _w: &[Tensor]) {}
    /// The blog's and the Keras textbook's test correctness (percent) for
    /// the blog's experiment, where published.
    fn published(&self) -> (Option<f64>, Option<f64>) {
        (None, None)
    }
}

/// A cell as `rnn-lab info --json` lists it.
#[derive(Clone, Debug, Serialize)]
pub struct CellInfo {
    pub name: &'static str,
    pub description: &'static str,
    pub init: &'static str,
    pub kernels: Vec<&'static str>,
}

/// Every cell, for `info`.
pub fn catalogue() -> Vec<CellInfo> {
    Cell::all()
        .iter()
        .map(|&c| {
            let d = def(c);
            let mut kernels = vec!["composed"];
            if d.handwritten().is_some() {
                kernels.push("handwritten");
            }
            if d.native().is_some() && crate::nn::native::blas::available() {
                kernels.push("native");
            }
            if has_libtorch(d) {
                kernels.push("libtorch");
            }
            CellInfo {
                name: c.name(),
                description: d.about(),
                init: d.init_note(),
                kernels,
            }
        })
        .collect()
}

/// Whether `cell` has libtorch's fused op (asked of a throwaway stack).
pub fn has_libtorch(cell: &dyn CellDef) -> bool {
    cell.libtorch(&nn::VarStore::new(Device::Cpu).root(), 1, 1, 1)
        .is_some()
}

// The draws the cells share.

fn cpu() -> (Kind, Device) {
    (Kind::Float, Device::Cpu)
}

/// U(-bound, bound).
fn uniform(shape: &[i64], bound: f64) -> Tensor {
    Tensor::empty(shape, cpu()).uniform_(-bound, bound)
}

/// Keras's glorot_uniform limit, in Keras's arithmetic:
/// sqrt(3 * scale), scale = 1 / max(1, (fan_in + fan_out) / 2).
pub fn glorot_limit(fan_in: i64, fan_out: i64) -> f64 {
    let scale = 1.0 / f64::max(1.0, (fan_in + fan_out) as f64 / 2.0);
    (3.0 * scale).sqrt()
}

/// Keras's Orthogonal initializer over its whole `[units, gates*units]`
/// recurrent kernel, returned in libtorch's transposed `[gates*units, units]`
/// layout: QR of a normal `[rows, cols]` matrix with Q's columns signed by
/// diag(R), so `W^T W = I`.
fn orthogonal(rows: i64, cols: i64) -> Tensor {
    let a = Tensor::randn([rows, cols], cpu());
    let (q, r) = Tensor::linalg_qr(&a, "reduced");
    q * r.diagonal(0, 0, 1).sign()
}

/// PyTorch's nn.Linear(input, outputs) draw, weight then bias:
/// kaiming_uniform_(a=sqrt(5)) and U(+-1/sqrt(input)), computed as PyTorch does.
fn torch_linear(weight: &[i64], bias: &[i64]) -> (Tensor, Tensor) {
    let fan_in = weight[1] as f64;
    let a = 5f64.sqrt();
    let gain = (2.0 / (1.0 + a.powi(2))).sqrt();
    let w = uniform(weight, 3f64.sqrt() * (gain / fan_in.sqrt()));
    (w, uniform(bias, 1.0 / fan_in.sqrt()))
}

/// The head's draw under `init` when the cell does not fix it: Keras's
/// Dense (glorot_uniform, zero bias) or PyTorch's nn.Linear.
pub fn draw_head(init: InitScheme, outputs: i64, units: i64) -> (Tensor, Tensor) {
    match init {
        InitScheme::Torch => torch_linear(&[outputs, units], &[outputs]),
        InitScheme::Keras => (
            uniform(&[outputs, units], glorot_limit(units, outputs)),
            Tensor::zeros([outputs], cpu()),
        ),
    }
}

/// Keras's SimpleRNN and LSTM have a single bias: under Keras's scheme
/// `bias_hh` stays a frozen zero (a second trainable bias would double the
/// bias step size under Adam).
fn keras_single_bias_trains(leaf: &str, init: InitScheme) -> bool {
    !(leaf == "bias_hh" && init == InitScheme::Keras)
}

/// PyTorch's four tensors per layer (`weight_ih [G*H, in]`, `weight_hh
/// [G*H, H]`, `bias_ih`, `bias_hh`), as nn.RNN, nn.LSTM and nn.GRU hold them.
fn pytorch_layer(gates: i64, input: i64, units: i64) -> Vec<LayerParam> {
    let g = gates * units;
    vec![
        LayerParam {
            leaf: "weight_ih",
            shape: vec![g, input],
        },
        LayerParam {
            leaf: "weight_hh",
            shape: vec![g, units],
        },
        LayerParam {
            leaf: "bias_ih",
            shape: vec![g],
        },
        LayerParam {
            leaf: "bias_hh",
            shape: vec![g],
        },
    ]
}

/// Draws PyTorch's four tensors under `layer.init`: PyTorch's
/// nn.RNNBase.reset_parameters (every tensor U(+-1/sqrt(H))), or Keras's
/// defaults (glorot_uniform input kernel over Keras's `[in, G*H]`,
/// orthogonal recurrent kernel, zero biases; with `forget_gate` the second
/// block of `bias_ih` at 1, Keras's unit_forget_bias, gates i, f, g, o in
/// both frameworks).
fn draw_pytorch_layer(layer: &Layer, params: &[LayerParam], forget_gate: bool) -> Vec<Tensor> {
    params
        .iter()
        .map(|p| match layer.init {
            InitScheme::Torch => uniform(&p.shape, 1.0 / (layer.units as f64).sqrt()),
            InitScheme::Keras => match p.leaf {
                "weight_ih" => uniform(&p.shape, glorot_limit(p.shape[1], p.shape[0])),
                "weight_hh" => orthogonal(p.shape[0], p.shape[1]),
                "bias_ih" if forget_gate => {
                    let bias = Tensor::zeros(p.shape.as_slice(), cpu());
                    let _ = bias.narrow(0, layer.units, layer.units).fill_(1.0);
                    bias
                }
                _ => Tensor::zeros(p.shape.as_slice(), cpu()),
            },
        })
        .collect()
}

/// `x` (`[K, B, L, in]`) times each member's `weight` (`[K, out, in]`)
/// plus `bias` (`[K, out]`): `[K, B, L, out]`, every step in one matmul.
fn project(x: &Tensor, weight: &Tensor, bias: &Tensor) -> Tensor {
    let s = x.size();
    bias.unsqueeze(1)
        .baddbmm(
            &x.reshape([s[0], s[1] * s[2], s[3]]),
            &weight.transpose(1, 2),
            1,
            1,
        )
        .view([s[0], s[1], s[2], -1])
}

/// tch's recurrent config for a stack of `layers`, batch first, every
/// variable created at zero (the weights are set afterwards).
fn zero_config(layers: i64) -> nn::RNNConfig {
    let zero = nn::Init::Const(0.0);
    nn::RNNConfig {
        num_layers: layers,
        batch_first: true,
        w_ih_init: zero,
        w_hh_init: zero,
        b_ih_init: Some(zero),
        b_hh_init: Some(zero),
        ..Default::default()
    }
}

/// A step loop's outputs, kept when `every`.
/// Each step's named quantities (`[K, B, units]`, in one order every
/// step) stacked over the steps: `[K, B, L, units]` each.
fn stack_steps(seen: Vec<Vec<(&'static str, Tensor)>>) -> Vec<(&'static str, Tensor)> {
    let names: Vec<&'static str> = seen
        .first()
        .map_or(Vec::new(), |s| s.iter().map(|q| q.0).collect());
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let parts: Vec<&Tensor> = seen.iter().map(|s| &s[i].1).collect();
            (*name, Tensor::stack(&parts, 2))
        })
        .collect()
}

fn collect(outputs: Vec<Tensor>, last: Tensor, every: bool) -> Outputs {
    Outputs {
        every: every.then(|| Tensor::stack(&outputs, 2)),
        last,
    }
}

#[cfg(test)]
mod tests;
