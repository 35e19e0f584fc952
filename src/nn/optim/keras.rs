//! Keras 3's Adam, step for step in float32.

use tch::Tensor;

use super::{BETA1, BETA2};

/// Keras 3's Adam (`keras/src/optimizers/adam.py`, `update_step`).
pub struct KerasAdam {
    vars: Vec<Tensor>,
    pub(super) m: Vec<Tensor>,
    pub(super) v: Vec<Tensor>,
    lr: f32,
    eps: f32,
    pub(super) step: i64,
}

impl KerasAdam {
    pub fn new(vars: Vec<Tensor>, lr: f64, eps: f64) -> KerasAdam {
        let zeros = |vars: &[Tensor]| vars.iter().map(|v| v.zeros_like()).collect();
        KerasAdam {
            m: zeros(&vars),
            v: zeros(&vars),
            vars,
            lr: lr as f32,
            eps: eps as f32,
            step: 0,
        }
    }

    pub fn zero_grad(&mut self) {
        super::zero_grads(&mut self.vars);
    }

    pub fn step(&mut self) {
        self.step += 1;
        // As Keras computes it, in the variables' dtype (float32).
        let (b1, b2) = (BETA1 as f32, BETA2 as f32);
        let alpha =
            self.lr * (1.0 - b2.powi(self.step as i32)).sqrt() / (1.0 - b1.powi(self.step as i32));
        tch::no_grad(|| {
            for ((var, m), v) in self.vars.iter_mut().zip(&mut self.m).zip(&mut self.v) {
                let g = var.grad();
                if !g.defined() {
                    continue; // a frozen parameter (Keras's missing bias_hh)
                }
                // m += (g - m) * (1 - b1); v += (g^2 - v) * (1 - b2)
                let _ = m.g_add_(&((&g - &*m) * (1.0 - b1 as f64)));
                let _ = v.g_add_(&((g.square() - &*v) * (1.0 - b2 as f64)));
                // var -= m * alpha / (sqrt(v) + eps)
                let _ = var.g_sub_(&((&*m * alpha as f64) / (v.sqrt() + self.eps as f64)));
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn, Device, Kind};

    /// Three steps by hand, in float32, as Keras's update_step writes them.
    #[test]
    fn keras_adam_follows_keras_update_step() {
        let vs = nn::VarStore::new(Device::Cpu);
        let w = vs.root().var("w", &[2], nn::Init::Const(0.5));
        let mut opt = KerasAdam::new(vs.trainable_variables(), 1e-3, 1e-7);
        let (mut m, mut v, mut p) = ([0f32; 2], [0f32; 2], [0.5f32; 2]);
        let scale = [3.0f32, -0.01];
        for t in 1..=3 {
            let loss = (&w * Tensor::from_slice(&scale)).sum(Kind::Float) * w.sum(Kind::Float);
            opt.zero_grad();
            loss.backward();
            let g: Vec<f32> = Vec::try_from(w.grad()).unwrap();
            opt.step();
            let alpha = 1e-3f32 * (1.0 - 0.999f32.powi(t)).sqrt() / (1.0 - 0.9f32.powi(t));
            for i in 0..2 {
                m[i] += (g[i] - m[i]) * (1.0 - 0.9);
                v[i] += (g[i] * g[i] - v[i]) * (1.0 - 0.999);
                p[i] -= m[i] * alpha / (v[i].sqrt() + 1e-7);
            }
            let got: Vec<f32> = Vec::try_from(w.detach()).unwrap();
            for i in 0..2 {
                assert!((got[i] - p[i]).abs() <= 1e-7, "step {t}: {got:?} vs {p:?}");
            }
        }
    }
}
