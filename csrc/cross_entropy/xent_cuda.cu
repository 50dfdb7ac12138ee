// Linear cross-entropy on CUDA without the N x V logits: tiled logit blocks recomputed in shared memory/registers,
// a split-vocabulary online log-sum-exp (partials of size splits x N), and a gradient kernel that recomputes each
// (row tile x vocabulary tile), forms softmax - one-hot on the fly, skips filtered tiles and atomically accumulates
// dX, dW and db in fp32 (so the CUDA gradients are not bitwise deterministic).
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <tuple>

namespace infomix::xent_cuda {
namespace {

constexpr int kBM = 32;       // rows per tile
constexpr int kBN = 64;       // vocabulary entries per tile
constexpr int kBK = 32;       // reduction (D) chunk held in shared memory
constexpr int kThreads = 256;  // 32 rows x 8 threads, each thread 8 consecutive vocabulary entries of one row
constexpr int kCols = kBN / 8;
constexpr int kMaxSplits = 64;

template <typename T>
__device__ __forceinline__ T dexp(T v);
template <>
__device__ __forceinline__ float dexp<float>(float v) { return __expf(v); }
template <>
__device__ __forceinline__ double dexp<double>(double v) { return ::exp(v); }
template <typename T>
__device__ __forceinline__ T dlog(T v);
template <>
__device__ __forceinline__ float dlog<float>(float v) { return __logf(v); }
template <>
__device__ __forceinline__ double dlog<double>(double v) { return ::log(v); }
template <typename T>
__device__ __forceinline__ T dtanh(T v);
template <>
__device__ __forceinline__ float dtanh<float>(float v) { return tanhf(v); }
template <>
__device__ __forceinline__ double dtanh<double>(double v) { return ::tanh(v); }

template <typename T>
__device__ __forceinline__ T shfl_xor8(T v, int mask) {
  return __shfl_xor_sync(0xffffffffu, v, mask, 8);
}

// Logits of row (row0 + tid / 8), vocabulary entries col0 + (tid % 8) * kCols + [0, kCols), through shared-memory
// tiles of x and W; bias and softcap applied; dcap = d softcap / d raw (1 without softcap).
template <typename scalar_t, typename acc_t>
__device__ void tile_logits(const scalar_t* __restrict__ x, const scalar_t* __restrict__ w,
                            const scalar_t* __restrict__ bias, int64_t N, int64_t D, int64_t V, int64_t row0,
                            int64_t col0, acc_t softcap, acc_t (&z)[kCols], acc_t (&dcap)[kCols]) {
  __shared__ acc_t xs[kBM][kBK + 1];
  __shared__ acc_t ws[kBN][kBK + 1];
  const int tid = threadIdx.x;
  const int r = tid / 8;
  const int c0 = (tid % 8) * kCols;
#pragma unroll
  for (int j = 0; j < kCols; ++j) z[j] = acc_t(0);
  for (int64_t k0 = 0; k0 < D; k0 += kBK) {
    for (int i = tid; i < kBM * kBK; i += kThreads) {
      const int rr = i / kBK, kk = i % kBK;
      const int64_t gr = row0 + rr, gk = k0 + kk;
      xs[rr][kk] = (gr < N && gk < D) ? static_cast<acc_t>(x[gr * D + gk]) : acc_t(0);
    }
    for (int i = tid; i < kBN * kBK; i += kThreads) {
      const int cc = i / kBK, kk = i % kBK;
      const int64_t gc = col0 + cc, gk = k0 + kk;
      ws[cc][kk] = (gc < V && gk < D) ? static_cast<acc_t>(w[gc * D + gk]) : acc_t(0);
    }
    __syncthreads();
#pragma unroll 4
    for (int kk = 0; kk < kBK; ++kk) {
      const acc_t xv = xs[r][kk];
#pragma unroll
      for (int j = 0; j < kCols; ++j) z[j] += xv * ws[c0 + j][kk];
    }
    __syncthreads();
  }
#pragma unroll
  for (int j = 0; j < kCols; ++j) {
    const int64_t gc = col0 + c0 + j;
    if (bias != nullptr && gc < V) z[j] += static_cast<acc_t>(bias[gc]);
    if (softcap > acc_t(0)) {
      const acc_t t = dtanh(z[j] / softcap);
      z[j] = softcap * t;
      dcap[j] = acc_t(1) - t * t;
    } else {
      dcap[j] = acc_t(1);
    }
  }
}

// Pass 1: per (row tile, vocabulary split) partial max, sum of exp and sum of logits; the target logit.
template <typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kThreads) lse_partial_kernel(
    const scalar_t* __restrict__ x, const scalar_t* __restrict__ w, const scalar_t* __restrict__ bias,
    const int64_t* __restrict__ target, int64_t N, int64_t D, int64_t V, acc_t softcap, int splits,
    acc_t* __restrict__ part_max, acc_t* __restrict__ part_sum, acc_t* __restrict__ part_zsum,
    acc_t* __restrict__ z_target) {
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kBM;
  const int split = blockIdx.y;
  const int tid = threadIdx.x;
  const int64_t row = row0 + tid / 8;
  const int64_t y = row < N ? target[row] : -1;
  acc_t m = -INFINITY, s = acc_t(0), zs = acc_t(0);
  const int64_t n_tiles = (V + kBN - 1) / kBN;
  for (int64_t t = split; t < n_tiles; t += splits) {
    const int64_t col0 = t * kBN;
    acc_t z[kCols], dcap[kCols];
    tile_logits<scalar_t, acc_t>(x, w, bias, N, D, V, row0, col0, softcap, z, dcap);
    acc_t tile_max = -INFINITY;
#pragma unroll
    for (int j = 0; j < kCols; ++j) {
      const int64_t gc = col0 + (tid % 8) * kCols + j;
      if (gc < V) {
        tile_max = z[j] > tile_max ? z[j] : tile_max;
        zs += z[j];
        if (gc == y) z_target[row] = z[j];
      }
    }
    if (tile_max > -INFINITY) {
      const acc_t m_new = tile_max > m ? tile_max : m;
      s *= dexp(m - m_new);
#pragma unroll
      for (int j = 0; j < kCols; ++j) {
        const int64_t gc = col0 + (tid % 8) * kCols + j;
        if (gc < V) s += dexp(z[j] - m_new);
      }
      m = m_new;
    }
  }
  // Merge the 8 threads of a row (consecutive lanes of one warp).
  for (int mask = 1; mask < 8; mask <<= 1) {
    const acc_t m_o = shfl_xor8(m, mask), s_o = shfl_xor8(s, mask), zs_o = shfl_xor8(zs, mask);
    const acc_t m_new = m_o > m ? m_o : m;
    const acc_t a = (m == -INFINITY) ? acc_t(0) : s * dexp(m - m_new);
    const acc_t b = (m_o == -INFINITY) ? acc_t(0) : s_o * dexp(m_o - m_new);
    s = a + b;
    m = m_new;
    zs += zs_o;
  }
  if (tid % 8 == 0 && row < N) {
    part_max[split * N + row] = m;
    part_sum[split * N + row] = s;
    part_zsum[split * N + row] = zs;
  }
}

// Pass 2: per row, merge the splits into the LSE and the loss of the row (0 for ignored rows).
template <typename acc_t>
__global__ void lse_combine_kernel(const acc_t* __restrict__ part_max, const acc_t* __restrict__ part_sum,
                                   const acc_t* __restrict__ part_zsum, const acc_t* __restrict__ z_target,
                                   const int64_t* __restrict__ target, int64_t N, int64_t V, int splits,
                                   int64_t ignore_index, acc_t label_smoothing, acc_t z_loss,
                                   acc_t* __restrict__ lse_out, acc_t* __restrict__ loss_out) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (row >= N) return;
  acc_t m = -INFINITY;
  for (int k = 0; k < splits; ++k) m = part_max[k * N + row] > m ? part_max[k * N + row] : m;
  acc_t s = acc_t(0), zs = acc_t(0);
  for (int k = 0; k < splits; ++k) {
    const acc_t mk = part_max[k * N + row];
    if (mk > -INFINITY) s += part_sum[k * N + row] * dexp(mk - m);
    zs += part_zsum[k * N + row];
  }
  const acc_t lse = m + dlog(s);
  const bool valid = target[row] != ignore_index;
  lse_out[row] = valid ? lse : acc_t(0);
  loss_out[row] = valid ? lse - (acc_t(1) - label_smoothing) * z_target[row] -
                              label_smoothing / static_cast<acc_t>(V) * zs + z_loss * lse * lse
                        : acc_t(0);
}

