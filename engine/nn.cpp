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

void FloatBuffer::resize(size_t n) {
    if (n > capacity_) {
        const size_t cap = std::max(n, 2 * capacity_);
        std::unique_ptr<float[]> grown(new float[cap]);  // default-initialised: no zero fill
        if (size_ > 0) std::copy(data_.get(), data_.get() + size_, grown.get());
        data_ = std::move(grown);
        capacity_ = cap;
    }
    size_ = n;
}

void FloatBuffer::reserve_empty(size_t n) {
    if (size_ != 0 || capacity_ >= n) return;
    data_.reset();
    data_.reset(new float[n]);
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

const float* MLP::trunk_rows(const float* x, int n, TrunkRecording& rec) const {
    const int in = hidden_layers.empty() ? output_layer.in : hidden_layers[0].in;
    const size_t r0 = size_t(rec.rows);
    rec.input.resize((r0 + size_t(n)) * size_t(in));
    std::copy(x, x + size_t(n) * size_t(in), rec.input.data() + r0 * size_t(in));
    rec.pre.resize(hidden_layers.size());
    rec.post.resize(hidden_layers.size());
    float attr;
    const Op op = activation_op(activation, &attr);
    const float* h = rec.input.data() + r0 * size_t(in);
    for (size_t l = 0; l < hidden_layers.size(); ++l) {
        const Linear& L = hidden_layers[l];
        const size_t H = size_t(L.out);
        // relu and leaky relu keep one buffer: their backward needs only the sign
        // of the input, which the output has too, so the activation runs in place.
        const bool in_place = op == Op::Relu || op == Op::LeakyRelu;
        rec.pre[l].resize((r0 + size_t(n)) * H);
        if (!in_place) rec.post[l].resize((r0 + size_t(n)) * H);
        float* pre = rec.pre[l].data() + r0 * H;
        float* post = in_place ? pre : rec.post[l].data() + r0 * H;
        // pre = h Wᵀ + b, post = act(pre)
        const float* b = L.store->value(L.b).data;
        for (int i = 0; i < n; ++i) std::copy(b, b + H, pre + size_t(i) * H);
        gemm(false, true, n, L.out, L.in, 1.f, h, L.in, L.store->value(L.W).data, L.in, 1.f, pre, L.out);
        activation_forward(op, attr, post, pre, long(n) * long(H));
        h = post;
    }
    rec.rows += n;
    return h;
}

Var MLP::trunk_from_recording(Tape& tape, TrunkRecording& rec) const {
    const int in = hidden_layers.empty() ? output_layer.in : hidden_layers[0].in;
    float attr;
    const Op op = activation_op(activation, &attr);
    Var h = tape.constant(Tensor(rec.input.data(), rec.rows, in));
    for (size_t l = 0; l < hidden_layers.size(); ++l) {
        const Linear& L = hidden_layers[l];
        const bool in_place = op == Op::Relu || op == Op::LeakyRelu;  // as in trunk_rows
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
