// Row-major matrix products expressed as column-major BLAS calls (cuBLAS is
// column-major; the model stores everything row-major). A row-major X[r x c]
// is, to BLAS, the column-major X^T with leading dimension c, so
//   C = op(A) * op(B)   (row-major, C is M x N)
// is computed as the column-major C^T = op(B)^T * op(A)^T, i.e. BLAS is
// called with the operands swapped. Kept apart from the CUDA code so the unit
// test checks the mapping against a reference column-major GEMM on the CPU.
#pragma once

namespace ddp {

struct ColumnMajorGemm {
  bool trans_first, trans_second;  // op of BLAS's first and second operand
  int m, n, k;                     // BLAS sizes: first op is m x k, second k x n, C is m x n
  int ld_first, ld_second, ldc;
  bool swap_operands;              // always true: BLAS's first operand is our B
};

// Row-major C[M x N] = op(A) * op(B), where op(A) is M x K and op(B) is K x N;
// A is stored as [M x K] (or [K x M] when trans_a), B as [K x N] (or [N x K]).
constexpr ColumnMajorGemm RowMajorGemm(bool trans_a, bool trans_b, int M, int N, int K) {
  return ColumnMajorGemm{
      /*trans_first=*/trans_b, /*trans_second=*/trans_a,
      /*m=*/N, /*n=*/M, /*k=*/K,
      /*ld_first=*/trans_b ? K : N, /*ld_second=*/trans_a ? M : K, /*ldc=*/N,
      /*swap_operands=*/true};
}

}  // namespace ddp
