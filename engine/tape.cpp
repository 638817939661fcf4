// tape.cpp — see tape.h. The backward kernels themselves live in ops.cpp.
#include "engine/tape.h"

#include <cstring>
#include <unordered_map>
#include <vector>
#include <stdexcept>

#include "engine/ops.h"

namespace gfn {

static const char* const kOpNames[] = {
    "leaf", "matmul", "linear", "add", "sub", "mul", "scale", "add_scalar", "square", "exp", "log",
    "relu", "leaky_relu", "tanh", "elu", "log_softmax", "gather", "logsumexp", "sum", "mean",
    "segment_sum", "slice_cols", "concat_cols", "concat_rows", "index_rows", "clamp",
    "range_sum", "slice_rows", "sigmoid", "log_sigmoid", "softplus", "gelu", "sin", "cos", "lgamma", "div",
    "row_sum", "reshape", "normal_log_prob", "beta_log_prob", "linear_gelu", "gelu_add_rows",
};
static_assert(sizeof(kOpNames) / sizeof(kOpNames[0]) == size_t(Op::COUNT),
              "every op needs a name in kOpNames");

const char* op_name(Op op) { return kOpNames[size_t(op)]; }

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
        if (n.requires_grad && n.op != Op::Leaf) backward_node(*this, n);
    }
}

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
    auto ensure_grad = [&](int id) {
        if (id < 0) return;
        Node& in = nodes[size_t(id)];
        if (in.requires_grad && !in.external_grad && !in.grad) in.grad = take(size_t(in.rows) * size_t(in.cols));
    };
    for (Node& n : nodes)
        if (!n.external_grad) n.grad = nullptr;
    ensure_grad(loss_id);
    nodes[size_t(loss_id)].grad[0] += 1.0f;
    for (int i = loss_id; i >= 0; --i) {
        Node& n = nodes[size_t(i)];
        if (!n.requires_grad || n.op == Op::Leaf || !n.grad) continue;  // no gradient reached it
        ensure_grad(n.a);
        ensure_grad(n.b);
        ensure_grad(n.c);
        if (n.op == Op::ConcatRows)
            for (int k = 0; k < n.iattr; ++k) ensure_grad(n.idx[k]);
        backward_node(*this, n);
        if (!n.external_grad) {  // every consumer has run: the buffer is free again
            pool[size_t(n.rows) * size_t(n.cols)].push_back(n.grad);
            n.grad = nullptr;
        }
    }
}

void Tape::reset() {
    nodes.clear();
    arena.reset();
}

}  // namespace gfn
