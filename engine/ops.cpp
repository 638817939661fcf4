// ops.cpp — the forward/backward kernel pair of every op in ops.h, and backward_node().
//
// Laid out as llm.c lays out its layers: for each op a forward kernel and a
// backward kernel on raw float pointers (outputs first, sizes last, shapes in
// comments), the derivative in one comment line above the backward, then the
// Var-level wrapper that checks shapes and indices, records the node and runs
// the forward. backward_node() at the bottom is one switch over the op enum.
//
// Conventions:
//   - gradients accumulate (+=), and only into inputs that require a gradient;
//   - every check happens before the node is recorded, so a throwing op leaves
//     the tape unchanged;
//   - reductions accumulate in double in a fixed order: results do not depend
//     on the thread count;
//   - element-wise loops run in parallel above kOmpMin elements (parallel_for,
//     engine/parallel.h: below it, a plain loop that never enters OpenMP); scatter-adds
//     (index_rows backward) run serially;
//   - the element-wise unary ops are one struct each (forward and backward
//     formulas side by side); one helper owns their loop (parallel_for) and node.
// Recording a node may reallocate tape.nodes, so wrappers copy what they need
// out of the input nodes before push() and re-fetch the output node by id.
#include "engine/ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/blas.h"
#include "engine/parallel.h"

