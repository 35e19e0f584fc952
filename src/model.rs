//! The recurrent stack (libtorch's own RNN, LSTM and GRU ops through
//! `tch::nn`) with a linear head on the last step, and the Keras and PyTorch
//! initialisation schemes, drawn on the CPU so every device starts alike.

use std::{collections::HashMap, path::Path};

use anyhow::{bail, ensure, Context, Result};
use tch::nn::{self, RNN};
use tch::{Device, Kind, Tensor};

use crate::config::{Cell, InitScheme, TrainConfig};
use crate::seed::{rng_lock, seed_stream, Stream};

/// Input features per time step: the marker and the value.
pub const INPUT_SIZE: i64 = 2;

/// The shape of the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelSpec {
    pub cell: Cell,
    pub input_size: i64,
    pub units: i64,
    pub layers: i64,
    pub init: InitScheme,
}

impl ModelSpec {
    pub fn for_config(config: &TrainConfig) -> ModelSpec {
        ModelSpec {
            cell: config.model,
            input_size: INPUT_SIZE,
            units: config.units,
            layers: config.layers,
            init: config.init,
        }
    }

    /// Gate blocks stacked in libtorch's weight matrices.
    pub fn gates(&self) -> i64 {
        match self.cell {
            Cell::Rnn => 1,
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }

    /// Every parameter in PyTorch's `parameters()` order, with its shape.
    pub fn parameters(&self) -> Vec<Param> {
        let (g, h) = (self.gates(), self.units);
        let mut params = Vec::new();
        for layer in 0..self.layers {
            let input = if layer == 0 { self.input_size } else { h };
            let name = |what: &str| format!("rnn.{what}_l{layer}");
            params.push(Param {
                name: name("weight_ih"),
                shape: vec![g * h, input],
                role: Role::InputKernel,
            });
            params.push(Param {
                name: name("weight_hh"),
                shape: vec![g * h, h],
                role: Role::RecurrentKernel,
            });
            params.push(Param {
                name: name("bias_ih"),
                shape: vec![g * h],
                role: Role::InputBias,
            });
            params.push(Param {
                name: name("bias_hh"),
                shape: vec![g * h],
                role: Role::RecurrentBias,
            });
        }
        params.push(Param {
            name: "head.weight".into(),
            shape: vec![1, h],
            role: Role::HeadWeight,
        });
        params.push(Param {
            name: "head.bias".into(),
            shape: vec![1],
            role: Role::HeadBias,
        });
        params
    }

    /// Keras's SimpleRNN and LSTM have a single bias vector; libtorch's ops
    /// take two. Under Keras's scheme `bias_hh` stays a frozen zero, so the
    /// model trains exactly Keras's parameters (a second trainable bias
    /// would double the bias step size under Adam). Keras's GRU
    /// (reset_after=True) has both biases, like PyTorch.
    pub fn is_trainable(&self, param: &Param) -> bool {
        !(param.role == Role::RecurrentBias
            && self.init == InitScheme::Keras
            && matches!(self.cell, Cell::Rnn | Cell::Lstm))
    }

    /// Number of values in every parameter, frozen ones included.
    pub fn parameter_count(&self) -> i64 {
        self.parameters()
            .iter()
            .map(|p| p.shape.iter().product::<i64>())
            .sum()
    }

    /// Number of trainable values (Keras's `model.summary()` total under
    /// the Keras scheme, PyTorch's under the torch scheme).
    pub fn trainable_count(&self) -> i64 {
        self.parameters()
            .iter()
            .filter(|p| self.is_trainable(p))
            .map(|p| p.shape.iter().product::<i64>())
            .sum()
    }
}

/// What a parameter is, which decides how it is initialised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    InputKernel,
    RecurrentKernel,
    InputBias,
    RecurrentBias,
    HeadWeight,
    HeadBias,
}

/// One named parameter, named as in PyTorch's `state_dict`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub shape: Vec<i64>,
    pub role: Role,
}

/// libtorch's Elman RNN (tanh), built the way tch builds its LSTM and GRU:
/// weights named `weight_ih_l0`..., flattened for cuDNN on CUDA, run
/// through the fused `rnn_tanh` op.
#[derive(Debug)]
pub struct ElmanRnn {
    flat_weights: Vec<Tensor>,
    hidden: i64,
    layers: i64,
    device: Device,
}

/// Hidden state of the Elman RNN, `[layers, batch, hidden]`.
#[derive(Debug)]
pub struct ElmanState(pub Tensor);

