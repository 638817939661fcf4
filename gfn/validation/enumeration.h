// enumeration.h — exact answers for small state spaces.
//
// The target distribution p(x) = R(x) / Z over all terminating states x, with
// log Z = log Σ_x R(x), and the mode set. The exact terminating distribution
// of a forward policy:
//     P(s_0) = 1;  P(s') = Σ_{s → s'} P(s) PF(s' | s)        (topological order)
//     P_T(x) = P(x) · PF(exit | x)
// And the distances between distributions that validation reports.
#pragma once

#include <functional>
#include <vector>

#include "gfn/env/env.h"

namespace gfn {

struct TargetDistribution {
    std::vector<int> states;             // (n_terminal, state_dim) terminating states
    std::vector<long long> state_ids;    // their rows in env.all_states()
    std::vector<long long> terminal_of;  // all_states() row -> terminal index, or −1
    std::vector<double> log_reward;      // log R(x)
    std::vector<double> prob;            // R(x) / Z
    std::vector<uint8_t> is_mode;        // 1 for the modes
    double log_z = 0.0;                  // log Σ_x R(x)
    int n_modes = 0;
    int n_terminal() const { return int(prob.size()); }
};

// Throws std::invalid_argument when env is not enumerable. `condition`
// (condition_dim() floats) is required for conditional environments.
TargetDistribution true_distribution(const DiscreteEnv& env, const float* condition = nullptr);

// Evaluates the forward policy on n states: out is (n, n_actions) log-probabilities
// (−inf for invalid actions).
using PolicyFn = std::function<void(const int* states, int n, float* log_probs)>;

// P_T(x) for every terminating state, in the order of target.states.
std::vector<double> exact_terminating_distribution(const DiscreteEnv& env, const TargetDistribution& target,
                                                   const PolicyFn& pf);

// Σ_x |p(x) − q(x)|
double l1_distance(const std::vector<double>& p, const std::vector<double>& q);
// JSD(p, q) = ½ KL(p ‖ m) + ½ KL(q ‖ m), m = (p + q)/2, in nats.
double jensen_shannon(const std::vector<double>& p, const std::vector<double>& q);

}  // namespace gfn
