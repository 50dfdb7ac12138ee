// Linear cross-entropy on CPU without the N x V logit matrix: one block of rows at a time, its logits held in a
// cache-sized buffer, GEMMs through ATen (MKL sgemm, oneDNN for bf16/fp16), gradients formed in the same pass.
// fp32/fp64 keep the block's logits in that dtype; bf16/fp16 keep them in bf16/fp16 (the GEMM's rounded output,
// as in the materialised path) and do the softmax row by row in fp32 over a V-float scratch row per thread.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <tuple>
#include <type_traits>
#include <vector>

#include "common/avx2_math.h"
#include "cross_entropy/xent_schema.h"

#if defined(__x86_64__) || defined(_M_X64)
#define INFOMIX_XENT_X86 1
#endif

namespace infomix::xent {
namespace {

// Vocabulary rows of each bf16/fp16 dW partial product added to the fp32 accumulator (a 1024 x D temporary per
// thread).
constexpr int64_t kGradChunk = 1024;

// Rows per block: 16 MiB of logits, but at least 128 rows (so 64 MiB at V = 128256, still ~1% of the materialised
// path there). Larger blocks mean fewer passes of the V x D gradient accumulator through memory (each row block reads
// and writes it once) and better GEMM shapes; smaller ones keep the footprint low. INFOMIX_XENT_BLOCK_BYTES sets the
// logit budget exactly (at least 16 rows), e.g. 64 MiB for 512-row blocks at V = 32768.
int64_t block_rows(int64_t V, int64_t elem_bytes, int64_t budget = 16LL << 20, int64_t min_rows = 128) {
  const int64_t row_bytes = std::max<int64_t>(V * elem_bytes, 1);
  if (const char* env = std::getenv("INFOMIX_XENT_BLOCK_BYTES")) {
    const int64_t exact = std::max<int64_t>(std::atoll(env), 1 << 16);
    return std::max<int64_t>(16, std::min<int64_t>(1024, exact / row_bytes));
  }
  return std::max<int64_t>(min_rows, std::min<int64_t>(1024, budget / row_bytes));
}

constexpr int64_t kTile = 512;  // vocabulary tile width used by gradient filtering

struct Options {
  int64_t ignore_index;
  int64_t reduction;  // 0 none, 1 mean, 2 sum
  double label_smoothing;
  double z_loss;
  double softcap;
  double filter_eps;
  bool grad_input, grad_weight, grad_bias;
  bool fp32_accumulation;  // bf16/fp16: dW across row blocks in fp32 (else in the input dtype)
};

void check_inputs(const at::Tensor& x, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                  const at::Tensor& target) {
  TORCH_CHECK(x.dim() == 2, "linear_cross_entropy: x must be 2-D [N, D], got shape ", x.sizes());
  TORCH_CHECK(weight.dim() == 2 && weight.size(1) == x.size(1), "linear_cross_entropy: weight must be [V, D] with D=",
              x.size(1), ", got shape ", weight.sizes());
  TORCH_CHECK(target.dim() == 1 && target.size(0) == x.size(0), "linear_cross_entropy: target must be [N] with N=",
              x.size(0), ", got shape ", target.sizes());
  TORCH_CHECK(target.scalar_type() == at::kLong, "linear_cross_entropy: target must be int64, got ",
              target.scalar_type());
  auto dt = x.scalar_type();
  TORCH_CHECK(dt == at::kFloat || dt == at::kDouble || dt == at::kBFloat16 || dt == at::kHalf,
              "linear_cross_entropy: x must be float32, float64, bfloat16 or float16, got ", dt);
  TORCH_CHECK(weight.scalar_type() == dt, "linear_cross_entropy: weight dtype ", weight.scalar_type(),
              " must equal x dtype ", dt);
  TORCH_CHECK(weight.size(0) > 0, "linear_cross_entropy: weight must have at least one row (vocabulary size V > 0)");
  if (bias.has_value()) {
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == weight.size(0), "linear_cross_entropy: bias must be [V] with V=",
                weight.size(0), ", got shape ", bias->sizes());
    TORCH_CHECK(bias->scalar_type() == dt, "linear_cross_entropy: bias dtype ", bias->scalar_type(),
                " must equal x dtype ", dt);
  }
}

// Indices of the rows whose target is not ignore_index; errors on targets outside [0, V).
at::Tensor valid_rows(const at::Tensor& target, int64_t V, int64_t ignore_index) {
  auto t = target.contiguous();
  const int64_t* tp = t.data_ptr<int64_t>();
  std::vector<int64_t> rows;
  rows.reserve(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) {
    const int64_t y = tp[i];
    if (y == ignore_index) continue;
    TORCH_CHECK_VALUE(y >= 0 && y < V, "linear_cross_entropy: target[", i, "] = ", y, " is outside [0, ", V,
                ") and is not ignore_index=", ignore_index);
    rows.push_back(i);
  }
  return at::tensor(rows, t.options());
}

using Result = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>;
using Runs = std::vector<std::pair<int64_t, int64_t>>;  // [begin, end) vocabulary ranges

// The rows that count (target != ignore_index), their targets, and each row's gradient weight c_i (1/n_valid, 1 or
// the upstream gradient of the row).
struct ValidRows {
  at::Tensor index, target, weight;
  int64_t count = 0;
};

ValidRows select_rows(const at::Tensor& target, int64_t V, const std::optional<at::Tensor>& row_weight,
                      const Options& o, const at::TensorOptions& acc_opts, bool want_grad) {
  ValidRows r;
  r.index = valid_rows(target, V, o.ignore_index);
  r.count = r.index.numel();
  TORCH_CHECK_VALUE(o.reduction != 1 || r.count > 0,
                    "linear_cross_entropy: every target equals ignore_index, so reduction='mean' is undefined");
  r.target = target.index_select(0, r.index);
  if (want_grad) {
    if (row_weight.has_value()) {
      r.weight = row_weight->to(acc_opts).index_select(0, r.index);
    } else {
      const double c = (o.reduction == 1) ? 1.0 / static_cast<double>(r.count) : 1.0;
      r.weight = at::full({r.count}, c, acc_opts);
    }
  }
  return r;
}

void check_finite(const at::Tensor& lse, const at::Tensor& rows_b) {
  if (!lse.isfinite().all().item<bool>()) {
    const int64_t bad = rows_b.masked_select(lse.isfinite().logical_not())[0].item<int64_t>();
    TORCH_CHECK_VALUE(false, "linear_cross_entropy: non-finite log-sum-exp in row ", bad,
                      " (NaN or inf in x, weight or bias)");
  }
}

// Gradient filtering on the unscaled row gradient: a vocabulary tile is skipped when, for every row of the block, its
// total mass is below filter_eps / n_tiles (so a row loses less than filter_eps over all skipped tiles). The mass is
// coef * (tile sum of E), corrected in the target's tile for the one-hot term; under softcap this bounds the true mass
// from above (1 - tanh^2 <= 1). Returns the column ranges to keep. `tile_sums` is overwritten.
Runs kept_runs(at::Tensor tile_sums, const at::Tensor& coef, const at::Tensor& e_target, const at::Tensor& y,
               double tile_budget, int64_t V) {
  at::Tensor mass = tile_sums.mul_(coef.unsqueeze(1));
  const at::Tensor p_target = e_target * coef;
  mass.scatter_add_(1, at::floor_divide(y, kTile).unsqueeze(1), ((p_target - 1).abs() - p_target).unsqueeze(1));
  const at::Tensor tile_max = std::get<0>(mass.max(0)).to(at::kDouble).contiguous();
  const double* tm = tile_max.data_ptr<double>();
  Runs runs;
  for (int64_t t = 0; t < tile_max.numel(); ++t) {
    if (tm[t] < tile_budget) continue;  // NaN-safe: a NaN mass keeps its tile
    const int64_t b = t * kTile, e = std::min(V, b + kTile);
    if (!runs.empty() && runs.back().second == b) {
      runs.back().second = e;
    } else {
      runs.emplace_back(b, e);
    }
  }
  return runs;
}

at::Tensor reduce_loss(const at::Tensor& loss_rows, const Options& o, int64_t n_valid, at::ScalarType dtype) {
  if (o.reduction == 0) return loss_rows.to(dtype);
  at::Tensor total = loss_rows.sum();
  if (o.reduction == 1) total = total / static_cast<double>(n_valid);
  return total.to(dtype);
}

// fp32 / fp64: a block's logits, softmax and gradient all live in one [rows, V] buffer of the input dtype.
template <typename scalar_t>
Result run(const at::Tensor& x_in, const at::Tensor& w_in, const std::optional<at::Tensor>& bias_in,
           const at::Tensor& target, const std::optional<at::Tensor>& row_weight, const Options& o) {
  const int64_t N = x_in.size(0), D = x_in.size(1), V = w_in.size(0);
  const auto opts = x_in.options();
  const at::Tensor x = x_in.contiguous();
  const at::Tensor w = w_in.contiguous();
  const bool has_bias = bias_in.has_value();
  const at::Tensor bias = has_bias ? bias_in->contiguous() : at::Tensor();
  const bool want_grad = o.grad_input || o.grad_weight || o.grad_bias;
  const ValidRows r = select_rows(target, V, row_weight, o, opts, want_grad);
  const int64_t n_valid = r.count;

  at::Tensor loss_rows = at::zeros({N}, opts);
  at::Tensor lse_all = at::zeros({N}, opts.dtype(at::kFloat));
  at::Tensor grad_x = o.grad_input ? at::zeros({N, D}, opts) : at::empty({0}, opts);
  // dW accumulates straight into the output; the first row block writes every row of it (beta = 0, no filtering),
  // so it starts uninitialised.
  at::Tensor grad_w = o.grad_weight ? (n_valid > 0 ? at::empty({V, D}, opts) : at::zeros({V, D}, opts))
                                    : at::empty({0}, opts);
  at::Tensor grad_b = o.grad_bias ? at::zeros({V}, opts) : at::empty({0}, opts);

  // Without gradients the block is 8 MiB (each block reads all of W once, so smaller blocks cost time); with them,
  // 16 MiB feeds the dW GEMM.
  const int64_t bn = want_grad ? block_rows(V, sizeof(scalar_t)) : block_rows(V, sizeof(scalar_t), 8LL << 20, 64);
  at::Tensor buf = at::empty({std::min(bn, std::max<int64_t>(n_valid, 1)), V}, opts);
  at::Tensor cap_buf = (o.softcap > 0 && want_grad) ? at::empty_like(buf) : at::Tensor();
  at::Tensor dx_blk = o.grad_input ? at::empty({buf.size(0), D}, opts) : at::Tensor();

  const scalar_t eps_ls = static_cast<scalar_t>(o.label_smoothing);
  const scalar_t zl = static_cast<scalar_t>(o.z_loss);
  const int64_t n_tiles = (V + kTile - 1) / kTile;
  // With label smoothing every tile keeps a mass of eps * tile / V per row: nothing could be skipped.
  const bool filtering = want_grad && o.filter_eps > 0 && o.label_smoothing == 0;
  const double tile_budget = o.filter_eps / static_cast<double>(n_tiles);

  for (int64_t start = 0; start < n_valid; start += bn) {
    const int64_t nb = std::min(bn, n_valid - start);
    const at::Tensor rows_b = r.index.narrow(0, start, nb);
    const at::Tensor y = r.target.narrow(0, start, nb).unsqueeze(1);
    const at::Tensor xb = x.index_select(0, rows_b);  // [nb, D], contiguous
    at::Tensor L = buf.narrow(0, 0, nb);
    at::mm_out(L, xb, w.t());
    if (has_bias) L.add_(bias);
    if (o.softcap > 0) {
      L.div_(o.softcap).tanh_();
      if (want_grad) {  // d softcap / d raw = 1 - tanh^2
        at::Tensor cap = cap_buf.narrow(0, 0, nb);
        at::mul_out(cap, L, L).neg_().add_(1.0);
      }
      L.mul_(o.softcap);
    }
    const at::Tensor z_target = L.gather(1, y).squeeze(1);
    const at::Tensor z_sum = o.label_smoothing > 0 ? L.sum(1) : at::Tensor();
    const at::Tensor m = at::amax(L, {1}, /*keepdim=*/true);
    L.sub_(m).exp_();  // E = exp(z - max)
    // Row sums of E, per vocabulary tile when filtering (the row sum is then the sum of the tile sums).
    at::Tensor tile_sums, s;
    if (filtering) {
      const int64_t full = V / kTile;
      tile_sums = at::empty({nb, n_tiles}, opts);
      if (full > 0) tile_sums.narrow(1, 0, full).copy_(L.narrow(1, 0, full * kTile).view({nb, full, kTile}).sum(2));
      if (full < n_tiles) tile_sums.select(1, full).copy_(L.narrow(1, full * kTile, V - full * kTile).sum(1));
      s = tile_sums.sum(1);
    } else {
      s = L.sum(1);
    }
    const at::Tensor lse = s.log().add_(m.squeeze(1));
    check_finite(lse, rows_b);
    at::Tensor loss_b = lse - z_target * (scalar_t(1) - eps_ls);
    if (o.label_smoothing > 0) loss_b.sub_(z_sum * (eps_ls / static_cast<scalar_t>(V)));
    if (o.z_loss > 0) loss_b.add_(lse * lse * zl);
    loss_rows.index_copy_(0, rows_b, loss_b);
    lse_all.index_copy_(0, rows_b, lse.to(at::kFloat));
    if (!want_grad) continue;
    // Per row, dloss_i/dz_ij = coef_i E_ij - (1 - eps) [j = y_i] - eps / V with coef_i = (1 + 2 w lse_i) / s_i,
    // times 1 - tanh^2 under softcap; G = c_i * that, with the row weight c_i.
    const at::Tensor coef = (lse * (2 * zl) + 1) / s;
    const at::Tensor c = r.weight.narrow(0, start, nb);
    Runs runs = filtering ? kept_runs(tile_sums, coef, L.gather(1, y).squeeze(1), y.squeeze(1), tile_budget, V)
                          : Runs{{0, V}};

    L.mul_((coef * c).unsqueeze(1));
    if (o.label_smoothing > 0) L.sub_((c * (eps_ls / static_cast<scalar_t>(V))).unsqueeze(1));
    L.scatter_add_(1, y, (c * (eps_ls - 1)).unsqueeze(1));
    if (o.softcap > 0) L.mul_(cap_buf.narrow(0, 0, nb));
    if (o.grad_bias) grad_b.add_(L.sum(0));
    if (o.grad_input) {
      at::Tensor dxb = dx_blk.narrow(0, 0, nb);
      dxb.zero_();
      for (const auto& [b, e] : runs) dxb.addmm_(L.narrow(1, b, e - b), w.narrow(0, b, e - b));  // dX_b += G W
      grad_x.index_copy_(0, rows_b, dxb);
    }
    if (o.grad_weight) {
      if (start == 0) {
        at::mm_out(grad_w, L.t(), xb);
      } else {
        for (const auto& [b, e] : runs) grad_w.narrow(0, b, e - b).addmm_(L.narrow(1, b, e - b).t(), xb);
      }
    }
  }
  return {reduce_loss(loss_rows, o, n_valid, x_in.scalar_type()), lse_all, grad_x, grad_w, grad_b};
}

// ---------------------------------------------------------------------------------------------
// Row kernels of the bf16/fp16 path: one row of a block at a time, in fp32 over a V-float scratch row.

// z[j] = softcap(float(L[j]) + bias[j]); returns max_j z[j] and adds Σ z to *z_sum when it is not null.
template <typename scalar_t>
float load_row_scalar(const scalar_t* L, const float* bias, float cap, int64_t V, float* z, float* z_sum) {
  float mx = -std::numeric_limits<float>::infinity(), sum = 0.f;
  for (int64_t j = 0; j < V; ++j) {
    float v = static_cast<float>(L[j]) + (bias != nullptr ? bias[j] : 0.f);
    if (cap > 0) v = cap * std::tanh(v / cap);
    z[j] = v;
    mx = std::max(mx, v);
    sum += v;
  }
  if (z_sum != nullptr) *z_sum = sum;
  return mx;
}

// e[j] = exp(z[j] - m) (e may alias z); returns Σ e, and per-kTile sums into tiles when it is not null.
float exp_row_scalar(const float* z, float m, int64_t V, float* e, float* tiles) {
  float total = 0.f;
  for (int64_t t0 = 0; t0 < V; t0 += kTile) {
    float part = 0.f;
    for (int64_t j = t0; j < std::min(V, t0 + kTile); ++j) part += (e[j] = std::exp(z[j] - m));
    if (tiles != nullptr) tiles[t0 / kTile] = part;
    total += part;
  }
  return total;
}

// L[j] = scale * e[j] - smooth, times 1 - (z[j]/cap)^2 under softcap, rounded to the input dtype.
template <typename scalar_t>
void store_grad_scalar(const float* e, const float* z, float scale, float smooth, float cap, int64_t V, scalar_t* L) {
  for (int64_t j = 0; j < V; ++j) {
    float g = scale * e[j] - smooth;
    if (cap > 0) g *= 1.f - (z[j] / cap) * (z[j] / cap);
    L[j] = static_cast<scalar_t>(g);
  }
}

#ifdef INFOMIX_XENT_X86
__attribute__((target("avx2,fma"))) inline __m256 load_bf16x8(const at::BFloat16* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

// fp32 -> bf16 with round-to-nearest-even (NaN stays NaN), as c10::BFloat16's conversion.
__attribute__((target("avx2,fma"))) inline void store_bf16x8(at::BFloat16* p, __m256 v) {
  const __m256i bits = _mm256_castps_si256(v);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
  __m256i r = _mm256_srli_epi32(_mm256_add_epi32(bits, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
  const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  r = _mm256_blendv_epi8(r, _mm256_set1_epi32(0x7fc0), nan);
  const __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), packed);
}

__attribute__((target("avx2,fma"))) float load_row_bf16_avx2(const at::BFloat16* L, const float* bias, float cap,
                                                             int64_t V, float* z, float* z_sum) {
  const __m256 vcap = _mm256_set1_ps(cap), vinv = _mm256_set1_ps(cap > 0 ? 1.f / cap : 0.f);
  __m256 vmax = _mm256_set1_ps(-std::numeric_limits<float>::infinity()), vsum = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= V; j += 8) {
    __m256 v = load_bf16x8(L + j);
    if (bias != nullptr) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + j));
    if (cap > 0) v = _mm256_mul_ps(vcap, tanh8(_mm256_mul_ps(v, vinv)));
    _mm256_storeu_ps(z + j, v);
    vmax = _mm256_max_ps(vmax, v);
    vsum = _mm256_add_ps(vsum, v);
  }
  float tail_sum = 0.f;
  float mx = std::max(hmax8(vmax), load_row_scalar(L + j, bias == nullptr ? nullptr : bias + j, cap, V - j, z + j,
                                                   &tail_sum));
  if (z_sum != nullptr) *z_sum = hsum8(vsum) + tail_sum;
  return mx;
}

