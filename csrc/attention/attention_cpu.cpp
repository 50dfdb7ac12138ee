// Tiled online-softmax attention on CPU: forward keeps O(tile) scores, backward recomputes them.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define INFOMIX_X86 1
#endif

#include "attention/attention.h"
#include "attention/attention_avx512.h"
#include "common/avx2_math.h"

// The BLAS that libtorch links (MKL or OpenBLAS) exports the Fortran GEMMs; weak so a build without
// them still loads and falls back to at::addmm on the same blocks.
extern "C" {
void sgemm_(const char*, const char*, const int*, const int*, const int*, const float*, const float*, const int*,
            const float*, const int*, const float*, float*, const int*) __attribute__((weak));
void dgemm_(const char*, const char*, const int*, const int*, const int*, const double*, const double*, const int*,
            const double*, const int*, const double*, double*, const int*) __attribute__((weak));
// MKL: limit the calling thread's BLAS to one thread (the tiles are already spread over the pool).
int MKL_Set_Num_Threads_Local(int) __attribute__((weak));
}

namespace infomix::attention {
namespace {

constexpr int64_t kFwdRows = 72;    // queries per forward tile (a multiple of the 6-row register tiles)
constexpr int64_t kFwdCols = 512;   // keys per forward tile
constexpr int64_t kBwdRows = 72;    // queries per backward tile
constexpr int64_t kBwdCols = 192;   // keys per backward work item (6-row tiles of dK, dV; 64-column tiles of S)

// Kernel set: scalar rows + BLAS tiles, AVX2 rows + BLAS tiles, or the AVX-512 tiles and rows of
// attention_cpu_avx512.cpp (float only; double always takes the first). INFOMIX_ATTENTION_ISA=scalar or =avx2
// caps the choice below the widest the CPU runs (tests compare the paths).
enum class Isa { kScalar, kAvx2, kAvx512 };

Isa kernel_isa() {
  static const Isa best = [] {
#ifdef INFOMIX_X86
    if (avx512::compiled() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma")) {
      return Isa::kAvx512;
    }
    if (cpu_has_avx2()) return Isa::kAvx2;
#endif
    return Isa::kScalar;
  }();
  const char* cap = std::getenv("INFOMIX_ATTENTION_ISA");
  if (cap != nullptr && std::strcmp(cap, "scalar") == 0) return Isa::kScalar;
  if (cap != nullptr && std::strcmp(cap, "avx2") == 0 && best == Isa::kAvx512) return Isa::kAvx2;
  return best;
}

// ---------------------------------------------------------------------------------------------
// Column-major GEMM  C = alpha * op(A) * op(B) + beta * C  (BLAS convention).
template <typename T>
at::Tensor cm_view(const T* p, int64_t rows, int64_t cols, int64_t ld, bool trans) {
  // op(X) as an ATen view: X stored column-major with leading dimension ld.
  auto opts = at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value);
  T* data = const_cast<T*>(p);
  return trans ? at::from_blob(data, {rows, cols}, {ld, 1}, opts) : at::from_blob(data, {rows, cols}, {1, ld}, opts);
}

template <typename T>
void gemm(char ta, char tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
          int64_t ldb, T beta, T* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (int64_t j = 0; j < n; ++j)
      for (int64_t i = 0; i < m; ++i) c[i + j * ldc] = beta == T(0) ? T(0) : beta * c[i + j * ldc];
    return;
  }
  const int im = static_cast<int>(m), in = static_cast<int>(n), ik = static_cast<int>(k);
  const int ilda = static_cast<int>(lda), ildb = static_cast<int>(ldb), ildc = static_cast<int>(ldc);
  if constexpr (std::is_same_v<T, float>) {
    if (sgemm_ != nullptr) {
      sgemm_(&ta, &tb, &im, &in, &ik, &alpha, a, &ilda, b, &ildb, &beta, c, &ildc);
      return;
    }
  } else {
    if (dgemm_ != nullptr) {
      dgemm_(&ta, &tb, &im, &in, &ik, &alpha, a, &ilda, b, &ildb, &beta, c, &ildc);
      return;
    }
  }
  at::Tensor av = cm_view(a, m, k, lda, ta == 'T');
  at::Tensor bv = cm_view(b, k, n, ldb, tb == 'T');
  at::Tensor cv = cm_view(c, m, n, ldc, false);
  cv.addmm_(av, bv, beta, alpha);
}

// Row-major helpers on top of the column-major GEMM (all matrices row-major with the given lds).
// S[r x c] (+)= alpha * A[r x d] * B[c x d]^T
template <typename T>
void mm_abt(int64_t r, int64_t c, int64_t d, T alpha, const T* a, int64_t lda, const T* b, int64_t ldb, T beta,
            T* s, int64_t lds) {
  gemm<T>('T', 'N', c, r, d, alpha, b, ldb, a, lda, beta, s, lds);
}
// O[r x d] (+)= alpha * P[r x c] * V[c x d]
template <typename T>
void mm_ab(int64_t r, int64_t d, int64_t c, T alpha, const T* p, int64_t ldp, const T* v, int64_t ldv, T beta, T* o,
           int64_t ldo) {
  gemm<T>('N', 'N', d, r, c, alpha, v, ldv, p, ldp, beta, o, ldo);
}
// G[c x d] (+)= alpha * P[r x c]^T * X[r x d]
template <typename T>
void mm_atb(int64_t c, int64_t d, int64_t r, T alpha, const T* p, int64_t ldp, const T* x, int64_t ldx, T beta, T* g,
            int64_t ldg) {
  gemm<T>('N', 'T', d, c, r, alpha, x, ldx, p, ldp, beta, g, ldg);
}

