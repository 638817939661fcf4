// test_enumeration.cpp — the true distribution, the exact terminating distribution
// of a policy (against a brute-force sum over every trajectory), the distances,
// the DiscreteEnv defaults and the preprocessor factory's errors.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "envs/hypergrid.h"
#include "gfn/validation/enumeration.h"
#include "gfn/estimators/preprocessors.h"
#include "tests/env_checks.h"

using namespace gfn;
using namespace gfn::testing;

namespace {

// A chain 0 → 1 → … → L. Action 0 adds 1, action 1 exits (valid from x >= 1, so
// s_0 is not terminating). R(x) = min(x, cap). Options break it on purpose:
// nan_at gives log R = NaN there, reversed lists the states backwards.
class Chain : public DiscreteEnv {
public:
    explicit Chain(int length, int cap = 1 << 30, int nan_at = -1, bool reversed = false)
        : L_(length), cap_(cap), nan_at_(nan_at), reversed_(reversed) {}
    std::string name() const override { return "chain"; }
    int state_dim() const override { return 1; }
    int n_actions() const override { return 2; }
    void initial_state(int* out) const override { out[0] = 0; }
    void forward_masks(const int* s, int n, uint8_t* m) const override {
        for (int i = 0; i < n; ++i) {
            m[2 * i] = s[i] < L_;
            m[2 * i + 1] = s[i] >= 1;
        }
    }
    void backward_masks(const int* s, int n, uint8_t* m) const override {
        for (int i = 0; i < n; ++i) m[i] = s[i] > 0;
    }
    void step(const int* s, const int*, int n, int* out) const override {
        for (int i = 0; i < n; ++i) out[i] = s[i] + 1;
    }
    void backward_step(const int* s, const int*, int n, int* out) const override {
        for (int i = 0; i < n; ++i) out[i] = s[i] - 1;
    }
    void log_reward(const int* s, const float*, int n, float* out) const override {
        for (int i = 0; i < n; ++i)
            out[i] = s[i] == nan_at_ ? std::numeric_limits<float>::quiet_NaN() : float(std::log(double(std::min(s[i], cap_))));
    }
    std::unique_ptr<Preprocessor> default_preprocessor() const override {
        return std::make_unique<IdentityPreprocessor>(1);
    }
    bool enumerable() const override { return true; }
    long long n_states() const override { return L_ + 1; }
    void all_states(int* out) const override {
        for (int k = 0; k <= L_; ++k) out[k] = reversed_ ? L_ - k : k;
    }
    long long state_index(const int* s) const override { return reversed_ ? L_ - s[0] : s[0]; }
    int max_trajectory_length() const override { return L_ + 1; }

private:
    int L_, cap_, nan_at_;
    bool reversed_;
};

// A chain that enumerates nothing: every default hook.
class Opaque : public Chain {
public:
    Opaque() : Chain(3) {}
    std::string name() const override { return "opaque"; }
    bool enumerable() const override { return false; }
    long long n_states() const override { return DiscreteEnv::n_states(); }
    void all_states(int* out) const override { DiscreteEnv::all_states(out); }
    long long state_index(const int* s) const override { return DiscreteEnv::state_index(s); }
};

// check_exact_terminating_distribution (tests/env_checks.h) with the size of the exact
// distribution checked in place of the number of terminal states the brute force reached.
void check_against_brute_force(const DiscreteEnv& env) {
    TargetDistribution t = true_distribution(env);
    PolicyFn pf = hashed_policy(env);
    std::vector<double> exact = exact_terminating_distribution(env, t, pf);
    std::map<long long, double> brute = terminating_distribution_by_brute_force(env, pf);
    BOOST_TEST(int(exact.size()) == t.n_terminal());
    for (int i = 0; i < t.n_terminal(); ++i)
        BOOST_TEST(std::fabs(exact[size_t(i)] - brute[t.state_ids[size_t(i)]]) < 1e-9);
    // The policy's float log-probabilities sum to 1 only to float precision.
    BOOST_TEST(std::accumulate(exact.begin(), exact.end(), 0.0) == 1.0, boost::test_tools::tolerance(1e-6));
    // The policy is not the target: the distances are positive.
    BOOST_TEST(l1_distance(exact, t.prob) > 0.01);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(enumeration)

BOOST_AUTO_TEST_CASE(true_distribution_hypergrid) {
    for (const char* reward : {"original", "cosine", "sparse", "deceptive"}) {
        HyperGrid env(3, 5, reward);
        TargetDistribution t = true_distribution(env);
        BOOST_TEST(t.n_terminal() == 125);
        BOOST_TEST(std::accumulate(t.prob.begin(), t.prob.end(), 0.0) == 1.0, boost::test_tools::tolerance(1e-12));
        // log Z by brute force over the grid, in double.
        double z = 0.0;
        for (int a = 0; a < 5; ++a)
            for (int b = 0; b < 5; ++b)
                for (int c = 0; c < 5; ++c) {
                    int x[3] = {a, b, c};
                    double r;
                    env.reward(x, 1, &r);
                    z += r;
                    const long long row = env.state_index(x);
                    const long long ti = t.terminal_of[size_t(row)];
                    BOOST_TEST(ti == row);  // every state terminates
                }
        BOOST_TEST(t.log_z == std::log(z), boost::test_tools::tolerance(1e-6));
        for (int i = 0; i < t.n_terminal(); ++i) {
            double r;
            env.reward(t.states.data() + 3 * i, 1, &r);
            BOOST_TEST(t.prob[size_t(i)] == r / z, boost::test_tools::tolerance(1e-6));
        }
    }
}

BOOST_AUTO_TEST_CASE(true_distribution_filters_terminal_states_and_finds_modes) {
    // Chain 0..4, exit from x >= 1, R = min(x, 3): terminal 1, 2, 3, 4 with R 1, 2, 3, 3.
    Chain env(4, 3);
    TargetDistribution t = true_distribution(env);
    BOOST_TEST(t.n_terminal() == 4);
    BOOST_TEST(t.states == std::vector<int>({1, 2, 3, 4}), boost::test_tools::per_element());
    BOOST_TEST(t.terminal_of == std::vector<long long>({-1, 0, 1, 2, 3}), boost::test_tools::per_element());
    BOOST_TEST(t.log_z == std::log(9.0), boost::test_tools::tolerance(1e-6));
    const double want[4] = {1.0 / 9, 2.0 / 9, 3.0 / 9, 3.0 / 9};
    for (int i = 0; i < 4; ++i) BOOST_TEST(t.prob[size_t(i)] == want[i], boost::test_tools::tolerance(1e-6));
    // The default threshold (+inf) makes the maximal-reward states the modes.
    BOOST_TEST(t.n_modes == 2);
    BOOST_TEST(t.is_mode == std::vector<uint8_t>({0, 0, 1, 1}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(true_distribution_rejects_bad_rewards) {
    BOOST_CHECK_THROW(true_distribution(Chain(4, 1 << 30, 2)), std::runtime_error);
    BOOST_CHECK_THROW(true_distribution(Opaque()), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(exact_terminating_distribution_2d) { check_against_brute_force(HyperGrid(2, 3)); }

BOOST_AUTO_TEST_CASE(exact_terminating_distribution_3d) { check_against_brute_force(HyperGrid(3, 3)); }

BOOST_AUTO_TEST_CASE(exact_terminating_distribution_chain) { check_against_brute_force(Chain(5)); }

BOOST_AUTO_TEST_CASE(exact_terminating_distribution_larger_grid) {
    // More states than one evaluation chunk (4096): 9^4 = 6561.
    HyperGrid env(4, 9);
    TargetDistribution t = true_distribution(env);
    std::vector<double> exact = exact_terminating_distribution(env, t, hashed_policy(env));
    BOOST_TEST(std::accumulate(exact.begin(), exact.end(), 0.0) == 1.0, boost::test_tools::tolerance(1e-6));
    // The first move of the hashed policy from s_0 decides the mass of s_0 exactly.
    std::vector<float> lp(5);
    int s0[4] = {0, 0, 0, 0};
    hashed_policy(env)(s0, 1, lp.data());
    BOOST_TEST(exact[0] == std::exp(double(lp[4])), boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(exact_terminating_distribution_errors) {
    HyperGrid env(2, 3);
    TargetDistribution other = true_distribution(HyperGrid(2, 4));
    BOOST_CHECK_THROW(exact_terminating_distribution(env, other, hashed_policy(env)), std::invalid_argument);
    Chain reversed(3, 1 << 30, -1, true);
    TargetDistribution t = true_distribution(Chain(3));
    BOOST_CHECK_THROW(exact_terminating_distribution(reversed, t, hashed_policy(reversed)), std::logic_error);
    PolicyFn nan_policy = [](const int*, int n, float* out) {
        for (int k = 0; k < 3 * n; ++k) out[k] = std::numeric_limits<float>::quiet_NaN();
    };
    BOOST_CHECK_THROW(exact_terminating_distribution(env, true_distribution(env), nan_policy), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(distances_by_hand) {
    BOOST_TEST(l1_distance({1, 0}, {0, 1}) == 2.0);
    BOOST_TEST(jensen_shannon({1, 0}, {0, 1}) == std::log(2.0), boost::test_tools::tolerance(1e-15));
    BOOST_TEST(l1_distance({0.5, 0.5}, {1, 0}) == 1.0);
    // m = (0.75, 0.25): ½·½·log(4/3) + ½·log(4/3) = ¾·log(4/3)
    BOOST_TEST(jensen_shannon({0.5, 0.5}, {1, 0}) == 0.75 * std::log(4.0 / 3.0), boost::test_tools::tolerance(1e-14));
    BOOST_TEST(jensen_shannon({0.2, 0.3, 0.5}, {0.2, 0.3, 0.5}) == 0.0);
    BOOST_TEST(l1_distance({0.2, 0.3, 0.5}, {0.2, 0.3, 0.5}) == 0.0);
    BOOST_CHECK_THROW(l1_distance({1}, {0.5, 0.5}), std::invalid_argument);
    BOOST_CHECK_THROW(jensen_shannon({1}, {0.5, 0.5}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(env_defaults) {
    Opaque env;
    Rng rng(1);
    float c;
    int s = 0;
    BOOST_CHECK_THROW(env.sample_conditions(rng, 1, &c), std::logic_error);
    BOOST_CHECK_THROW(env.all_states(&s), std::logic_error);
    BOOST_CHECK_THROW(env.state_index(&s), std::logic_error);
    BOOST_TEST(env.mode_log_reward_threshold() == std::numeric_limits<double>::infinity());
    BOOST_TEST(env.n_states() == -1);
    BOOST_TEST(env.is_initial(&s));
    try {
        env.all_states(&s);
    } catch (const std::logic_error& e) {
        BOOST_TEST(std::string(e.what()).find("opaque") != std::string::npos);
    }
    // The preprocessor factory refuses what the env cannot give.
    BOOST_CHECK_THROW(make_preprocessor("one_hot", env), std::invalid_argument);
    BOOST_CHECK_THROW(make_preprocessor("k_hot", env), std::invalid_argument);
    BOOST_TEST(make_preprocessor("identity", env)->output_dim() == 1);
    Chain chain(3);
    BOOST_TEST(make_preprocessor("one_hot", chain)->output_dim() == 4);
}

BOOST_AUTO_TEST_SUITE_END()
