// AVX2+FMA kernels of the weight-only quantised matmul: codes are unpacked and scaled in registers.
// Compiled with -mavx2 -mfma (CMakeLists.txt) and called only after a run-time CPU check.
#include "quant_matmul/qmm_kernels.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

namespace infomix {
namespace qmm {
namespace {

constexpr int kRowsPerPass = 8;  // activation rows sharing one unpacked weight block

#define QMM_INLINE inline __attribute__((always_inline))

// The 16 weights of the block starting at element k (k a multiple of 16 within the row): w0 holds
// elements k, k+2, ..., k+14 and w1 elements k+1, ..., k+15 for 4-bit codes; k..k+7 and k+8..k+15 for 8-bit.
template <int BITS>
QMM_INLINE void unpack_block(const uint8_t* block, __m256 scale, __m256 offset, __m256& w0, __m256& w1) {
  if constexpr (BITS == 4) {
    const __m256i codes = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(block)));
    const __m256 lo = _mm256_cvtepi32_ps(_mm256_and_si256(codes, _mm256_set1_epi32(15)));
    const __m256 hi = _mm256_cvtepi32_ps(_mm256_srli_epi32(codes, 4));
    w0 = _mm256_fmadd_ps(lo, scale, offset);
    w1 = _mm256_fmadd_ps(hi, scale, offset);
  } else {
    const __m256i c0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(block)));
    const __m256i c1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(block + 8)));
    w0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(c0), scale, offset);
    w1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(c1), scale, offset);
  }
}

// As unpack_block, but the raw codes as floats (the group's scale and offset are applied once per group).
template <int BITS>
QMM_INLINE void unpack_codes(const uint8_t* block, __m256& c0, __m256& c1) {
  if constexpr (BITS == 4) {
    const __m256i codes = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(block)));
    c0 = _mm256_cvtepi32_ps(_mm256_and_si256(codes, _mm256_set1_epi32(15)));
    c1 = _mm256_cvtepi32_ps(_mm256_srli_epi32(codes, 4));
  } else {
    c0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(block))));
    c1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(block + 8))));
  }
}

template <int BITS>
QMM_INLINE float code_at(const uint8_t* q, int64_t k) {
  if constexpr (BITS == 4) {
    return static_cast<float>((q[k >> 1] >> ((k & 1) * 4)) & 15);
  } else {
    return static_cast<float>(q[k]);
  }
}

QMM_INLINE float horizontal_sum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// One block: slot P of NA accumulators per activation row (P alternates so chains stay independent).
template <int BITS, int MC, int NA, int P>
QMM_INLINE void block_step(const uint8_t* block, const float* xk, int64_t K, __m256 scale, __m256 offset,
                           __m256 (&acc)[MC][NA]) {
  __m256 w0, w1;
  unpack_block<BITS>(block, scale, offset, w0, w1);
#pragma GCC unroll 8
  for (int m = 0; m < MC; ++m) {
    acc[m][(2 * P) % NA] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xk + m * K), acc[m][(2 * P) % NA]);
    acc[m][(2 * P + 1) % NA] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xk + m * K + 8), acc[m][(2 * P + 1) % NA]);
  }
}