// The tile products of the kernels below: the AVX-512 register tiles when `fast` (float, AVX-512 CPU), the BLAS
// GEMM otherwise. The AVX-512 product with B^T reads B transposed (bt: [d x c] with leading dimension ldbt).
// S[r x c] = alpha * A[r x d] * B[c x d]^T
template <typename T>
void tile_abt(bool fast, int64_t r, int64_t c, int64_t d, T alpha, const T* a, int64_t lda, const T* b, int64_t ldb,
              const T* bt, int64_t ldbt, T* s, int64_t lds) {
  if constexpr (std::is_same_v<T, float>) {
    if (fast) return avx512::mm_a_b(r, c, d, alpha, a, lda, 1, bt, ldbt, false, s, lds);
  }
  mm_abt<T>(r, c, d, alpha, a, lda, b, ldb, T(0), s, lds);
}
// O[r x d] += alpha * P[r x c] * V[c x d]
template <typename T>
void tile_ab(bool fast, int64_t r, int64_t d, int64_t c, T alpha, const T* p, int64_t ldp, const T* v, int64_t ldv,
             T* o, int64_t ldo) {
  if constexpr (std::is_same_v<T, float>) {
    if (fast) return avx512::mm_a_b(r, d, c, alpha, p, ldp, 1, v, ldv, true, o, ldo);
  }
  mm_ab<T>(r, d, c, alpha, p, ldp, v, ldv, T(1), o, ldo);
}
// G[c x d] += alpha * P[r x c]^T * X[r x d]
template <typename T>
void tile_atb(bool fast, int64_t c, int64_t d, int64_t r, T alpha, const T* p, int64_t ldp, const T* x, int64_t ldx,
              T* g, int64_t ldg) {
  if constexpr (std::is_same_v<T, float>) {
    if (fast) return avx512::mm_a_b(c, d, r, alpha, p, 1, ldp, x, ldx, true, g, ldg);
  }
  mm_atb<T>(c, d, r, alpha, p, ldp, x, ldx, T(1), g, ldg);
}

// ---------------------------------------------------------------------------------------------
// Row kernels: scores -> logits (scale, softcap, mask), exp + sums, and the backward score gradient.
template <typename T>
constexpr T neg_inf() {
  return -std::numeric_limits<T>::infinity();
}

// s holds scale * q.k; apply the softcap and the mask in place and return the row max.
template <typename T>
T prepare_row_scalar(T* s, int64_t n, T cap, int64_t lo, int64_t hi, const bool* pad) {
  T mx = neg_inf<T>();
  for (int64_t j = 0; j < n; ++j) {
    T x = s[j];
    if (cap > T(0)) x = cap * std::tanh(x / cap);
    if (j < lo || j >= hi || (pad != nullptr && pad[j])) x = neg_inf<T>();
    s[j] = x;
    mx = std::max(mx, x);
  }
  return mx;
}

// s <- exp(s - m); returns sum; *t += sum p * (s - m) over unmasked entries when t is given.
template <typename T>
T exp_row_scalar(T* s, int64_t n, T m, T* t) {
  T sum = 0, ts = 0;
  for (int64_t j = 0; j < n; ++j) {
    const T x = s[j] - m;
    const T p = std::exp(x);
    s[j] = p;
    sum += p;
    if (p > T(0)) ts += p * x;
  }
  if (t != nullptr) *t += ts;
  return sum;
}

// p <- exp(logit - lse); ds <- dlogit/dscore given dP (in ds), softcap chain rule and entropy gradient.
template <typename T>
void bwd_row_scalar(const T* logit, T* p, T* ds, int64_t n, T lse, T dsub, T g_ent, T ent, T cap) {
  for (int64_t j = 0; j < n; ++j) {
    const T l = logit[j];
    if (l == neg_inf<T>()) {
      p[j] = 0;
      ds[j] = 0;
      continue;
    }
    const T x = l - lse;
    const T pj = std::exp(x);
    T g = pj * (ds[j] - dsub);
    if (g_ent != T(0)) g -= g_ent * pj * (x + ent);
    if (cap > T(0)) {
      const T th = l / cap;
      g *= T(1) - th * th;
    }
    p[j] = pj;
    ds[j] = g;
  }
}

#ifdef INFOMIX_X86
__attribute__((target("avx2,fma"))) float prepare_row_avx2(float* s, int64_t n, float cap, int64_t lo, int64_t hi,
                                                           const bool* pad) {
  __m256 vmax = _mm256_set1_ps(neg_inf<float>());
  int64_t j = 0;
  if (cap > 0) {
    const __m256 vcap = _mm256_set1_ps(cap), vinv = _mm256_set1_ps(1.0f / cap);
    for (; j + 8 <= n; j += 8) {
      const __m256 x = _mm256_loadu_ps(s + j);
      _mm256_storeu_ps(s + j, _mm256_mul_ps(vcap, tanh8(_mm256_mul_ps(x, vinv))));
    }
    for (; j < n; ++j) s[j] = cap * std::tanh(s[j] / cap);
  }
  for (int64_t i = 0; i < std::min(lo, n); ++i) s[i] = neg_inf<float>();
  for (int64_t i = std::max<int64_t>(hi, 0); i < n; ++i) s[i] = neg_inf<float>();
  if (pad != nullptr)
    for (int64_t i = 0; i < n; ++i)
      if (pad[i]) s[i] = neg_inf<float>();
  j = 0;
  for (; j + 8 <= n; j += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(s + j));
  float mx = hmax8(vmax);
  for (; j < n; ++j) mx = std::max(mx, s[j]);
  return mx;
}

__attribute__((target("avx2,fma"))) float exp_row_avx2(float* s, int64_t n, float m, float* t) {
  const __m256 vm = _mm256_set1_ps(m), floor = _mm256_set1_ps(-1e30f);
  __m256 vsum = _mm256_setzero_ps(), vt = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 x = _mm256_max_ps(_mm256_sub_ps(_mm256_loadu_ps(s + j), vm), floor);
    const __m256 p = exp8(x);
    _mm256_storeu_ps(s + j, p);
    vsum = _mm256_add_ps(vsum, p);
    if (t != nullptr) vt = _mm256_fmadd_ps(p, x, vt);
  }
  float sum = hsum8(vsum), ts = hsum8(vt);
  for (; j < n; ++j) {
    const float x = s[j] - m;
    const float p = std::exp(x);
    s[j] = p;
    sum += p;
    if (p > 0) ts += p * x;
  }
  if (t != nullptr) *t += ts;
  return sum;
}

