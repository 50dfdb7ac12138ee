// Linear cross-entropy on CPU without the N x V logit matrix: one block of rows at a time, its logits held in a
// cache-sized buffer, GEMMs through ATen (MKL sgemm, oneDNN for bf16/fp16), gradients formed in the same pass.
// fp32/fp64 keep the block's logits in that dtype; bf16/fp16 keep them in bf16/fp16 (the GEMM's rounded output,
// as in the materialised path) and do the softmax in fp32 over narrow vocabulary chunks.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <tuple>
#include <vector>

#include "cross_entropy/xent_schema.h"

namespace infomix::xent {
namespace {

// Vocabulary chunk of the low-precision path: its fp32 softmax temporaries and the dW partial products are this wide
// (a multiple of kTile, so filtering tiles never straddle chunks).
constexpr int64_t kLowPrecisionChunk = 1024;
// Vocabulary rows of each bf16/fp16 dW partial product added to the fp32 accumulator (a 4096 x D temporary).
constexpr int64_t kGradChunk = 4096;

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

  const int64_t bn = block_rows(V, sizeof(scalar_t));
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

// bf16 / fp16: a block's logits stay in the input dtype (the GEMM's rounded output, as in the materialised path: 2
// bytes per entry); the softmax runs in fp32 over kLowPrecisionChunk-wide column chunks in two sweeps (running max and
// sum of exp, then the gradient, written over the logits in the input dtype for the dX and dW GEMMs). db accumulates
// in fp32 across row blocks, dW in fp32 unless fp32_accumulation is off.
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

  const int64_t n_chunks = (V + kLowPrecisionChunk - 1) / kLowPrecisionChunk;
  const int64_t n_tiles = (V + kTile - 1) / kTile;
  const bool filtering = want_grad && o.filter_eps > 0 && o.label_smoothing == 0;
  const double tile_budget = o.filter_eps / static_cast<double>(n_tiles);
  const double eps_ls = o.label_smoothing, cap = o.softcap;

  // z for columns [b, e) of a block in fp32: logits + bias, soft-capped.
  auto chunk_z = [&](const at::Tensor& L, int64_t b, int64_t e) {
    at::Tensor z = L.narrow(1, b, e - b).to(at::kFloat);
    if (has_bias) z.add_(bias32.narrow(0, b, e - b));
    if (cap > 0) z.div_(cap).tanh_().mul_(cap);
    return z;
  };

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
    // Rows are independent until the gradient GEMMs: each thread sweeps its own rows, with ATen's elementwise ops
    // running serially inside (no fork/join per chunk).
    at::parallel_for(0, nb, 16, [&](int64_t r0, int64_t r1) {
      const int64_t rn = r1 - r0;
      const at::Tensor Lr = L.narrow(0, r0, rn);
      const at::Tensor yr = y.narrow(0, r0, rn);
      // Sweep 1: running max m and sum s of exp(z - m) per row; per-tile sums (rescaled to the final m at the end)
      // for filtering; the row sum of z for label smoothing.
      at::Tensor m = at::full({rn, 1}, -std::numeric_limits<float>::infinity(), f32);
      at::Tensor s = at::zeros({rn, 1}, f32);
      at::Tensor z_sum = eps_ls > 0 ? at::zeros({rn}, f32) : at::Tensor();
      at::Tensor tiles = filtering ? tile_sums.narrow(0, r0, rn) : at::Tensor();
      at::Tensor chunk_max = filtering ? at::empty({rn, n_chunks}, f32) : at::Tensor();
      for (int64_t ch = 0; ch < n_chunks; ++ch) {
        const int64_t b = ch * kLowPrecisionChunk, e = std::min(V, b + kLowPrecisionChunk);
        at::Tensor z = chunk_z(Lr, b, e);
        if (z_sum.defined()) z_sum.add_(z.sum(1));
        const at::Tensor m_new = at::maximum(m, at::amax(z, {1}, /*keepdim=*/true));
        s.mul_((m - m_new).exp_());
        z.sub_(m_new).exp_();
        s.add_(z.sum(1, /*keepdim=*/true));
        m = m_new;
        if (filtering) {
          chunk_max.select(1, ch).copy_(m_new.squeeze(1));
          const int64_t width = e - b, full = width / kTile, t0 = b / kTile;
          if (full > 0) tiles.narrow(1, t0, full).copy_(z.narrow(1, 0, full * kTile).reshape({rn, full, kTile}).sum(2));
          if (full * kTile < width) tiles.select(1, t0 + full).copy_(z.narrow(1, full * kTile, width - full * kTile).sum(1));
        }
      }
      if (filtering) {  // tile sums were taken against the running max of their chunk
        constexpr int64_t tiles_per_chunk = kLowPrecisionChunk / kTile;
        tiles.mul_((chunk_max - m).exp_().repeat_interleave(tiles_per_chunk, 1).narrow(1, 0, n_tiles));
      }
      const at::Tensor ms = m.squeeze(1), ss = s.squeeze(1);
      at::Tensor z_target = Lr.gather(1, yr).squeeze(1).to(at::kFloat);
      if (has_bias) z_target.add_(bias32.index_select(0, yr.squeeze(1)));
      if (cap > 0) z_target.div_(cap).tanh_().mul_(cap);
      const at::Tensor lse_r = ss.log() + ms;
      at::Tensor loss_r = lse_r - z_target * (1.0 - eps_ls);
      if (eps_ls > 0) loss_r.sub_(z_sum * (eps_ls / static_cast<double>(V)));
      if (o.z_loss > 0) loss_r.add_(lse_r * lse_r * o.z_loss);
      lse.narrow(0, r0, rn).copy_(lse_r);
      loss_b.narrow(0, r0, rn).copy_(loss_r);
      if (!want_grad) return;
      const at::Tensor coef_r = (lse_r * (2 * o.z_loss) + 1) / ss;
      coef.narrow(0, r0, rn).copy_(coef_r);
      e_target.narrow(0, r0, rn).copy_((z_target - ms).exp());
      // Sweep 2: G = c (coef exp(z - m) - eps/V - (1 - eps)[j = y]) (1 - (z/cap)^2 under softcap), over the logits.
      const at::Tensor c = c_all.narrow(0, r0, rn);
      const at::Tensor scale = (coef_r * c).unsqueeze(1);
      const at::Tensor one_hot = (c * (eps_ls - 1)).unsqueeze(1);
      const at::Tensor smooth = (c * (eps_ls / static_cast<double>(V))).unsqueeze(1);
      for (int64_t ch = 0; ch < n_chunks; ++ch) {
        const int64_t b = ch * kLowPrecisionChunk, e = std::min(V, b + kLowPrecisionChunk);
        at::Tensor z = chunk_z(Lr, b, e);
        const at::Tensor dcap = cap > 0 ? 1.0 - (z / cap).square() : at::Tensor();
        at::Tensor g = z.sub_(m).exp_().mul_(scale);
        if (eps_ls > 0) g.sub_(smooth);
        const at::Tensor here = (yr >= b).logical_and(yr < e);
        g.scatter_add_(1, (yr - b).clamp(0, e - b - 1), one_hot * here);
        if (cap > 0) g.mul_(dcap);
        Lr.narrow(1, b, e - b).copy_(g);
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
        for (int64_t cb = b; cb < e; cb += kGradChunk) {  // bf16/fp16 products, each rounded once, summed in fp32
          const int64_t ce = std::min(e, cb + kGradChunk);
          grad_w_acc.narrow(0, cb, ce - cb).add_(at::mm(L.narrow(1, cb, ce - cb).t(), xb));
        }
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
