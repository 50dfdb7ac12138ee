// Tiled online-softmax attention on CUDA (FlashAttention-2 loop order): forward over query tiles,
// recomputing backward over key tiles with dQ accumulated atomically. Computes in float32.
#include <cmath>
#include <vector>

#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAException.h>
#include <cuda_runtime.h>
#include <torch/library.h>

#include "attention/attention.h"

namespace infomix::attention {
namespace {

constexpr int kThreads = 128;

struct Geometry {
  long long b, q0, qn, k0, kn;
};

struct Params {
  int hq, hkv, d, tile;
  long long sq, sk;
  float scale, cap;
  long long wl, wr;
};

__device__ __forceinline__ long long key_lo(const Params& p, const Geometry& g, long long i) {
  return p.wl < 0 ? 0 : max(0LL, i + (g.kn - g.qn) - p.wl);
}
__device__ __forceinline__ long long key_hi(const Params& p, const Geometry& g, long long i) {
  return p.wr < 0 ? g.kn - 1 : min(g.kn - 1, i + (g.kn - g.qn) + p.wr);
}

__device__ __forceinline__ float logit_of(const Params& p, float dot) {
  float x = dot * p.scale;
  return p.cap > 0.f ? p.cap * tanhf(x / p.cap) : x;
}

// grid: (query tiles, Hq, segments); shared: Q, K, V, O [tile x d], S [tile x tile], m, l, t, alpha [tile]
__global__ void forward_kernel(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                               const Geometry* __restrict__ segs, const bool* __restrict__ pad, float* __restrict__ out,
                               float* __restrict__ lse, float* __restrict__ ent, Params p) {
  extern __shared__ float smem[];
  const Geometry g = segs[blockIdx.z];
  const int tile = p.tile, d = p.d, tid = threadIdx.x;
  const long long i0 = static_cast<long long>(blockIdx.x) * tile;
  if (i0 >= g.qn) return;
  const int h = blockIdx.y, hk = h / (p.hq / p.hkv);
  const int rows = static_cast<int>(min(static_cast<long long>(tile), g.qn - i0));
  float* sQ = smem;
  float* sK = sQ + tile * d;
  float* sV = sK + tile * d;
  float* sO = sV + tile * d;
  float* sS = sO + tile * d;
  float* sM = sS + tile * tile;
  float* sL = sM + tile;
  float* sT = sL + tile;
  float* sA = sT + tile;
  const long long row0 = (g.b * p.hq + h) * p.sq + g.q0 + i0;
  const long long kv0 = (g.b * p.hkv + hk) * p.sk + g.k0;
  for (int e = tid; e < tile * d; e += blockDim.x) {
    const int r = e / d;
    sQ[e] = r < rows ? q[(row0 + r) * d + e % d] : 0.f;
    sO[e] = 0.f;
  }
  for (int r = tid; r < tile; r += blockDim.x) {
    sM[r] = -INFINITY;
    sL[r] = 0.f;
    sT[r] = 0.f;
    sA[r] = 1.f;
  }
  const long long jbeg = g.kn == 0 ? 0 : key_lo(p, g, i0);
  const long long jend = g.kn == 0 ? 0 : key_hi(p, g, i0 + rows - 1) + 1;
  for (long long j0 = jbeg; j0 < jend; j0 += tile) {
    const int cols = static_cast<int>(min(static_cast<long long>(tile), jend - j0));
    __syncthreads();
    for (int e = tid; e < tile * d; e += blockDim.x) {
      const int c = e / d;
      sK[e] = c < cols ? k[(kv0 + j0 + c) * d + e % d] : 0.f;
      sV[e] = c < cols ? v[(kv0 + j0 + c) * d + e % d] : 0.f;
    }
    __syncthreads();
    for (int e = tid; e < tile * tile; e += blockDim.x) {
      const int r = e / tile, c = e % tile;
      float x = -INFINITY;
      if (r < rows && c < cols) {
        float dot = 0.f;
        for (int t = 0; t < d; ++t) dot = fmaf(sQ[r * d + t], sK[c * d + t], dot);
        const long long i = i0 + r, j = j0 + c;
        const bool masked = j < key_lo(p, g, i) || j > key_hi(p, g, i) || (pad != nullptr && pad[g.b * p.sk + g.k0 + j]);
        if (!masked) x = logit_of(p, dot);
      }
      sS[e] = x;
    }
    __syncthreads();
    for (int r = tid; r < tile; r += blockDim.x) {
      float* srow = sS + r * tile;
      float mx = -INFINITY;
      for (int c = 0; c < cols; ++c) mx = fmaxf(mx, srow[c]);
      const float mold = sM[r], mnew = fmaxf(mold, mx);
      if (mnew == -INFINITY) {
        for (int c = 0; c < tile; ++c) srow[c] = 0.f;
        sA[r] = 1.f;
        continue;
      }
      const float alpha = mold == -INFINITY ? 0.f : __expf(mold - mnew);
      float sum = 0.f, ts = 0.f;
      for (int c = 0; c < tile; ++c) {
        const float x = srow[c];
        const float pr = (c < cols && x != -INFINITY) ? __expf(x - mnew) : 0.f;
        if (pr > 0.f) ts = fmaf(pr, x - mnew, ts);
        sum += pr;
        srow[c] = pr;
      }
      const float lold = sL[r];
      sT[r] = lold > 0.f ? alpha * (sT[r] + (mold - mnew) * lold) + ts : ts;
      sL[r] = alpha * lold + sum;
      sM[r] = mnew;
      sA[r] = alpha;
    }
    __syncthreads();
    for (int e = tid; e < tile * d; e += blockDim.x) {
      const int r = e / d, c = e % d;
      float acc = sO[e] * sA[r];
      for (int jj = 0; jj < cols; ++jj) acc = fmaf(sS[r * tile + jj], sV[jj * d + c], acc);
      sO[e] = acc;
    }
  }
  __syncthreads();
  for (int e = tid; e < rows * d; e += blockDim.x) {
    const int r = e / d;
    const float l = sL[r];
    out[(row0 + r) * d + e % d] = l > 0.f ? sO[e] / l : 0.f;
  }
  for (int r = tid; r < rows; r += blockDim.x) {
    const float l = sL[r];
    lse[row0 + r] = l > 0.f ? sM[r] + logf(l) : -INFINITY;
    if (ent != nullptr) ent[row0 + r] = l > 0.f ? logf(l) - sT[r] / l : 0.f;
  }
}

// grid: (key tiles, Hkv, segments); shared: K, V, dK, dV, Q, dO [tile x d], P, dS [tile x tile], row stats [4 x tile]
__global__ void backward_kernel(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                                const float* __restrict__ dout, const float* __restrict__ lse,
                                const float* __restrict__ dsub, const float* __restrict__ gent,
                                const float* __restrict__ ent, const Geometry* __restrict__ segs,
                                const bool* __restrict__ pad, float* __restrict__ dq, float* __restrict__ dk,
                                float* __restrict__ dv, Params p) {
  extern __shared__ float smem[];
  const Geometry g = segs[blockIdx.z];
  const int tile = p.tile, d = p.d, tid = threadIdx.x;
  const long long j0 = static_cast<long long>(blockIdx.x) * tile;
  if (j0 >= g.kn) return;
  const int hk = blockIdx.y, group = p.hq / p.hkv;
  const int cols = static_cast<int>(min(static_cast<long long>(tile), g.kn - j0));
  float* sK = smem;
  float* sV = sK + tile * d;
  float* sdK = sV + tile * d;
  float* sdV = sdK + tile * d;
  float* sQ = sdV + tile * d;
  float* sG = sQ + tile * d;
  float* sP = sG + tile * d;
  float* sD = sP + tile * tile;
  float* sLse = sD + tile * tile;
  float* sSub = sLse + tile;
  float* sGe = sSub + tile;
  float* sEn = sGe + tile;
  const long long kvrow0 = (g.b * p.hkv + hk) * p.sk + g.k0 + j0;
  for (int e = tid; e < tile * d; e += blockDim.x) {
    const int c = e / d;
    sK[e] = c < cols ? k[(kvrow0 + c) * d + e % d] : 0.f;
    sV[e] = c < cols ? v[(kvrow0 + c) * d + e % d] : 0.f;
    sdK[e] = 0.f;
    sdV[e] = 0.f;
  }
  const long long off = g.kn - g.qn;
  long long ibeg = 0, iend = g.qn;
  if (p.wr >= 0) ibeg = max(0LL, j0 - off - p.wr);
  if (p.wl >= 0) iend = min(g.qn, j0 + cols - 1 - off + p.wl + 1);
  for (int h = hk * group; h < (hk + 1) * group; ++h) {
    const long long hrow0 = (g.b * p.hq + h) * p.sq + g.q0;
    for (long long i0 = ibeg; i0 < iend; i0 += tile) {
      const int rows = static_cast<int>(min(static_cast<long long>(tile), iend - i0));
      const long long row0 = hrow0 + i0;
      __syncthreads();
      for (int e = tid; e < tile * d; e += blockDim.x) {
        const int r = e / d;
        sQ[e] = r < rows ? q[(row0 + r) * d + e % d] : 0.f;
        sG[e] = r < rows ? dout[(row0 + r) * d + e % d] : 0.f;
      }
      for (int r = tid; r < tile; r += blockDim.x) {
        sLse[r] = r < rows ? lse[row0 + r] : -INFINITY;
        sSub[r] = r < rows ? dsub[row0 + r] : 0.f;
        sGe[r] = (gent != nullptr && r < rows) ? gent[row0 + r] : 0.f;
        sEn[r] = (ent != nullptr && r < rows) ? ent[row0 + r] : 0.f;
      }
      __syncthreads();
      for (int e = tid; e < tile * tile; e += blockDim.x) {
        const int r = e / tile, c = e % tile;
        float pr = 0.f, ds = 0.f;
        const float l = sLse[r];
        if (r < rows && c < cols && l != -INFINITY) {
          const long long i = i0 + r, j = j0 + c;
          const bool masked =
              j < key_lo(p, g, i) || j > key_hi(p, g, i) || (pad != nullptr && pad[g.b * p.sk + g.k0 + j]);
          if (!masked) {
            float dot = 0.f, dp = 0.f;
            for (int t = 0; t < d; ++t) {
              dot = fmaf(sQ[r * d + t], sK[c * d + t], dot);
              dp = fmaf(sG[r * d + t], sV[c * d + t], dp);
            }
            const float logit = logit_of(p, dot);
            const float x = logit - l;
            pr = __expf(x);
            ds = pr * (dp - sSub[r]);
            if (sGe[r] != 0.f) ds -= sGe[r] * pr * (x + sEn[r]);
            if (p.cap > 0.f) {
              const float th = logit / p.cap;
              ds *= 1.f - th * th;
            }
          }
        }
        sP[e] = pr;
        sD[e] = ds;
      }
      __syncthreads();
      for (int e = tid; e < tile * d; e += blockDim.x) {
        const int c = e / d, t = e % d;
        float accv = sdV[e], acck = sdK[e];
        for (int r = 0; r < rows; ++r) {
          accv = fmaf(sP[r * tile + c], sG[r * d + t], accv);
          acck = fmaf(sD[r * tile + c], sQ[r * d + t], acck);
        }
        sdV[e] = accv;
        sdK[e] = acck;
      }
      for (int e = tid; e < rows * d; e += blockDim.x) {
        const int r = e / d, t = e % d;
        float acc = 0.f;
        for (int c = 0; c < cols; ++c) acc = fmaf(sD[r * tile + c], sK[c * d + t], acc);
        atomicAdd(dq + (row0 + r) * d + t, p.scale * acc);
      }
    }
  }
  __syncthreads();
  for (int e = tid; e < cols * d; e += blockDim.x) {
    dk[kvrow0 * d + e] = p.scale * sdK[e];
    dv[kvrow0 * d + e] = sdV[e];
  }
}

// ---------------------------------------------------------------------------------------------
int tile_for(int64_t d) { return d <= 64 ? 32 : 16; }

struct Launch {
  at::Tensor segs;
  int64_t max_q = 0, max_k = 0, count = 0;
};

Launch upload_segments(const at::Tensor& q, const at::Tensor& k, const std::optional<at::Tensor>& cu_q,
                       const std::optional<at::Tensor>& cu_k) {
  const auto host = make_segments(q, k, cu_q, cu_k);
  std::vector<int64_t> flat;
  Launch launch;
  for (const auto& s : host) {
    flat.insert(flat.end(), {s.b, s.q0, s.qn, s.k0, s.kn});
    launch.max_q = std::max(launch.max_q, s.qn);
    launch.max_k = std::max(launch.max_k, s.kn);
  }
  launch.count = static_cast<int64_t>(host.size());
  launch.segs = at::tensor(flat, at::TensorOptions().dtype(at::kLong)).to(q.device());
  return launch;
}

Params make_params(const at::Tensor& q, const at::Tensor& k, double scale, int64_t wl, int64_t wr, double cap) {
  return Params{static_cast<int>(q.size(1)), static_cast<int>(k.size(1)), static_cast<int>(q.size(3)),
                tile_for(q.size(3)),         q.size(2),                   k.size(2),
                static_cast<float>(scale),   static_cast<float>(cap),     wl,
                wr};
}

void check_cuda_inputs(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  TORCH_CHECK(q.is_cuda() && k.is_cuda() && v.is_cuda(), "attention (CUDA): q, k, v must be CUDA tensors");
  TORCH_CHECK(q.scalar_type() != at::kDouble, "attention (CUDA): float64 is not supported; use float32, bfloat16 or float16");
  TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4 && k.sizes() == v.sizes() && q.size(0) == k.size(0) &&
                  q.size(3) == k.size(3) && k.size(1) > 0 && q.size(1) % k.size(1) == 0,
              "attention (CUDA): expected q [B, Hq, S_q, d], k/v [B, Hkv, S_k, d] with Hq a multiple of Hkv");
  TORCH_CHECK(q.size(3) <= 256, "attention (CUDA): head_dim must be <= 256, got ", q.size(3));
}

void set_smem(const void* kernel, size_t bytes) {
  if (bytes > 48 * 1024) {
    C10_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
  }
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> attention_fwd_cuda(
    const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const std::optional<at::Tensor>& cu_seqlens_q,
    const std::optional<at::Tensor>& cu_seqlens_k, const std::optional<at::Tensor>& key_padding_mask, double scale,
    int64_t window_left, int64_t window_right, double softcap, bool return_entropy) {
  check_cuda_inputs(q, k, v);
  c10::cuda::CUDAGuard guard(q.device());
  const at::Tensor qf = q.to(at::kFloat).contiguous(), kf = k.to(at::kFloat).contiguous();
  const at::Tensor vf = v.to(at::kFloat).contiguous();
  const Launch launch = upload_segments(q, k, cu_seqlens_q, cu_seqlens_k);
  at::Tensor pad;
  if (key_padding_mask.has_value()) pad = key_padding_mask->to(at::kBool).contiguous();
  at::Tensor out = at::empty_like(qf);
  at::Tensor lse = at::empty({q.size(0), q.size(1), q.size(2)}, qf.options());
  at::Tensor ent = at::empty({return_entropy ? q.size(0) : 0, q.size(1), q.size(2)}, qf.options());
  const Params p = make_params(q, k, scale, window_left, window_right, softcap);
  const int64_t blocks_x = (launch.max_q + p.tile - 1) / p.tile;
  if (blocks_x > 0 && launch.count > 0 && q.size(1) > 0) {
    const size_t smem = sizeof(float) * (4 * p.tile * p.d + p.tile * p.tile + 4 * p.tile);
    set_smem(reinterpret_cast<const void*>(forward_kernel), smem);
    const dim3 grid(static_cast<unsigned>(blocks_x), static_cast<unsigned>(q.size(1)), static_cast<unsigned>(launch.count));
    forward_kernel<<<grid, kThreads, smem, c10::cuda::getCurrentCUDAStream()>>>(
        qf.data_ptr<float>(), kf.data_ptr<float>(), vf.data_ptr<float>(),
        reinterpret_cast<const Geometry*>(launch.segs.data_ptr<int64_t>()), pad.defined() ? pad.data_ptr<bool>() : nullptr,
        out.data_ptr<float>(), lse.data_ptr<float>(), return_entropy ? ent.data_ptr<float>() : nullptr, p);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return {out.to(q.scalar_type()), lse, ent};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> attention_bwd_cuda(
    const at::Tensor& grad_out, const std::optional<at::Tensor>& grad_lse,
    const std::optional<at::Tensor>& grad_entropy, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
    const at::Tensor& out, const at::Tensor& lse, const at::Tensor& entropy,
    const std::optional<at::Tensor>& cu_seqlens_q, const std::optional<at::Tensor>& cu_seqlens_k,
    const std::optional<at::Tensor>& key_padding_mask, double scale, int64_t window_left, int64_t window_right,
    double softcap) {
  check_cuda_inputs(q, k, v);
  c10::cuda::CUDAGuard guard(q.device());
  const at::Tensor qf = q.to(at::kFloat).contiguous(), kf = k.to(at::kFloat).contiguous();
  const at::Tensor vf = v.to(at::kFloat).contiguous(), gf = grad_out.to(at::kFloat).contiguous();
  const at::Tensor lsef = lse.to(at::kFloat).contiguous();
  at::Tensor dsub = (gf * out.to(at::kFloat)).sum(-1);
  if (grad_lse.has_value() && grad_lse->defined()) dsub = dsub - grad_lse->to(at::kFloat);
  dsub = dsub.contiguous();
  const bool with_entropy = grad_entropy.has_value() && grad_entropy->defined() && grad_entropy->numel() > 0;
  at::Tensor gent, entf;
  if (with_entropy) {
    TORCH_CHECK(entropy.sizes() == lse.sizes(), "attention_bwd (CUDA): an entropy gradient needs the forward entropy");
    gent = grad_entropy->to(at::kFloat).contiguous();
    entf = entropy.to(at::kFloat).contiguous();
  }
  const Launch launch = upload_segments(q, k, cu_seqlens_q, cu_seqlens_k);
  at::Tensor pad;
  if (key_padding_mask.has_value()) pad = key_padding_mask->to(at::kBool).contiguous();
  at::Tensor dq = at::zeros_like(qf), dk = at::zeros_like(kf), dv = at::zeros_like(vf);
  const Params p = make_params(q, k, scale, window_left, window_right, softcap);
  const int64_t blocks_x = (launch.max_k + p.tile - 1) / p.tile;
  if (blocks_x > 0 && launch.count > 0 && k.size(1) > 0) {
    const size_t smem = sizeof(float) * (6 * p.tile * p.d + 2 * p.tile * p.tile + 4 * p.tile);
    set_smem(reinterpret_cast<const void*>(backward_kernel), smem);
    const dim3 grid(static_cast<unsigned>(blocks_x), static_cast<unsigned>(k.size(1)), static_cast<unsigned>(launch.count));
    backward_kernel<<<grid, kThreads, smem, c10::cuda::getCurrentCUDAStream()>>>(
        qf.data_ptr<float>(), kf.data_ptr<float>(), vf.data_ptr<float>(), gf.data_ptr<float>(), lsef.data_ptr<float>(),
        dsub.data_ptr<float>(), with_entropy ? gent.data_ptr<float>() : nullptr,
        with_entropy ? entf.data_ptr<float>() : nullptr, reinterpret_cast<const Geometry*>(launch.segs.data_ptr<int64_t>()),
        pad.defined() ? pad.data_ptr<bool>() : nullptr, dq.data_ptr<float>(), dk.data_ptr<float>(), dv.data_ptr<float>(),
        p);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return {dq.to(q.scalar_type()), dk.to(k.scalar_type()), dv.to(v.scalar_type())};
}

}  // namespace
}  // namespace infomix::attention

TORCH_LIBRARY_IMPL(infomix, CUDA, m) {
  m.impl("attention_fwd", &infomix::attention::attention_fwd_cuda);
  m.impl("attention_bwd", &infomix::attention::attention_bwd_cuda);
}