__attribute__((target("avx2,fma"))) void bwd_row_avx2(const float* logit, float* p, float* ds, int64_t n, float lse,
                                                      float dsub, float g_ent, float ent, float cap) {
  const __m256 vlse = _mm256_set1_ps(lse), vsub = _mm256_set1_ps(dsub), vge = _mm256_set1_ps(g_ent);
  const __m256 vent = _mm256_set1_ps(ent), floor = _mm256_set1_ps(-1e30f), one = _mm256_set1_ps(1.0f);
  const __m256 vinv = _mm256_set1_ps(cap > 0 ? 1.0f / cap : 0.0f), vnegcap = _mm256_set1_ps(-cap);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 l = _mm256_loadu_ps(logit + j);
    const __m256 x = _mm256_max_ps(_mm256_sub_ps(l, vlse), floor);
    const __m256 pj = exp8(x);
    __m256 g = _mm256_mul_ps(pj, _mm256_sub_ps(_mm256_loadu_ps(ds + j), vsub));
    if (g_ent != 0.0f) g = _mm256_fnmadd_ps(_mm256_mul_ps(vge, pj), _mm256_add_ps(x, vent), g);
    if (cap > 0) {
      const __m256 th = _mm256_mul_ps(_mm256_max_ps(l, vnegcap), vinv);
      g = _mm256_mul_ps(g, _mm256_fnmadd_ps(th, th, one));
    }
    _mm256_storeu_ps(p + j, pj);
    _mm256_storeu_ps(ds + j, g);
  }
  if (j < n) bwd_row_scalar<float>(logit + j, p + j, ds + j, n - j, lse, dsub, g_ent, ent, cap);
}
#endif  // INFOMIX_X86

template <typename T>
T prepare_row(Isa isa, T* s, int64_t n, T cap, int64_t lo, int64_t hi, const bool* pad) {
#ifdef INFOMIX_X86
  if constexpr (std::is_same_v<T, float>) {
    if (isa != Isa::kScalar) return prepare_row_avx2(s, n, cap, lo, hi, pad);  // (AVX-512 float: scores())
  }
#endif
  return prepare_row_scalar<T>(s, n, cap, lo, hi, pad);
}

template <typename T>
T exp_row(Isa isa, T* s, int64_t n, T m, T* t) {
#ifdef INFOMIX_X86
  if constexpr (std::is_same_v<T, float>) {
    if (isa == Isa::kAvx512) return avx512::exp_row(s, n, m, t);
    if (isa == Isa::kAvx2) return exp_row_avx2(s, n, m, t);
  }
#endif
  return exp_row_scalar<T>(s, n, m, t);
}

template <typename T>
void bwd_row(Isa isa, const T* logit, T* p, T* ds, int64_t n, T lse, T dsub, T g_ent, T ent, T cap) {
#ifdef INFOMIX_X86
  if constexpr (std::is_same_v<T, float>) {
    if (isa == Isa::kAvx512) return avx512::bwd_row(logit, p, ds, n, lse, dsub, g_ent, ent, cap);
    if (isa == Isa::kAvx2) return bwd_row_avx2(logit, p, ds, n, lse, dsub, g_ent, ent, cap);
  }
#endif
  bwd_row_scalar<T>(logit, p, ds, n, lse, dsub, g_ent, ent, cap);
}

template <typename T>
bool has_nan(Isa isa, const T* x, int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    if (isa == Isa::kAvx512) return avx512::has_nan(x, n);
  }
  bool found = false;
  for (int64_t i = 0; i < n; ++i) found |= (x[i] != x[i]);
  return found;
}

// ---------------------------------------------------------------------------------------------
// Mask geometry: query i of a segment sees key j iff lo(i) <= j <= hi(i), keys aligned to the end
// of the segment (offset kn - qn), a negative window side meaning unbounded.
struct Window {
  int64_t left, right, qn, kn;
  int64_t lo(int64_t i) const { return left < 0 ? 0 : std::max<int64_t>(0, i + (kn - qn) - left); }
  int64_t hi(int64_t i) const { return right < 0 ? kn - 1 : std::min<int64_t>(kn - 1, i + (kn - qn) + right); }
};

// AVX-512 score block (float only): S = logits of scale * Q KT for queries i0.. of the segment and keys j0.., with
// the softcap and the window / padding masks applied in the register tiles; row_max[r] = the row maxima when given.
template <typename T>
void score_block(int64_t rows, int64_t cols, int64_t d, T scale, T cap, const T* q, const T* kt, int64_t ldkt,
                 const Window& win, int64_t i0, int64_t j0, const bool* pad, T* s, int64_t lds, T* row_max) {
  if constexpr (std::is_same_v<T, float>) {
    thread_local std::vector<int32_t> lo, hi;
    lo.resize(rows);
    hi.resize(rows);
    for (int64_t r = 0; r < rows; ++r) {
      lo[r] = static_cast<int32_t>(std::clamp<int64_t>(win.lo(i0 + r) - j0, 0, cols));
      hi[r] = static_cast<int32_t>(std::clamp<int64_t>(win.hi(i0 + r) - j0 + 1, 0, cols));
      if (row_max != nullptr) row_max[r] = neg_inf<T>();
    }
    avx512::scores(rows, cols, d, scale, cap, q, d, kt, ldkt, lo.data(), hi.data(), pad, s, lds, row_max);
  } else {
    TORCH_CHECK(false, "attention: the AVX-512 score block is float only");
  }
}

// Run `work(item, worker)` for items [0, n) on the intra-op pool, dynamically load-balanced.
template <typename F>
void parallel_items(int64_t n, int64_t workers, const F& work) {
  std::atomic<int64_t> next{0};
  at::parallel_for(0, workers, 1, [&](int64_t begin, int64_t end) {
    const int saved = MKL_Set_Num_Threads_Local != nullptr ? MKL_Set_Num_Threads_Local(1) : 0;
    for (int64_t w = begin; w < end; ++w) {
      for (int64_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) work(i, w);
    }
    if (MKL_Set_Num_Threads_Local != nullptr) MKL_Set_Num_Threads_Local(saved);
  });
}

