// enumeration.cpp — exact answers for small state spaces; see enumeration.h.
//
// Everything runs in chunks of kChunk states (environment calls and policy
// evaluations are batched) and accumulates in double.
#include "gfn/validation/enumeration.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace gfn {

namespace {

constexpr long long kChunk = 4096;

void check_enumerable(const DiscreteEnv& env, const char* who) {
    if (!env.enumerable())
        throw std::invalid_argument(std::string(who) + ": environment " + env.name() + " is not enumerable");
    if (env.n_states() <= 0)
        throw std::logic_error(std::string(who) + ": environment " + env.name() + " reports " +
                               std::to_string(env.n_states()) + " states");
}

}  // namespace

TargetDistribution true_distribution(const DiscreteEnv& env, const float* condition) {
    check_enumerable(env, "true_distribution");
    const int cdim = env.condition_dim();
    if (cdim > 0 && condition == nullptr)
        throw std::invalid_argument("true_distribution: environment " + env.name() +
                                    " is conditional; pass a condition (" + std::to_string(cdim) + " floats)");
    const long long N = env.n_states();
    const int D = env.state_dim(), A = env.n_actions(), exit = env.exit_action();

    std::vector<int> all(size_t(N) * D);
    env.all_states(all.data());

    TargetDistribution t;
    t.terminal_of.assign(size_t(N), -1);
    std::vector<uint8_t> mask(size_t(kChunk) * A);
    std::vector<int> chunk_states;
    std::vector<float> chunk_log_r(static_cast<size_t>(kChunk));
    std::vector<float> conditions;
    if (cdim > 0) {
        conditions.resize(size_t(kChunk) * cdim);
        for (long long i = 0; i < kChunk; ++i)
            std::copy(condition, condition + cdim, conditions.begin() + size_t(i) * cdim);
    }

    // The terminating states: those whose exit action is valid.
    for (long long b = 0; b < N; b += kChunk) {
        const int m = int(std::min(kChunk, N - b));
        const int* s = all.data() + size_t(b) * D;
        env.forward_masks(s, m, mask.data());
        chunk_states.clear();
        const size_t first = t.state_ids.size();
        for (int i = 0; i < m; ++i) {
            if (!mask[size_t(i) * A + exit]) continue;
            t.terminal_of[size_t(b + i)] = (long long)t.state_ids.size();
            t.state_ids.push_back(b + i);
            chunk_states.insert(chunk_states.end(), s + size_t(i) * D, s + size_t(i + 1) * D);
        }
        const int k = int(t.state_ids.size() - first);
        if (k == 0) continue;
        env.log_reward(chunk_states.data(), cdim > 0 ? conditions.data() : nullptr, k, chunk_log_r.data());
        t.states.insert(t.states.end(), chunk_states.begin(), chunk_states.end());
        for (int i = 0; i < k; ++i) t.log_reward.push_back(double(chunk_log_r[size_t(i)]));
    }
    const size_t T = t.state_ids.size();
    if (T == 0) throw std::logic_error("true_distribution: environment " + env.name() + " has no terminating state");

    double max_log_r = -std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < T; ++i) {
        const double lr = t.log_reward[i];
        if (std::isnan(lr) || lr == std::numeric_limits<double>::infinity())
            throw std::runtime_error("true_distribution: environment " + env.name() + " gives log R = " +
                                     std::to_string(lr) + " at state row " + std::to_string(t.state_ids[i]));
        max_log_r = std::max(max_log_r, lr);
    }
    if (max_log_r == -std::numeric_limits<double>::infinity())
        throw std::runtime_error("true_distribution: every reward of " + env.name() + " is 0 (Z = 0)");

    // log Z = max + log Σ exp(log R − max);  p(x) = exp(log R(x) − log Z)
    double sum = 0.0;
    for (size_t i = 0; i < T; ++i) sum += std::exp(t.log_reward[i] - max_log_r);
    t.log_z = max_log_r + std::log(sum);
    t.prob.resize(T);
    for (size_t i = 0; i < T; ++i) t.prob[i] = std::exp(t.log_reward[i] - t.log_z);  // exp(−inf) = 0

    // Modes: log R >= threshold; an infinite threshold means "the states of maximal reward".
    double thr = env.mode_log_reward_threshold();
    if (thr == std::numeric_limits<double>::infinity()) thr = max_log_r - 1e-9 * std::max(1.0, std::fabs(max_log_r));
    t.is_mode.resize(T);
    t.n_modes = 0;
    for (size_t i = 0; i < T; ++i) {
        t.is_mode[i] = t.log_reward[i] >= thr;
        t.n_modes += t.is_mode[i];
    }
    return t;
}