namespace gfn {

namespace {

// When a loop goes parallel. Idle pool threads sleep (passive waits, see
// engine/blas.h), and waking one costs ~20–30 µs here, so a loop must hold
// more work than that. Measured on 2 cores (docs/engine.md): a loop with a
// transcendental per element (exp, log, tanh, …; ~3 ns each) gains from
// 2^15 elements; a loop of a few plain flops per element (add, mul, relu,
// copies; ~0.2 ns each) breaks even only at 2^18.
constexpr long kOmpMin = 1L << 15;       // loops with a transcendental per element
constexpr long kOmpMinCheap = 1L << 19;  // loops of a few plain flops per element
constexpr long kSumBlock = 1L << 14;   // fixed partition of the deterministic sums
constexpr float kInf = std::numeric_limits<float>::infinity();

[[noreturn]] void fail(const char* op, const std::string& what) {
    throw std::invalid_argument(std::string(op) + ": " + what);
}

void check_var(const char* op, Var v) {
    if (!v.valid() || size_t(v.id) >= v.tape->nodes.size()) fail(op, "invalid input");
}

Tape& tape_of(const char* op, Var a) {
    check_var(op, a);
    return *a.tape;
}

void check_same_tape(const char* op, Var a, Var b) {
    check_var(op, b);
    if (a.tape != b.tape) fail(op, "inputs live on different tapes");
}

// The gradient buffer of node `id`, or nullptr when it needs none.
float* grad_of(Tape& t, int id) {
    if (id < 0) return nullptr;
    const Node& n = t.nodes[size_t(id)];
    return n.requires_grad ? n.grad : nullptr;
}

Node& node_of(Var v) { return v.tape->nodes[size_t(v.id)]; }

// Σ x in double over a fixed partition into kSumBlock blocks.
double sum_double(const float* x, long n) {
    if (n <= kSumBlock) {
        double s = 0.0;
        for (long i = 0; i < n; ++i) s += x[i];
        return s;
    }
    long nb = (n + kSumBlock - 1) / kSumBlock;
    std::vector<double> part(size_t(nb), 0.0);
    double* out = part.data();
    parallel_for(nb, split_loop(n, kOmpMinCheap), [=](long b) {
        long lo = b * kSumBlock, hi = std::min(n, lo + kSumBlock);
        double s = 0.0;
        for (long i = lo; i < hi; ++i) s += x[i];
        out[b] = s;
    });
    double s = 0.0;
    for (double p : part) s += p;
    return s;
}

// Σ x·y in double over the same fixed partition.
double dot_double(const float* x, const float* y, long n) {
    if (n <= kSumBlock) {
        double s = 0.0;
        for (long i = 0; i < n; ++i) s += double(x[i]) * double(y[i]);
        return s;
    }
    long nb = (n + kSumBlock - 1) / kSumBlock;
    std::vector<double> part(size_t(nb), 0.0);
    double* out = part.data();
    parallel_for(nb, split_loop(n, kOmpMinCheap), [=](long b) {
        long lo = b * kSumBlock, hi = std::min(n, lo + kSumBlock);
        double s = 0.0;
        for (long i = lo; i < hi; ++i) s += double(x[i]) * double(y[i]);
        out[b] = s;
    });
    double s = 0.0;
    for (double p : part) s += p;
    return s;
}

// db_j += sign · Σ_i g_ij   g (n, c), db (1, c); rows summed in order, in double.
// Threads split the columns (blocks of 16: one cache line of a row), so every
// column is summed in the same order whatever the thread count.
void col_sums_add(float* db, const float* g, int n, int c, float sign) {
    constexpr int kCols = 16;
    const int n_blocks = (c + kCols - 1) / kCols;
    parallel_for(n_blocks, split_loop(long(n) * c, kOmpMinCheap) && n_blocks > 1, [=](int blk) {
        const int j0 = blk * kCols, j1 = std::min(c, j0 + kCols);
        double acc[kCols] = {};
        for (int i = 0; i < n; ++i) {
            const float* gi = g + size_t(i) * c;
            for (int j = j0; j < j1; ++j) acc[j - j0] += gi[j];
        }
        for (int j = j0; j < j1; ++j) db[j] += sign * float(acc[j - j0]);
    });
}

// ---------------------------------------------------------------------------
// Broadcasting of the second operand of add / sub / mul.

enum class Bcast { Same, Row, Scalar };  // b is (n, c), (1, c) or (1, 1)

Bcast broadcast_of(const char* op, int ar, int ac, int br, int bc) {
    if (br == ar && bc == ac) return Bcast::Same;
    if (br == 1 && bc == ac) return Bcast::Row;
    if (br == 1 && bc == 1) return Bcast::Scalar;
    fail(op, "shapes " + shape_str(ar, ac) + " and " + shape_str(br, bc) + " do not broadcast");
}

// Row i of b as seen by row i of a, and the stride along it.
inline const float* b_row(const float* b, int i, int c, Bcast bc) {
    return bc == Bcast::Same ? b + size_t(i) * c : b;
}
inline int b_step(Bcast bc) { return bc == Bcast::Scalar ? 0 : 1; }

// db += sign · (g reduced over the broadcast dimensions)   g (n, c)
void reduce_broadcast_add(float* db, const float* g, int n, int c, Bcast bc, float sign) {
    long N = long(n) * c;
    switch (bc) {
    case Bcast::Same:
        parallel_for(N, split_loop(N, kOmpMinCheap), [=](long i) { db[i] += sign * g[i]; });
        break;
    case Bcast::Row: col_sums_add(db, g, n, c, sign); break;
    case Bcast::Scalar: db[0] += sign * float(sum_double(g, N)); break;
    }
}

}  // namespace

// ===========================================================================
// matmul: (n,k)·(k,m) -> (n,m)

// y = a b
static void matmul_forward(float* y, const float* a, const float* b, int n, int k, int m) {
    // y (n, m), a (n, k), b (k, m)
    gemm(false, false, n, m, k, 1.f, a, k, b, m, 0.f, y, m);
}

// da += dy bᵀ,  db += aᵀ dy
static void matmul_backward(float* da, float* db, const float* dy, const float* a, const float* b, int n,
                            int k, int m) {
    // da (n, k) or null, db (k, m) or null, dy (n, m), a (n, k), b (k, m)
    if (da) gemm(false, true, n, k, m, 1.f, dy, m, b, m, 1.f, da, k);
    if (db) gemm(true, false, k, m, n, 1.f, a, k, dy, m, 1.f, db, m);
}

Var matmul(Var a, Var b) {
    const char* op = "matmul";
    Tape& t = tape_of(op, a);
    check_same_tape(op, a, b);
    const Node& na = a.node();
    const Node& nb = b.node();
    if (na.cols != nb.rows)
        fail(op, "shapes " + shape_str(na.rows, na.cols) + " and " + shape_str(nb.rows, nb.cols) +
                     " do not multiply (inner dimensions differ)");
    int n = na.rows, k = na.cols, m = nb.cols;
    const float* av = na.value;
    const float* bv = nb.value;
    Var y = t.push(Op::Matmul, n, m, a.id, b.id);
    matmul_forward(node_of(y).value, av, bv, n, k, m);
    return y;
}

// ===========================================================================
// linear: x (n,in), W (out,in), b (1,out) -> (n,out); b may be an invalid Var (no bias)

// y = x Wᵀ + b
static void linear_forward(float* y, const float* x, const float* W, const float* b, int n, int in, int out) {
    // y (n, out), x (n, in), W (out, in), b (1, out) or null
    // (an inline loop, not a memcpy per row: rows are short and many)
    for (int i = 0; i < n; ++i) {
        float* yi = y + size_t(i) * out;
        if (b)
            for (int j = 0; j < out; ++j) yi[j] = b[j];
        else
            for (int j = 0; j < out; ++j) yi[j] = 0.f;
    }
    gemm(false, true, n, out, in, 1.f, x, in, W, in, 1.f, y, out);
}

// dx += dy W,  dW += dyᵀ x,  db += Σ_i dy_i
static void linear_backward(float* dx, float* dW, float* db, const float* dy, const float* x, const float* W,
                            int n, int in, int out) {
    // dx (n, in), dW (out, in), db (1, out) — each may be null; dy (n, out)
    if (dx) gemm(false, false, n, in, out, 1.f, dy, out, W, in, 1.f, dx, in);
    if (dW) gemm(true, false, out, in, n, 1.f, dy, out, x, in, 1.f, dW, in);
    if (db) col_sums_add(db, dy, n, out, 1.f);
}

// `given`: the output, already computed by the caller (no forward then).
static Var linear_impl(Var x, Var W, Var b, float* given) {
    const char* op = "linear";
    Tape& t = tape_of(op, x);
    check_same_tape(op, x, W);
    const bool has_bias = b.valid();
    if (has_bias) check_same_tape(op, x, b);
    const Node& nx = x.node();
    const Node& nw = W.node();
    if (nx.cols != nw.cols)
        fail(op, "input " + shape_str(nx.rows, nx.cols) + " and weight " + shape_str(nw.rows, nw.cols) +
                     " do not match (weight must be (out, in))");
    int n = nx.rows, in = nx.cols, out = nw.rows;
    const float* xv = nx.value;
    const float* wv = nw.value;
    const float* bv = nullptr;
    bool bias_grad = false;
    if (has_bias) {
        const Node& nb = b.node();
        if (nb.rows != 1 || nb.cols != out)
            fail(op, "bias " + shape_str(nb.rows, nb.cols) + " does not match weight " +
                         shape_str(nw.rows, nw.cols) + " (bias must be (1, out))");
        bv = nb.value;
        bias_grad = nb.requires_grad;
    }
    Var y = t.push(Op::Linear, n, out, x.id, W.id, given);
    Node& ny = node_of(y);
    if (has_bias) {
        ny.c = b.id;
        ny.requires_grad = ny.requires_grad || (t.grad_enabled && bias_grad);
    }
    if (!given) linear_forward(ny.value, xv, wv, bv, n, in, out);
    return y;
}
Var linear(Var x, Var W, Var b) { return linear_impl(x, W, b, nullptr); }
Var linear_precomputed(Var x, Var W, Var b, float* y) {
    if (!y) fail("linear_precomputed", "no output given");
    return linear_impl(x, W, b, y);
}

// ===========================================================================
// add / sub / mul with broadcasting of b

// y = a + b
static void add_forward(float* y, const float* a, const float* b, int n, int c, Bcast bc) {
    // y (n, c), a (n, c), b (n, c) | (1, c) | (1, 1)
    const int s = b_step(bc);
    parallel_for(n, split_loop(long(n) * c, kOmpMinCheap), [=](int i) {
        const float* ai = a + size_t(i) * c;
        const float* bi = b_row(b, i, c, bc);
        float* yi = y + size_t(i) * c;
        for (int j = 0; j < c; ++j) yi[j] = ai[j] + bi[j * s];
    });
}

// da += dy,  db += dy summed over the broadcast dimensions
static void add_backward(float* da, float* db, const float* dy, int n, int c, Bcast bc) {
    if (da) reduce_broadcast_add(da, dy, n, c, Bcast::Same, 1.f);
    if (db) reduce_broadcast_add(db, dy, n, c, bc, 1.f);
}

// y = a − b
static void sub_forward(float* y, const float* a, const float* b, int n, int c, Bcast bc) {
    // y (n, c), a (n, c), b (n, c) | (1, c) | (1, 1)
    const int s = b_step(bc);
    parallel_for(n, split_loop(long(n) * c, kOmpMinCheap), [=](int i) {
        const float* ai = a + size_t(i) * c;
        const float* bi = b_row(b, i, c, bc);
        float* yi = y + size_t(i) * c;
        for (int j = 0; j < c; ++j) yi[j] = ai[j] - bi[j * s];
    });
}

// da += dy,  db −= dy summed over the broadcast dimensions
static void sub_backward(float* da, float* db, const float* dy, int n, int c, Bcast bc) {
    if (da) reduce_broadcast_add(da, dy, n, c, Bcast::Same, 1.f);
    if (db) reduce_broadcast_add(db, dy, n, c, bc, -1.f);
}

// y = a ⊙ b
static void mul_forward(float* y, const float* a, const float* b, int n, int c, Bcast bc) {
    // y (n, c), a (n, c), b (n, c) | (1, c) | (1, 1)
    const int s = b_step(bc);
    parallel_for(n, split_loop(long(n) * c, kOmpMinCheap), [=](int i) {
        const float* ai = a + size_t(i) * c;
        const float* bi = b_row(b, i, c, bc);
        float* yi = y + size_t(i) * c;
        for (int j = 0; j < c; ++j) yi[j] = ai[j] * bi[j * s];
    });
}

// da += dy ⊙ b,  db += (dy ⊙ a) summed over the broadcast dimensions
static void mul_backward(float* da, float* db, const float* dy, const float* a, const float* b, int n, int c,
                         Bcast bc) {
    // da (n, c), db shaped like b, dy (n, c), a (n, c)
    const long N = long(n) * c;
    const int s = b_step(bc);
    if (da) {
        parallel_for(n, split_loop(N, kOmpMinCheap), [=](int i) {
            const float* bi = b_row(b, i, c, bc);
            const float* gi = dy + size_t(i) * c;
            float* di = da + size_t(i) * c;
            for (int j = 0; j < c; ++j) di[j] += gi[j] * bi[j * s];
        });
    }
    if (!db) return;
    switch (bc) {
    case Bcast::Same:
        parallel_for(N, split_loop(N, kOmpMinCheap), [=](long i) { db[i] += dy[i] * a[i]; });
        break;
    case Bcast::Row: {
        std::vector<double> acc(size_t(c), 0.0);
        for (int i = 0; i < n; ++i) {
            const float* gi = dy + size_t(i) * c;
            const float* ai = a + size_t(i) * c;
            for (int j = 0; j < c; ++j) acc[size_t(j)] += double(gi[j]) * double(ai[j]);
        }
        for (int j = 0; j < c; ++j) db[j] += float(acc[size_t(j)]);
        break;
    }
    case Bcast::Scalar: db[0] += float(dot_double(dy, a, N)); break;
    }
}

// y = a / b
static void div_forward(float* y, const float* a, const float* b, int n, int c, Bcast bc) {
    // y (n, c), a (n, c), b (n, c) | (1, c) | (1, 1)
    const int s = b_step(bc);
    parallel_for(n, split_loop(long(n) * c, kOmpMin), [=](int i) {
        const float* ai = a + size_t(i) * c;
        const float* bi = b_row(b, i, c, bc);
        float* yi = y + size_t(i) * c;
        for (int j = 0; j < c; ++j) yi[j] = ai[j] / bi[j * s];
    });
}

// da += dy / b,  db −= (dy ⊙ a / b²) summed over the broadcast dimensions
static void div_backward(float* da, float* db, const float* dy, const float* a, const float* b, int n, int c,
                         Bcast bc) {
    // da (n, c), db shaped like b, dy (n, c), a (n, c)
    const long N = long(n) * c;
    const int s = b_step(bc);
    if (da) {
        parallel_for(n, split_loop(N, kOmpMin), [=](int i) {
            const float* bi = b_row(b, i, c, bc);
            const float* gi = dy + size_t(i) * c;
            float* di = da + size_t(i) * c;
            for (int j = 0; j < c; ++j) di[j] += gi[j] / bi[j * s];
        });
    }
    if (!db) return;
    switch (bc) {
    case Bcast::Same:
        parallel_for(N, split_loop(N, kOmpMin), [=](long i) { db[i] -= dy[i] * a[i] / (b[i] * b[i]); });
        break;
    case Bcast::Row: {
        std::vector<double> acc(size_t(c), 0.0);
        for (int i = 0; i < n; ++i) {
            const float* gi = dy + size_t(i) * c;
            const float* ai = a + size_t(i) * c;
            for (int j = 0; j < c; ++j) acc[size_t(j)] += double(gi[j]) * double(ai[j]);
        }
        for (int j = 0; j < c; ++j) db[j] -= float(acc[size_t(j)] / (double(b[j]) * double(b[j])));
        break;
    }
    case Bcast::Scalar: db[0] -= float(dot_double(dy, a, N) / (double(b[0]) * double(b[0]))); break;
    }
}

// The shared wrapper of add / sub / mul / div.
static Var binary(Op op_id, Var a, Var b) {
    const char* op = op_name(op_id);
    Tape& t = tape_of(op, a);
    check_same_tape(op, a, b);
    const Node& na = a.node();
    const Node& nb = b.node();
    Bcast bc = broadcast_of(op, na.rows, na.cols, nb.rows, nb.cols);
    int n = na.rows, c = na.cols;
    const float* av = na.value;
    const float* bv = nb.value;
    Var y = t.push(op_id, n, c, a.id, b.id);
    float* yv = node_of(y).value;
    if (op_id == Op::Add) add_forward(yv, av, bv, n, c, bc);
    else if (op_id == Op::Sub) sub_forward(yv, av, bv, n, c, bc);
    else if (op_id == Op::Mul) mul_forward(yv, av, bv, n, c, bc);
    else div_forward(yv, av, bv, n, c, bc);
    return y;
}

Var add(Var a, Var b) { return binary(Op::Add, a, b); }
Var sub(Var a, Var b) { return binary(Op::Sub, a, b); }
Var mul(Var a, Var b) { return binary(Op::Mul, a, b); }
Var div(Var a, Var b) { return binary(Op::Div, a, b); }

// ===========================================================================
// Special functions (double precision; thread-safe).

// log |Γ(x)|. std::lgamma may write the global signgam, a data race in a
// parallel loop; glibc's lgamma_r returns the sign through its argument instead.
double log_gamma(double x) {
#if defined(__GLIBC__)
    int sign;
    return ::lgamma_r(x, &sign);
#else
    return std::lgamma(x);
#endif
}

// ψ(x) = d/dx log Γ(x). For x < 0 the reflection ψ(x) = ψ(1 − x) − π / tan(πx);
// for x > 0 the recurrence ψ(x) = ψ(x + 1) − 1/x up to x >= 6, then the asymptotic
// series ψ(x) ≈ log x − 1/(2x) − 1/(12x²) + 1/(120x⁴) − 1/(252x⁶) + 1/(240x⁸) − 1/(132x¹⁰)
// + 691/(32760x¹²) (the first omitted term, 1/(12x¹⁴), is below 1.1e−12 at x = 6).
// NaN at the poles 0, −1, −2, …
double digamma(double x) {
    if (std::isnan(x)) return x;
    if (x <= 0.0 && x == std::floor(x)) return std::numeric_limits<double>::quiet_NaN();
    const double pi = 3.14159265358979323846;
    if (x < 0.0) return digamma(1.0 - x) - pi / std::tan(pi * x);
    double acc = 0.0;
    while (x < 6.0) {
        acc -= 1.0 / x;
        x += 1.0;
    }
    const double f = 1.0 / (x * x);
    const double tail =
        f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132 - f * (691.0 / 32760))))));
    return acc + std::log(x) - 0.5 / x - tail;
}

// ===========================================================================
// Element-wise unary ops: y = f(a), da += f'(a)·dy on N = rows·cols floats.
//
// Each op is a struct stating its two formulas side by side,
//     float forward(float a) const                      -> y
//     float backward(float a, float y, float dy) const  -> the term added to da
// with its attributes (slope, bounds, …) as members, stored in node.attr/attr2.
// unary_forward / unary_backward own the loop and the parallel policy,
// unary_op() the checks and the node. Adding an element-wise op: a struct here,
// an enum value and name (tape.h, tape.cpp), a one-line wrapper and a case in
// unary_backward_node and backward_node.

// The parallel threshold of an op: kOmpMin, or kOmpMinCheap for the structs
// that declare `static constexpr bool cheap = true` (a few plain flops).
template <class F, class = void>
struct Grain { static constexpr long value = kOmpMin; };
template <class F>
struct Grain<F, std::enable_if_t<F::cheap>> { static constexpr long value = kOmpMinCheap; };

