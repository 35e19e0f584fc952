//! The packed model's weights with the recurrence's forward and backward
//! written by hand, K >= 1 members: the hand-written kernel (libtorch ops
//! per step, the Elman RNN and the GRU) or the native one (a layer's
//! whole sequence in one call each way); both are a `cells::HandWritten`. Autograd sees only the head, on a leaf
//! standing for the last layer's outputs; `backward` carries the loss's
//! gradient at that leaf down the layers by hand and hands each weight its
//! gradient.

use std::any::Any;
use std::cell::RefCell;

use anyhow::{Context, Result};
use tch::{nn, Device, Kind, Tensor};

use super::cells::handwritten::OutputGrad;
use super::cells::HandWritten as Backward;
use super::network::{head, Network, Read};
use super::packed::{PackedModel, Weight};
use super::shape::ModelSpec;
use super::weights::Weights;
use crate::config::Kernel;

/// What one training forward left for its backward.
struct Taped {
    tapes: Vec<Box<dyn Any>>,
    /// The leaf autograd saw: the last layer's last output `[K, B, H]`, or
    /// every step's (`[K, L, B, H]`).
    last: Tensor,
}

pub struct HandWritten {
    packed: PackedModel,
    cell: &'static dyn Backward,
    kernel: Kernel,
    taped: RefCell<Option<Taped>>,
}

impl HandWritten {
    /// The network computed by `kernel` (`Handwritten` or `Native`).
    pub fn new(
        specs: &[ModelSpec],
        weights: &[Weights],
        device: Device,
        kernel: Kernel,
    ) -> Result<HandWritten> {
        let def = specs[0].def();
        let cell = match kernel {
            Kernel::Native => def.native(),
            _ => def.handwritten(),
        };
        let cell = cell.with_context(|| match kernel {
            Kernel::Native => format!(
                "no native kernel for the {}; use --kernel auto",
                specs[0].cell
            ),
            _ => format!(
                "no hand-written backward for the {}; use --kernel libtorch or composed",
                specs[0].cell
            ),
        })?;
        Ok(HandWritten {
            packed: PackedModel::new(specs, weights, device)?,
            cell,
            kernel,
            taped: RefCell::new(None),
        })
    }
}

/// A layer's weights as the recurrence reads them (masked).
fn values(layer: &[Weight]) -> Vec<Tensor> {
    layer.iter().map(Weight::value).collect()
}

impl Network for HandWritten {
    fn members(&self) -> i64 {
        self.packed.members
    }

    fn forward(&self, x: &Tensor, read: &Read) -> Tensor {
        let (layers, head_weight, head_bias) = self.packed.parts();
        let steps = x.size()[2];
        let mut tapes = Vec::with_capacity(layers.len());
        let top = tch::no_grad(|| {
            let mut input = x.transpose(1, 2).contiguous();
            for layer in layers {
                let (h, tape) = self.cell.forward(&values(layer), &input);
                tapes.push(tape);
                input = h;
            }
            match read {
                Read::Last => input.select(1, steps - 1),
                _ => input,
            }
        });
        // The leaf autograd's graph starts from: the last output, or every
        // step's (`[K, L, B, H]`, time-major) when the answer is read elsewhere.
        let last = top.detach().set_requires_grad(true);
        let features = match read {
            Read::Last => last.shallow_clone(),
            _ => read.pick(&last.transpose(1, 2)),
        };
        let prediction = head(head_weight, head_bias, &features);
        // Under no_grad (evaluation) the head has no graph: keep no tape.
        if prediction.requires_grad() {
            *self.taped.borrow_mut() = Some(Taped { tapes, last });
        }
        prediction
    }

    fn backward(&self, loss: &Tensor) {
        loss.backward();
        let Taped { tapes, last } = self
            .taped
            .borrow_mut()
            .take()
            .expect("a training forward before backward");
        let (layers, _, _) = self.packed.parts();
        let surrogate = tch::no_grad(|| {
            let grad = last.grad();
            let mut d_out = match grad.dim() {
                3 => OutputGrad::Last(grad),
                _ => OutputGrad::Every(grad),
            };
            let mut terms = Vec::new();
            for (i, (layer, tape)) in layers.iter().zip(&tapes).enumerate().rev() {
                let (grads, input) =
                    self.cell
                        .backward(&values(layer), tape.as_ref(), &d_out, i > 0);
                for (w, g) in layer.iter().zip(grads) {
                    // Members that do not train a weight get none of its gradient.
                    let g = match &w.mask {
                        Some(mask) => g * mask,
                        None => g,
                    };
                    terms.push((w.var.shallow_clone(), g));
                }
                if let Some(input) = input {
                    d_out = OutputGrad::Every(input);
                }
            }
            terms
        });
        // Hands each weight its gradient through autograd's own
        // accumulation: d/dW sum(W * G) = G exactly.
        let total = surrogate
            .iter()
            .map(|(w, g)| (w * g).sum(Kind::Float))
            .reduce(|a, b| a + b)
            .expect("a layer");
        total.backward();
    }

    fn var_store(&self) -> &nn::VarStore {
        self.packed.var_store()
    }

    fn member_weights(&self, k: i64) -> Weights {
        self.packed.member_weights(k)
    }

    fn kernel(&self) -> Kernel {
        self.kernel
    }

    fn constrain(&self) {
        self.packed.constrain();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Cell, InitScheme};
    use crate::nn::cells;
    use crate::nn::init::draw_weights;
    use crate::nn::seed::rng_lock;
    use crate::nn::weights::copy;

    /// The largest difference between two tensors, relative to the larger
    /// one's scale.
    fn relative(a: &Tensor, b: &Tensor) -> f64 {
        let scale = b.abs().max().double_value(&[]).max(1e-12);
        (a - b).abs().max().double_value(&[]) / scale
    }

