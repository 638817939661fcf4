// test_diffusion_sampling.cpp — the diffusion sampler's environment, its
// pinned-Brownian forward policy (the PIS network) and its Brownian-bridge
// backward policy (SPEC.md §9).
//
// The target is test-local (an isotropic Gaussian, so this suite does not depend
// on envs/diffusion_targets.cpp). Hand-worked values are Gaussian log-densities
// written out from
//     log N(a; μ, s²·I) = Σ_j [−½ log 2π − log s − ½((a_j − μ_j)/s)²]
// for a network whose output layer is pinned (zero weights, chosen bias), so
// f_θ is that bias whatever the input. The bridge's samples are checked against
// the Brownian bridge's marginal at t = ½; gradients against central
// differences (tests/gradcheck.h).
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/nn.h"
#include "engine/ops.h"
#include "envs/diffusion_sampling.h"
#include "envs/diffusion_targets.h"
#include "gfn/estimators/diffusion_policy.h"
#include "gfn/estimators/log_probs.h"
#include "gfn/objectives/trajectory_balance.h"
#include "gfn/samplers/continuous_sampler.h"
#include "tests/gradcheck.h"

using namespace gfn;

namespace {

double log_normal(double x, double mu, double sigma) {
    const double z = (x - mu) / sigma;
    return -0.5 * std::log(2.0 * M_PI) - std::log(sigma) - 0.5 * z * z;
}

// N(m, s²·I) on R^d, normalised (log Z = 0).
class GaussianTarget : public DiffusionTarget {
public:
    GaussianTarget(int d, double m, double s) : d_(d), m_(m), s_(s) {}
    std::string name() const override { return "test_gaussian"; }
    int dim() const override { return d_; }
    void log_density(const float* xs, int n, float* out) const override {
        for (int i = 0; i < n; ++i) {
            double v = 0.0;
            for (int j = 0; j < d_; ++j) v += log_normal(xs[size_t(i) * d_ + j], m_, s_);
            out[i] = float(v);
        }
    }
    // ∂/∂x_j log R = −(x_j − m)/s²
    void log_density_gradient(const float* xs, int n, float* grad) const override {
        for (size_t i = 0; i < size_t(n) * d_; ++i) grad[i] = float(-(double(xs[i]) - m_) / (s_ * s_));
    }
    double log_partition() const override { return 0.0; }
    void sample(Rng& rng, int n, float* out) const override {
        for (size_t i = 0; i < size_t(n) * d_; ++i) out[i] = float(m_ + s_ * rng.normal());
    }

private:
    int d_;
    double m_, s_;
};

std::shared_ptr<const DiffusionTarget> gaussian(int d = 2, double m = 0.0, double s = 1.0) {
    return std::make_shared<GaussianTarget>(d, m, s);
}

// A small network for gradient checks and rollouts.
DiffusionPolicyOptions small_options(bool learn_variance, bool zero_init) {
    DiffusionPolicyOptions o;
    o.sigma = 1.3f;
    o.t_scale = 2.f;
    o.harmonics_dim = 3;
    o.t_emb_dim = 4;
    o.s_emb_dim = 4;
    o.hidden_dim = 5;
    o.joint_layers = 2;
    o.zero_init = zero_init;
    o.learn_variance = learn_variance;
    o.log_var_range = 2.f;
    return o;
}

// A state (x, k/N) of `env`.
std::vector<float> state(const DiffusionSampling& env, std::vector<float> x, int k) {
    x.push_back(env.time_of_step(k));
    return x;
}

// One GradTarget per parameter, so that every tensor (the phase φ too) is checked.
std::vector<GradTarget> per_parameter(ParamStore& store) {
    std::vector<GradTarget> out;
    for (const Param& p : store.params)
        out.push_back(GradTarget{p.name, store.values.data() + p.offset, store.grads.data() + p.offset, p.size()});
    return out;
}

// Rows at steps `ks` with x ~ N(0, x_scale²·I) and moves ~ N(0, 0.25·I) (drawn in that
// order, row by row); the rows at step N exit.
struct MoveBatch {
    std::vector<float> states, actions;
    std::vector<uint8_t> exits;
    int n = 0;
};
MoveBatch random_moves(const DiffusionSampling& env, Rng& rng, const std::vector<int>& ks, double x_scale = 1.0) {
    MoveBatch b;
    for (int k : ks) {
        const std::vector<float> st = state(env, {float(x_scale * rng.normal()), float(x_scale * rng.normal())}, k);
        b.states.insert(b.states.end(), st.begin(), st.end());
        b.actions.push_back(float(0.5 * rng.normal()));
        b.actions.push_back(float(0.5 * rng.normal()));
        b.exits.push_back(k == env.n_steps());
        ++b.n;
    }
    return b;
}

// Every parameter of `pf` against central differences of Σ log PF over the batch.
GradCheckReport log_pf_gradient_check(const PinnedBrownianForward& pf, ParamStore& store, const MoveBatch& b) {
    GradCheckOptions opt;
    opt.step = 1e-2;
    return check_gradients(
        [&](Tape& tp) { return pf.log_prob(tp, b.states.data(), b.actions.data(), b.exits.data(), b.n); },
        per_parameter(store), opt);
}

std::string message_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(diffusion_sampling)

BOOST_AUTO_TEST_CASE(states_steps_and_forced_flags) {
    DiffusionSampling env(gaussian(), 3);  // t = k/3 is not a binary fraction
    BOOST_CHECK_EQUAL(env.state_dim(), 3);
    BOOST_CHECK_EQUAL(env.action_dim(), 2);
    BOOST_CHECK_EQUAL(env.max_trajectory_length(), 4);
    float s[3];
    env.initial_state(s);
    BOOST_CHECK(s[0] == 0.f && s[1] == 0.f && s[2] == 0.f);
    BOOST_CHECK(env.is_initial(s));
    BOOST_CHECK(!env.exit_allowed(s) && !env.exit_forced(s) && !env.backward_forced(s));
    const float a[2] = {0.5f, -0.25f};
    for (int k = 1; k <= 3; ++k) {
        BOOST_CHECK(!env.exit_allowed(s));
        env.step(s, a, 1, s);
        BOOST_CHECK_EQUAL(s[0], 0.5f * float(k));
        BOOST_CHECK_EQUAL(s[1], -0.25f * float(k));
        // t is k/N from the counter, not a running sum of dt
        BOOST_CHECK_EQUAL(s[2], float(double(k) / 3.0));
        BOOST_CHECK_EQUAL(env.step_index(s), k);
        BOOST_CHECK_EQUAL(env.backward_forced(s), k == 1);
    }
    BOOST_CHECK_EQUAL(s[2], 1.f);
    BOOST_CHECK(env.exit_forced(s) && env.exit_allowed(s));
    BOOST_CHECK_THROW(env.step(s, a, 1, s), std::invalid_argument);
    // Round trip: backward_step undoes step (values exact in float).
    float p[3];
    env.backward_step(s, a, 1, p);
    BOOST_CHECK_EQUAL(p[0], 1.f);
    BOOST_CHECK_EQUAL(p[1], -0.5f);
    BOOST_CHECK_EQUAL(p[2], float(2.0 / 3.0));
    float q[3];
    env.step(p, a, 1, q);
    BOOST_CHECK(q[0] == s[0] && q[1] == s[1] && q[2] == s[2]);
    // From k = 1 the forced move is x and the step lands on s_0 exactly, even
    // for a move that would not cancel x in float.
    float s1[3] = {0.1f + 0.2f, -0.7f, env.time_of_step(1)}, f[2], back[3];
    env.backward_forced_action(s1, f);
    BOOST_CHECK(f[0] == s1[0] && f[1] == s1[1]);
    const float off[2] = {0.3f, -0.7000001f};
    env.backward_step(s1, off, 1, back);
    BOOST_CHECK(env.is_initial(back));
    BOOST_CHECK_THROW(env.backward_step(back, a, 1, p), std::invalid_argument);  // from s_0
}

BOOST_AUTO_TEST_CASE(reward_partition_target_samples_and_bad_arguments) {
    DiffusionSampling env(gaussian(2, 1.0, 0.5), 4);
    const float s[6] = {1.f, 0.f, 1.f, 2.5f, -1.f, 1.f};
    float lr[2];
    env.log_reward(s, 2, lr);
    BOOST_CHECK_CLOSE(double(lr[0]), log_normal(1, 1, 0.5) + log_normal(0, 1, 0.5), 1e-4);
    BOOST_CHECK_CLOSE(double(lr[1]), log_normal(2.5, 1, 0.5) + log_normal(-1, 1, 0.5), 1e-4);
    double log_z = 1.0;
    BOOST_REQUIRE(env.exact_log_partition(&log_z));
    BOOST_CHECK_EQUAL(log_z, 0.0);
    Rng rng(4);
    std::vector<float> x(3 * 2000);
    BOOST_REQUIRE(env.sample_target(rng, 2000, x.data()));
    double sum = 0.0;
    for (int i = 0; i < 2000; ++i) {
        BOOST_REQUIRE_EQUAL(x[3 * size_t(i) + 2], 1.f);
        BOOST_REQUIRE(env.exit_forced(&x[3 * size_t(i)]));
        sum += x[3 * size_t(i)] + x[3 * size_t(i) + 1];
    }
    BOOST_CHECK_SMALL(sum / 4000 - 1.0, 0.05);  // sd 0.008
    BOOST_CHECK(message_of([] { DiffusionSampling(gaussian(), 0); }).find("--n-steps") != std::string::npos);
    BOOST_CHECK(message_of([] { DiffusionSampling(nullptr, 4); }).find("null") != std::string::npos);
    DiffusionPolicyOptions o;
    o.sigma = 0.f;
    BOOST_CHECK(message_of([&] { BrownianBridgeBackward(env, o); }).find("sigma") != std::string::npos);
    ParamStore store;
    BOOST_CHECK(message_of([&] { PinnedBrownianForward(env, store, o, rng); }).find("sigma") != std::string::npos);
    DiffusionPolicyOptions e;
    e.t_emb_dim = 8;
    BOOST_CHECK(message_of([&] { PinnedBrownianForward(env, store, e, rng); }).find("s_emb_dim") !=
                std::string::npos);
}

// Every sampled trajectory has exactly N moves, then the exit at t = 1.
BOOST_AUTO_TEST_CASE(rollouts_take_exactly_n_moves) {
    const int N = 5;
    DiffusionSampling env(gaussian(), N);
    ParamStore store;
    Rng rng(3);
    PinnedBrownianForward pf(env, store, small_options(true, false), rng);
    BrownianBridgeBackward pb(env, small_options(true, false));
    Tape tape;
    Trajectories t;
    sample_continuous_trajectories(env, pf, 6, 0.5f, rng, tape, t);
    BOOST_CHECK_EQUAL(t.n_steps(), 6 * (N + 1));
    BOOST_CHECK_EQUAL(t.n_bsteps(), 6 * N);
    for (int i = 0; i < t.n; ++i) {
        BOOST_REQUIRE_EQUAL(t.lengths[size_t(i)], N + 1);
        BOOST_CHECK(env.is_initial(t.float_state(0, i)));
        for (int k = 0; k < N; ++k) {
            const float* s = t.float_state(k, i);
            const float* s2 = t.float_state(k + 1, i);
            BOOST_CHECK_EQUAL(s2[2], float(double(k + 1) / N));
            for (int j = 0; j < 2; ++j) BOOST_CHECK_EQUAL(s2[j], s[j] + t.float_action(k, i)[j]);
        }
        BOOST_CHECK_EQUAL(t.float_terminal_state(i)[2], 1.f);
        BOOST_CHECK(std::isnan(t.float_action(N, i)[0]));  // the exit
        float lr = 0.f;
        env.log_reward(t.float_terminal_state(i), 1, &lr);
        BOOST_CHECK_EQUAL(t.log_rewards[size_t(i)], lr);
    }
    // Scored: the exit's log PF and the first backward step's log PB are 0, the rest finite.
    StepLogProbs lp = evaluate_log_probs(tape, t, pf, &pb, true);
    for (int k = 0; k < t.n_steps(); ++k) {
        const float v = lp.log_pf.value().data[k];
        BOOST_CHECK(std::isfinite(v));
        if (t.step_t[size_t(k)] == N) BOOST_CHECK_EQUAL(v, 0.f);
    }
    for (int k = 0; k < t.n_bsteps(); ++k) {
        const float v = lp.log_pb.value().data[k];
        BOOST_CHECK(std::isfinite(v));
        if (t.bstep_t[size_t(k)] == 1) BOOST_CHECK_EQUAL(v, 0.f);
        else BOOST_CHECK(v != 0.f);
    }
}

// Output layer pinned to weight 0 and bias b: f_θ = b, so a move is
// N(dt·b, s²·I) with s = σ√(dt·t_scale) (learned variance: s·e^{L·tanh(r)}).
BOOST_AUTO_TEST_CASE(hand_worked_log_pf) {
    const int N = 4;
    const double dt = 0.25, sigma = 1.3, t_scale = 2.0;
    DiffusionSampling env(gaussian(), N);
    const std::vector<float> s0 = state(env, {0.f, 0.f}, 0), s2 = state(env, {0.7f, -1.1f}, 2),
                             s4 = state(env, {1.f, 2.f}, 4);
    std::vector<float> states = s0;
    states.insert(states.end(), s2.begin(), s2.end());
    states.insert(states.end(), s4.begin(), s4.end());
    const float actions[6] = {0.4f, -0.3f, 1.2f, 0.1f, NAN, NAN};
    const uint8_t exits[3] = {0, 0, 1};
    const double s = sigma * std::sqrt(dt * t_scale);
    Tape tape;
    {  // zero_init: the mean is 0
        ParamStore store;
        Rng rng(1);
        PinnedBrownianForward pf(env, store, small_options(false, true), rng);
        BOOST_CHECK_CLOSE(pf.base_std(), s, 1e-5);  // σ is a float
        Var lp = pf.log_prob(tape, states.data(), actions, exits, 3);
        BOOST_REQUIRE_EQUAL(lp.rows(), 3);
        BOOST_CHECK_CLOSE(double(lp.value().data[0]), log_normal(0.4, 0, s) + log_normal(-0.3, 0, s), 1e-4);
        BOOST_CHECK_CLOSE(double(lp.value().data[1]), log_normal(1.2, 0, s) + log_normal(0.1, 0, s), 1e-4);
        BOOST_CHECK_EQUAL(lp.value().data[2], 0.f);  // the forced exit
        // A move at t = 1 or an exit before it is refused.
        const uint8_t no_exit[3] = {0, 0, 0}, early[3] = {1, 0, 1};
        BOOST_CHECK_THROW(pf.log_prob(tape, states.data(), actions, no_exit, 3), std::invalid_argument);
        BOOST_CHECK_THROW(pf.log_prob(tape, states.data(), actions, early, 3), std::invalid_argument);
    }
    {  // bias b = (2, −4): mean dt·b = (0.5, −1); learned variance r = 0.3: s·e^{2·tanh 0.3}
        ParamStore store;
        Rng rng(1);
        PinnedBrownianForward pf(env, store, small_options(true, true), rng);
        const Param& b = store.params.back();
        BOOST_REQUIRE_EQUAL(b.size(), 3u);
        store.values[b.offset] = 2.f;
        store.values[b.offset + 1] = -4.f;
        store.values[b.offset + 2] = 0.3f;
        const double sl = s * std::exp(2.0 * std::tanh(0.3));
        Var lp = pf.log_prob(tape, states.data(), actions, exits, 3);
        BOOST_CHECK_CLOSE(double(lp.value().data[0]), log_normal(0.4, 0.5, sl) + log_normal(-0.3, -1, sl), 1e-4);
        BOOST_CHECK_CLOSE(double(lp.value().data[1]), log_normal(1.2, 0.5, sl) + log_normal(0.1, -1, sl), 1e-4);
        BOOST_CHECK_EQUAL(lp.value().data[2], 0.f);
    }
}

// Zero-initialised PF with exploration e: the first move is N(0, (s² + e²)·I),
// s² = σ²·dt·t_scale = 1.69·0.25·2 (std_b = √(s² + e²)).
BOOST_AUTO_TEST_CASE(exploration_widens_the_std) {
    DiffusionSampling env(gaussian(), 4);
    ParamStore store;
    Rng rng(13);
    PinnedBrownianForward pf(env, store, small_options(false, true), rng);
    const int n = 40000;
    const double e = 1.5, want = 1.3 * 1.3 * 0.25 * 2.0 + e * e;
    Tape tape;
    Trajectories t;
    sample_continuous_trajectories(env, pf, n, float(e), rng, tape, t);
    double sum = 0.0, sq = 0.0;
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < 2; ++j) {
            const double a = t.float_action(0, i)[j];
            sum += a;
            sq += a * a;
        }
    const double mean = sum / (2 * n), var = sq / (2 * n) - mean * mean;
    BOOST_CHECK_SMALL(mean, 0.03);      // sd 0.006
    BOOST_CHECK_CLOSE(var, want, 3.0);  // relative sd 0.5 %
}

