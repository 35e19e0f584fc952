//! Every trainable weight of a network moved into one buffer, and every
//! gradient into another: each variable keeps its identity (the network
//! still holds it) but its data becomes a view into `param` and its
//! gradient a view into `grad`, where autograd accumulates in place. An
//! optimizer step is then a handful of ops over one tensor instead of a
//! handful per weight (14 weights for the blog's two-layer models), and
//! zeroing the gradients one op.

use std::ffi::c_void;

use anyhow::{ensure, Result};
use tch::Tensor;

extern "C" {
    // src/nn/optim/grad.cpp
    fn rnn_lab_set_grad(var: *const c_void, grad: *const c_void) -> i32;
}

/// Sets `var`'s gradient to `grad` (same shape).
fn set_grad(var: &Tensor, grad: &Tensor) -> Result<()> {
    // SAFETY: both are live tch tensors, i.e. at::Tensor pointers.
    let refused = unsafe { rnn_lab_set_grad(var.as_ptr().cast(), grad.as_ptr().cast()) };
    ensure!(refused == 0, "libtorch refused to set a gradient buffer");
    Ok(())
}

pub struct Flat {
    /// Every trainable weight, one after another.
    pub param: Tensor,
    /// Their gradients, in the same places.
    pub grad: Tensor,
}

impl Flat {
    /// Moves `vars` (trainable, one device and kind) into one buffer.
    pub fn gather(vars: &[Tensor]) -> Result<Flat> {
        ensure!(!vars.is_empty(), "no trainable weights to optimize");
        tch::no_grad(|| {
            let parts: Vec<Tensor> = vars.iter().map(|v| v.detach().reshape([-1])).collect();
            let param = Tensor::f_cat(&parts, 0)?;
            let grad = param.f_zeros_like()?;
            let param = param.set_requires_grad(true);
            set_grad(&param, &grad)?;
            let mut offset = 0;
            for v in vars {
                let (n, shape) = (v.numel() as i64, v.size());
                let mut var = v.shallow_clone();
                var.set_data(
                    &param
                        .detach()
                        .f_narrow(0, offset, n)?
                        .f_view(shape.as_slice())?,
                );
                set_grad(
                    &var,
                    &grad.f_narrow(0, offset, n)?.f_view(shape.as_slice())?,
                )?;
                offset += n;
            }
            Ok(Flat { param, grad })
        })
    }

    pub fn zero_grad(&mut self) {
        let _ = self.grad.zero_();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn variables_live_in_the_buffers_and_autograd_fills_the_flat_gradient() {
        let cpu = (Kind::Float, Device::Cpu);
        let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0])
            .view([2, 2])
            .set_requires_grad(true);
        let b = Tensor::from_slice(&[5.0f32, 6.0]).set_requires_grad(true);
        let mut flat = Flat::gather(&[a.shallow_clone(), b.shallow_clone()]).unwrap();
        assert_eq!(
            Vec::<f32>::try_from(&flat.param).unwrap(),
            [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        );
        for _ in 0..2 {
            flat.zero_grad();
            ((&a * &a).sum(Kind::Float) + (&b * 3.0).sum(Kind::Float)).backward();
            // d/da a^2 = 2a, d/db 3b = 3, accumulated straight into the one buffer.
            assert_eq!(
                Vec::<f32>::try_from(&flat.grad).unwrap(),
                [2.0, 4.0, 6.0, 8.0, 3.0, 3.0]
            );
        }
        // A step on the buffer is a step on the variables.
        tch::no_grad(|| {
            let _ = flat.param.g_sub_(&Tensor::ones([6], cpu));
        });
        assert_eq!(Vec::<f32>::try_from(b.detach()).unwrap(), [4.0, 5.0]);
        assert!(a.requires_grad() && a.is_leaf());
    }
}
