//! Many models of one shape as one: K members, each with its own weights,
//! stacked on a leading member dimension. libtorch has no recurrent op for
//! that, so each cell composes its recurrence from batched matmuls
//! (`baddbmm`) over the member dimension (`cells`): one set of kernel
//! launches serves every member, and no value of one member ever reaches
//! another (a member's NaN stays in its own slice; block-diagonal weights
//! through the fused ops would spread it, since 0 x NaN is NaN). Gate order
//! and formulas are PyTorch's, so a member computes what the single model
//! computes; tests prove it against libtorch's own ops where the cell has
//! one, and every cell's pack against its members run alone.

use anyhow::{bail, ensure, Context, Result};
use tch::{nn, Device, Tensor};

use super::cells::CellDef;
use super::network::{head, Network, Read};
use super::shape::{ModelSpec, Param};
use super::weights::Weights;
use crate::config::{Cell, Kernel};

/// What every member of a pack shares: the cell and the sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub cell: Cell,
    pub input_size: i64,
    pub units: i64,
    pub layers: i64,
    pub steps: i64,
}

impl Shape {
    pub fn of(spec: &ModelSpec) -> Shape {
        Shape {
            cell: spec.cell,
            input_size: spec.input_size,
            units: spec.units,
            layers: spec.layers,
            steps: spec.steps,
        }
    }
}

/// One parameter of a layer: its `[K, ...]` variable and, when some member
/// does not train it (Keras's missing `bias_hh`), a `[K, 1, ...]` mask of
/// 0 for those members and 1 for the others. Multiplying by it keeps those
/// members' gradient, and so their Adam step, at zero.
pub(super) struct Weight {
    pub(super) var: Tensor,
    pub(super) mask: Option<Tensor>,
}

impl Weight {
    /// The value the recurrence reads: masked where a member does not train it.
    pub(super) fn value(&self) -> Tensor {
        match &self.mask {
            Some(mask) => &self.var * mask,
            None => self.var.shallow_clone(),
        }
    }
}

/// K members' weights (`[K, ...]` variables named like PyTorch's, one per
/// parameter) and the recurrence over them.
pub struct PackedModel {
    pub shape: Shape,
    pub members: i64,
    spec: ModelSpec,
    vs: nn::VarStore,
    layers: Vec<Vec<Weight>>,
    head_weight: Tensor,
    head_bias: Tensor,
}

