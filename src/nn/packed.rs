//! Many models of one shape as one: K members, each with its own weights,
//! stacked on a leading member dimension. libtorch has no recurrent op for
//! that, so the recurrence is composed from batched matmuls (`baddbmm`)
//! over the member dimension: one set of kernel launches serves every
//! member, and no value of one member ever reaches another (a member's NaN
//! stays in its own slice; block-diagonal weights through the fused ops
//! would spread it, since 0 x NaN is NaN). Gate order and formulas are
//! PyTorch's (LSTM i, f, g, o; GRU r, z, n with the reset applied after the
//! recurrent matmul), so a member computes what the single model computes;
//! tests prove it against libtorch's own ops.

use anyhow::{bail, ensure, Context, Result};
use tch::{nn, Device, Kind, Tensor};

use super::network::{head, Network, Read};
use super::weights::Weights;
use crate::config::{Cell, ModelSpec, Param, Role};

/// What every member of a pack shares: the cell and the sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub cell: Cell,
    pub input_size: i64,
    pub units: i64,
    pub layers: i64,
}

impl Shape {
    pub fn of(spec: &ModelSpec) -> Shape {
        Shape {
            cell: spec.cell,
            input_size: spec.input_size,
            units: spec.units,
            layers: spec.layers,
        }
    }
}

pub(super) struct Layer {
    pub(super) w_ih: Tensor,
    pub(super) w_hh: Tensor,
    pub(super) b_ih: Tensor,
    pub(super) b_hh: Tensor,
}

/// K members' weights (`[K, ...]` variables named like PyTorch's, one per
/// parameter) and the recurrence over them.
pub struct PackedModel {
    pub shape: Shape,
    pub members: i64,
    spec: ModelSpec,
    vs: nn::VarStore,
    layers: Vec<Layer>,
    head_weight: Tensor,
    head_bias: Tensor,
    /// `[K, 1, 1]`: 0 for members whose `bias_hh` Keras does not have (a
    /// frozen zero in the single model), 1 otherwise. Multiplying by it
    /// keeps those members' gradient, and so their Adam step, at zero.
    bias_hh_mask: Tensor,
}

impl PackedModel {
    /// Creates the variables of `specs.len()` members on `device` and sets
    /// each member's slice to `weights[k]` (named as `ModelSpec::parameters`).
    pub fn new(specs: &[ModelSpec], weights: &[Weights], device: Device) -> Result<PackedModel> {
        ensure!(!specs.is_empty(), "a pack needs at least one member");
        ensure!(
            specs.len() == weights.len(),
            "one set of weights per member"
        );
        let shape = Shape::of(&specs[0]);
        if let Some(other) = specs.iter().find(|s| Shape::of(s) != shape) {
            bail!(
                "members of a pack must share cell and sizes: {shape:?} and {:?}",
                Shape::of(other)
            );
        }
        let k = specs.len() as i64;
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let var = |p: &Param| -> Result<Tensor> {
            let mut dims = vec![k];
            dims.extend(&p.shape);
            let (scope, leaf) = p.name.split_once('.').expect("names are scope.leaf");
            let v = (&root / scope).var(leaf, &dims, nn::Init::Const(0.0));
            tch::no_grad(|| -> Result<()> {
                for (m, named) in weights.iter().enumerate() {
                    let value = named
                        .iter()
                        .find(|(n, _)| *n == p.name)
                        .with_context(|| format!("member {m} has no weight {}", p.name))?;
                    v.get(m as i64).f_copy_(&value.1)?;
                }
                Ok(())
            })?;
            Ok(v)
        };
        let params = specs[0].parameters();
        let mut vars = Vec::new();
        for p in &params {
            vars.push((p.role, var(p)?));
        }
        let mut layers = Vec::new();
        let mut it = vars.into_iter();
        for _ in 0..shape.layers {
            let mut next = || it.next().expect("four tensors per layer").1;
            layers.push(Layer {
                w_ih: next(),
                w_hh: next(),
                b_ih: next(),
                b_hh: next(),
            });
        }
        let head_weight = it.next().expect("head weight").1;
        let head_bias = it.next().expect("head bias").1;
        let trained: Vec<f32> = specs
            .iter()
            .map(|s| {
                let bias_hh = params
                    .iter()
                    .find(|p| p.role == Role::RecurrentBias)
                    .expect("bias_hh");
                if s.is_trainable(bias_hh) {
                    1.0
                } else {
                    0.0
                }
            })
            .collect();
        let bias_hh_mask = Tensor::from_slice(&trained).view([k, 1, 1]).to(device);
        Ok(PackedModel {
            shape,
            members: k,
            spec: specs[0],
            vs,
            layers,
            head_weight,
            head_bias,
            bias_hh_mask,
        })
    }

