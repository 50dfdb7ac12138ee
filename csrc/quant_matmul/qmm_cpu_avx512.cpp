// AVX-512 instance of the quantised matmul kernels (16 lanes, 32-weight blocks). Compiled with -mavx512f -mavx512bw
// -mavx512vl -mfma (CMakeLists.txt) and called only after a run-time CPU check.
#include "quant_matmul/qmm_kernels.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__FMA__)
#include <immintrin.h>

#include <algorithm>

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

// Per weight row of a plane pass: its codes, scales and offsets (nullptr when symmetric).
template <int NR>
struct PlaneRows {
  const uint8_t* chunk[NR];
  const float* scales[NR];
  const float* offsets[NR];

  // Rows n, n + 1, …; prefetches the scales (and offsets) of a row kPrefetchRows ahead: a second, slower stream
  // than the codes.
  PlaneRows(const Problem& p, int64_t n) {
#pragma GCC unroll 4
    for (int r = 0; r < NR; ++r) {
      chunk[r] = p.qdata + (n + r) * p.row_bytes;
      scales[r] = p.scales + (n + r) * p.groups;
      offsets[r] = p.offsets == nullptr ? nullptr : p.offsets + (n + r) * p.groups;
      _mm_prefetch(reinterpret_cast<const char*>(scales[r] + kPrefetchRows * p.groups), _MM_HINT_T0);
      if (offsets[r] != nullptr) {
        _mm_prefetch(reinterpret_cast<const char*>(offsets[r] + kPrefetchRows * p.groups), _MM_HINT_T0);
      }
    }
  }

  // The 16 dequantised values of group g of row r: (code − 8)·scale, or code·scale + offset.
  __m512 table(int r, int64_t g) const {
    const __m512 codes = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512 s = _mm512_set1_ps(scales[r][g]);
    if (offsets[r] == nullptr) return _mm512_mul_ps(_mm512_sub_ps(codes, _mm512_set1_ps(8.f)), s);
    return _mm512_fmadd_ps(codes, s, _mm512_set1_ps(offsets[r][g]));
  }
};

// Accumulators of a plane pass: NA per (weight row, activation row), fewer when more pairs share the registers.
template <int MC, int NR>
constexpr int plane_accumulators() {
  return MC * NR <= 2 ? 4 : (MC * NR <= 4 ? 2 : 1);
}

template <int MC, int NR, int NA>
inline void zero_accumulators(__m512 (&acc)[NR][MC][NA]) {
#pragma GCC unroll 4
  for (int r = 0; r < NR; ++r) {
#pragma GCC unroll 8
    for (int m = 0; m < MC; ++m) {
#pragma GCC unroll 4
      for (int a = 0; a < NA; ++a) acc[r][m][a] = _mm512_setzero_ps();
    }
  }
}

// y[m0 + m, n + r] = the sum of acc[r][m][·].
template <int MC, int NR, int NA>
inline void store_accumulators(const Problem& p, int64_t n, int64_t m0, __m512 (&acc)[NR][MC][NA]) {
#pragma GCC unroll 4
  for (int r = 0; r < NR; ++r) {
#pragma GCC unroll 8
    for (int m = 0; m < MC; ++m) {
      __m512 total = acc[r][m][0];
#pragma GCC unroll 4
      for (int a = 1; a < NA; ++a) total = _mm512_add_ps(total, acc[r][m][a]);
      p.y[(m0 + m) * p.ldy + n + r] = _mm512_reduce_add_ps(total);
    }
  }
}

// acc[r][m][j % NA] += w[r] * x[m, 16 j : 16 j + 16] for the MC activation rows (stride K from xk) and NR weight
// rows: the multiply-adds of plane j of a chunk (always inlined, so j is a constant and acc stays in registers).
template <int MC, int NR, int NA>
__attribute__((always_inline)) inline void plane_fma(const float* xk, int64_t K, int j, const __m512 (&w)[NR],
                                                     __m512 (&acc)[NR][MC][NA]) {
#pragma GCC unroll 8
  for (int m = 0; m < MC; ++m) {
    const __m512 xv = _mm512_loadu_ps(xk + m * K + 16 * j);
#pragma GCC unroll 4
    for (int r = 0; r < NR; ++r) acc[r][m][j % NA] = _mm512_fmadd_ps(w[r], xv, acc[r][m][j % NA]);
  }
}

// 4-bit codes, group size a multiple of kPlaneChunk, x in nibble-plane order (qmm_kernels.h). Each 64-byte chunk of
// codes is 16 dwords; nibble j of every dword (a shift; vpermps reads only an index's low 4 bits) picks, from a
// 16-entry table of the group's dequantised values, 16 weights that meet 16 consecutive activations. One shift, one
// permute and MC fused multiply-adds per 16 weights; no conversions and no per-group sums of x. NR weight rows
// (n, n + 1, …) share each load of x.
template <int MC, int NR>
void plane_row_pass(const Problem& p, int64_t n, int64_t m0) {
  constexpr int NA = plane_accumulators<MC, NR>();
  const int64_t K = p.K, chunks = p.group_size / kPlaneChunk;
  PlaneRows<NR> rows(p, n);
  const uint8_t** chunk = rows.chunk;
  __m512 acc[NR][MC][NA];
  zero_accumulators(acc);
  const float* xk = p.x + m0 * K;
  for (int64_t g = 0; g < p.groups; ++g) {
    __m512 table[NR];
#pragma GCC unroll 4
    for (int r = 0; r < NR; ++r) table[r] = rows.table(r, g);
    for (int64_t c = 0; c < chunks; ++c, xk += kPlaneChunk) {
      __m512i v[NR];
#pragma GCC unroll 4
      for (int r = 0; r < NR; ++r) {
        _mm_prefetch(reinterpret_cast<const char*>(chunk[r] + kPrefetchBytes), _MM_HINT_T0);
        v[r] = _mm512_loadu_si512(chunk[r]);
        // One weight row: keep its codes in a register (GCC may otherwise reload them for each of the 7 shifts, and
        // loads are what one row of x is short of). Several rows: left to GCC.
        if constexpr (NR == 1) asm("" : "+v"(v[r]));
        chunk[r] += kPlaneChunk / 2;
      }
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j) {
        __m512 w[NR];
#pragma GCC unroll 4
        for (int r = 0; r < NR; ++r) w[r] = _mm512_permutexvar_ps(j == 0 ? v[r] : _mm512_srli_epi32(v[r], 4 * j), table[r]);
        plane_fma(xk, K, j, w, acc);
      }
    }
  }
  store_accumulators(p, n, m0, acc);
}

