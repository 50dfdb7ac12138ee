// Plain-C++ interface of the CPU weight-only quantised matmul kernels. No torch headers and only
// internal-linkage helpers: the AVX2 translation unit is compiled with extra ISA flags, and an inline
// function it shared with other units could be linked in AVX2 form for callers on any CPU.
#pragma once

#include <cstdint>
#include <type_traits>

namespace infomix {
namespace qmm {

// One call's operands, all contiguous.
//   x:       [M, K] float32 activations. For 4-bit weights every full block inside a group (16 elements
//            for the scalar and AVX2 kernels, 32 for AVX-512) is stored "de-interleaved" (its even elements,
//            then its odd elements) so that the low and high nibbles of the packed bytes meet their
//            activations without shuffles; the tail of a group that is not a whole block stays in natural
//            order. See arrange_activations (qmm_cpu.cpp); rows_avx512_planes expects another order (below).
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
  // [M, K] bfloat16 bits of x in the same element order (32-element blocks), or null; for rows_avx512bf16.
  const uint16_t* x_bf16 = nullptr;
};

// y[:, n0:n1] for every row of x, decode-shaped (weights unpacked in registers, never stored).
void rows_scalar(const Problem& p, int64_t n0, int64_t n1);
void rows_avx2(const Problem& p, int64_t n0, int64_t n1);
void rows_avx512(const Problem& p, int64_t n0, int64_t n1);
// 4-bit codes whose group size is 64 or a multiple of kPlaneChunk (in_features a multiple of kPlaneChunk), with x in
// "nibble-plane" order instead: every
// kPlaneChunk-element chunk of a row of x holds x[8d + j] at position 16j + d (d < 16, j < 8), so that nibble j of the
// chunk's 16 little-endian code dwords (bytes 4d..4d+3 hold elements 8d..8d+7) meets 16 consecutive activations.
void rows_avx512_planes(const Problem& p, int64_t n0, int64_t n1);
constexpr int64_t kPlaneChunk = 128;
// Software prefetch distance of the decode kernels: the codes this many bytes ahead (about one 4096-wide row of 4-bit
// codes; the hardware prefetchers stop at 4 KiB pages), and the scales this many weight rows ahead.
constexpr int64_t kPrefetchBytes = 2048;
constexpr int64_t kPrefetchRows = 4;
// bfloat16 activations (x_bf16 and x_group_sums set): codes × x in vdpbf16ps, per-group scales and offsets.
void rows_avx512bf16(const Problem& p, int64_t n0, int64_t n1);

// Dequantised weight rows n0..n1 into out[(n - n0) * K + k], in the same per-group element order as x.
void dequant_rows_scalar(const Problem& p, int64_t n0, int64_t n1, float* out);
void dequant_rows_avx2(const Problem& p, int64_t n0, int64_t n1, float* out);
void dequant_rows_avx512(const Problem& p, int64_t n0, int64_t n1, float* out);

// Whether the AVX2+FMA / AVX-512 kernels were compiled with their instruction sets (they abort otherwise).
bool avx2_compiled();
bool avx512_compiled();
bool avx512bf16_compiled();

// Full 16-element blocks per group, and the natural-order tail.
static inline int64_t full_blocks(int64_t group_size) { return group_size / 16; }

// Activation rows up to which the kernels scale per group instead of per weight (needs x_group_sums).
constexpr int64_t kGroupedMaxRows = 2;
namespace {  // internal linkage: each kernel translation unit gets its own copy

// The code of element k of a packed weight row as a float (4-bit: element 2i in the low nibble of byte i).
template <int BITS>
inline float code_at(const uint8_t* q, int64_t k) {
  if constexpr (BITS == 4) {
    return static_cast<float>((q[k >> 1] >> ((k & 1) * 4)) & 15);
  } else {
    return static_cast<float>(q[k]);
  }
}

// pass(std::integral_constant<int, MC>, m0) over the M activation rows in passes of up to 8 rows (MC = rows in the
// pass, a compile-time constant for the kernels' register arrays).
template <typename F>
inline void for_row_passes(int64_t M, const F& pass) {
  for (int64_t m0 = 0; m0 < M; m0 += 8) {
    switch (M - m0 >= 8 ? 8 : M - m0) {
      case 1: pass(std::integral_constant<int, 1>{}, m0); break;
      case 2: pass(std::integral_constant<int, 2>{}, m0); break;
      case 3: pass(std::integral_constant<int, 3>{}, m0); break;
      case 4: pass(std::integral_constant<int, 4>{}, m0); break;
      case 5: pass(std::integral_constant<int, 5>{}, m0); break;
      case 6: pass(std::integral_constant<int, 6>{}, m0); break;
      case 7: pass(std::integral_constant<int, 7>{}, m0); break;
      default: pass(std::integral_constant<int, 8>{}, m0); break;
    }
  }
}

}  // namespace

}  // namespace qmm
}  // namespace infomix
