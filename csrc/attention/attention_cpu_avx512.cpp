// AVX-512 instance of the CPU attention kernels: 6-row x 64-column register tiles for the five tile products and
// 16-lane row passes. Compiled with -mavx512f -mavx512bw -mavx512vl -mfma (CMakeLists.txt, by the file name) and
// called only after a run-time CPU check.
#include "attention/attention_avx512.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__FMA__)
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace infomix::attention::avx512 {
namespace {

constexpr int kRows = 6;       // rows of C held in registers
constexpr int kVectors = 4;    // 16-float vectors of C per row (64 columns)
constexpr int64_t kDepth = 64;  // reduction steps per pass of mm_a_b, so its B block (64 x 64) stays in L1

__mmask16 lanes(int64_t count) {  // the first min(count, 16) lanes
  return count >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << count) - 1u);
}

// e^x on 16 floats for x <= 88 (larger x overflows): x = n ln2 + r with |r| <= ln2 / 2, e^r from a degree-5
// polynomial with near-minimax coefficients for relative error (fitted for this file; about 1.8e-7 in float against
// 2.5e-7 for the degree-6 Taylor polynomial of exp8), times 2^n by scalef (0 for x below about -104).
inline __m512 exp16_core(__m512 x) {
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(0.0082903066650033f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.041897933930158615f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.1666763573884964f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.4999915063381195f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.9999997019767761f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// e^x for x <= 0 (softmax numerators): x below -87 (including -inf) gives exactly 0; *xc = max(x, -87), finite.
inline __m512 exp16_nonpositive(__m512 x, __m512* xc) {
  const __m512 lo = _mm512_set1_ps(-87.0f);
  const __mmask16 keep = _mm512_cmp_ps_mask(x, lo, _CMP_GE_OQ);
  *xc = _mm512_max_ps(x, lo);
  return _mm512_maskz_mov_ps(keep, exp16_core(*xc));
}

// tanh(y) with y = x / 2 given as x = 2y: 1 - 2 / (e^{2y} + 1), the reciprocal from rcp14 plus one Newton step;
// y > 9 rounds to 1 in float, so 2y is clamped to 18 from above (e^{2y} stays finite; very negative 2y gives -1).
inline __m512 tanh16_of_twice(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f), two = _mm512_set1_ps(2.0f);
  x = _mm512_min_ps(x, _mm512_set1_ps(18.0f));
  const __m512 den = _mm512_add_ps(exp16_core(x), one);
  __m512 r = _mm512_rcp14_ps(den);
  r = _mm512_mul_ps(r, _mm512_fnmadd_ps(den, r, two));
  return _mm512_fnmadd_ps(two, r, one);
}

// tanh on 16 floats
inline __m512 tanh16(__m512 x) { return tanh16_of_twice(_mm512_add_ps(x, x)); }

// ---------------------------------------------------------------------------------------------
// Register tiles of MR rows (<= 6) by NV vectors (<= 4): the 24 accumulators are named variables (GCC keeps an
// array of them in memory, storing it every step), unused ones compiled away by `if constexpr`.
#define INFOMIX_TILE_ROW_DECL(r) \
  __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = c##r##0, c##r##2 = c##r##0, c##r##3 = c##r##0;
#define INFOMIX_TILE_ROW_FMA(r, aval)                                 \
  if constexpr (MR > r) {                                            \
    const __m512 ar = _mm512_set1_ps(aval);                          \
    c##r##0 = _mm512_fmadd_ps(ar, b0, c##r##0);                      \
    if constexpr (NV > 1) c##r##1 = _mm512_fmadd_ps(ar, b1, c##r##1); \
    if constexpr (NV > 2) c##r##2 = _mm512_fmadd_ps(ar, b2, c##r##2); \
    if constexpr (NV > 3) c##r##3 = _mm512_fmadd_ps(ar, b3, c##r##3); \
  }
#define INFOMIX_TILE_LOAD_B(row)                                                                         \
  const __m512 b0 = NV == 1 ? _mm512_maskz_loadu_ps(tail, (row)) : _mm512_loadu_ps(row);                 \
  __m512 b1 = b0, b2 = b0, b3 = b0;                                                                       \
  if constexpr (NV > 1) b1 = NV == 2 ? _mm512_maskz_loadu_ps(tail, (row) + 16) : _mm512_loadu_ps((row) + 16); \
  if constexpr (NV > 2) b2 = NV == 3 ? _mm512_maskz_loadu_ps(tail, (row) + 32) : _mm512_loadu_ps((row) + 32); \
  if constexpr (NV > 3) b3 = _mm512_maskz_loadu_ps(tail, (row) + 48);
#define INFOMIX_TILE_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)

// Stores alpha * acc (+ the old C when accumulate) into one row of C; the last vector keeps the lanes of `tail`.
template <int NV>
inline void store_row(float* crow, __m512 va, bool accumulate, __mmask16 tail, __m512 x0, __m512 x1, __m512 x2,
                      __m512 x3) {
  const __m512 xs[4] = {x0, x1, x2, x3};
  for (int v = 0; v < NV; ++v) {
    const __mmask16 m = v == NV - 1 ? tail : static_cast<__mmask16>(0xFFFF);
    const __m512 old = accumulate ? _mm512_maskz_loadu_ps(m, crow + 16 * v) : _mm512_setzero_ps();
    _mm512_mask_storeu_ps(crow + 16 * v, m, _mm512_fmadd_ps(va, xs[v], old));
  }
}

#define INFOMIX_TILE_STORE(r) \
  if constexpr (MR > r) store_row<NV>(c + r * ldc, va, accumulate, tail, c##r##0, c##r##1, c##r##2, c##r##3);

// C[MR x 16 NV] (+)= alpha * A(MR x k) * B[k x 16 NV] with A(i, p) = a[i * a_row + p * a_col].
template <int MR, int NV>
void a_b_tile(int64_t k, float alpha, const float* a, int64_t a_row, int64_t a_col, const float* b, int64_t ldb,
              bool accumulate, float* c, int64_t ldc, __mmask16 tail) {
  INFOMIX_TILE_ROWS(INFOMIX_TILE_ROW_DECL)
  for (int64_t p = 0; p < k; ++p) {
    const float* brow = b + p * ldb;
    INFOMIX_TILE_LOAD_B(brow)
    const float* ap = a + p * a_col;
#define INFOMIX_A_B_FMA(r) INFOMIX_TILE_ROW_FMA(r, ap[r * a_row])
    INFOMIX_TILE_ROWS(INFOMIX_A_B_FMA)
#undef INFOMIX_A_B_FMA
  }
  const __m512 va = _mm512_set1_ps(alpha);
  INFOMIX_TILE_ROWS(INFOMIX_TILE_STORE)
}

// Score tile: C = logits of scale * A[MR x k] * BT[k x 16 NV] (softcap when cap > 0, -inf outside the visible
// columns lo[r] <= j < hi[r] and where pad[j], when masked), and rmax[r] = max(rmax[r], row max) when rmax is given.
template <int MR, int NV>
void score_tile(int64_t k, float scale, float cap, const float* a, int64_t lda, const float* bt, int64_t ldbt,
                float* c, int64_t ldc, __mmask16 tail, bool masked, const int32_t* lo, const int32_t* hi,
                const bool* pad, float* rmax) {
  INFOMIX_TILE_ROWS(INFOMIX_TILE_ROW_DECL)
  for (int64_t p = 0; p < k; ++p) {
    const float* brow = bt + p * ldbt;
    INFOMIX_TILE_LOAD_B(brow)
#define INFOMIX_SCORE_FMA(r) INFOMIX_TILE_ROW_FMA(r, a[r * lda + p])
    INFOMIX_TILE_ROWS(INFOMIX_SCORE_FMA)
#undef INFOMIX_SCORE_FMA
  }
  const __m512 ninf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  const __m512 vscale = _mm512_set1_ps(cap > 0 ? 2.0f * scale / cap : scale), vcap = _mm512_set1_ps(cap);
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  __mmask16 keep[4];  // columns not padded
  for (int v = 0; v < NV; ++v) {
    const __mmask16 m = v == NV - 1 ? tail : static_cast<__mmask16>(0xFFFF);
    keep[v] = m;
    if (masked && pad != nullptr) {
      const __m128i bytes = _mm_maskz_loadu_epi8(m, pad + 16 * v);
      keep[v] &= static_cast<__mmask16>(~_mm_test_epi8_mask(bytes, bytes));
    }
  }
  auto finish = [&](int r, __m512 x0, __m512 x1, __m512 x2, __m512 x3) {
    __m512 xs[4] = {x0, x1, x2, x3};
    __m512 vmax = ninf;
    for (int v = 0; v < NV; ++v) {
      __m512 x = _mm512_mul_ps(xs[v], vscale);
      if (cap > 0) x = _mm512_mul_ps(vcap, tanh16_of_twice(x));
      __mmask16 ok = keep[v];
      if (masked) {
        const __m512i idx = _mm512_add_epi32(iota, _mm512_set1_epi32(16 * v));
        ok &= _mm512_cmpge_epi32_mask(idx, _mm512_set1_epi32(lo[r])) &
              _mm512_cmplt_epi32_mask(idx, _mm512_set1_epi32(hi[r]));
      }
      x = _mm512_mask_mov_ps(ninf, ok, x);
      const __mmask16 m = v == NV - 1 ? tail : static_cast<__mmask16>(0xFFFF);
      _mm512_mask_storeu_ps(c + r * ldc + 16 * v, m, x);
      vmax = _mm512_max_ps(vmax, x);
    }
    if (rmax != nullptr) rmax[r] = std::max(rmax[r], _mm512_reduce_max_ps(vmax));
  };
#define INFOMIX_SCORE_STORE(r) \
  if constexpr (MR > r) finish(r, c##r##0, c##r##1, c##r##2, c##r##3);
  INFOMIX_TILE_ROWS(INFOMIX_SCORE_STORE)
#undef INFOMIX_SCORE_STORE
}

using ScoreTile = void (*)(int64_t, float, float, const float*, int64_t, const float*, int64_t, float*, int64_t,
                           __mmask16, bool, const int32_t*, const int32_t*, const bool*, float*);
template <int MR>
constexpr ScoreTile score_row[kVectors] = {score_tile<MR, 1>, score_tile<MR, 2>, score_tile<MR, 3>,
                                           score_tile<MR, 4>};
constexpr const ScoreTile* score_tiles[kRows] = {score_row<1>, score_row<2>, score_row<3>,
                                                 score_row<4>, score_row<5>, score_row<6>};

using ABTile = void (*)(int64_t, float, const float*, int64_t, int64_t, const float*, int64_t, bool, float*, int64_t,
                        __mmask16);

template <int MR>
constexpr ABTile a_b_row[kVectors] = {a_b_tile<MR, 1>, a_b_tile<MR, 2>, a_b_tile<MR, 3>, a_b_tile<MR, 4>};
constexpr const ABTile* a_b_tiles[kRows] = {a_b_row<1>, a_b_row<2>, a_b_row<3>, a_b_row<4>, a_b_row<5>, a_b_row<6>};

}  // namespace

bool compiled() { return true; }

void scores(int64_t m, int64_t n, int64_t k, float scale, float cap, const float* a, int64_t lda, const float* bt,
            int64_t ldbt, const int32_t* lo, const int32_t* hi, const bool* pad, float* c, int64_t ldc,
            float* row_max) {
  for (int64_t j0 = 0; j0 < n; j0 += 16 * kVectors) {
    const int64_t cols = std::min<int64_t>(16 * kVectors, n - j0);
    const int64_t nv = (cols + 15) / 16;
    const __mmask16 tail = lanes(cols - 16 * (nv - 1));
    int32_t lo_blk[kRows], hi_blk[kRows];
    for (int64_t i0 = 0; i0 < m; i0 += kRows) {
      const int64_t rows = std::min<int64_t>(kRows, m - i0);
      bool masked = pad != nullptr;
      for (int64_t r = 0; r < rows; ++r) {
        lo_blk[r] = static_cast<int32_t>(lo[i0 + r] - j0);
        hi_blk[r] = static_cast<int32_t>(hi[i0 + r] - j0);
        masked |= lo_blk[r] > 0 || hi_blk[r] < cols;
      }
      score_tiles[rows - 1][nv - 1](k, scale, cap, a + i0 * lda, lda, bt + j0, ldbt, c + i0 * ldc + j0, ldc, tail,
                                    masked, lo_blk, hi_blk, pad == nullptr ? nullptr : pad + j0,
                                    row_max == nullptr ? nullptr : row_max + i0);
    }
  }
}

void mm_a_b(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t a_row, int64_t a_col,
            const float* b, int64_t ldb, bool accumulate, float* c, int64_t ldc) {
  if (k == 0 && !accumulate) {
    for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
    return;
  }
  for (int64_t p0 = 0; p0 < k; p0 += kDepth) {
    const int64_t depth = std::min<int64_t>(kDepth, k - p0);
    const bool acc = accumulate || p0 > 0;
    for (int64_t x0 = 0; x0 < n; x0 += 16 * kVectors) {
      const int64_t cols = std::min<int64_t>(16 * kVectors, n - x0);
      const int64_t nv = (cols + 15) / 16;
      const __mmask16 tail = lanes(cols - 16 * (nv - 1));
      for (int64_t i0 = 0; i0 < m; i0 += kRows) {
        const int64_t rows = std::min<int64_t>(kRows, m - i0);
        a_b_tiles[rows - 1][nv - 1](depth, alpha, a + i0 * a_row + p0 * a_col, a_row, a_col, b + p0 * ldb + x0, ldb,
                                    acc, c + i0 * ldc + x0, ldc, tail);
      }
    }
  }
}

void transpose(const float* src, int64_t rows, int64_t cols, float* dst) {
  int64_t i0 = 0;
  for (; i0 + 8 <= rows; i0 += 8) {
    int64_t c0 = 0;
    for (; c0 + 8 <= cols; c0 += 8) {  // 8 x 8 blocks in registers: interleave pairs, then quads, then halves
      __m256 r[8], t[8], u[8];
      for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + (i0 + i) * cols + c0);
      for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
      }
      for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
      }
      for (int i = 0; i < 4; ++i) {
        _mm256_storeu_ps(dst + (c0 + i) * rows + i0, _mm256_permute2f128_ps(u[i], u[i + 4], 0x20));
        _mm256_storeu_ps(dst + (c0 + i + 4) * rows + i0, _mm256_permute2f128_ps(u[i], u[i + 4], 0x31));
      }
    }
    for (; c0 < cols; ++c0)
      for (int64_t i = i0; i < i0 + 8; ++i) dst[c0 * rows + i] = src[i * cols + c0];
  }
  for (; i0 < rows; ++i0)
    for (int64_t c = 0; c < cols; ++c) dst[c * rows + i0] = src[i0 * cols + c];
}

