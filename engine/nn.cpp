// nn.cpp — see nn.h.
#include "engine/nn.h"

#include <cmath>
#include <cstring>
#include <stdexcept>

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

long long MLP::macs_per_row() const {
    long long m = (long long)output_layer.in * output_layer.out;
    for (const Linear& l : hidden_layers) m += (long long)l.in * l.out;
    return m;
}

}  // namespace gfn
