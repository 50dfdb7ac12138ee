// CUDA kernels of infomix::quant_matmul: y = x · dequant(W)ᵀ + bias with fp32 accumulation.
// M ≤ 16 (decode): one warp per output feature streams its packed row once, each lane unpacking 8 codes
// per step in registers and multiplying them with every activation row. Larger M: 64×64 output tiles,
// with weight tiles dequantised into shared memory on the way in.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <cstdint>

#include "quant_matmul/qmm.h"

namespace infomix {
namespace qmm {
namespace {

constexpr int kWarpsPerBlock = 8;

struct Weights {
  const uint8_t* qdata;
  const float* scales;
  const float* offsets;  // null: symmetric, offset = -2^(bits-1) * scale
  int64_t row_bytes;
  int64_t groups;
  int64_t group_size;
};

template <int BITS>
__device__ __forceinline__ float group_offset(const Weights& w, int64_t index, float scale) {
  return w.offsets != nullptr ? w.offsets[index] : -static_cast<float>(1 << (BITS - 1)) * scale;
}

// Requires K % 8 == 0 and group_size % 8 == 0 (eight codes never straddle a group) and 16-byte aligned x.
template <int BITS, int MT>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    decode_kernel(const float* __restrict__ x, Weights w, const float* __restrict__ bias, float* __restrict__ y,
                  int M, int64_t K, int64_t N) {
  const int lane = threadIdx.x & 31;
  const int64_t n = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
  if (n >= N) return;
  const uint8_t* row = w.qdata + n * w.row_bytes;
  const float* scales = w.scales + n * w.groups;
  float acc[MT];
#pragma unroll
  for (int m = 0; m < MT; ++m) acc[m] = 0.f;
  for (int64_t k = static_cast<int64_t>(lane) * 8; k < K; k += 32 * 8) {
    const int64_t g = k / w.group_size;
    const float s = __ldg(scales + g);
    const float o = group_offset<BITS>(w, n * w.groups + g, s);
    float wv[8];
    if constexpr (BITS == 4) {
      const uint32_t packed = __ldg(reinterpret_cast<const uint32_t*>(row + k / 2));
#pragma unroll
      for (int j = 0; j < 8; ++j) wv[j] = fmaf(static_cast<float>((packed >> (4 * j)) & 15u), s, o);
    } else {
      const uint2 packed = __ldg(reinterpret_cast<const uint2*>(row + k));
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        wv[j] = fmaf(static_cast<float>((packed.x >> (8 * j)) & 255u), s, o);
        wv[4 + j] = fmaf(static_cast<float>((packed.y >> (8 * j)) & 255u), s, o);
      }
    }
#pragma unroll
    for (int m = 0; m < MT; ++m) {
      if (m < M) {
        const float4* xv = reinterpret_cast<const float4*>(x + m * K + k);
        const float4 a = __ldg(xv);
        const float4 b = __ldg(xv + 1);
        acc[m] += wv[0] * a.x + wv[1] * a.y + wv[2] * a.z + wv[3] * a.w + wv[4] * b.x + wv[5] * b.y + wv[6] * b.z +
                  wv[7] * b.w;
      }
    }
  }
  const float b = bias != nullptr ? bias[n] : 0.f;
#pragma unroll
  for (int m = 0; m < MT; ++m) {
    float v = acc[m];
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    if (lane == 0 && m < M) y[m * N + n] = v + b;
  }
}

constexpr int kTile = 64;   // output rows (M) and columns (N) per block
constexpr int kTileK = 32;  // reduction slice held in shared memory
constexpr int kTileThreads = 256;

template <int BITS>
__device__ __forceinline__ float dequant_element(const Weights& w, int64_t n, int64_t k) {
  const int64_t g = k / w.group_size;
  const float s = w.scales[n * w.groups + g];
  const float o = group_offset<BITS>(w, n * w.groups + g, s);
  const uint8_t byte = w.qdata[n * w.row_bytes + (BITS == 4 ? k / 2 : k)];
  const uint32_t code = BITS == 4 ? ((k & 1) ? (byte >> 4) : (byte & 15u)) : byte;
  return fmaf(static_cast<float>(code), s, o);
}

// Any shape: each 16×16 thread block computes a 64×64 tile of y, 4×4 outputs per thread.
template <int BITS>
__global__ void __launch_bounds__(kTileThreads)
    tiled_kernel(const float* __restrict__ x, Weights w, const float* __restrict__ bias, float* __restrict__ y,
                 int64_t M, int64_t K, int64_t N) {
  __shared__ float xs[kTileK][kTile + 4];
  __shared__ float ws[kTileK][kTile + 4];
  const int t = threadIdx.x;
  const int tx = t % 16, ty = t / 16;
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kTile;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kTile;
  float acc[4][4] = {};
  for (int64_t k0 = 0; k0 < K; k0 += kTileK) {
#pragma unroll
    for (int i = 0; i < kTile * kTileK / kTileThreads; ++i) {
      const int idx = t + i * kTileThreads;
      const int r = idx / kTileK, c = idx % kTileK;  // consecutive threads walk along k
      const int64_t k = k0 + c;
      const int64_t m = m0 + r, n = n0 + r;
      xs[c][r] = (m < M && k < K) ? x[m * K + k] : 0.f;
      ws[c][r] = (n < N && k < K) ? dequant_element<BITS>(w, n, k) : 0.f;
    }
    __syncthreads();
#pragma unroll 8
    for (int c = 0; c < kTileK; ++c) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        a[i] = xs[c][ty * 4 + i];
        b[i] = ws[c][tx * 4 + i];
      }
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t m = m0 + ty * 4 + i;
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t n = n0 + tx * 4 + j;
      if (n < N) y[m * N + n] = acc[i][j] + (bias != nullptr ? bias[n] : 0.f);
    }
  }
}