// Each thread takes its own copy of the functor (firstprivate): its attributes
// (slope, α, …) are then locals, not behind a pointer the stores to y / da might
// alias, so the loops vectorise (shared, ELU's backward ran scalar, reloading α
// every element).
template <class F>
static void unary_forward(const F f, float* y, const float* a, long N) {
    parallel_for(N, split_loop(N, Grain<F>::value), [=](long i) { y[i] = f.forward(a[i]); });
}
template <class F>
static void unary_backward(const F f, float* da, const float* dy, const float* a, const float* y, long N) {
    parallel_for(N, split_loop(N, Grain<F>::value), [=](long i) { da[i] += f.backward(a[i], y[i], dy[i]); });
}

// Records an element-wise node shaped like `a` with its attributes; its value
// is fresh arena memory, or `given` (an output the caller already computed).
static Var push_unary(Op op, Var a, float attr, float attr2, float* given = nullptr) {
    Tape& t = tape_of(op_name(op), a);
    const Node& na = a.node();
    Var y = t.push(op, na.rows, na.cols, a.id, -1, given);
    Node& ny = node_of(y);
    ny.attr = attr;
    ny.attr2 = attr2;
    return y;
}

// Records the node and runs the forward into it.
template <class F>
static Var unary_op(Op op, Var a, const F& f, float attr = 0.f, float attr2 = 0.f) {
    Var y = push_unary(op, a, attr, attr2);
    const Node& ny = y.node();
    unary_forward(f, ny.value, a.node().value, long(ny.rows) * ny.cols);
    return y;
}

// σ(x) = 1 / (1 + e⁻ˣ), computed as eˣ / (1 + eˣ) for x < 0 so neither side overflows.
static inline float stable_sigmoid(float x) {
    if (x >= 0.f) return 1.f / (1.f + std::exp(-x));
    const float e = std::exp(x);
    return e / (1.f + e);
}

namespace unary {

// y = s a;  da += s dy
struct Scale {
    static constexpr bool cheap = true;
    float s;
    float forward(float a) const { return s * a; }
    float backward(float, float, float dy) const { return s * dy; }
};

// y = a + s;  da += dy
struct AddScalar {
    static constexpr bool cheap = true;
    float s;
    float forward(float a) const { return a + s; }
    float backward(float, float, float dy) const { return dy; }
};

// y = a²;  da += 2 a dy
struct Square {
    static constexpr bool cheap = true;
    float forward(float a) const { return a * a; }
    float backward(float a, float, float dy) const { return 2.f * a * dy; }
};

// y = eᵃ;  da += y dy
struct Exp {
    float forward(float a) const { return std::exp(a); }
    float backward(float, float y, float dy) const { return y * dy; }
};

// y = log a   (IEEE: log 0 = −inf, log of a negative = NaN; no throw);  da += dy / a
struct Log {
    float forward(float a) const { return std::log(a); }
    float backward(float a, float, float dy) const { return dy / a; }
};

// y = max(a, 0);  da += dy · [a > 0]   (zero at a = 0, as PyTorch)
struct Relu {
    static constexpr bool cheap = true;
    float forward(float a) const { return a > 0.f ? a : 0.f; }
    float backward(float a, float, float dy) const { return a > 0.f ? dy : 0.f; }
};

// y = a if a > 0 else slope a;  da += dy if a > 0 else slope dy   (slope at a = 0, as PyTorch)
struct LeakyRelu {
    static constexpr bool cheap = true;
    float slope;
    float forward(float a) const { return a > 0.f ? a : slope * a; }
    float backward(float a, float, float dy) const { return a > 0.f ? dy : slope * dy; }
};

// y = tanh a;  da += (1 − y²) dy
struct Tanh {
    float forward(float a) const { return std::tanh(a); }
    float backward(float, float y, float dy) const { return (1.f - y * y) * dy; }
};

// y = min(max(a, lo), hi)   (NaN stays NaN);
// da += dy · [lo <= a <= hi]   (boundaries pass the gradient, as PyTorch; NaN gets none)
struct Clamp {
    static constexpr bool cheap = true;
    float lo, hi;
    float forward(float a) const { return std::min(std::max(a, lo), hi); }
    float backward(float a, float, float dy) const { return (a >= lo && a <= hi) ? dy : 0.f; }
};

// y = σ(a) = 1 / (1 + e⁻ᵃ);  da += y (1 − y) dy
struct Sigmoid {
    float forward(float a) const { return stable_sigmoid(a); }
    float backward(float, float y, float dy) const { return y * (1.f - y) * dy; }
};

// y = log σ(a) = −softplus(−a) = min(a, 0) − log(1 + e^{−|a|});  da += σ(−a) dy
struct LogSigmoid {
    float forward(float a) const { return std::min(a, 0.f) - std::log1p(std::exp(-std::fabs(a))); }
    float backward(float a, float, float dy) const { return stable_sigmoid(-a) * dy; }
};

// y = softplus(a) = log(1 + eᵃ) = max(a, 0) + log(1 + e^{−|a|});  da += σ(a) dy
struct Softplus {
    float forward(float a) const { return std::max(a, 0.f) + std::log1p(std::exp(-std::fabs(a))); }
    float backward(float a, float, float dy) const { return stable_sigmoid(a) * dy; }
};

// erf and exp in float without library calls, so that the GELU loops vectorise
// (std::erf is a scalar call: it was two thirds of a diffusion training step).
// erf(x) ≈ x·P(x²)/Q(x²) on x clamped to [−4, 4] (erf = ±1 in float beyond), the
// rational approximation of Eigen's generic_fast_erf_float: |error| < 5e-7.
static inline float erf_fast(float a) {
    const float x = a < -4.f ? -4.f : (a > 4.f ? 4.f : a), x2 = x * x;
    float p = -2.72614225801306e-10f;
    p = p * x2 + 2.77068142495902e-08f;
    p = p * x2 - 2.10102402082508e-06f;
    p = p * x2 - 5.69250639462346e-05f;
    p = p * x2 - 7.34990630326855e-04f;
    p = p * x2 - 2.95459980854025e-03f;
    p = p * x2 - 1.60960333262415e-02f;
    float q = -1.45660718464996e-05f;
    q = q * x2 - 2.13374055278905e-04f;
    q = q * x2 - 1.68282697438203e-03f;
    q = q * x2 - 7.37332916720468e-03f;
    q = q * x2 - 1.42647390514189e-02f;
    return x * p / q;
}
// eˣ = 2ⁿ·eʳ, n = round(x/ln 2), r = x − n ln 2 (ln 2 split in two parts),
// eʳ by its degree-6 Taylor polynomial (|r| <= ln 2/2): relative error < 3e-7
// on x ∈ [−87, 88] (clamped there).
static inline float exp_fast(float x) {
    x = x < -87.f ? -87.f : (x > 88.f ? 88.f : x);
    const float n = (x * 1.44269504088896341f + 12582912.f) - 12582912.f;  // round to nearest
    const float r = (x - n * 0.693145751953125f) - n * 1.428606765330187045e-06f;
    float p = 1.f / 720.f;
    p = p * r + 1.f / 120.f;
    p = p * r + 1.f / 24.f;
    p = p * r + 1.f / 6.f;
    p = p * r + 0.5f;
    p = p * r + 1.f;
    p = p * r + 1.f;
    const int32_t bits = (int32_t(n) + 127) << 23;  // 2ⁿ
    float two_n;
    std::memcpy(&two_n, &bits, sizeof two_n);
    return p * two_n;
}

// eˣ − 1 for x <= 0 without a library call (ELU's negative side, so the ELU loops
// vectorise: std::expm1 was a third of a Box training step):
//     |x| < 0.35:  x + x²/2! + … + x⁸/8!  (Horner; truncation < x⁹/9! < 3e-10)
//     else:        exp_fast(x) − 1        (|eˣ − 1| > 0.29: no cancellation; relative error < 1e-6)
static inline float expm1_nonpositive(float x) {
    float p = 1.f / 40320.f;
    p = p * x + 1.f / 5040.f;
    p = p * x + 1.f / 720.f;
    p = p * x + 1.f / 120.f;
    p = p * x + 1.f / 24.f;
    p = p * x + 1.f / 6.f;
    p = p * x + 0.5f;
    const float small = x + x * x * p;
    const float large = exp_fast(x) - 1.f;
    return x > -0.35f ? small : large;
}

// y = a if a > 0 else alpha (eᵃ − 1);  da += dy if a > 0 else (y + alpha) dy   (alpha eᵃ = y + alpha)
struct Elu {
    float alpha;
    float forward(float a) const {
        const float e = alpha * expm1_nonpositive(std::min(a, 0.f));  // both sides, then a select: vectorises
        return a > 0.f ? a : e;
    }
    float backward(float a, float y, float dy) const { return a > 0.f ? dy : (y + alpha) * dy; }
};


// y = a Φ(a) = ½ a (1 + erf(a/√2))   (PyTorch's default, exact GELU);
// da += (Φ(a) + a φ(a)) dy,  φ(a) = e^{−a²/2} / √(2π)
struct Gelu {
    float forward(float a) const { return 0.5f * a * (1.f + erf_fast(a * 0.70710678118654752f)); }
    float backward(float a, float, float dy) const {
        const float Phi = 0.5f * (1.f + erf_fast(a * 0.70710678118654752f));
        const float phi = 0.39894228040143268f * exp_fast(-0.5f * a * a);
        return (Phi + a * phi) * dy;
    }
};

// y = sin a;  da += cos(a) dy
struct Sin {
    float forward(float a) const { return std::sin(a); }
    float backward(float a, float, float dy) const { return std::cos(a) * dy; }
};

// y = cos a;  da += −sin(a) dy
struct Cos {
    float forward(float a) const { return std::cos(a); }
    float backward(float a, float, float dy) const { return -std::sin(a) * dy; }
};

// y = log |Γ(a)|   (+inf at the poles a = 0, −1, …);  da += ψ(a) dy   (ψ = digamma)
struct Lgamma {
    float forward(float a) const { return float(log_gamma(double(a))); }
    float backward(float a, float, float dy) const { return float(digamma(double(a))) * dy; }
};

}  // namespace unary