// PB at (x, t): N(x·dt/t, σ²·dt·(t − dt)/t) per coordinate; 0 at t = dt.
BOOST_AUTO_TEST_CASE(hand_worked_log_pb) {
    const int N = 4;
    const double dt = 0.25, sigma = 0.8;
    DiffusionSampling env(gaussian(), N);
    DiffusionPolicyOptions o;
    o.sigma = float(sigma);
    o.t_scale = 5.f;  // PF only: the bridge ignores it (as torchgfn's)
    BrownianBridgeBackward pb(env, o);
    BOOST_CHECK(pb.parameter_store() == nullptr);
    BOOST_CHECK(pb.is_backward());
    const std::vector<float> a = state(env, {1.f, -2.f}, 3), b = state(env, {0.6f, 0.2f}, 1),
                             c = state(env, {-0.4f, 0.9f}, 4);
    std::vector<float> states = a;
    states.insert(states.end(), b.begin(), b.end());
    states.insert(states.end(), c.begin(), c.end());
    const float moves[6] = {0.5f, -0.1f, 9.f, 9.f, -0.3f, 0.2f};
    Tape tape;
    Var lp = pb.log_prob(tape, states.data(), moves, nullptr, 3);
    auto bridge = [&](double x, double t, double m) {
        return log_normal(m, x * dt / t, sigma * std::sqrt(dt * (t - dt) / t));
    };
    BOOST_CHECK_CLOSE(double(lp.value().data[0]), bridge(1, 0.75, 0.5) + bridge(-2, 0.75, -0.1), 1e-4);
    BOOST_CHECK_EQUAL(lp.value().data[1], 0.f);  // t = dt: forced back to s_0
    BOOST_CHECK_CLOSE(double(lp.value().data[2]), bridge(-0.4, 1, -0.3) + bridge(0.9, 1, 0.2), 1e-4);
    const float s0[3] = {0.f, 0.f, 0.f};
    BOOST_CHECK_THROW(pb.log_prob(tape, s0, moves, nullptr, 1), std::invalid_argument);
    const uint8_t exit = 1;
    BOOST_CHECK_THROW(pb.log_prob(tape, a.data(), moves, &exit, 1), std::invalid_argument);
}

