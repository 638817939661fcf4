// tape.h — the Wengert list: reverse-mode autodiff as plain data.
//
// Every op appends one Node in creation order, which is a topological order,
// so backward() is a single reverse sweep with one `switch` over the op enum
// (ops.cpp). A Node holds no closures, no virtual calls and no owning pointers:
// its value and gradient live in the step arena (or, for parameters, in the
// parameter slab), so reset() is O(1) apart from merging arena blocks.
//
// Recording can be paused with NoGrad: ops still compute values, but their
// nodes need no gradient and backward() skips them.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/arena.h"
#include "engine/tensor.h"

namespace gfn {

// The op registry. Names in op_name(); the count is checked by static_assert.
enum class Op : uint8_t {
    Leaf,          // input or parameter: no backward
    Matmul,        // y = a b
    Linear,        // y = x Wᵀ + b
    Add,           // y = a + b   (b same shape, one row, or 1x1)
    Sub,           // y = a - b   (same broadcasting)
    Mul,           // y = a * b   (same broadcasting)
    Scale,         // y = s a
    AddScalar,     // y = a + s
    Square,        // y = a²
    Exp,           // y = eᵃ
    Log,           // y = log a
    Relu,          // y = max(a, 0)
    LeakyRelu,     // y = a if a > 0 else slope a
    Tanh,          // y = tanh a
    Elu,           // y = a if a > 0 else alpha (eᵃ - 1)
    LogSoftmax,    // y_ij = a_ij - log Σ_k∈valid e^{a_ik}; invalid entries -inf
    Gather,        // y_i = a[i, idx_i]
    LogSumExp,     // y_i = log Σ_j∈valid e^{a_ij}
    Sum,           // y = Σ a
    Mean,          // y = Σ a / n
    SegmentSum,    // y[seg_i, :] += a[i, :]
    SliceCols,     // y = a[:, begin:end]
    ConcatCols,    // y = [a | b]
    ConcatRows,    // y = [x_0; x_1; ...]
    IndexRows,     // y_i = a[idx_i, :]
    Clamp,         // y = min(max(a, lo), hi)
    RangeSum,      // y_k = Σ_{r∈[lo_k, hi_k)} a[r, :]
    SliceRows,     // y = a[begin:end, :] (a view: no copy)
    Sigmoid,       // y = 1 / (1 + e⁻ᵃ)
    LogSigmoid,    // y = log σ(a) = −softplus(−a)
    Softplus,      // y = log(1 + eᵃ)
    Gelu,          // y = a Φ(a)   (erf form)
    Sin,           // y = sin a
    Cos,           // y = cos a
    Lgamma,        // y = log Γ(a)
    Div,           // y = a / b   (same broadcasting as Add)
    RowSum,        // y_i = Σ_j a_ij
    Reshape,       // y = a with another (rows, cols) of the same size (a view: no copy)
    NormalLogProb, // y_i = −½ Σ_j [log 2π + 2 log σ_ij + ((x_ij − μ_ij)/σ_ij)²]   (a = x, b = μ, c = σ)
    BetaLogProb,   // y_ij = log Beta(r_i,⌊j/K⌋; α_ij, β_ij)   (a = r, b = α, c = β)
    LinearGelu,    // y = GELU(x Wᵀ + b)   (a = x, b = W, c = bias)
    GeluAddRows,   // y_i = GELU(a_i + b[idx_i])
    LinearSparse,  // y = x Wᵀ + b, x a sum of unit rows given by columns (a = W, b = bias; engine/nn.h)
    GatherAt,      // y_k = a[row_k, col_k]   (idx: n pairs (row_k, col_k))
    COUNT
};
const char* op_name(Op op);

struct Node {
    Op op = Op::Leaf;
    int a = -1, b = -1, c = -1;      // input node ids (-1: none)
    int rows = 0, cols = 0;          // shape of the output
    float* value = nullptr;          // (rows, cols)
    float* grad = nullptr;           // (rows, cols); set by backward() or by a parameter
    const int* idx = nullptr;        // gather/segment/index indices, concat inputs
    const uint8_t* mask = nullptr;   // validity mask of log-softmax / logsumexp
    float attr = 0.f, attr2 = 0.f;   // scale, slope, clamp bounds
    int iattr = 0, iattr2 = 0;       // slice begin, segment count, concat count
    bool requires_grad = false;
    bool external_grad = false;      // grad points into a parameter slab
};

class Tape;

// A handle to a node: cheap to copy, valid until the tape is reset.
struct Var {
    Tape* tape = nullptr;
    int id = -1;

