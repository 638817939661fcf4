// estimators.cpp — see estimators.h.
#include "gfn/estimators/estimators.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "engine/blas.h"
#include "engine/ops.h"
#include "gfn/samplers/state_index.h"

namespace gfn {

// The condition as the networks see it: for each condition value c, c itself
// and sin(kπc), cos(kπc) for k = 1..4 (Fourier features), so that targets that
// change sharply with c (ConditionalHyperGrid near c = 1) are easy to fit.
constexpr int kConditionFeatures = 9;

// Whether net's first layer takes pre's output by the columns of its ones
// (linear_sparse): a one-hot / K-hot input and a hidden layer to take it. Same
// values up to float rounding, without the (n, in) input or its GEMM.
static bool sparse_input(const Preprocessor& pre, const MLP& net) {
    return pre.active_per_row() > 0 && !net.hidden_layers.empty();
}

// The distinct states among n (each D ints), in the order first seen, copied
// to the arena, and each row's distinct row: worth evaluating a function of the
// state on when at least a fifth of the rows repeat (false otherwise, or for
// batches too small to gain).
struct DistinctRows {
    const int* states = nullptr;  // (count, D)
    const int* row_of = nullptr;  // (n)
    int count = 0;
};
static bool distinct_rows(Tape& tape, const int* states, int n, int D, DistinctRows& out) {
    if (n < 32) return false;
    thread_local StateIndex index;  // reused: its table keeps its size between calls
    index.clear(D);
    int* row_of = tape.arena.ints(size_t(n));
    for (int i = 0; i < n; ++i) row_of[i] = index.find_or_insert(states + size_t(i) * size_t(D));
    const int u = index.size();
    if (5 * size_t(u) > 4 * size_t(n)) return false;
    int* uniq = tape.arena.ints(size_t(u) * size_t(D));
    std::memcpy(uniq, index.state(0), sizeof(int) * size_t(u) * size_t(D));
    out = DistinctRows{uniq, row_of, u};
    return true;
}

static Var condition_features(Tape& tape, const float* conditions, int n, int C) {
    float* f = tape.arena.floats(size_t(n) * size_t(C) * kConditionFeatures + 1);
    for (size_t q = 0; q < size_t(n) * size_t(C); ++q) {
        const float c = conditions[q];
        float* out = f + q * kConditionFeatures;
        out[0] = c;
        for (int k = 1; k <= 4; ++k) {
            out[2 * k - 1] = std::sin(3.14159265358979f * float(k) * c);
            out[2 * k] = std::cos(3.14159265358979f * float(k) * c);
        }
    }
    return tape.constant(Tensor(f, n, C * kConditionFeatures));
}

std::unique_ptr<PolicyEstimator> PolicyEstimator::mlp(const DiscreteEnv& env, const Preprocessor& pre,
                                                      bool backward, ParamStore& store, const NetConfig& cfg,
                                                      Rng& rng, const std::string& name) {
    std::unique_ptr<PolicyEstimator> p(new PolicyEstimator(env, backward, Kind::Mlp));
    p->distinct_states_ = cfg.distinct_states;
    p->pre_ = &pre;
    p->store_ = &store;
    p->net_ = MLP(store, name, pre.output_dim(), p->n_outputs(), cfg.hidden, cfg.n_hidden_layers,
                  cfg.activation, rng);
    return p;
}

std::unique_ptr<PolicyEstimator> PolicyEstimator::conditional(const DiscreteEnv& env, const Preprocessor& pre,
                                                              bool backward, ParamStore& store,
                                                              const NetConfig& cfg, Rng& rng,
                                                              const std::string& name) {
    if (env.condition_dim() <= 0)
        throw std::invalid_argument("conditional estimator: environment " + env.name() + " has no condition");
    std::unique_ptr<PolicyEstimator> p(new PolicyEstimator(env, backward, Kind::Conditional));
    p->distinct_states_ = cfg.distinct_states;
    p->pre_ = &pre;
    p->store_ = &store;
    p->state_net_ = MLP(store, name + ".state", pre.output_dim(), cfg.hidden, cfg.hidden, cfg.n_hidden_layers,
                        cfg.activation, rng);
    p->cond_net_ = MLP(store, name + ".condition", env.condition_dim() * kConditionFeatures, cfg.hidden, cfg.hidden,
                       cfg.n_hidden_layers, cfg.activation, rng);
    p->net_ = MLP(store, name + ".final", 2 * cfg.hidden, p->n_outputs(), cfg.hidden, cfg.n_hidden_layers,
                  cfg.activation, rng);
    return p;
}

std::unique_ptr<PolicyEstimator> PolicyEstimator::tied(const PolicyEstimator& pf, ParamStore& store, Rng& rng,
                                                       const std::string& name) {
    if (pf.kind_ != Kind::Mlp && pf.kind_ != Kind::Conditional)
        throw std::invalid_argument("tied PB: the PF must own a network");
    if (pf.net_.hidden_layers.empty())
        throw std::invalid_argument("tied PB: the PF network has no hidden layer to share (use --layers >= 1)");
    std::unique_ptr<PolicyEstimator> p(new PolicyEstimator(pf.env_, true, Kind::Tied));
    p->pre_ = pf.pre_;
    p->store_ = &store;
    p->tied_to_ = &pf;
    p->head_ = Linear(store, name + ".out", pf.net_.hidden_dim(), p->n_outputs(), rng);
    return p;
}

std::unique_ptr<PolicyEstimator> PolicyEstimator::uniform(const DiscreteEnv& env, bool backward) {
    return std::unique_ptr<PolicyEstimator>(new PolicyEstimator(env, backward, Kind::Uniform));
}

int PolicyEstimator::n_outputs() const { return backward_ ? env_.n_backward_actions() : env_.n_actions(); }

Var IndexedTrunk::index(Var per_row) const { return row_of ? index_rows(per_row, row_of, n) : per_row; }

Var PolicyEstimator::trunk(Tape& tape, const int* states, const float* conditions, int n) const {
    // h_i = trunk(s_i) = trunk(u)[row(i)], u the distinct states
    const IndexedTrunk t = trunk_indexed(tape, states, conditions, n);
    return t.index(t.h);
}

IndexedTrunk PolicyEstimator::trunk_indexed(Tape& tape, const int* states, const float* conditions, int n) const {
    const PolicyEstimator& o = trunk_owner();
    if (o.kind_ == Kind::Uniform) throw std::logic_error("uniform PB has no trunk");
    DistinctRows d;
    if (o.distinct_states_ && !conditions && distinct_rows(tape, states, n, o.env_.state_dim(), d))
        return IndexedTrunk{o.trunk_every_row(tape, d.states, nullptr, d.count), d.states, d.count, d.row_of, n};
    return IndexedTrunk{o.trunk_every_row(tape, states, conditions, n), states, n, nullptr, n};
}

Var PolicyEstimator::trunk_every_row(Tape& tape, const int* states, const float* conditions, int n) const {
    if (kind_ == Kind::Mlp && sparse_input(*pre_, net_)) {
        // A one-hot / K-hot input by the columns of its ones: never materialised.
        const int k = pre_->active_per_row();
        int* cols = tape.arena.ints(size_t(n) * size_t(k) + 1);
        pre_->active_columns(states, n, cols);
        return net_.trunk_sparse(tape, cols, k, n);
    }
    float* x = tape.arena.floats(size_t(n) * size_t(pre_->output_dim()));
    pre_->apply(states, n, x);
    Var in = tape.constant(Tensor(x, n, pre_->output_dim()));
    if (kind_ == Kind::Mlp) return net_.trunk(in);
    // Conditional: final.trunk([state_net(x) | cond_net(c)])
    if (!conditions) throw std::invalid_argument("conditional estimator called without conditions");
    Var c = condition_features(tape, conditions, n, env_.condition_dim());
    return net_.trunk(concat_cols(state_net_.forward(in), cond_net_.forward(c)));
}

void PolicyEstimator::logits_rows(const int* states, int n, TrunkRecording& rec, std::vector<float>& scratch,
                                  float* logits) const {
    if (kind_ != Kind::Mlp) throw std::logic_error("logits_rows: only an Mlp policy records its trunk");
    const float* h;
    if (sparse_input(*pre_, net_)) {
        const int k = pre_->active_per_row();
        std::vector<int> cols(size_t(n) * size_t(k));
        pre_->active_columns(states, n, cols.data());
        h = net_.trunk_rows_sparse(cols.data(), k, n, rec);
    } else {
        scratch.resize(size_t(n) * size_t(pre_->output_dim()));
        pre_->apply(states, n, scratch.data());
        h = net_.trunk_rows(scratch.data(), n, rec);
    }
    // logits = h Woutᵀ + b
    const Linear& o = net_.output_layer;
    const float* b = o.store->value(o.b).data;
    for (int i = 0; i < n; ++i) std::copy(b, b + o.out, logits + size_t(i) * size_t(o.out));
    gemm(false, true, n, o.out, o.in, 1.f, h, o.in, o.store->value(o.W).data, o.in, 1.f, logits, o.out);
}

Var PolicyEstimator::head(Var h) const {
    switch (kind_) {
        case Kind::Mlp:
        case Kind::Conditional: return net_.head(h);
        case Kind::Tied: return head_.forward(h);
        case Kind::Uniform: break;
    }
    throw std::logic_error("uniform PB has no head");
}

Var PolicyEstimator::log_probs_from_trunk(Var h, Tape& tape, const int* states, int n,
                                          const PolicyOptions& opt) const {
    const int k = n_outputs();
    uint8_t* mask = tape.arena.bytes(size_t(n) * size_t(k));
    if (backward_) env_.backward_masks(states, n, mask);
    else env_.forward_masks(states, n, mask);
    Var logits;
    if (kind_ == Kind::Uniform) {
        float* z = tape.arena.zeros(size_t(n) * size_t(k));  // all-zero logits
        logits = tape.constant(Tensor(z, n, k));
    } else {
        logits = head(h);
    }
    // exit logit − sf_bias, then ÷ temperature
    if (!backward_ && opt.sf_bias != 0.f) {
        float* bias = tape.arena.zeros(size_t(k));
        bias[k - 1] = -opt.sf_bias;
        logits = add(logits, tape.constant(Tensor(bias, 1, k)));
    }
    if (opt.temperature != 1.f) {
        if (!(opt.temperature > 0.f)) throw std::invalid_argument("policy: temperature must be > 0");
        logits = scale(logits, 1.f / opt.temperature);
    }
    Var lp = log_softmax(logits, mask);
    if (opt.epsilon > 0.f) {
        // log((1−ε)·p + ε/|valid|): a behaviour-policy transform, computed without gradient.
        if (!(opt.epsilon <= 1.f)) throw std::invalid_argument("policy: epsilon must be in [0, 1]");
        Var mixed = tape.push(Op::Leaf, n, k);
        const float* src = lp.value().data;
        float* dst = mixed.value().data;
        for (int i = 0; i < n; ++i) {
            int valid = 0;
            for (int j = 0; j < k; ++j) valid += mask[size_t(i) * k + j];
            for (int j = 0; j < k; ++j) {
                size_t q = size_t(i) * k + j;
                dst[q] = mask[q] ? std::log((1.f - opt.epsilon) * std::exp(src[q]) + opt.epsilon / float(valid))
                                 : -INFINITY;
            }
        }
        return mixed;
    }
    return lp;
}

Var PolicyEstimator::log_probs(Tape& tape, const int* states, const float* conditions, int n,
                               const PolicyOptions& opt) const {
    if (kind_ == Kind::Uniform) return log_probs_from_trunk(Var(), tape, states, n, opt);
    // log_probs(s_k) = log_probs(u)[row(k)]: network, masks and options once per distinct state
    return log_probs_from_trunk(trunk_indexed(tape, states, conditions, n), tape, opt);
}

Var PolicyEstimator::log_probs_from_trunk(const IndexedTrunk& t, Tape& tape, const PolicyOptions& opt) const {
    return t.index(log_probs_from_trunk(t.h, tape, t.states, t.rows, opt));
}

Var PolicyEstimator::log_probs_of(Tape& tape, const int* states, const float* conditions, const int* actions,
                                  int n) const {
    auto gather_actions = [&](Var lp) {  // gather keeps its index array: a copy in the arena
        int* a = tape.arena.ints(size_t(n) + 1);
        std::memcpy(a, actions, sizeof(int) * size_t(n));
        return gather(lp, a);
    };
    if (kind_ == Kind::Uniform) return gather_actions(log_probs_from_trunk(Var(), tape, states, n));
    const IndexedTrunk t = trunk_indexed(tape, states, conditions, n);
    Var lp = log_probs_from_trunk(t.h, tape, t.states, t.rows);
    if (!t.row_of) return gather_actions(lp);
    // log p(a_k | s_k) = log_probs(u)[row(k), a_k]
    int* at = tape.arena.ints(2 * size_t(n));
    for (int k = 0; k < n; ++k) at[2 * k] = t.row_of[k], at[2 * k + 1] = actions[k];
    return gather_at(lp, at, n);
}

long long PolicyEstimator::trunk_macs_per_row() const {
    const PolicyEstimator& o = trunk_owner();
    if (o.kind_ == Kind::Uniform) return 0;
    long long m = 0;
    for (const Linear& l : o.net_.hidden_layers) m += (long long)l.in * l.out;
    if (o.kind_ == Kind::Conditional) m += o.state_net_.macs_per_row() + o.cond_net_.macs_per_row();
    return m;
}

long long PolicyEstimator::head_macs_per_row() const {
    switch (kind_) {
        case Kind::Mlp:
        case Kind::Conditional: return (long long)net_.output_layer.in * net_.output_layer.out;
        case Kind::Tied: return (long long)head_.in * head_.out;
        case Kind::Uniform: return 0;
    }
    return 0;
}

std::unique_ptr<StateFlowEstimator> StateFlowEstimator::mlp(const DiscreteEnv& env, const Preprocessor& pre,
                                                            ParamStore& store, const NetConfig& cfg, Rng& rng,
                                                            const std::string& name, int group) {
    if (env.condition_dim() > 0)
        throw std::invalid_argument("log F estimator: for a conditional environment use a head on the "
                                    "conditional policy's trunk (StateFlowEstimator::tied)");
    std::unique_ptr<StateFlowEstimator> f(new StateFlowEstimator());
    f->env_ = &env;
    f->pre_ = &pre;
    f->distinct_states_ = cfg.distinct_states;
    f->net_ = MLP(store, name, pre.output_dim(), 1, cfg.hidden, cfg.n_hidden_layers, cfg.activation, rng, group);
    return f;
}

std::unique_ptr<StateFlowEstimator> StateFlowEstimator::tied(const PolicyEstimator& policy, ParamStore& store,
                                                             Rng& rng, const std::string& name, int group) {
    const PolicyEstimator& owner = policy.trunk_owner();
    if (owner.kind() != PolicyEstimator::Kind::Mlp && owner.kind() != PolicyEstimator::Kind::Conditional)
        throw std::invalid_argument("tied log F: the policy must own a network");
    std::unique_ptr<StateFlowEstimator> f(new StateFlowEstimator());
    f->env_ = &owner.env();
    f->policy_ = &owner;
    Tape probe;  // the trunk width, read off a one-row evaluation
    std::vector<int> s(size_t(owner.env().state_dim()));
    owner.env().initial_state(s.data());
    std::vector<float> c(size_t(owner.env().condition_dim()), 0.f);
    NoGrad ng(probe);
    const int width = owner.trunk(probe, s.data(), c.empty() ? nullptr : c.data(), 1).cols();
    f->head_ = Linear(store, name + ".out", width, 1, rng, group);
    return f;
}

Var StateFlowEstimator::forward(Tape& tape, const int* states, const float* conditions, int n) const {
    if (policy_) return forward_from_trunk(policy_->trunk_indexed(tape, states, conditions, n));
    DistinctRows d;
    if (distinct_states_ && distinct_rows(tape, states, n, env_->state_dim(), d))
        return index_rows(forward_every_row(tape, d.states, d.count), d.row_of, n);
    return forward_every_row(tape, states, n);
}

Var StateFlowEstimator::forward_every_row(Tape& tape, const int* states, int n) const {
    if (sparse_input(*pre_, net_)) {
        const int k = pre_->active_per_row();
        int* cols = tape.arena.ints(size_t(n) * size_t(k) + 1);
        pre_->active_columns(states, n, cols);
        return net_.head(net_.trunk_sparse(tape, cols, k, n));
    }
    float* x = tape.arena.floats(size_t(n) * size_t(pre_->output_dim()));
    pre_->apply(states, n, x);
    return net_.forward(tape.constant(Tensor(x, n, pre_->output_dim())));
}

Var StateFlowEstimator::forward_from_trunk(Var h) const {
    if (!policy_) throw std::logic_error("log F: forward_from_trunk needs a tied estimator");
    return head_.forward(h);
}

long long StateFlowEstimator::macs_per_row() const {
    if (policy_) return (long long)head_.in * head_.out;
    return net_.macs_per_row();
}

ScalarEstimator::ScalarEstimator(ParamStore& store, float init, int group, const std::string& name)
    : store_(&store) {
    param_ = store.add(name, 1, 1, group);
    store.value(param_).data[0] = init;
}

ScalarEstimator::ScalarEstimator(ParamStore& store, int condition_dim, const NetConfig& cfg, Rng& rng, int group,
                                 const std::string& name)
    : store_(&store), conditional_(true), condition_dim_(condition_dim) {
    net_ = MLP(store, name, condition_dim * kConditionFeatures, 1, cfg.hidden, cfg.n_hidden_layers, cfg.activation, rng,
               group);
}

Var ScalarEstimator::forward(Tape& tape, const float* conditions, int n) const {
    if (!conditional_) return store_->var(tape, param_);
    if (!conditions) throw std::invalid_argument("conditional log Z called without conditions");
    return net_.forward(condition_features(tape, conditions, n, condition_dim_));
}

float ScalarEstimator::value() const {
    if (conditional_) throw std::logic_error("a conditional log Z has no single value");
    return store_->value(param_).data[0];
}

void ScalarEstimator::set_value(float v) {
    if (conditional_) throw std::logic_error("a conditional log Z has no single value");
    store_->value(param_).data[0] = v;
}

}  // namespace gfn
