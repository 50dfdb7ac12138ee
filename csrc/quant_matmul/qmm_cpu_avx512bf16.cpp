// AVX-512 BF16 decode kernel of the weight-only quantised matmul for bfloat16 activations: 32 codes become one
// bfloat16 vector (exact: codes are integers below 256) and meet 32 activations in one vdpbf16ps, whose products are
// exact in fp32 and summed in fp32. Every activation row uses the per-group form y = Σ_g s_g·Σ q·x + o_g·Σ x, so the
// codes are converted once per block for up to 8 rows. Compiled with -mavx512bf16 (CMakeLists.txt) and
// called only after a run-time CPU check.
#include "quant_matmul/qmm_kernels.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512BF16__)
#include <immintrin.h>

namespace infomix {
namespace qmm {
namespace {

constexpr int64_t kBlock = 32;

// The 32 codes of a block as bfloat16, in the element order of the (permuted) activations: for 4-bit codes the 16 low
// nibbles (even elements) then the 16 high nibbles (odd elements); for 8-bit codes natural order.
template <int BITS>
inline __attribute__((always_inline)) __m512bh block_codes(const uint8_t* block) {
  const __m512i b0 = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block)));
  __m512 lo, hi;
  if constexpr (BITS == 4) {
    lo = _mm512_cvtepi32_ps(_mm512_and_si512(b0, _mm512_set1_epi32(15)));
    hi = _mm512_cvtepi32_ps(_mm512_srli_epi32(b0, 4));
  } else {
    lo = _mm512_cvtepi32_ps(b0);
    hi = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16))));
  }
  return _mm512_cvtne2ps_pbh(hi, lo);  // lanes 0-15 from lo, 16-31 from hi
}

inline float bf16_to_float(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  __builtin_memcpy(&f, &bits, sizeof f);
  return f;
}

// One block for MC rows into accumulator slot `slot` (a compile-time constant once inlined and unrolled).
template <int BITS, int MC, int NA>
inline __attribute__((always_inline)) void dot_step(const uint8_t* block, const uint16_t* xk, int64_t K,
                                                    __m512 (&acc)[MC][NA], int slot) {
  const __m512bh codes = block_codes<BITS>(block);
#pragma GCC unroll 16
  for (int m = 0; m < MC; ++m) {
    const __m512bh xv = (__m512bh)_mm512_loadu_si512(xk + m * K);
    acc[m][slot] = _mm512_dpbf16_ps(acc[m][slot], codes, xv);
  }
}

// y[m0:m0+MC, n] for one weight row; NA accumulators per row keep enough dot-product chains in flight.
template <int BITS, int MC>
void row_pass(const Problem& p, int64_t n, int64_t m0) {
  constexpr int NA = MC == 1 ? 4 : (MC == 2 ? 2 : 1);
  constexpr int64_t kBlockBytes = kBlock * BITS / 8;
  constexpr float kSymmetricZero = -static_cast<float>(1 << (BITS - 1));
  const int64_t K = p.K, gs = p.group_size, nb = gs / kBlock;
  const uint8_t* q = p.qdata + n * p.row_bytes;
  const float* scales = p.scales + n * p.groups;
  const float* offsets = p.offsets ? p.offsets + n * p.groups : nullptr;
  const uint16_t* x = p.x_bf16 + m0 * K;
  const float* xsum = p.x_group_sums + m0 * p.groups;
  __m512 total[MC];
  float scalar[MC];
  for (int m = 0; m < MC; ++m) {
    total[m] = _mm512_setzero_ps();
    scalar[m] = 0.f;
  }
  for (int64_t g = 0; g < p.groups; ++g) {
    __m512 acc[MC][NA];
    for (int m = 0; m < MC; ++m)
      for (int a = 0; a < NA; ++a) acc[m][a] = _mm512_setzero_ps();
    const int64_t k0 = g * gs;
    const uint8_t* block = q + k0 * BITS / 8;
    const uint16_t* xk = x + k0;
    int64_t b = 0;
    for (; b + NA <= nb; b += NA, block += NA * kBlockBytes, xk += NA * kBlock) {
#pragma GCC unroll 8
      for (int a = 0; a < NA; ++a) dot_step<BITS, MC, NA>(block + a * kBlockBytes, xk + a * kBlock, K, acc, a);
    }
    for (; b < nb; ++b, block += kBlockBytes, xk += kBlock) dot_step<BITS, MC, NA>(block, xk, K, acc, 0);
    float tail[MC];
    for (int m = 0; m < MC; ++m) tail[m] = 0.f;
    for (int64_t k = k0 + kBlock * nb; k < k0 + gs; ++k) {
      const float c = code_at<BITS>(q, k);
      for (int m = 0; m < MC; ++m) tail[m] += c * bf16_to_float(x[m * K + k]);
    }
    const float s = scales[g];
    const float o = offsets ? offsets[g] : kSymmetricZero * s;
    const __m512 vs = _mm512_set1_ps(s);
    for (int m = 0; m < MC; ++m) {
      __m512 group = acc[m][0];
      for (int a = 1; a < NA; ++a) group = _mm512_add_ps(group, acc[m][a]);
      total[m] = _mm512_fmadd_ps(group, vs, total[m]);
      scalar[m] += s * tail[m] + o * xsum[m * p.groups + g];
    }
  }
  for (int m = 0; m < MC; ++m) {
    p.y[(m0 + m) * p.ldy + n] = _mm512_reduce_add_ps(total[m]) + scalar[m];
  }
}

template <int BITS>
void row_all_m(const Problem& p, int64_t n) {
  for_row_passes(p.M, [&](auto rows, int64_t m0) { row_pass<BITS, decltype(rows)::value>(p, n, m0); });
}

// Whole weight rows, one after another (no K chunking: bfloat16 activations of up to 16 rows stay in L2, and
// walking each row in one piece keeps the weight stream sequential).
template <int BITS>
void rows(const Problem& p, int64_t n0, int64_t n1) {
  for (int64_t n = n0; n < n1; ++n) row_all_m<BITS>(p, n);
}

}  // namespace

bool avx512bf16_compiled() { return true; }

void rows_avx512bf16(const Problem& p, int64_t n0, int64_t n1) {
  if (p.bits == 4) {
    rows<4>(p, n0, n1);
  } else {
    rows<8>(p, n0, n1);
  }
}

}  // namespace qmm
}  // namespace infomix

#else  // built without AVX-512 BF16: the dispatcher never selects this

#include <cstdlib>

namespace infomix {
namespace qmm {
bool avx512bf16_compiled() { return false; }
void rows_avx512bf16(const Problem&, int64_t, int64_t) { std::abort(); }
}  // namespace qmm
}  // namespace infomix

#endif