Var scale(Var a, float s) { return unary_op(Op::Scale, a, unary::Scale{s}, s); }
Var add_scalar(Var a, float s) { return unary_op(Op::AddScalar, a, unary::AddScalar{s}, s); }
Var square(Var a) { return unary_op(Op::Square, a, unary::Square{}); }
Var exp(Var a) { return unary_op(Op::Exp, a, unary::Exp{}); }
Var log(Var a) { return unary_op(Op::Log, a, unary::Log{}); }
Var relu(Var a) { return unary_op(Op::Relu, a, unary::Relu{}); }
Var leaky_relu(Var a, float slope) { return unary_op(Op::LeakyRelu, a, unary::LeakyRelu{slope}, slope); }
Var tanh(Var a) { return unary_op(Op::Tanh, a, unary::Tanh{}); }
Var elu(Var a, float alpha) { return unary_op(Op::Elu, a, unary::Elu{alpha}, alpha); }
Var clamp(Var a, float lo, float hi) {
    if (!(lo <= hi))
        fail("clamp", "bounds lo = " + std::to_string(lo) + " > hi = " + std::to_string(hi));
    return unary_op(Op::Clamp, a, unary::Clamp{lo, hi}, lo, hi);
}
Var sigmoid(Var a) { return unary_op(Op::Sigmoid, a, unary::Sigmoid{}); }
Var log_sigmoid(Var a) { return unary_op(Op::LogSigmoid, a, unary::LogSigmoid{}); }
Var softplus(Var a) { return unary_op(Op::Softplus, a, unary::Softplus{}); }
// GELU as unary::Gelu, except that a node that needs a gradient keeps its
// derivative g = Φ(a) + a φ(a) after its value (value + N, flagged by iattr = 1),
// computed in the forward from the same Φ: the backward is then da += g dy,
// with no second erf and exp (the same numbers as unary::Gelu::backward).
static void gelu_forward_keep(float* y, float* g, const float* a, long N) {
    parallel_for(N, split_loop(N, kOmpMin), [=](long i) {
        const float x = a[i];
        const float Phi = 0.5f * (1.f + unary::erf_fast(x * 0.70710678118654752f));
        y[i] = x * Phi;  // = ½ x (1 + erf(x/√2)) exactly (the ½ is exact)
        g[i] = Phi + x * (0.39894228040143268f * unary::exp_fast(-0.5f * x * x));
    });
}
// da += g dy
static void gelu_backward_kept(float* da, const float* dy, const float* g, long N) {
    parallel_for(N, split_loop(N, kOmpMinCheap), [=](long i) { da[i] += g[i] * dy[i]; });
}
Var gelu(Var a) {
    Tape& t = tape_of("gelu", a);
    const Node& na = a.node();
    if (!(t.grad_enabled && na.requires_grad)) return unary_op(Op::Gelu, a, unary::Gelu{});
    const long N = long(na.rows) * na.cols;
    const float* av = na.value;
    float* buf = t.arena.floats(size_t(2 * N) + 1);
    Var y = push_unary(Op::Gelu, a, 0.f, 0.f, buf);
    node_of(y).iattr = 1;
    gelu_forward_keep(buf, buf + N, av, N);
    return y;
}
Var sin(Var a) { return unary_op(Op::Sin, a, unary::Sin{}); }
Var cos(Var a) { return unary_op(Op::Cos, a, unary::Cos{}); }
Var lgamma(Var a) { return unary_op(Op::Lgamma, a, unary::Lgamma{}); }

// The backward of an element-wise node, dispatched on its op.
static void unary_backward_node(const Node& n, float* da, const float* dy, const float* a, long N) {
    const float* y = n.value;
    switch (n.op) {
    case Op::Scale: unary_backward(unary::Scale{n.attr}, da, dy, a, y, N); break;
    case Op::AddScalar: unary_backward(unary::AddScalar{n.attr}, da, dy, a, y, N); break;
    case Op::Square: unary_backward(unary::Square{}, da, dy, a, y, N); break;
    case Op::Exp: unary_backward(unary::Exp{}, da, dy, a, y, N); break;
    case Op::Log: unary_backward(unary::Log{}, da, dy, a, y, N); break;
    case Op::Relu: unary_backward(unary::Relu{}, da, dy, a, y, N); break;
    case Op::LeakyRelu: unary_backward(unary::LeakyRelu{n.attr}, da, dy, a, y, N); break;
    case Op::Tanh: unary_backward(unary::Tanh{}, da, dy, a, y, N); break;
    case Op::Elu: unary_backward(unary::Elu{n.attr}, da, dy, a, y, N); break;
    case Op::Clamp: unary_backward(unary::Clamp{n.attr, n.attr2}, da, dy, a, y, N); break;
    case Op::Sigmoid: unary_backward(unary::Sigmoid{}, da, dy, a, y, N); break;
    case Op::LogSigmoid: unary_backward(unary::LogSigmoid{}, da, dy, a, y, N); break;
    case Op::Softplus: unary_backward(unary::Softplus{}, da, dy, a, y, N); break;
    case Op::Gelu: unary_backward(unary::Gelu{}, da, dy, a, y, N); break;
    case Op::Sin: unary_backward(unary::Sin{}, da, dy, a, y, N); break;
    case Op::Cos: unary_backward(unary::Cos{}, da, dy, a, y, N); break;
    case Op::Lgamma: unary_backward(unary::Lgamma{}, da, dy, a, y, N); break;
    default: throw std::logic_error(std::string("unary_backward_node: not element-wise: ") + op_name(n.op));
    }
}

// The activations as (op, attribute) pairs, for callers that compute a
// forward themselves and record it afterwards (activation_precomputed).
// Same structs, so the same formulas, as relu / leaky_relu / tanh / elu.
void activation_forward(Op op, float attr, float* y, const float* a, long n) {
    switch (op) {
        case Op::Relu: unary_forward(unary::Relu{}, y, a, n); return;
        case Op::LeakyRelu: unary_forward(unary::LeakyRelu{attr}, y, a, n); return;
        case Op::Tanh: unary_forward(unary::Tanh{}, y, a, n); return;
        case Op::Elu: unary_forward(unary::Elu{attr}, y, a, n); return;
        default: fail("activation_forward", std::string("not an activation: ") + op_name(op));
    }
}

Var activation_precomputed(Var a, Op op, float attr, float* y) {
    if (op != Op::Relu && op != Op::LeakyRelu && op != Op::Tanh && op != Op::Elu)
        fail("activation_precomputed", std::string("not an activation: ") + op_name(op));
    if (!y) fail("activation_precomputed", "no output given");
    return push_unary(op, a, attr, 0.f, y);
}

// ===========================================================================
// Row-wise softmax family. mask (n, c) of 0/1 or null (all valid).

// The first row without a valid entry, or -1.
static int first_empty_row(const uint8_t* mask, int n, int c) {
    for (int i = 0; i < n; ++i) {
        if (c == 0) return i;
        if (!mask) continue;
        const uint8_t* mi = mask + size_t(i) * c;
        bool any = false;
        for (int j = 0; j < c && !any; ++j) any = mi[j] != 0;
        if (!any) return i;
    }
    return -1;
}

static void check_rows_valid(const char* op, const uint8_t* mask, int n, int c) {
    int r = first_empty_row(mask, n, c);
    if (r >= 0)
        fail(op, "row " + std::to_string(r) + " of the " + shape_str(n, c) + " input has no valid entry");
}

// The largest valid entry m of one row and s = Σ_j∈valid e^{a_j − m} in double
// (s = 0 when m = ±inf: the row has no mass, or infinite mass).
struct RowMaxSum {
    float max;
    double sum;
};
static RowMaxSum row_max_sum(const float* a, const uint8_t* m, int c) {
    float mx = -kInf;
    for (int j = 0; j < c; ++j)
        if (!m || m[j]) mx = std::max(mx, a[j]);
    if (std::isinf(mx)) return {mx, 0.0};
    double s = 0.0;
    for (int j = 0; j < c; ++j)
        if (!m || m[j]) s += std::exp(double(a[j]) - double(mx));
    return {mx, s};
}

// log Σ_j∈valid e^{a_j} of one row = m + log s, in double; −inf when every valid
// entry is −inf, +inf when one is +inf (an infinite mixture density).
static double row_logsumexp(const float* a, const uint8_t* m, int c) {
    const RowMaxSum r = row_max_sum(a, m, c);
    if (std::isinf(r.max)) return double(r.max);
    return double(r.max) + std::log(r.sum);
}

// y_ij = a_ij − log Σ_k∈valid e^{a_ik}; invalid entries −inf. A row whose valid
// entries are all −inf has no distribution: its valid outputs are NaN (as PyTorch).
static void log_softmax_forward(float* y, const float* a, const uint8_t* mask, int n, int c) {
    // y (n, c), a (n, c), mask (n, c) or null
    parallel_for(n, split_loop(long(n) * c, kOmpMin), [=](int i) {
        const float* ai = a + size_t(i) * c;
        const uint8_t* mi = mask ? mask + size_t(i) * c : nullptr;
        float* yi = y + size_t(i) * c;
        double lse = row_logsumexp(ai, mi, c);
        if (lse == -double(kInf)) lse = std::numeric_limits<double>::quiet_NaN();
        for (int j = 0; j < c; ++j) yi[j] = (!mi || mi[j]) ? float(double(ai[j]) - lse) : -kInf;
    });
}

// da_j += dy_j − softmax_j · Σ_k∈valid dy_k   (valid j only; softmax_j = e^{y_j})
static void log_softmax_backward(float* da, const float* dy, const float* y, const uint8_t* mask, int n, int c) {
    // da (n, c), dy (n, c), y (n, c), mask (n, c) or null
    parallel_for(n, split_loop(long(n) * c, kOmpMin), [=](int i) {
        const float* gi = dy + size_t(i) * c;
        const float* yi = y + size_t(i) * c;
        const uint8_t* mi = mask ? mask + size_t(i) * c : nullptr;
        float* di = da + size_t(i) * c;
        double s = 0.0;
        for (int j = 0; j < c; ++j)
            if (!mi || mi[j]) s += gi[j];
        for (int j = 0; j < c; ++j)
            if (!mi || mi[j]) di[j] += float(double(gi[j]) - std::exp(double(yi[j])) * s);
    });
}

Var log_softmax(Var a, const uint8_t* mask) {
    const char* op = "log_softmax";
    Tape& t = tape_of(op, a);
    const Node& na = a.node();
    int n = na.rows, c = na.cols;
    check_rows_valid(op, mask, n, c);
    const float* av = na.value;
    Var y = t.push(Op::LogSoftmax, n, c, a.id);
    Node& ny = node_of(y);
    ny.mask = mask;
    log_softmax_forward(ny.value, av, mask, n, c);
    return y;
}

// y_i = log Σ_j∈valid e^{a_ij}   (−inf when every valid entry is −inf, +inf when one is +inf)
static void logsumexp_forward(float* y, const float* a, const uint8_t* mask, int n, int c) {
    // y (n, 1), a (n, c), mask (n, c) or null
    parallel_for(n, split_loop(long(n) * c, kOmpMin), [=](int i) {
        y[i] = float(row_logsumexp(a + size_t(i) * c, mask ? mask + size_t(i) * c : nullptr, c));
    });
}

