// test_line.cpp — the Line environment, its Gaussian step policy, the continuous
// rollout and the trajectory-balance family on continuous batches (SPEC.md §8).
//
// Hand-worked values: Gaussian log-densities written out from
//     log N(a; μ, σ²) = −½ log 2π − log σ − ½((a − μ)/σ)²
// for a policy whose network is pinned to constant outputs (zero weights,
// chosen output biases), forced steps 0. Gradients against central differences
// (tests/gradcheck.h).
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "engine/nn.h"
#include "engine/ops.h"
#include "envs/hypergrid.h"
#include "envs/line.h"
#include "gfn/estimators/continuous_policy.h"
#include "gfn/estimators/log_probs.h"
#include "gfn/objectives/trajectory_balance.h"
#include "gfn/runtime/config.h"
#include "gfn/runtime/continuous_training.h"
#include "gfn/runtime/training.h"
#include "gfn/samplers/continuous_sampler.h"
#include "gfn/validation/continuous_validation.h"
#include "tests/gradcheck.h"

using namespace gfn;

namespace {

double log_normal(double x, double mu, double sigma) {
    const double z = (x - mu) / sigma;
    return -0.5 * std::log(2.0 * M_PI) - std::log(sigma) - 0.5 * z * z;
}

double sigmoid_d(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// Pins a GaussianStepPolicy built last in `store` (params [first, end)) to the
// constant outputs μ = mu, raw σ = raw: every weight 0, the output bias (mu, raw).
void pin(ParamStore& store, size_t first, float mu, float raw) {
    for (size_t k = first; k < store.params.size(); ++k) {
        const Param& p = store.params[k];
        std::fill(store.values.begin() + long(p.offset), store.values.begin() + long(p.offset + p.size()), 0.f);
    }
    const Param& b = store.params.back();
    store.values[b.offset] = mu;
    store.values[b.offset + 1] = raw;
}

// A hand-made Line batch of one trajectory: n_steps = 3, moves a, then the exit.
Trajectories one_trajectory(const Line& env, const std::vector<float>& a) {
    Trajectories t;
    t.allocate_continuous(1, env.max_trajectory_length(), 2, 1);
    float s[2];
    env.initial_state(s);
    for (size_t k = 0; k < a.size(); ++k) {
        t.float_state(int(k), 0)[0] = s[0];
        t.float_state(int(k), 0)[1] = s[1];
        t.float_action(int(k), 0)[0] = a[k];
        env.step(s, &a[k], 1, s);
    }
    t.float_state(int(a.size()), 0)[0] = s[0];
    t.float_state(int(a.size()), 0)[1] = s[1];
    t.lengths[0] = int(a.size()) + 1;
    env.log_reward(s, 1, t.log_rewards.data());
    t.index_steps();
    return t;
}

NetConfig small_net() {
    NetConfig c;
    c.hidden = 8;
    c.n_hidden_layers = 2;
    c.activation = Activation::Elu;
    return c;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(line)

BOOST_AUTO_TEST_CASE(states_steps_and_forced_actions) {
    Line env;  // μ = [2, 5], σ = 0.5, init 0, n_steps 5
    float s[2];
    env.initial_state(s);
    BOOST_CHECK_EQUAL(s[0], 0.f);
    BOOST_CHECK_EQUAL(s[1], 0.f);
    BOOST_CHECK(env.is_initial(s));
    BOOST_CHECK(!env.exit_allowed(s));
    const float a = 1.25f;
    env.step(s, &a, 1, s);
    BOOST_CHECK_EQUAL(s[0], 1.25f);
    BOOST_CHECK_EQUAL(s[1], 1.f);
    BOOST_CHECK(env.backward_forced(s));
    float back = 0.f;
    env.backward_forced_action(s, &back);
    BOOST_CHECK_EQUAL(back, 1.25f);
    for (int k = 2; k <= 5; ++k) {
        BOOST_CHECK(!env.exit_forced(s));
        env.step(s, &a, 1, s);
    }
    BOOST_CHECK_EQUAL(s[1], 5.f);
    BOOST_CHECK(env.exit_forced(s));
    BOOST_CHECK(!env.backward_forced(s));
    BOOST_CHECK_THROW(env.step(s, &a, 1, s), std::invalid_argument);
    BOOST_CHECK_EQUAL(env.max_trajectory_length(), 6);
    // The step back from k = 1 lands on s_0 exactly.
    float s1[2] = {0.1f + 0.2f, 1.f}, p[2];
    const float b = s1[0] - 0.f;
    env.backward_step(s1, &b, 1, p);
    BOOST_CHECK(env.is_initial(p));
}

BOOST_AUTO_TEST_CASE(reward_partition_and_bins) {
    Line env;
    // log R(x) = log(N(x; 2, 0.25) + N(x; 5, 0.25))
    for (float x : {2.f, 3.5f, 4.2f, -1.f}) {
        float s[2] = {x, 5.f}, lr = 0.f;
        env.log_reward(s, 1, &lr);
        const double want = std::log(std::exp(log_normal(x, 2, 0.5)) + std::exp(log_normal(x, 5, 0.5)));
        BOOST_CHECK_CLOSE(double(lr), want, 1e-4);
    }
    double log_z = 0.0;
    BOOST_REQUIRE(env.exact_log_partition(&log_z));
    BOOST_CHECK_CLOSE(log_z, std::log(2.0), 1e-12);
    BOOST_CHECK_CLOSE(env.range_lo(), 2.0 - 4.5 * 0.5, 1e-12);
    BOOST_CHECK_CLOSE(env.range_hi(), 5.0 + 4.5 * 0.5, 1e-12);
    // Two bins split at 3.5, the midpoint of symmetric components: ½ each, tails
    // Φ(−4.5)·½ + Φ(−10.5)·½ on each side.
    std::vector<double> m = env.bin_masses(env.range_lo(), env.range_hi(), 2);
    BOOST_REQUIRE_EQUAL(m.size(), 4u);
    const double tail = 0.5 * (0.5 * std::erfc(4.5 / M_SQRT2) + 0.5 * std::erfc(10.5 / M_SQRT2));
    BOOST_CHECK_CLOSE(m[0], tail, 1e-6);
    BOOST_CHECK_CLOSE(m[3], tail, 1e-6);
    BOOST_CHECK_CLOSE(m[1], 0.5 - tail, 1e-9);
    BOOST_CHECK_CLOSE(m[2], 0.5 - tail, 1e-9);
    double total = 0.0;
    for (double v : env.bin_masses(-1.0, 8.0, 90)) total += v;
    BOOST_CHECK_CLOSE(total, 1.0, 1e-9);
}

BOOST_AUTO_TEST_CASE(exact_target_sampler) {
    Line env;
    Rng rng(7);
    const int n = 40000;
    std::vector<float> x(size_t(n) * 2);
    BOOST_REQUIRE(env.sample_target(rng, n, x.data()));
    // Half the mass on each side of 3.5; each half N(μ_i, 0.25): mean 3.5, variance 0.25 + 2.25.
    int left = 0;
    double sum = 0.0, sq = 0.0;
    for (int i = 0; i < n; ++i) {
        left += x[2 * size_t(i)] < 3.5f;
        sum += x[2 * size_t(i)];
        sq += double(x[2 * size_t(i)]) * x[2 * size_t(i)];
        BOOST_REQUIRE_EQUAL(x[2 * size_t(i) + 1], 5.f);
    }
    const double mean = sum / n, var = sq / n - mean * mean;
    BOOST_CHECK_SMALL(double(left) / n - 0.5, 0.01);   // sd 0.0025
    BOOST_CHECK_SMALL(mean - 3.5, 0.03);               // sd 0.008
    BOOST_CHECK_SMALL(var - 2.5, 0.06);                // sd ≈ 0.016
}

BOOST_AUTO_TEST_CASE(bad_arguments_name_the_flag) {
    auto message_of = [](auto f) {
        try { f(); } catch (const std::invalid_argument& e) { return std::string(e.what()); }
        return std::string();
    };
    BOOST_CHECK(message_of([] { Line({1.0}, {0.5, 0.5}); }).find("--sigmas") != std::string::npos);
    BOOST_CHECK(message_of([] { Line({1.0}, {0.0}); }).find("--sigmas") != std::string::npos);
    BOOST_CHECK(message_of([] { Line({2.0, 5.0}, {0.5, 0.5}, 20.0); }).find("--init-value") != std::string::npos);
    BOOST_CHECK(message_of([] { Line({2.0, 5.0}, {0.5, 0.5}, 0.0, 4.5, 0); }).find("--n-steps") != std::string::npos);
    BOOST_CHECK(message_of([] { Line({2.0, 5.0}, {0.5, 0.5}, 0.0, -1.0); }).find("--n-sd") != std::string::npos);
}

// One trajectory of 3 moves and the forced exit, policies pinned to constant
// (μ, σ): log PF = Σ_t log N(a_t; μ_f, σ_f²) + 0 (exit); log PB = 0 (forced step
// to s_0) + Σ_{t=1,2} log N(a_t; μ_b, σ_b²); the TB loss from those sums.
BOOST_AUTO_TEST_CASE(hand_worked_log_probs_of_a_forced_trajectory) {
    Line env({2.0, 5.0}, {0.5, 0.5}, 0.0, 4.5, 3);
    ParamStore store;
    Rng rng(1);
    GaussianStepPolicy pf(env, false, store, small_net(), rng, "pf");
    pin(store, 0, 0.4f, 0.3f);
    const size_t pb_first = store.params.size();
    GaussianStepPolicy pb(env, true, store, small_net(), rng, "pb");
    pin(store, pb_first, -0.2f, -1.0f);
    ScalarEstimator log_z(store, 0.7f, 1, "log_z");

    const std::vector<float> a = {0.5f, 1.0f, -0.3f};
    Trajectories t = one_trajectory(env, a);
    BOOST_REQUIRE_EQUAL(t.n_steps(), 4);
    BOOST_REQUIRE_EQUAL(t.n_bsteps(), 3);

    const double sf = 0.1 + 0.9 * sigmoid_d(0.3), sb = 0.1 + 0.9 * sigmoid_d(-1.0);
    Tape tape;
    StepLogProbs lp = evaluate_log_probs(tape, t, pf, &pb, true);
    const float* f = lp.log_pf.value().data;
    const float* b = lp.log_pb.value().data;
    for (int k = 0; k < 3; ++k) BOOST_CHECK_CLOSE(double(f[k]), log_normal(a[size_t(k)], 0.4, sf), 1e-4);
    BOOST_CHECK_EQUAL(f[3], 0.f);  // the forced exit
    BOOST_CHECK_EQUAL(b[0], 0.f);  // the forced step back to s_0 (t = 1)
    BOOST_CHECK_CLOSE(double(b[1]), log_normal(a[1], -0.2, sb), 1e-4);
    BOOST_CHECK_CLOSE(double(b[2]), log_normal(a[2], -0.2, sb), 1e-4);

    // TB: (log Z + Σ log pf − Σ log pb − log R)², x = 1.2
    double s = 0.7;
    for (int k = 0; k < 3; ++k) s += log_normal(a[size_t(k)], 0.4, sf);
    s -= log_normal(a[1], -0.2, sb) + log_normal(a[2], -0.2, sb);
    s -= std::log(std::exp(log_normal(1.2, 2, 0.5)) + std::exp(log_normal(1.2, 5, 0.5)));
    TBGFlowNet tb(&pf, &pb, &log_z);
    BOOST_CHECK_CLOSE(double(tb.loss(tape, t).item()), s * s, 1e-3);
}

// The relative family on the same trajectory: a frozen prior PF pinned to
// (μ_p, σ_p), the posterior to (μ_f, σ_f), no PB:
//     RTB = ½ (log Z + Σ log pf_post − Σ log pf_prior − β log R)²,  Trust-PCL = α² · RTB (α = 1/β).
BOOST_AUTO_TEST_CASE(hand_worked_relative_tb_on_line) {
    Line env({2.0, 5.0}, {0.5, 0.5}, 0.0, 4.5, 3);
    ParamStore store, prior_store;
    Rng rng(1);
    GaussianStepPolicy pf(env, false, store, small_net(), rng, "pf");
    pin(store, 0, 0.4f, 0.3f);
    GaussianStepPolicy prior(env, false, prior_store, small_net(), rng, "prior");
    pin(prior_store, 0, 1.0f, 2.0f);
    prior_store.frozen = true;
    ScalarEstimator log_z(store, 0.7f, 1, "log_z");
    const std::vector<float> a = {0.5f, 1.0f, -0.3f};
    Trajectories t = one_trajectory(env, a);
    const double sf = 0.1 + 0.9 * sigmoid_d(0.3), sp = 0.1 + 0.9 * sigmoid_d(2.0), beta = 0.5;
    double s = 0.7;
    for (float ak : a) s += log_normal(ak, 0.4, sf) - log_normal(ak, 1.0, sp);
    s -= beta * std::log(std::exp(log_normal(1.2, 2, 0.5)) + std::exp(log_normal(1.2, 5, 0.5)));
    Tape tape;
    RelativeTrajectoryBalanceGFlowNet rtb(&pf, &prior, &log_z, float(beta));
    BOOST_CHECK_CLOSE(double(rtb.loss(tape, t).item()), 0.5 * s * s, 1e-3);
    ScalarEstimator log_z2(store, 0.7f, 1, "log_z2");
    TrustPCLGFlowNet pcl(&pf, &prior, &log_z2, float(1.0 / beta));
    BOOST_CHECK_CLOSE(double(pcl.loss(tape, t).item()), 0.5 * s * s / (beta * beta), 1e-3);
}

BOOST_AUTO_TEST_CASE(policy_refuses_steps_the_env_forbids) {
    Line env({2.0, 5.0}, {0.5, 0.5}, 0.0, 4.5, 2);
    ParamStore store;
    Rng rng(1);
    GaussianStepPolicy pf(env, false, store, small_net(), rng, "pf");
    Tape tape;
    const float s0[2] = {0.f, 0.f}, s2[2] = {1.f, 2.f}, a = 0.5f;
    const uint8_t exit = 1, move = 0;
    BOOST_CHECK_THROW(pf.log_prob(tape, s0, &a, &exit, 1), std::invalid_argument);  // exit at k < n_steps
    BOOST_CHECK_THROW(pf.log_prob(tape, s2, &a, &move, 1), std::invalid_argument);  // move at k = n_steps
    BOOST_CHECK_THROW(GaussianStepPolicy(env, false, store, small_net(), rng, "bad", 0.f, 1.f), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(rollout_layout_and_log_rewards) {
    Line env;
    ParamStore store;
    Rng rng(3);
    GaussianStepPolicy pf(env, false, store, small_net(), rng, "pf");
    Tape tape;
    Trajectories t;
    sample_continuous_trajectories(env, pf, 7, 0.5f, rng, tape, t);
    BOOST_REQUIRE(t.is_continuous());
    BOOST_CHECK_EQUAL(t.n_steps(), 7 * 6);
    BOOST_CHECK_EQUAL(t.n_bsteps(), 7 * 5);
    for (int i = 0; i < t.n; ++i) {
        BOOST_REQUIRE_EQUAL(t.lengths[size_t(i)], 6);
        BOOST_CHECK(env.is_initial(t.float_state(0, i)));
        for (int k = 0; k < 5; ++k) {
            BOOST_CHECK_EQUAL(t.float_state(k + 1, i)[1], float(k + 1));
            BOOST_CHECK_EQUAL(t.float_state(k + 1, i)[0], t.float_state(k, i)[0] + t.float_action(k, i)[0]);
        }
        BOOST_CHECK(std::isnan(t.float_action(5, i)[0]));  // the exit
        float lr = 0.f;
        env.log_reward(t.float_terminal_state(i), 1, &lr);
        BOOST_CHECK_EQUAL(t.log_rewards[size_t(i)], lr);
    }
    // Selection and concatenation keep the float storage.
    Trajectories sel = select_trajectories(t, {4, 1});
    BOOST_CHECK_EQUAL(sel.float_terminal_state(0)[0], t.float_terminal_state(4)[0]);
    BOOST_CHECK_EQUAL(sel.float_action(2, 1)[0], t.float_action(2, 1)[0]);
    Trajectories both = concatenate(sel, t);
    BOOST_CHECK_EQUAL(both.n, 9);
    BOOST_CHECK_EQUAL(both.float_state(3, 8)[0], t.float_state(3, 6)[0]);
    BOOST_CHECK_EQUAL(both.log_rewards[2], t.log_rewards[0]);
}

// At s_0 the pinned policy has μ = 0.4, σ = 0.1 + 0.9·sigmoid(0); with exploration
// s the moves have variance σ² + s² (std_b = √(σ² + s²)).
BOOST_AUTO_TEST_CASE(exploration_widens_the_std) {
    Line env({2.0, 5.0}, {0.5, 0.5}, 0.0, 4.5, 1);
    ParamStore store;
    Rng rng(5);
    GaussianStepPolicy pf(env, false, store, small_net(), rng, "pf");
    pin(store, 0, 0.4f, 0.f);
    const double sigma = 0.1 + 0.9 * 0.5, s = 1.5;
    Tape tape;
    Trajectories t;
    const int n = 40000;
    sample_continuous_trajectories(env, pf, n, float(s), rng, tape, t);
    double sum = 0.0, sq = 0.0;
    for (int i = 0; i < n; ++i) {
        const double a = t.float_action(0, i)[0];
        sum += a;
        sq += a * a;
    }
    const double mean = sum / n, var = sq / n - mean * mean, want = sigma * sigma + s * s;
    BOOST_CHECK_SMALL(mean - 0.4, 0.05);        // sd ≈ 0.008
    BOOST_CHECK_CLOSE(var, want, 3.0);          // relative sd ≈ 0.7 %
}

BOOST_AUTO_TEST_CASE(backward_rollout_ends_at_the_given_states) {
    Line env;
    ParamStore store;
    Rng rng(9);
    GaussianStepPolicy pf(env, false, store, small_net(), rng, "pf");
    GaussianStepPolicy pb(env, true, store, small_net(), rng, "pb");
    const int n = 5;
    std::vector<float> x(size_t(n) * 2);
    env.sample_target(rng, n, x.data());
    Tape tape;
    Trajectories t;
    sample_continuous_backward_trajectories(env, pb, x.data(), n, rng, tape, t);
    for (int i = 0; i < n; ++i) {
        BOOST_REQUIRE_EQUAL(t.lengths[size_t(i)], 6);
        BOOST_CHECK(env.is_initial(t.float_state(0, i)));
        BOOST_CHECK_EQUAL(t.float_terminal_state(i)[0], x[2 * size_t(i)]);
        BOOST_CHECK_EQUAL(t.float_terminal_state(i)[1], 5.f);
        for (int k = 1; k < 5; ++k)
            BOOST_CHECK_CLOSE(t.float_state(k + 1, i)[0], t.float_state(k, i)[0] + t.float_action(k, i)[0], 1e-3);
    }
    // Scored like any batch: finite log-probs, PB's first backward step 0.
    StepLogProbs lp = evaluate_log_probs(tape, t, pf, &pb, true);
    for (int k = 0; k < t.n_bsteps(); ++k) {
        BOOST_CHECK(std::isfinite(lp.log_pb.value().data[k]));
        if (t.bstep_t[size_t(k)] == 1) BOOST_CHECK_EQUAL(lp.log_pb.value().data[k], 0.f);
    }
}

BOOST_AUTO_TEST_CASE(kinds_must_match) {
    Line env;
    HyperGrid grid;
    ParamStore store;
    Rng rng(2);
    GaussianStepPolicy pf(env, false, store, small_net(), rng, "pf");
    auto pre = grid.default_preprocessor();
    auto dpb = PolicyEstimator::mlp(grid, *pre, true, store, small_net(), rng, "dpb");
    Tape tape;
    Trajectories t;
    sample_continuous_trajectories(env, pf, 2, 0.f, rng, tape, t);
    BOOST_CHECK_THROW(evaluate_log_probs(tape, t, pf, dpb.get(), true), std::invalid_argument);
    ScalarEstimator log_z(store, 0.f, 1, "log_z");
    BOOST_CHECK_THROW(TBGFlowNet(&pf, dpb.get(), &log_z), std::invalid_argument);
}

// TB and LPV through the Line policies on a sampled continuous batch: every
// parameter (PF, PB, log Z) against central differences.
BOOST_AUTO_TEST_CASE(tb_and_lpv_gradients_through_the_line_policy) {
    Line env;
    ParamStore store;
    Rng rng(11);
    GaussianStepPolicy pf(env, false, store, small_net(), rng, "pf");
    GaussianStepPolicy pb(env, true, store, small_net(), rng, "pb");
    ScalarEstimator log_z(store, 0.3f, 1, "log_z");
    Tape sample_tape;
    Trajectories t;
    sample_continuous_trajectories(env, pf, 4, 0.5f, rng, sample_tape, t);
    TBGFlowNet tb(&pf, &pb, &log_z);
    LogPartitionVarianceGFlowNet lpv(&pf, &pb);
    GradCheckOptions opt;
    opt.max_checks = 60;
    opt.step = 1e-2;
    for (const GFlowNet* g : {static_cast<const GFlowNet*>(&tb), static_cast<const GFlowNet*>(&lpv)}) {
        for (Reduction r : {Reduction::Mean, Reduction::None}) {
            GradCheckReport rep = check_gradients([&](Tape& tp) { return g->loss(tp, t, true, r); },
                                                  {GradTarget{"store", store.values.data(), store.grads.data(), store.size()}},
                                                  opt);
            BOOST_CHECK_MESSAGE(rep.ok, g->name() << ": " << rep.message());
            BOOST_CHECK(rep.checked > 20);
        }
    }
}

BOOST_AUTO_TEST_CASE(binning_and_log_mean_exp) {
    const float xs[] = {-1.f, 0.f, 0.49f, 0.5f, 0.99f, 1.f, 2.f, 0.25f};
    // cells: below 0 | [0, 0.5) | [0.5, 1) | 1 and above
    std::vector<double> f = bin_frequencies(xs, 8, 1, 0.0, 1.0, 2);
    BOOST_REQUIRE_EQUAL(f.size(), 4u);
    BOOST_CHECK_CLOSE(f[0], 1.0 / 8, 1e-12);
    BOOST_CHECK_CLOSE(f[1], 3.0 / 8, 1e-12);
    BOOST_CHECK_CLOSE(f[2], 2.0 / 8, 1e-12);
    BOOST_CHECK_CLOSE(f[3], 2.0 / 8, 1e-12);
    // log ((e^1000 + e^1001) / 2) = 1000 + log((1 + e) / 2)
    BOOST_CHECK_CLOSE(log_mean_exp({1000.0, 1001.0}), 1000.0 + std::log((1.0 + std::exp(1.0)) / 2.0), 1e-12);
    BOOST_CHECK_EQUAL(log_mean_exp({}), -INFINITY);
}

// With one move the trajectory is s_0 → x → exit, PB's only step is forced
// (log PB = 0), and log w = log R(x) − log N(x − init; μ, σ²): logz_is is plain
// importance sampling of ∫ R = 2 with the policy's Gaussian as proposal. A
// proposal N(3.5, ~1) covers both components (bounded weights), so 50,000
// samples put it within a few hundredths of log 2; the binned l1 of that proposal
// is far from 0, that of the exact sampler near 0.
BOOST_AUTO_TEST_CASE(validation_metrics_on_a_one_step_line) {
    Line env({2.0, 5.0}, {0.5, 0.5}, 0.0, 4.5, 1);
    ParamStore store;
    Rng rng(21);
    GaussianStepPolicy pf(env, false, store, small_net(), rng, "pf");
    pin(store, 0, 3.5f, 6.f);
    const size_t pb_first = store.params.size();
    GaussianStepPolicy pb(env, true, store, small_net(), rng, "pb");
    pin(store, pb_first, 100.f, 100.f);  // never used: its only step is forced
    const double lo = env.range_lo(), hi = env.range_hi();
    const std::vector<double> target = env.bin_masses(lo, hi, 40);
    ContinuousValidation v = validate_continuous(env, pf, &pb, target, lo, hi, 50000, rng);
    BOOST_CHECK_SMALL(v.logz_is - std::log(2.0), 0.03);
    BOOST_CHECK_GT(v.binned_l1, 0.3);
    std::vector<float> x(2 * 50000);
    env.sample_target(rng, 50000, x.data());
    std::vector<double> exact = bin_frequencies(x.data(), 50000, 2, lo, hi, 40);
    double l1 = 0.0;
    for (size_t b = 0; b < exact.size(); ++b) l1 += std::fabs(exact[b] - target[b]);
    BOOST_CHECK_LT(l1, 0.05);
}

BOOST_AUTO_TEST_CASE(train_flags_for_line) {
    Config c;
    parse_train_flags({"--env", "line"}, c);
    BOOST_CHECK_EQUAL(c.batch_size, 256);
    BOOST_CHECK_EQUAL(c.iterations, 5000);
    BOOST_CHECK_EQUAL(c.hidden, 64);
    BOOST_CHECK_EQUAL(c.layers, 3);
    BOOST_CHECK_EQUAL(c.activation, "elu");
    BOOST_CHECK_EQUAL(c.exploration_var_starting_val, 2.0);
    BOOST_CHECK_EQUAL(c.gradient_clip_value, 5.0);
    Config d;
    parse_train_flags({"--env", "line", "--batch-size", "16", "--gradient-clip-value", "0"}, d);
    BOOST_CHECK_EQUAL(d.batch_size, 16);
    BOOST_CHECK_EQUAL(d.gradient_clip_value, 0.0);
    Config h;
    parse_train_flags({}, h);  // other envs keep theirs
    BOOST_CHECK_EQUAL(h.batch_size, 128);
    BOOST_CHECK_EQUAL(h.gradient_clip_value, 0.0);
    auto message_of = [](std::vector<std::string> args) {
        Config x;
        try { parse_train_flags(args, x); } catch (const std::invalid_argument& e) { return std::string(e.what()); }
        return std::string();
    };
    BOOST_CHECK(message_of({"--env", "line", "--loss", "fm"}).find("--loss fm") != std::string::npos);
    BOOST_CHECK(message_of({"--env", "line", "--mus", "1,2", "--sigmas", "1"}).find("--sigmas") != std::string::npos);
    BOOST_CHECK(message_of({"--env", "line", "--sigmas", "0.5,-1"}).find("--sigmas") != std::string::npos);
    BOOST_CHECK(message_of({"--env", "line", "--init-value", "100"}).find("--init-value") != std::string::npos);
    BOOST_CHECK(message_of({"--env", "line", "--epsilon", "0.1"}).find("--exploration-var-starting-val") !=
                std::string::npos);
    BOOST_CHECK(message_of({"--exploration-var-starting-val", "1"}).find("--env line") != std::string::npos);
    BOOST_CHECK(message_of({"--env", "line", "--trace"}).find("--trace") != std::string::npos);
    // A flag name longer than the help's column keeps a space before its help.
    BOOST_CHECK(train_flags_help().find("--exploration-var-starting-val V continuous") != std::string::npos);
}

// `--env line` builds torchgfn's train_line: per policy an MLP 2 -> 64 -> 64 -> 64 -> 2
// (its GaussianStepMLP, n_hidden_layers = 3: four Linear layers), so
//     (2·64 + 64) + 2·(64·64 + 64) + (64·2 + 2) = 192 + 8320 + 130 = 8642
// parameters each; weights and biases drawn from U(±1/√fan_in) (torch.nn.Linear's
// default); log Z starts at 0 in its own group (lr 0.1, the network's 1e-3); the
// exploration std is linspace(2, 0, 5000)[i] = 2·(1 − i/4999); and the gradient
// clamp leaves log Z alone (train_line skips 0-dim parameters).
BOOST_AUTO_TEST_CASE(line_run_is_train_lines_setup) {
    Config c;
    parse_train_flags({"--env", "line", "--seed", "1"}, c);
    Run run(c);
    size_t n_pf = 0, n_pb = 0;
    int n_log_z = 0;
    for (const Param& p : run.store.params) {
        const float* v = run.store.values.data() + p.offset;
        if (p.group == kLogZGroup) {
            ++n_log_z;
            BOOST_CHECK_EQUAL(p.size(), 1u);
            BOOST_CHECK_EQUAL(v[0], 0.f);
            continue;
        }
        if (p.name.rfind("pf.", 0) == 0) n_pf += p.size();
        if (p.name.rfind("pb.", 0) == 0) n_pb += p.size();
        // fan_in: a weight (out, in) has it as cols; a bias takes its weight's
        const bool bias = p.name.size() > 5 && p.name.compare(p.name.size() - 5, 5, ".bias") == 0;
        int fan_in = p.cols;
        if (bias) {
            const std::string w = p.name.substr(0, p.name.size() - 5) + ".weight";
            for (const Param& q : run.store.params)
                if (q.name == w) fan_in = q.cols;
        }
        const float bound = 1.f / std::sqrt(float(fan_in));
        float lo = 1e9f, hi = -1e9f;
        for (size_t k = 0; k < p.size(); ++k) {
            lo = std::min(lo, v[k]);
            hi = std::max(hi, v[k]);
        }
        BOOST_TEST_INFO(p.name << " in [" << lo << ", " << hi << "], bound " << bound);
        BOOST_CHECK(lo >= -bound && hi <= bound);
        if (p.size() >= 64) {  // and fills it: a uniform's extremes come near both ends
            BOOST_TEST_INFO(p.name);
            BOOST_CHECK(lo < -0.8f * bound && hi > 0.8f * bound);
        }
    }
    BOOST_CHECK_EQUAL(n_pf, 8642u);
    BOOST_CHECK_EQUAL(n_pb, 8642u);
    BOOST_CHECK_EQUAL(n_log_z, 1);
    BOOST_CHECK_CLOSE(run.optimizer->groups[0].lr, 1e-3f, 1e-4);
    BOOST_CHECK_CLOSE(run.optimizer->groups[1].lr, 0.1f, 1e-4);
    BOOST_CHECK_EQUAL(exploration_std(run, 0), 2.0);
    BOOST_CHECK_CLOSE(exploration_std(run, 1000), 2.0 * (1.0 - 1000.0 / 4999.0), 1e-9);
    BOOST_CHECK_EQUAL(exploration_std(run, 4999), 0.0);
    for (size_t k = 0; k < run.store.grads.size(); ++k) run.store.grads[k] = k % 2 ? 7.f : -7.f;
    clamp_network_gradients(run.store, float(c.gradient_clip_value));
    for (const Param& p : run.store.params) {
        const float want = p.group == kLogZGroup ? 7.f : 5.f;
        for (size_t k = p.offset; k < p.offset + p.size(); ++k) BOOST_CHECK_EQUAL(std::fabs(run.store.grads[k]), want);
    }
}

// A short run end to end: the step samples, scores and updates; validation
// reports the continuous metrics; LPV runs too.
BOOST_AUTO_TEST_CASE(a_short_line_run) {
    for (const char* loss : {"tb", "lpv"}) {
        Config c;
        parse_train_flags({"--env", "line", "--loss", loss, "--iterations", "20", "--batch-size", "32",
                           "--validation-samples", "2000", "--seed", "3"},
                          c);
        Run run(c);
        const std::vector<float> before = run.store.values;
        TrainResult r = train(run);
        BOOST_CHECK_EQUAL(run.iteration, 20);
        BOOST_CHECK(run.store.values != before);
        const Metrics& m = r.final_metrics;
        BOOST_CHECK(std::isfinite(m.binned_l1) && m.binned_l1 >= 0 && m.binned_l1 <= 2);
        BOOST_CHECK(std::isfinite(m.binned_jsd));
        BOOST_CHECK(std::isfinite(m.logz_is));
        BOOST_CHECK_CLOSE(m.logz_true, std::log(2.0), 1e-9);
        BOOST_CHECK_EQUAL(std::isnan(m.logz), std::string(loss) == "lpv");
    }
}

BOOST_AUTO_TEST_SUITE_END()
