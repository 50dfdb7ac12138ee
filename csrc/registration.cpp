// The infomix operator namespace. Each op family in csrc/<family>/ adds its schemas with
// TORCH_LIBRARY_FRAGMENT(infomix, m) and its kernels with TORCH_LIBRARY_IMPL(infomix, CPU|CUDA, m);
// fake (meta) kernels and autograd formulas are registered in Python by infomix.ops.
#include <torch/library.h>

TORCH_LIBRARY(infomix, m) {}
