// AVX-512 kernel of the weight-only quantised matmul for 1–4 activation rows (decoding): 32 codes per
// step, unpacked in registers. Compiled with -mavx512f -mavx512bw (CMakeLists.txt) and called only after
// a run-time CPU check; other shapes use the AVX2 kernels.
#include "quant_matmul/qmm_kernels.h"

#if defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>

namespace infomix {
namespace qmm {
namespace {

#define QMM_INLINE inline __attribute__((always_inline))

// Raw codes of the 32-element block at `block` as floats: for 4-bit codes c0 holds the 16 even
// elements and c1 the 16 odd ones; for 8-bit codes elements 0..15 and 16..31.
template <int BITS>
QMM_INLINE void unpack_codes(const uint8_t* block, __m512& c0, __m512& c1) {
  if constexpr (BITS == 4) {
    const __m512i codes = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block)));
    c0 = _mm512_cvtepi32_ps(_mm512_and_si512(codes, _mm512_set1_epi32(15)));
    c1 = _mm512_cvtepi32_ps(_mm512_srli_epi32(codes, 4));
  } else {
    c0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block))));
    c1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16))));
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

template <int BITS, int MC, int NA, int P>
QMM_INLINE void code_step(const uint8_t* block, const float* xk, int64_t K, __m512 (&acc)[MC][NA]) {
  __m512 c0, c1;
  unpack_codes<BITS>(block, c0, c1);
#pragma GCC unroll 4
  for (int m = 0; m < MC; ++m) {
    acc[m][(2 * P) % NA] = _mm512_fmadd_ps(c0, _mm512_loadu_ps(xk + m * K), acc[m][(2 * P) % NA]);
    acc[m][(2 * P + 1) % NA] = _mm512_fmadd_ps(c1, _mm512_loadu_ps(xk + m * K + 16), acc[m][(2 * P + 1) % NA]);
  }
}

// y = Σ_g s_g · Σ_{k∈g} q_k x_k + o_g · Σ_{k∈g} x_k, as in the AVX2 row_pass_grouped.
template <int BITS, int MC>
void row_pass_grouped(const Problem& p, int64_t n) {
  constexpr int NA = MC == 1 ? 4 : 2;
  __m512 acc[MC][NA];
  __m512 total[MC];
  float scalar[MC];
#pragma GCC unroll 4
  for (int m = 0; m < MC; ++m) {
    total[m] = _mm512_setzero_ps();
    scalar[m] = 0.f;
  }
  const int64_t K = p.K;
  const int64_t gs = p.group_size;
  const int64_t nb = gs / 32;
  const uint8_t* q = p.qdata + n * p.row_bytes;
  const float* scales = p.scales + n * p.groups;
  const float* offsets = p.offsets ? p.offsets + n * p.groups : nullptr;
  constexpr float kSymmetricZero = -static_cast<float>(1 << (BITS - 1));
  for (int64_t g = 0; g < p.groups; ++g) {
#pragma GCC unroll 4
    for (int m = 0; m < MC; ++m) {
#pragma GCC unroll 4
      for (int a = 0; a < NA; ++a) acc[m][a] = _mm512_setzero_ps();
    }
    const int64_t k0 = g * gs;
    const uint8_t* block = q + k0 * BITS / 8;
    const float* xk = p.x + k0;
    int64_t b = 0;
    for (; b + 1 < nb; b += 2, block += 8 * BITS, xk += 64) {
      code_step<BITS, MC, NA, 0>(block, xk, K, acc);
      code_step<BITS, MC, NA, 1>(block + 4 * BITS, xk + 32, K, acc);
    }
    if (b < nb) code_step<BITS, MC, NA, 0>(block, xk, K, acc);
    float tail[MC];
#pragma GCC unroll 4
    for (int m = 0; m < MC; ++m) tail[m] = 0.f;
    for (int64_t k = k0 + 32 * nb; k < k0 + gs; ++k) {
      const float c = code_at<BITS>(q, k);
#pragma GCC unroll 4
      for (int m = 0; m < MC; ++m) tail[m] += c * p.x[m * K + k];
    }
    const float s = scales[g];
    const float o = offsets ? offsets[g] : kSymmetricZero * s;
    const __m512 vs = _mm512_set1_ps(s);
#pragma GCC unroll 4
    for (int m = 0; m < MC; ++m) {
      __m512 group = acc[m][0];
#pragma GCC unroll 4
      for (int a = 1; a < NA; ++a) group = _mm512_add_ps(group, acc[m][a]);
      total[m] = _mm512_fmadd_ps(group, vs, total[m]);
      scalar[m] += s * tail[m] + o * p.x_group_sums[m * p.groups + g];
    }
  }
#pragma GCC unroll 4
  for (int m = 0; m < MC; ++m) p.y[m * p.ldy + n] = _mm512_reduce_add_ps(total[m]) + scalar[m];
}

template <int BITS>
void rows(const Problem& p, int64_t n0, int64_t n1) {
  for (int64_t n = n0; n < n1; ++n) {
    switch (p.M) {
      case 1: row_pass_grouped<BITS, 1>(p, n); break;
      case 2: row_pass_grouped<BITS, 2>(p, n); break;
      case 3: row_pass_grouped<BITS, 3>(p, n); break;
      default: row_pass_grouped<BITS, 4>(p, n); break;
    }
  }
}

}  // namespace

bool avx512_compiled() { return true; }

void rows_few_avx512(const Problem& p, int64_t n0, int64_t n1) {
  if (p.bits == 4) {
    rows<4>(p, n0, n1);
  } else {
    rows<8>(p, n0, n1);
  }
}

}  // namespace qmm
}  // namespace infomix

#else  // built without AVX-512: the dispatcher never selects this kernel

#include <cstdlib>

namespace infomix {
namespace qmm {
bool avx512_compiled() { return false; }
void rows_few_avx512(const Problem&, int64_t, int64_t) { std::abort(); }
}  // namespace qmm
}  // namespace infomix

#endif