impl PackedModel {
    /// Every variable in float64: the exact gradient the kernels' tests
    /// measure float32 against.
    #[cfg(test)]
    pub fn in_double(&mut self) {
        self.vs.double();
    }

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
        let mask = |p: &Param| -> Option<Tensor> {
            let trained: Vec<f32> = specs
                .iter()
                .map(|s| if s.is_trainable(p) { 1.0 } else { 0.0 })
                .collect();
            trained.contains(&0.0).then(|| {
                let mut dims = vec![k];
                dims.extend(std::iter::repeat_n(1, p.shape.len()));
                Tensor::from_slice(&trained)
                    .view(dims.as_slice())
                    .to(device)
            })
        };
        let params = specs[0].parameters();
        let mut layers: Vec<Vec<Weight>> = (0..shape.layers).map(|_| Vec::new()).collect();
        let (mut head_weight, mut head_bias) = (None, None);
        for p in &params {
            let v = var(p)?;
            match p.layer {
                Some(l) => layers[l as usize].push(Weight {
                    var: v,
                    mask: mask(p),
                }),
                None if p.leaf == "weight" => head_weight = Some(v),
                None => head_bias = Some(v),
            }
        }
        Ok(PackedModel {
            shape,
            members: k,
            spec: specs[0],
            vs,
            layers,
            head_weight: head_weight.expect("a head weight"),
            head_bias: head_bias.expect("a head bias"),
        })
    }

    /// The cell's definition.
    pub(super) fn def(&self) -> &'static dyn CellDef {
        self.spec.def()
    }

    /// The layers, and the head's weight and bias, for the hand-written
    /// recurrence over the same weights.
    pub(super) fn parts(&self) -> (&[Vec<Weight>], &Tensor, &Tensor) {
        (&self.layers, &self.head_weight, &self.head_bias)
    }

    /// `x`: `[K, batch, steps, input]` → the head on the read outputs.
    fn forward_all(&self, x: &Tensor, read: &Read) -> Tensor {
        let def = self.def();
        let mut input = x.shallow_clone();
        let mut last = None;
        for (index, layer) in self.layers.iter().enumerate() {
            let w: Vec<Tensor> = layer.iter().map(Weight::value).collect();
            let every = index + 1 < self.layers.len() || !matches!(read, Read::Last);
            let out = def.forward(&w, &input, every);
            if let Some(all) = out.every {
                input = all;
            }
            last = Some(out.last);
        }
        let features = match read {
            Read::Last => last.expect("a layer"),
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

    fn kernel(&self) -> Kernel {
        Kernel::Composed
    }

    fn member_weights(&self, k: i64) -> Weights {
        let mut tensors: Vec<&Tensor> = Vec::new();
        for layer in &self.layers {
            tensors.extend(layer.iter().map(|w| &w.var));
        }
        tensors.extend([&self.head_weight, &self.head_bias]);
        self.spec
            .parameters()
            .into_iter()
            .zip(tensors)
            .map(|(p, t)| (p.name, t.get(k).detach().to(Device::Cpu).contiguous()))
            .collect()
    }

    fn constrain(&self) {
        let def = self.def();
        tch::no_grad(|| {
            for (index, layer) in self.layers.iter().enumerate() {
                let w: Vec<Tensor> = layer.iter().map(|w| w.var.shallow_clone()).collect();
                def.constrain(&self.spec.layer(index as i64), &w);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    use crate::config::InitScheme;
    use crate::nn::cells;
    use crate::nn::fused::FusedModel;
    use crate::nn::init::draw_weights;
    use crate::nn::seed::rng_lock;
    use crate::nn::weights::copy;

    fn spec(cell: Cell, init: InitScheme) -> ModelSpec {
        ModelSpec::new(cell, 6, 2, init)
    }

    /// Each member's prediction and gradient equal its own single model's
    /// (libtorch's fused ops), for every cell that has one, with mixed
    /// init schemes.
    #[test]
    fn members_compute_what_their_single_models_compute() {
        let with_libtorch = Cell::all()
            .iter()
            .copied()
            .filter(|&c| cells::has_libtorch(cells::def(c)));
        for cell in with_libtorch {
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

    /// For every cell: each member of a pack of three (mixed init schemes)
    /// computes the prediction and gradient it computes alone.
    #[test]
    fn every_cell_computes_in_a_pack_what_it_computes_alone() {
        for &cell in Cell::all() {
            let specs = [
                spec(cell, InitScheme::Keras),
                spec(cell, InitScheme::Torch),
                spec(cell, InitScheme::Keras),
            ];
            let weights: Vec<Weights> = specs
                .iter()
                .enumerate()
                .map(|(i, s)| draw_weights(s, 30 + i as u64))
                .collect();
            let x = {
                let _rng = rng_lock();
                tch::manual_seed(4);
                Tensor::rand([3, 5, 7, 2], (Kind::Float, Device::Cpu))
            };
            let at = Tensor::from_slice(&[6i64, 2, 4, 0, 5]).repeat([3, 1]);
            let pack = PackedModel::new(&specs, &weights, Device::Cpu).unwrap();
            let out = pack.forward(&x, &Read::At(&at));
            out.square().sum(Kind::Float).backward();
            let pack_vars = pack.var_store().variables();
            for k in 0..3 {
                let alone =
                    PackedModel::new(&specs[k..k + 1], &[copy(&weights[k])], Device::Cpu).unwrap();
                let at_k = at.narrow(0, k as i64, 1);
                let own = alone.forward(&x.narrow(0, k as i64, 1), &Read::At(&at_k));
                let err = (out.get(k as i64) - own.get(0))
                    .abs()
                    .max()
                    .double_value(&[]);
                assert!(err < 1e-6, "{cell} member {k}: prediction differs by {err}");
                own.square().sum(Kind::Float).backward();
                for (name, v) in alone.var_store().variables() {
                    let err = (v.grad().get(0) - pack_vars[&name].grad().get(k as i64))
                        .abs()
                        .max()
                        .double_value(&[]);
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