// y[m0:m0+MC, n] for one weight row.
// Groups [g0, g1) only; accumulate adds to y instead of overwriting it (K is walked in L1-sized chunks).
template <int BITS, int MC>
void row_pass(const Problem& p, int64_t n, int64_t m0, int64_t g0, int64_t g1, bool accumulate) {
  constexpr int NA = MC <= 2 ? 4 : (MC <= 4 ? 2 : 1);
  __m256 acc[MC][NA];
  float tail[MC];
#pragma GCC unroll 8
  for (int m = 0; m < MC; ++m) {
    tail[m] = 0.f;
#pragma GCC unroll 4
    for (int a = 0; a < NA; ++a) acc[m][a] = _mm256_setzero_ps();
  }
  const int64_t K = p.K;
  const int64_t gs = p.group_size;
  const int64_t nb = full_blocks(gs);
  const uint8_t* q = p.qdata + n * p.row_bytes;
  const float* scales = p.scales + n * p.groups;
  const float* offsets = p.offsets ? p.offsets + n * p.groups : nullptr;
  const float* x = p.x + m0 * K;
  constexpr float kSymmetricZero = -static_cast<float>(1 << (BITS - 1));
  for (int64_t g = g0; g < g1; ++g) {
    const float s = scales[g];
    const float o = offsets ? offsets[g] : kSymmetricZero * s;
    const __m256 vs = _mm256_set1_ps(s);
    const __m256 vo = _mm256_set1_ps(o);
    const int64_t k0 = g * gs;
    const uint8_t* block = q + k0 * BITS / 8;
    const float* xk = x + k0;
    int64_t b = 0;
    for (; b + 1 < nb; b += 2, block += 4 * BITS, xk += 32) {
      block_step<BITS, MC, NA, 0>(block, xk, K, vs, vo, acc);
      block_step<BITS, MC, NA, 1>(block + 2 * BITS, xk + 16, K, vs, vo, acc);
    }
    if (b < nb) block_step<BITS, MC, NA, 0>(block, xk, K, vs, vo, acc);
    for (int64_t k = k0 + 16 * nb; k < k0 + gs; ++k) {
      const float w = code_at<BITS>(q, k) * s + o;
#pragma GCC unroll 8
      for (int m = 0; m < MC; ++m) tail[m] += w * x[m * K + k];
    }
  }
#pragma GCC unroll 8
  for (int m = 0; m < MC; ++m) {
    __m256 total = acc[m][0];
#pragma GCC unroll 4
    for (int a = 1; a < NA; ++a) total = _mm256_add_ps(total, acc[m][a]);
    float& out = p.y[(m0 + m) * p.ldy + n];
    out = (accumulate ? out : 0.f) + horizontal_sum(total) + tail[m];
  }
}

template <int BITS, int MC, int NA, int P>
QMM_INLINE void code_step(const uint8_t* block, const float* xk, int64_t K, __m256 (&acc)[MC][NA]) {
  __m256 c0, c1;
  unpack_codes<BITS>(block, c0, c1);
#pragma GCC unroll 4
  for (int m = 0; m < MC; ++m) {
    acc[m][(2 * P) % NA] = _mm256_fmadd_ps(c0, _mm256_loadu_ps(xk + m * K), acc[m][(2 * P) % NA]);
    acc[m][(2 * P + 1) % NA] = _mm256_fmadd_ps(c1, _mm256_loadu_ps(xk + m * K + 8), acc[m][(2 * P + 1) % NA]);
  }
}