// Pass 3 (gradients): recompute a (row tile x vocabulary tile) of logits, form G in shared memory, skip the tile when
// every row's unscaled |G| mass in it is below tile_budget, then accumulate dX, dW and db with fp32 atomics.
template <typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kThreads) grad_kernel(
    const scalar_t* __restrict__ x, const scalar_t* __restrict__ w, const scalar_t* __restrict__ bias,
    const int64_t* __restrict__ target, const acc_t* __restrict__ lse, const acc_t* __restrict__ row_weight,
    int64_t N, int64_t D, int64_t V, int64_t ignore_index, acc_t label_smoothing, acc_t z_loss, acc_t softcap,
    acc_t tile_budget, acc_t* __restrict__ dx, acc_t* __restrict__ dw, acc_t* __restrict__ db) {
  __shared__ acc_t gs[kBM][kBN + 1];
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kBM;
  const int64_t col0 = static_cast<int64_t>(blockIdx.y) * kBN;
  const int tid = threadIdx.x;
  const int r = tid / 8;
  const int c0 = (tid % 8) * kCols;
  const int64_t row = row0 + r;
  acc_t z[kCols], dcap[kCols];
  tile_logits<scalar_t, acc_t>(x, w, bias, N, D, V, row0, col0, softcap, z, dcap);
  const bool valid = row < N && target[row] != ignore_index;
  const int64_t y = valid ? target[row] : -1;
  const acc_t l = valid ? lse[row] : acc_t(0);
  const acc_t c = valid ? row_weight[row] : acc_t(0);
  acc_t mass = acc_t(0);
#pragma unroll
  for (int j = 0; j < kCols; ++j) {
    const int64_t gc = col0 + c0 + j;
    acc_t g = acc_t(0);
    if (valid && gc < V) {
      g = (acc_t(1) + acc_t(2) * z_loss * l) * dexp(z[j] - l) - label_smoothing / static_cast<acc_t>(V);
      if (gc == y) g -= acc_t(1) - label_smoothing;
      g *= dcap[j];
    }
    mass += g < acc_t(0) ? -g : g;
    gs[r][c0 + j] = g * c;
  }
  for (int mask = 1; mask < 8; mask <<= 1) mass += shfl_xor8(mass, mask);
  const int keep = __syncthreads_or(!(mass < tile_budget));  // NaN-safe: keep
  if (!keep) return;
  // dX[row0 + rr, d] += sum_cc G[rr, cc] W[col0 + cc, d]
  for (int64_t i = tid; i < static_cast<int64_t>(kBM) * D; i += kThreads) {
    const int rr = static_cast<int>(i / D);
    const int64_t d = i % D;
    const int64_t gr = row0 + rr;
    if (gr >= N || dx == nullptr) continue;
    acc_t acc = acc_t(0);
    for (int cc = 0; cc < kBN && col0 + cc < V; ++cc) acc += gs[rr][cc] * static_cast<acc_t>(w[(col0 + cc) * D + d]);
    atomicAdd(dx + gr * D + d, acc);
  }
  // dW[col0 + cc, d] += sum_rr G[rr, cc] x[row0 + rr, d]
  for (int64_t i = tid; i < static_cast<int64_t>(kBN) * D; i += kThreads) {
    const int cc = static_cast<int>(i / D);
    const int64_t d = i % D;
    const int64_t gc = col0 + cc;
    if (gc >= V || dw == nullptr) continue;
    acc_t acc = acc_t(0);
    for (int rr = 0; rr < kBM && row0 + rr < N; ++rr) acc += gs[rr][cc] * static_cast<acc_t>(x[(row0 + rr) * D + d]);
    atomicAdd(dw + gc * D + d, acc);
  }
  if (db != nullptr && tid < kBN && col0 + tid < V) {
    acc_t acc = acc_t(0);
    for (int rr = 0; rr < kBM; ++rr) acc += gs[rr][tid];
    atomicAdd(db + col0 + tid, acc);
  }
}

