// Linear cross-entropy on CPU without the N x V logit matrix: one block of rows at a time, its logits held in a
// cache-sized buffer, GEMMs through ATen (MKL sgemm, oneDNN for bf16/fp16), gradients formed in the same pass.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <tuple>
#include <vector>

#include "cross_entropy/xent_schema.h"

namespace infomix::xent {
namespace {

// Vocabulary chunk of the low-precision logits GEMM, whose (bf16/fp16) output is widened into the fp32 block.
constexpr int64_t kLowPrecisionChunk = 4096;

// Rows per block: 16 MiB of logits, but at least 128 rows (so 64 MiB at V = 128256, still ~1% of the materialised
// path there). Larger blocks mean fewer passes of the V x D gradient accumulator through memory (each row block reads
// and writes it once) and better GEMM shapes; smaller ones keep the footprint low. INFOMIX_XENT_BLOCK_BYTES sets the
// logit budget exactly (at least 16 rows), e.g. 64 MiB for 512-row blocks at V = 32768.
int64_t block_rows(int64_t V, int64_t elem_bytes) {
  const int64_t row_bytes = std::max<int64_t>(V * elem_bytes, 1);
  if (const char* env = std::getenv("INFOMIX_XENT_BLOCK_BYTES")) {
    const int64_t budget = std::max<int64_t>(std::atoll(env), 1 << 16);
    return std::max<int64_t>(16, std::min<int64_t>(1024, budget / row_bytes));
  }
  return std::max<int64_t>(128, std::min<int64_t>(1024, (16LL << 20) / row_bytes));
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

template <typename scalar_t, typename acc_t>
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> run(
    const at::Tensor& x_in, const at::Tensor& w_in, const std::optional<at::Tensor>& bias_in, const at::Tensor& target,
    const std::optional<at::Tensor>& row_weight, const Options& o) {
  const int64_t N = x_in.size(0), D = x_in.size(1), V = w_in.size(0);
  const auto acc_type = c10::CppTypeToScalarType<acc_t>::value;
  const auto acc_opts = x_in.options().dtype(acc_type);
  constexpr bool low_precision = !std::is_same_v<scalar_t, acc_t>;
  const at::Tensor x = x_in.contiguous();
  const at::Tensor w = w_in.contiguous();
  const bool has_bias = bias_in.has_value();
  const at::Tensor bias_acc = has_bias ? bias_in->to(acc_type).contiguous() : at::Tensor();

  const at::Tensor rows = valid_rows(target, V, o.ignore_index);
  const int64_t n_valid = rows.numel();
  TORCH_CHECK_VALUE(o.reduction != 1 || n_valid > 0,
              "linear_cross_entropy: every target equals ignore_index, so reduction='mean' is undefined");
  const bool want_grad = o.grad_input || o.grad_weight || o.grad_bias;

  at::Tensor loss_rows = at::zeros({N}, acc_opts);
  at::Tensor lse_all = at::zeros({N}, x_in.options().dtype(at::kFloat));
  at::Tensor grad_x = o.grad_input ? at::zeros({N, D}, x_in.options()) : at::empty({0}, x_in.options());
  // fp32 (acc) accumulators for dW / db; for fp32/fp64 inputs dW accumulates straight into the output.
  // The first row block writes every row of dW (beta = 0, no filtering), so it starts uninitialised.
  at::Tensor grad_w_acc = o.grad_weight ? (n_valid > 0 ? at::empty({V, D}, acc_opts) : at::zeros({V, D}, acc_opts))
                                        : at::Tensor();
  at::Tensor grad_b_acc = o.grad_bias ? at::zeros({V}, acc_opts) : at::Tensor();

  const int64_t bn = block_rows(V, sizeof(acc_t));
  at::Tensor buf = at::empty({std::min(bn, std::max<int64_t>(n_valid, 1)), V}, acc_opts);
  at::Tensor cap_buf = (o.softcap > 0 && want_grad) ? at::empty_like(buf) : at::Tensor();
  at::Tensor g_low = (low_precision && want_grad) ? at::empty(buf.sizes(), x_in.options()) : at::Tensor();
  at::Tensor dx_blk = o.grad_input ? at::empty({buf.size(0), D}, acc_opts) : at::Tensor();

  const acc_t eps_ls = static_cast<acc_t>(o.label_smoothing);
  const acc_t zl = static_cast<acc_t>(o.z_loss);
  const int64_t n_tiles = (V + kTile - 1) / kTile;
  // With label smoothing every tile keeps a mass of eps * tile / V per row: nothing could be skipped.
  const bool filtering = want_grad && o.filter_eps > 0 && o.label_smoothing == 0;
  const acc_t tile_budget = static_cast<acc_t>(o.filter_eps / static_cast<double>(n_tiles));
  const at::Tensor target_valid = target.index_select(0, rows);
  at::Tensor weight_valid;
  if (want_grad) {
    if (row_weight.has_value()) {
      weight_valid = row_weight->to(acc_type).index_select(0, rows);
    } else {
      const double c = (o.reduction == 1) ? 1.0 / static_cast<double>(n_valid) : 1.0;
      weight_valid = at::full({n_valid}, c, acc_opts);
    }
  }

  for (int64_t start = 0; start < n_valid; start += bn) {
    const int64_t nb = std::min(bn, n_valid - start);
    const at::Tensor rows_b = rows.narrow(0, start, nb);
    const at::Tensor y = target_valid.narrow(0, start, nb).unsqueeze(1);
    const at::Tensor xb = x.index_select(0, rows_b);  // [nb, D], contiguous
    at::Tensor L = buf.narrow(0, 0, nb);
    // Logits of the block: L = xb W^T (+ b). fp32/fp64 GEMM straight into the block; bf16/fp16 GEMMs (fp32
    // accumulation inside oneDNN, rounded output as in the materialised path) in vocabulary chunks, then widened.
    if constexpr (low_precision) {
      for (int64_t b = 0; b < V; b += kLowPrecisionChunk) {
        const int64_t e = std::min(V, b + kLowPrecisionChunk);
        L.narrow(1, b, e - b).copy_(at::mm(xb, w.narrow(0, b, e - b).t()));
      }
    } else {
      at::mm_out(L, xb, w.t());
    }
    if (has_bias) L.add_(bias_acc);
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
      tile_sums = at::empty({nb, n_tiles}, acc_opts);
      if (full > 0) tile_sums.narrow(1, 0, full).copy_(L.narrow(1, 0, full * kTile).view({nb, full, kTile}).sum(2));
      if (full < n_tiles) tile_sums.select(1, full).copy_(L.narrow(1, full * kTile, V - full * kTile).sum(1));
      s = tile_sums.sum(1);
    } else {
      s = L.sum(1);
    }
    const at::Tensor lse = s.log().add_(m.squeeze(1));
    if (!lse.isfinite().all().item<bool>()) {
      const int64_t bad = rows_b.masked_select(lse.isfinite().logical_not())[0].item<int64_t>();
      TORCH_CHECK_VALUE(false, "linear_cross_entropy: non-finite log-sum-exp in row ", bad,
                        " (NaN or inf in x, weight or bias)");
    }
    at::Tensor loss_b = lse - z_target * (acc_t(1) - eps_ls);
    if (o.label_smoothing > 0) loss_b.sub_(z_sum * (eps_ls / static_cast<acc_t>(V)));
    if (o.z_loss > 0) loss_b.add_(lse * lse * zl);
    loss_rows.index_copy_(0, rows_b, loss_b);
    lse_all.index_copy_(0, rows_b, lse.to(at::kFloat));
    if (!want_grad) continue;
    // Per row, dloss_i/dz_ij = coef_i E_ij - (1 - eps) [j = y_i] - eps / V with coef_i = (1 + 2 w lse_i) / s_i,
    // times 1 - tanh^2 under softcap; G = c_i * that, with the row weight c_i (1/n_valid, 1 or the upstream grad).
    const at::Tensor coef = (lse * (2 * zl) + 1) / s;
    const at::Tensor c = weight_valid.narrow(0, start, nb);

    // Gradient filtering on the unscaled row gradient: a vocabulary tile is skipped when, for every row of the
    // block, its total mass is below filter_eps / n_tiles (so a row loses less than filter_eps over all skipped
    // tiles). The mass is coef * (tile sum of E), corrected in the target's tile for the one-hot term; under softcap
    // this bounds the true mass from above (1 - tanh^2 <= 1).
    std::vector<std::pair<int64_t, int64_t>> runs;  // [begin, end) column ranges to keep
    if (filtering) {
      at::Tensor mass = tile_sums.mul_(coef.unsqueeze(1));
      const at::Tensor p_target = L.gather(1, y).squeeze(1) * coef;
      mass.scatter_add_(1, at::floor_divide(y, kTile), ((p_target - 1).abs() - p_target).unsqueeze(1));
      const at::Tensor tile_max = std::get<0>(mass.max(0)).contiguous();
      const acc_t* tm = tile_max.data_ptr<acc_t>();
      for (int64_t t = 0; t < n_tiles; ++t) {
        if (!(tm[t] < tile_budget)) {  // NaN-safe: keep
          const int64_t b = t * kTile, e = std::min(V, b + kTile);
          if (!runs.empty() && runs.back().second == b) {
            runs.back().second = e;
          } else {
            runs.emplace_back(b, e);
          }
        }
      }
    } else {
      runs.emplace_back(0, V);
    }

    L.mul_((coef * c).unsqueeze(1));
    if (o.label_smoothing > 0) L.sub_((c * (eps_ls / static_cast<acc_t>(V))).unsqueeze(1));
    L.scatter_add_(1, y, (c * (eps_ls - 1)).unsqueeze(1));
    if (o.softcap > 0) L.mul_(cap_buf.narrow(0, 0, nb));
    at::Tensor g_op = L;  // G in the GEMM input dtype
    if constexpr (low_precision) {
      g_op = g_low.narrow(0, 0, nb);
      g_op.copy_(L);
    }
    if (o.grad_bias) grad_b_acc.add_(L.sum(0));
    if (o.grad_input) {
      at::Tensor dxb = dx_blk.narrow(0, 0, nb);
      dxb.zero_();
      for (const auto& [b, e] : runs) {  // dX_b += G[:, b:e] W[b:e]
        if constexpr (low_precision) {
          dxb.add_(at::mm(g_op.narrow(1, b, e - b), w.narrow(0, b, e - b)));
        } else {
          dxb.addmm_(g_op.narrow(1, b, e - b), w.narrow(0, b, e - b));
        }
      }
      grad_x.index_copy_(0, rows_b, dxb.to(x_in.scalar_type()));
    }
    if (o.grad_weight) {
      if (start == 0) runs.assign(1, {0, V});
      if constexpr (low_precision) {
        // bf16/fp16 GEMM per vocabulary chunk; each block's partial product is rounded once and summed in fp32.
        for (const auto& [b, e] : runs) {
          for (int64_t cb = b; cb < e; cb += kLowPrecisionChunk) {
            const int64_t ce = std::min(e, cb + kLowPrecisionChunk);
            at::Tensor part = at::mm(g_op.narrow(1, cb, ce - cb).t(), xb);
            at::Tensor dst = grad_w_acc.narrow(0, cb, ce - cb);
            if (start == 0) {
              dst.copy_(part);
            } else {
              dst.add_(part);
            }
          }
        }
      } else if (start == 0) {
        at::mm_out(grad_w_acc, L.t(), xb);
      } else {
        for (const auto& [b, e] : runs) {  // dW[b:e] += G[:, b:e]^T X_b
          grad_w_acc.narrow(0, b, e - b).addmm_(L.narrow(1, b, e - b).t(), xb);
        }
      }
    }
  }

  at::Tensor loss;
  if (o.reduction == 0) {
    loss = loss_rows.to(x_in.scalar_type());
  } else {
    at::Tensor total = loss_rows.sum();
    if (o.reduction == 1) total = total / static_cast<double>(n_valid);
    loss = total.to(x_in.scalar_type());
  }
  at::Tensor grad_w = o.grad_weight ? grad_w_acc.to(w_in.scalar_type()) : at::empty({0}, w_in.options());
  at::Tensor grad_b = o.grad_bias ? grad_b_acc.to(x_in.scalar_type()) : at::empty({0}, x_in.options());
  return {loss, lse_all, grad_x, grad_w, grad_b};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> dispatch(
    const at::Tensor& x, const at::Tensor& weight, const std::optional<at::Tensor>& bias, const at::Tensor& target,
    const std::optional<at::Tensor>& row_weight, const Options& o) {
  check_inputs(x, weight, bias, target);
  TORCH_CHECK(o.reduction >= 0 && o.reduction <= 2, "linear_cross_entropy: reduction code must be 0, 1 or 2");
  switch (x.scalar_type()) {
    case at::kFloat:
      return run<float, float>(x, weight, bias, target, row_weight, o);
    case at::kDouble:
      return run<double, double>(x, weight, bias, target, row_weight, o);
    case at::kBFloat16:
      return run<at::BFloat16, float>(x, weight, bias, target, row_weight, o);
    default:
      return run<at::Half, float>(x, weight, bias, target, row_weight, o);
  }
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> forward_cpu(
    const at::Tensor& x, const at::Tensor& weight, const std::optional<at::Tensor>& bias, const at::Tensor& target,
    int64_t ignore_index, int64_t reduction, double label_smoothing, double z_loss, double softcap, double filter_eps,
    bool grad_input, bool grad_weight, bool grad_bias) {
  Options o{ignore_index, reduction, label_smoothing, z_loss, softcap, filter_eps, grad_input, grad_weight, grad_bias};
  return dispatch(x, weight, bias, target, std::nullopt, o);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_cpu(
    const at::Tensor& grad_loss, const at::Tensor& x, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
    const at::Tensor& target, int64_t ignore_index, double label_smoothing, double z_loss, double softcap,
    double filter_eps, bool grad_input, bool grad_weight, bool grad_bias) {
  TORCH_CHECK(grad_loss.dim() == 1 && grad_loss.size(0) == x.size(0),
              "linear_cross_entropy_backward: grad_loss must be [N], got shape ", grad_loss.sizes());
  Options o{ignore_index, 0, label_smoothing, z_loss, softcap, filter_eps, grad_input, grad_weight, grad_bias};
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