/// cuDNN's mode numbers, as in PyTorch's `get_cudnn_mode`.
const CUDNN_RNN_TANH: i64 = 1;

impl ElmanRnn {
    pub fn new(vs: &nn::Path, input: i64, hidden: i64, layers: i64) -> ElmanRnn {
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
                CUDNN_RNN_TANH,
                hidden,
                0,
                layers,
                true,
                false,
            );
        }
        ElmanRnn {
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
        let (output, h) = input.rnn_tanh(
            &state.0,
            &self.flat_weights,
            true,
            self.layers,
            0.0,
            true,
            false,
            true,
        );
        (output, ElmanState(h))
    }
}

#[derive(Debug)]
enum Stack {
    Rnn(ElmanRnn),
    Lstm(nn::LSTM),
    Gru(nn::GRU),
}

/// The network: recurrent stack, then `Linear(units, 1)` on the last
/// layer's hidden state at the last time step.
#[derive(Debug)]
pub struct Model {
    pub spec: ModelSpec,
    stack: Stack,
    head_weight: Tensor,
    head_bias: Tensor,
}

impl Model {
    /// Creates the variables under `vs` (values are set by [`initialise`]
    /// or [`load_weights`]; tch's own initialisers are not used).
    pub fn new(vs: &nn::Path, spec: ModelSpec) -> Model {
        let zero = nn::Init::Const(0.0);
        let config = nn::RNNConfig {
            num_layers: spec.layers,
            batch_first: true,
            w_ih_init: zero,
            w_hh_init: zero,
            b_ih_init: Some(zero),
            b_hh_init: Some(zero),
            ..Default::default()
        };
        let rnn = vs / "rnn";
        let (input, units) = (spec.input_size, spec.units);
        let stack = match spec.cell {
            Cell::Rnn => Stack::Rnn(ElmanRnn::new(&rnn, input, units, spec.layers)),
            Cell::Lstm => Stack::Lstm(nn::lstm(&rnn, input, units, config)),
            Cell::Gru => Stack::Gru(nn::gru(&rnn, input, units, config)),
        };
        let head = vs / "head";
        let head_weight = head.var("weight", &[1, units], zero);
        let head_bias = head.var("bias", &[1], zero);
        Model {
            spec,
            stack,
            head_weight,
            head_bias,
        }
    }

    /// `x`: `[batch, seq_len, 2]` → predictions `[batch, 1]`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let output = match &self.stack {
            Stack::Rnn(m) => m.seq(x).0,
            Stack::Lstm(m) => m.seq(x).0,
            Stack::Gru(m) => m.seq(x).0,
        };
        // Keras's return_sequences=False: the last layer's output at the last step.
        output
            .select(1, -1)
            .linear(&self.head_weight, Some(&self.head_bias))
    }
}

/// Creates the model in a fresh var store on `device`.
pub fn build(spec: ModelSpec, device: Device) -> (nn::VarStore, Model) {
    let vs = nn::VarStore::new(device);
    let model = Model::new(&vs.root(), spec);
    (vs, model)
}

/// Draws the initial weights of `scheme` on the CPU from the seed's init
/// stream, in PyTorch's parameter order, and copies them into `vs`.
/// Under the torch scheme the draws are exactly those of PyTorch's own
/// `nn.RNN/LSTM/GRU` and `nn.Linear` constructors.
pub fn initialise(vs: &nn::VarStore, spec: &ModelSpec, seed: u64) -> Result<()> {
    let _rng = rng_lock();
    tch::manual_seed(seed_stream(seed, Stream::Init));
    let values: Vec<(String, Tensor)> = spec
        .parameters()
        .into_iter()
        .map(|p| {
            let value = draw(spec, &p);
            (p.name, value)
        })
        .collect();
    assign(vs, spec, values)
}