struct Options {
  int64_t ignore_index;
  int64_t reduction;
  double label_smoothing, z_loss, softcap, filter_eps;
  bool grad_input, grad_weight, grad_bias;
};

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> run(
    const at::Tensor& x_in, const at::Tensor& w_in, const std::optional<at::Tensor>& bias_in, const at::Tensor& target_in,
    const std::optional<at::Tensor>& row_weight, const Options& o) {
  TORCH_CHECK(x_in.dim() == 2 && w_in.dim() == 2 && w_in.size(1) == x_in.size(1),
              "linear_cross_entropy: x must be [N, D] and weight [V, D], got ", x_in.sizes(), " and ", w_in.sizes());
  TORCH_CHECK(target_in.dim() == 1 && target_in.size(0) == x_in.size(0) && target_in.scalar_type() == at::kLong,
              "linear_cross_entropy: target must be int64 [N]");
  TORCH_CHECK(w_in.scalar_type() == x_in.scalar_type(), "linear_cross_entropy: weight dtype must equal x dtype");
  TORCH_CHECK(w_in.size(0) > 0, "linear_cross_entropy: weight must have at least one row (V > 0)");
  TORCH_CHECK(w_in.device() == x_in.device() && target_in.device() == x_in.device(),
              "linear_cross_entropy: all inputs must be on one device");
  if (bias_in.has_value()) {
    TORCH_CHECK(bias_in->dim() == 1 && bias_in->size(0) == w_in.size(0) && bias_in->scalar_type() == x_in.scalar_type(),
                "linear_cross_entropy: bias must be [V] with x's dtype");
  }
  const c10::cuda::CUDAGuard guard(x_in.device());
  const int64_t N = x_in.size(0), D = x_in.size(1), V = w_in.size(0);
  const at::Tensor x = x_in.contiguous(), w = w_in.contiguous(), target = target_in.contiguous();
  const at::Tensor bias = bias_in.has_value() ? bias_in->contiguous() : at::Tensor();
  const at::Tensor valid = target != o.ignore_index;
  const at::Tensor bad = valid & ((target < 0) | (target >= V));
  if (bad.any().item<bool>()) {
    const int64_t i = bad.nonzero()[0][0].item<int64_t>();
    TORCH_CHECK_VALUE(false, "linear_cross_entropy: target[", i, "] = ", target[i].item<int64_t>(),
                      " is outside [0, ", V, ") and is not ignore_index=", o.ignore_index);
  }
  const int64_t n_valid = valid.sum().item<int64_t>();
  TORCH_CHECK_VALUE(o.reduction != 1 || n_valid > 0,
                    "linear_cross_entropy: every target equals ignore_index, so reduction='mean' is undefined");
  const bool want_grad = o.grad_input || o.grad_weight || o.grad_bias;
  const auto acc_type = x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const auto acc_opts = x.options().dtype(acc_type);
  const int64_t n_tiles = (V + kBN - 1) / kBN;
  const int splits = static_cast<int>(std::min<int64_t>(kMaxSplits, n_tiles));
  at::Tensor part_max = at::empty({splits, N}, acc_opts), part_sum = at::empty({splits, N}, acc_opts);
  at::Tensor part_zsum = at::empty({splits, N}, acc_opts), z_target = at::zeros({N}, acc_opts);
  at::Tensor lse = at::empty({N}, acc_opts), loss_rows = at::empty({N}, acc_opts);
  at::Tensor dx = o.grad_input ? at::zeros({N, D}, acc_opts) : at::Tensor();
  at::Tensor dw = o.grad_weight ? at::zeros({V, D}, acc_opts) : at::Tensor();
  at::Tensor db = o.grad_bias ? at::zeros({V}, acc_opts) : at::Tensor();
  at::Tensor weights;
  if (want_grad) {
    weights = row_weight.has_value() ? row_weight->to(acc_type) : at::full({N}, o.reduction == 1 ? 1.0 / n_valid : 1.0, acc_opts);
    weights = weights * valid.to(acc_type);
  }
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const dim3 tiles_rows((N + kBM - 1) / kBM);
  if (N > 0) {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "linear_cross_entropy_cuda", [&] {
      using acc_t = at::opmath_type<scalar_t>;
      const scalar_t* bias_ptr = bias.defined() ? bias.data_ptr<scalar_t>() : nullptr;
      lse_partial_kernel<scalar_t, acc_t><<<dim3(tiles_rows.x, splits), kThreads, 0, stream>>>(
          x.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(), bias_ptr, target.data_ptr<int64_t>(), N, D, V,
          static_cast<acc_t>(o.softcap), splits, part_max.data_ptr<acc_t>(), part_sum.data_ptr<acc_t>(),
          part_zsum.data_ptr<acc_t>(), z_target.data_ptr<acc_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      lse_combine_kernel<acc_t><<<(N + 255) / 256, 256, 0, stream>>>(
          part_max.data_ptr<acc_t>(), part_sum.data_ptr<acc_t>(), part_zsum.data_ptr<acc_t>(),
          z_target.data_ptr<acc_t>(), target.data_ptr<int64_t>(), N, V, splits, o.ignore_index,
          static_cast<acc_t>(o.label_smoothing), static_cast<acc_t>(o.z_loss), lse.data_ptr<acc_t>(),
          loss_rows.data_ptr<acc_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  }
  const at::Tensor finite = lse.isfinite() | valid.logical_not();
  if (!finite.all().item<bool>()) {
    const int64_t i = finite.logical_not().nonzero()[0][0].item<int64_t>();
    TORCH_CHECK_VALUE(false, "linear_cross_entropy: non-finite log-sum-exp in row ", i,
                      " (NaN or inf in x, weight or bias)");
  }
  if (want_grad && N > 0) {
    const double budget = o.filter_eps > 0 ? o.filter_eps / static_cast<double>(n_tiles) : -1.0;
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "linear_cross_entropy_cuda_grad", [&] {
      using acc_t = at::opmath_type<scalar_t>;
      const scalar_t* bias_ptr = bias.defined() ? bias.data_ptr<scalar_t>() : nullptr;
      grad_kernel<scalar_t, acc_t><<<dim3(tiles_rows.x, n_tiles), kThreads, 0, stream>>>(
          x.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(), bias_ptr, target.data_ptr<int64_t>(), lse.data_ptr<acc_t>(),
          weights.data_ptr<acc_t>(), N, D, V, o.ignore_index, static_cast<acc_t>(o.label_smoothing),
          static_cast<acc_t>(o.z_loss), static_cast<acc_t>(o.softcap), static_cast<acc_t>(budget),
          dx.defined() ? dx.data_ptr<acc_t>() : nullptr, dw.defined() ? dw.data_ptr<acc_t>() : nullptr,
          db.defined() ? db.data_ptr<acc_t>() : nullptr);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  }
  at::Tensor loss;
  if (o.reduction == 0) {
    loss = loss_rows.to(x.scalar_type());
  } else {
    at::Tensor total = loss_rows.sum();
    if (o.reduction == 1) total = total / static_cast<double>(n_valid);
    loss = total.to(x.scalar_type());
  }
  auto out_or_empty = [&](const at::Tensor& t, const at::Tensor& like) {
    return t.defined() ? t.to(like.scalar_type()) : at::empty({0}, like.options());
  };
  return {loss, lse.to(at::kFloat), out_or_empty(dx, x), out_or_empty(dw, w), out_or_empty(db, x)};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> forward_cuda(
    const at::Tensor& x, const at::Tensor& weight, const std::optional<at::Tensor>& bias, const at::Tensor& target,
    int64_t ignore_index, int64_t reduction, double label_smoothing, double z_loss, double softcap, double filter_eps,
    bool grad_input, bool grad_weight, bool grad_bias, bool /*fp32_accumulation: CUDA always accumulates in fp32*/) {
  const bool filter = filter_eps > 0 && label_smoothing == 0;
  Options o{ignore_index, reduction, label_smoothing, z_loss, softcap, filter ? filter_eps : 0.0,
            grad_input, grad_weight, grad_bias};
  return run(x, weight, bias, target, std::nullopt, o);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_cuda(
    const at::Tensor& grad_loss, const at::Tensor& x, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
    const at::Tensor& target, int64_t ignore_index, double label_smoothing, double z_loss, double softcap,
    double filter_eps, bool grad_input, bool grad_weight, bool grad_bias,
    bool /*fp32_accumulation: CUDA always accumulates in fp32*/) {
  TORCH_CHECK(grad_loss.dim() == 1 && grad_loss.size(0) == x.size(0),
              "linear_cross_entropy_backward: grad_loss must be [N], got shape ", grad_loss.sizes());
  const bool filter = filter_eps > 0 && label_smoothing == 0;
  Options o{ignore_index, 0, label_smoothing, z_loss, softcap, filter ? filter_eps : 0.0,
            grad_input, grad_weight, grad_bias};
  auto out = run(x, weight, bias, target, grad_loss, o);
  return {std::get<2>(out), std::get<3>(out), std::get<4>(out)};
}

}  // namespace
}  // namespace infomix::xent_cuda

TORCH_LIBRARY_IMPL(infomix, CUDA, m) {
  m.impl("linear_cross_entropy_fwd", &infomix::xent_cuda::forward_cuda);
  m.impl("linear_cross_entropy_bwd", &infomix::xent_cuda::backward_cuda);
}
