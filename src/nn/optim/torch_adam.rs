//! libtorch's own Adam (`torch::optim::Adam`, PyTorch's formula), its
//! state held here so a checkpoint can save and restore it: each step is
//! libtorch's C++ step itself, called through the shim in grad.cpp.

use std::ffi::c_void;

use tch::Tensor;

use super::{BETA1, BETA2};

extern "C" {
    // src/nn/optim/grad.cpp
    #[allow(clippy::too_many_arguments)]
    fn rnn_lab_torch_adam_step(
        p: *mut c_void,
        grad: *const c_void,
        exp_avg: *mut c_void,
        exp_avg_sq: *mut c_void,
        step: i64,
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
    ) -> i32;
}

pub struct TorchAdam {
    vars: Vec<Tensor>,
    pub(super) m: Vec<Tensor>,
    pub(super) v: Vec<Tensor>,
    lr: f64,
    eps: f64,
    /// Steps taken (libtorch counts each parameter's; they step together).
    pub(super) step: i64,
}

impl TorchAdam {
    pub fn new(vars: Vec<Tensor>, lr: f64, eps: f64) -> TorchAdam {
        let zeros = |vars: &[Tensor]| vars.iter().map(|v| v.detach().zeros_like()).collect();
        TorchAdam {
            m: zeros(&vars),
            v: zeros(&vars),
            vars,
            lr,
            eps,
            step: 0,
        }
    }

    pub fn zero_grad(&mut self) {
        super::zero_grads(&mut self.vars);
    }

    pub fn step(&mut self) {
        self.step += 1;
        for ((var, m), v) in self.vars.iter_mut().zip(&mut self.m).zip(&mut self.v) {
            let g = var.grad();
            if !g.defined() {
                continue; // as libtorch: a parameter without a gradient stays
            }
            // SAFETY: all four are live tch tensors (at::Tensor pointers)
            // of one shape, kind and device; the shim catches C++ errors.
            let refused = unsafe {
                rnn_lab_torch_adam_step(
                    var.as_mut_ptr().cast(),
                    g.as_ptr().cast(),
                    m.as_mut_ptr().cast(),
                    v.as_mut_ptr().cast(),
                    self.step,
                    self.lr,
                    BETA1,
                    BETA2,
                    self.eps,
                )
            };
            assert_eq!(refused, 0, "libtorch refused an Adam step");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn, COptimizer, Device, Kind};

    /// Forty steps on a small quadratic with libtorch's own optimizer and
    /// with this one: the same weights, bit for bit.
    #[test]
    fn steps_as_libtorchs_adam_bit_for_bit() {
        let run = |ours: bool| -> Vec<f32> {
            let _rng = crate::nn::seed::rng_lock();
            let vs = nn::VarStore::new(Device::Cpu);
            let w = vs
                .root()
                .var("w", &[3, 5], nn::Init::Uniform { lo: -1.0, up: 1.0 });
            tch::manual_seed(3);
            let _ = tch::no_grad(|| {
                w.shallow_clone()
                    .copy_(&Tensor::randn([3, 5], (Kind::Float, Device::Cpu)))
            });
            let x = Tensor::randn([7, 3], (Kind::Float, Device::Cpu));
            let vars = vs.trainable_variables();
            let mut theirs = COptimizer::adam(3e-3, BETA1, BETA2, 0.0, 1e-8, false).unwrap();
            theirs.add_parameters(&vars[0], 0).unwrap();
            let mut mine = TorchAdam::new(vars, 3e-3, 1e-8);
            for _ in 0..40 {
                let loss = x.matmul(&w).tanh().square().sum(Kind::Float);
                if ours {
                    mine.zero_grad();
                    loss.backward();
                    tch::no_grad(|| mine.step());
                } else {
                    theirs.zero_grad().unwrap();
                    loss.backward();
                    theirs.step().unwrap();
                }
            }
            Vec::try_from(w.detach().flatten(0, -1)).unwrap()
        };
        let (a, b) = (run(true), run(false));
        assert_eq!(
            a.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            b.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
    }
}
