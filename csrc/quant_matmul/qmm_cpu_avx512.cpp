// AVX-512 instance of the quantised matmul kernels (16 lanes, 32-weight blocks). Compiled with -mavx512f -mavx512bw
// -mavx512vl -mfma (CMakeLists.txt) and called only after a run-time CPU check.
#include "quant_matmul/qmm_kernels.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__FMA__)
#include <immintrin.h>

namespace infomix {
namespace qmm {
namespace {

struct S {
  using V = __m512;
  static constexpr int kLanes = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V set1(float f) { return _mm512_set1_ps(f); }
  static V loadu(const float* p) { return _mm512_loadu_ps(p); }
  static void storeu(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static float hsum(V v) { return _mm512_reduce_add_ps(v); }
  template <int BITS>
  static void codes(const uint8_t* block, V& c0, V& c1) {
    const __m512i b0 = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block)));
    if constexpr (BITS == 4) {
      c0 = _mm512_cvtepi32_ps(_mm512_and_si512(b0, _mm512_set1_epi32(15)));
      c1 = _mm512_cvtepi32_ps(_mm512_srli_epi32(b0, 4));
    } else {
      c0 = _mm512_cvtepi32_ps(b0);
      c1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16))));
    }
  }
};

}  // namespace
}  // namespace qmm
}  // namespace infomix

#include "quant_matmul/qmm_simd_kernels.h"

namespace infomix {
namespace qmm {
namespace {

// 4-bit codes, group size a multiple of kPlaneChunk, x in nibble-plane order (qmm_kernels.h). Each 64-byte chunk of
// codes is 16 dwords; nibble j of every dword (a shift; vpermps reads only an index's low 4 bits) picks, from a
// 16-entry table of the group's dequantised values, 16 weights that meet 16 consecutive activations. One shift, one
// permute and MC fused multiply-adds per 16 weights; no conversions and no per-group sums of x.
template <int MC>
void plane_row_pass(const Problem& p, int64_t n, int64_t m0) {
  constexpr int NA = MC == 1 ? 4 : (MC == 2 ? 4 : (MC <= 4 ? 2 : 1));
  const int64_t K = p.K, chunks = p.group_size / kPlaneChunk;
  const uint8_t* q = p.qdata + n * p.row_bytes;
  const float* scales = p.scales + n * p.groups;
  const float* offsets = p.offsets ? p.offsets + n * p.groups : nullptr;
  const float* x = p.x + m0 * K;
  // The scales (and offsets) of a row kPrefetchRows ahead: they are a second, slower stream than the codes.
  _mm_prefetch(reinterpret_cast<const char*>(scales + kPrefetchRows * p.groups), _MM_HINT_T0);
  if (offsets) _mm_prefetch(reinterpret_cast<const char*>(offsets + kPrefetchRows * p.groups), _MM_HINT_T0);
  const __m512 codes = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512 centred = _mm512_sub_ps(codes, _mm512_set1_ps(8.f));
  __m512 acc[MC][NA];
#pragma GCC unroll 8
  for (int m = 0; m < MC; ++m) {
#pragma GCC unroll 4
    for (int a = 0; a < NA; ++a) acc[m][a] = _mm512_setzero_ps();
  }
  const uint8_t* chunk = q;
  const float* xk = x;
  for (int64_t g = 0; g < p.groups; ++g) {
    const __m512 s = _mm512_set1_ps(scales[g]);
    const __m512 table = offsets ? _mm512_fmadd_ps(codes, s, _mm512_set1_ps(offsets[g])) : _mm512_mul_ps(centred, s);
    for (int64_t c = 0; c < chunks; ++c, chunk += kPlaneChunk / 2, xk += kPlaneChunk) {
      _mm_prefetch(reinterpret_cast<const char*>(chunk + kPrefetchBytes), _MM_HINT_T0);
      const __m512i v = _mm512_loadu_si512(chunk);
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j) {
        const __m512 w = _mm512_permutexvar_ps(j == 0 ? v : _mm512_srli_epi32(v, 4 * j), table);
#pragma GCC unroll 8
        for (int m = 0; m < MC; ++m) {
          acc[m][j % NA] = _mm512_fmadd_ps(w, _mm512_loadu_ps(xk + m * K + 16 * j), acc[m][j % NA]);
        }
      }
    }
  }
#pragma GCC unroll 8
  for (int m = 0; m < MC; ++m) {
    __m512 total = acc[m][0];
#pragma GCC unroll 4
    for (int a = 1; a < NA; ++a) total = _mm512_add_ps(total, acc[m][a]);
    p.y[(m0 + m) * p.ldy + n] = _mm512_reduce_add_ps(total);
  }
}

}  // namespace

bool avx512_compiled() { return true; }
void rows_avx512(const Problem& p, int64_t n0, int64_t n1) { rows_for_bits(p, n0, n1); }
void rows_avx512_planes(const Problem& p, int64_t n0, int64_t n1) {
  for (int64_t n = n0; n < n1; ++n) {
    for_row_passes(p.M, [&](auto rows, int64_t m0) { plane_row_pass<decltype(rows)::value>(p, n, m0); });
  }
}
void dequant_rows_avx512(const Problem& p, int64_t n0, int64_t n1, float* out) {
  dequant_rows_for_bits(p, n0, n1, out);
}
}  // namespace qmm
}  // namespace infomix

#else  // built without AVX-512: the dispatcher never selects these

#include <cstdlib>

namespace infomix {
namespace qmm {
bool avx512_compiled() { return false; }
void rows_avx512(const Problem&, int64_t, int64_t) { std::abort(); }
void rows_avx512_planes(const Problem&, int64_t, int64_t) { std::abort(); }
void dequant_rows_avx512(const Problem&, int64_t, int64_t, float*) { std::abort(); }
}  // namespace qmm
}  // namespace infomix

#endif