// Sampled backward from a fixed x at t = 1, the state at t = ½ is the Brownian
// bridge's marginal: mean x·t, variance σ²·t(1 − t) per coordinate, no
// correlation between coordinates (t_scale does not enter PB).
BOOST_AUTO_TEST_CASE(the_backward_policy_is_the_brownian_bridge) {
    const int N = 8, n = 40000;
    const double sigma = 1.2, t = 0.5;
    DiffusionSampling env(gaussian(), N);
    DiffusionPolicyOptions o;
    o.sigma = float(sigma);
    o.t_scale = 3.f;
    BrownianBridgeBackward pb(env, o);
    const float x[3] = {1.5f, -0.5f, 1.f};
    std::vector<float> xs;
    for (int i = 0; i < n; ++i) xs.insert(xs.end(), x, x + 3);
    Rng rng(17);
    Tape tape;
    Trajectories tr;
    sample_continuous_backward_trajectories(env, pb, xs.data(), n, rng, tape, tr);
    double s[2] = {0, 0}, sq[2] = {0, 0}, cross = 0;
    for (int i = 0; i < n; ++i) {
        BOOST_REQUIRE_EQUAL(tr.lengths[size_t(i)], N + 1);
        BOOST_REQUIRE(env.is_initial(tr.float_state(0, i)));
        const float* h = tr.float_state(N / 2, i);
        BOOST_REQUIRE_EQUAL(h[2], 0.5f);
        for (int j = 0; j < 2; ++j) {
            s[j] += h[j];
            sq[j] += double(h[j]) * h[j];
        }
        cross += double(h[0]) * h[1];
    }
    const double var_want = sigma * sigma * t * (1 - t);  // 0.36
    for (int j = 0; j < 2; ++j) {
        const double mean = s[j] / n, var = sq[j] / n - mean * mean;
        BOOST_CHECK_SMALL(mean - x[j] * t, 0.015);  // sd 0.003
        BOOST_CHECK_CLOSE(var, var_want, 3.0);      // relative sd 0.7 %
    }
    const double cov = cross / n - (s[0] / n) * (s[1] / n);
    BOOST_CHECK_SMALL(cov, 0.015);  // sd 0.0018
}

