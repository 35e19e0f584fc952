//! The task's loss of K members at once: per member, for the gradient (a
//! `[K]` tensor on the device) and for the record (one number per member,
//! as Keras's `evaluate` sums it), and per-member gradient-norm clipping.

use tch::{Kind, Reduction, Tensor};

use crate::config::Loss;

/// Each member's loss on a batch, `[K]`: `out` `[K, B, outputs]` (or
/// `[K, B, L, outputs]`) against `y` `[K, B, 1]` values or `[K, B]`
/// (`[K, B, L]`) classes. A lone member reduces with libtorch's own loss,
/// as a single PyTorch model is trained, so its gradient is rounded
/// exactly so (for the MSE, 2/N folded into one factor).
pub fn batch_losses(loss: Loss, out: &Tensor, y: &Tensor) -> Tensor {
    let k = out.size()[0];
    match loss {
        Loss::Mse if k == 1 => out.mse_loss(y, Reduction::Mean).reshape([1]),
        Loss::Mse => (out - y)
            .square()
            .reshape([k, -1])
            .mean_dim(1, false, Kind::Float),
        Loss::CrossEntropy if k == 1 => {
            let classes = out.size()[out.dim() - 1];
            out.reshape([-1, classes])
                .cross_entropy_loss::<Tensor>(&y.reshape([-1]), None, Reduction::Mean, -100, 0.0)
                .reshape([1])
        }
        Loss::CrossEntropy => nll(out, y).reshape([k, -1]).mean_dim(1, false, Kind::Float),
    }
}

/// Each scored entry's negative log-likelihood, `y`'s shape.
fn nll(out: &Tensor, y: &Tensor) -> Tensor {
    -out.log_softmax(-1, Kind::Float)
        .gather(-1, &y.unsqueeze(-1), false)
        .squeeze_dim(-1)
}

/// Each member's loss over a whole set (`out` and `y` as for
/// [`batch_losses`]): every entry's loss summed in float32 and divided in
/// float64 by their count, the sum Keras's `evaluate` reports.
pub fn member_losses(loss: Loss, out: &Tensor, y: &Tensor) -> Vec<f64> {
    (0..out.size()[0])
        .map(|k| set_loss(loss, &out.get(k), &y.get(k)))
        .collect()
}

/// One member's loss over a set: `out` `[rows, ...]` against `y`.
pub fn set_loss(loss: Loss, out: &Tensor, y: &Tensor) -> f64 {
    let entries = match loss {
        Loss::Mse => (out - y).pow_tensor_scalar(2),
        Loss::CrossEntropy => nll(out, y),
    };
    entries.sum(Kind::Float).double_value(&[]) / entries.numel() as f64
}

/// The gradients `vars` have (a frozen weight has none).
fn defined_grads(vars: &[Tensor]) -> Vec<Tensor> {
    vars.iter()
        .map(Tensor::grad)
        .filter(Tensor::defined)
        .collect()
}

/// Each of K members' gradient's global 2-norm, `[K]`, as PyTorch's
/// `clip_grad_norm_` takes it: the norm of each weight's gradient, then
/// the norm of those. With K > 1 each variable is `[K, ...]`, member
/// first; with one member, any shape. Zero where no gradient is defined.
pub fn grad_norms(vars: &[Tensor], members: i64) -> Tensor {
    let grads = defined_grads(vars);
    tch::no_grad(|| {
        if grads.is_empty() {
            let device = vars.first().map_or(tch::Device::Cpu, Tensor::device);
            return Tensor::zeros([members], (Kind::Float, device));
        }
        if members == 1 {
            let norms: Vec<Tensor> = grads.iter().map(Tensor::norm).collect();
            return Tensor::stack(&norms, 0).norm().reshape([1]);
        }
        let norms: Vec<Tensor> = grads
            .iter()
            .map(|g| {
                g.reshape([members, -1])
                    .norm_scalaropt_dim(2, [1].as_slice(), false)
            })
            .collect();
        Tensor::stack(&norms, 1).norm_scalaropt_dim(2, [1].as_slice(), false)
    })
}

/// PyTorch's `clip_grad_norm_(max_norm)` for each of K members alone:
/// every gradient scaled by `min(1, max_norm / (norm + 1e-6))`, `norms`
/// the members' global norms ([`grad_norms`]).
pub fn clip_grad_norms(vars: &[Tensor], members: i64, max_norm: f64, norms: &Tensor) {
    let grads = defined_grads(vars);
    tch::no_grad(|| {
        // As PyTorch's `max_norm / (total + 1e-6)` computes it: Python's
        // float / tensor is `reciprocal() * max_norm`.
        let coef = ((norms + 1e-6).reciprocal() * max_norm).clamp_max(1.0);
        for g in &grads {
            let scale = if members == 1 {
                coef.reshape([] as [i64; 0])
            } else {
                let mut shape = vec![1i64; g.dim()];
                shape[0] = members;
                coef.view(shape.as_slice())
            };
            let _ = g.shallow_clone().g_mul_(&scale);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn clipping_scales_each_member_to_its_own_norm() {
        // Member 0: gradient norm 5 (3, 4), clipped to 1; member 1: 0.5, kept.
        let a = Tensor::zeros([2, 2], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let target = Tensor::from_slice(&[3.0f32, 4.0, 0.3, 0.4]).view([2, 2]);
        (&a * &target).sum(Kind::Float).backward();
        let vars = [a.shallow_clone()];
        let norms = grad_norms(&vars, 2);
        assert_eq!(Vec::<f32>::try_from(&norms).unwrap(), [5.0, 0.5]);
        clip_grad_norms(&vars, 2, 1.0, &norms);
        let g = Vec::<f32>::try_from(a.grad().flatten(0, -1)).unwrap();
        let want = [0.6, 0.8, 0.3, 0.4];
        for (g, w) in g.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{g} vs {w}");
        }
    }

    #[test]
    fn a_lone_member_cross_entropy_equals_the_per_member_formula() {
        let out = Tensor::randn([1, 6, 5, 4], (Kind::Float, Device::Cpu));
        let y = Tensor::randint(4, [1, 6, 5], (Kind::Int64, Device::Cpu));
        let lone = batch_losses(Loss::CrossEntropy, &out, &y).double_value(&[0]);
        let packed = batch_losses(
            Loss::CrossEntropy,
            &Tensor::cat(&[&out, &out], 0),
            &Tensor::cat(&[&y, &y], 0),
        );
        assert!((lone - packed.double_value(&[1])).abs() < 1e-6);
        assert!((lone - member_losses(Loss::CrossEntropy, &out, &y)[0]).abs() < 1e-6);
    }
}