// One or two activation rows: sum codes × x over a group, then apply that group's scale once and its
// offset through the precomputed group sums of x (y = Σ_g s_g·Σ q·x + o_g·Σ x), halving the work per
// weight. With more rows (kGroupedMaxRows) the accumulators and group totals no longer fit the 16 ymm
// registers, and row_pass, which scales each unpacked weight once for all rows, is faster.
// NBC: blocks per group when known at compile time (common group sizes), 0 otherwise.
template <int BITS, int MC, int NBC>
void row_pass_grouped(const Problem& p, int64_t n, int64_t m0, int64_t g0, int64_t g1, bool accumulate) {
  constexpr int NA = MC == 1 ? 4 : 2;
  __m256 acc[MC][NA];
  __m256 total[MC];
  float scalar[MC];
#pragma GCC unroll 4
  for (int m = 0; m < MC; ++m) {
    total[m] = _mm256_setzero_ps();
    scalar[m] = 0.f;
  }
  const int64_t K = p.K;
  const int64_t gs = p.group_size;
  const int64_t nb = full_blocks(gs);
  const uint8_t* q = p.qdata + n * p.row_bytes;
  const float* scales = p.scales + n * p.groups;
  const float* offsets = p.offsets ? p.offsets + n * p.groups : nullptr;
  const float* x = p.x + m0 * K;
  const float* xsum = p.x_group_sums + m0 * p.groups;
  constexpr float kSymmetricZero = -static_cast<float>(1 << (BITS - 1));
  for (int64_t g = g0; g < g1; ++g) {
#pragma GCC unroll 4
    for (int m = 0; m < MC; ++m) {
#pragma GCC unroll 4
      for (int a = 0; a < NA; ++a) acc[m][a] = _mm256_setzero_ps();
    }
    const int64_t k0 = g * gs;
    const uint8_t* block = q + k0 * BITS / 8;
    const float* xk = x + k0;
    if constexpr (NBC > 0) {
#pragma GCC unroll 16
      for (int b = 0; b < NBC; b += 2) {
        code_step<BITS, MC, NA, 0>(block + b * 2 * BITS, xk + 16 * b, K, acc);
        if (b + 1 < NBC) code_step<BITS, MC, NA, 1>(block + (b + 1) * 2 * BITS, xk + 16 * (b + 1), K, acc);
      }
    } else {
      int64_t b = 0;
      for (; b + 1 < nb; b += 2, block += 4 * BITS, xk += 32) {
        code_step<BITS, MC, NA, 0>(block, xk, K, acc);
        code_step<BITS, MC, NA, 1>(block + 2 * BITS, xk + 16, K, acc);
      }
      if (b < nb) code_step<BITS, MC, NA, 0>(block, xk, K, acc);
    }
    float tail[MC];
#pragma GCC unroll 4
    for (int m = 0; m < MC; ++m) tail[m] = 0.f;
    for (int64_t k = k0 + 16 * nb; k < k0 + gs; ++k) {
      const float c = code_at<BITS>(q, k);
#pragma GCC unroll 4
      for (int m = 0; m < MC; ++m) tail[m] += c * x[m * K + k];
    }
    const float s = scales[g];
    const float o = offsets ? offsets[g] : kSymmetricZero * s;
    const __m256 vs = _mm256_set1_ps(s);
#pragma GCC unroll 4
    for (int m = 0; m < MC; ++m) {
      __m256 group = acc[m][0];
#pragma GCC unroll 4
      for (int a = 1; a < NA; ++a) group = _mm256_add_ps(group, acc[m][a]);
      total[m] = _mm256_fmadd_ps(group, vs, total[m]);
      scalar[m] += s * tail[m] + o * xsum[m * p.groups + g];
    }
  }
#pragma GCC unroll 4
  for (int m = 0; m < MC; ++m) {
    float& out = p.y[(m0 + m) * p.ldy + n];
    out = (accumulate ? out : 0.f) + horizontal_sum(total[m]) + scalar[m];
  }
}

template <int BITS, int MC>
QMM_INLINE void grouped_for_size(const Problem& p, int64_t n, int64_t m0, int64_t g0, int64_t g1, bool accumulate) {
  switch (p.group_size) {
    case 32: row_pass_grouped<BITS, MC, 2>(p, n, m0, g0, g1, accumulate); break;
    case 64: row_pass_grouped<BITS, MC, 4>(p, n, m0, g0, g1, accumulate); break;
    case 128: row_pass_grouped<BITS, MC, 8>(p, n, m0, g0, g1, accumulate); break;
    case 256: row_pass_grouped<BITS, MC, 16>(p, n, m0, g0, g1, accumulate); break;
    default: row_pass_grouped<BITS, MC, 0>(p, n, m0, g0, g1, accumulate); break;
  }
}