// The network against the PIS formula evaluated here in double from the store's
// values (header of diffusion_policy.h), ω = linspace(0.1, 100, 3) = (0.1, 50.05, 100).
BOOST_AUTO_TEST_CASE(pis_net_matches_its_formula) {
    DiffusionSampling env(gaussian(), 4);
    ParamStore store;
    Rng rng(9);
    PinnedBrownianForward pf(env, store, small_options(true, false), rng, "pf");
    auto P = [&](const std::string& name) {
        for (const Param& p : store.params)
            if (p.name == name) return std::vector<double>(store.values.begin() + long(p.offset),
                                                           store.values.begin() + long(p.offset + p.size()));
        BOOST_FAIL("no parameter " + name);
        return std::vector<double>();
    };
    // y = W x + b, W (out, in) row-major
    auto lin = [&](const std::string& name, const std::vector<double>& x) {
        const std::vector<double> W = P(name + ".weight"), b = P(name + ".bias");
        std::vector<double> y(b);
        for (size_t o = 0; o < b.size(); ++o)
            for (size_t i = 0; i < x.size(); ++i) y[o] += W[o * x.size() + i] * x[i];
        return y;
    };
    auto gelu_v = [](std::vector<double> v) {
        for (double& a : v) a = 0.5 * a * (1.0 + std::erf(a / std::sqrt(2.0)));
        return v;
    };
    const double omega[3] = {0.1, 50.05, 100.0};
    const std::vector<double> phi = P("pf.t_model.phase");
    for (int k : {0, 1, 3}) {
        const std::vector<float> s = state(env, {0.8f, -0.35f}, k);
        const double t = s[2];
        std::vector<double> e(6);
        for (int i = 0; i < 3; ++i) {
            e[size_t(i)] = std::sin(t * omega[i] + phi[size_t(i)]);
            e[size_t(i) + 3] = std::cos(t * omega[i] + phi[size_t(i)]);
        }
        const std::vector<double> t_emb = lin("pf.t_model.lin1", gelu_v(lin("pf.t_model.lin0", e)));
        const std::vector<double> s_emb = lin("pf.s_model", {s[0], s[1]});
        std::vector<double> h(4);
        for (size_t j = 0; j < 4; ++j) h[j] = s_emb[j] + t_emb[j];
        h = gelu_v(lin("pf.joint.lin1", gelu_v(lin("pf.joint.lin0", gelu_v(h)))));
        const std::vector<double> out = lin("pf.joint.out", h);
        Tape tape;
        Var y = pf.net().forward(tape, s.data(), 1);
        BOOST_REQUIRE_EQUAL(y.cols(), 3);
        for (int j = 0; j < 3; ++j) BOOST_CHECK_SMALL(double(y.value().data[j]) - out[size_t(j)], 2e-5);
    }
}

