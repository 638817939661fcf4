// batches.cpp — see batches.h.
#include "tests/batches.h"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "gfn/samplers/sampler.h"

namespace gfn::testing {

std::vector<int> row(const int* s, int d) { return std::vector<int>(s, s + d); }

Trajectories make_batch(const DiscreteEnv& env, const std::vector<std::vector<int>>& states,
                        const std::vector<std::vector<int>>& actions) {
    const int n = int(actions.size()), D = env.state_dim();
    int max_len = 0;
    for (const auto& a : actions) max_len = std::max(max_len, int(a.size()));
    Trajectories tr;
    tr.allocate(n, max_len, D, 0);
    for (int i = 0; i < n; ++i) {
        const int L = int(actions[size_t(i)].size());
        tr.lengths[size_t(i)] = L;
        for (int t = 0; t < L; ++t) {
            for (int j = 0; j < D; ++j) tr.state(t, i)[j] = states[size_t(i)][size_t(t * D + j)];
            tr.actions[size_t(t) * n + size_t(i)] = actions[size_t(i)][size_t(t)];
        }
    }
    tr.index_steps();
    compute_log_rewards(env, tr);
    return tr;
}

void check_complete_trajectories(const DiscreteEnv& env, const Trajectories& tr,
                                 const CompleteTrajectoryChecks& checks) {
    const int D = env.state_dim(), A = env.n_actions();
    BOOST_REQUIRE_EQUAL(tr.state_dim, D);
    if (checks.condition_dim) BOOST_REQUIRE_EQUAL(tr.condition_dim, env.condition_dim());
    std::vector<int> s0(static_cast<size_t>(D));
    env.initial_state(s0.data());
    int total = 0;
    for (int i = 0; i < tr.n; ++i) {
        const int L = tr.lengths[size_t(i)];
        BOOST_REQUIRE(L >= 1 && L <= tr.max_length && L <= env.max_trajectory_length());
        total += L;
        BOOST_CHECK(row(tr.state(0, i), D) == s0);
        for (int t = 0; t < L; ++t) {
            const int a = tr.action(t, i);
            BOOST_REQUIRE(a >= 0 && a < A);
            std::vector<uint8_t> mask(static_cast<size_t>(A));
            env.forward_masks(tr.state(t, i), 1, mask.data());
            BOOST_CHECK_MESSAGE(mask[size_t(a)], "trajectory " << i << " step " << t << ": invalid action " << a);
            if (t < L - 1) {
                BOOST_REQUIRE(a != env.exit_action());
                std::vector<int> next(static_cast<size_t>(D));
                env.step(tr.state(t, i), &a, 1, next.data());
                BOOST_CHECK(row(tr.state(t + 1, i), D) == next);
            } else {
                BOOST_CHECK_EQUAL(a, env.exit_action());
            }
        }
        for (int t = L; t < tr.max_length; ++t) BOOST_CHECK_EQUAL(tr.action(t, i), -1);
        if (checks.padding_states)
            for (int t = L; t <= tr.max_length; ++t)
                BOOST_CHECK(row(tr.state(t, i), D) == std::vector<int>(size_t(D), -1));
        if (checks.log_rewards) {
            float lr = 0.f;
            env.log_reward(tr.terminal_state(i), tr.condition(i), 1, &lr);
            BOOST_CHECK_EQUAL(tr.log_rewards[size_t(i)], lr);
        }
    }
    BOOST_CHECK_EQUAL(tr.n_steps(), total);
    BOOST_CHECK_EQUAL(tr.n_bsteps(), total - tr.n);
}

bool same_trajectory(const Trajectories& a, int i, const Trajectories& b, int j) {
    if (a.lengths[size_t(i)] != b.lengths[size_t(j)] || a.log_rewards[size_t(i)] != b.log_rewards[size_t(j)])
        return false;
    for (int t = 0; t < a.lengths[size_t(i)]; ++t)
        if (row(a.state(t, i), a.state_dim) != row(b.state(t, j), b.state_dim) || a.action(t, i) != b.action(t, j))
            return false;
    for (int k = 0; k < a.condition_dim; ++k)
        if (a.condition(i)[k] != b.condition(j)[k]) return false;
    return true;
}

void expect_freq(double got, double p, int N, const std::string& what) {
    const double tol = 5.0 * std::sqrt(p * (1.0 - p) / N) + 1e-12;
    BOOST_CHECK_MESSAGE(std::fabs(got - p) <= tol, what << ": frequency " << got << ", want " << p << " ± " << tol);
}

}  // namespace gfn::testing
