// test_hypergrid.cpp — the HyperGrid environment: masks, steps, rewards by hand,
// enumeration order, the conditional variant, K-hot input and bad arguments.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "envs/hypergrid.h"
#include "gfn/validation/enumeration.h"
#include "gfn/estimators/preprocessors.h"
#include "tests/env_checks.h"

using namespace gfn;
using namespace gfn::testing;

namespace {

// R(x) of one state through the double-precision API.
double reward_at(const HyperGrid& env, std::vector<int> x) {
    double r = 0.0;
    env.reward(x.data(), 1, &r);
    return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(hypergrid)

BOOST_AUTO_TEST_CASE(shape_and_initial_state) {
    HyperGrid env(3, 5);
    BOOST_TEST(env.state_dim() == 3);
    BOOST_TEST(env.n_actions() == 4);
    BOOST_TEST(env.exit_action() == 3);
    BOOST_TEST(env.n_backward_actions() == 3);
    BOOST_TEST(env.max_trajectory_length() == 3 * 4 + 1);
    BOOST_TEST(env.n_states() == 125);
    BOOST_TEST(env.enumerable());
    BOOST_TEST(env.coordinate_min() == 0);
    BOOST_TEST(env.coordinate_count() == 5);
    BOOST_TEST(env.condition_dim() == 0);
    std::vector<int> s0(3, 7);
    env.initial_state(s0.data());
    BOOST_TEST(s0 == std::vector<int>({0, 0, 0}), boost::test_tools::per_element());
    BOOST_TEST(env.is_initial(s0.data()));
    std::vector<int> s1 = {0, 1, 0};
    BOOST_TEST(!env.is_initial(s1.data()));
}

BOOST_AUTO_TEST_CASE(masks) {
    HyperGrid env(2, 4);
    // rows: s_0, an interior state, a corner, an edge
    std::vector<int> s = {0, 0, 1, 2, 3, 3, 3, 0};
    std::vector<uint8_t> fm(4 * 3), bm(4 * 2);
    env.forward_masks(s.data(), 4, fm.data());
    env.backward_masks(s.data(), 4, bm.data());
    std::vector<uint8_t> fm_want = {1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 1, 1};
    std::vector<uint8_t> bm_want = {0, 0, 1, 1, 1, 1, 1, 0};
    BOOST_TEST(fm == fm_want, boost::test_tools::per_element());
    BOOST_TEST(bm == bm_want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(step_and_backward_step_round_trip) {
    HyperGrid env(3, 4);
    std::vector<int> s = {0, 0, 0, 1, 2, 3, 2, 2, 0};
    std::vector<int> a = {2, 0, 2};
    std::vector<int> child(9), back(9);
    env.step(s.data(), a.data(), 3, child.data());
    std::vector<int> child_want = {0, 0, 1, 2, 2, 3, 2, 2, 1};
    BOOST_TEST(child == child_want, boost::test_tools::per_element());
    env.backward_step(child.data(), a.data(), 3, back.data());
    BOOST_TEST(back == s, boost::test_tools::per_element());

    // out may alias states
    std::vector<int> t = s;
    env.step(t.data(), a.data(), 3, t.data());
    BOOST_TEST(t == child_want, boost::test_tools::per_element());

    // Every valid action of every state, forward then backward, returns the state.
    std::vector<int> all(size_t(env.n_states()) * 3);
    env.all_states(all.data());
    std::vector<uint8_t> fm(4), bm(3);
    for (long long k = 0; k < env.n_states(); ++k) {
        const int* x = all.data() + k * 3;
        env.forward_masks(x, 1, fm.data());
        for (int act = 0; act < 3; ++act) {
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
    HyperGrid env(2, 4);
    std::vector<int> s = {3, 0}, out(2);
    int a = 0;
    BOOST_CHECK_THROW(env.step(s.data(), &a, 1, out.data()), std::invalid_argument);  // x_0 = H−1
    a = 2;
    BOOST_CHECK_THROW(env.step(s.data(), &a, 1, out.data()), std::invalid_argument);  // the exit
    a = 1;
    BOOST_CHECK_THROW(env.backward_step(s.data(), &a, 1, out.data()), std::invalid_argument);  // x_1 = 0
    a = -1;
    BOOST_CHECK_THROW(env.backward_step(s.data(), &a, 1, out.data()), std::invalid_argument);
}

// H = 8: a(x) = |x/7 − ½| = 0.5, 0.357, 0.214, 0.071, 0.071, 0.214, 0.357, 0.5 for x = 0..7.
// Outer ring (a > 0.25): x ∈ {0, 1, 6, 7}; band (0.3 < a < 0.4): x ∈ {1, 6}.
BOOST_AUTO_TEST_CASE(original_reward_by_hand) {
    HyperGrid env(2, 8);
    const double base = 0.1, ring = 0.6, mode = 2.6;
    BOOST_TEST(reward_at(env, {0, 0}) == ring, boost::test_tools::tolerance(1e-15));
    BOOST_TEST(reward_at(env, {7, 7}) == ring, boost::test_tools::tolerance(1e-15));
    BOOST_TEST(reward_at(env, {0, 7}) == ring, boost::test_tools::tolerance(1e-15));
    BOOST_TEST(reward_at(env, {7, 0}) == ring, boost::test_tools::tolerance(1e-15));
    BOOST_TEST(reward_at(env, {0, 1}) == ring, boost::test_tools::tolerance(1e-15));
    BOOST_TEST(reward_at(env, {7, 6}) == ring, boost::test_tools::tolerance(1e-15));
    for (int x : {1, 6})
        for (int y : {1, 6}) BOOST_TEST(reward_at(env, {x, y}) == mode, boost::test_tools::tolerance(1e-15));
    BOOST_TEST(reward_at(env, {2, 2}) == base, boost::test_tools::tolerance(1e-15));
    BOOST_TEST(reward_at(env, {3, 4}) == base, boost::test_tools::tolerance(1e-15));
    BOOST_TEST(reward_at(env, {1, 2}) == base, boost::test_tools::tolerance(1e-15));
    BOOST_TEST(reward_at(env, {0, 5}) == base, boost::test_tools::tolerance(1e-15));
    BOOST_TEST(log_reward_at(env, {1, 6}, 0.f) == float(std::log(2.6)));

    // 64 states: 16 in the four 2×2 corner blocks, 4 of them modes.
    // Z = 64·0.1 + 16·0.5 + 4·2 = 22.4
    TargetDistribution t = true_distribution(env);
    BOOST_TEST(t.n_terminal() == 64);
    BOOST_TEST(t.n_modes == 4);
    BOOST_TEST(t.log_z == std::log(22.4), boost::test_tools::tolerance(1e-6));
    for (int i = 0; i < 64; ++i) {
        const int* x = t.states.data() + 2 * i;
        const bool want = (x[0] == 1 || x[0] == 6) && (x[1] == 1 || x[1] == 6);
        BOOST_TEST(bool(t.is_mode[size_t(i)]) == want);
    }
}

// torchgfn's picture for H = 16: band indices {2, 13}, outer ring {0..3, 12..15}.
BOOST_AUTO_TEST_CASE(original_reward_height_16) {
    HyperGrid env(2, 16);
    for (int x = 0; x < 16; ++x) {
        const bool outer = x <= 3 || x >= 12, band = x == 2 || x == 13;
        const double want = 0.1 + (outer ? 0.5 : 0.0) + (band ? 2.0 : 0.0);
        BOOST_TEST(reward_at(env, {x, x}) == want, boost::test_tools::tolerance(1e-15));
    }
    BOOST_TEST(true_distribution(env).n_modes == 4);
    // Strict boundaries: H = 11 puts x = 1 at a = 0.4 exactly and x = 4 at a = 0.1 exactly.
    HyperGrid h11(1, 11);
    BOOST_TEST(reward_at(h11, {1}) == 0.6, boost::test_tools::tolerance(1e-15));   // a = 0.4: ring, not band
    BOOST_TEST(reward_at(h11, {2}) == 0.6, boost::test_tools::tolerance(1e-15));   // a = 0.3: ring, not band
    HyperGrid d11(1, 11, "deceptive");
    BOOST_TEST(reward_at(d11, {4}) == 0.6, boost::test_tools::tolerance(1e-15));   // a = 0.1: not cancelled
    BOOST_TEST(reward_at(d11, {3}) == 0.1, boost::test_tools::tolerance(1e-15));   // a = 0.2: cancelled
}

BOOST_AUTO_TEST_CASE(cosine_reward_by_hand) {
    // R = R0 + R1·Π (cos(50a) + 1)·φ(5a), values from an independent evaluation
    HyperGrid env(2, 8, "cosine");
    BOOST_TEST(reward_at(env, {0, 0}) == 0.10060908880580932, boost::test_tools::tolerance(1e-13));
    BOOST_TEST(reward_at(env, {3, 4}) == 0.10057963193551715, boost::test_tools::tolerance(1e-13));
    BOOST_TEST(reward_at(env, {2, 5}) == 0.1131765196890649, boost::test_tools::tolerance(1e-13));
    BOOST_TEST(reward_at(env, {1, 1}) == 0.1078472654902356, boost::test_tools::tolerance(1e-13));
    HyperGrid env3(3, 8, "cosine");
    BOOST_TEST(reward_at(env3, {3, 2, 5}) == 0.10044863367159619, boost::test_tools::tolerance(1e-13));
    // Mode threshold R0 + (0.8·2/√(2π))²·R1 ≈ 0.3037: no state of the 8×8 grid reaches it.
    BOOST_TEST(std::exp(env.mode_log_reward_threshold()) == 0.1 + std::pow(0.8 * 2.0 / std::sqrt(2 * M_PI), 2) * 0.5,
               boost::test_tools::tolerance(1e-5));
    BOOST_TEST(true_distribution(env).n_modes == 0);
}

BOOST_AUTO_TEST_CASE(sparse_reward_by_hand) {
    // H = 8, D = 2: the targets are (6, 6), (1, 6), (6, 1); (1, 1) is not one.
    HyperGrid env(2, 8, "sparse");
    BOOST_TEST(reward_at(env, {6, 6}) == 1.0 + 1e-12, boost::test_tools::tolerance(1e-15));
    BOOST_TEST(reward_at(env, {1, 6}) == 1.0 + 1e-12, boost::test_tools::tolerance(1e-15));
    BOOST_TEST(reward_at(env, {6, 1}) == 1.0 + 1e-12, boost::test_tools::tolerance(1e-15));
    BOOST_TEST(reward_at(env, {1, 1}) == 1e-12, boost::test_tools::tolerance(1e-9));
    BOOST_TEST(reward_at(env, {0, 0}) == 1e-12, boost::test_tools::tolerance(1e-9));
    BOOST_TEST(reward_at(env, {7, 6}) == 1e-12, boost::test_tools::tolerance(1e-9));
    TargetDistribution t = true_distribution(env);
    BOOST_TEST(t.n_modes == 3);
    // Z = 3 + 64e−12
    BOOST_TEST(t.log_z == std::log(3.0 + 64e-12), boost::test_tools::tolerance(1e-6));
    // H = 3: the only target is the all-ones state.
    HyperGrid h3(3, 3, "sparse");
    BOOST_TEST(reward_at(h3, {1, 1, 1}) == 1.0 + 1e-12, boost::test_tools::tolerance(1e-15));
    BOOST_TEST(true_distribution(h3).n_modes == 1);
}

BOOST_AUTO_TEST_CASE(deceptive_reward_by_hand) {
    // R = R0 + R1 − R1·Π[a > 0.1] + R2·Π[0.3 < a < 0.4]; for H = 8, a > 0.1 unless x ∈ {3, 4}.
    HyperGrid env(2, 8, "deceptive");
    BOOST_TEST(reward_at(env, {0, 0}) == 0.1, boost::test_tools::tolerance(1e-15));
    BOOST_TEST(reward_at(env, {3, 0}) == 0.6, boost::test_tools::tolerance(1e-15));
    BOOST_TEST(reward_at(env, {3, 4}) == 0.6, boost::test_tools::tolerance(1e-15));
    BOOST_TEST(reward_at(env, {1, 1}) == 2.1, boost::test_tools::tolerance(1e-15));
    BOOST_TEST(reward_at(env, {2, 5}) == 0.1, boost::test_tools::tolerance(1e-15));
    BOOST_TEST(true_distribution(env).n_modes == 4);  // R >= R0 + R2
    // The paper's constants R0 = 1e−5, R1 = 0.1.
    HyperGrid paper(2, 8, "deceptive", 1e-5, 0.1, 2.0);
    BOOST_TEST(reward_at(paper, {4, 4}) == 0.10001, boost::test_tools::tolerance(1e-14));
    BOOST_TEST(reward_at(paper, {6, 6}) == 2.00001, boost::test_tools::tolerance(1e-14));
    BOOST_TEST(reward_at(paper, {7, 7}) == 1e-5, boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(enumeration_is_mixed_radix_and_topological) {
    for (auto dims : {std::vector<int>{2, 5}, std::vector<int>{3, 4}, std::vector<int>{1, 6}}) {
        HyperGrid env(dims[0], dims[1]);
        const int D = env.ndim(), A = env.n_actions();
        const long long N = env.n_states();
        std::vector<int> all(size_t(N) * D);
        env.all_states(all.data());
        std::vector<uint8_t> mask(static_cast<size_t>(A));
        std::vector<int> child(static_cast<size_t>(D));
        for (long long k = 0; k < N; ++k) {
            const int* x = all.data() + k * D;
            long long idx = 0;
            for (int j = 0; j < D; ++j) idx = idx * env.height() + x[j];
            BOOST_TEST(idx == k);
            BOOST_TEST(env.state_index(x) == k);
            env.forward_masks(x, 1, mask.data());
            for (int a = 0; a < A - 1; ++a) {
                if (!mask[size_t(a)]) continue;
                env.step(x, &a, 1, child.data());
                BOOST_TEST(env.state_index(child.data()) > k);
            }
        }
        BOOST_TEST(env.state_index(all.data()) == 0);  // s_0 first
    }
    HyperGrid env(2, 4);
    std::vector<int> outside = {-1, -1};
    BOOST_TEST(env.state_index(outside.data()) == -1);
}

BOOST_AUTO_TEST_CASE(large_grids_are_not_enumerable) {
    HyperGrid big(27, 2);  // 2^27 states
    BOOST_TEST(!big.enumerable());
    BOOST_TEST(big.n_states() == (1LL << 27));
    HyperGrid huge(40, 8);  // 2^120 states
    BOOST_TEST(!huge.enumerable());
    BOOST_TEST(huge.n_states() == -1);
    BOOST_CHECK_THROW(true_distribution(huge), std::invalid_argument);
    BOOST_CHECK_THROW(make_preprocessor("one_hot", huge), std::invalid_argument);
    BOOST_TEST(HyperGrid(26, 2).enumerable());
}

BOOST_AUTO_TEST_CASE(conditional_hypergrid) {
    ConditionalHyperGrid env(2, 8);
    BOOST_TEST(env.condition_dim() == 1);
    BOOST_TEST(env.name() == "conditional_hypergrid");
    // (1 − c)·2.6 + c·R(x)
    BOOST_TEST(log_reward_at(env, {0, 0}, 0.25f) == float(std::log(0.75 * 2.6 + 0.25 * 0.6)));
    BOOST_TEST(log_reward_at(env, {2, 2}, 1.0f) == float(std::log(0.1)));
    BOOST_TEST(log_reward_at(env, {2, 2}, 0.0f) == float(std::log(2.6)));
    float c = 0.0f;
    TargetDistribution uniform = true_distribution(env, &c);
    for (double p : uniform.prob) BOOST_TEST(p == 1.0 / 64, boost::test_tools::tolerance(1e-12));
    BOOST_TEST(uniform.n_modes == 64);
    c = 1.0f;
    TargetDistribution cond1 = true_distribution(env, &c);
    TargetDistribution plain = true_distribution(HyperGrid(2, 8));
    BOOST_TEST(cond1.prob == plain.prob, boost::test_tools::per_element());  // the same floats
    BOOST_TEST(cond1.log_z == plain.log_z, boost::test_tools::tolerance(1e-15));
    BOOST_TEST(cond1.n_modes == 4);
    // A condition is required.
    BOOST_CHECK_THROW(true_distribution(env), std::invalid_argument);
    std::vector<int> s = {0, 0};
    float out;
    BOOST_CHECK_THROW(env.log_reward(s.data(), nullptr, 1, &out), std::invalid_argument);
    // Conditions are U[0, 1).
    Rng rng(7);
    std::vector<float> cs(10000);
    env.sample_conditions(rng, 10000, cs.data());
    double mean = 0.0;
    for (float v : cs) {
        BOOST_TEST((v >= 0.0f && v < 1.0f));
        mean += v / 10000.0;
    }
    BOOST_TEST(mean == 0.5, boost::test_tools::tolerance(0.02));
    // The unconditional env has none to sample.
    BOOST_CHECK_THROW(HyperGrid().sample_conditions(rng, 1, cs.data()), std::logic_error);
}

BOOST_AUTO_TEST_CASE(k_hot_input) {
    HyperGrid env(3, 4);
    auto pre = env.default_preprocessor();
    BOOST_TEST(pre->output_dim() == 12);
    std::vector<int> s = {0, 3, 1, -1, -1, -1};  // a state and the sink
    std::vector<float> out(24, 9.0f);
    pre->apply(s.data(), 2, out.data());
    std::vector<float> want(24, 0.0f);
    want[0] = want[4 + 3] = want[8 + 1] = 1.0f;
    BOOST_TEST(out == want, boost::test_tools::per_element());
    BOOST_TEST(make_preprocessor("k_hot", env)->output_dim() == 12);
    BOOST_TEST(make_preprocessor("default", env)->output_dim() == 12);
    BOOST_TEST(make_preprocessor("identity", env)->output_dim() == 3);
    auto one_hot = make_preprocessor("one_hot", env);
    BOOST_TEST(one_hot->output_dim() == 64);
    std::vector<float> oh(128, 9.0f);
    one_hot->apply(s.data(), 2, oh.data());
    for (int k = 0; k < 128; ++k) BOOST_TEST(oh[size_t(k)] == (k == 0 * 16 + 3 * 4 + 1 ? 1.0f : 0.0f));
    std::vector<float> id(6);
    make_preprocessor("identity", env)->apply(s.data(), 2, id.data());
    BOOST_TEST(id == std::vector<float>({0, 3, 1, -1, -1, -1}), boost::test_tools::per_element());
    BOOST_CHECK_THROW(make_preprocessor("two_hot", env), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(bad_arguments_throw) {
    BOOST_CHECK_THROW(HyperGrid(0, 8), std::invalid_argument);
    BOOST_CHECK_THROW(HyperGrid(2, 1), std::invalid_argument);
    BOOST_CHECK_THROW(HyperGrid(2, 8, "origin"), std::invalid_argument);
    BOOST_CHECK_THROW(HyperGrid(2, 8, "original", -0.1), std::invalid_argument);
    BOOST_CHECK_NO_THROW(HyperGrid(2, 8, "original", 0.0));  // zero rewards: the loss asks for a clip
    BOOST_CHECK_THROW(HyperGrid(2, 8, "original", 0.1, -0.5), std::invalid_argument);
    BOOST_CHECK_THROW(HyperGrid(2, 8, "original", 0.1, 0.5, NAN), std::invalid_argument);
    BOOST_CHECK_THROW(HyperGrid(2, 8, "cosine", 0.1, 0.5, 2.0, 0.0), std::invalid_argument);
    BOOST_CHECK_THROW(ConditionalHyperGrid(2, 1), std::invalid_argument);
    try {
        HyperGrid(2, 1);
    } catch (const std::invalid_argument& e) {
        BOOST_TEST(std::string(e.what()) == "HyperGrid: height must be >= 2 (got 1)");
    }
}

BOOST_AUTO_TEST_SUITE_END()