// The time embedding is computed once per distinct t and broadcast: the same
// values as evaluating each row on its own.
BOOST_AUTO_TEST_CASE(distinct_times_broadcast_like_per_row) {
    const int N = 6;
    DiffusionSampling env(gaussian(), N);
    ParamStore store;
    Rng rng(5);
    PinnedBrownianForward pf(env, store, small_options(true, false), rng);
    const int ks[] = {3, 0, 3, 5, 1, 0, 2, 5, 3, 4};
    std::vector<float> states;
    for (int k : ks) {
        const std::vector<float> s = state(env, {float(rng.normal()), float(rng.normal())}, k);
        states.insert(states.end(), s.begin(), s.end());
    }
    const int n = int(sizeof(ks) / sizeof(ks[0]));
    Tape tape;
    Var all = pf.net().forward(tape, states.data(), n);
    BOOST_REQUIRE_EQUAL(all.cols(), 3);
    for (int i = 0; i < n; ++i) {
        Var one = pf.net().forward(tape, states.data() + 3 * size_t(i), 1);
        for (int j = 0; j < 3; ++j)
            BOOST_CHECK_CLOSE(all.value().data[3 * size_t(i) + j], one.value().data[j], 1e-3);
    }
}

// log PF through the whole PIS net (phase φ, time and state embeddings, joint
// layers, the learned-variance output) against central differences.
BOOST_AUTO_TEST_CASE(log_pf_gradients_through_the_pis_net) {
    const int N = 4;
    DiffusionSampling env(gaussian(), N);
    for (bool learn : {false, true}) {
        ParamStore store;
        Rng rng(7);
        PinnedBrownianForward pf(env, store, small_options(learn, false), rng);
        const MoveBatch b = random_moves(env, rng, {0, 2, 1, 2, 3, 4});
        GradCheckReport rep = log_pf_gradient_check(pf, store, b);
        BOOST_CHECK_MESSAGE(rep.ok, (learn ? "learned variance: " : "fixed variance: ") << rep.message());
        BOOST_CHECK(rep.checked > 100);
    }
}

// TB on a sampled diffusion batch, PF the PIS net with learned variance, PB the
// bridge: every parameter (PF and log Z) against central differences.
BOOST_AUTO_TEST_CASE(tb_gradients_on_a_diffusion_batch) {
    DiffusionSampling env(gaussian(2, 0.5, 0.8), 4);
    ParamStore store;
    Rng rng(11);
    PinnedBrownianForward pf(env, store, small_options(true, false), rng);
    BrownianBridgeBackward pb(env, small_options(true, false));
    ScalarEstimator log_z(store, 0.3f, 1, "log_z");
    Tape sample_tape;
    Trajectories t;
    sample_continuous_trajectories(env, pf, 3, 0.5f, rng, sample_tape, t);
    TBGFlowNet tb(&pf, &pb, &log_z);
    GradCheckOptions opt;
    opt.step = 1e-2;
    for (Reduction r : {Reduction::Mean, Reduction::None}) {
        GradCheckReport rep = check_gradients([&](Tape& tp) { return tb.loss(tp, t, true, r); },
                                              per_parameter(store), opt);
        BOOST_CHECK_MESSAGE(rep.ok, rep.message());
        BOOST_CHECK(rep.checked > 100);
    }
}

// The PIS net's GELU (engine/ops.cpp computes erf and exp without library
// calls so that it vectorises) against the exact erf form in double:
//     GELU(x) = x Φ(x),  GELU'(x) = Φ(x) + x φ(x),  Φ(x) = ½(1 + erf(x/√2))
BOOST_AUTO_TEST_CASE(gelu_matches_the_exact_erf_form) {
    const int n = 40001;
    std::vector<float> x(n), g(n, 0.f);
    for (int i = 0; i < n; ++i) x[size_t(i)] = -12.f + 24.f * float(i) / float(n - 1);
    Tape tape;
    Var a = tape.parameter(Tensor(x.data(), n, 1), g.data());
    Var y = gelu(a);
    tape.backward(sum(y));
    double worst_y = 0.0, worst_g = 0.0;
    for (int i = 0; i < n; ++i) {
        const double v = x[size_t(i)], Phi = 0.5 * (1.0 + std::erf(v / std::sqrt(2.0)));
        const double phi = std::exp(-0.5 * v * v) / std::sqrt(2.0 * M_PI);
        worst_y = std::max(worst_y, std::fabs(y.value().data[i] - v * Phi) / std::max(1.0, std::fabs(v)));
        worst_g = std::max(worst_g, std::fabs(g[size_t(i)] - (Phi + v * phi)));
    }
    BOOST_CHECK_LT(worst_y, 1e-6);
    BOOST_CHECK_LT(worst_g, 2e-6);
}

BOOST_AUTO_TEST_CASE(parameter_names_are_stable) {
    DiffusionSampling env(gaussian(), 4);
    ParamStore store;
    Rng rng(2);
    PinnedBrownianForward pf(env, store, small_options(true, true), rng, "prior");
    std::vector<std::string> names;
    for (const Param& p : store.params) names.push_back(p.name);
    const std::vector<std::string> want = {
        "prior.t_model.phase",        "prior.t_model.lin0.weight", "prior.t_model.lin0.bias",
        "prior.t_model.lin1.weight",  "prior.t_model.lin1.bias",   "prior.s_model.weight",
        "prior.s_model.bias",         "prior.joint.lin0.weight",   "prior.joint.lin0.bias",
        "prior.joint.lin1.weight",    "prior.joint.lin1.bias",     "prior.joint.out.weight",
        "prior.joint.out.bias"};
    BOOST_CHECK_EQUAL_COLLECTIONS(names.begin(), names.end(), want.begin(), want.end());
    BOOST_CHECK_EQUAL(store.params.back().size(), 3u);  // d + 1 with learned variance
    // H = 3 frequencies from 0.1 to 100, φ (1, 3); the joint input is s_emb_dim = 4
    BOOST_CHECK_EQUAL(store.params[0].cols, 3);
    BOOST_CHECK_EQUAL(store.params[1].cols, 6);
    // macs per row: s_model 2·4 + joint 4·5 + 5·5 + out 5·3
    BOOST_CHECK_EQUAL(pf.macs_per_row(), 8 + 20 + 25 + 15);
}

