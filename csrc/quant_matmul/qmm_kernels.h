// Plain-C++ interface of the CPU weight-only quantised matmul kernels. No torch headers and only
// internal-linkage helpers: the AVX2 translation unit is compiled with extra ISA flags, and an inline
// function it shared with other units could be linked in AVX2 form for callers on any CPU.
#pragma once

#include <cstdint>

namespace infomix {
namespace qmm {

// One call's operands, all contiguous.
//   x:       [M, K] float32 activations. For 4-bit weights every full block inside a group (16 elements
//            for the scalar and AVX2 kernels, 32 for AVX-512) is stored "de-interleaved" (its even elements,
//            then its odd elements) so that the low and high nibbles of the packed bytes meet their
//            activations without shuffles; the tail of a group that is not a whole block stays in natural
//            order. See permute_activations.
//   qdata:   [N, row_bytes] uint8 codes; 8-bit: one code per byte; 4-bit: element 2i in the low nibble
//            and element 2i+1 in the high nibble of byte i.
//   scales:  [N, groups] float32; offsets: [N, groups] float32 or null.
//   weight:  w = q * scale + offset, with offset = -2^(bits-1) * scale when offsets is null (symmetric).
//   y:       [M, N] float32 output (row stride ldy).
struct Problem {
  const float* x;
  int64_t M;
  int64_t K;
  int64_t N;
  const uint8_t* qdata;
  int64_t row_bytes;
  const float* scales;
  const float* offsets;
  int64_t groups;
  int64_t group_size;
  int bits;
  float* y;
  int64_t ldy;
  // [M, groups] sums of x over each group, or null; lets few-row kernels apply offsets once per group.
  const float* x_group_sums = nullptr;
};

// y[:, n0:n1] for every row of x, decode-shaped (weights unpacked in registers, never stored).
void rows_scalar(const Problem& p, int64_t n0, int64_t n1);
void rows_avx2(const Problem& p, int64_t n0, int64_t n1);
void rows_avx512(const Problem& p, int64_t n0, int64_t n1);

// Dequantised weight rows n0..n1 into out[(n - n0) * K + k], in the same per-group element order as x.
void dequant_rows_scalar(const Problem& p, int64_t n0, int64_t n1, float* out);
void dequant_rows_avx2(const Problem& p, int64_t n0, int64_t n1, float* out);
void dequant_rows_avx512(const Problem& p, int64_t n0, int64_t n1, float* out);

// Whether the AVX2+FMA / AVX-512 kernels were compiled with their instruction sets (they abort otherwise).
bool avx2_compiled();
bool avx512_compiled();

// Full 16-element blocks per group, and the natural-order tail.
static inline int64_t full_blocks(int64_t group_size) { return group_size / 16; }

// Activation rows up to which the kernels scale per group instead of per weight (needs x_group_sums).
constexpr int64_t kGroupedMaxRows = 2;

// Decode kernels walk kRowBlock weight rows at a time over K in chunks of whole groups whose
// activations (all M rows) fit in about kChunkBytes, i.e. stay in L1 while the rows stream past.
constexpr int64_t kRowBlock = 64;
constexpr int64_t kChunkBytes = 24 * 1024;
// Only the few-row kernels (M ≤ 4) chunk: with more rows the per-chunk reductions cost more than L1 reuse saves.
static inline int64_t groups_per_chunk(const Problem& p) {
  if (p.M > 4) return p.groups;
  const int64_t per_group = p.M * p.group_size * 4;
  const int64_t g = per_group > 0 ? kChunkBytes / per_group : 1;
  return g < 1 ? 1 : g;
}

}  // namespace qmm
}  // namespace infomix
