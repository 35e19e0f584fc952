//! The two Adams a run can train with, over its weights one tensor at a
//! time or over one flat buffer of them all (`flat`; the same numbers bit
//! for bit, fewer ops a step). `torch` is libtorch's own (`nn::Adam`,
//! PyTorch's formula: epsilon added after bias correction). `keras`
//! follows Keras 3's `Adam.update_step` exactly: the bias correction
//! folded into the step size, epsilon added to the uncorrected sqrt(v),
//! in float32 — so its effective epsilon is 1e-7 / sqrt(1 - 0.999^t) in
//! PyTorch's terms, large while v is tiny in the first steps.

mod flat;
mod keras;
mod torch_adam;

use anyhow::{ensure, Context, Result};
use tch::{nn, Device, Tensor};

use crate::config::{AdamKind, AdamLayout, Kernel, TrainConfig};
use crate::nn::Network;
use flat::Flat;
pub use keras::KerasAdam;
use torch_adam::TorchAdam;

/// Zeroes each of `vars`' gradients where it has one.
fn zero_grads(vars: &mut [Tensor]) {
    for v in vars {
        let mut g = v.grad();
        if g.defined() {
            let _ = g.detach_().zero_();
        }
    }
}

/// Adam's betas, Keras's and PyTorch's defaults alike.
const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;

enum Adam {
    Torch(TorchAdam),
    Keras(KerasAdam),
}

pub struct Optimizer {
    adam: Adam,
    /// The one buffer of weights and gradients, when the layout is flat.
    flat: Option<Flat>,
    /// The trainable variables' shapes, in the order Adam holds them.
    shapes: Vec<Vec<i64>>,
}

impl Optimizer {
    /// The Adam of `config` over the trainable variables of `vs`, laid out
    /// as `layout` says.
    /// The layout Adam takes for `net`: as asked, except that libtorch's
    /// fused ops on CUDA keep the weights where tch put them for cuDNN (one
    /// buffer in cuDNN's own layout, `flatten_parameters`); moving them into
    /// Adam's buffer would make cuDNN copy them on every call.
    pub fn layout_for(asked: AdamLayout, net: &dyn Network, device: Device) -> AdamLayout {
        match device.is_cuda() && net.kernel() == Kernel::Libtorch {
            true => AdamLayout::PerTensor,
            false => asked,
        }
    }

    pub fn new(vs: &nn::VarStore, config: &TrainConfig, layout: AdamLayout) -> Result<Optimizer> {
        let vars = vs.trainable_variables();
        let shapes = vars.iter().map(Tensor::size).collect();
        let flat = match layout {
            AdamLayout::Flat => {
                Some(Flat::gather(&vars).context("gathering the weights into one buffer")?)
            }
            AdamLayout::PerTensor => None,
        };
        let stepped: Vec<Tensor> = match &flat {
            Some(f) => vec![f.param.shallow_clone()],
            None => vars,
        };
        let adam = match config.adam {
            AdamKind::Torch => Adam::Torch(TorchAdam::new(stepped, config.lr, config.adam_eps)),
            AdamKind::Keras => Adam::Keras(KerasAdam::new(stepped, config.lr, config.adam_eps)),
        };
        Ok(Optimizer { adam, flat, shapes })
    }

    /// Steps taken so far.
    pub fn steps(&self) -> i64 {
        match &self.adam {
            Adam::Torch(o) => o.step,
            Adam::Keras(o) => o.step,
        }
    }

    /// Each trainable variable's two moments (mean, squared mean), shaped
    /// as the variable, in `trainable_variables()` order: views of the
    /// optimizer's own state, so copying into them restores it.
    pub fn moments(&self) -> Vec<(Tensor, Tensor)> {
        let (m, v) = match &self.adam {
            Adam::Torch(o) => (&o.m, &o.v),
            Adam::Keras(o) => (&o.m, &o.v),
        };
        if self.flat.is_none() {
            return m
                .iter()
                .zip(v)
                .map(|(m, v)| (m.shallow_clone(), v.shallow_clone()))
                .collect();
        }
        let mut offset = 0;
        self.shapes
            .iter()
            .map(|shape| {
                let n: i64 = shape.iter().product();
                let part = |t: &Tensor| t.narrow(0, offset, n).view(shape.as_slice());
                let pair = (part(&m[0]), part(&v[0]));
                offset += n;
                pair
            })
            .collect()
    }

    /// Restores the step count (the moments are restored through
    /// [`Optimizer::moments`]).
    pub fn set_steps(&mut self, steps: i64) -> Result<()> {
        ensure!(steps >= 0, "a negative Adam step count");
        match &mut self.adam {
            Adam::Torch(o) => o.step = steps,
            Adam::Keras(o) => o.step = steps,
        }
        Ok(())
    }

    /// Zeroes the gradients, runs `backward` (which fills them) and takes
    /// one step.
    pub fn backward_step(&mut self, backward: impl FnOnce()) {
        match (&mut self.flat, &mut self.adam) {
            // Never libtorch's zero_grad here: it would drop the buffer's views.
            (Some(f), _) => f.zero_grad(),
            (None, Adam::Torch(o)) => o.zero_grad(),
            (None, Adam::Keras(o)) => o.zero_grad(),
        }
        backward();
        tch::no_grad(|| match &mut self.adam {
            Adam::Torch(o) => o.step(),
            Adam::Keras(o) => o.step(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Cell, InitScheme, Kernel};
    use crate::nn::ModelSpec;
    use crate::nn::{init::draw_weights, kernel};

    /// Only libtorch's fused ops on CUDA keep the per-tensor Adam (the
    /// device is only asked whether it is CUDA: no GPU needed).
    #[test]
    fn a_lone_cudnn_run_keeps_its_weights_where_cudnn_wants_them() {
        let spec = ModelSpec::new(Cell::Gru, 4, 1, InitScheme::Keras);
        let net = |k| kernel::build(&[spec], vec![draw_weights(&spec, 1)], Device::Cpu, k).unwrap();
        let (fused, manual) = (net(Kernel::Libtorch), net(Kernel::Handwritten));
        let on = |net: &dyn Network, device| Optimizer::layout_for(AdamLayout::Flat, net, device);
        assert_eq!(on(&*fused, Device::Cuda(0)), AdamLayout::PerTensor);
        assert_eq!(on(&*fused, Device::Cpu), AdamLayout::Flat);
        assert_eq!(on(&*manual, Device::Cuda(0)), AdamLayout::Flat);
        assert_eq!(
            Optimizer::layout_for(AdamLayout::PerTensor, &*manual, Device::Cpu),
            AdamLayout::PerTensor
        );
    }
}
