// continuous_policy.cpp — see continuous_policy.h.
#include "gfn/estimators/continuous_policy.h"

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "engine/distributions.h"
#include "engine/ops.h"

namespace gfn {

GaussianStepPolicy::GaussianStepPolicy(const ContinuousEnv& env, bool backward, ParamStore& store,
                                       const NetConfig& cfg, Rng& rng, const std::string& name, float std_min,
                                       float std_max)
    : env_(env), backward_(backward), store_(&store), std_min_(std_min), std_max_(std_max) {
    if (!(std_min > 0.f && std_min < std_max))
        throw std::invalid_argument("GaussianStepPolicy: need 0 < std_min < std_max, got " + num_str(std_min) +
                                    " and " + num_str(std_max));
    net_ = MLP(store, name, env.state_dim(), 2 * env.action_dim(), cfg.hidden, cfg.n_hidden_layers, cfg.activation,
               rng);
}

void GaussianStepPolicy::mean_std(Tape& tape, const float* states, int n, Var* mean, Var* std) const {
    const int A = env_.action_dim();
    Var out = net_.forward(tape.constant_copy(states, n, env_.state_dim()));  // (n, 2A): [μ | raw σ]
    *mean = slice_cols(out, 0, A);
    // σ = σ_min + (σ_max − σ_min)·sigmoid(raw)
    *std = add_scalar(scale(sigmoid(slice_cols(out, A, 2 * A)), std_max_ - std_min_), std_min_);
}

Var ContinuousPolicy::sample_and_log_prob(Tape& tape, const float* states, int n, float exploration_std, Rng& rng,
                                          float* actions, uint8_t* is_exit) const {
    sample(tape, states, n, exploration_std, rng, actions, is_exit);
    return log_prob(tape, states, actions, is_backward() ? nullptr : is_exit, n);
}

Var spread_log_probs(Tape& tape, Var lp, const std::vector<int>& moving, int n) {
    const int m = int(moving.size());
    if (m == n && m > 0) return lp;
    Var zero = tape.constant_copy(std::vector<float>{0.f}.data(), 1, 1);
    int* idx = tape.arena.ints(size_t(n) + 1);
    if (m == 0) {
        for (int k = 0; k < n; ++k) idx[k] = 0;
        return index_rows(zero, idx, n);
    }
    Var parts[2] = {lp, zero};
    Var all = concat_rows(parts, 2);  // (m + 1, 1): row m is the forced steps' 0
    for (int k = 0; k < n; ++k) idx[k] = m;
    for (int j = 0; j < m; ++j) idx[moving[size_t(j)]] = j;
    return index_rows(all, idx, n);
}

void check_scored_step(const ContinuousEnv& env, bool backward, const float* s, bool exit, int k) {
    const std::string at = " (step " + std::to_string(k) + ")";
    if (backward) {
        if (exit) throw std::invalid_argument(env.name() + ": a backward policy never exits" + at);
        if (env.is_initial(s)) throw std::invalid_argument(env.name() + ": a backward move into s_0" + at);
        return;
    }
    if (exit && !env.exit_allowed(s))
        throw std::invalid_argument(env.name() + ": an exit at a state where the exit is not allowed" + at);
    if (!exit && env.exit_forced(s))
        throw std::invalid_argument(env.name() + ": a move at a state where the exit is forced" + at);
}

Var draw_gaussian_moves(Tape& tape, Var mean, Var std, float exploration_std, Rng& rng,
                        const std::vector<int>& moving, int n, float* actions, bool with_log_prob) {
    const int m = int(moving.size()), A = mean.value().cols;
    // std_b = √(std² + s²)
    float* sb = tape.arena.floats(size_t(m) * A);
    const float* sv = std.value().data;
    const float s2 = exploration_std * exploration_std;
    for (size_t j = 0; j < size_t(m) * A; ++j) sb[j] = std::sqrt(sv[j] * sv[j] + s2);
    float* drawn = tape.arena.floats(size_t(m) * A);
    {
        NoGrad ng(tape);
        DiagonalGaussian behaviour(mean, tape.constant(Tensor(sb, m, A)));
        behaviour.sample(rng, drawn);
    }
    for (int j = 0; j < m; ++j)
        std::memcpy(actions + size_t(moving[size_t(j)]) * A, drawn + size_t(j) * A, sizeof(float) * size_t(A));
    if (!with_log_prob) return Var();
    // log p of the draw under the unexplored policy N(μ, std²)
    DiagonalGaussian policy(mean, std);
    return spread_log_probs(tape, policy.log_prob(tape.constant(Tensor(drawn, m, A))), moving, n);
}

Var GaussianStepPolicy::log_prob(Tape& tape, const float* states, const float* actions, const uint8_t* is_exit,
                                 int n) const {
    const int D = env_.state_dim(), A = env_.action_dim();
    // Rows with a density (moves that are not forced) are packed; forced steps
    // (and the forced exit) take log p = 0.
    std::vector<int> moving;
    for (int k = 0; k < n; ++k) {
        const float* s = states + size_t(k) * D;
        const bool exit = is_exit && is_exit[k];
        check_scored_step(env_, backward_, s, exit, k);
        if (exit && !forced(s))
            throw std::invalid_argument("GaussianStepPolicy: an unforced exit (its environment needs an exit "
                                        "probability, which this policy does not have)");
        if (!exit && !forced(s)) moving.push_back(k);
    }
    const int m = int(moving.size());
    if (m == 0) return spread_log_probs(tape, Var(), moving, n);
    float* xs = tape.arena.floats(size_t(m) * D);
    float* as = tape.arena.floats(size_t(m) * A);
    for (int j = 0; j < m; ++j) {
        std::memcpy(xs + size_t(j) * D, states + size_t(moving[size_t(j)]) * D, sizeof(float) * size_t(D));
        std::memcpy(as + size_t(j) * A, actions + size_t(moving[size_t(j)]) * A, sizeof(float) * size_t(A));
    }
    Var mean, std;
    mean_std(tape, xs, m, &mean, &std);
    DiagonalGaussian dist(mean, std);
    return spread_log_probs(tape, dist.log_prob(tape.constant(Tensor(as, m, A))), moving, n);  // (m, 1) -> (n, 1)
}

void GaussianStepPolicy::sample(Tape& tape, const float* states, int n, float exploration_std, Rng& rng,
                                float* actions, uint8_t* is_exit) const {
    NoGrad ng(tape);
    draw(tape, states, n, exploration_std, rng, actions, is_exit, false);
}

Var GaussianStepPolicy::sample_and_log_prob(Tape& tape, const float* states, int n, float exploration_std, Rng& rng,
                                            float* actions, uint8_t* is_exit) const {
    return draw(tape, states, n, exploration_std, rng, actions, is_exit, true);
}

Var GaussianStepPolicy::draw(Tape& tape, const float* states, int n, float exploration_std, Rng& rng,
                             float* actions, uint8_t* is_exit, bool with_log_prob) const {
    const int D = env_.state_dim(), A = env_.action_dim();
    std::vector<int> moving;
    for (int k = 0; k < n; ++k) {
        const float* s = states + size_t(k) * D;
        is_exit[k] = 0;
        if (!forced(s)) { moving.push_back(k); continue; }
        if (backward_) {
            env_.backward_forced_action(s, actions + size_t(k) * A);
        } else {
            is_exit[k] = 1;
            for (int j = 0; j < A; ++j) actions[size_t(k) * A + j] = NAN;
        }
    }
    const int m = int(moving.size());
    if (m == 0) return with_log_prob ? spread_log_probs(tape, Var(), moving, n) : Var();
    float* xs = tape.arena.floats(size_t(m) * D);
    for (int j = 0; j < m; ++j)
        std::memcpy(xs + size_t(j) * D, states + size_t(moving[size_t(j)]) * D, sizeof(float) * size_t(D));
    Var mean, std;
    mean_std(tape, xs, m, &mean, &std);
    return draw_gaussian_moves(tape, mean, std, exploration_std, rng, moving, n, actions, with_log_prob);
}

}  // namespace gfn
