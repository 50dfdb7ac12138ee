// The infomix operator namespace. Each op family in csrc/<family>/ adds its schemas with
// TORCH_LIBRARY_FRAGMENT(infomix, m) and its kernels with TORCH_LIBRARY_IMPL(infomix, CPU|CUDA, m).
#include <torch/library.h>

TORCH_LIBRARY(infomix, m) {
  // Fake (meta) kernels and autograd formulas live in Python, in infomix.ops.
  m.set_python_module("infomix.ops");
}