    /// The layers, the head's weight and bias, and the `bias_hh` mask, for
    /// the hand-written recurrence over the same weights.
    pub(super) fn parts(&self) -> (&[Layer], &Tensor, &Tensor, &Tensor) {
        (
            &self.layers,
            &self.head_weight,
            &self.head_bias,
            &self.bias_hh_mask,
        )
    }

    /// `x`: `[K, batch, steps, input]` → the head on the read outputs.
    fn forward_all(&self, x: &Tensor, read: &Read) -> Tensor {
        let (k, batch, steps) = (x.size()[0], x.size()[1], x.size()[2]);
        let h_units = self.shape.units;
        let mut input = x.shallow_clone();
        let mut last = Tensor::zeros([k, batch, h_units], (Kind::Float, x.device()));
        for (index, layer) in self.layers.iter().enumerate() {
            let in_dim = input.size()[3];
            let b_hh = (&layer.b_hh.unsqueeze(1)) * &self.bias_hh_mask;
            // The input side of every step at once: [K, B*L, in] x [K, in, G*H].
            let w_ih_t = layer.w_ih.transpose(1, 2);
            let input_bias = match self.shape.cell {
                // Both biases add before the nonlinearity: fold b_hh in here.
                Cell::Rnn | Cell::Irnn | Cell::Lstm => layer.b_ih.unsqueeze(1) + &b_hh,
                // GRU's candidate gate multiplies r by (W_hn h + b_hn): keep b_hh apart.
                Cell::Gru => layer.b_ih.unsqueeze(1),
            };
            // One view per step; unbind's backward is a single stack, where
            // a select per step would scatter into a full-size zero tensor
            // per step (quadratic in the sequence length).
            let gates_x = input_bias
                .baddbmm(&input.reshape([k, batch * steps, in_dim]), &w_ih_t, 1, 1)
                .view([k, batch, steps, -1])
                .unbind(2);
            let w_hh_t = layer.w_hh.transpose(1, 2);
            let mut h = Tensor::zeros([k, batch, h_units], (Kind::Float, x.device()));
            let mut c = match self.shape.cell {
                Cell::Lstm => Some(Tensor::zeros(
                    [k, batch, h_units],
                    (Kind::Float, x.device()),
                )),
                _ => None,
            };
            let keep_outputs = index + 1 < self.layers.len() || !matches!(read, Read::Last);
            let mut outputs = Vec::with_capacity(if keep_outputs { steps as usize } else { 0 });
            for gx in &gates_x {
                h = match self.shape.cell {
                    Cell::Rnn => gx.baddbmm(&h, &w_hh_t, 1, 1).tanh(),
                    Cell::Irnn => gx.baddbmm(&h, &w_hh_t, 1, 1).relu(),
                    Cell::Lstm => {
                        let gates = gx.baddbmm(&h, &w_hh_t, 1, 1).chunk(4, 2);
                        let (i, f) = (gates[0].sigmoid(), gates[1].sigmoid());
                        let (g, o) = (gates[2].tanh(), gates[3].sigmoid());
                        let cell = f * c.as_ref().expect("LSTM cell state") + i * g;
                        let h = o * cell.tanh();
                        c = Some(cell);
                        h
                    }
                    Cell::Gru => {
                        let gh = b_hh.baddbmm(&h, &w_hh_t, 1, 1).chunk(3, 2);
                        let gi = gx.chunk(3, 2);
                        let r = (&gi[0] + &gh[0]).sigmoid();
                        let z = (&gi[1] + &gh[1]).sigmoid();
                        let n = (&gi[2] + r * &gh[2]).tanh();
                        // PyTorch: h' = (1 - z) * n + z * h
                        (1.0 - &z) * n + z * &h
                    }
                };
                if keep_outputs {
                    outputs.push(h.shallow_clone());
                }
            }
            if keep_outputs {
                input = Tensor::stack(&outputs, 2);
            }
            last = h;
        }
        let features = match read {
            Read::Last => last,
            _ => read.pick(&input),
        };
        head(&self.head_weight, &self.head_bias, &features)
    }
}

impl Network for PackedModel {
    fn members(&self) -> i64 {
        self.members
    }