__attribute__((target("avx2,fma"))) float exp_row_avx2(const float* z, float m, int64_t V, float* e, float* tiles) {
  const __m256 vm = _mm256_set1_ps(m);
  float total = 0.f;
  for (int64_t t0 = 0; t0 < V; t0 += kTile) {
    const int64_t t1 = std::min(V, t0 + kTile);
    __m256 vsum = _mm256_setzero_ps();
    int64_t j = t0;
    for (; j + 8 <= t1; j += 8) {
      const __m256 p = exp8(_mm256_sub_ps(_mm256_loadu_ps(z + j), vm));
      _mm256_storeu_ps(e + j, p);
      vsum = _mm256_add_ps(vsum, p);
    }
    float part = hsum8(vsum);
    for (; j < t1; ++j) part += (e[j] = std::exp(z[j] - m));
    if (tiles != nullptr) tiles[t0 / kTile] = part;
    total += part;
  }
  return total;
}

__attribute__((target("avx2,fma"))) void store_grad_bf16_avx2(const float* e, const float* z, float scale, float smooth,
                                                              float cap, int64_t V, at::BFloat16* L) {
  const __m256 vs = _mm256_set1_ps(scale), vsm = _mm256_set1_ps(smooth), one = _mm256_set1_ps(1.f);
  const __m256 vinv = _mm256_set1_ps(cap > 0 ? 1.f / cap : 0.f);
  int64_t j = 0;
  for (; j + 8 <= V; j += 8) {
    __m256 g = _mm256_fmsub_ps(vs, _mm256_loadu_ps(e + j), vsm);
    if (cap > 0) {
      const __m256 t = _mm256_mul_ps(_mm256_loadu_ps(z + j), vinv);
      g = _mm256_mul_ps(g, _mm256_fnmadd_ps(t, t, one));
    }
    store_bf16x8(L + j, g);
  }
  store_grad_scalar(e + j, z + j, scale, smooth, cap, V - j, L + j);
}
#endif