// P(s_0) = 1;  P(s') += P(s)·PF(a | s) over the valid non-exit actions, rows in
// topological order;  P_T(x) = P(x)·PF(exit | x).
std::vector<double> exact_terminating_distribution(const DiscreteEnv& env, const TargetDistribution& target,
                                                   const PolicyFn& pf) {
    check_enumerable(env, "exact_terminating_distribution");
    const long long N = env.n_states();
    const int D = env.state_dim(), A = env.n_actions(), exit = env.exit_action();
    if ((long long)target.terminal_of.size() != N)
        throw std::invalid_argument("exact_terminating_distribution: the target has " +
                                    std::to_string(target.terminal_of.size()) + " state rows, environment " +
                                    env.name() + " has " + std::to_string(N));

    std::vector<int> all(size_t(N) * D);
    env.all_states(all.data());

    std::vector<double> P(size_t(N), 0.0), PT(size_t(target.n_terminal()), 0.0);
    std::vector<int> s0(static_cast<size_t>(D));
    env.initial_state(s0.data());
    const long long r0 = env.state_index(s0.data());
    if (r0 < 0 || r0 >= N) throw std::logic_error("exact_terminating_distribution: s_0 has no row in all_states()");
    P[size_t(r0)] = 1.0;

    std::vector<float> log_p(size_t(kChunk) * A);
    std::vector<uint8_t> mask(size_t(kChunk) * A);
    std::vector<int> parents, actions, children;
    std::vector<long long> child_row;
    std::vector<int> pair_begin(size_t(kChunk) + 1);
    for (long long b = 0; b < N; b += kChunk) {
        const int m = int(std::min(kChunk, N - b));
        const int* s = all.data() + size_t(b) * D;
        pf(s, m, log_p.data());
        env.forward_masks(s, m, mask.data());

        // Every (state, valid non-exit action) pair of the chunk, grouped by row.
        parents.clear();
        actions.clear();
        for (int i = 0; i < m; ++i) {
            pair_begin[size_t(i)] = int(actions.size());
            for (int a = 0; a < A; ++a) {
                if (!mask[size_t(i) * A + a]) continue;
                const float lp = log_p[size_t(i) * A + a];
                if (std::isnan(lp) || lp > 1e-4f)
                    throw std::runtime_error("exact_terminating_distribution: the policy gives log PF = " +
                                             std::to_string(lp) + " to a valid action (state row " +
                                             std::to_string(b + i) + ", action " + std::to_string(a) + ")");
                if (a == exit) continue;
                parents.insert(parents.end(), s + size_t(i) * D, s + size_t(i + 1) * D);
                actions.push_back(a);
            }
        }
        const int n_pairs = int(actions.size());
        pair_begin[size_t(m)] = n_pairs;
        children.resize(size_t(n_pairs) * D);
        if (n_pairs > 0) env.step(parents.data(), actions.data(), n_pairs, children.data());
        child_row.resize(size_t(n_pairs));
        for (int k = 0; k < n_pairs; ++k) child_row[size_t(k)] = env.state_index(children.data() + size_t(k) * D);

        // Rows in order: P of row r is final once every earlier row has pushed its mass.
        for (int i = 0; i < m; ++i) {
            const long long r = b + i;
            const double p = P[size_t(r)];
            const long long t = target.terminal_of[size_t(r)];
            if (t >= 0 && mask[size_t(i) * A + exit]) PT[size_t(t)] = p * std::exp(double(log_p[size_t(i) * A + exit]));
            for (int k = pair_begin[size_t(i)]; k < pair_begin[size_t(i) + 1]; ++k) {
                const long long c = child_row[size_t(k)];
                if (c <= r || c >= N)
                    throw std::logic_error("exact_terminating_distribution: environment " + env.name() +
                                           ": child row " + std::to_string(c) + " of row " + std::to_string(r) +
                                           " is not after it (all_states() must be in topological order)");
                if (p != 0.0) P[size_t(c)] += p * std::exp(double(log_p[size_t(i) * A + actions[size_t(k)]]));
            }
        }
    }
    return PT;
}

double l1_distance(const std::vector<double>& p, const std::vector<double>& q) {
    if (p.size() != q.size())
        throw std::invalid_argument("l1_distance: sizes differ (" + std::to_string(p.size()) + " vs " +
                                    std::to_string(q.size()) + ")");
    double sum = 0.0;
    for (size_t i = 0; i < p.size(); ++i) sum += std::fabs(p[i] - q[i]);
    return sum;
}

// Σ_x ½ p log(p/m) + ½ q log(q/m), m = (p + q)/2, with 0·log 0 = 0.
double jensen_shannon(const std::vector<double>& p, const std::vector<double>& q) {
    if (p.size() != q.size())
        throw std::invalid_argument("jensen_shannon: sizes differ (" + std::to_string(p.size()) + " vs " +
                                    std::to_string(q.size()) + ")");
    double sum = 0.0;
    for (size_t i = 0; i < p.size(); ++i) {
        const double m = 0.5 * (p[i] + q[i]);
        if (p[i] > 0.0) sum += 0.5 * p[i] * std::log(p[i] / m);
        if (q[i] > 0.0) sum += 0.5 * q[i] * std::log(q[i] / m);
    }
    return std::max(0.0, sum);
}

}  // namespace gfn