/// Sets the weights from a safetensors file with PyTorch's names (one
/// written by `--save-init`, by a finished run, or by PyTorch).
pub fn load_weights(vs: &nn::VarStore, spec: &ModelSpec, path: &Path) -> Result<()> {
    let tensors = Tensor::read_safetensors(path)
        .with_context(|| format!("cannot read weights from {}", path.display()))?;
    let mut by_name: HashMap<String, Tensor> = tensors.into_iter().collect();
    let mut values = Vec::new();
    for p in spec.parameters() {
        let t = by_name.remove(&p.name).with_context(|| {
            format!(
                "{} has no tensor '{}': was it saved for this --model/--units/--layers?",
                path.display(),
                p.name
            )
        })?;
        ensure!(
            t.size() == p.shape,
            "{}: '{}' has shape {:?}, this model needs {:?}",
            path.display(),
            p.name,
            t.size(),
            p.shape
        );
        values.push((p.name, t.to_kind(Kind::Float)));
    }
    if let Some(extra) = by_name.keys().next() {
        bail!(
            "{} has a tensor '{}' this model does not have",
            path.display(),
            extra
        );
    }
    assign(vs, spec, values)
}

/// Writes every variable (on the CPU, PyTorch's names) as safetensors,
/// whole or not at all.
pub fn save_weights(vs: &nn::VarStore, path: &Path) -> Result<()> {
    save_named(vs.variables().into_iter().collect(), path)
}

/// Writes named tensors (moved to the CPU, sorted by name) as
/// safetensors, whole or not at all.
pub fn save_named(tensors: Vec<(String, Tensor)>, path: &Path) -> Result<()> {
    let mut named: Vec<(String, Tensor)> = tensors
        .into_iter()
        .map(|(name, t)| (name, t.to(Device::Cpu).contiguous()))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    crate::output::write_atomic_with(path, |tmp| Ok(Tensor::write_safetensors(&named, tmp)?))
}

/// The values of every parameter of `spec` in `vs`, copied to the CPU.
pub fn weights_of(vs: &nn::VarStore, spec: &ModelSpec) -> Vec<(String, Tensor)> {
    let vars = vs.variables();
    spec.parameters()
        .into_iter()
        .map(|p| {
            let t = vars[&p.name].detach().to(Device::Cpu).copy();
            (p.name, t)
        })
        .collect()
}

/// Copies CPU values into the variables (on any device) and marks the
/// parameters that Keras does not train as frozen.
fn assign(vs: &nn::VarStore, spec: &ModelSpec, values: Vec<(String, Tensor)>) -> Result<()> {
    let vars = vs.variables();
    let trainable: HashMap<String, bool> = spec
        .parameters()
        .iter()
        .map(|p| (p.name.clone(), spec.is_trainable(p)))
        .collect();
    tch::no_grad(|| -> Result<()> {
        for (name, value) in values {
            let mut var = vars
                .get(&name)
                .with_context(|| format!("model has no variable {name}"))?
                .shallow_clone();
            var.f_copy_(&value)
                .with_context(|| format!("setting {name}"))?;
            if !trainable[&name] {
                let _ = var.set_requires_grad(false);
            }
        }
        Ok(())
    })
}

