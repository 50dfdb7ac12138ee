// CPU kernel of infomix::quant_matmul: y = x · dequant(W)ᵀ + bias with fp32 accumulation.
// Decode shapes (M ≤ 16) unpack codes in registers (AVX-512 or AVX2 when the CPU has it); larger M dequantises
// cache-sized row tiles of W and multiplies them with ATen's BLAS.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "quant_matmul/qmm.h"
#include "quant_matmul/qmm_kernels.h"

namespace infomix {
namespace qmm {

void dequant_rows_scalar(const Problem& p, int64_t n0, int64_t n1, float* out) {
  const int64_t K = p.K;
  const int64_t gs = p.group_size;
  const int64_t nb = full_blocks(gs);
  const float zero = -static_cast<float>(1 << (p.bits - 1));
  for (int64_t n = n0; n < n1; ++n) {
    const uint8_t* q = p.qdata + n * p.row_bytes;
    float* w = out + (n - n0) * K;
    for (int64_t g = 0; g < p.groups; ++g) {
      const float s = p.scales[n * p.groups + g];
      const float o = p.offsets ? p.offsets[n * p.groups + g] : zero * s;
      const int64_t k0 = g * gs;
      if (p.bits == 4) {
        for (int64_t b = 0; b < nb; ++b) {
          const uint8_t* bytes = q + (k0 + 16 * b) / 2;
          float* block = w + k0 + 16 * b;
          for (int i = 0; i < 8; ++i) {
            block[i] = static_cast<float>(bytes[i] & 15) * s + o;
            block[8 + i] = static_cast<float>(bytes[i] >> 4) * s + o;
          }
        }
        for (int64_t k = k0 + 16 * nb; k < k0 + gs; ++k) {
          w[k] = code_at<4>(q, k) * s + o;
        }
      } else {
        for (int64_t k = k0; k < k0 + gs; ++k) w[k] = code_at<8>(q, k) * s + o;
      }
    }
  }
}

void rows_scalar(const Problem& p, int64_t n0, int64_t n1) {
  std::vector<float> w(p.K);
  for (int64_t n = n0; n < n1; ++n) {
    dequant_rows_scalar(p, n, n + 1, w.data());
    for (int64_t m = 0; m < p.M; ++m) {
      const float* x = p.x + m * p.K;
      float acc = 0.f;
      for (int64_t k = 0; k < p.K; ++k) acc += w[k] * x[k];
      p.y[m * p.ldy + n] = acc;
    }
  }
}

namespace {

enum class Isa { kScalar, kAvx2, kAvx512 };

// Whether bfloat16 activations may take the AVX-512 BF16 kernel (INFOMIX_QMM_ISA=avx512 or lower caps it off).
bool bf16_kernel_allowed() {
  static const bool supported = [] {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
    return avx512bf16_compiled() && avx512_compiled() && __builtin_cpu_supports("avx512bf16") &&
           __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
#else
    return false;
#endif
  }();
  const char* cap = std::getenv("INFOMIX_QMM_ISA");
  return supported && (cap == nullptr || cap[0] == '\0');
}

// The widest kernels this CPU runs; INFOMIX_QMM_ISA=avx512, =avx2 or =scalar caps them (tests compare the paths).
Isa kernel_isa() {
  static const Isa best = [] {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
    if (avx512_compiled() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma")) {
      return Isa::kAvx512;
    }
    if (avx2_compiled() && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::kAvx2;
#endif
    return Isa::kScalar;
  }();
  const char* cap = std::getenv("INFOMIX_QMM_ISA");
  if (cap != nullptr && std::strcmp(cap, "scalar") == 0) return Isa::kScalar;
  if (cap != nullptr && std::strcmp(cap, "avx2") == 0 && best == Isa::kAvx512) return Isa::kAvx2;
  return best;
}

// The element order of x that a kernel expects (qmm_kernels.h).
enum class Order {
  kNatural,
  kPairs,   // 4-bit codes: each full `width`-element block of a group as its even elements, then its odd elements
  kPlanes,  // nibble-plane order of rows_avx512_planes
};

// One row of x (K elements of type T, read as float) into dst in `order`.
template <typename T>
void arrange_row(const T* src, float* dst, int64_t K, int64_t group_size, Order order, int64_t width) {
  if (order == Order::kNatural) {
    for (int64_t k = 0; k < K; ++k) dst[k] = static_cast<float>(src[k]);
  } else if (order == Order::kPlanes) {
    for (int64_t k0 = 0; k0 < K; k0 += kPlaneChunk) {
      for (int64_t d = 0; d < 16; ++d) {
        for (int64_t j = 0; j < 8; ++j) dst[k0 + 16 * j + d] = static_cast<float>(src[k0 + 8 * d + j]);
      }
    }
  } else {
    const int64_t nb = group_size / width, half = width / 2;
    for (int64_t k0 = 0; k0 < K; k0 += group_size) {
      for (int64_t b = 0; b < nb; ++b) {
        const int64_t k = k0 + width * b;
        for (int64_t i = 0; i < half; ++i) {
          dst[k + i] = static_cast<float>(src[k + 2 * i]);
          dst[k + half + i] = static_cast<float>(src[k + 2 * i + 1]);
        }
      }
      for (int64_t k = k0 + width * nb; k < k0 + group_size; ++k) dst[k] = static_cast<float>(src[k]);
    }
  }
}

// x [M, K] (contiguous) as float32 in `order`, converted and reordered in one pass (x itself when nothing changes).
at::Tensor arrange_activations(const at::Tensor& x, int64_t group_size, Order order, int64_t width) {
  if (order == Order::kNatural && x.scalar_type() == at::kFloat) return x;
  const at::Tensor src = x.scalar_type() == at::kHalf ? x.to(at::kFloat) : x;
  at::Tensor out = at::empty(x.sizes(), x.options().dtype(at::kFloat));
  const int64_t M = x.size(0), K = x.size(1);
  float* dst = out.data_ptr<float>();
  for (int64_t m = 0; m < M; ++m) {
    if (src.scalar_type() == at::kBFloat16) {
      arrange_row(src.data_ptr<at::BFloat16>() + m * K, dst + m * K, K, group_size, order, width);
    } else {
      arrange_row(src.data_ptr<float>() + m * K, dst + m * K, K, group_size, order, width);
    }
  }
  return out;
}

// out[:, n0:n1] = y[:, n0:n1] + bias[n0:n1] in out's dtype (y and out [M, N]; out may be y; bias float32 or null).
template <typename T>
void finish_columns(const float* y, T* out, const float* bias, int64_t M, int64_t N, int64_t n0, int64_t n1) {
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = n0; n < n1; ++n) {
      out[m * N + n] = static_cast<T>(y[m * N + n] + (bias ? bias[n] : 0.f));
    }
  }
}

at::Tensor quant_matmul_cpu(const at::Tensor& x, const at::Tensor& qdata, const at::Tensor& scales,
                            const std::optional<at::Tensor>& offsets, int64_t bits,
                            const std::optional<at::Tensor>& bias) {
  const Shape shape = check_operands(x, qdata, scales, offsets, bits, bias);
  const int64_t M = shape.M, K = shape.K, N = shape.N;
  const at::ScalarType out_type = x.scalar_type();
  if (M == 0 || N == 0) {
    at::Tensor y = at::empty({M, N}, x.options());
    if (bias.has_value() && M > 0) y.copy_(bias->expand({M, N}));
    return y.reshape(shape.out_sizes);
  }
  const Isa isa = kernel_isa();
  const bool decode = M <= kDecodeRows;
  // bfloat16 x on an AVX-512 BF16 CPU: codes meet x in vdpbf16ps (x_bf16 is exact: x was bfloat16).
  // A single row runs faster through the float32 kernels.
  const bool bf16 = decode && M >= 2 && isa == Isa::kAvx512 && out_type == at::kBFloat16 && bf16_kernel_allowed();
  // 4-bit codes in groups of 64 or of whole 128-element chunks take the nibble-plane AVX-512 kernel (except for bf16
  // above).
  const bool planes = decode && !bf16 && bits == 4 && isa == Isa::kAvx512 && K % kPlaneChunk == 0 &&
                      (shape.group_size % kPlaneChunk == 0 || shape.group_size == kPlaneChunk / 2);
  const int64_t block = isa == Isa::kAvx512 ? 32 : 16;
  const Order order =
      planes ? Order::kPlanes : (bits == 4 && shape.group_size >= block ? Order::kPairs : Order::kNatural);
  const at::Tensor xf = arrange_activations(x.reshape({M, K}).contiguous(), shape.group_size, order, block);
  const at::Tensor q = qdata.contiguous();
  const at::Tensor s = scales.contiguous();
  const at::Tensor o = offsets.has_value() ? offsets->contiguous() : at::Tensor();
  const at::Tensor b = bias.has_value() ? bias->to(at::kFloat).contiguous() : at::Tensor();
  // The kernels write float32 y; x's dtype and the bias are applied per column range by the thread that wrote it.
  at::Tensor out = at::empty({M, N}, x.options());
  at::Tensor y = out_type == at::kFloat ? out : at::empty({M, N}, x.options().dtype(at::kFloat));
  Problem p{xf.data_ptr<float>(), M, K, N, q.data_ptr<uint8_t>(), q.size(1), s.data_ptr<float>(),
            o.defined() ? o.data_ptr<float>() : nullptr, shape.groups, shape.group_size, static_cast<int>(bits),
            y.data_ptr<float>(), N};
  at::Tensor group_sums, x_bf16;
  if (!planes && isa != Isa::kScalar && ((decode && M <= kGroupedMaxRows) || bf16)) {
    group_sums = xf.view({M, shape.groups, shape.group_size}).sum(-1).contiguous();
    p.x_group_sums = group_sums.data_ptr<float>();
  }
  if (bf16) {
    x_bf16 = xf.to(at::kBFloat16);
    p.x_bf16 = reinterpret_cast<const uint16_t*>(x_bf16.data_ptr<at::BFloat16>());
  }
  const float* bias_f = b.defined() ? b.data_ptr<float>() : nullptr;
  const auto finish = [&](int64_t n0, int64_t n1) {
    switch (out_type) {
      case at::kFloat:
        if (bias_f) finish_columns(p.y, p.y, bias_f, M, N, n0, n1);
        break;
      case at::kBFloat16: finish_columns(p.y, out.data_ptr<at::BFloat16>(), bias_f, M, N, n0, n1); break;
      default: finish_columns(p.y, out.data_ptr<at::Half>(), bias_f, M, N, n0, n1); break;
    }
  };
  if (decode) {
    // Equal contiguous column ranges per thread, in multiples of 16 rows of W.
    at::parallel_for(0, N, 16, [&](int64_t n0, int64_t n1) {
      if (planes) {
        rows_avx512_planes(p, n0, n1);
      } else if (bf16) {
        rows_avx512bf16(p, n0, n1);
      } else {
        switch (isa) {
          case Isa::kAvx512: rows_avx512(p, n0, n1); break;
          case Isa::kAvx2: rows_avx2(p, n0, n1); break;
          default: rows_scalar(p, n0, n1); break;
        }
      }
      finish(n0, n1);
    });
  } else {
    // Tiles of about 1 MiB of dequantised W rows (an L2's worth), each multiplied by all of x.
    const int64_t tile = std::max<int64_t>(8, std::min<int64_t>(256, (1 << 20) / 4 / K / 8 * 8));
    const int64_t tiles = (N + tile - 1) / tile;
    at::parallel_for(0, tiles, 1, [&](int64_t t0, int64_t t1) {
      std::vector<float> w(tile * K);
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t n0 = t * tile, n1 = std::min(N, n0 + tile);
        switch (isa) {
          case Isa::kAvx512: dequant_rows_avx512(p, n0, n1, w.data()); break;
          case Isa::kAvx2: dequant_rows_avx2(p, n0, n1, w.data()); break;
          default: dequant_rows_scalar(p, n0, n1, w.data()); break;
        }
        const at::Tensor w_tile = at::from_blob(w.data(), {n1 - n0, K}, xf.options());
        y.narrow(1, n0, n1 - n0).copy_(at::mm(xf, w_tile.t()));
        finish(n0, n1);
      }
    });
  }
  return out.reshape(shape.out_sizes);
}

}  // namespace
}  // namespace qmm
}  // namespace infomix

TORCH_LIBRARY_FRAGMENT(infomix, m) { m.def(infomix::qmm::kSchema); }

TORCH_LIBRARY_IMPL(infomix, CPU, m) { m.impl("quant_matmul", &infomix::qmm::quant_matmul_cpu); }
