// Schemas of the linear cross-entropy ops, shared by the CPU and CUDA sources (infomix/ops/cross_entropy.py has the
// same strings for builds without the compiled library; a test checks that they agree).
#pragma once

#define INFOMIX_XENT_FWD_SCHEMA                                                                                   \
  "linear_cross_entropy_fwd(Tensor x, Tensor weight, Tensor? bias, Tensor target, int ignore_index, int reduction, " \
  "float label_smoothing, float z_loss, float softcap, float filter_eps, bool grad_input, bool grad_weight, "        \
  "bool grad_bias, bool fp32_accumulation) -> (Tensor, Tensor, Tensor, Tensor, Tensor)"

#define INFOMIX_XENT_BWD_SCHEMA                                                                                    \
  "linear_cross_entropy_bwd(Tensor grad_loss, Tensor x, Tensor weight, Tensor? bias, Tensor target, "                \
  "int ignore_index, float label_smoothing, float z_loss, float softcap, float filter_eps, bool grad_input, "        \
  "bool grad_weight, bool grad_bias, bool fp32_accumulation) -> (Tensor, Tensor, Tensor)"