/// The initial value of one parameter under the spec's scheme.
fn draw(spec: &ModelSpec, p: &Param) -> Tensor {
    let cpu = (Kind::Float, Device::Cpu);
    let uniform = |bound: f64| Tensor::empty(p.shape.as_slice(), cpu).uniform_(-bound, bound);
    let h = spec.units as f64;
    match spec.init {
        InitScheme::Torch => match p.role {
            // nn.RNNBase.reset_parameters: every tensor U(-1/sqrt(H), 1/sqrt(H)).
            Role::InputKernel | Role::RecurrentKernel | Role::InputBias | Role::RecurrentBias => {
                uniform(1.0 / h.sqrt())
            }
            // nn.Linear: kaiming_uniform_(a=sqrt(5)), computed as PyTorch does.
            Role::HeadWeight => {
                let a = 5f64.sqrt();
                let gain = (2.0 / (1.0 + a.powi(2))).sqrt();
                uniform(3f64.sqrt() * (gain / h.sqrt()))
            }
            Role::HeadBias => uniform(1.0 / h.sqrt()),
        },
        InitScheme::Keras => match p.role {
            // glorot_uniform over Keras's [in, gates*units] kernel.
            Role::InputKernel | Role::HeadWeight => uniform(glorot_limit(p.shape[1], p.shape[0])),
            Role::RecurrentKernel => orthogonal(p.shape[0], p.shape[1]),
            Role::InputBias if spec.cell == Cell::Lstm => {
                // unit_forget_bias: gates are i, f, g, o in both frameworks.
                let bias = Tensor::zeros(p.shape.as_slice(), cpu);
                let _ = bias.narrow(0, spec.units, spec.units).fill_(1.0);
                bias
            }
            Role::InputBias | Role::RecurrentBias | Role::HeadBias => {
                Tensor::zeros(p.shape.as_slice(), cpu)
            }
        },
    }
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
    let a = Tensor::randn([rows, cols], (Kind::Float, Device::Cpu));
    let (q, r) = Tensor::linalg_qr(&a, "reduced");
    q * r.diagonal(0, 0, 1).sign()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(cell: Cell, init: InitScheme) -> ModelSpec {
        ModelSpec {
            cell,
            input_size: 2,
            units: 30,
            layers: 2,
            init,
        }
    }

    fn initialised(s: ModelSpec, seed: u64) -> (nn::VarStore, Model) {
        let (vs, model) = build(s, Device::Cpu);
        initialise(&vs, &s, seed).unwrap();
        (vs, model)
    }

    fn max_abs(t: &Tensor) -> f64 {
        t.abs().max().double_value(&[])
    }

    #[test]
    fn keras_parameter_counts_match_keras_summary() {
        // Keras model.summary() of the blog's models (SimpleRNN/LSTM/GRU(30) x2 + Dense(1)).
        assert_eq!(
            spec(Cell::Rnn, InitScheme::Keras).trainable_count(),
            990 + 1830 + 31
        );
        assert_eq!(
            spec(Cell::Lstm, InitScheme::Keras).trainable_count(),
            3960 + 7320 + 31
        );
        assert_eq!(
            spec(Cell::Gru, InitScheme::Keras).trainable_count(),
            3060 + 5580 + 31
        );
        // PyTorch counts both biases.
        assert_eq!(
            spec(Cell::Lstm, InitScheme::Torch).trainable_count(),
            4080 + 7440 + 31
        );
    }

    #[test]
    fn variables_match_pytorch_state_dict_names_and_shapes() {
        let s = spec(Cell::Gru, InitScheme::Keras);
        let (vs, _) = build(s, Device::Cpu);
        let vars = vs.variables();
        assert_eq!(vars.len(), 10);
        assert_eq!(vars["rnn.weight_ih_l0"].size(), [90, 2]);
        assert_eq!(vars["rnn.weight_hh_l1"].size(), [90, 30]);
        assert_eq!(vars["rnn.bias_hh_l1"].size(), [90]);
        assert_eq!(vars["head.weight"].size(), [1, 30]);
        let rnn_vars = build(spec(Cell::Rnn, InitScheme::Keras), Device::Cpu)
            .0
            .variables();
        assert_eq!(rnn_vars["rnn.weight_ih_l1"].size(), [30, 30]);
    }

    #[test]
    fn keras_init_bounds_orthogonality_and_forget_bias() {
        for cell in [Cell::Rnn, Cell::Lstm, Cell::Gru] {
            let s = spec(cell, InitScheme::Keras);
            let (vs, _) = initialised(s, 3);
            let v = vs.variables();
            let g = s.gates();
            for layer in 0..2 {
                let w_ih = &v[&format!("rnn.weight_ih_l{layer}")];
                let fan_in = if layer == 0 { 2 } else { 30 };
                let limit = (6.0 / (fan_in + g * 30) as f64).sqrt();
                assert!(max_abs(w_ih) <= limit, "{cell} w_ih beyond glorot limit");
                assert!(
                    max_abs(w_ih) > 0.8 * limit,
                    "{cell} w_ih far inside glorot limit"
                );
                let w_hh = &v[&format!("rnn.weight_hh_l{layer}")];
                let gram = w_hh.tr().matmul(w_hh);
                let err = max_abs(&(gram - Tensor::eye(30, (Kind::Float, Device::Cpu))));
                assert!(err < 1e-5, "{cell} W_hh^T W_hh differs from I by {err}");
                let b_ih = &v[&format!("rnn.bias_ih_l{layer}")];
                if cell == Cell::Lstm {
                    assert_eq!(max_abs(&b_ih.narrow(0, 0, 30)), 0.0);
                    assert_eq!(b_ih.narrow(0, 30, 30).min().double_value(&[]), 1.0);
                    assert_eq!(max_abs(&b_ih.narrow(0, 30, 30)), 1.0);
                    assert_eq!(max_abs(&b_ih.narrow(0, 60, 60)), 0.0);
                } else {
                    assert_eq!(max_abs(b_ih), 0.0);
                }
                let b_hh = &v[&format!("rnn.bias_hh_l{layer}")];
                assert_eq!(max_abs(b_hh), 0.0);
                assert_eq!(
                    b_hh.requires_grad(),
                    cell == Cell::Gru,
                    "{cell}: Keras trains bias_hh only for GRU"
                );
            }
            let limit = (6.0f64 / 31.0).sqrt();
            assert!(max_abs(&v["head.weight"]) <= limit);
            assert_eq!(max_abs(&v["head.bias"]), 0.0);
        }
    }

    #[test]
    fn torch_init_bounds_and_variance() {
        let s = spec(Cell::Lstm, InitScheme::Torch);
        let (vs, _) = initialised(s, 4);
        let v = vs.variables();
        let bound = 1.0 / 30f64.sqrt();
        for p in s.parameters() {
            let t = &v[&p.name];
            assert!(max_abs(t) <= bound + 1e-7, "{} beyond {bound}", p.name);
            assert!(
                t.requires_grad(),
                "{} must be trainable under torch init",
                p.name
            );
            if t.numel() >= 120 {
                // U(-b, b) has variance b^2/3.
                let var = t.var(true).double_value(&[]);
                let expected = bound * bound / 3.0;
                assert!(
                    (var / expected - 1.0).abs() < 0.2,
                    "{}: variance {var} vs {expected}",
                    p.name
                );
            }
        }
    }

    #[test]
    fn same_seed_same_weights() {
        let s = spec(Cell::Gru, InitScheme::Keras);
        let (a, _) = initialised(s, 11);
        let (b, _) = initialised(s, 11);
        let (c, _) = initialised(s, 12);
        for p in s.parameters() {
            assert!(
                a.variables()[&p.name].equal(&b.variables()[&p.name]),
                "{}",
                p.name
            );
        }
        assert!(!a.variables()["rnn.weight_hh_l0"].equal(&c.variables()["rnn.weight_hh_l0"]));
    }

    #[test]
    fn forward_shapes() {
        for cell in [Cell::Rnn, Cell::Lstm, Cell::Gru] {
            let s = ModelSpec {
                cell,
                input_size: 2,
                units: 7,
                layers: 3,
                init: InitScheme::Keras,
            };
            let (_vs, m) = initialised(s, 1);
            let x = {
                let _rng = rng_lock(); // other tests seed and draw concurrently
                Tensor::rand([5, 9, 2], (Kind::Float, Device::Cpu))
            };
            assert_eq!(m.forward(&x).size(), [5, 1], "{cell}");
        }
    }

    #[test]
    fn elman_forward_equals_the_tanh_recurrence() {
        let s = ModelSpec {
            cell: Cell::Rnn,
            input_size: 2,
            units: 4,
            layers: 1,
            init: InitScheme::Torch,
        };
        let (vs, m) = initialised(s, 2);
        let v = vs.variables();
        let x = {
            let _rng = rng_lock(); // other tests seed and draw concurrently
            Tensor::rand([3, 6, 2], (Kind::Float, Device::Cpu))
        };
        let mut h = Tensor::zeros([3, 4], (Kind::Float, Device::Cpu));
        for t in 0..6 {
            let xt = x.select(1, t);
            h = (xt.linear(&v["rnn.weight_ih_l0"], Some(&v["rnn.bias_ih_l0"]))
                + h.linear(&v["rnn.weight_hh_l0"], Some(&v["rnn.bias_hh_l0"])))
            .tanh();
        }
        let expected = h.linear(&v["head.weight"], Some(&v["head.bias"]));
        let err = max_abs(&(m.forward(&x) - expected));
        assert!(err < 1e-6, "rnn_tanh differs from the recurrence by {err}");
    }

    #[test]
    fn load_weights_round_trips_and_checks_shapes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let s = spec(Cell::Lstm, InitScheme::Keras);
        let (a, _) = initialised(s, 5);
        let named: Vec<(String, Tensor)> = a.variables().into_iter().collect();
        Tensor::write_safetensors(&named, &path).unwrap();
        let (b, _) = build(s, Device::Cpu);
        load_weights(&b, &s, &path).unwrap();
        for p in s.parameters() {
            assert!(a.variables()[&p.name].equal(&b.variables()[&p.name]));
        }
        let other = ModelSpec { units: 8, ..s };
        let (c, _) = build(other, Device::Cpu);
        let err = load_weights(&c, &other, &path).unwrap_err().to_string();
        assert!(
            err.contains("'rnn.weight_ih_l0' has shape [120, 2], this model needs [32, 2]"),
            "{err}"
        );
    }
}