// da_ij += dy_i · softmax_ij = dy_i · e^{a_ij − m_i} / s_i   (valid j; m_i, s_i recomputed in
// double: e^{a_ij − y_i} with y_i rounded to float is off by up to ulp(y_i), 2·10³¹ near 3·10³⁸).
// Nothing when every valid entry is −inf; when some are +inf, softmax's limit: 1/count on those.
static void logsumexp_backward(float* da, const float* dy, const float* a, const uint8_t* mask, int n, int c) {
    // da (n, c), dy (n, 1), a (n, c), mask (n, c) or null
    parallel_for(n, split_loop(long(n) * c, kOmpMin), [=](int i) {
        const float* ai = a + size_t(i) * c;
        const uint8_t* mi = mask ? mask + size_t(i) * c : nullptr;
        float* di = da + size_t(i) * c;
        const RowMaxSum r = row_max_sum(ai, mi, c);
        if (r.max == -kInf) return;
        if (r.max == kInf) {
            int count = 0;
            for (int j = 0; j < c; ++j) count += (!mi || mi[j]) && ai[j] == kInf;
            for (int j = 0; j < c; ++j)
                if ((!mi || mi[j]) && ai[j] == kInf) di[j] += dy[i] / float(count);
            return;
        }
        const double g = double(dy[i]) / r.sum;
        for (int j = 0; j < c; ++j)
            if (!mi || mi[j]) di[j] += float(g * std::exp(double(ai[j]) - double(r.max)));
    });
}

Var logsumexp(Var a, const uint8_t* mask) {
    const char* op = "logsumexp";
    Tape& t = tape_of(op, a);
    const Node& na = a.node();
    int n = na.rows, c = na.cols;
    check_rows_valid(op, mask, n, c);
    const float* av = na.value;
    Var y = t.push(Op::LogSumExp, n, 1, a.id);
    Node& ny = node_of(y);
    ny.mask = mask;
    logsumexp_forward(ny.value, av, mask, n, c);
    return y;
}

// ===========================================================================
// gather: (n,c) -> (n,1), y_i = a[i, idx_i]

// y_i = a[i, idx_i]
static void gather_forward(float* y, const float* a, const int* idx, int n, int c) {
    // y (n, 1), a (n, c), idx (n)
    for (int i = 0; i < n; ++i) y[i] = a[size_t(i) * c + size_t(idx[i])];
}
// da[i, idx_i] += dy_i
static void gather_backward(float* da, const float* dy, const int* idx, int n, int c) {
    for (int i = 0; i < n; ++i) da[size_t(i) * c + size_t(idx[i])] += dy[i];
}

Var gather(Var a, const int* idx) {
    const char* op = "gather";
    Tape& t = tape_of(op, a);
    const Node& na = a.node();
    int n = na.rows, c = na.cols;
    if (n > 0 && !idx) fail(op, "null index array for input " + shape_str(n, c));
    for (int i = 0; i < n; ++i)
        if (idx[i] < 0 || idx[i] >= c)
            fail(op, "index " + std::to_string(idx[i]) + " at row " + std::to_string(i) +
                         " is out of range for input " + shape_str(n, c));
    const float* av = na.value;
    Var y = t.push(Op::Gather, n, 1, a.id);
    Node& ny = node_of(y);
    ny.idx = idx;
    gather_forward(ny.value, av, idx, n, c);
    return y;
}

// ===========================================================================
// sum, mean: -> (1,1)

// y = Σ a
static void sum_forward(float* y, const float* a, long N) { y[0] = float(sum_double(a, N)); }
// da += dy
static void sum_backward(float* da, const float* dy, long N) {
    const float g = dy[0];
    parallel_for(N, split_loop(N, kOmpMin), [=](long i) { da[i] += g; });
}
Var sum(Var a) {
    Tape& t = tape_of("sum", a);
    const Node& na = a.node();
    long N = long(na.rows) * na.cols;
    const float* av = na.value;
    Var y = t.push(Op::Sum, 1, 1, a.id);
    sum_forward(node_of(y).value, av, N);
    return y;
}

// y = Σ a / N   (NaN for an empty input, as PyTorch)
static void mean_forward(float* y, const float* a, long N) { y[0] = float(sum_double(a, N) / double(N)); }
// da += dy / N
static void mean_backward(float* da, const float* dy, long N) {
    const float g = float(double(dy[0]) / double(N));
    parallel_for(N, split_loop(N, kOmpMin), [=](long i) { da[i] += g; });
}
Var mean(Var a) {
    Tape& t = tape_of("mean", a);
    const Node& na = a.node();
    long N = long(na.rows) * na.cols;
    const float* av = na.value;
    Var y = t.push(Op::Mean, 1, 1, a.id);
    mean_forward(node_of(y).value, av, N);
    return y;
}

// ===========================================================================
// segment_sum: (n,c) -> (n_segments,c), y[seg_i, :] += a[i, :]

// y[s, :] = Σ_{i: seg_i = s} a[i, :]   (in double, rows in order)
static void segment_sum_forward(float* y, const float* a, const int* seg, int n, int c, int n_segments) {
    // y (n_segments, c), a (n, c), seg (n)
    std::vector<double> acc(size_t(n_segments) * size_t(c), 0.0);
    for (int i = 0; i < n; ++i) {
        const float* ai = a + size_t(i) * c;
        double* yi = acc.data() + size_t(seg[i]) * c;
        for (int j = 0; j < c; ++j) yi[j] += ai[j];
    }
    for (size_t k = 0; k < acc.size(); ++k) y[k] = float(acc[k]);
}
// da[i, :] += dy[seg_i, :]
static void segment_sum_backward(float* da, const float* dy, const int* seg, int n, int c) {
    parallel_for(n, split_loop(long(n) * c, kOmpMin), [=](int i) {
        const float* gi = dy + size_t(seg[i]) * c;
        float* di = da + size_t(i) * c;
        for (int j = 0; j < c; ++j) di[j] += gi[j];
    });
}

Var segment_sum(Var a, const int* seg, int n_segments) {
    const char* op = "segment_sum";
    Tape& t = tape_of(op, a);
    const Node& na = a.node();
    int n = na.rows, c = na.cols;
    if (n_segments < 0) fail(op, "negative segment count " + std::to_string(n_segments));
    if (n > 0 && !seg) fail(op, "null segment array for input " + shape_str(n, c));
    for (int i = 0; i < n; ++i)
        if (seg[i] < 0 || seg[i] >= n_segments)
            fail(op, "segment " + std::to_string(seg[i]) + " at row " + std::to_string(i) + " of input " +
                         shape_str(n, c) + " is out of range [0, " + std::to_string(n_segments) + ")");
    const float* av = na.value;
    Var y = t.push(Op::SegmentSum, n_segments, c, a.id);
    Node& ny = node_of(y);
    ny.idx = seg;
    ny.iattr = n_segments;
    segment_sum_forward(ny.value, av, seg, n, c, n_segments);
    return y;
}

// ===========================================================================
// slice_cols: a[:, begin:end]

// y[i, j] = a[i, begin + j]
static void slice_cols_forward(float* y, const float* a, int n, int c, int begin, int w) {
    // y (n, w), a (n, c)
    for (int i = 0; i < n; ++i)
        if (w > 0) std::memcpy(y + size_t(i) * w, a + size_t(i) * c + begin, sizeof(float) * size_t(w));
}
// da[i, begin + j] += dy[i, j]
static void slice_cols_backward(float* da, const float* dy, int n, int c, int begin, int w) {
    parallel_for(n, split_loop(long(n) * w, kOmpMin), [=](int i) {
        float* di = da + size_t(i) * c + begin;
        const float* gi = dy + size_t(i) * w;
        for (int j = 0; j < w; ++j) di[j] += gi[j];
    });
}

Var slice_cols(Var a, int begin, int end) {
    const char* op = "slice_cols";
    Tape& t = tape_of(op, a);
    const Node& na = a.node();
    int n = na.rows, c = na.cols;
    if (begin < 0 || begin > end || end > c)
        fail(op, "columns [" + std::to_string(begin) + ", " + std::to_string(end) + ") out of range for input " +
                     shape_str(n, c));
    const float* av = na.value;
    Var y = t.push(Op::SliceCols, n, end - begin, a.id);
    Node& ny = node_of(y);
    ny.iattr = begin;
    slice_cols_forward(ny.value, av, n, c, begin, end - begin);
    return y;
}

// ===========================================================================
// slice_rows: a view of rows [begin, end) — the value is a's memory, not a copy

// da[begin:end, :] += dy
static void slice_rows_backward(float* da, const float* dy, int begin, int m, int c) {
    // da (n, c), dy (m, c)
    float* d = da + size_t(begin) * c;
    const long N = long(m) * c;
    parallel_for(N, split_loop(N, kOmpMin), [=](long i) { d[i] += dy[i]; });
}
Var slice_rows(Var a, int begin, int end) {
    const char* op = "slice_rows";
    Tape& t = tape_of(op, a);
    const Node& na = a.node();
    int n = na.rows, c = na.cols;
    if (begin < 0 || begin > end || end > n)
        fail(op, "rows [" + std::to_string(begin) + ", " + std::to_string(end) + ") out of range for input " +
                     shape_str(n, c));
    float* view = na.value + size_t(begin) * c;
    Var y = t.push(Op::SliceRows, end - begin, c, a.id, -1, view);
    node_of(y).iattr = begin;
    return y;
}

// ===========================================================================
// concat_cols: [a | b]

// y[i, :] = [a[i, :] | b[i, :]]
static void concat_cols_forward(float* y, const float* a, const float* b, int n, int ca, int cb) {
    // y (n, ca + cb), a (n, ca), b (n, cb)
    const int c = ca + cb;
    for (int i = 0; i < n; ++i) {
        if (ca > 0) std::memcpy(y + size_t(i) * c, a + size_t(i) * ca, sizeof(float) * size_t(ca));
        if (cb > 0) std::memcpy(y + size_t(i) * c + ca, b + size_t(i) * cb, sizeof(float) * size_t(cb));
    }
}
// da += dy[:, :ca],  db += dy[:, ca:]
static void concat_cols_backward(float* da, float* db, const float* dy, int n, int ca, int cb) {
    const int c = ca + cb;
    parallel_for(n, split_loop(long(n) * c, kOmpMin), [=](int i) {
        const float* gi = dy + size_t(i) * c;
        if (da)
            for (int j = 0; j < ca; ++j) da[size_t(i) * ca + j] += gi[j];
        if (db)
            for (int j = 0; j < cb; ++j) db[size_t(i) * cb + j] += gi[ca + j];
    });
}

Var concat_cols(Var a, Var b) {
    const char* op = "concat_cols";
    Tape& t = tape_of(op, a);
    check_same_tape(op, a, b);
    const Node& na = a.node();
    const Node& nb = b.node();
    if (na.rows != nb.rows)
        fail(op, "shapes " + shape_str(na.rows, na.cols) + " and " + shape_str(nb.rows, nb.cols) +
                     " have different row counts");
    int n = na.rows, ca = na.cols, cb = nb.cols;
    const float* av = na.value;
    const float* bv = nb.value;
    Var y = t.push(Op::ConcatCols, n, ca + cb, a.id, b.id);
    concat_cols_forward(node_of(y).value, av, bv, n, ca, cb);
    return y;
}