struct Items {
  std::vector<int64_t> start;  // first item of each (segment, head) pair
  std::vector<int64_t> blocks;
  int64_t total = 0;
  // items per (segment, head): ceil(len / tile); returns (segment, head, block)
  Items(const std::vector<Segment>& segs, int64_t heads, int64_t tile, bool by_keys) {
    for (const auto& s : segs) {
      const int64_t len = by_keys ? s.kn : s.qn;
      const int64_t nb = (len + tile - 1) / tile;
      for (int64_t h = 0; h < heads; ++h) {
        start.push_back(total);
        blocks.push_back(nb);
        total += nb;
      }
    }
  }
  void locate(int64_t item, int64_t heads, int64_t& seg, int64_t& head, int64_t& block) const {
    const int64_t idx = std::upper_bound(start.begin(), start.end(), item) - start.begin() - 1;
    // start can repeat for empty segments: upper_bound lands on the last pair starting at or before item
    seg = idx / heads;
    head = idx % heads;
    block = item - start[idx];
  }
};

// ---------------------------------------------------------------------------------------------
template <typename T>
void forward_kernel(Isa isa, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const T* kt_all,
                    const std::vector<Segment>& segs, const bool* pad_all, T scale, int64_t wl, int64_t wr, T cap,
                    at::Tensor& out, at::Tensor& lse, T* ent_all, std::atomic<bool>& nan_seen) {
  const int64_t hq = q.size(1), hkv = k.size(1), sq = q.size(2), sk = k.size(2), d = q.size(3);
  const int64_t group = hq / hkv;
  const T* qp = q.data_ptr<T>();
  const T* kp = k.data_ptr<T>();
  const T* vp = v.data_ptr<T>();
  T* op = out.data_ptr<T>();
  T* lp = lse.data_ptr<T>();
  const bool fast = kt_all != nullptr;
  const Items items(segs, hq, kFwdRows, false);
  const int64_t workers = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), items.total));

  parallel_items(items.total, workers, [&](int64_t item, int64_t) {
    thread_local std::vector<T> sbuf, acc, mrow, lrow, trow, bmax;
    sbuf.resize(kFwdRows * kFwdCols);
    bmax.resize(kFwdRows);
    acc.resize(kFwdRows * d);
    mrow.resize(kFwdRows);
    lrow.resize(kFwdRows);
    trow.resize(kFwdRows);
    int64_t si, h, blk;
    items.locate(items.total - 1 - item, hq, si, h, blk);  // longest (last) query tiles first
    const Segment& sg = segs[si];
    const Window win{wl, wr, sg.qn, sg.kn};
    const int64_t i0 = blk * kFwdRows, rows = std::min(kFwdRows, sg.qn - i0);
    const int64_t row0 = (sg.b * hq + h) * sq + sg.q0 + i0;  // global row index into [B, Hq, Sq]
    const T* Q = qp + row0 * d;
    const int64_t kvbase = ((sg.b * hkv + h / group) * sk + sg.k0) * d;
    const T* K = kp + kvbase;
    const T* V = vp + kvbase;
    const T* KT = kt_all == nullptr ? nullptr : kt_all + (sg.b * hkv + h / group) * d * sk + sg.k0;
    const bool* pad = pad_all == nullptr ? nullptr : pad_all + sg.b * sk + sg.k0;
    // NaN screening inside the parallel pass: each query tile, and K/V once per (segment, kv head)
    bool nan_here = has_nan(isa, Q, rows * d);
    if (blk == 0 && h % group == 0) nan_here |= has_nan(isa, K, sg.kn * d) || has_nan(isa, V, sg.kn * d);
    if (nan_here) nan_seen.store(true, std::memory_order_relaxed);
    std::fill(acc.begin(), acc.begin() + rows * d, T(0));
    std::fill(mrow.begin(), mrow.end(), neg_inf<T>());
    std::fill(lrow.begin(), lrow.end(), T(0));
    std::fill(trow.begin(), trow.end(), T(0));
    const int64_t jbeg = sg.kn == 0 ? 0 : win.lo(i0);
    const int64_t jend = sg.kn == 0 ? 0 : win.hi(i0 + rows - 1) + 1;
    for (int64_t j0 = jbeg; j0 < jend; j0 += kFwdCols) {
      const int64_t cols = std::min(kFwdCols, jend - j0);
      T* S = sbuf.data();
      if (fast) {  // logits and row maxima straight from the register tiles
        score_block<T>(rows, cols, d, scale, cap, Q, KT + j0, sk, win, i0, j0, pad == nullptr ? nullptr : pad + j0,
                       S, kFwdCols, bmax.data());
      } else {
        tile_abt<T>(false, rows, cols, d, scale, Q, d, K + j0 * d, d, nullptr, sk, S, kFwdCols);
      }
      for (int64_t r = 0; r < rows; ++r) {
        T* srow = S + r * kFwdCols;
        const int64_t i = i0 + r;
        const int64_t lo = win.lo(i) - j0, hi = win.hi(i) - j0 + 1;
        const T mx = fast ? bmax[r] : prepare_row<T>(isa, srow, cols, cap, lo, hi, pad == nullptr ? nullptr : pad + j0);
        const T mnew = std::max(mrow[r], mx);
        if (mnew == neg_inf<T>()) {  // nothing visible yet in this row
          std::fill(srow, srow + cols, T(0));
          continue;
        }
        const T mold = mrow[r], lold = lrow[r];
        const T alpha = mold == neg_inf<T>() ? T(0) : std::exp(mold - mnew);
        T tsum = 0;
        const T sum = exp_row<T>(isa, srow, cols, mnew, ent_all != nullptr ? &tsum : nullptr);
        // entropy bookkeeping relative to the running max: t = sum p (x - m)
        trow[r] = lold > T(0) ? alpha * (trow[r] + (mold - mnew) * lold) + tsum : tsum;
        lrow[r] = alpha * lold + sum;
        mrow[r] = mnew;
        if (alpha != T(1) && lold > T(0)) {  // (lold == 0: nothing accumulated yet, the row is zero)
          T* a = acc.data() + r * d;
          for (int64_t c = 0; c < d; ++c) a[c] *= alpha;
        }
      }
      tile_ab<T>(fast, rows, d, cols, T(1), S, kFwdCols, V + j0 * d, d, acc.data(), d);
    }
    for (int64_t r = 0; r < rows; ++r) {
      T* o = op + (row0 + r) * d;
      const T l = lrow[r];
      if (l > T(0)) {
        const T inv = T(1) / l;
        const T* a = acc.data() + r * d;
        for (int64_t c = 0; c < d; ++c) o[c] = a[c] * inv;
        lp[row0 + r] = mrow[r] + std::log(l);
        if (ent_all != nullptr) ent_all[row0 + r] = std::log(l) - trow[r] / l;
      } else {  // a query that sees no key: zero output, lse = -inf, entropy 0
        std::fill(o, o + d, T(0));
        lp[row0 + r] = neg_inf<T>();
        if (ent_all != nullptr) ent_all[row0 + r] = T(0);
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Short sequences: many independent attentions over a handful of tokens (a set network's attention across the
// features of each row: [rows, heads, ~10, 8]). Each (b, h) pair is one small block computed whole, with no
// tiles, no K transpose and no per-tile bookkeeping, and q, k, v are read through their strides, so head-split
// views ([B, S, H, d] transposed) need no copy. Taken without packing, padding, window or softcap.
constexpr int64_t kShortLen = 32;   // S_q and S_k at most this
constexpr int64_t kShortDim = 128;  // d at most this

bool short_path_applies(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                        const std::optional<at::Tensor>& cu_q, const std::optional<at::Tensor>& cu_k,
                        const std::optional<at::Tensor>& pad, int64_t wl, int64_t wr, double cap) {
  return !cu_q.has_value() && !cu_k.has_value() && !pad.has_value() && wl < 0 && wr < 0 && cap <= 0.0 &&
         q.size(2) > 0 && k.size(2) > 0 && q.size(2) <= kShortLen && k.size(2) <= kShortLen &&
         q.size(3) <= kShortDim && q.stride(3) == 1 && k.stride(3) == 1 && v.stride(3) == 1;
}

// One (b, h) block: K transposed into a zero-padded local buffer so that each query's logits are a few vector
// multiply-adds over the keys, the sq x sk logits (padded to whole vectors, padding at -inf) in one buffer, one
// vectorised exp over it. D > 0 fixes the head size at compile time; D = 0 reads it from d.
template <typename T, int64_t D>
[[gnu::always_inline]] inline void short_block_body(Isa isa, const T* Q, int64_t qs, const T* K, int64_t ks,
                                                    const T* V, int64_t vs, int64_t sq, int64_t sk, int64_t d_runtime,
                                                    T scale, T* o, T* lse, T* ent) {
  constexpr int64_t lanes = 8;
  const int64_t d = D > 0 ? D : d_runtime;
  const int64_t kp = (sk + lanes - 1) / lanes * lanes;  // keys padded to whole vectors
  alignas(64) T kt[kShortDim * kShortLen];
  alignas(64) T s[kShortLen * kShortLen];
  alignas(64) T x[kShortLen * kShortLen];
  T mrow[kShortLen];
  for (int64_t c = 0; c < d; ++c) {
    for (int64_t j = 0; j < sk; ++j) kt[c * kp + j] = scale * K[j * ks + c];
    for (int64_t j = sk; j < kp; ++j) kt[c * kp + j] = 0;
  }
  for (int64_t i = 0; i < sq; ++i) {
    T* row = s + i * kp;
    for (int64_t j = 0; j < kp; ++j) row[j] = 0;
    for (int64_t c = 0; c < d; ++c) {
      const T qc = Q[i * qs + c];
      const T* kc = kt + c * kp;
      for (int64_t j = 0; j < kp; ++j) row[j] += qc * kc[j];
    }
    T mx = row[0];
    for (int64_t j = 1; j < sk; ++j) mx = std::max(mx, row[j]);
    mrow[i] = mx;
    for (int64_t j = 0; j < kp; ++j) row[j] = j < sk ? row[j] - mx : neg_inf<T>();
  }
  if (ent != nullptr) std::copy(s, s + sq * kp, x);
  exp_row<T>(isa, s, sq * kp, T(0), nullptr);
  for (int64_t i = 0; i < sq; ++i) {
    const T* p = s + i * kp;
    T l = 0;
    for (int64_t j = 0; j < sk; ++j) l += p[j];
    const T inv = T(1) / l;
    T acc[D > 0 ? D : kShortDim];
    for (int64_t c = 0; c < d; ++c) acc[c] = 0;
    for (int64_t j = 0; j < sk; ++j) {
      const T w = p[j];
      for (int64_t c = 0; c < d; ++c) acc[c] += w * V[j * vs + c];
    }
    for (int64_t c = 0; c < d; ++c) o[i * d + c] = acc[c] * inv;
    lse[i] = mrow[i] + std::log(l);
    if (ent != nullptr) {
      T t = 0;
      for (int64_t j = 0; j < sk; ++j) t += p[j] * x[i * kp + j];
      ent[i] = std::log(l) - t * inv;
    }
  }
}

template <typename T, int64_t D>
void short_block(Isa isa, const T* Q, int64_t qs, const T* K, int64_t ks, const T* V, int64_t vs, int64_t sq,
                 int64_t sk, int64_t d, T scale, T* o, T* lse, T* ent) {
  short_block_body<T, D>(isa, Q, qs, K, ks, V, vs, sq, sk, d, scale, o, lse, ent);
}

#ifdef INFOMIX_X86
// the same block compiled for AVX2 + FMA (the loops over keys and over d become 8-lane vector operations)
template <typename T, int64_t D>
__attribute__((target("avx2,fma"))) void short_block_avx2(Isa isa, const T* Q, int64_t qs, const T* K, int64_t ks,
                                                          const T* V, int64_t vs, int64_t sq, int64_t sk, int64_t d,
                                                          T scale, T* o, T* lse, T* ent) {
  short_block_body<T, D>(isa, Q, qs, K, ks, V, vs, sq, sk, d, scale, o, lse, ent);
}
#endif

template <typename T>
using ShortBlock = void (*)(Isa, const T*, int64_t, const T*, int64_t, const T*, int64_t, int64_t, int64_t, int64_t, T,
                            T*, T*, T*);

template <typename T>
ShortBlock<T> short_block_for(Isa isa, int64_t d) {
#ifdef INFOMIX_X86
  if (isa != Isa::kScalar) {
    return d == 8 ? &short_block_avx2<T, 8> : d == 16 ? &short_block_avx2<T, 16> : d == 32 ? &short_block_avx2<T, 32>
           : d == 64                                                                     ? &short_block_avx2<T, 64>
                                                                                         : &short_block_avx2<T, 0>;
  }
#endif
  return d == 8 ? &short_block<T, 8> : d == 16 ? &short_block<T, 16> : d == 32 ? &short_block<T, 32>
         : d == 64                                                             ? &short_block<T, 64>
                                                                               : &short_block<T, 0>;
}

// out, lse (and entropy) of every (b, h), items spread over the intra-op pool.
template <typename T>
void short_kernel(Isa isa, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, T scale, at::Tensor& out,
                  at::Tensor& lse, T* ent_all, std::atomic<bool>& nan_seen) {
  const int64_t batch = q.size(0), hq = q.size(1), sq = q.size(2), d = q.size(3), sk = k.size(2);
  const int64_t group = hq / k.size(1);
  const int64_t qs = q.stride(2), ks = k.stride(2), vs = v.stride(2);
  const T* qp = q.data_ptr<T>();
  const T* kp = k.data_ptr<T>();
  const T* vp = v.data_ptr<T>();
  T* op = out.data_ptr<T>();
  T* lp = lse.data_ptr<T>();
  const ShortBlock<T> block = short_block_for<T>(isa, d);
  at::parallel_for(0, batch * hq, 16, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / hq, h = item % hq;
      const T* Q = qp + b * q.stride(0) + h * q.stride(1);
      const T* K = kp + b * k.stride(0) + (h / group) * k.stride(1);
      const T* V = vp + b * v.stride(0) + (h / group) * v.stride(1);
      // NaN screening (the vectorised exp turns a NaN logit into a zero weight): q rows every item, k and v once
      // per (b, kv head)
      bool nan_here = false;
      for (int64_t i = 0; i < sq; ++i) nan_here |= has_nan(isa, Q + i * qs, d);
      if (h % group == 0)
        for (int64_t j = 0; j < sk; ++j) nan_here |= has_nan(isa, K + j * ks, d) || has_nan(isa, V + j * vs, d);
      if (nan_here) nan_seen.store(true, std::memory_order_relaxed);
      block(isa, Q, qs, K, ks, V, vs, sq, sk, d, scale, op + item * sq * d, lp + item * sq,
            ent_all == nullptr ? nullptr : ent_all + item * sq);
    }
  });
}

template <typename T>
void backward_kernel(Isa isa, const at::Tensor& dout, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const T* kt_all, const T* vt_all,
                     const at::Tensor& lse, const at::Tensor& out, const T* glse_all, const T* gent_all,
                     const T* ent_all,
                     const std::vector<Segment>& segs, const bool* pad_all, T scale, int64_t wl, int64_t wr, T cap,
                     at::Tensor& dq, at::Tensor& dk, at::Tensor& dv) {
  const int64_t hq = q.size(1), hkv = k.size(1), sq = q.size(2), sk = k.size(2), d = q.size(3);
  const int64_t group = hq / hkv;
  const T* qp = q.data_ptr<T>();
  const T* kp = k.data_ptr<T>();
  const T* vp = v.data_ptr<T>();
  const T* gp = dout.data_ptr<T>();
  const T* lp = lse.data_ptr<T>();
  const T* op = out.data_ptr<T>();
  T* dkp = dk.data_ptr<T>();
  T* dvp = dv.data_ptr<T>();
  const bool fast = kt_all != nullptr && vt_all != nullptr;
  const Items items(segs, hkv, kBwdCols, true);
  const int64_t workers = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), items.total));
  // dQ gathers contributions from every key tile: one accumulator per worker, summed at the end.
  std::vector<at::Tensor> dq_parts(workers);

  parallel_items(items.total, workers, [&](int64_t item, int64_t worker) {
    thread_local std::vector<T> sbuf, pbuf, dsbuf, dkacc, dvacc, dsub;
    sbuf.resize(kBwdRows * kBwdCols);
    pbuf.resize(kBwdRows * kBwdCols);
    dsbuf.resize(kBwdRows * kBwdCols);
    dkacc.resize(kBwdCols * d);
    dvacc.resize(kBwdCols * d);
    dsub.resize(kBwdRows);
    if (!dq_parts[worker].defined()) dq_parts[worker] = at::zeros_like(q);
    T* dqp = dq_parts[worker].data_ptr<T>();
    int64_t si, hk, blk;
    items.locate(item, hkv, si, hk, blk);
    const Segment& sg = segs[si];
    const Window win{wl, wr, sg.qn, sg.kn};
    const int64_t j0 = blk * kBwdCols, cols = std::min(kBwdCols, sg.kn - j0);
    const int64_t kvrow0 = (sg.b * hkv + hk) * sk + sg.k0 + j0;
    const T* K = kp + kvrow0 * d;
    const T* V = vp + kvrow0 * d;
    const int64_t tbase = (sg.b * hkv + hk) * d * sk + sg.k0 + j0;
    const T* KT = fast ? kt_all + tbase : nullptr;
    const T* VT = fast ? vt_all + tbase : nullptr;
    const bool* pad = pad_all == nullptr ? nullptr : pad_all + sg.b * sk + sg.k0 + j0;
    std::fill(dkacc.begin(), dkacc.begin() + cols * d, T(0));
    std::fill(dvacc.begin(), dvacc.begin() + cols * d, T(0));
    // queries whose visible range meets [j0, j0 + cols)
    const int64_t off = sg.kn - sg.qn;
    int64_t ibeg = 0, iend = sg.qn;
    if (wr >= 0) ibeg = std::max<int64_t>(0, j0 - off - wr);
    if (wl >= 0) iend = std::min<int64_t>(sg.qn, j0 + cols - 1 - off + wl + 1);
    for (int64_t h = hk * group; h < (hk + 1) * group; ++h) {
      const int64_t hrow0 = (sg.b * hq + h) * sq + sg.q0;
      for (int64_t i0 = ibeg; i0 < iend; i0 += kBwdRows) {
        const int64_t rows = std::min(kBwdRows, iend - i0);
        const int64_t row0 = hrow0 + i0;
        const T* Q = qp + row0 * d;
        const T* G = gp + row0 * d;
        T* S = sbuf.data();
        T* P = pbuf.data();
        T* DS = dsbuf.data();
        // D_i = rowsum(dO * O) - dL/dlse_i
        for (int64_t r = 0; r < rows; ++r) {
          const T* g = G + r * d;
          const T* o = op + (row0 + r) * d;
          T acc = 0;
          for (int64_t c = 0; c < d; ++c) acc += g[c] * o[c];
          dsub[r] = glse_all == nullptr ? acc : acc - glse_all[row0 + r];
        }
        if (fast) {  // logits (softcap, masks) straight from the register tiles
          score_block<T>(rows, cols, d, scale, cap, Q, KT, sk, win, i0, j0, pad, S, kBwdCols, nullptr);
        } else {
          tile_abt<T>(false, rows, cols, d, scale, Q, d, K, d, nullptr, sk, S, kBwdCols);
        }
        tile_abt<T>(fast, rows, cols, d, T(1), G, d, V, d, VT, sk, DS, kBwdCols);
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t i = i0 + r;
          T* srow = S + r * kBwdCols;
          T* prow = P + r * kBwdCols;
          T* dsrow = DS + r * kBwdCols;
          const T l = lp[row0 + r];
          if (l == neg_inf<T>()) {
            std::fill(prow, prow + cols, T(0));
            std::fill(dsrow, dsrow + cols, T(0));
            continue;
          }
          if (!fast) prepare_row<T>(isa, srow, cols, cap, win.lo(i) - j0, win.hi(i) - j0 + 1, pad);
          const T ge = gent_all == nullptr ? T(0) : gent_all[row0 + r];
          const T en = ent_all == nullptr ? T(0) : ent_all[row0 + r];
          bwd_row<T>(isa, srow, prow, dsrow, cols, l, dsub[r], ge, en, cap);
        }
        tile_atb<T>(fast, cols, d, rows, T(1), P, kBwdCols, G, d, dvacc.data(), d);
        tile_atb<T>(fast, cols, d, rows, scale, DS, kBwdCols, Q, d, dkacc.data(), d);
        tile_ab<T>(fast, rows, d, cols, scale, DS, kBwdCols, K, d, dqp + row0 * d, d);
      }
    }
    std::copy(dkacc.begin(), dkacc.begin() + cols * d, dkp + kvrow0 * d);
    std::copy(dvacc.begin(), dvacc.begin() + cols * d, dvp + kvrow0 * d);
  });
  for (const auto& part : dq_parts) {
    if (!part.defined()) continue;
    if (!dq.defined()) {
      dq = part;
    } else {
      dq.add_(part);
    }
  }
  if (!dq.defined()) dq = at::zeros_like(q);
}

