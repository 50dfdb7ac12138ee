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
bool avx512_compiled() { return true; }
void rows_avx512(const Problem& p, int64_t n0, int64_t n1) { rows_for_bits(p, n0, n1); }
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
void dequant_rows_avx512(const Problem&, int64_t, int64_t, float*) { std::abort(); }
}  // namespace qmm
}  // namespace infomix

#endif