// ===========================================================================
// concat_rows: [x_0; ...; x_{k-1}]. node.idx holds the k input ids (arena), iattr = k.

// y = [x_0; x_1; ...]  — the copy runs in the wrapper (one memcpy per input).
// dx_s += dy[rows of x_s]
static void concat_rows_backward(float* dx, const float* dy, long N) {
    parallel_for(N, split_loop(N, kOmpMin), [=](long i) { dx[i] += dy[i]; });
}

Var concat_rows(const Var* xs, int n) {
    const char* op = "concat_rows";
    if (n <= 0 || !xs) fail(op, "no inputs");
    Tape& t = tape_of(op, xs[0]);
    const int c = xs[0].node().cols;
    long total = 0;
    bool any_grad = false;
    for (int s = 0; s < n; ++s) {
        check_same_tape(op, xs[0], xs[s]);
        const Node& ns = xs[s].node();
        if (ns.cols != c)
            fail(op, "input " + std::to_string(s) + " has shape " + shape_str(ns.rows, ns.cols) + ", expected " +
                         std::to_string(c) + " columns like input 0 " + shape_str(xs[0].node().rows, c));
        total += ns.rows;
        any_grad = any_grad || ns.requires_grad;
    }
    if (total > std::numeric_limits<int>::max()) fail(op, "too many rows");
    int* ids = t.arena.ints(size_t(n));
    for (int s = 0; s < n; ++s) ids[s] = xs[s].id;
    Var y = t.push(Op::ConcatRows, int(total), c);
    Node& ny = node_of(y);
    ny.idx = ids;
    ny.iattr = n;
    ny.requires_grad = t.grad_enabled && any_grad;
    float* out = ny.value;
    for (int s = 0; s < n; ++s) {
        const Node& ns = t.nodes[size_t(ids[s])];
        size_t len = size_t(ns.rows) * size_t(c);
        if (len > 0) std::memcpy(out, ns.value, sizeof(float) * len);
        out += len;
    }
    return y;
}

// ===========================================================================
// index_rows: (n, cols), y_i = a[idx_i, :]

// y[i, :] = a[idx_i, :]
static void index_rows_forward(float* y, const float* a, const int* idx, int n, int c) {
    // y (n, c), a (rows_a, c), idx (n)
    if (c == 0) return;
    parallel_for(n, split_loop(long(n) * c, kOmpMin), [=](int i) {
        std::memcpy(y + size_t(i) * c, a + size_t(idx[i]) * c, sizeof(float) * size_t(c));
    });
}
// da[idx_i, :] += dy[i, :]   (serial: repeated indices collide; fixed order, deterministic)
static void index_rows_backward(float* da, const float* dy, const int* idx, int n, int c) {
    for (int i = 0; i < n; ++i) {
        float* di = da + size_t(idx[i]) * c;
        const float* gi = dy + size_t(i) * c;
        for (int j = 0; j < c; ++j) di[j] += gi[j];
    }
}

Var index_rows(Var a, const int* idx, int n) {
    const char* op = "index_rows";
    Tape& t = tape_of(op, a);
    const Node& na = a.node();
    int ra = na.rows, c = na.cols;
    if (n < 0) fail(op, "negative index count " + std::to_string(n));
    if (n > 0 && !idx) fail(op, "null index array for input " + shape_str(ra, c));
    for (int i = 0; i < n; ++i)
        if (idx[i] < 0 || idx[i] >= ra)
            fail(op, "index " + std::to_string(idx[i]) + " at position " + std::to_string(i) +
                         " is out of range for input " + shape_str(ra, c));
    const float* av = na.value;
    Var y = t.push(Op::IndexRows, n, c, a.id);
    Node& ny = node_of(y);
    ny.idx = idx;
    ny.iattr = n;
    index_rows_forward(ny.value, av, idx, n, c);
    return y;
}

// ===========================================================================
// gather_at: (n, 1), y_k = a[row_k, col_k]; idx = (row_0, col_0, row_1, col_1, …)

// y_k = a[row_k, col_k]
static void gather_at_forward(float* y, const float* a, const int* idx, int n, int c) {
    for (int k = 0; k < n; ++k) y[k] = a[size_t(idx[2 * k]) * c + size_t(idx[2 * k + 1])];
}
// da[row_k, col_k] += dy_k   (serial: repeated pairs collide; fixed order, deterministic)
static void gather_at_backward(float* da, const float* dy, const int* idx, int n, int c) {
    for (int k = 0; k < n; ++k) da[size_t(idx[2 * k]) * c + size_t(idx[2 * k + 1])] += dy[k];
}

Var gather_at(Var a, const int* idx, int n) {
    const char* op = "gather_at";
    Tape& t = tape_of(op, a);
    const Node& na = a.node();
    const int ra = na.rows, c = na.cols;
    if (n < 0) fail(op, "negative index count " + std::to_string(n));
    if (n > 0 && !idx) fail(op, "null index array for input " + shape_str(ra, c));
    for (int k = 0; k < n; ++k)
        if (idx[2 * k] < 0 || idx[2 * k] >= ra || idx[2 * k + 1] < 0 || idx[2 * k + 1] >= c)
            fail(op, "entry (" + std::to_string(idx[2 * k]) + ", " + std::to_string(idx[2 * k + 1]) +
                         ") at position " + std::to_string(k) + " is out of range for input " + shape_str(ra, c));
    const float* av = na.value;
    Var y = t.push(Op::GatherAt, n, 1, a.id);
    Node& ny = node_of(y);
    ny.idx = idx;
    gather_at_forward(ny.value, av, idx, n, c);
    return y;
}

// ===========================================================================
// range_sum: (n,c) -> (m,c), y_k = Σ_{r∈[lo_k, hi_k)} a[r, :]; ranges (m, 2) = (lo_k, hi_k)

// y_k = S[hi_k] − S[lo_k] with the prefix sums S[r] = Σ_{u<r} a[u, :] in double
static void range_sum_forward(float* y, const float* a, const int* ranges, int n, int c, int m) {
    // y (m, c), a (n, c), ranges (m, 2)
    std::vector<double> S((size_t(n) + 1) * size_t(c), 0.0);  // (n + 1, c)
    for (int r = 0; r < n; ++r)
        for (int j = 0; j < c; ++j) S[size_t(r + 1) * c + j] = S[size_t(r) * c + j] + a[size_t(r) * c + j];
    const double* prefix = S.data();
    parallel_for(m, split_loop(long(m) * c, kOmpMin), [=](int k) {
        const double* lo = prefix + size_t(ranges[2 * k]) * c;
        const double* hi = prefix + size_t(ranges[2 * k + 1]) * c;
        for (int j = 0; j < c; ++j) y[size_t(k) * c + j] = float(hi[j] - lo[j]);
    });
}
// da[r, :] += Σ_{k: lo_k <= r < hi_k} dy_k   (difference array D[lo_k] += dy_k, D[hi_k] −= dy_k, then Σ_{u<=r} D[u])
static void range_sum_backward(float* da, const float* dy, const int* ranges, int n, int c, int m) {
    // da (n, c), dy (m, c), ranges (m, 2)
    std::vector<double> D((size_t(n) + 1) * size_t(c), 0.0);  // (n + 1, c)
    for (int k = 0; k < m; ++k)
        for (int j = 0; j < c; ++j) {
            D[size_t(ranges[2 * k]) * c + j] += dy[size_t(k) * c + j];
            D[size_t(ranges[2 * k + 1]) * c + j] -= dy[size_t(k) * c + j];
        }
    std::vector<double> run(size_t(c), 0.0);
    for (int r = 0; r < n; ++r)
        for (int j = 0; j < c; ++j) {
            run[size_t(j)] += D[size_t(r) * c + j];
            da[size_t(r) * c + j] += float(run[size_t(j)]);
        }
}

Var range_sum(Var a, const int* ranges, int m) {
    const char* op = "range_sum";
    Tape& t = tape_of(op, a);
    const Node& na = a.node();
    int n = na.rows, c = na.cols;
    if (m < 0) fail(op, "negative range count " + std::to_string(m));
    if (m > 0 && !ranges) fail(op, "null range array for input " + shape_str(n, c));
    for (int k = 0; k < m; ++k) {
        const int lo = ranges[2 * k], hi = ranges[2 * k + 1];
        if (lo < 0 || lo > hi || hi > n)
            fail(op, "range [" + std::to_string(lo) + ", " + std::to_string(hi) + ") at position " +
                         std::to_string(k) + " is out of range for input " + shape_str(n, c));
    }
    const float* av = na.value;
    Var y = t.push(Op::RangeSum, m, c, a.id);
    Node& ny = node_of(y);
    ny.idx = ranges;
    ny.iattr = m;
    range_sum_forward(ny.value, av, ranges, n, c, m);
    return y;
}

// ===========================================================================
// row_sum: (n,c) -> (n,1)

// y_i = Σ_j a_ij   (in double, columns in order)
static void row_sum_forward(float* y, const float* a, int n, int c) {
    // y (n, 1), a (n, c)
    parallel_for(n, split_loop(long(n) * c, kOmpMin), [=](int i) {
        const float* ai = a + size_t(i) * c;
        double s = 0.0;
        for (int j = 0; j < c; ++j) s += ai[j];
        y[i] = float(s);
    });
}
// da_ij += dy_i
static void row_sum_backward(float* da, const float* dy, int n, int c) {
    // da (n, c), dy (n, 1)
    parallel_for(n, split_loop(long(n) * c, kOmpMin), [=](int i) {
        float* di = da + size_t(i) * c;
        for (int j = 0; j < c; ++j) di[j] += dy[i];
    });
}

Var row_sum(Var a) {
    Tape& t = tape_of("row_sum", a);
    const Node& na = a.node();
    int n = na.rows, c = na.cols;
    const float* av = na.value;
    Var y = t.push(Op::RowSum, n, 1, a.id);
    row_sum_forward(node_of(y).value, av, n, c);
    return y;
}

// ===========================================================================
// reshape: the same floats in row-major order, seen as (rows, cols) — a view

// da += dy   (the same element order)
static void reshape_backward(float* da, const float* dy, long N) {
    parallel_for(N, split_loop(N, kOmpMin), [=](long i) { da[i] += dy[i]; });
}

Var reshape(Var a, int rows, int cols) {
    const char* op = "reshape";
    Tape& t = tape_of(op, a);
    const Node& na = a.node();
    if (rows < 0 || cols < 0 || long(rows) * cols != long(na.rows) * na.cols)
        fail(op, "cannot view input " + shape_str(na.rows, na.cols) + " as " + shape_str(rows, cols));
    return t.push(Op::Reshape, rows, cols, a.id, -1, na.value);
}