template <int BITS>
void row_all_m(const Problem& p, int64_t n, int64_t g0, int64_t g1, bool accumulate) {
  if (p.x_group_sums != nullptr && p.M <= kGroupedMaxRows) {
    if (p.M == 2) {
      grouped_for_size<BITS, 2>(p, n, 0, g0, g1, accumulate);
    } else {
      grouped_for_size<BITS, 1>(p, n, 0, g0, g1, accumulate);
    }
    return;
  }
  for (int64_t m0 = 0; m0 < p.M; m0 += kRowsPerPass) {
    switch (p.M - m0 >= kRowsPerPass ? kRowsPerPass : p.M - m0) {
      case 1: row_pass<BITS, 1>(p, n, m0, g0, g1, accumulate); break;
      case 2: row_pass<BITS, 2>(p, n, m0, g0, g1, accumulate); break;
      case 3: row_pass<BITS, 3>(p, n, m0, g0, g1, accumulate); break;
      case 4: row_pass<BITS, 4>(p, n, m0, g0, g1, accumulate); break;
      case 5: row_pass<BITS, 5>(p, n, m0, g0, g1, accumulate); break;
      case 6: row_pass<BITS, 6>(p, n, m0, g0, g1, accumulate); break;
      case 7: row_pass<BITS, 7>(p, n, m0, g0, g1, accumulate); break;
      default: row_pass<BITS, 8>(p, n, m0, g0, g1, accumulate); break;
    }
  }
}

// Blocks of weight rows × chunks of whole groups, so that the activations of a chunk stay in L1
// while every row of the block streams past them.
template <int BITS>
void rows(const Problem& p, int64_t n0, int64_t n1) {
  const int64_t chunk_groups = groups_per_chunk(p);
  for (int64_t nb = n0; nb < n1; nb += kRowBlock) {
    const int64_t ne = nb + kRowBlock < n1 ? nb + kRowBlock : n1;
    for (int64_t g0 = 0; g0 < p.groups; g0 += chunk_groups) {
      const int64_t g1 = g0 + chunk_groups < p.groups ? g0 + chunk_groups : p.groups;
      for (int64_t n = nb; n < ne; ++n) row_all_m<BITS>(p, n, g0, g1, g0 > 0);
    }
  }
}

template <int BITS>
void dequant_rows(const Problem& p, int64_t n0, int64_t n1, float* out) {
  const int64_t K = p.K;
  const int64_t gs = p.group_size;
  const int64_t nb = full_blocks(gs);
  constexpr float kSymmetricZero = -static_cast<float>(1 << (BITS - 1));
  for (int64_t n = n0; n < n1; ++n) {
    const uint8_t* q = p.qdata + n * p.row_bytes;
    float* w = out + (n - n0) * K;
    for (int64_t g = 0; g < p.groups; ++g) {
      const float s = p.scales[n * p.groups + g];
      const float o = p.offsets ? p.offsets[n * p.groups + g] : kSymmetricZero * s;
      const __m256 vs = _mm256_set1_ps(s);
      const __m256 vo = _mm256_set1_ps(o);
      const int64_t k0 = g * gs;
      for (int64_t b = 0; b < nb; ++b) {
        __m256 w0, w1;
        unpack_block<BITS>(q + (k0 + 16 * b) * BITS / 8, vs, vo, w0, w1);
        _mm256_storeu_ps(w + k0 + 16 * b, w0);
        _mm256_storeu_ps(w + k0 + 16 * b + 8, w1);
      }
      for (int64_t k = k0 + 16 * nb; k < k0 + gs; ++k) w[k] = code_at<BITS>(q, k) * s + o;
    }
  }
}

}  // namespace

bool avx2_compiled() { return true; }

void rows_avx2(const Problem& p, int64_t n0, int64_t n1) {
  if (p.bits == 4) {
    rows<4>(p, n0, n1);
  } else {
    rows<8>(p, n0, n1);
  }
}

void dequant_rows_avx2(const Problem& p, int64_t n0, int64_t n1, float* out) {
  if (p.bits == 4) {
    dequant_rows<4>(p, n0, n1, out);
  } else {
    dequant_rows<8>(p, n0, n1, out);
  }
}

}  // namespace qmm
}  // namespace infomix

#else  // built without AVX2: the dispatcher never selects these

#include <cstdlib>

namespace infomix {
namespace qmm {
bool avx2_compiled() { return false; }
void rows_avx2(const Problem&, int64_t, int64_t) { std::abort(); }
void dequant_rows_avx2(const Problem&, int64_t, int64_t, float*) { std::abort(); }
}  // namespace qmm
}  // namespace infomix

#endif
