// AVX2+FMA instance of the quantised matmul kernels (8 lanes, 16-weight blocks). Compiled with -mavx2 -mfma
// (CMakeLists.txt) and called only after a run-time CPU check.
#include "quant_matmul/qmm_kernels.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

namespace infomix {
namespace qmm {
namespace {

struct S {
  using V = __m256;
  static constexpr int kLanes = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V set1(float f) { return _mm256_set1_ps(f); }
  static V loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void storeu(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static float hsum(V v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  template <int BITS>
  static void codes(const uint8_t* block, V& c0, V& c1) {
    const __m256i b0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(block)));
    if constexpr (BITS == 4) {
      c0 = _mm256_cvtepi32_ps(_mm256_and_si256(b0, _mm256_set1_epi32(15)));
      c1 = _mm256_cvtepi32_ps(_mm256_srli_epi32(b0, 4));
    } else {
      c0 = _mm256_cvtepi32_ps(b0);
      c1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(block + 8))));
    }
  }
};

}  // namespace
}  // namespace qmm
}  // namespace infomix

#include "quant_matmul/qmm_simd_kernels.h"

namespace infomix {
namespace qmm {
bool avx2_compiled() { return true; }
void rows_avx2(const Problem& p, int64_t n0, int64_t n1) { rows_for_bits(p, n0, n1); }
void dequant_rows_avx2(const Problem& p, int64_t n0, int64_t n1, float* out) { dequant_rows_for_bits(p, n0, n1, out); }
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
