// The decode and dequantise kernels of the weight-only quantised matmul, written once over a SIMD width.
// Included by one translation unit per instruction set (qmm_cpu_avx2.cpp, qmm_cpu_avx512.cpp), each compiled with
// its ISA flags and defining a traits struct `S` first:
//   S::V, S::kLanes                     the float vector and its width; a block is 2 * kLanes weights
//   S::zero(), S::set1(f), S::loadu(p), S::storeu(p, v), S::fmadd(a, b, c), S::add(a, b), S::hsum(v)
//   S::codes<BITS>(block, c0, c1)      the block's codes as floats: for 4-bit codes c0 = low nibbles (even
//                                       elements) and c1 = high nibbles (odd elements) of kLanes bytes; for 8-bit
//                                       codes the first and second kLanes bytes
// Everything here has internal linkage (see qmm_kernels.h).
#pragma once

#include "quant_matmul/qmm_kernels.h"

namespace infomix {
namespace qmm {
namespace {

#define QMM_INLINE inline __attribute__((always_inline))

constexpr int64_t kBlock = 2 * S::kLanes;  // weights per block (one pair of vectors)
using V = S::V;

template <int BITS>
QMM_INLINE void unpack_block(const uint8_t* block, V scale, V offset, V& w0, V& w1) {
  V c0, c1;
  S::template codes<BITS>(block, c0, c1);
  w0 = S::fmadd(c0, scale, offset);
  w1 = S::fmadd(c1, scale, offset);
}

// Weight row n's codes, scales and offsets (null when symmetric), and activation row m0.
struct RowOperands {
  const uint8_t* q;
  const float* scales;
  const float* offsets;
  const float* x;
};

QMM_INLINE RowOperands row_operands(const Problem& p, int64_t n, int64_t m0) {
  return {p.qdata + n * p.row_bytes, p.scales + n * p.groups, p.offsets ? p.offsets + n * p.groups : nullptr,
          p.x + m0 * p.K};
}

// One block: slot P of NA accumulators per activation row (P alternates so chains stay independent).
template <int BITS, int MC, int NA, int P>
QMM_INLINE void block_step(const uint8_t* block, const float* xk, int64_t K, V scale, V offset, V (&acc)[MC][NA]) {
  V w0, w1;
  unpack_block<BITS>(block, scale, offset, w0, w1);
#pragma GCC unroll 8
  for (int m = 0; m < MC; ++m) {
    acc[m][(2 * P) % NA] = S::fmadd(w0, S::loadu(xk + m * K), acc[m][(2 * P) % NA]);
    acc[m][(2 * P + 1) % NA] = S::fmadd(w1, S::loadu(xk + m * K + S::kLanes), acc[m][(2 * P + 1) % NA]);
  }
}

// y[m0:m0+MC, n] for one weight row.
template <int BITS, int MC>
void row_pass(const Problem& p, int64_t n, int64_t m0) {
  constexpr int NA = MC <= 2 ? 4 : (MC <= 4 ? 2 : 1);
  V acc[MC][NA];
  float tail[MC];
#pragma GCC unroll 8
  for (int m = 0; m < MC; ++m) {
    tail[m] = 0.f;
#pragma GCC unroll 4
    for (int a = 0; a < NA; ++a) acc[m][a] = S::zero();
  }
  const int64_t K = p.K, gs = p.group_size, nb = gs / kBlock;
  const RowOperands r = row_operands(p, n, m0);
  const uint8_t* q = r.q;
  const float *scales = r.scales, *offsets = r.offsets, *x = r.x;
  constexpr float kSymmetricZero = -static_cast<float>(1 << (BITS - 1));
  constexpr int64_t kBlockBytes = kBlock * BITS / 8;
  for (int64_t g = 0; g < p.groups; ++g) {
    const float s = scales[g];
    const float o = offsets ? offsets[g] : kSymmetricZero * s;
    const V vs = S::set1(s);
    const V vo = S::set1(o);
    const int64_t k0 = g * gs;
    const uint8_t* block = q + k0 * BITS / 8;
    const float* xk = x + k0;
    int64_t b = 0;
    for (; b + 1 < nb; b += 2, block += 2 * kBlockBytes, xk += 2 * kBlock) {
      block_step<BITS, MC, NA, 0>(block, xk, K, vs, vo, acc);
      block_step<BITS, MC, NA, 1>(block + kBlockBytes, xk + kBlock, K, vs, vo, acc);
    }
    if (b < nb) block_step<BITS, MC, NA, 0>(block, xk, K, vs, vo, acc);
    for (int64_t k = k0 + kBlock * nb; k < k0 + gs; ++k) {
      const float w = code_at<BITS>(q, k) * s + o;
#pragma GCC unroll 8
      for (int m = 0; m < MC; ++m) tail[m] += w * x[m * K + k];
    }
  }
#pragma GCC unroll 8
  for (int m = 0; m < MC; ++m) {
    V total = acc[m][0];
#pragma GCC unroll 4
    for (int a = 1; a < NA; ++a) total = S::add(total, acc[m][a]);
    p.y[(m0 + m) * p.ldy + n] = S::hsum(total) + tail[m];
  }
}

template <int BITS, int MC, int NA, int P>
QMM_INLINE void code_step(const uint8_t* block, const float* xk, int64_t K, V (&acc)[MC][NA]) {
  V c0, c1;
  S::template codes<BITS>(block, c0, c1);
#pragma GCC unroll 4
  for (int m = 0; m < MC; ++m) {
    acc[m][(2 * P) % NA] = S::fmadd(c0, S::loadu(xk + m * K), acc[m][(2 * P) % NA]);
    acc[m][(2 * P + 1) % NA] = S::fmadd(c1, S::loadu(xk + m * K + S::kLanes), acc[m][(2 * P + 1) % NA]);
  }
}

// COUNT consecutive blocks, unrolled at compile time, alternating the accumulator slots.
constexpr int kUnrolledBlocks = 16;
template <int BITS, int MC, int NA, int COUNT>
QMM_INLINE void code_blocks(const uint8_t* block, const float* xk, int64_t K, V (&acc)[MC][NA]) {
  constexpr int64_t kBlockBytes = kBlock * BITS / 8;
#pragma GCC unroll 16
  for (int b = 0; b < COUNT; b += 2) {
    code_step<BITS, MC, NA, 0>(block + b * kBlockBytes, xk + kBlock * b, K, acc);
    if (b + 1 < COUNT) code_step<BITS, MC, NA, 1>(block + (b + 1) * kBlockBytes, xk + kBlock * (b + 1), K, acc);
  }
}

// One or two activation rows: sum codes × x over a group, then apply that group's scale once and its offset through
// the precomputed group sums of x (y = Σ_g s_g·Σ q·x + o_g·Σ x), halving the work per weight. With more rows
// (kGroupedMaxRows) the accumulators and group totals no longer fit the registers, and row_pass, which scales each
// unpacked weight once for all rows, is faster. NBC: blocks per group when known at compile time, 0 otherwise.
template <int BITS, int MC, int NBC>
void row_pass_grouped(const Problem& p, int64_t n, int64_t m0) {
  constexpr int NA = MC == 1 ? 4 : 2;
  constexpr int64_t kBlockBytes = kBlock * BITS / 8;
  V acc[MC][NA];
  V total[MC];
  float scalar[MC];
#pragma GCC unroll 4
  for (int m = 0; m < MC; ++m) {
    total[m] = S::zero();
    scalar[m] = 0.f;
  }
  const int64_t K = p.K, gs = p.group_size, nb = gs / kBlock;
  const RowOperands r = row_operands(p, n, m0);
  const uint8_t* q = r.q;
  const float *scales = r.scales, *offsets = r.offsets, *x = r.x;
  const float* xsum = p.x_group_sums + m0 * p.groups;
  constexpr float kSymmetricZero = -static_cast<float>(1 << (BITS - 1));
  for (int64_t g = 0; g < p.groups; ++g) {
#pragma GCC unroll 4
    for (int m = 0; m < MC; ++m) {
#pragma GCC unroll 4
      for (int a = 0; a < NA; ++a) acc[m][a] = S::zero();
    }
    const int64_t k0 = g * gs;
    const uint8_t* block = q + k0 * BITS / 8;
    const float* xk = x + k0;
    if constexpr (NBC > 0) {
      code_blocks<BITS, MC, NA, NBC>(block, xk, K, acc);
    } else {  // runs of kUnrolledBlocks compile-time-unrolled blocks (a plain loop is much slower for 8-bit codes
              // under AVX-512), then the remaining blocks
      int64_t b = 0;
      for (; b + kUnrolledBlocks <= nb; b += kUnrolledBlocks, block += kUnrolledBlocks * kBlockBytes,
                                        xk += kUnrolledBlocks * kBlock) {
        code_blocks<BITS, MC, NA, kUnrolledBlocks>(block, xk, K, acc);
      }
      for (; b < nb; ++b, block += kBlockBytes, xk += kBlock) code_step<BITS, MC, NA, 0>(block, xk, K, acc);
    }
    float tail[MC];
#pragma GCC unroll 4
    for (int m = 0; m < MC; ++m) tail[m] = 0.f;
    for (int64_t k = k0 + kBlock * nb; k < k0 + gs; ++k) {
      const float c = code_at<BITS>(q, k);
#pragma GCC unroll 4
      for (int m = 0; m < MC; ++m) tail[m] += c * x[m * K + k];
    }
    const float s = scales[g];
    const float o = offsets ? offsets[g] : kSymmetricZero * s;
    const V vs = S::set1(s);
#pragma GCC unroll 4
    for (int m = 0; m < MC; ++m) {
      V group = acc[m][0];
#pragma GCC unroll 4
      for (int a = 1; a < NA; ++a) group = S::add(group, acc[m][a]);
      total[m] = S::fmadd(group, vs, total[m]);
      scalar[m] += s * tail[m] + o * xsum[m * p.groups + g];
    }
  }
#pragma GCC unroll 4
  for (int m = 0; m < MC; ++m) {
    p.y[(m0 + m) * p.ldy + n] = S::hsum(total[m]) + scalar[m];
  }
}

template <int BITS, int MC>
QMM_INLINE void grouped_for_size(const Problem& p, int64_t n, int64_t m0) {
  switch (p.group_size / kBlock * (p.group_size % kBlock == 0 ? 1 : 0)) {
    case 1: row_pass_grouped<BITS, MC, 1>(p, n, m0); break;
    case 2: row_pass_grouped<BITS, MC, 2>(p, n, m0); break;
    case 4: row_pass_grouped<BITS, MC, 4>(p, n, m0); break;
    case 8: row_pass_grouped<BITS, MC, 8>(p, n, m0); break;
    case 16: row_pass_grouped<BITS, MC, 16>(p, n, m0); break;
    default: row_pass_grouped<BITS, MC, 0>(p, n, m0); break;
  }
}

template <int BITS>
void row_all_m(const Problem& p, int64_t n) {
  if (p.x_group_sums != nullptr && p.M <= kGroupedMaxRows) {
    if (p.M == 2) {
      grouped_for_size<BITS, 2>(p, n, 0);
    } else {
      grouped_for_size<BITS, 1>(p, n, 0);
    }
    return;
  }
  for_row_passes(p.M, [&](auto rows, int64_t m0) { row_pass<BITS, decltype(rows)::value>(p, n, m0); });
}

// Whole weight rows, one after another: each row's codes stream past the activations in one sequential piece.
// (Walking K in L1-sized chunks of the activations, row block by row block, measured 10-15% slower at M = 2-4 and
// never faster.)
template <int BITS>
void rows(const Problem& p, int64_t n0, int64_t n1) {
  for (int64_t n = n0; n < n1; ++n) row_all_m<BITS>(p, n);
}

template <int BITS>
void dequant_rows(const Problem& p, int64_t n0, int64_t n1, float* out) {
  const int64_t K = p.K;
  const int64_t gs = p.group_size;
  const int64_t nb = gs / kBlock;
  constexpr float kSymmetricZero = -static_cast<float>(1 << (BITS - 1));
  for (int64_t n = n0; n < n1; ++n) {
    const uint8_t* q = p.qdata + n * p.row_bytes;
    float* w = out + (n - n0) * K;
    for (int64_t g = 0; g < p.groups; ++g) {
      const float s = p.scales[n * p.groups + g];
      const float o = p.offsets ? p.offsets[n * p.groups + g] : kSymmetricZero * s;
      const V vs = S::set1(s);
      const V vo = S::set1(o);
      const int64_t k0 = g * gs;
      for (int64_t b = 0; b < nb; ++b) {
        V w0, w1;
        unpack_block<BITS>(q + (k0 + kBlock * b) * BITS / 8, vs, vo, w0, w1);
        S::storeu(w + k0 + kBlock * b, w0);
        S::storeu(w + k0 + kBlock * b + S::kLanes, w1);
      }
      for (int64_t k = k0 + kBlock * nb; k < k0 + gs; ++k) w[k] = code_at<BITS>(q, k) * s + o;
    }
  }
}

// Entry points for the including translation unit.
void rows_for_bits(const Problem& p, int64_t n0, int64_t n1) {
  if (p.bits == 4) {
    rows<4>(p, n0, n1);
  } else {
    rows<8>(p, n0, n1);
  }
}

void dequant_rows_for_bits(const Problem& p, int64_t n0, int64_t n1, float* out) {
  if (p.bits == 4) {
    dequant_rows<4>(p, n0, n1, out);
  } else {
    dequant_rows<8>(p, n0, n1, out);
  }
}

#undef QMM_INLINE

}  // namespace
}  // namespace qmm
}  // namespace infomix