    fn forward(&self, x: &Tensor, read: &Read) -> Tensor {
        self.forward_all(x, read)
    }

    fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    fn kernel(&self) -> &'static str {
        "composed"
    }

    fn member_weights(&self, k: i64) -> Weights {
        let mut tensors = Vec::new();
        for layer in &self.layers {
            tensors.extend([&layer.w_ih, &layer.w_hh, &layer.b_ih, &layer.b_hh]);
        }
        tensors.extend([&self.head_weight, &self.head_bias]);
        self.spec
            .parameters()
            .into_iter()
            .zip(tensors)
            .map(|(p, t)| (p.name, t.get(k).detach().to(Device::Cpu).contiguous()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::InitScheme;
    use crate::nn::fused::FusedModel;
    use crate::nn::init::draw_weights;
    use crate::nn::seed::rng_lock;
    use crate::nn::weights::copy;

    fn spec(cell: Cell, init: InitScheme) -> ModelSpec {
        ModelSpec::new(cell, 6, 2, init)
    }

    /// Each member's prediction and gradient equal its own single model's
    /// (libtorch's fused ops), for every cell, with mixed init schemes.
    #[test]
    fn members_compute_what_their_single_models_compute() {
        for cell in [Cell::Rnn, Cell::Lstm, Cell::Gru] {
            let specs = [
                spec(cell, InitScheme::Keras),
                spec(cell, InitScheme::Torch),
                spec(cell, InitScheme::Keras),
            ];
            let weights: Vec<Weights> = specs
                .iter()
                .enumerate()
                .map(|(i, s)| draw_weights(s, 10 + i as u64))
                .collect();
            let singles: Vec<FusedModel> = specs
                .iter()
                .zip(&weights)
                .map(|(s, w)| FusedModel::new(*s, copy(w), Device::Cpu).unwrap())
                .collect();
            let x = {
                let _rng = rng_lock();
                tch::manual_seed(3);
                Tensor::rand([3, 5, 7, 2], (Kind::Float, Device::Cpu))
            };
            let packed = PackedModel::new(&specs, &weights, Device::Cpu).unwrap();
            let out = packed.forward(&x, &Read::Last);
            assert_eq!(out.size(), [3, 5, 1]);
            out.sum(Kind::Float).backward();
            let packed_vars = packed.var_store().variables();
            for (k, model) in singles.iter().enumerate() {
                let single = model.forward(&x.narrow(0, k as i64, 1), &Read::Last);
                let err = (out.get(k as i64) - single.get(0))
                    .abs()
                    .max()
                    .double_value(&[]);
                assert!(err < 1e-6, "{cell} member {k}: prediction differs by {err}");
                single.sum(Kind::Float).backward();
                for (name, t) in model.var_store().variables() {
                    let theirs = packed_vars[&name].grad().get(k as i64);
                    if !t.requires_grad() {
                        assert_eq!(
                            theirs.abs().max().double_value(&[]),
                            0.0,
                            "{cell} {name}: frozen"
                        );
                        continue;
                    }
                    let err = (t.grad() - theirs).abs().max().double_value(&[]);
                    assert!(
                        err < 1e-5,
                        "{cell} member {k} {name}: gradient differs by {err}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_nan_member_leaves_the_others_alone() {
        let specs = [spec(Cell::Lstm, InitScheme::Keras); 3];
        let weights: Vec<Weights> = (0..3)
            .map(|i| {
                let w = draw_weights(&specs[0], i);
                if i == 1 {
                    let _ = w[0].1.shallow_clone().fill_(f64::NAN);
                }
                w
            })
            .collect();
        let packed = PackedModel::new(&specs, &weights, Device::Cpu).unwrap();
        let x = Tensor::ones([3, 4, 5, 2], (Kind::Float, Device::Cpu));
        let out = packed.forward(&x, &Read::Last);
        out.sum(Kind::Float).backward();
        assert!(out.get(1).isnan().all().int64_value(&[]) == 1);
        for k in [0, 2] {
            assert!(
                out.get(k).isfinite().all().int64_value(&[]) == 1,
                "member {k}"
            );
            for (name, v) in packed.var_store().variables() {
                let g = v.grad().get(k);
                assert!(
                    g.isfinite().all().int64_value(&[]) == 1,
                    "member {k} {name}"
                );
            }
        }
        let back = packed.member_weights(2);
        assert!(
            back[1].1.equal(&weights[2][1].1),
            "weights read back per member"
        );
    }
}