    bool valid() const { return tape != nullptr && id >= 0; }
    const Node& node() const;
    int rows() const { return node().rows; }
    int cols() const { return node().cols; }
    Tensor value() const;
    Tensor grad() const;  // empty Tensor when the node has no gradient
    float item() const;   // the single value of a 1x1 node
};

class Tape {
public:
    explicit Tape(size_t arena_bytes = size_t(1) << 22);

    Arena arena;
    std::vector<Node> nodes;
    bool grad_enabled = true;
    // When true, backward() creates an intermediate node's gradient buffer when
    // its first consumer runs and recycles it once the node's own backward has
    // run, so the live gradients of a step stay few (training sets this; tests
    // that read an intermediate's gradient after backward leave it false).
    // Three more savings then (backward_recycling; docs/engine.md, "Memory"):
    //   - a view (slice_rows, reshape) gets no buffer of its own: its gradient
    //     is the matching part of its input's, so its consumers add straight
    //     into the input's gradient;
    //   - relu and leaky relu turn their output's gradient into their input's
    //     in place, when no other consumer of the input has written to it yet;
    //   - so does a square Linear (in = out): dW and db first, then
    //     dx = dy W row block by row block into dy's buffer.
    bool recycle_gradients = false;

    // A constant input (no gradient). Its memory must outlive the step.
    Var constant(Tensor value);
    // A constant copied into the arena.
    Var constant_copy(const float* data, int rows, int cols);
    // A trainable leaf whose gradient accumulates into `grad` (same shape), or,
    // when `grad` lies in the slab given to redirect_parameter_gradients, into the
    // same place of the other slab.
    Var parameter(Tensor value, float* grad);
    // From now on, a parameter whose gradient lies in [from, from + n) accumulates
    // into to + (grad − from) instead: a thread's own gradient slab in a
    // data-parallel step (gfn/runtime/training.cpp). to = nullptr turns it off.
    void redirect_parameter_gradients(const float* from, size_t n, float* to) {
        redirect_from_ = from;
        redirect_n_ = n;
        redirect_to_ = to;
    }

    // Appends a node of the given shape with fresh arena storage for its value,
    // or, when `value` is given, with that memory (which must outlive the step).
    Var push(Op op, int rows, int cols, int a = -1, int b = -1, float* value = nullptr);

    // d(loss)/d(every node), accumulated (+=) into gradients; loss must be 1x1.
    void backward(Var loss);

    // The reverse sweep with gradient buffers recycled (recycle_gradients).
    void backward_recycling(int loss_id);

    // Forgets all nodes; keeps the arena's memory.
    void reset();

    // The nodes and arena memory as they are now; rewind(m) forgets every node
    // pushed since (a Var of one of them is then invalid) and reuses its memory.
    struct Mark { size_t n_nodes = 0; Arena::Mark arena; };
    Mark mark() const { return Mark{nodes.size(), arena.mark()}; }
    void rewind(const Mark& m);

    Var var(int id) { return Var{this, id}; }

    // A value a module computes once per step and then reuses, e.g. the diffusion
    // network's time embedding of every time step (PISNet): memo(key) is the Var
    // remembered under `key` (the module's address) in the current grad mode since
    // the last reset(), or an invalid Var. reset() and rewind() forget it, so a
    // step that changes the parameters must reset the tape before the next one
    // (training, validation and sampling all start from a reset tape).
    Var memo(const void* key) const;
    void remember(const void* key, Var v);

private:
    struct MemoEntry {
        const void* key;
        bool grad;
        int id;
    };
    std::vector<MemoEntry> memo_;
    bool backward_in_place(int id, std::vector<float*>& spare);
    const float* redirect_from_ = nullptr;
    size_t redirect_n_ = 0;
    float* redirect_to_ = nullptr;
};

// Sets gradient recording on or off for its lifetime (never turns it on
// inside an enclosing NoGrad).
class GradMode {
public:
    GradMode(Tape& t, bool enabled) : tape_(t), prev_(t.grad_enabled) { t.grad_enabled = prev_ && enabled; }
    ~GradMode() { tape_.grad_enabled = prev_; }
    GradMode(const GradMode&) = delete;
    GradMode& operator=(const GradMode&) = delete;

private:
    Tape& tape_;
    bool prev_;
};

// Pauses gradient recording for its lifetime.
class NoGrad : public GradMode {
public:
    explicit NoGrad(Tape& t) : GradMode(t, false) {}
};

inline const Node& Var::node() const { return tape->nodes[size_t(id)]; }
inline Tensor Var::value() const { const Node& n = node(); return Tensor(n.value, n.rows, n.cols); }
inline Tensor Var::grad() const { const Node& n = node(); return Tensor(n.grad, n.grad ? n.rows : 0, n.grad ? n.cols : 0); }

}  // namespace gfn