template <int BITS, int MT>
void launch_decode(const float* x, const Weights& w, const float* bias, float* y, int64_t M, int64_t K, int64_t N,
                   cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((N + kWarpsPerBlock - 1) / kWarpsPerBlock));
  decode_kernel<BITS, MT><<<grid, kWarpsPerBlock * 32, 0, stream>>>(x, w, bias, y, static_cast<int>(M), K, N);
}

template <int BITS>
void launch(const float* x, const Weights& w, const float* bias, float* y, int64_t M, int64_t K, int64_t N,
            bool decode, cudaStream_t stream) {
  if (decode) {
    if (M <= 1) {
      launch_decode<BITS, 1>(x, w, bias, y, M, K, N, stream);
    } else if (M <= 2) {
      launch_decode<BITS, 2>(x, w, bias, y, M, K, N, stream);
    } else if (M <= 4) {
      launch_decode<BITS, 4>(x, w, bias, y, M, K, N, stream);
    } else if (M <= 8) {
      launch_decode<BITS, 8>(x, w, bias, y, M, K, N, stream);
    } else {
      launch_decode<BITS, 16>(x, w, bias, y, M, K, N, stream);
    }
  } else {
    const dim3 grid(static_cast<unsigned>((N + kTile - 1) / kTile), static_cast<unsigned>((M + kTile - 1) / kTile));
    tiled_kernel<BITS><<<grid, kTileThreads, 0, stream>>>(x, w, bias, y, M, K, N);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

at::Tensor quant_matmul_cuda(const at::Tensor& x, const at::Tensor& qdata, const at::Tensor& scales,
                             const std::optional<at::Tensor>& offsets, int64_t bits,
                             const std::optional<at::Tensor>& bias) {
  const Shape shape = check_operands(x, qdata, scales, offsets, bits, bias);
  const c10::cuda::CUDAGuard guard(x.device());
  const int64_t M = shape.M, K = shape.K, N = shape.N;
  at::Tensor y = at::empty({M, N}, x.options().dtype(at::kFloat));
  if (M > 0 && N > 0) {
    at::Tensor xf = x.reshape({M, K}).to(at::kFloat).contiguous();
    if (reinterpret_cast<uintptr_t>(xf.data_ptr()) % 16 != 0) xf = xf.clone();
    at::Tensor q = qdata.contiguous();
    if (reinterpret_cast<uintptr_t>(q.data_ptr()) % 16 != 0) q = q.clone();  // vector loads of codes
    const at::Tensor s = scales.contiguous();
    const at::Tensor o = offsets.has_value() ? offsets->contiguous() : at::Tensor();
    const at::Tensor b = bias.has_value() ? bias->to(at::kFloat).contiguous() : at::Tensor();
    const Weights w{q.data_ptr<uint8_t>(), s.data_ptr<float>(), o.defined() ? o.data_ptr<float>() : nullptr,
                    q.size(1), shape.groups, shape.group_size};
    const bool decode = M <= kDecodeRows && K % 8 == 0 && shape.group_size % 8 == 0;
    const float* bias_ptr = b.defined() ? b.data_ptr<float>() : nullptr;
    const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
    if (bits == 4) {
      launch<4>(xf.data_ptr<float>(), w, bias_ptr, y.data_ptr<float>(), M, K, N, decode, stream);
    } else {
      launch<8>(xf.data_ptr<float>(), w, bias_ptr, y.data_ptr<float>(), M, K, N, decode, stream);
    }
  } else if (bias.has_value() && M > 0) {
    y.copy_(bias->to(at::kFloat).expand({M, N}));
  }
  return y.to(x.scalar_type()).reshape(shape.out_sizes);
}

}  // namespace
}  // namespace qmm
}  // namespace infomix

TORCH_LIBRARY_IMPL(infomix, CUDA, m) { m.impl("quant_matmul", &infomix::qmm::quant_matmul_cuda); }