// zero_init (the default; --no-zero-init turns it off): the last layer of f_θ starts at
// exactly 0, λ_θ's at weight 0 / bias 0.01. Off, both keep Linear's draw, U(±1/√fan_in),
// and every other parameter is the same draw either way.
BOOST_AUTO_TEST_CASE(zero_init_and_its_absence) {
    DiffusionSampling env(gaussian(), 4);
    ParamStore zs, rs;
    Rng rz(5), rr(5);
    DiffusionPolicyOptions o = small_options(false, true);
    o.lp = true;
    PinnedBrownianForward zero(env, zs, o, rz, "pf");
    o.zero_init = false;
    PinnedBrownianForward random(env, rs, o, rr, "pf");
    BOOST_REQUIRE_EQUAL(zs.params.size(), rs.params.size());
    for (size_t k = 0; k < zs.params.size(); ++k) {
        const Param& p = zs.params[k];
        const bool last = p.name == "pf.joint.out.weight" || p.name == "pf.joint.out.bias" ||
                          p.name == "pf.lp_model.out.weight" || p.name == "pf.lp_model.out.bias";
        const float* a = zs.values.data() + p.offset;
        const float* b = rs.values.data() + rs.params[k].offset;
        if (!last) {
            for (size_t j = 0; j < p.size(); ++j) BOOST_CHECK_EQUAL(a[j], b[j]);
            continue;
        }
        // fan_in: a weight's columns, or (a bias) its weight's, the parameter before it
        const bool weight = p.name.find("weight") != std::string::npos;
        BOOST_REQUIRE(weight || k > 0);
        const double bound = 1.0 / std::sqrt(double(weight ? p.cols : zs.params[k - 1].cols));
        int nonzero = 0;
        for (size_t j = 0; j < p.size(); ++j) {
            BOOST_CHECK_EQUAL(a[j], p.name == "pf.lp_model.out.bias" ? 0.01f : 0.f);
            BOOST_CHECK(std::fabs(double(b[j])) <= bound);
            nonzero += b[j] != 0.f;
        }
        BOOST_CHECK_MESSAGE(nonzero == int(p.size()), p.name << ": " << nonzero << " of " << p.size());
    }
}

// The Langevin parametrization, by hand. Target N(0.5, 0.8²·I): ∇log R(x) = −(x − 0.5)/0.64.
// At x = (0.7, −1.1): (−0.3125, 2.5), clipped at lp_clip = 1 to (−0.3125, 1). With zero_init
// f_θ = 0 and λ_θ(t) = its last bias: 0.01 at first, then set to (2, −3) per dimension,
// so the mean is dt·λ ⊙ g and log PF a Gaussian around it with the fixed std.
BOOST_AUTO_TEST_CASE(langevin_parametrization_hand_worked) {
    const int N = 4;
    const double dt = 0.25, sigma = 1.3, t_scale = 2.0, s = sigma * std::sqrt(dt * t_scale);
    DiffusionSampling env(gaussian(2, 0.5, 0.8), N);
    DiffusionPolicyOptions o = small_options(false, true);
    o.lp = true;
    o.lp_clip = 1.f;
    ParamStore store;
    Rng rng(4);
    PinnedBrownianForward pf(env, store, o, rng);
    BOOST_REQUIRE(pf.net().langevin());
    const Param& lam = store.params.back();  // pf.lp_model.out.bias, (1, d)
    BOOST_REQUIRE_EQUAL(lam.name, "pf.lp_model.out.bias");
    BOOST_CHECK_EQUAL(store.values[lam.offset], 0.01f);
    std::vector<float> states = state(env, {0.7f, -1.1f}, 2), s1 = state(env, {0.5f, 0.9f}, 1);
    states.insert(states.end(), s1.begin(), s1.end());
    const float actions[4] = {0.2f, -0.4f, 0.1f, 0.3f};
    const uint8_t exits[2] = {0, 0};
    // row 1: x = (0.5, 0.9): g = (0, −0.625)
    const double g[2][2] = {{-0.3125, 1.0}, {0.0, -0.625}};
    for (int pass = 0; pass < 2; ++pass) {
        const double l0 = pass == 0 ? 0.01 : 2.0, l1 = pass == 0 ? 0.01 : -3.0;
        if (pass == 1) {
            store.values[lam.offset] = 2.f;
            store.values[lam.offset + 1] = -3.f;
        }
        Tape tape;
        Var lp = pf.log_prob(tape, states.data(), actions, exits, 2);
        for (int r = 0; r < 2; ++r) {
            const double want = log_normal(actions[2 * r], dt * l0 * g[r][0], s) +
                                log_normal(actions[2 * r + 1], dt * l1 * g[r][1], s);
            BOOST_CHECK_CLOSE(double(lp.value().data[r]), want, 1e-4);
        }
    }
    // Without the score the net refuses; a NaN score is refused too.
    Tape tape;
    BOOST_CHECK_THROW(pf.net().forward(tape, states.data(), 2), std::invalid_argument);
    const float nan_score[4] = {NAN, 0.f, 0.f, 0.f};
    BOOST_CHECK_THROW(pf.net().forward(tape, states.data(), 2, nan_score), std::invalid_argument);
    DiffusionPolicyOptions bad = o;
    bad.lp_layers = 0;
    BOOST_CHECK_THROW(PinnedBrownianForward(env, store, bad, rng), std::invalid_argument);
    bad = o;
    bad.lp_clip = 0.f;
    BOOST_CHECK_THROW(PinnedBrownianForward(env, store, bad, rng), std::invalid_argument);
}

