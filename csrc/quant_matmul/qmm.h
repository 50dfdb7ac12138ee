// Operand checks and shapes of infomix::quant_matmul, shared by the CPU and CUDA kernels.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <vector>

namespace infomix {
namespace qmm {

// The schema, identical to QUANT_MATMUL_SCHEMA in src/infomix/ops/quant_matmul.py (a test compares them).
inline constexpr const char* kSchema =
    "quant_matmul(Tensor x, Tensor qdata, Tensor scales, Tensor? offsets, int bits, Tensor? bias=None) -> Tensor";

// Activation rows up to which the decode kernels (weights unpacked in registers) are used.
inline constexpr int64_t kDecodeRows = 16;

struct Shape {
  int64_t M;  // rows of x once flattened to [M, K]
  int64_t K;
  int64_t N;
  int64_t groups;
  int64_t group_size;
  std::vector<int64_t> out_sizes;
};

inline Shape check_operands(const at::Tensor& x, const at::Tensor& qdata, const at::Tensor& scales,
                            const std::optional<at::Tensor>& offsets, int64_t bits,
                            const std::optional<at::Tensor>& bias) {
  TORCH_CHECK(bits == 4 || bits == 8, "quant_matmul: bits must be 4 or 8, got ", bits);
  TORCH_CHECK(x.dim() >= 1, "quant_matmul: x must have at least one dimension (…, in_features)");
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16 || x.scalar_type() == at::kHalf,
              "quant_matmul: x must be float32, bfloat16 or float16, got ", x.scalar_type());
  TORCH_CHECK(qdata.dim() == 2 && qdata.scalar_type() == at::kByte,
              "quant_matmul: qdata must be a 2-D uint8 tensor [out_features, in_features * bits / 8], got ",
              qdata.scalar_type(), " of shape ", qdata.sizes());
  TORCH_CHECK(scales.dim() == 2 && scales.scalar_type() == at::kFloat,
              "quant_matmul: scales must be a 2-D float32 tensor [out_features, groups], got ", scales.scalar_type(),
              " of shape ", scales.sizes());
  const int64_t K = x.size(-1);
  const int64_t N = qdata.size(0);
  TORCH_CHECK(K > 0, "quant_matmul: x must have in_features > 0");
  TORCH_CHECK(qdata.size(1) * 8 == K * bits,
              "quant_matmul: qdata has ", qdata.size(1), " bytes per row but x has in_features=", K, " (expected ",
              K * bits / 8, " bytes for ", bits, "-bit codes)");
  TORCH_CHECK(scales.size(0) == N && scales.size(1) >= 1 && K % scales.size(1) == 0,
              "quant_matmul: scales must have shape [", N, ", groups] with groups dividing in_features=", K, ", got ",
              scales.sizes());
  const int64_t groups = scales.size(1);
  const int64_t group_size = K / groups;
  TORCH_CHECK(bits == 8 || group_size % 2 == 0, "quant_matmul: 4-bit codes need an even group size, got ", group_size);
  if (offsets.has_value()) {
    TORCH_CHECK(offsets->scalar_type() == at::kFloat && offsets->sizes() == scales.sizes(),
                "quant_matmul: offsets must be float32 with the shape of scales ", scales.sizes(), ", got ",
                offsets->scalar_type(), " of shape ", offsets->sizes());
    TORCH_CHECK(offsets->device() == x.device(), "quant_matmul: offsets must be on ", x.device());
  }
  if (bias.has_value()) {
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == N && bias->is_floating_point(),
                "quant_matmul: bias must be a floating 1-D tensor of size out_features=", N, ", got ",
                bias->scalar_type(), " of shape ", bias->sizes());
    TORCH_CHECK(bias->device() == x.device(), "quant_matmul: bias must be on ", x.device());
  }
  TORCH_CHECK(qdata.device() == x.device() && scales.device() == x.device(),
              "quant_matmul: x, qdata and scales must be on one device, got ", x.device(), ", ", qdata.device(), ", ",
              scales.device());
  Shape shape{x.numel() / K, K, N, groups, group_size, {}};
  shape.out_sizes = x.sizes().vec();
  shape.out_sizes.back() = N;
  return shape;
}

}  // namespace qmm
}  // namespace infomix
