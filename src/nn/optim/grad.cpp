// What tch does not expose of libtorch's C++ API, built by build.rs
// against the same libtorch headers: a variable's gradient set to a given
// tensor (a view into one flat buffer, see flat.rs), and one step of
// libtorch's own Adam over state rnn-lab holds (so a checkpoint can save
// and restore it; see torch_adam.rs).
#include <ATen/core/Tensor.h>
#include <ATen/TensorOperators.h>
#include <c10/core/GradMode.h>
#include <cmath>

// `var` and `grad` are tch's tensors (at::Tensor*). Returns 0, or 1 when
// libtorch refused.
extern "C" int rnn_lab_set_grad(at::Tensor* var, const at::Tensor* grad) {
  try {
    var->mutable_grad() = *grad;
    return 0;
  } catch (...) {
    return 1;
  }
}

// torch::optim::Adam::step for one parameter without weight decay or
// amsgrad, line for line as torch/csrc/api/src/optim/adam.cpp computes it
// (the same ops with the same scalars, so the same bits); `step` is the
// step being taken, counted from 1. Returns 0, or 1 when libtorch refused.
extern "C" int rnn_lab_torch_adam_step(at::Tensor* p, const at::Tensor* grad,
                                       at::Tensor* exp_avg, at::Tensor* exp_avg_sq,
                                       int64_t step, double lr, double beta1,
                                       double beta2, double eps) {
  try {
    c10::NoGradGuard no_grad;
    auto bias_correction1 = 1 - std::pow(beta1, step);
    auto bias_correction2 = 1 - std::pow(beta2, step);
    exp_avg->mul_(beta1).add_(*grad, 1 - beta1);
    exp_avg_sq->mul_(beta2).addcmul_(*grad, *grad, 1 - beta2);
    at::Tensor denom = (exp_avg_sq->sqrt() / std::sqrt(bias_correction2)).add_(eps);
    auto step_size = lr / bias_correction1;
    p->addcdiv_(*exp_avg, denom, -step_size);
    return 0;
  } catch (...) {
    return 1;
  }
}
