// AVX-512 kernels of the CPU attention (attention_cpu_avx512.cpp): register-blocked tile products and 16-lane row
// passes. Callers check the CPU at run time (attention_cpu.cpp) before calling any of them.
#pragma once

#include <cstdint>

namespace infomix::attention::avx512 {

// Whether this build compiled the AVX-512 instance (false: the functions below abort).
bool compiled();

// C[i, x] = alpha * sum_p A(i, p) * B[p * ldb + x] (+ C[i, x] when accumulate) for i < m, x < n, p < k, where
// A(i, p) = a[i * a_row + p * a_col]: a row-major A (a_row = lda, a_col = 1) or a transposed one (1, lda).
// A product with B^T passes B transposed as b (column j of BT is row j of B), so 16 consecutive x are one load.
void mm_a_b(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t a_row, int64_t a_col,
            const float* b, int64_t ldb, bool accumulate, float* c, int64_t ldc);

// Score block: C[i, j] = scale * sum_p A[i * lda + p] * BT[p * ldbt + j] for i < m, j < n, then cap * tanh(C / cap)
// when cap > 0, and -inf unless lo[i] <= j < hi[i] and not pad[j] (pad may be null); row_max[i] = max(row_max[i],
// max_j C[i, j]) when row_max is given. One pass over registers instead of a product and a prepare_row pass.
void scores(int64_t m, int64_t n, int64_t k, float scale, float cap, const float* a, int64_t lda, const float* bt,
            int64_t ldbt, const int32_t* lo, const int32_t* hi, const bool* pad, float* c, int64_t ldc,
            float* row_max);

// dst[cols x rows] = src[rows x cols]^T, both contiguous.
void transpose(const float* src, int64_t rows, int64_t cols, float* dst);

// Whether x[0, n) holds a NaN.
bool has_nan(const float* x, int64_t n);

// The row passes of attention_cpu.cpp (same contracts as their AVX2 and scalar versions there; the logits come from
// scores(), which applies the softcap and masks that prepare_row applies on the other paths).
float exp_row(float* s, int64_t n, float m, float* t);
void bwd_row(const float* logit, float* p, float* ds, int64_t n, float lse, float dsub, float g_ent, float ent,
             float cap);

}  // namespace infomix::attention::avx512
