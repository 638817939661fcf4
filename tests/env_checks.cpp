// env_checks.cpp — see env_checks.h.
#include "tests/env_checks.h"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>

namespace gfn::testing {

namespace {

uint64_t mix(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

// Adds, per terminal state, the probability of every trajectory from s (reached with probability p).
void all_trajectories(const DiscreteEnv& env, const PolicyFn& pf, const std::vector<int>& s, double p,
                      std::map<long long, double>& terminal_mass) {
    const int A = env.n_actions();
    std::vector<float> lp(static_cast<size_t>(A));
    std::vector<uint8_t> mask(static_cast<size_t>(A));
    pf(s.data(), 1, lp.data());
    env.forward_masks(s.data(), 1, mask.data());
    if (mask[size_t(A - 1)]) terminal_mass[env.state_index(s.data())] += p * std::exp(double(lp[size_t(A - 1)]));
    for (int a = 0; a < A - 1; ++a) {
        if (!mask[size_t(a)]) continue;
        std::vector<int> child(s.size());
        env.step(s.data(), &a, 1, child.data());
        all_trajectories(env, pf, child, p * std::exp(double(lp[size_t(a)])), terminal_mass);
    }
}

}  // namespace

float log_reward_at(const DiscreteEnv& env, std::vector<int> x) {
    float out = 0.0f;
    env.log_reward(x.data(), nullptr, 1, &out);
    return out;
}

float log_reward_at(const DiscreteEnv& env, std::vector<int> x, float c) {
    float out = 0.0f;
    env.log_reward(x.data(), &c, 1, &out);
    return out;
}

PolicyFn hashed_policy(const DiscreteEnv& env) {
    return [&env](const int* states, int n, float* log_probs) {
        const int D = env.state_dim(), A = env.n_actions();
        std::vector<uint8_t> mask(size_t(n) * A);
        env.forward_masks(states, n, mask.data());
        std::vector<double> logits(static_cast<size_t>(A));
        for (int i = 0; i < n; ++i) {
            uint64_t h = 1469598103934665603ULL;
            for (int j = 0; j < D; ++j) h = mix(h ^ uint64_t(uint32_t(states[size_t(i) * D + j])) ^ (uint64_t(j) << 40));
            double mx = -INFINITY;
            for (int a = 0; a < A; ++a) {
                logits[size_t(a)] = mask[size_t(i) * A + a]
                                        ? -2.0 + 4.0 * double(mix(h + uint64_t(a) + 1) >> 11) / 9007199254740992.0
                                        : -INFINITY;
                mx = std::max(mx, logits[size_t(a)]);
            }
            double sum = 0.0;
            for (int a = 0; a < A; ++a) sum += std::exp(logits[size_t(a)] - mx);
            for (int a = 0; a < A; ++a) log_probs[size_t(i) * A + a] = float(logits[size_t(a)] - mx - std::log(sum));
        }
    };
}

std::map<long long, double> terminating_distribution_by_brute_force(const DiscreteEnv& env, const PolicyFn& pf) {
    std::vector<int> s0(size_t(env.state_dim()));
    env.initial_state(s0.data());
    std::map<long long, double> brute;
    all_trajectories(env, pf, s0, 1.0, brute);
    return brute;
}

void check_exact_terminating_distribution(const DiscreteEnv& env) {
    TargetDistribution t = true_distribution(env);
    PolicyFn pf = hashed_policy(env);
    std::vector<double> exact = exact_terminating_distribution(env, t, pf);
    std::map<long long, double> brute = terminating_distribution_by_brute_force(env, pf);
    BOOST_TEST(brute.size() == size_t(t.n_terminal()));
    for (int i = 0; i < t.n_terminal(); ++i)
        BOOST_TEST(std::fabs(exact[size_t(i)] - brute[t.state_ids[size_t(i)]]) < 1e-9);
    BOOST_TEST(std::accumulate(exact.begin(), exact.end(), 0.0) == 1.0, boost::test_tools::tolerance(1e-6));
    BOOST_TEST(l1_distance(exact, t.prob) > 0.01);
}

}  // namespace gfn::testing
