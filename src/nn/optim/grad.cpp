// Sets a variable's gradient to a given tensor (a view into one flat
// buffer, see flat.rs): libtorch's C++ API has `mutable_grad()`, tch does
// not expose it. Built by build.rs against the same libtorch headers.
#include <ATen/core/Tensor.h>

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