template <typename scalar_t>
float load_row(const scalar_t* L, const float* bias, float cap, int64_t V, float* z, float* z_sum) {
#ifdef INFOMIX_XENT_X86
  if constexpr (std::is_same_v<scalar_t, at::BFloat16>)
    if (cpu_has_avx2()) return load_row_bf16_avx2(L, bias, cap, V, z, z_sum);
#endif
  return load_row_scalar(L, bias, cap, V, z, z_sum);
}

float exp_row(const float* z, float m, int64_t V, float* e, float* tiles) {
#ifdef INFOMIX_XENT_X86
  if (cpu_has_avx2()) return exp_row_avx2(z, m, V, e, tiles);
#endif
  return exp_row_scalar(z, m, V, e, tiles);
}

template <typename scalar_t>
void store_grad(const float* e, const float* z, float scale, float smooth, float cap, int64_t V, scalar_t* L) {
#ifdef INFOMIX_XENT_X86
  if constexpr (std::is_same_v<scalar_t, at::BFloat16>)
    if (cpu_has_avx2()) return store_grad_bf16_avx2(e, z, scale, smooth, cap, V, L);
#endif
  store_grad_scalar(e, z, scale, smooth, cap, V, L);
}

// bf16 / fp16: a block's logits stay in the input dtype (the GEMM's rounded output, as in the materialised path: 2
// bytes per entry); each row's softmax runs in fp32 over a scratch row (logits, max, exp and sum, then the gradient,
// written over the logits in the input dtype for the dX and dW GEMMs). db accumulates in fp32 across row blocks, dW in
// fp32 unless fp32_accumulation is off.
template <typename scalar_t>
Result run_low_precision(const at::Tensor& x_in, const at::Tensor& w_in, const std::optional<at::Tensor>& bias_in,
                         const at::Tensor& target, const std::optional<at::Tensor>& row_weight, const Options& o) {
  const int64_t N = x_in.size(0), D = x_in.size(1), V = w_in.size(0);
  const auto f32 = x_in.options().dtype(at::kFloat);
  const at::Tensor x = x_in.contiguous();
  const at::Tensor w = w_in.contiguous();
  const bool has_bias = bias_in.has_value();
  const at::Tensor bias32 = has_bias ? bias_in->to(at::kFloat).contiguous() : at::Tensor();
  const bool want_grad = o.grad_input || o.grad_weight || o.grad_bias;
  const ValidRows r = select_rows(target, V, row_weight, o, f32, want_grad);
  const int64_t n_valid = r.count;

  at::Tensor loss_rows = at::zeros({N}, f32);
  at::Tensor lse_all = at::zeros({N}, f32);
  at::Tensor grad_x = o.grad_input ? at::zeros({N, D}, x_in.options()) : at::empty({0}, x_in.options());
  // dW accumulates in fp32 (a V x D buffer: 2x the gradient's own size) or, with fp32_accumulation off, straight into
  // the bf16/fp16 gradient, each row block's partial product added with one more rounding.
  at::Tensor grad_w_acc = o.grad_weight ? at::zeros({V, D}, o.fp32_accumulation ? f32 : w_in.options()) : at::Tensor();
  at::Tensor grad_b_acc = o.grad_bias ? at::zeros({V}, f32) : at::Tensor();

  // Without gradients no GEMM reads the block back, so it stays small; with them, taller blocks feed the dW GEMM.
  const int64_t bn = want_grad ? block_rows(V, sizeof(scalar_t), 8LL << 20, 128)
                               : block_rows(V, sizeof(scalar_t), 4LL << 20, 32);
  at::Tensor buf = at::empty({std::min(bn, std::max<int64_t>(n_valid, 1)), V}, x_in.options());
  at::Tensor dx_blk = o.grad_input ? at::empty({buf.size(0), D}, f32) : at::Tensor();

  const int64_t n_tiles = (V + kTile - 1) / kTile;
  const bool filtering = want_grad && o.filter_eps > 0 && o.label_smoothing == 0;
  const double tile_budget = o.filter_eps / static_cast<double>(n_tiles);
  const double eps_ls = o.label_smoothing, cap = o.softcap;

  for (int64_t start = 0; start < n_valid; start += bn) {
    const int64_t nb = std::min(bn, n_valid - start);
    const at::Tensor rows_b = r.index.narrow(0, start, nb);
    const at::Tensor y = r.target.narrow(0, start, nb).unsqueeze(1);
    const at::Tensor xb = x.index_select(0, rows_b);
    at::Tensor L = buf.narrow(0, 0, nb);
    at::mm_out(L, xb, w.t());

    // Per row: lse, loss, the scaled coefficient of its gradient and (for filtering) the tile sums of exp(z - m).
    at::Tensor lse = at::empty({nb}, f32), loss_b = at::empty({nb}, f32), coef = at::empty({nb}, f32);
    at::Tensor e_target = at::empty({nb}, f32);
    at::Tensor tile_sums = filtering ? at::empty({nb, n_tiles}, f32) : at::Tensor();
    const at::Tensor c_all = want_grad ? r.weight.narrow(0, start, nb) : at::Tensor();
    // Rows are independent until the gradient GEMMs: each thread takes its own rows, each row in fp32 over a V-float
    // scratch row (a second one keeps the soft-capped logits for the gradient's 1 - (z/cap)^2).
    scalar_t* Lp = L.data_ptr<scalar_t>();
    const int64_t* yp = y.data_ptr<int64_t>();  // y: [nb, 1], contiguous
    float *lse_p = lse.data_ptr<float>(), *loss_p = loss_b.data_ptr<float>(), *coef_p = coef.data_ptr<float>();
    float* et_p = e_target.data_ptr<float>();
    float* tiles_p = filtering ? tile_sums.data_ptr<float>() : nullptr;
    const float* c_p = want_grad ? c_all.data_ptr<float>() : nullptr;
    const float* bias_p = has_bias ? bias32.data_ptr<float>() : nullptr;
    const float capf = static_cast<float>(cap), eps = static_cast<float>(eps_ls), zl = static_cast<float>(o.z_loss);
    const float inv_v = 1.f / static_cast<float>(V);
    at::parallel_for(0, nb, 16, [&](int64_t r0, int64_t r1) {
      thread_local std::vector<float> zbuf, ebuf;
      zbuf.resize(V);
      if (capf > 0) ebuf.resize(V);
      float* z = zbuf.data();
      float* e = capf > 0 ? ebuf.data() : z;
      for (int64_t i = r0; i < r1; ++i) {
        scalar_t* row = Lp + i * V;
        const int64_t yi = yp[i];
        float z_sum = 0.f;
        const float m = load_row(row, bias_p, capf, V, z, eps > 0 ? &z_sum : nullptr);
        const float z_target = z[yi];
        const float s = exp_row(z, m, V, e, tiles_p == nullptr ? nullptr : tiles_p + i * n_tiles);
        const float lse_i = std::log(s) + m;
        float loss = lse_i - z_target * (1.f - eps);
        if (eps > 0) loss -= z_sum * eps * inv_v;
        if (zl > 0) loss += zl * lse_i * lse_i;
        lse_p[i] = lse_i;
        loss_p[i] = loss;
        if (c_p == nullptr) continue;
        // G = c (coef exp(z - m) - eps/V - (1 - eps)[j = y]) (1 - (z/cap)^2 under softcap), over the logits.
        const float c = c_p[i], coef_i = (1.f + 2.f * zl * lse_i) / s;
        coef_p[i] = coef_i;
        et_p[i] = e[yi];
        store_grad(e, z, c * coef_i, c * eps * inv_v, capf, V, row);
        float g_target = c * coef_i * e[yi] - c * eps * inv_v + c * (eps - 1.f);
        if (capf > 0) g_target *= 1.f - (z[yi] / capf) * (z[yi] / capf);
        row[yi] = static_cast<scalar_t>(g_target);
      }
    });
    check_finite(lse, rows_b);
    loss_rows.index_copy_(0, rows_b, loss_b);
    lse_all.index_copy_(0, rows_b, lse);
    if (!want_grad) continue;
    const Runs runs = filtering ? kept_runs(tile_sums, coef, e_target, y.squeeze(1), tile_budget, V) : Runs{{0, V}};
    if (o.grad_bias) grad_b_acc.add_(at::sum(L, {0}, /*keepdim=*/false, at::kFloat));  // of the rounded G
    if (o.grad_input) {  // dX_b = sum over kept ranges of G W, each product rounded once and summed in fp32
      at::Tensor dxb = dx_blk.narrow(0, 0, nb);
      dxb.zero_();
      for (const auto& [b, e] : runs) dxb.add_(at::mm(L.narrow(1, b, e - b), w.narrow(0, b, e - b)));
      grad_x.index_copy_(0, rows_b, dxb.to(x_in.scalar_type()));
    }
    if (o.grad_weight) {  // dW[b:e] += G[:, b:e]^T X_b
      for (const auto& [b, e] : runs) {
        if (!o.fp32_accumulation) {  // in place in the bf16/fp16 gradient: one rounding per block, no temporary
          grad_w_acc.narrow(0, b, e - b).addmm_(L.narrow(1, b, e - b).t(), xb);
          continue;
        }
        // bf16/fp16 products of kGradChunk vocabulary rows, each rounded once and summed in fp32; the chunks are
        // spread over the threads (one fork/join per range instead of one per GEMM and per add).
        at::parallel_for(0, (e - b + kGradChunk - 1) / kGradChunk, 1, [&](int64_t c0, int64_t c1) {
          for (int64_t ch = c0; ch < c1; ++ch) {
            const int64_t cb = b + ch * kGradChunk, ce = std::min(e, cb + kGradChunk);
            grad_w_acc.narrow(0, cb, ce - cb).add_(at::mm(L.narrow(1, cb, ce - cb).t(), xb));
          }
        });
      }
    }
  }
  at::Tensor grad_w = o.grad_weight ? grad_w_acc.to(w_in.scalar_type()) : at::empty({0}, w_in.options());
  at::Tensor grad_b = o.grad_bias ? grad_b_acc.to(x_in.scalar_type()) : at::empty({0}, x_in.options());
  return {reduce_loss(loss_rows, o, n_valid, x_in.scalar_type()), lse_all, grad_x, grad_w, grad_b};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> dispatch(
    const at::Tensor& x, const at::Tensor& weight, const std::optional<at::Tensor>& bias, const at::Tensor& target,
    const std::optional<at::Tensor>& row_weight, const Options& o) {
  check_inputs(x, weight, bias, target);
  TORCH_CHECK(o.reduction >= 0 && o.reduction <= 2, "linear_cross_entropy: reduction code must be 0, 1 or 2");
  switch (x.scalar_type()) {
    case at::kFloat:
      return run<float>(x, weight, bias, target, row_weight, o);
    case at::kDouble:
      return run<double>(x, weight, bias, target, row_weight, o);
    case at::kBFloat16:
      return run_low_precision<at::BFloat16>(x, weight, bias, target, row_weight, o);
    default:
      return run_low_precision<at::Half>(x, weight, bias, target, row_weight, o);
  }
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> forward_cpu(
    const at::Tensor& x, const at::Tensor& weight, const std::optional<at::Tensor>& bias, const at::Tensor& target,
    int64_t ignore_index, int64_t reduction, double label_smoothing, double z_loss, double softcap, double filter_eps,
    bool grad_input, bool grad_weight, bool grad_bias, bool fp32_accumulation) {
  Options o{ignore_index, reduction, label_smoothing, z_loss, softcap, filter_eps, grad_input, grad_weight, grad_bias,
            fp32_accumulation};
  return dispatch(x, weight, bias, target, std::nullopt, o);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_cpu(
    const at::Tensor& grad_loss, const at::Tensor& x, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
    const at::Tensor& target, int64_t ignore_index, double label_smoothing, double z_loss, double softcap,
    double filter_eps, bool grad_input, bool grad_weight, bool grad_bias, bool fp32_accumulation) {
  TORCH_CHECK(grad_loss.dim() == 1 && grad_loss.size(0) == x.size(0),
              "linear_cross_entropy_backward: grad_loss must be [N], got shape ", grad_loss.sizes());
  Options o{ignore_index, 0, label_smoothing, z_loss, softcap, filter_eps, grad_input, grad_weight, grad_bias,
            fp32_accumulation};
  auto out = dispatch(x, weight, bias, target, grad_loss, o);
  return {std::get<2>(out), std::get<3>(out), std::get<4>(out)};
}

}  // namespace
}  // namespace infomix::xent

TORCH_LIBRARY_FRAGMENT(infomix, m) {
  m.def(INFOMIX_XENT_FWD_SCHEMA);
  m.def(INFOMIX_XENT_BWD_SCHEMA);
}

TORCH_LIBRARY_IMPL(infomix, CPU, m) {
  m.impl("linear_cross_entropy_fwd", &infomix::xent::forward_cpu);
  m.impl("linear_cross_entropy_bwd", &infomix::xent::backward_cpu);
}