// ===========================================================================
// Log-densities. Fused ops: one node each, computed in double, with gradients
// to every input (the value too, so a reparameterised sample can be used).

// Records a node with three inputs (a, b, c); requires_grad if any input does.
static Var push_ternary(Op op, Var a, Var b, Var c, int rows, int cols) {
    Tape& t = *a.tape;
    const bool c_grad = c.node().requires_grad;
    Var y = t.push(op, rows, cols, a.id, b.id);
    Node& ny = node_of(y);
    ny.c = c.id;
    ny.requires_grad = ny.requires_grad || (t.grad_enabled && c_grad);
    return y;
}

static void check_same_shape(const char* op, const char* what, Var ref, Var v) {
    if (v.rows() != ref.rows() || v.cols() != ref.cols())
        fail(op, std::string(what) + " " + shape_str(v.rows(), v.cols()) + " does not match " +
                     shape_str(ref.rows(), ref.cols()));
}

// Throws unless every entry of v satisfies ok(); names the first that does not.
template <class Pred>
static void check_entries(const char* op, const char* what, Var v, const char* expected, Pred ok) {
    const Node& nv = v.node();
    for (int i = 0; i < nv.rows; ++i)
        for (int j = 0; j < nv.cols; ++j) {
            const float x = nv.value[size_t(i) * nv.cols + j];
            if (!ok(x))
                fail(op, std::string(what) + "[" + std::to_string(i) + ", " + std::to_string(j) +
                             "] = " + std::to_string(x) + " is not " + expected);
        }
}

constexpr double kLog2Pi = 1.83787706640934548356;  // log 2π

// y_i = −½ Σ_j [log 2π + 2 log σ_ij + z_ij²],  z = (x − μ)/σ
// (log σ is taken again only when σ differs from the previous entry's: a fixed
// or per-row std, the common case, costs one log per run of equal values.)
static void normal_log_prob_forward(float* y, const float* x, const float* mu, const float* sigma, int n, int d) {
    // y (n, 1), x (n, d), mu (n, d), sigma (n, d)
    // Each thread's copy of the body keeps its own last σ (σ > 0, checked, so 0 never matches).
    parallel_for(n, split_loop(long(n) * d, kOmpMin), [=, last = 0.f, two_log = 0.0](int i) mutable {
        double s = 0.0;
        for (int j = 0; j < d; ++j) {
            const size_t k = size_t(i) * d + j;
            if (sigma[k] != last) {
                last = sigma[k];
                two_log = 2.0 * std::log(double(last));  // 2 log(last)
            }
            const double z = (double(x[k]) - double(mu[k])) / double(sigma[k]);
            s += kLog2Pi + two_log + z * z;
        }
        y[i] = float(-0.5 * s);
    });
}
// dx −= dy z/σ,  dμ += dy z/σ,  dσ += dy (z² − 1)/σ
static void normal_log_prob_backward(float* dx, float* dmu, float* dsigma, const float* dy, const float* x,
                                     const float* mu, const float* sigma, int n, int d) {
    // dx, dmu, dsigma (n, d) — each may be null; dy (n, 1)
    parallel_for(n, split_loop(long(n) * d, kOmpMin), [=](int i) {
        for (int j = 0; j < d; ++j) {
            const size_t k = size_t(i) * d + j;
            const double s = double(sigma[k]);
            const double z = (double(x[k]) - double(mu[k])) / s;
            if (dx) dx[k] -= float(double(dy[i]) * z / s);
            if (dmu) dmu[k] += float(double(dy[i]) * z / s);
            if (dsigma) dsigma[k] += float(double(dy[i]) * (z * z - 1.0) / s);
        }
    });
}

Var normal_log_prob(Var x, Var mu, Var sigma) {
    const char* op = "normal_log_prob";
    tape_of(op, x);
    check_same_tape(op, x, mu);
    check_same_tape(op, x, sigma);
    check_same_shape(op, "mean", x, mu);
    check_same_shape(op, "std", x, sigma);
    check_entries(op, "std", sigma, "positive", [](float s) { return s > 0.f; });
    const int n = x.rows(), d = x.cols();
    const float* xv = x.node().value;
    const float* mv = mu.node().value;
    const float* sv = sigma.node().value;
    Var y = push_ternary(Op::NormalLogProb, x, mu, sigma, n, 1);
    normal_log_prob_forward(node_of(y).value, xv, mv, sv, n, d);
    return y;
}

// c log v with 0 log 0 = 0 (a Beta with α = 1 at r = 0 has finite density).
static inline double xlogy(double c, double v) { return c == 0.0 ? 0.0 : c * std::log(v); }

// y_ij = (α−1) log r + (β−1) log(1 − r) − log B(α, β),  r = r_i,⌊j/K⌋, (α, β) = (α_ij, β_ij),
// log B(α, β) = log Γ(α) + log Γ(β) − log Γ(α + β)
static void beta_log_prob_forward(float* y, const float* r, const float* al, const float* be, int n, int m, int c) {
    // y (n, c), r (n, m), al (n, c), be (n, c), K = c / m
    const int K = c / m;
    parallel_for(n, split_loop(long(n) * c, kOmpMin), [=](int i) {
        for (int j = 0; j < c; ++j) {
            const size_t k = size_t(i) * c + j;
            const double rv = r[size_t(i) * m + j / K], a = al[k], b = be[k];
            const double log_beta = log_gamma(a) + log_gamma(b) - log_gamma(a + b);
            y[k] = float(xlogy(a - 1.0, rv) + xlogy(b - 1.0, 1.0 - rv) - log_beta);
        }
    });
}
// dα += dy (log r − ψ(α) + ψ(α+β)),  dβ += dy (log(1 − r) − ψ(β) + ψ(α+β)),
// dr += Σ_k dy ((α − 1)/r − (β − 1)/(1 − r))
static void beta_log_prob_backward(float* dr, float* dal, float* dbe, const float* dy, const float* r,
                                   const float* al, const float* be, int n, int m, int c) {
    // dr (n, m), dal, dbe (n, c) — each may be null; dy (n, c)
    const int K = c / m;
    parallel_for(n, split_loop(long(n) * c, kOmpMin), [=](int i) {
        for (int j = 0; j < c; ++j) {
            const size_t k = size_t(i) * c + j;
            const double g = dy[k], rv = r[size_t(i) * m + j / K], a = al[k], b = be[k];
            const double psi_ab = (dal || dbe) ? digamma(a + b) : 0.0;
            if (dal) dal[k] += float(g * (std::log(rv) - digamma(a) + psi_ab));
            if (dbe) dbe[k] += float(g * (std::log1p(-rv) - digamma(b) + psi_ab));
            if (dr) dr[size_t(i) * m + j / K] += float(g * ((a - 1.0) / rv - (b - 1.0) / (1.0 - rv)));
        }
    });
}

Var beta_log_prob(Var r, Var alpha, Var beta) {
    const char* op = "beta_log_prob";
    tape_of(op, r);
    check_same_tape(op, r, alpha);
    check_same_tape(op, r, beta);
    check_same_shape(op, "beta", alpha, beta);
    const int n = alpha.rows(), c = alpha.cols(), m = r.cols();
    if (r.rows() != n || m == 0 || c % m != 0)
        fail(op, "value " + shape_str(r.rows(), m) + " does not match concentrations " + shape_str(n, c) +
                     " (expected (n, m) with m dividing the columns)");
    check_entries(op, "alpha", alpha, "positive", [](float a) { return a > 0.f; });
    check_entries(op, "beta", beta, "positive", [](float b) { return b > 0.f; });
    check_entries(op, "value", r, "in [0, 1]", [](float v) { return v >= 0.f && v <= 1.f; });
    const float* rv = r.node().value;
    const float* av = alpha.node().value;
    const float* bv = beta.node().value;
    Var y = push_ternary(Op::BetaLogProb, r, alpha, beta, n, c);
    beta_log_prob_forward(node_of(y).value, rv, av, bv, n, m, c);
    return y;
}

// ===========================================================================
// The backward dispatch.

static void fused_backward_node(Tape& t, const Node& n);  // the fused ops at the end of the file

void backward_node(Tape& t, const Node& n) {
    const float* dy = n.grad;
    if (!dy) return;
    const long N = long(n.rows) * n.cols;
    // Input a, its gradient (null when it needs none), and its shape.
    const Node* A = n.a >= 0 ? &t.nodes[size_t(n.a)] : nullptr;
    const Node* B = n.b >= 0 ? &t.nodes[size_t(n.b)] : nullptr;
    float* da = grad_of(t, n.a);
    float* db = grad_of(t, n.b);
    switch (n.op) {
    case Op::Leaf: break;
    case Op::Matmul: matmul_backward(da, db, dy, A->value, B->value, A->rows, A->cols, B->cols); break;
    case Op::Linear: {
        float* dbias = grad_of(t, n.c);
        linear_backward(da, db, dbias, dy, A->value, B->value, A->rows, A->cols, B->rows);
        break;
    }
    case Op::Add: add_backward(da, db, dy, n.rows, n.cols, broadcast_of("add", n.rows, n.cols, B->rows, B->cols)); break;
    case Op::Sub: sub_backward(da, db, dy, n.rows, n.cols, broadcast_of("sub", n.rows, n.cols, B->rows, B->cols)); break;
    case Op::Mul:
        mul_backward(da, db, dy, A->value, B->value, n.rows, n.cols,
                     broadcast_of("mul", n.rows, n.cols, B->rows, B->cols));
        break;
    case Op::Scale:
    case Op::AddScalar:
    case Op::Square:
    case Op::Exp:
    case Op::Log:
    case Op::Relu:
    case Op::LeakyRelu:
    case Op::Tanh:
    case Op::Elu:
    case Op::Clamp:
    case Op::Sigmoid:
    case Op::LogSigmoid:
    case Op::Softplus:
    case Op::Sin:
    case Op::Cos:
    case Op::Lgamma:
        if (da) unary_backward_node(n, da, dy, A->value, N);
        break;
    case Op::Gelu:
        if (da && n.iattr == 1) gelu_backward_kept(da, dy, n.value + N, N);
        else if (da) unary_backward_node(n, da, dy, A->value, N);
        break;
    case Op::LogSoftmax: if (da) log_softmax_backward(da, dy, n.value, n.mask, n.rows, n.cols); break;
    case Op::Gather: if (da) gather_backward(da, dy, n.idx, A->rows, A->cols); break;
    case Op::LogSumExp: if (da) logsumexp_backward(da, dy, A->value, n.mask, A->rows, A->cols); break;
    case Op::Sum: if (da) sum_backward(da, dy, long(A->rows) * A->cols); break;
    case Op::Mean: if (da) mean_backward(da, dy, long(A->rows) * A->cols); break;
    case Op::SegmentSum: if (da) segment_sum_backward(da, dy, n.idx, A->rows, A->cols); break;
    case Op::SliceCols: if (da) slice_cols_backward(da, dy, A->rows, A->cols, n.iattr, n.cols); break;
    case Op::ConcatCols: concat_cols_backward(da, db, dy, n.rows, A->cols, B->cols); break;
    case Op::ConcatRows: {
        const float* g = dy;
        for (int s = 0; s < n.iattr; ++s) {
            const Node& xs = t.nodes[size_t(n.idx[s])];
            long len = long(xs.rows) * xs.cols;
            float* dx = grad_of(t, n.idx[s]);
            if (dx) concat_rows_backward(dx, g, len);
            g += len;
        }
        break;
    }
    case Op::IndexRows: if (da) index_rows_backward(da, dy, n.idx, n.rows, n.cols); break;
    case Op::GatherAt: if (da) gather_at_backward(da, dy, n.idx, n.rows, A->cols); break;
    case Op::RangeSum: if (da) range_sum_backward(da, dy, n.idx, A->rows, A->cols, n.rows); break;
    case Op::SliceRows: if (da) slice_rows_backward(da, dy, n.iattr, n.rows, n.cols); break;
    case Op::Div:
        div_backward(da, db, dy, A->value, B->value, n.rows, n.cols,
                     broadcast_of("div", n.rows, n.cols, B->rows, B->cols));
        break;
    case Op::RowSum: if (da) row_sum_backward(da, dy, n.rows, A->cols); break;
    case Op::Reshape: if (da) reshape_backward(da, dy, N); break;
    case Op::NormalLogProb: {
        const Node* C = &t.nodes[size_t(n.c)];
        normal_log_prob_backward(da, db, grad_of(t, n.c), dy, A->value, B->value, C->value, A->rows, A->cols);
        break;
    }
    case Op::BetaLogProb: {
        const Node* C = &t.nodes[size_t(n.c)];
        beta_log_prob_backward(da, db, grad_of(t, n.c), dy, A->value, B->value, C->value, n.rows, A->cols, n.cols);
        break;
    }
    case Op::LinearGelu:
    case Op::GeluAddRows: fused_backward_node(t, n); break;
    case Op::LinearSparse:  // engine/nn.cpp's linear_sparse_backward (Tape dispatches it)
    case Op::COUNT: throw std::logic_error("backward_node: invalid op");
    }
}

