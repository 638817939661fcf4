// tape.cpp — see tape.h. The backward kernels themselves live in ops.cpp.
#include "engine/tape.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>
#include <vector>
#include <stdexcept>

#include "engine/blas.h"
#include "engine/nn.h"
#include "engine/ops.h"
#include "engine/parallel.h"

namespace gfn {

static const char* const kOpNames[] = {
    "leaf", "matmul", "linear", "add", "sub", "mul", "scale", "add_scalar", "square", "exp", "log",
    "relu", "leaky_relu", "tanh", "elu", "log_softmax", "gather", "logsumexp", "sum", "mean",
    "segment_sum", "slice_cols", "concat_cols", "concat_rows", "index_rows", "clamp",
    "range_sum", "slice_rows", "sigmoid", "log_sigmoid", "softplus", "gelu", "sin", "cos", "lgamma", "div",
    "row_sum", "reshape", "normal_log_prob", "beta_log_prob", "linear_gelu", "gelu_add_rows", "linear_sparse",
    "gather_at",
};
static_assert(sizeof(kOpNames) / sizeof(kOpNames[0]) == size_t(Op::COUNT),
              "every op needs a name in kOpNames");

const char* op_name(Op op) { return kOpNames[size_t(op)]; }

// The backward kernel of one node: ops.cpp's, or nn.cpp's for linear_sparse.
static void run_backward(Tape& t, const Node& n) {
    if (n.op == Op::LinearSparse) linear_sparse_backward(t, n);
    else backward_node(t, n);
}

float Var::item() const {
    const Node& n = node();
    if (n.rows != 1 || n.cols != 1)
        throw std::invalid_argument("item(): expected a 1x1 value, got " + shape_str(n.rows, n.cols));
    return n.value[0];
}

Tape::Tape(size_t arena_bytes) : arena(arena_bytes) { nodes.reserve(1024); }

Var Tape::push(Op op, int rows, int cols, int a, int b, float* value) {
    if (rows < 0 || cols < 0)
        throw std::invalid_argument(std::string(op_name(op)) + ": negative shape " + shape_str(rows, cols));
    Node n;
    n.op = op;
    n.a = a;
    n.b = b;
    n.rows = rows;
    n.cols = cols;
    n.value = value ? value : arena.floats(size_t(rows) * size_t(cols));
    if (grad_enabled)
        n.requires_grad = (a >= 0 && nodes[size_t(a)].requires_grad) || (b >= 0 && nodes[size_t(b)].requires_grad);
    nodes.push_back(n);
    return Var{this, int(nodes.size()) - 1};
}

Var Tape::constant(Tensor value) {
    Node n;
    n.rows = value.rows;
    n.cols = value.cols;
    n.value = value.data;
    nodes.push_back(n);
    return Var{this, int(nodes.size()) - 1};
}

Var Tape::constant_copy(const float* data, int rows, int cols) {
    float* v = arena.floats(size_t(rows) * size_t(cols));
    if (rows > 0 && cols > 0) std::memcpy(v, data, sizeof(float) * size_t(rows) * size_t(cols));
    return constant(Tensor(v, rows, cols));
}

Var Tape::parameter(Tensor value, float* grad) {
    if (redirect_to_ && grad >= redirect_from_ && grad < redirect_from_ + redirect_n_)
        grad = redirect_to_ + (grad - redirect_from_);
    Node n;
    n.rows = value.rows;
    n.cols = value.cols;
    n.value = value.data;
    n.grad = grad;
    n.requires_grad = grad_enabled && grad != nullptr;
    n.external_grad = true;
    nodes.push_back(n);
    return Var{this, int(nodes.size()) - 1};
}

void Tape::backward(Var loss) {
    if (loss.tape != this || loss.id < 0 || size_t(loss.id) >= nodes.size())
        throw std::invalid_argument("backward: the loss is not a node of this tape");
    Node& ln = nodes[size_t(loss.id)];
    if (ln.rows != 1 || ln.cols != 1)
        throw std::invalid_argument("backward: the loss must be 1x1, got " + shape_str(ln.rows, ln.cols));
    if (!ln.requires_grad) return;  // nothing trainable reaches the loss
    if (recycle_gradients) {
        backward_recycling(loss.id);
        return;
    }
    // Gradient buffers for the intermediate nodes that need one, zeroed.
    for (int i = 0; i <= loss.id; ++i) {
        Node& n = nodes[size_t(i)];
        if (n.requires_grad && !n.external_grad)
            n.grad = arena.zeros(size_t(n.rows) * size_t(n.cols));
    }
    ln.grad[0] += 1.0f;
    for (int i = loss.id; i >= 0; --i) {
        const Node& n = nodes[size_t(i)];
        if (n.requires_grad && n.op != Op::Leaf) run_backward(*this, n);
    }
}

// A view shares its input's memory; its gradient is the same part of the input's.
static bool is_view(Op op) { return op == Op::SliceRows || op == Op::Reshape; }
static size_t view_offset(const Node& n) { return n.op == Op::SliceRows ? size_t(n.iattr) * size_t(n.cols) : 0; }

// Rows of dx computed per GEMM by the in-place square Linear (a (rows, in) scratch).
static constexpr int kInPlaceRows = 512;

void Tape::backward_recycling(int loss_id) {
    // Free gradient buffers by size; a buffer taken from here is zeroed again.
    std::unordered_map<size_t, std::vector<float*>> pool;
    auto take = [&](size_t n) -> float* {
        std::vector<float*>& free = pool[n];
        if (free.empty()) return arena.zeros(n);
        float* p = free.back();
        free.pop_back();
        std::memset(p, 0, n * sizeof(float));
        return p;
    };
    // aliased[i]: node i is a view whose gradient lies inside its input's.
    std::vector<uint8_t> aliased(nodes.size(), 0);
    std::vector<float*> spare;  // the in-place Linear's scratch, taken once
    struct Ensure {
        Tape& t;
        std::vector<uint8_t>& aliased;
        decltype(take)& take_buffer;
        void operator()(int id) {
            if (id < 0) return;
            Node& in = t.nodes[size_t(id)];
            if (!in.requires_grad || in.external_grad || in.grad) return;
            if (is_view(in.op) && in.a >= 0 && t.nodes[size_t(in.a)].requires_grad) {
                (*this)(in.a);
                in.grad = t.nodes[size_t(in.a)].grad + view_offset(in);
                aliased[size_t(id)] = 1;
                return;
            }
            in.grad = take_buffer(size_t(in.rows) * size_t(in.cols));
        }
    } ensure_grad{*this, aliased, take};
    for (Node& n : nodes)
        if (!n.external_grad) n.grad = nullptr;
    ensure_grad(loss_id);
    nodes[size_t(loss_id)].grad[0] += 1.0f;
    for (int i = loss_id; i >= 0; --i) {
        Node& n = nodes[size_t(i)];
        if (!n.requires_grad || n.op == Op::Leaf || !n.grad) continue;  // no gradient reached it
        if (aliased[size_t(i)]) {  // a view: its consumers added into its input's gradient already
            n.grad = nullptr;
            continue;
        }
        if (!n.external_grad && backward_in_place(i, spare)) continue;
        ensure_grad(n.a);
        ensure_grad(n.b);
        ensure_grad(n.c);
        if (n.op == Op::ConcatRows)
            for (int k = 0; k < n.iattr; ++k) ensure_grad(n.idx[k]);
        run_backward(*this, n);
        if (!n.external_grad) {  // every consumer has run: the buffer is free again
            pool[size_t(n.rows) * size_t(n.cols)].push_back(n.grad);
            n.grad = nullptr;
        }
    }
}

// Node id's backward with its gradient buffer handed to its input a, when the
// op allows it (relu, leaky relu, a square Linear) and no other consumer of a
// has written a gradient yet (a.grad is null). Returns false when it does not apply.
bool Tape::backward_in_place(int id, std::vector<float*>& spare) {
    Node& n = nodes[size_t(id)];
    if (n.op != Op::Relu && n.op != Op::LeakyRelu && n.op != Op::Linear) return false;
    if (n.a < 0) return false;
    Node& x = nodes[size_t(n.a)];
    if (!x.requires_grad || x.external_grad || x.grad || is_view(x.op) || x.op == Op::Leaf) return false;
    if (x.rows != n.rows || x.cols != n.cols) return false;  // (Linear: in = out)
    float* g = n.grad;
    const long N = long(n.rows) * long(n.cols);
    const float* a = x.value;
    if (n.op == Op::Relu) {
        // da = dy if a > 0 else 0
        parallel_for(N, split_loop(N, (1L << 16)), [=](long k) { g[k] = a[k] > 0.f ? g[k] : 0.f; });
    } else if (n.op == Op::LeakyRelu) {
        // da = dy if a > 0 else slope dy
        const float slope = n.attr;
        parallel_for(N, split_loop(N, (1L << 16)), [=](long k) { g[k] = a[k] > 0.f ? g[k] : slope * g[k]; });
    } else {
        // dW += dyᵀ x and db += Σ_i dy_i by the op's own kernel (x.grad is null, so
        // it skips dx), then dx = dy W over blocks of rows, each written back over
        // the block of dy it came from (no longer needed once dW is done).
        if (n.b < 0) return false;
        Node& W = nodes[size_t(n.b)];
        if (W.requires_grad && !W.external_grad) return false;  // a computed weight: the general path
        if (n.c >= 0 && nodes[size_t(n.c)].requires_grad && !nodes[size_t(n.c)].external_grad) return false;
        backward_node(*this, n);
        const int in = x.cols, out = n.cols;
        if (spare.empty()) spare.push_back(arena.floats(size_t(kInPlaceRows) * size_t(in)));
        float* tmp = spare[0];
        for (int r0 = 0; r0 < n.rows; r0 += kInPlaceRows) {
            const int m = std::min(kInPlaceRows, n.rows - r0);
            float* gr = g + size_t(r0) * size_t(out);
            gemm(false, false, m, in, out, 1.f, gr, out, W.value, in, 0.f, tmp, in);
            std::memcpy(gr, tmp, sizeof(float) * size_t(m) * size_t(in));
        }
    }
    x.grad = g;
    n.grad = nullptr;
    return true;
}

void Tape::rewind(const Mark& m) {
    if (m.n_nodes > nodes.size()) throw std::invalid_argument("Tape::rewind: the mark is ahead of the tape");
    nodes.resize(m.n_nodes);
    arena.rewind(m.arena);
    memo_.erase(std::remove_if(memo_.begin(), memo_.end(),
                               [&](const MemoEntry& e) { return size_t(e.id) >= m.n_nodes; }),
                memo_.end());
}

void Tape::reset() {
    nodes.clear();
    arena.reset();
    memo_.clear();
}

Var Tape::memo(const void* key) const {
    for (const MemoEntry& e : memo_)
        if (e.key == key && e.grad == grad_enabled) return Var{const_cast<Tape*>(this), e.id};
    return Var{};
}

void Tape::remember(const void* key, Var v) {
    if (v.tape != this || v.id < 0 || size_t(v.id) >= nodes.size())
        throw std::invalid_argument("Tape::remember: the Var is not a node of this tape");
    for (MemoEntry& e : memo_)
        if (e.key == key && e.grad == grad_enabled) {
            e.id = v.id;
            return;
        }
    memo_.push_back(MemoEntry{key, grad_enabled, v.id});
}

}  // namespace gfn
