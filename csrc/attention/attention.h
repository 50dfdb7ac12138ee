// Shared declarations of the attention op family: schemas and the segment layout of a batch.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

namespace infomix::attention {

// Written exactly like the Python schema strings of infomix.ops.attention (a test checks they agree).
constexpr const char* kForwardSchema =
    "attention_fwd(Tensor q, Tensor k, Tensor v, Tensor? cu_seqlens_q, Tensor? cu_seqlens_k, "
    "Tensor? key_padding_mask, float scale, int window_left, int window_right, float softcap, "
    "bool return_entropy) -> (Tensor, Tensor, Tensor)";
constexpr const char* kBackwardSchema =
    "attention_bwd(Tensor grad_out, Tensor? grad_lse, Tensor? grad_entropy, Tensor q, Tensor k, Tensor v, "
    "Tensor out, Tensor lse, Tensor entropy, Tensor? cu_seqlens_q, Tensor? cu_seqlens_k, "
    "Tensor? key_padding_mask, float scale, int window_left, int window_right, float softcap) "
    "-> (Tensor, Tensor, Tensor)";

// One attention problem inside the batch: batch row b, queries [q0, q0 + qn), keys [k0, k0 + kn).
struct Segment {
  int64_t b, q0, qn, k0, kn;
};

// Batch rows as segments, or the packed sequences of cu_seqlens (then the batch has one row).
inline std::vector<Segment> make_segments(const at::Tensor& q, const at::Tensor& k,
                                          const std::optional<at::Tensor>& cu_q,
                                          const std::optional<at::Tensor>& cu_k) {
  std::vector<Segment> segs;
  const int64_t batch = q.size(0), sq = q.size(2), sk = k.size(2);
  if (!cu_q.has_value() && !cu_k.has_value()) {
    for (int64_t b = 0; b < batch; ++b) segs.push_back({b, 0, sq, 0, sk});
    return segs;
  }
  const at::Tensor cq = (cu_q.has_value() ? *cu_q : *cu_k).to(at::kCPU, at::kLong).contiguous();
  const at::Tensor ck = (cu_k.has_value() ? *cu_k : *cu_q).to(at::kCPU, at::kLong).contiguous();
  TORCH_CHECK(batch == 1, "attention: with cu_seqlens the batch dimension must be 1, got ", batch);
  TORCH_CHECK(cq.dim() == 1 && ck.dim() == 1 && cq.numel() == ck.numel() && cq.numel() >= 2,
              "attention: cu_seqlens_q and cu_seqlens_k must be 1-D with the same length >= 2");
  const int64_t* pq = cq.data_ptr<int64_t>();
  const int64_t* pk = ck.data_ptr<int64_t>();
  const int64_t n = cq.numel() - 1;
  TORCH_CHECK(pq[0] == 0 && pk[0] == 0 && pq[n] == sq && pk[n] == sk,
              "attention: cu_seqlens must start at 0 and end at the packed lengths (", sq, ", ", sk, ")");
  for (int64_t i = 0; i < n; ++i) {
    TORCH_CHECK(pq[i + 1] >= pq[i] && pk[i + 1] >= pk[i], "attention: cu_seqlens must be non-decreasing");
    segs.push_back({0, pq[i], pq[i + 1] - pq[i], pk[i], pk[i + 1] - pk[i]});
  }
  return segs;
}

}  // namespace infomix::attention