// ===========================================================================
// Fused GELU layers (the diffusion sampler's PIS network, SPEC §9). Each keeps,
// when a gradient is needed, the derivative g = GELU'(z) = Φ(z) + z φ(z) after
// its value (value + N), as gelu() does, and never stores z itself: the backward
// is dz = g ⊙ dy (into a per-thread scratch, no zeroed gradient buffer for z)
// followed by the gradients of z's inputs. Same numbers as the unfused
// composition up to the order of float roundings.

// GELU(z) = z Φ(z) into y and, when g is not null, GELU'(z) into g, for
// z = y (+ the row bias[j] / t[j]); rows of c columns.
static inline void gelu_bias_row(float* y, float* g, const float* b1, const float* b2, int c) {
    for (int j = 0; j < c; ++j) {
        float z = y[j];
        if (b1) z += b1[j];
        if (b2) z += b2[j];
        const float Phi = 0.5f * (1.f + unary::erf_fast(z * 0.70710678118654752f));
        y[j] = z * Phi;
        if (g) g[j] = Phi + z * (0.39894228040143268f * unary::exp_fast(-0.5f * z * z));
    }
}

// A per-thread scratch of at least n floats for dz (reused across nodes).
static float* fused_scratch(size_t n) {
    static thread_local std::vector<float> buf;
    if (buf.size() < n) buf.resize(n);
    return buf.data();
}

// ---------------------------------------------------------------------------
// linear_gelu: y = GELU(x Wᵀ + b)   x (n,in), W (out,in), b (1,out) -> (n,out)

// z = x Wᵀ (GEMM into y) + b, then y = GELU(z), g = GELU'(z), row by row
static void linear_gelu_forward(float* y, float* g, const float* x, const float* W, const float* b, int n, int in,
                                int out) {
    gemm(false, true, n, out, in, 1.f, x, in, W, in, 0.f, y, out);
    for (int i = 0; i < n; ++i)
        gelu_bias_row(y + size_t(i) * out, g ? g + size_t(i) * out : nullptr, b, nullptr, out);
}

// dz = g ⊙ dy;  dx += dz W,  dW += dzᵀ x,  db += Σ_i dz_i
// (db summed in double, rows in order, as col_sums_add, in the pass that forms dz)
static void linear_gelu_backward(float* dx, float* dW, float* db, const float* dy, const float* g, const float* x,
                                 const float* W, int n, int in, int out) {
    float* __restrict dz = fused_scratch(size_t(n) * out);
    std::vector<double> acc(db ? size_t(out) : 0, 0.0);
    double* __restrict s = acc.data();
    for (int i = 0; i < n; ++i) {
        const float* gi = g + size_t(i) * out;
        const float* dyi = dy + size_t(i) * out;
        float* __restrict dzi = dz + size_t(i) * out;
        for (int j = 0; j < out; ++j) dzi[j] = gi[j] * dyi[j];
        if (db)
            for (int j = 0; j < out; ++j) s[j] += dzi[j];
    }
    if (db)
        for (int j = 0; j < out; ++j) db[j] += float(s[j]);
    linear_backward(dx, dW, nullptr, dz, x, W, n, in, out);
}

Var linear_gelu(Var x, Var W, Var b) {
    const char* op = "linear_gelu";
    Tape& t = tape_of(op, x);
    check_same_tape(op, x, W);
    check_same_tape(op, x, b);
    const Node& nx = x.node();
    const Node& nw = W.node();
    const Node& nb = b.node();
    if (nx.cols != nw.cols)
        fail(op, "input " + shape_str(nx.rows, nx.cols) + " and weight " + shape_str(nw.rows, nw.cols) +
                     " do not match (weight must be (out, in))");
    const int n = nx.rows, in = nx.cols, out = nw.rows;
    if (nb.rows != 1 || nb.cols != out)
        fail(op, "bias " + shape_str(nb.rows, nb.cols) + " does not match weight " + shape_str(nw.rows, nw.cols) +
                     " (bias must be (1, out))");
    const float* xv = nx.value;
    const float* wv = nw.value;
    const float* bv = nb.value;
    const bool keep = t.grad_enabled && (nx.requires_grad || nw.requires_grad || nb.requires_grad);
    const size_t N = size_t(n) * out;
    float* buf = t.arena.floats((keep ? 2 * N : N) + 1);
    Var y = t.push(Op::LinearGelu, n, out, x.id, W.id, buf);
    Node& ny = node_of(y);
    ny.c = b.id;
    ny.requires_grad = keep;
    linear_gelu_forward(buf, keep ? buf + N : nullptr, xv, wv, bv, n, in, out);
    return y;
}

// ---------------------------------------------------------------------------
// gelu_add_rows: y_i = GELU(a_i + b[idx_i])   a (n,c), b (m,c), idx (n) in [0, m)

static void gelu_add_rows_forward(float* y, float* g, const float* a, const float* b, const int* idx, int n, int c) {
    for (int i = 0; i < n; ++i) {
        float* yi = y + size_t(i) * c;
        std::memcpy(yi, a + size_t(i) * c, sizeof(float) * size_t(c));
        gelu_bias_row(yi, g ? g + size_t(i) * c : nullptr, b + size_t(idx[i]) * c, nullptr, c);
    }
}

// dz = g ⊙ dy;  da += dz,  db[idx_i] += dz_i (summed per row of b in double, rows in order)
static void gelu_add_rows_backward(float* da, float* db, const float* dy, const float* g, const int* idx, int n,
                                   int m, int c) {
    float* __restrict dz = fused_scratch(size_t(n) * c);
    std::vector<double> acc(db ? size_t(m) * c : 0, 0.0);
    for (int i = 0; i < n; ++i) {
        const float* gi = g + size_t(i) * c;
        const float* dyi = dy + size_t(i) * c;
        float* __restrict dzi = dz + size_t(i) * c;
        for (int j = 0; j < c; ++j) dzi[j] = gi[j] * dyi[j];
        if (da) {
            float* __restrict dai = da + size_t(i) * c;
            for (int j = 0; j < c; ++j) dai[j] += dzi[j];
        }
        if (db) {
            double* __restrict ai = acc.data() + size_t(idx[i]) * c;
            for (int j = 0; j < c; ++j) ai[j] += dzi[j];
        }
    }
    if (db)
        for (size_t k = 0; k < acc.size(); ++k) db[k] += float(acc[k]);
}

Var gelu_add_rows(Var a, Var b, const int* idx) {
    const char* op = "gelu_add_rows";
    Tape& t = tape_of(op, a);
    check_same_tape(op, a, b);
    const Node& na = a.node();
    const Node& nb = b.node();
    if (na.cols != nb.cols)
        fail(op, "rows of " + shape_str(na.rows, na.cols) + " and " + shape_str(nb.rows, nb.cols) +
                     " differ in length");
    const int n = na.rows, c = na.cols, m = nb.rows;
    if (n > 0 && !idx) fail(op, "no index array");
    for (int i = 0; i < n; ++i)
        if (idx[i] < 0 || idx[i] >= m)
            fail(op, "index " + std::to_string(idx[i]) + " at row " + std::to_string(i) + " is outside [0, " +
                         std::to_string(m) + ")");
    const float* av = na.value;
    const float* bv = nb.value;
    const bool keep = t.grad_enabled && (na.requires_grad || nb.requires_grad);
    const size_t N = size_t(n) * c;
    float* buf = t.arena.floats((keep ? 2 * N : N) + 1);
    Var y = t.push(Op::GeluAddRows, n, c, a.id, b.id, buf);
    Node& ny = node_of(y);
    ny.idx = idx;
    ny.requires_grad = keep;
    gelu_add_rows_forward(buf, keep ? buf + N : nullptr, av, bv, idx, n, c);
    return y;
}

static void fused_backward_node(Tape& t, const Node& n) {
    const float* dy = n.grad;
    const float* g = n.value + size_t(n.rows) * n.cols;
    const Node& A = t.nodes[size_t(n.a)];
    const Node& B = t.nodes[size_t(n.b)];
    float* da = grad_of(t, n.a);
    float* db = grad_of(t, n.b);
    switch (n.op) {
    case Op::LinearGelu:
        linear_gelu_backward(da, db, grad_of(t, n.c), dy, g, A.value, B.value, n.rows, A.cols, n.cols);
        break;
    case Op::GeluAddRows: gelu_add_rows_backward(da, db, dy, g, n.idx, n.rows, B.rows, n.cols); break;
    default: throw std::logic_error("fused_backward_node: not a fused op");
    }
}

}  // namespace gfn