// ---------------------------------------------------------------------------------------------
// Contiguous float x [B, H, S, d] as x^T [B, H, d, S] for the AVX-512 tiles, one (b, h) matrix per task.
at::Tensor transposed(const at::Tensor& x) {
  const int64_t mats = x.size(0) * x.size(1), len = x.size(2), d = x.size(3);
  at::Tensor t = at::empty({x.size(0), x.size(1), d, len}, x.options());
  const float* src = x.data_ptr<float>();
  float* dst = t.data_ptr<float>();
  at::parallel_for(0, mats, 1, [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m) avx512::transpose(src + m * len * d, len, d, dst + m * len * d);
  });
  return t;
}

at::ScalarType compute_type(const at::Tensor& q) {
  return q.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

void check_inputs(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                  const std::optional<at::Tensor>& kpm) {
  TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "attention: q, k, v must be 4-D [B, H, S, d]");
  TORCH_CHECK(k.sizes() == v.sizes(), "attention: k and v must have the same shape");
  TORCH_CHECK(q.size(0) == k.size(0) && q.size(3) == k.size(3), "attention: q and k must agree in B and d");
  TORCH_CHECK(k.size(1) > 0 && q.size(1) % k.size(1) == 0, "attention: q heads must be a multiple of kv heads");
  TORCH_CHECK(q.scalar_type() == k.scalar_type() && q.scalar_type() == v.scalar_type(),
              "attention: q, k, v must share a dtype");
  if (kpm.has_value()) {
    TORCH_CHECK(kpm->scalar_type() == at::kBool && kpm->dim() == 2 && kpm->size(0) == k.size(0) &&
                    kpm->size(1) == k.size(2),
                "attention: key_padding_mask must be bool [B, S_k]");
  }
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> attention_fwd_cpu(
    const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const std::optional<at::Tensor>& cu_seqlens_q,
    const std::optional<at::Tensor>& cu_seqlens_k, const std::optional<at::Tensor>& key_padding_mask, double scale,
    int64_t window_left, int64_t window_right, double softcap, bool return_entropy) {
  check_inputs(q, k, v, key_padding_mask);
  const auto ct = compute_type(q);
  std::atomic<bool> nan_seen{false};
  const auto check_nan = [&] {
    if (!nan_seen.load()) return;
    for (const auto& [name, t] : {std::pair<const char*, const at::Tensor*>{"q", &q}, {"k", &k}, {"v", &v}})
      TORCH_CHECK_VALUE(!at::isnan(*t).any().item<bool>(), "attention: ", name, " contains NaN");
  };
  const at::Tensor qs = q.to(ct), ks = k.to(ct), vs = v.to(ct);
  if (short_path_applies(qs, ks, vs, cu_seqlens_q, cu_seqlens_k, key_padding_mask, window_left, window_right,
                         softcap)) {
    at::Tensor out = at::empty(q.sizes(), qs.options());
    at::Tensor lse = at::empty({q.size(0), q.size(1), q.size(2)}, qs.options());
    at::Tensor ent = at::empty({return_entropy ? q.size(0) : 0, q.size(1), q.size(2)}, qs.options());
    AT_DISPATCH_FLOATING_TYPES(ct, "attention_fwd_cpu_short", [&] {
      short_kernel<scalar_t>(kernel_isa(), qs, ks, vs, static_cast<scalar_t>(scale), out, lse,
                             return_entropy ? ent.data_ptr<scalar_t>() : nullptr, nan_seen);
    });
    check_nan();
    return {out.to(q.scalar_type()), lse, ent};
  }
  const at::Tensor qc = qs.contiguous(), kc = ks.contiguous(), vc = vs.contiguous();
  const auto segs = make_segments(q, k, cu_seqlens_q, cu_seqlens_k);
  at::Tensor pad;
  if (key_padding_mask.has_value()) pad = key_padding_mask->contiguous();
  at::Tensor out = at::empty_like(qc);
  at::Tensor lse = at::empty({q.size(0), q.size(1), q.size(2)}, qc.options());
  at::Tensor ent = at::empty({return_entropy ? q.size(0) : 0, q.size(1), q.size(2)}, qc.options());
  const bool* padp = pad.defined() ? pad.data_ptr<bool>() : nullptr;
  const Isa isa = kernel_isa();
  // the AVX-512 tiles read K transposed, [B, Hkv, d, S_k] (O(S d) extra memory)
  at::Tensor kt;
  if (isa == Isa::kAvx512 && ct == at::kFloat) kt = transposed(kc);
  AT_DISPATCH_FLOATING_TYPES(ct, "attention_fwd_cpu", [&] {
    forward_kernel<scalar_t>(isa, qc, kc, vc, kt.defined() ? kt.data_ptr<scalar_t>() : nullptr, segs, padp,
                             static_cast<scalar_t>(scale), window_left, window_right, static_cast<scalar_t>(softcap),
                             out, lse,
                             return_entropy ? ent.data_ptr<scalar_t>() : nullptr, nan_seen);
  });
  check_nan();
  return {out.to(q.scalar_type()), lse, ent};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> attention_bwd_cpu(
    const at::Tensor& grad_out, const std::optional<at::Tensor>& grad_lse,
    const std::optional<at::Tensor>& grad_entropy, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
    const at::Tensor& out, const at::Tensor& lse, const at::Tensor& entropy,
    const std::optional<at::Tensor>& cu_seqlens_q, const std::optional<at::Tensor>& cu_seqlens_k,
    const std::optional<at::Tensor>& key_padding_mask, double scale, int64_t window_left, int64_t window_right,
    double softcap) {
  check_inputs(q, k, v, key_padding_mask);
  const auto ct = compute_type(q);
  const at::Tensor qc = q.to(ct).contiguous(), kc = k.to(ct).contiguous(), vc = v.to(ct).contiguous();
  const at::Tensor gc = grad_out.to(ct).contiguous();
  const at::Tensor lsec = lse.to(ct).contiguous();
  const at::Tensor outc = out.to(ct).contiguous();
  at::Tensor glse;
  if (grad_lse.has_value() && grad_lse->defined()) glse = grad_lse->to(ct).contiguous();
  at::Tensor gent, entc;
  const bool with_entropy = grad_entropy.has_value() && grad_entropy->defined() && grad_entropy->numel() > 0;
  if (with_entropy) {
    TORCH_CHECK(entropy.sizes() == lse.sizes(), "attention_bwd: an entropy gradient needs the forward entropy");
    gent = grad_entropy->to(ct).contiguous();
    entc = entropy.to(ct).contiguous();
  }
  const auto segs = make_segments(q, k, cu_seqlens_q, cu_seqlens_k);
  at::Tensor pad;
  if (key_padding_mask.has_value()) pad = key_padding_mask->contiguous();
  const bool* padp = pad.defined() ? pad.data_ptr<bool>() : nullptr;
  // every key row belongs to one key tile and is written once; dQ is the sum of the per-worker parts
  at::Tensor dq, dk = at::empty_like(kc), dv = at::empty_like(vc);
  const Isa isa = kernel_isa();
  at::Tensor kt, vt;  // the AVX-512 tiles read K and V transposed, [B, Hkv, d, S_k]
  if (isa == Isa::kAvx512 && ct == at::kFloat) {
    kt = transposed(kc);
    vt = transposed(vc);
  }
  AT_DISPATCH_FLOATING_TYPES(ct, "attention_bwd_cpu", [&] {
    backward_kernel<scalar_t>(isa, gc, qc, kc, vc, kt.defined() ? kt.data_ptr<scalar_t>() : nullptr,
                              vt.defined() ? vt.data_ptr<scalar_t>() : nullptr, lsec, outc,
                              glse.defined() ? glse.data_ptr<scalar_t>() : nullptr,
                              with_entropy ? gent.data_ptr<scalar_t>() : nullptr,
                              with_entropy ? entc.data_ptr<scalar_t>() : nullptr, segs, padp,
                              static_cast<scalar_t>(scale), window_left, window_right,
                              static_cast<scalar_t>(softcap), dq, dk, dv);
  });
  return {dq.to(q.scalar_type()), dk.to(k.scalar_type()), dv.to(v.scalar_type())};
}

}  // namespace
}  // namespace infomix::attention

TORCH_LIBRARY_FRAGMENT(infomix, m) {
  m.def(infomix::attention::kForwardSchema);
  m.def(infomix::attention::kBackwardSchema);
}

TORCH_LIBRARY_IMPL(infomix, CPU, m) {
  m.impl("attention_fwd", &infomix::attention::attention_fwd_cpu);
  m.impl("attention_bwd", &infomix::attention::attention_bwd_cpu);
}
