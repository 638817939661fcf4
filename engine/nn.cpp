// nn.cpp — see nn.h.
#include "engine/nn.h"

#include <cmath>
#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "engine/blas.h"
#include "engine/ops.h"

namespace gfn {

int ParamStore::add(const std::string& name, int rows, int cols, int group) {
    if (rows <= 0 || cols <= 0)
        throw std::invalid_argument("parameter " + name + ": non-positive shape " + shape_str(rows, cols));
    Param p;
    p.name = name;
    p.offset = values.size();
    p.rows = rows;
    p.cols = cols;
    p.group = group;
    values.resize(values.size() + p.size(), 0.f);
    grads.resize(values.size(), 0.f);
    params.push_back(p);
    return int(params.size()) - 1;
}

Var ParamStore::var(Tape& tape, int id) {
    if (frozen) return tape.constant(value(id));
    return tape.parameter(value(id), grad(id));
}

void ParamStore::zero_grad() {
    if (!grads.empty()) std::memset(grads.data(), 0, grads.size() * sizeof(float));
}

size_t ParamStore::group_size(int group) const {
    size_t n = 0;
    for (const Param& p : params)
        if (p.group == group) n += p.size();
    return n;
}

Activation activation_from_string(const std::string& s) {
    if (s == "relu") return Activation::Relu;
    if (s == "leaky_relu") return Activation::LeakyRelu;
    if (s == "tanh") return Activation::Tanh;
    if (s == "elu") return Activation::Elu;
    throw std::invalid_argument("unknown activation '" + s + "' (choose relu, leaky_relu, tanh or elu)");
}

const char* activation_name(Activation a) {
    switch (a) {
        case Activation::Relu: return "relu";
        case Activation::LeakyRelu: return "leaky_relu";
        case Activation::Tanh: return "tanh";
        case Activation::Elu: return "elu";
    }
    return "?";
}

Var activate(Var x, Activation a) {
    switch (a) {
        case Activation::Relu: return relu(x);
        case Activation::LeakyRelu: return leaky_relu(x, 0.01f);
        case Activation::Tanh: return tanh(x);
        case Activation::Elu: return elu(x, 1.0f);
    }
    return x;
}

Linear::Linear(ParamStore& s, const std::string& name, int in_, int out_, Rng& rng, int group)
    : store(&s), in(in_), out(out_) {
    W = s.add(name + ".weight", out, in, group);
    b = s.add(name + ".bias", 1, out, group);
    // U(−1/√fan_in, 1/√fan_in) for weights and biases, as torch.nn.Linear.
    const float bound = 1.0f / std::sqrt(float(in));
    Tensor w = s.value(W), bb = s.value(b);
    for (size_t i = 0; i < w.size(); ++i) w.data[i] = rng.uniform(-bound, bound);
    for (size_t i = 0; i < bb.size(); ++i) bb.data[i] = rng.uniform(-bound, bound);
}

Var Linear::forward(Var x) const {
    Tape& t = *x.tape;
    return linear(x, store->var(t, W), store->var(t, b));
}

MLP::MLP(ParamStore& store, const std::string& name, int in, int out, int hidden, int n_hidden_layers,
         Activation act, Rng& rng, int group)
    : activation(act) {
    if (n_hidden_layers < 0) throw std::invalid_argument("MLP " + name + ": n_hidden_layers must be >= 0");
    if (n_hidden_layers > 0 && hidden <= 0) throw std::invalid_argument("MLP " + name + ": hidden must be > 0");
    int d = in;
    for (int i = 0; i < n_hidden_layers; ++i) {
        hidden_layers.emplace_back(store, name + ".hidden" + std::to_string(i), d, hidden, rng, group);
        d = hidden;
    }
    output_layer = Linear(store, name + ".out", d, out, rng, group);
}

Var MLP::trunk(Var x) const {
    for (const Linear& l : hidden_layers) x = activate(l.forward(x), activation);
    return x;
}

Var MLP::trunk_sparse(Tape& tape, const int* cols, int per_row, int n) const {
    if (hidden_layers.empty()) throw std::logic_error("MLP::trunk_sparse: the network has no hidden layer");
    const Linear& L0 = hidden_layers[0];
    Var x = activate(linear_sparse(L0.store->var(tape, L0.W), L0.store->var(tape, L0.b), cols, n, per_row), activation);
    for (size_t l = 1; l < hidden_layers.size(); ++l) x = activate(hidden_layers[l].forward(x), activation);
    return x;
}

// y_i = b + Σ_k wt[cols_ik]: the ones of x_i pick rows of Wᵀ; summed in k order from 0, then b added.
void linear_sparse_rows(float* y, const float* wt, const float* b, const int* cols, int n, int per_row, int out) {
    for (int i = 0; i < n; ++i) {
        float* yi = y + size_t(i) * size_t(out);
        for (int o = 0; o < out; ++o) yi[o] = 0.f;
        const int* ci = cols + size_t(i) * size_t(per_row);
        for (int k = 0; k < per_row; ++k) {
            if (ci[k] < 0) continue;
            const float* w = wt + size_t(ci[k]) * size_t(out);
            for (int o = 0; o < out; ++o) yi[o] += w[o];
        }
        if (b)
            for (int o = 0; o < out; ++o) yi[o] += b[o];
    }
}

// Wᵀ (in, out) of W (out, in).
static void transpose(float* wt, const float* w, int out, int in) {
    for (int o = 0; o < out; ++o)
        for (int c = 0; c < in; ++c) wt[size_t(c) * size_t(out) + size_t(o)] = w[size_t(o) * size_t(in) + size_t(c)];
}

Var linear_sparse(Var W, Var b, const int* cols, int n, int per_row, float* y) {
    if (!W.valid()) throw std::invalid_argument("linear_sparse: invalid weight");
    Tape& t = *W.tape;
    const Node& nw = W.node();
    const int out = nw.rows, in = nw.cols;
    if (n < 0 || per_row < 1)
        throw std::invalid_argument("linear_sparse: needs n >= 0 and per_row >= 1 (got n " + std::to_string(n) +
                                    ", per_row " + std::to_string(per_row) + ")");
    if (n > 0 && !cols) throw std::invalid_argument("linear_sparse: no columns given");
    for (size_t q = 0; q < size_t(n) * size_t(per_row); ++q)
        if (cols[q] >= in)
            throw std::invalid_argument("linear_sparse: column " + std::to_string(cols[q]) + " out of range for weight " +
                                        shape_str(nw.rows, nw.cols));
    const float* bv = nullptr;
    if (b.valid()) {
        if (b.tape != W.tape) throw std::invalid_argument("linear_sparse: weight and bias live on different tapes");
        const Node& nb = b.node();
        if (nb.rows != 1 || nb.cols != out)
            throw std::invalid_argument("linear_sparse: bias " + shape_str(nb.rows, nb.cols) + " does not match weight " +
                                        shape_str(nw.rows, nw.cols) + " (bias must be (1, out))");
        bv = nb.value;
    }
    const float* wv = nw.value;
    Var v = t.push(Op::LinearSparse, n, out, W.id, b.valid() ? b.id : -1, y);
    Node& nv = t.nodes[size_t(v.id)];
    nv.idx = cols;
    nv.iattr = per_row;
    if (!y) {
        float* wt = t.arena.floats(size_t(in) * size_t(out));
        transpose(wt, wv, out, in);
        linear_sparse_rows(nv.value, wt, bv, cols, n, per_row, out);
    }
    return v;
}

// dW[:, c] += Σ_{(i,k): cols_ik = c} dy_i (accumulated as rows of dWᵀ, then added
// transposed), db += Σ_i dy_i (in double).
void linear_sparse_backward(Tape& t, const Node& n) {
    const float* dy = n.grad;
    if (!dy) return;
    const Node& nw = t.nodes[size_t(n.a)];
    const int out = nw.rows, in = nw.cols, per_row = n.iattr;
    float* dW = nw.requires_grad ? nw.grad : nullptr;
    float* db = n.b >= 0 && t.nodes[size_t(n.b)].requires_grad ? t.nodes[size_t(n.b)].grad : nullptr;
    if (dW) {
        std::vector<float> dwt(size_t(in) * size_t(out), 0.f);
        for (int i = 0; i < n.rows; ++i) {
            const float* d = dy + size_t(i) * size_t(out);
            const int* ci = n.idx + size_t(i) * size_t(per_row);
            for (int k = 0; k < per_row; ++k) {
                if (ci[k] < 0) continue;
                float* g = dwt.data() + size_t(ci[k]) * size_t(out);
                for (int o = 0; o < out; ++o) g[o] += d[o];
            }
        }
        for (int o = 0; o < out; ++o)
            for (int c = 0; c < in; ++c) dW[size_t(o) * size_t(in) + size_t(c)] += dwt[size_t(c) * size_t(out) + size_t(o)];
    }
    if (db) {
        std::vector<double> acc(size_t(out), 0.0);
        for (int i = 0; i < n.rows; ++i) {
            const float* d = dy + size_t(i) * size_t(out);
            for (int o = 0; o < out; ++o) acc[size_t(o)] += d[o];
        }
        for (int o = 0; o < out; ++o) db[o] += float(acc[size_t(o)]);
    }
}

void FloatBuffer::resize(size_t n) {
    if (n > capacity_) {
        const size_t cap = std::max(n, 2 * capacity_);
        float* grown = static_cast<float*>(page_alloc(cap * sizeof(float)));  // no zero fill of our own
        if (size_ > 0) std::copy(data_, data_ + size_, grown);
        page_free(data_, capacity_ * sizeof(float));
        data_ = grown;
        capacity_ = cap;
    }
    size_ = n;
}

void FloatBuffer::reserve_empty(size_t n) {
    if (size_ != 0 || capacity_ >= n) return;
    page_free(data_, capacity_ * sizeof(float));
    data_ = nullptr;
    capacity_ = 0;
    data_ = static_cast<float*>(page_alloc(n * sizeof(float)));
    capacity_ = n;
}

void TrunkRecording::clear() {
    // Reallocate (while empty, so never two copies at once) only when the last
    // rollout came within a quarter of the capacity: then to twice its size.
    // Reallocating at every small growth would hand the next rollout fresh
    // pages to fault in.
    auto grow = [](FloatBuffer& v) {
        const size_t last = v.size();
        v.clear();
        if (last > 0 && v.capacity() < last + last / 4) v.reserve_empty(2 * last);
    };
    grow(input);
    for (auto& v : pre) grow(v);
    for (auto& v : post) grow(v);
    cols.clear();
    per_row = 0;
    w0t.clear();  // the weights changed since
    rows = 0;
}

// The op and attribute of an activation, as ops.h records them.
static Op activation_op(Activation a, float* attr) {
    *attr = 0.f;
    switch (a) {
        case Activation::Relu: return Op::Relu;
        case Activation::LeakyRelu: *attr = 0.01f; return Op::LeakyRelu;
        case Activation::Tanh: return Op::Tanh;
        case Activation::Elu: *attr = 1.0f; return Op::Elu;
    }
    return Op::Relu;
}

// Hidden layer l over the n rows from r0 on, input h (n, L.in): pre = h Wᵀ + b
// (or, for l = 0 with rec.per_row > 0, the gather of linear_sparse_rows), then
// post = act(pre). relu and leaky relu keep one buffer: their backward needs only
// the sign of the input, which the output has too, so the activation runs in
// place. Returns the n rows of post.
static const float* hidden_layer_rows(const MLP& net, size_t l, const float* h, const int* cols, int n, size_t r0,
                                      TrunkRecording& rec) {
    const Linear& L = net.hidden_layers[l];
    float attr;
    const Op op = activation_op(net.activation, &attr);
    const size_t H = size_t(L.out);
    const bool in_place = op == Op::Relu || op == Op::LeakyRelu;
    rec.pre[l].resize((r0 + size_t(n)) * H);
    if (!in_place) rec.post[l].resize((r0 + size_t(n)) * H);
    float* pre = rec.pre[l].data() + r0 * H;
    float* post = in_place ? pre : rec.post[l].data() + r0 * H;
    const float* b = L.store->value(L.b).data;
    if (cols) {
        linear_sparse_rows(pre, rec.w0t.data(), b, cols, n, rec.per_row, L.out);
    } else {
        // pre = h Wᵀ + b
        for (int i = 0; i < n; ++i) std::copy(b, b + H, pre + size_t(i) * H);
        gemm(false, true, n, L.out, L.in, 1.f, h, L.in, L.store->value(L.W).data, L.in, 1.f, pre, L.out);
    }
    activation_forward(op, attr, post, pre, long(n) * long(H));
    return post;
}

const float* MLP::trunk_rows(const float* x, int n, TrunkRecording& rec) const {
    const int in = hidden_layers.empty() ? output_layer.in : hidden_layers[0].in;
    if (rec.per_row > 0) throw std::logic_error("MLP::trunk_rows: the recording holds a sparse input");
    const size_t r0 = size_t(rec.rows);
    rec.input.resize((r0 + size_t(n)) * size_t(in));
    std::copy(x, x + size_t(n) * size_t(in), rec.input.data() + r0 * size_t(in));
    rec.pre.resize(hidden_layers.size());
    rec.post.resize(hidden_layers.size());
    const float* h = rec.input.data() + r0 * size_t(in);
    for (size_t l = 0; l < hidden_layers.size(); ++l) h = hidden_layer_rows(*this, l, h, nullptr, n, r0, rec);
    rec.rows += n;
    return h;
}

const float* MLP::trunk_rows_sparse(const int* cols, int per_row, int n, TrunkRecording& rec) const {
    if (hidden_layers.empty()) throw std::logic_error("MLP::trunk_rows_sparse: the network has no hidden layer");
    if (per_row < 1) throw std::invalid_argument("MLP::trunk_rows_sparse: per_row must be >= 1");
    const Linear& L0 = hidden_layers[0];
    const size_t r0 = size_t(rec.rows);
    if (r0 == 0) {
        rec.per_row = per_row;
        rec.w0t.resize(size_t(L0.in) * size_t(L0.out));
        transpose(rec.w0t.data(), L0.store->value(L0.W).data, L0.out, L0.in);
    } else if (rec.per_row != per_row) {
        throw std::logic_error("MLP::trunk_rows_sparse: the recording holds another input");
    }
    for (size_t q = 0; q < size_t(n) * size_t(per_row); ++q)
        if (cols[q] >= L0.in)
            throw std::invalid_argument("MLP::trunk_rows_sparse: column " + std::to_string(cols[q]) +
                                        " out of range for an input of " + std::to_string(L0.in));
    rec.cols.insert(rec.cols.end(), cols, cols + size_t(n) * size_t(per_row));
    rec.pre.resize(hidden_layers.size());
    rec.post.resize(hidden_layers.size());
    const float* h = hidden_layer_rows(*this, 0, nullptr, rec.cols.data() + r0 * size_t(per_row), n, r0, rec);
    for (size_t l = 1; l < hidden_layers.size(); ++l) h = hidden_layer_rows(*this, l, h, nullptr, n, r0, rec);
    rec.rows += n;
    return h;
}

Var MLP::trunk_from_recording(Tape& tape, TrunkRecording& rec) const {
    const int in = hidden_layers.empty() ? output_layer.in : hidden_layers[0].in;
    float attr;
    const Op op = activation_op(activation, &attr);
    const bool in_place = op == Op::Relu || op == Op::LeakyRelu;  // as in hidden_layer_rows
    Var h;
    size_t l0 = 0;
    if (rec.per_row > 0) {
        const Linear& L = hidden_layers[0];
        Var pre = linear_sparse(L.store->var(tape, L.W), L.store->var(tape, L.b), rec.cols.data(), rec.rows,
                                rec.per_row, rec.pre[0].data());
        h = activation_precomputed(pre, op, attr, in_place ? rec.pre[0].data() : rec.post[0].data());
        l0 = 1;
    } else {
        h = tape.constant(Tensor(rec.input.data(), rec.rows, in));
    }
    for (size_t l = l0; l < hidden_layers.size(); ++l) {
        const Linear& L = hidden_layers[l];
        Var pre = linear_precomputed(h, L.store->var(tape, L.W), L.store->var(tape, L.b), rec.pre[l].data());
        h = activation_precomputed(pre, op, attr, in_place ? rec.pre[l].data() : rec.post[l].data());
    }
    return h;
}

long long MLP::macs_per_row() const {
    long long m = (long long)output_layer.in * output_layer.out;
    for (const Linear& l : hidden_layers) m += (long long)l.in * l.out;
    return m;
}

}  // namespace gfn
