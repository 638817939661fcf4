// ops.h — the differentiable operations, each a forward/backward kernel pair.
//
// Forward functions compute their value eagerly and record one Node on the
// tape of their first argument. The matching backward kernels live beside the
// forward ones in ops.cpp and are dispatched by backward_node().
//
// Every op checks its shapes and indices and throws std::invalid_argument
// naming the op and the shapes; nothing here has undefined behaviour on bad
// input. Index and mask arrays are not copied: they must outlive the step
// (allocate them in tape.arena).
//
// Broadcasting (Add, Sub, Mul): b has the shape of a, or one row (1, cols),
// or is a 1x1 scalar.
#pragma once

#include <cstdint>

#include "engine/tape.h"

namespace gfn {

Var matmul(Var a, Var b);                       // (n,k)·(k,m) -> (n,m)
Var linear(Var x, Var W, Var b);                // (n,in)·(out,in)ᵀ + (1,out) -> (n,out)
Var add(Var a, Var b);
Var sub(Var a, Var b);
Var mul(Var a, Var b);
Var div(Var a, Var b);                          // a / b (IEEE: x/0 = ±inf)
Var scale(Var a, float s);
Var add_scalar(Var a, float s);
Var square(Var a);
Var exp(Var a);
Var log(Var a);
Var relu(Var a);
Var leaky_relu(Var a, float slope = 0.01f);
Var tanh(Var a);
Var elu(Var a, float alpha = 1.0f);
Var sigmoid(Var a);                             // 1 / (1 + e⁻ᵃ)
Var log_sigmoid(Var a);                         // log σ(a) = −softplus(−a), finite for any finite a
Var softplus(Var a);                            // log(1 + eᵃ), without overflow
Var gelu(Var a);                                // a Φ(a), the erf form (PyTorch's default)
Var sin(Var a);
Var cos(Var a);
Var lgamma(Var a);                              // log |Γ(a)|; gradient ψ(a) (digamma)
// mask (rows, cols) of 0/1 or nullptr (all valid). Every row needs a valid entry.
Var log_softmax(Var a, const uint8_t* mask = nullptr);
Var gather(Var a, const int* idx);              // (n,c) -> (n,1), y_i = a[i, idx_i]
Var logsumexp(Var a, const uint8_t* mask = nullptr);  // (n,c) -> (n,1)
Var sum(Var a);                                 // -> (1,1)
Var row_sum(Var a);                             // (n,c) -> (n,1), y_i = Σ_j a_ij
Var mean(Var a);                                // -> (1,1)
// (n,c) -> (n_segments,c): y[seg[i], :] += a[i, :]; seg values in [0, n_segments).
Var segment_sum(Var a, const int* seg, int n_segments);
Var slice_cols(Var a, int begin, int end);      // a[:, begin:end]
Var concat_cols(Var a, Var b);                  // [a | b]
Var slice_rows(Var a, int begin, int end);      // a[begin:end, :], sharing a's memory (a view)
Var concat_rows(const Var* xs, int n);          // [x_0; ...; x_{n-1}], equal cols
// The same rows·cols floats in row-major order as (rows, cols): a view, no copy.
// (n, d·K) -> (n·d, K) puts each group of K columns on a row of its own.
Var reshape(Var a, int rows, int cols);
Var index_rows(Var a, const int* idx, int n);   // (n, cols), y_i = a[idx_i, :]
// (n, 1), y_k = a[row_k, col_k], idx = n pairs (row_k, col_k): gather(index_rows(a, rows), cols)
// without the (n, cols) copy in between (rows may repeat; the backward adds into each).
Var gather_at(Var a, const int* idx, int n);
Var clamp(Var a, float lo, float hi);
// (n,c) -> (m,c): y_k = Σ_{r∈[lo_k, hi_k)} a[r, :]. ranges (m, 2) holds the pairs
// (lo_k, hi_k) with 0 <= lo_k <= hi_k <= n; an empty range gives 0. O(n + m):
// prefix sums (in double) forward, a difference array backward.
Var range_sum(Var a, const int* ranges, int m);
inline Var clamp_min(Var a, float lo) { return clamp(a, lo, __builtin_huge_valf()); }

// Log-densities, fused (one node, double precision inside), with gradients to
// every input (the value too). Throw on a non-positive std / concentration or
// a Beta value outside [0, 1].
// x, mu, sigma (n,d) -> (n,1): log N(x_i; μ_i, diag σ_i²)
//   = −½ Σ_j [log 2π + 2 log σ_ij + ((x_ij − μ_ij)/σ_ij)²]
Var normal_log_prob(Var x, Var mu, Var sigma);
// r (n,m), alpha, beta (n,c) with c = m·K -> (n,c): y_ij = log Beta(r_i,⌊j/K⌋; α_ij, β_ij)
//   = (α−1) log r + (β−1) log(1−r) − [log Γ(α) + log Γ(β) − log Γ(α+β)]
// (each value against its K mixture components; m = c for one component each).
Var beta_log_prob(Var r, Var alpha, Var beta);

// Special functions in double: log |Γ(x)| (thread-safe, unlike std::lgamma,
// which may write signgam) and the digamma ψ(x) = d/dx log Γ(x).
double log_gamma(double x);
double digamma(double x);

// Recording a forward computed elsewhere. During a rollout the trunk runs row
// block by row block (each step's rows depend on the previous step's samples);
// afterwards the whole rollout is recorded as one node per layer over all rows,
// so its backward is one large GEMM per layer instead of one small GEMM per
// step. `y` holds the op's output over all rows, computed by the caller, and
// must outlive the step; the node and its backward are those of the op.
Var linear_precomputed(Var x, Var W, Var b, float* y);
// op ∈ {Relu, LeakyRelu, Tanh, Elu}; attr: the slope (leaky) or alpha (elu).
Var activation_precomputed(Var a, Op op, float attr, float* y);
// The forward kernel of an activation, on n contiguous floats.
void activation_forward(Op op, float attr, float* y, const float* a, long n);

// Runs the backward kernel of one node (called by Tape::backward).
void backward_node(Tape& tape, const Node& n);

// Fused GELU layers (one node each; the derivative is kept, z is not stored):
// x (n,in), W (out,in), b (1,out) -> (n,out): GELU(x Wᵀ + b)
Var linear_gelu(Var x, Var W, Var b);
// a (n,c), b (m,c), idx (n) in [0, m) -> (n,c): y_i = GELU(a_i + b[idx_i])
// (a broadcast of b's rows, e.g. one time embedding per distinct time).
Var gelu_add_rows(Var a, Var b, const int* idx);

}  // namespace gfn