// plane_row_pass for groups of 64 (in_features a multiple of kPlaneChunk): a chunk spans two groups, lanes 0-7 of
// every plane in the first and lanes 8-15 in the second, so the index gains bit 4 in lanes 8-15 and vpermt2ps picks
// each weight from the two groups' tables.
template <int MC, int NR>
void plane_row_pass_g64(const Problem& p, int64_t n, int64_t m0) {
  constexpr int NA = plane_accumulators<MC, NR>();
  const int64_t K = p.K;
  const __m512i nibble = _mm512_set1_epi32(15);
  const __m512i second = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 16, 16, 16, 16, 16, 16, 16, 16);
  PlaneRows<NR> rows(p, n);
  const uint8_t** chunk = rows.chunk;
  __m512 acc[NR][MC][NA];
  zero_accumulators(acc);
  const float* xk = p.x + m0 * K;
  for (int64_t g = 0; g < p.groups; g += 2, xk += kPlaneChunk) {
    __m512 first_table[NR], second_table[NR];
    __m512i v[NR];
#pragma GCC unroll 4
    for (int r = 0; r < NR; ++r) {
      first_table[r] = rows.table(r, g);
      second_table[r] = rows.table(r, g + 1);
      _mm_prefetch(reinterpret_cast<const char*>(chunk[r] + kPrefetchBytes), _MM_HINT_T0);
      v[r] = _mm512_loadu_si512(chunk[r]);
      if constexpr (NR == 1) asm("" : "+v"(v[r]));  // as in plane_row_pass
      chunk[r] += kPlaneChunk / 2;
    }
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      __m512 w[NR];
#pragma GCC unroll 4
      for (int r = 0; r < NR; ++r) {
        const __m512i idx = j == 0 ? v[r] : _mm512_srli_epi32(v[r], 4 * j);
        // (idx & 15) | second
        w[r] = _mm512_permutex2var_ps(first_table[r], _mm512_ternarylogic_epi32(idx, nibble, second, 0xEA),
                                      second_table[r]);
      }
      plane_fma(xk, K, j, w, acc);
    }
  }
  store_accumulators(p, n, m0, acc);
}

// Passes of plane_row_pass (G64: plane_row_pass_g64) over the activation rows.
template <int MC, int NR, bool G64>
inline void plane_pass(const Problem& p, int64_t n, int64_t m0) {
  if constexpr (G64) {
    plane_row_pass_g64<MC, NR>(p, n, m0);
  } else {
    plane_row_pass<MC, NR>(p, n, m0);
  }
}

// plane_pass over the activation rows in passes of up to 8 rows (up to 4 rows when NR = 4: registers).
template <int NR, bool G64>
inline void plane_row_passes(const Problem& p, int64_t n) {
  if constexpr (NR >= 4) {
    for (int64_t m0 = 0; m0 < p.M; m0 += 4) {
      switch (std::min<int64_t>(4, p.M - m0)) {
        case 1: plane_pass<1, NR, G64>(p, n, m0); break;
        case 2: plane_pass<2, NR, G64>(p, n, m0); break;
        case 3: plane_pass<3, NR, G64>(p, n, m0); break;
        default: plane_pass<4, NR, G64>(p, n, m0); break;
      }
    }
  } else {
    for_row_passes(p.M, [&](auto rows, int64_t m0) { plane_pass<decltype(rows)::value, NR, G64>(p, n, m0); });
  }
}

// Weight rows n0..n1 in steps of NR, then one by one.
template <int NR, bool G64>
void plane_rows(const Problem& p, int64_t n0, int64_t n1) {
  int64_t n = n0;
  for (; n + NR <= n1; n += NR) plane_row_passes<NR, G64>(p, n);
  for (; n < n1; ++n) plane_row_passes<1, G64>(p, n);
}

}  // namespace

bool avx512_compiled() { return true; }
void rows_avx512(const Problem& p, int64_t n0, int64_t n1) { rows_for_bits(p, n0, n1); }
void rows_avx512_planes(const Problem& p, int64_t n0, int64_t n1) {
  // Weight rows per pass by activation rows (measured at K = 4096): one row of x streams W from memory, where a
  // single code stream prefetches best; 2-4 rows are bound by the loads of x, which 4 weight rows share; beyond 4 the
  // accumulators of 4 weight rows no longer fit the registers.
  // Groups of 64 keep two tables per weight row: 2 weight rows at most.
  if (p.group_size == kPlaneChunk / 2) {
    if (p.M == 1) {
      plane_rows<1, true>(p, n0, n1);
    } else {
      plane_rows<2, true>(p, n0, n1);
    }
  } else if (p.M == 1) {
    plane_rows<1, false>(p, n0, n1);
  } else if (p.M <= 4) {
    plane_rows<4, false>(p, n0, n1);
  } else {
    plane_rows<2, false>(p, n0, n1);
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