    /// The native kernel's products sum in another order than libtorch's
    /// per-step ops (one GEMM over all steps for each weight gradient, MKL
    /// called column-major): on 3 stacked layers its gradients differ from
    /// autograd's by up to 1.1e-6 relative (largest difference over largest
    /// value), and from the float64 gradient by up to 1.4e-6 where
    /// autograd's float32 is within 3.4e-7. The hand-written kernel's
    /// libtorch ops round as the CPU's vector width makes them: within
    /// 1e-6 of the float64 gradient on an AVX-512 Xeon, up to 1.14e-6 (rnn,
    /// 3 layers, K = 3) on an AMD EPYC. A broken backward is off by 1e-2
    /// or more.
    const TOLERANCE: f64 = 2e-6;

    /// The hand-written and native kernels give autograd's gradients
    /// through the composed recurrence, for every weight, every cell that
    /// has them, 1 and 3 members with mixed inits (Keras's frozen bias_hh
    /// included), 1 and 3 layers, read at the last step, at each row's own
    /// step and at every step.
    #[test]
    fn gradients_equal_autograds() {
        for kernel in [Kernel::Handwritten, Kernel::Native] {
            for cell in Cell::all() {
                let def = cells::def(*cell);
                let (has, tolerance) = match kernel {
                    Kernel::Native => (def.native().is_some(), TOLERANCE),
                    _ => (def.handwritten().is_some(), TOLERANCE),
                };
                if has {
                    kernel_matches_autograd(*cell, kernel, tolerance);
                }
            }
        }
    }

    /// `kernel`'s predictions and gradients against the composed model's,
    /// and its gradients against the composed model's in float64.
    pub(crate) fn kernel_matches_autograd(cell: Cell, kernel: Kernel, tolerance: f64) {
        for (members, layers) in [(1, 1), (3, 3)] {
            let specs: Vec<ModelSpec> = (0..members)
                .map(|m| {
                    let init = if m % 2 == 0 {
                        InitScheme::Keras
                    } else {
                        InitScheme::Torch
                    };
                    ModelSpec::new(cell, 6, layers, init)
                })
                .collect();
            let weights: Vec<Weights> = specs
                .iter()
                .enumerate()
                .map(|(m, s)| draw_weights(s, 20 + m as u64))
                .collect();
            let x = {
                let _rng = rng_lock();
                tch::manual_seed(5);
                Tensor::rand([members, 4, 9, 2], (Kind::Float, Device::Cpu))
            };
            // Each row read at its own step too, and every step.
            let at = Tensor::from_slice(&[8i64, 3, 6, 0]).repeat([members, 1]);
            let composed = PackedModel::new(
                &specs,
                &weights.iter().map(copy).collect::<Vec<_>>(),
                Device::Cpu,
            )
            .unwrap();
            let manual = HandWritten::new(&specs, &weights, Device::Cpu, kernel).unwrap();
            let mut exact = PackedModel::new(
                &specs,
                &weights.iter().map(copy).collect::<Vec<_>>(),
                Device::Cpu,
            )
            .unwrap();
            exact.in_double();
            for read in [Read::Last, Read::At(&at), Read::Every] {
                let mut outs = Vec::new();
                for (net, double) in [
                    (&composed as &dyn Network, false),
                    (&manual, false),
                    (&exact, true),
                ] {
                    let _ = net
                        .var_store()
                        .variables()
                        .values()
                        .map(|v| v.grad())
                        .filter(Tensor::defined)
                        .map(|mut g| g.zero_())
                        .count();
                    let x = match double {
                        true => x.to_kind(Kind::Double),
                        false => x.shallow_clone(),
                    };
                    let prediction = net.forward(&x, &read);
                    let loss = (&prediction - 0.3).square().sum(Kind::Float);
                    net.backward(&loss);
                    outs.push(prediction);
                }
                let err = relative(&outs[1], &outs[0]);
                assert!(
                    err < tolerance,
                    "{kernel} {cell} K={members}: predictions differ by {err}"
                );
                let (a, b) = (
                    composed.var_store().variables(),
                    manual.var_store().variables(),
                );
                for (name, va) in &a {
                    let err = relative(&b[name].grad(), &va.grad());
                    let exact = exact.var_store().variables()[name]
                        .grad()
                        .to_kind(Kind::Float);
                    let off = relative(&b[name].grad(), &exact);
                    assert!(
                        off < tolerance,
                        "{kernel} {cell} K={members} layers={layers} {name}: {off} from the float64 gradient"
                    );
                    assert!(
                            err < tolerance,
                            "{kernel} {cell} K={members} layers={layers} {name}: gradient differs by {err}"
                        );
                }
            }
        }
    }

    #[test]
    fn evaluation_keeps_no_tape_and_an_lstm_is_refused() {
        let spec = ModelSpec::new(Cell::Gru, 4, 2, InitScheme::Keras);
        let net = HandWritten::new(
            &[spec],
            &[draw_weights(&spec, 1)],
            Device::Cpu,
            Kernel::Handwritten,
        )
        .unwrap();
        let x = Tensor::ones([1, 3, 5, 2], (Kind::Float, Device::Cpu));
        let _ = tch::no_grad(|| net.forward(&x, &Read::Last));
        assert!(net.taped.borrow().is_none());
        let lstm = ModelSpec::new(Cell::Lstm, 4, 2, InitScheme::Keras);
        let err = HandWritten::new(
            &[lstm],
            &[draw_weights(&lstm, 1)],
            Device::Cpu,
            Kernel::Handwritten,
        )
        .err()
        .unwrap();
        assert_eq!(
            err.to_string(),
            "no hand-written backward for the lstm; use --kernel libtorch or composed"
        );
    }
}