// Every parameter of the Langevin-parametrized PF (λ_θ's phase and layers too) against
// central differences, on and off the time grid, fixed and learned variance.
// --variance-per-dimension: one log-std correction per coordinate. Zero-init net,
// last bias (2, −4 | 0.3, −0.5): mean dt·(2, −4) = (0.5, −1), stds s·e^{2·tanh 0.3} and
// s·e^{2·tanh(−0.5)} (log_var_range 2), s = σ√(dt·t_scale); then every parameter against
// central differences.
BOOST_AUTO_TEST_CASE(learned_variance_per_dimension) {
    const int N = 4;
    const double dt = 0.25, sigma = 1.3, t_scale = 2.0, s = sigma * std::sqrt(dt * t_scale);
    DiffusionSampling env(gaussian(), N);
    DiffusionPolicyOptions o = small_options(true, true);
    o.variance_per_dimension = true;
    {
        ParamStore store;
        Rng rng(1);
        PinnedBrownianForward pf(env, store, o, rng);
        const Param& b = store.params.back();
        BOOST_REQUIRE_EQUAL(b.size(), 4u);  // d + d
        const float bias[4] = {2.f, -4.f, 0.3f, -0.5f};
        std::copy(bias, bias + 4, store.values.begin() + long(b.offset));
        const std::vector<float> st = state(env, {0.7f, -1.1f}, 2);
        const float a[2] = {1.2f, 0.1f};
        const uint8_t ex[1] = {0};
        Tape tape;
        Var lp = pf.log_prob(tape, st.data(), a, ex, 1);
        const double s0 = s * std::exp(2.0 * std::tanh(0.3)), s1 = s * std::exp(2.0 * std::tanh(-0.5));
        BOOST_CHECK_CLOSE(double(lp.value().data[0]), log_normal(1.2, 0.5, s0) + log_normal(0.1, -1.0, s1), 1e-4);
    }
    o.zero_init = false;
    ParamStore store;
    Rng rng(5);
    PinnedBrownianForward pf(env, store, o, rng);
    GradCheckReport rep = log_pf_gradient_check(pf, store, random_moves(env, rng, {0, 2, 3, 4}));
    BOOST_CHECK_MESSAGE(rep.ok, rep.message());
    BOOST_CHECK(rep.checked > 50);
    DiffusionPolicyOptions bad = small_options(false, true);
    bad.variance_per_dimension = true;
    BOOST_CHECK_THROW(PinnedBrownianForward(env, store, bad, rng), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(log_pf_gradients_with_the_langevin_parametrization) {
    const int N = 4;
    DiffusionSampling env(gaussian(2, 0.3, 0.9), N);
    for (bool learn : {false, true}) {
        DiffusionPolicyOptions o = small_options(learn, false);
        o.lp = true;
        o.lp_layers = 2;
        o.lp_clip = 1.5f;  // some entries clipped: their gradient is the clip's constant
        ParamStore store;
        Rng rng(17);
        PinnedBrownianForward pf(env, store, o, rng);
        MoveBatch b = random_moves(env, rng, {0, 2, 1, 2, 3, 4, 1}, 1.2);
        b.states[size_t(6) * 3 + 2] = 0.3f;  // the last row off the grid
        GradCheckReport rep = log_pf_gradient_check(pf, store, b);
        BOOST_CHECK_MESSAGE(rep.ok, (learn ? "learned variance: " : "fixed variance: ") << rep.message());
        BOOST_CHECK(rep.checked > 100);
        // λ_θ's parameters are among those checked, and get a gradient
        bool lp_grad = false;
        Tape tp;
        store.zero_grad();
        tp.backward(sum(pf.log_prob(tp, b.states.data(), b.actions.data(), b.exits.data(), b.n)));
        for (const Param& p : store.params)
            if (p.name.find("lp_model") != std::string::npos)
                for (size_t i = 0; i < p.size(); ++i) lp_grad = lp_grad || store.grads[p.offset + i] != 0.f;
        BOOST_CHECK(lp_grad);
    }
}

BOOST_AUTO_TEST_CASE(langevin_parameter_names) {
    DiffusionSampling env(gaussian(), 4);
    ParamStore store;
    Rng rng(2);
    DiffusionPolicyOptions o = small_options(false, true);
    o.lp = true;
    PinnedBrownianForward pf(env, store, o, rng, "pf");
    std::vector<std::string> names;
    for (size_t i = 13; i < store.params.size(); ++i) names.push_back(store.params[i].name);
    const std::vector<std::string> want = {
        "pf.lp_model.phase",       "pf.lp_model.lin0.weight", "pf.lp_model.lin0.bias", "pf.lp_model.lin1.weight",
        "pf.lp_model.lin1.bias",   "pf.lp_model.lin2.weight", "pf.lp_model.lin2.bias", "pf.lp_model.out.weight",
        "pf.lp_model.out.bias"};
    BOOST_CHECK_EQUAL_COLLECTIONS(names.begin(), names.end(), want.begin(), want.end());
    BOOST_CHECK_EQUAL(store.params[13].cols, 3);              // φ' (1, H)
    BOOST_CHECK_EQUAL(store.params[14].cols, 6);              // 2H → hidden
    BOOST_CHECK_EQUAL(store.params.back().cols, 2);           // → d
}

BOOST_AUTO_TEST_SUITE_END()

// The PIS network runs its GELU layers fused (linear_gelu, gelu_add_rows with the
// time embedding computed once per distinct t): its output and parameter
// gradients equal the plain composition of SPEC §9 built from unfused ops, one
// time embedding per row, on a batch whose times repeat out of order.
BOOST_AUTO_TEST_SUITE(diffusion_pisnet_fused)

namespace {

int param_id(const ParamStore& store, const std::string& name) {
    for (size_t k = 0; k < store.params.size(); ++k)
        if (store.params[k].name == name) return int(k);
    BOOST_FAIL("no parameter " + name);
    return -1;
}

// SPEC §9's PIS network built from unfused ops, one time embedding per row:
// out = Linear_out(GELU(Linear_1(GELU(Linear_0(GELU(Linear_s(x) + t_emb(t)))))))
// t_emb(t) = Linear_t1(GELU(Linear_t0([sin(tω + φ) | cos(tω + φ)]))),  ω_i = 0.1 + i·99.9/(H − 1)
// (parameters named "net.…", d = 2).
Var plain_pisnet(Tape& t, ParamStore& store, const float* states, int n, int H) {
    const int D = 3;
    auto lin = [&](const std::string& name, Var x) {
        return linear(x, store.var(t, param_id(store, name + ".weight")), store.var(t, param_id(store, name + ".bias")));
    };
    float* uw = t.arena.floats(size_t(n) * H);
    float* xs = t.arena.floats(size_t(n) * 2);
    for (int i = 0; i < n; ++i) {
        for (int k = 0; k < H; ++k)
            uw[size_t(i) * H + k] = states[size_t(i) * D + 2] * float(0.1 + k * (100.0 - 0.1) / (H - 1));
        xs[2 * i] = states[size_t(i) * D];
        xs[2 * i + 1] = states[size_t(i) * D + 1];
    }
    Var arg = add(t.constant(Tensor(uw, n, H)), store.var(t, param_id(store, "net.t_model.phase")));
    Var t_emb = lin("net.t_model.lin1", gelu(lin("net.t_model.lin0", concat_cols(sin(arg), cos(arg)))));
    Var h = gelu(add(lin("net.s_model", t.constant(Tensor(xs, n, 2))), t_emb));
    h = gelu(lin("net.joint.lin1", gelu(lin("net.joint.lin0", h))));
    return lin("net.joint.out", h);
}

// Σ w ⊙ f(tape) with fixed unequal weights: the value of f and the gradient slab after it.
std::vector<float> weighted_run(ParamStore& store, const std::function<Var(Tape&)>& f, std::vector<float>* value) {
    store.zero_grad();
    Tape t;
    Var y = f(t);
    *value = std::vector<float>(y.value().data, y.value().data + y.value().size());
    std::vector<float> w(value->size());
    for (size_t k = 0; k < w.size(); ++k) w[k] = 1.f + 0.3f * float(k % 4);
    t.backward(sum(mul(y, t.constant(Tensor(w.data(), y.rows(), y.cols())))));
    return store.grads;
}

void check_same_run(const std::vector<float>& vf, const std::vector<float>& vp, const std::vector<float>& gf,
                    const std::vector<float>& gp) {
    BOOST_REQUIRE_EQUAL(vf.size(), vp.size());
    for (size_t k = 0; k < vf.size(); ++k) BOOST_CHECK_SMALL(double(vf[k] - vp[k]), 1e-5 * (1.0 + std::fabs(vp[k])));
    double scale = 0.0;
    for (float g : gp) scale = std::max(scale, double(std::fabs(g)));
    BOOST_REQUIRE_GT(scale, 0.0);
    for (size_t k = 0; k < gf.size(); ++k)
        BOOST_CHECK_MESSAGE(std::fabs(gf[k] - gp[k]) <= 1e-5 * (scale + std::fabs(gp[k])),
                            "gradient " << k << ": " << gf[k] << " vs " << gp[k]);
}

std::vector<float> states_at(const DiffusionSampling& env, const std::vector<int>& steps) {
    std::vector<float> states;
    for (size_t i = 0; i < steps.size(); ++i) {
        const std::vector<float> s = state(env, {0.3f * float(i) - 1.f, 0.7f - 0.2f * float(i)}, steps[i]);
        states.insert(states.end(), s.begin(), s.end());
    }
    return states;
}

}  // namespace

BOOST_AUTO_TEST_CASE(pisnet_equals_the_unfused_composition) {
    const int N = 4, n = 7;
    DiffusionSampling env(gaussian(), N);
    ParamStore store;
    Rng rng(11);
    const DiffusionPolicyOptions o = small_options(true, false);
    PISNet net(store, "net", env.dim(), o, rng);
    const std::vector<float> states = states_at(env, {0, 2, 1, 2, 0, 3, 1});
    std::vector<float> vf, vp;
    const std::vector<float> gf = weighted_run(store, [&](Tape& t) { return net.forward(t, states.data(), n); }, &vf);
    const std::vector<float> gp =
        weighted_run(store, [&](Tape& t) { return plain_pisnet(t, store, states.data(), n, o.harmonics_dim); }, &vp);
    BOOST_REQUIRE_EQUAL(vf.size(), size_t(n) * size_t(net.out_dim()));
    check_same_run(vf, vp, gf, gp);
}

// With a time grid (time_steps N), calls whose times lie on k/N share one
// embedding of the N + 1 grid times per tape step (Tape::memo): two calls on one
// tape, as two rollout steps, give the values and summed gradients of the plain
// composition; the second adds none of the embedding's nodes; a call with a time
// off the grid, or made under NoGrad, does not use (or leave) the shared one.
BOOST_AUTO_TEST_CASE(grid_time_embedding_is_shared_within_a_step) {
    const int N = 4;
    DiffusionSampling env(gaussian(), N);
    ParamStore store;
    Rng rng(11);
    const DiffusionPolicyOptions o = small_options(true, false);
    PISNet net(store, "net", env.dim(), o, rng, N);
    const std::vector<float> a = states_at(env, {1, 1, 1}), b = states_at(env, {2, 0, 4, 2});
    const int na = 3, nb = 4, H = o.harmonics_dim;
    size_t nodes_first = 0, nodes_second = 0;
    auto two_steps = [&](Tape& t) {
        {  // a NoGrad call first: its embedding is not the one the recorded calls share
            NoGrad ng(t);
            net.forward(t, b.data(), nb);
        }
        size_t n0 = t.nodes.size();
        Var ya = net.forward(t, a.data(), na);
        nodes_first = t.nodes.size() - n0;
        n0 = t.nodes.size();
        Var yb = net.forward(t, b.data(), nb);
        nodes_second = t.nodes.size() - n0;
        Var ys[2] = {ya, yb};
        return concat_rows(ys, 2);
    };
    auto plain_two = [&](Tape& t) {
        Var ys[2] = {plain_pisnet(t, store, a.data(), na, H), plain_pisnet(t, store, b.data(), nb, H)};
        return concat_rows(ys, 2);
    };
    std::vector<float> vf, vp;
    const std::vector<float> gf = weighted_run(store, two_steps, &vf), gp = weighted_run(store, plain_two, &vp);
    check_same_run(vf, vp, gf, gp);
    BOOST_CHECK_LT(nodes_second, nodes_first);  // the embedding's ≥ 6 nodes are not built again
    BOOST_CHECK_GE(nodes_first - nodes_second, size_t(6));

    // Off the grid (t = 0.3 with N = 4): the batch's own times, the same values as the plain net.
    std::vector<float> off = states_at(env, {1, 3});
    off[2] = 0.3f;
    std::vector<float> vo, vq;
    const std::vector<float> go = weighted_run(
        store,
        [&](Tape& t) {
            net.forward(t, a.data(), na);  // leaves the grid embedding on the tape
            return net.forward(t, off.data(), 2);
        },
        &vo);
    const std::vector<float> gq = weighted_run(store, [&](Tape& t) { return plain_pisnet(t, store, off.data(), 2, H); }, &vq);
    check_same_run(vo, vq, go, gq);

    // reset() and rewind() forget the shared embedding.
    Tape t;
    net.forward(t, a.data(), na);
    BOOST_CHECK(t.memo(&net).valid());
    t.reset();
    BOOST_CHECK(!t.memo(&net).valid());
    const Tape::Mark m = t.mark();
    net.forward(t, a.data(), na);
    BOOST_CHECK(t.memo(&net).valid());
    t.rewind(m);
    BOOST_CHECK(!t.memo(&net).valid());
}

BOOST_AUTO_TEST_SUITE_END()
