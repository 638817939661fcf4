// test_discrete_ebm.cpp — the DiscreteEBM environment and its Ising instance: masks,
// steps, rewards by hand, enumeration order, the true distribution and the exact
// terminating distribution against brute force, the transfer-matrix Ising log Z
// and mean log-reward against brute-force sums, inputs and bad arguments.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "envs/discrete_ebm.h"
#include "gfn/validation/enumeration.h"
#include "gfn/estimators/preprocessors.h"
#include "tests/env_checks.h"

using namespace gfn;
using namespace gfn::testing;

namespace {

// log Σ_x R(x) and Σ_x p(x) log R(x) over the 2^d full states, in double, from energy().
std::pair<double, double> brute_force_log_z(const DiscreteEBM& env) {
    const int d = env.ndim();
    std::vector<double> lr;
    std::vector<int> x(static_cast<size_t>(d));
    for (long long b = 0; b < (1LL << d); ++b) {
        for (int j = 0; j < d; ++j) x[size_t(j)] = int((b >> j) & 1);
        lr.push_back(-env.alpha() * env.energy(x.data()));
    }
    const double mx = *std::max_element(lr.begin(), lr.end());
    double z = 0.0, m = 0.0;
    for (double v : lr) z += std::exp(v - mx);
    for (double v : lr) m += std::exp(v - mx) / z * v;
    return {mx + std::log(z), m};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(discrete_ebm)

BOOST_AUTO_TEST_CASE(shape_and_initial_state) {
    DiscreteEBM env(3);
    BOOST_TEST(env.name() == "discrete_ebm");
    BOOST_TEST(env.state_dim() == 3);
    BOOST_TEST(env.n_actions() == 7);
    BOOST_TEST(env.exit_action() == 6);
    BOOST_TEST(env.n_backward_actions() == 6);
    BOOST_TEST(env.max_trajectory_length() == 4);
    BOOST_TEST(env.n_states() == 27);
    BOOST_TEST(env.enumerable());
    BOOST_TEST(env.coordinate_min() == -1);
    BOOST_TEST(env.coordinate_count() == 3);
    BOOST_TEST(env.alpha() == 1.0);
    BOOST_TEST(env.J() == std::vector<double>(9, 1.0), boost::test_tools::per_element());
    std::vector<int> s0(3, 7);
    env.initial_state(s0.data());
    BOOST_TEST(s0 == std::vector<int>({-1, -1, -1}), boost::test_tools::per_element());
    BOOST_TEST(env.is_initial(s0.data()));
    BOOST_TEST(DiscreteEBM::ising(3).name() == "ising");
}

BOOST_AUTO_TEST_CASE(masks) {
    DiscreteEBM env(3);
    // rows: s_0, a partial state, a full state
    std::vector<int> s = {-1, -1, -1, 0, -1, 1, 1, 0, 1};
    std::vector<uint8_t> fm(3 * 7), bm(3 * 6);
    env.forward_masks(s.data(), 3, fm.data());
    env.backward_masks(s.data(), 3, bm.data());
    std::vector<uint8_t> fm_want = {1, 1, 1, 1, 1, 1, 0,   // everything but the exit
                                    0, 1, 0, 0, 1, 0, 0,   // only x_1 is free
                                    0, 0, 0, 0, 0, 0, 1};  // full: only the exit
    std::vector<uint8_t> bm_want = {0, 0, 0, 0, 0, 0,      // s_0 has no parent
                                    1, 0, 0, 0, 0, 1,      // unset x_0 (= 0) or x_2 (= 1)
                                    0, 1, 0, 1, 0, 1};
    BOOST_TEST(fm == fm_want, boost::test_tools::per_element());
    BOOST_TEST(bm == bm_want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(step_and_backward_step_round_trip) {
    DiscreteEBM env(3);
    std::vector<int> s = {-1, -1, -1, 0, -1, 1, -1, 0, 1};
    std::vector<int> a = {4, 1, 0};  // x_1 = 1, x_1 = 0, x_0 = 0
    std::vector<int> child(9), back(9);
    env.step(s.data(), a.data(), 3, child.data());
    std::vector<int> child_want = {-1, 1, -1, 0, 0, 1, 0, 0, 1};
    BOOST_TEST(child == child_want, boost::test_tools::per_element());
    env.backward_step(child.data(), a.data(), 3, back.data());
    BOOST_TEST(back == s, boost::test_tools::per_element());
    std::vector<int> t = s;  // out may alias states
    env.step(t.data(), a.data(), 3, t.data());
    BOOST_TEST(t == child_want, boost::test_tools::per_element());

    // Every valid action of every state, forward then backward, returns the state;
    // every non-initial state has exactly as many parents as set coordinates.
    std::vector<int> all(size_t(env.n_states()) * 3);
    env.all_states(all.data());
    std::vector<uint8_t> fm(7), bm(6);
    for (long long k = 0; k < env.n_states(); ++k) {
        const int* x = all.data() + k * 3;
        env.backward_masks(x, 1, bm.data());
        const int set = int(std::count_if(x, x + 3, [](int v) { return v != -1; }));
        BOOST_TEST(std::accumulate(bm.begin(), bm.end(), 0) == set);
        env.forward_masks(x, 1, fm.data());
        for (int act = 0; act < 6; ++act) {
            if (!fm[size_t(act)]) continue;
            int y[3], z[3];
            env.step(x, &act, 1, y);
            env.backward_masks(y, 1, bm.data());
            BOOST_TEST(bm[size_t(act)] == 1);
            env.backward_step(y, &act, 1, z);
            BOOST_TEST((z[0] == x[0] && z[1] == x[1] && z[2] == x[2]));
        }
    }
}

BOOST_AUTO_TEST_CASE(invalid_actions_throw) {
    DiscreteEBM env(2);
    std::vector<int> s = {0, -1}, out(2);
    int a = 0;
    BOOST_CHECK_THROW(env.step(s.data(), &a, 1, out.data()), std::invalid_argument);  // x_0 already set
    a = 2;
    BOOST_CHECK_THROW(env.step(s.data(), &a, 1, out.data()), std::invalid_argument);  // x_0 already set (to 1)
    a = 4;
    BOOST_CHECK_THROW(env.step(s.data(), &a, 1, out.data()), std::invalid_argument);  // the exit
    a = 2;
    BOOST_CHECK_THROW(env.backward_step(s.data(), &a, 1, out.data()), std::invalid_argument);  // x_0 is 0, not 1
    a = 1;
    BOOST_CHECK_THROW(env.backward_step(s.data(), &a, 1, out.data()), std::invalid_argument);  // x_1 unset
    a = -1;
    BOOST_CHECK_THROW(env.backward_step(s.data(), &a, 1, out.data()), std::invalid_argument);
    a = 0;
    BOOST_CHECK_NO_THROW(env.backward_step(s.data(), &a, 1, out.data()));
}

// J = all ones: log R = α·(Σ s_i)².
BOOST_AUTO_TEST_CASE(reward_by_hand) {
    DiscreteEBM env(3);
    BOOST_TEST(log_reward_at(env, {1, 1, 1}) == 9.0f);
    BOOST_TEST(log_reward_at(env, {0, 0, 0}) == 9.0f);
    BOOST_TEST(log_reward_at(env, {0, 1, 1}) == 1.0f);
    BOOST_TEST(log_reward_at(env, {0, 0, 1}) == 1.0f);
    int x[3] = {1, 0, 1};
    BOOST_TEST(env.energy(x) == -1.0);
    BOOST_TEST(log_reward_at(DiscreteEBM(3, 0.5), {1, 1, 1}) == 4.5f);
    BOOST_TEST(log_reward_at(DiscreteEBM(3, -2.0), {1, 1, 0}) == -2.0f);
    // sᵀJs = 2·s0·s1 − s1·s0 + 0.5·s1² = s0·s1 + 0.5 (no symmetrisation, diagonal kept)
    DiscreteEBM custom(2, 3.0, {0.0, 2.0, -1.0, 0.5});
    int y[2] = {1, 0};
    BOOST_TEST(custom.energy(y) == 0.5);
    BOOST_TEST(log_reward_at(custom, {1, 0}) == -1.5f);
    BOOST_TEST(log_reward_at(custom, {1, 1}) == 4.5f);

    // d = 2: R(00) = R(11) = e^4, R(01) = R(10) = 1, Z = 2e^4 + 2; modes 00 and 11.
    TargetDistribution t = true_distribution(DiscreteEBM(2));
    BOOST_TEST(t.n_terminal() == 4);
    BOOST_TEST(t.states == std::vector<int>({0, 0, 0, 1, 1, 0, 1, 1}), boost::test_tools::per_element());
    BOOST_TEST(t.log_z == std::log(2.0 * std::exp(4.0) + 2.0), boost::test_tools::tolerance(1e-6));
    BOOST_TEST(t.prob[1] == 1.0 / (2.0 * std::exp(4.0) + 2.0), boost::test_tools::tolerance(1e-6));
    BOOST_TEST(t.n_modes == 2);
    BOOST_TEST(t.is_mode == std::vector<uint8_t>({1, 0, 0, 1}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(enumeration_is_mixed_radix_and_topological) {
    for (int d : {1, 2, 3, 5}) {
        DiscreteEBM env(d);
        const int A = env.n_actions();
        const long long N = env.n_states();
        BOOST_TEST(N == (long long)std::pow(3, d));
        std::vector<int> all(size_t(N) * d);
        env.all_states(all.data());
        std::vector<uint8_t> mask(static_cast<size_t>(A));
        std::vector<int> child(static_cast<size_t>(d));
        for (long long k = 0; k < N; ++k) {
            const int* x = all.data() + k * d;
            long long idx = 0;
            for (int j = 0; j < d; ++j) idx = idx * 3 + (x[j] + 1);
            BOOST_TEST(idx == k);
            BOOST_TEST(env.state_index(x) == k);
            env.forward_masks(x, 1, mask.data());
            for (int a = 0; a < A - 1; ++a) {
                if (!mask[size_t(a)]) continue;
                env.step(x, &a, 1, child.data());
                BOOST_TEST(env.state_index(child.data()) > k);
            }
        }
        BOOST_TEST(env.is_initial(all.data()));  // s_0 first
        BOOST_TEST(true_distribution(env).n_terminal() == (1 << d));
    }
    DiscreteEBM env(2);
    std::vector<int> sink = {2, 2}, low = {-2, 0};
    BOOST_TEST(env.state_index(sink.data()) == -1);
    BOOST_TEST(env.state_index(low.data()) == -1);
}

BOOST_AUTO_TEST_CASE(true_distribution_against_brute_force) {
    // A non-symmetric J with mixed signs, alpha 0.3, d = 4.
    std::vector<double> J(16);
    for (int k = 0; k < 16; ++k) J[size_t(k)] = std::sin(1.7 * k + 0.3);
    DiscreteEBM env(4, 0.3, J);
    TargetDistribution t = true_distribution(env);
    BOOST_TEST(t.n_terminal() == 16);
    BOOST_TEST(std::accumulate(t.prob.begin(), t.prob.end(), 0.0) == 1.0, boost::test_tools::tolerance(1e-12));
    BOOST_TEST(t.log_z == brute_force_log_z(env).first, boost::test_tools::tolerance(1e-6));
    for (int i = 0; i < t.n_terminal(); ++i) {
        const int* x = t.states.data() + 4 * i;
        // −αE(x) by hand: α·Σ_ij J_ij s_i s_j
        double lr = 0.0;
        for (int a = 0; a < 4; ++a)
            for (int b = 0; b < 4; ++b) lr += J[size_t(a * 4 + b)] * (2 * x[a] - 1) * (2 * x[b] - 1);
        BOOST_TEST(t.prob[size_t(i)] == std::exp(0.3 * lr - t.log_z), boost::test_tools::tolerance(1e-5));
    }
    BOOST_TEST(t.n_modes >= 1);
}

BOOST_AUTO_TEST_CASE(exact_terminating_distribution_matches_all_trajectories) {
    check_exact_terminating_distribution(DiscreteEBM(3));
    check_exact_terminating_distribution(DiscreteEBM(2, 0.7));
    check_exact_terminating_distribution(DiscreteEBM::ising(2));  // 81 states, 4!·2^4 trajectories
}

BOOST_AUTO_TEST_CASE(ising_coupling_matrix_by_hand) {
    // L = 3: site 0 = (0, 0) has neighbours (0, 1) = 1, (0, 2) = 2, (1, 0) = 3, (2, 0) = 6.
    std::vector<double> J = ising_coupling_matrix(3, 0.44);
    BOOST_TEST(J.size() == 81u);
    for (int m = 0; m < 9; ++m) BOOST_TEST(J[size_t(m)] == ((m == 1 || m == 2 || m == 3 || m == 6) ? 0.44 : 0.0));
    // Site 4 = (1, 1): 3, 5, 1, 7.
    for (int m = 0; m < 9; ++m) BOOST_TEST(J[size_t(4 * 9 + m)] == ((m == 3 || m == 5 || m == 1 || m == 7) ? 0.44 : 0.0));
    for (int n = 0; n < 9; ++n) {
        BOOST_TEST(J[size_t(n * 9 + n)] == 0.0);
        int count = 0;
        for (int m = 0; m < 9; ++m) {
            BOOST_TEST(J[size_t(n * 9 + m)] == J[size_t(m * 9 + n)]);
            count += J[size_t(n * 9 + m)] != 0.0;
        }
        BOOST_TEST(count == 4);
    }
    // L = 2: the wrapped neighbours coincide; each site has 2 distinct neighbours, entries not doubled.
    std::vector<double> J2 = ising_coupling_matrix(2, 1.0);
    std::vector<double> J2_want = {0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0};
    BOOST_TEST(J2 == J2_want, boost::test_tools::per_element());
    // All spins up: log R = α·sᵀJs = 2·coupling·(number of pairs): 18 pairs for L = 3, 4 for L = 2.
    BOOST_TEST(log_reward_at(DiscreteEBM::ising(3), std::vector<int>(9, 1)) == float(2 * 0.44 * 18));
    BOOST_TEST(log_reward_at(DiscreteEBM::ising(2), std::vector<int>(4, 0)) == float(2 * 0.44 * 4));
    // A checkerboard on L = 2 (every pair anti-aligned): −3.52.
    BOOST_TEST(log_reward_at(DiscreteEBM::ising(2), {1, 0, 0, 1}) == float(-2 * 0.44 * 4));
    // The maximal-reward states are the two ground states.
    TargetDistribution t = true_distribution(DiscreteEBM::ising(3));
    BOOST_TEST(t.n_terminal() == 512);
    BOOST_TEST(t.n_modes == 2);
}

BOOST_AUTO_TEST_CASE(ising_log_partition_closed_form_l2) {
    // 2×2 periodic lattice = a 4-cycle of pairs: Z = (2 cosh c)^4 + (2 sinh c)^4, c = 2αJ.
    for (double J : {0.44, -0.3, 1.0})
        for (double alpha : {1.0, 0.5, 2.0}) {
            const double c = 2.0 * alpha * J;
            const double z = std::pow(2.0 * std::cosh(c), 4) + std::pow(2.0 * std::sinh(c), 4);
            BOOST_TEST(ising_log_partition(2, J, alpha) == std::log(z), boost::test_tools::tolerance(1e-12));
            // E[log R] = c·d(log Z)/dc = c·4·(2^4)(cosh³c sinh c + sinh³c cosh c)/Z
            const double dz = 4.0 * 16.0 * (std::pow(std::cosh(c), 3) * std::sinh(c) + std::pow(std::sinh(c), 3) * std::cosh(c));
            BOOST_TEST(ising_mean_log_reward(2, J, alpha) == c * dz / z, boost::test_tools::tolerance(1e-11));
        }
}

BOOST_AUTO_TEST_CASE(ising_transfer_matrix_against_brute_force) {
    for (int L : {2, 3, 4})
        for (double J : {0.44, -0.25})
            for (double alpha : {1.0, 0.3}) {
                DiscreteEBM env = DiscreteEBM::ising(L, J, alpha);
                const auto brute = brute_force_log_z(env);
                BOOST_TEST(ising_log_partition(L, J, alpha) == brute.first, boost::test_tools::tolerance(1e-11));
                BOOST_TEST(ising_mean_log_reward(L, J, alpha) == brute.second, boost::test_tools::tolerance(1e-9));
            }
    // Against the enumeration (float log-rewards): L = 2 and 3.
    for (int L : {2, 3}) {
        TargetDistribution t = true_distribution(DiscreteEBM::ising(L));
        BOOST_TEST(t.log_z == ising_log_partition(L, 0.44, 1.0), boost::test_tools::tolerance(1e-6));
        double mean = 0.0;
        for (int i = 0; i < t.n_terminal(); ++i) mean += t.prob[size_t(i)] * t.log_reward[size_t(i)];
        BOOST_TEST(mean == ising_mean_log_reward(L, 0.44, 1.0), boost::test_tools::tolerance(1e-5));
    }
    // No coupling: uniform, log Z = L²·log 2, E[log R] = 0.
    BOOST_TEST(ising_log_partition(5, 0.0, 1.0) == 25 * std::log(2.0), boost::test_tools::tolerance(1e-12));
    BOOST_TEST(ising_log_partition(3, 0.44, 0.0) == 9 * std::log(2.0), boost::test_tools::tolerance(1e-12));
    BOOST_TEST(ising_mean_log_reward(5, 0.0, 1.0) == 0.0);
    // Strong coupling does not overflow: log R(ground) = 2·50·0.44·18 = 792.
    DiscreteEBM strong = DiscreteEBM::ising(3, 0.44, 50.0);
    BOOST_TEST(ising_log_partition(3, 0.44, 50.0) == brute_force_log_z(strong).first, boost::test_tools::tolerance(1e-12));
    BOOST_TEST(ising_log_partition(3, 0.44, 50.0) == 792.0 + std::log(2.0), boost::test_tools::tolerance(1e-12));
    BOOST_TEST(ising_mean_log_reward(3, 0.44, 50.0) == 792.0, boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(ising_strong_coupling_in_log_space) {
    // |J| = 100 spans more than a double: against brute force, ferro- and antiferromagnetic
    // (L = 3 is frustrated for J < 0: its ground states are many and not the all-equal ones).
    for (int L : {3, 4})
        for (double J : {100.0, -100.0}) {
            const auto brute = brute_force_log_z(DiscreteEBM::ising(L, J, 1.0));
            BOOST_TEST_INFO("L " << L << " J " << J);
            BOOST_TEST(ising_log_partition(L, J, 1.0) == brute.first, boost::test_tools::tolerance(1e-12));
            BOOST_TEST(ising_mean_log_reward(L, J, 1.0) == brute.second, boost::test_tools::tolerance(1e-12));
        }
    // L = 3, J = 100: the two all-equal states, log R = 2·100·18 (18 pairs); the next
    // states lose 4 pairs (e^{−1600}): log Z = 3600 + log 2 to double precision.
    BOOST_TEST(ising_log_partition(3, 100.0, 1.0) == 3600.0 + std::log(2.0), boost::test_tools::tolerance(1e-14));
    // L = 6, J = 80 (NaN before): ground states all up / all down, log R = 2·80·72.
    const double g = 2.0 * 80.0 * 72.0;
    BOOST_TEST(std::isfinite(ising_log_partition(6, 80.0, 1.0)));
    BOOST_TEST(ising_log_partition(6, 80.0, 1.0) == g + std::log(2.0), boost::test_tools::tolerance(1e-14));
    BOOST_TEST(ising_mean_log_reward(6, 80.0, 1.0) == g, boost::test_tools::tolerance(1e-14));
    BOOST_TEST(ising_log_partition(6, -70.0, 1.0) == 2.0 * 70.0 * 72.0 + std::log(2.0),
               boost::test_tools::tolerance(1e-14));  // even L: the two checkerboards
    // Either side of the switch from linear to log space (L = 4: c = 2J, range 64|c| + 12·log 2),
    // log Z = 2·J·32 + log 2 (32 pairs; a flipped spin costs e^{−8c} ≈ e^{−86}).
    const double J_switch = (700.0 - 12.0 * std::log(2.0)) / 64.0 / 2.0;
    for (double J : {J_switch * 0.999, J_switch * 1.001})
        BOOST_TEST(ising_log_partition(4, J, 1.0) == 64.0 * J + std::log(2.0), boost::test_tools::tolerance(1e-13));
    // Past L = 10 log space is too slow: an error, and no exact target rather than NaN.
    BOOST_CHECK_THROW(ising_log_partition(11, 80.0, 1.0), std::invalid_argument);
    double lz = 0.0;
    BOOST_TEST(!DiscreteEBM::ising(11, 80.0).exact_log_partition(&lz, nullptr));
    BOOST_TEST(DiscreteEBM::ising(6, 80.0).exact_log_partition(&lz, nullptr));
    BOOST_TEST(lz == g + std::log(2.0), boost::test_tools::tolerance(1e-14));
}

BOOST_AUTO_TEST_CASE(ising_default_size_is_not_enumerable_but_has_log_z) {
    // L = 6: 3^36 states.
    DiscreteEBM env = DiscreteEBM::ising(6);
    BOOST_TEST(env.ndim() == 36);
    BOOST_TEST(env.n_actions() == 73);
    BOOST_TEST(env.max_trajectory_length() == 37);
    BOOST_TEST(!env.enumerable());
    BOOST_TEST(env.n_states() == 150094635296999121LL);  // 3^36
    BOOST_CHECK_THROW(true_distribution(env), std::invalid_argument);
    // log R ≤ 2·0.44·72 (all 72 pairs aligned), so max log R ≤ log Z ≤ max log R + 36·log 2.
    const double log_z = ising_log_partition(6, 0.44, 1.0), max_lr = 2 * 0.44 * 72;
    BOOST_TEST(log_z > max_lr);
    BOOST_TEST(log_z < max_lr + 36 * std::log(2.0));
    const double mean = ising_mean_log_reward(6, 0.44, 1.0);
    BOOST_TEST(mean < max_lr);
    BOOST_TEST(mean > 0.0);  // ferromagnetic
    BOOST_TEST(!DiscreteEBM(17).enumerable());
    BOOST_TEST(DiscreteEBM(16).enumerable());
    BOOST_TEST(DiscreteEBM(40).n_states() == -1);
}

BOOST_AUTO_TEST_CASE(inputs) {
    DiscreteEBM env(3);
    std::vector<int> s = {-1, 0, 1};
    auto pre = env.default_preprocessor();  // torchgfn's: the raw values
    BOOST_TEST(pre->output_dim() == 3);
    std::vector<float> id(3);
    pre->apply(s.data(), 1, id.data());
    BOOST_TEST(id == std::vector<float>({-1, 0, 1}), boost::test_tools::per_element());
    auto k_hot = make_preprocessor("k_hot", env);
    BOOST_TEST(k_hot->output_dim() == 9);
    std::vector<float> kh(9);
    k_hot->apply(s.data(), 1, kh.data());
    BOOST_TEST(kh == std::vector<float>({1, 0, 0, 0, 1, 0, 0, 0, 1}), boost::test_tools::per_element());
    auto one_hot = make_preprocessor("one_hot", env);
    BOOST_TEST(one_hot->output_dim() == 27);
    std::vector<float> oh(27);
    one_hot->apply(s.data(), 1, oh.data());
    for (int k = 0; k < 27; ++k) BOOST_TEST(oh[size_t(k)] == (k == 0 * 9 + 1 * 3 + 2 ? 1.0f : 0.0f));
}

BOOST_AUTO_TEST_CASE(bad_arguments_throw) {
    BOOST_CHECK_THROW(DiscreteEBM(0), std::invalid_argument);
    BOOST_CHECK_THROW(DiscreteEBM(2, NAN), std::invalid_argument);
    BOOST_CHECK_THROW(DiscreteEBM(2, 1.0, {1.0, 2.0, 3.0}), std::invalid_argument);
    BOOST_CHECK_THROW(DiscreteEBM(2, 1.0, {1.0, 2.0, INFINITY, 0.0}), std::invalid_argument);
    BOOST_CHECK_THROW(DiscreteEBM::ising(1), std::invalid_argument);
    BOOST_CHECK_THROW(DiscreteEBM::ising(3, NAN), std::invalid_argument);
    BOOST_CHECK_THROW(ising_coupling_matrix(0, 1.0), std::invalid_argument);
    BOOST_CHECK_THROW(ising_log_partition(1, 0.44, 1.0), std::invalid_argument);
    BOOST_CHECK_THROW(ising_log_partition(13, 0.44, 1.0), std::invalid_argument);
    BOOST_CHECK_THROW(ising_log_partition(3, NAN, 1.0), std::invalid_argument);
    BOOST_CHECK_THROW(ising_mean_log_reward(3, 0.44, INFINITY), std::invalid_argument);
    try {
        DiscreteEBM(2, 1.0, {1.0, 2.0, 3.0});
    } catch (const std::invalid_argument& e) {
        BOOST_TEST(std::string(e.what()) == "DiscreteEBM: J must have ndim·ndim = 4 entries (got 3)");
    }
    try {
        ising_log_partition(13, 0.44, 1.0);
    } catch (const std::invalid_argument& e) {
        BOOST_TEST(std::string(e.what()) ==
                   "ising_log_partition: L must be in [2, 12] (got 13); the transfer matrix costs O(L²·4^L)");
    }
}

BOOST_AUTO_TEST_SUITE_END()