bool has_nan(const float* x, int64_t n) {
  __mmask16 found = 0;
  for (int64_t j = 0; j < n; j += 16) {
    const __m512 v = _mm512_maskz_loadu_ps(lanes(n - j), x + j);
    found |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  }
  return found != 0;
}

float exp_row(float* s, int64_t n, float m, float* t) {
  const __m512 vm = _mm512_set1_ps(m);
  __m512 vsum = _mm512_setzero_ps(), vt = _mm512_setzero_ps();
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 in = lanes(n - j);
    __m512 x;
    const __m512 shifted = _mm512_sub_ps(_mm512_maskz_loadu_ps(in, s + j), vm);
    const __m512 p = _mm512_maskz_mov_ps(in, exp16_nonpositive(shifted, &x));
    _mm512_mask_storeu_ps(s + j, in, p);
    vsum = _mm512_add_ps(vsum, p);
    if (t != nullptr) vt = _mm512_fmadd_ps(p, x, vt);
  }
  if (t != nullptr) *t += _mm512_reduce_add_ps(vt);
  return _mm512_reduce_add_ps(vsum);
}

void bwd_row(const float* logit, float* p, float* ds, int64_t n, float lse, float dsub, float g_ent, float ent,
             float cap) {
  const __m512 vlse = _mm512_set1_ps(lse), vsub = _mm512_set1_ps(dsub), vge = _mm512_set1_ps(g_ent);
  const __m512 vent = _mm512_set1_ps(ent), one = _mm512_set1_ps(1.0f);
  const __m512 vinv = _mm512_set1_ps(cap > 0 ? 1.0f / cap : 0.0f), vnegcap = _mm512_set1_ps(-cap);
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 in = lanes(n - j);
    const __m512 l = _mm512_maskz_loadu_ps(in, logit + j);
    __m512 x;
    const __m512 pj = _mm512_maskz_mov_ps(in, exp16_nonpositive(_mm512_sub_ps(l, vlse), &x));
    __m512 g = _mm512_mul_ps(pj, _mm512_sub_ps(_mm512_maskz_loadu_ps(in, ds + j), vsub));
    if (g_ent != 0.0f) g = _mm512_fnmadd_ps(_mm512_mul_ps(vge, pj), _mm512_add_ps(x, vent), g);
    if (cap > 0) {
      const __m512 th = _mm512_mul_ps(_mm512_max_ps(l, vnegcap), vinv);
      g = _mm512_mul_ps(g, _mm512_fnmadd_ps(th, th, one));
    }
    _mm512_mask_storeu_ps(p + j, in, pj);
    _mm512_mask_storeu_ps(ds + j, in, g);
  }
}

}  // namespace infomix::attention::avx512

#else  // built without AVX-512: the dispatcher never selects these

#include <cstdlib>

namespace infomix::attention::avx512 {
bool compiled() { return false; }
void mm_a_b(int64_t, int64_t, int64_t, float, const float*, int64_t, int64_t, const float*, int64_t, bool, float*,
            int64_t) {
  std::abort();
}
void scores(int64_t, int64_t, int64_t, float, float, const float*, int64_t, const float*, int64_t, const int32_t*,
            const int32_t*, const bool*, float*, int64_t, float*) {
  std::abort();
}
void transpose(const float*, int64_t, int64_t, float*) { std::abort(); }
bool has_nan(const float*, int64_t) { std::abort(); }
float exp_row(float*, int64_t, float, float*) { std::abort(); }
void bwd_row(const float*, float*, float*, int64_t, float, float, float, float, float) { std::abort(); }
}  // namespace infomix::attention::avx512

#endif
