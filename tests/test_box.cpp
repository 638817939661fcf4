// test_box.cpp — the Box environments (polar and Cartesian), their policies and
// validation (SPEC.md §8).
//
// Hand-worked values: Beta densities written out from
//     Beta(r; a, b) = r^(a−1) (1 − r)^(b−1) / B(a, b),  B(a, b) = (a−1)!(b−1)!/(a+b−1)!
// for integer concentrations, with the networks pinned to constant outputs (zero
// weights, chosen output biases) and concentrations c = 1 + 4·sigmoid(raw): raw 0 → 3,
// log 3 → 4, −log 3 → 2; mixture logits (0, log 3) → weights (¼, ¾).
// Normalisation: each PF / PB integrates to 1 over its action space (midpoint
// quadrature; the exit or back-to-s_0 mass added). Gradients against central
// differences (tests/gradcheck.h). Sampling against the density at a fixed seed.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "engine/nn.h"
#include "engine/ops.h"
#include "envs/box.h"
#include "gfn/estimators/box_policy.h"
#include "gfn/estimators/log_probs.h"
#include "gfn/runtime/config.h"
#include "gfn/runtime/continuous_training.h"
#include "gfn/runtime/training.h"
#include "gfn/samplers/continuous_sampler.h"
#include "gfn/validation/continuous_validation.h"
#include "gfn/validation/enumeration.h"
#include "tests/gradcheck.h"

using namespace gfn;

namespace {

double sigmoid_d(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double beta_pdf(double r, int a, int b) {
    auto fact = [](int k) { double f = 1; for (int i = 2; i <= k; ++i) f *= i; return f; };
    const double B = fact(a - 1) * fact(b - 1) / fact(a + b - 1);
    return std::pow(r, a - 1) * std::pow(1 - r, b - 1) / B;
}
// The pinned mixture of the tests: ¼ Beta(3, 3) + ¾ Beta(4, 2).
double mix(double r) { return 0.25 * beta_pdf(r, 3, 3) + 0.75 * beta_pdf(r, 4, 2); }

NetConfig small_net() {
    NetConfig c;
    c.hidden = 16;
    c.n_hidden_layers = 2;
    c.activation = Activation::Elu;
    return c;
}

BoxPolicyConfig test_cfg() {
    BoxPolicyConfig c;
    c.n_components = 2;
    c.n_components_s0 = 2;
    c.min_concentration = 1.f;  // bounded densities, so midpoint quadrature converges
    c.max_concentration = 5.f;
    return c;
}

// torchgfn's concentration range [0.1, 5.1], so that a pinned arc can be Beta(0.1, 5.1).
BoxPolicyConfig sharp_cfg() {
    BoxPolicyConfig c = test_cfg();
    c.min_concentration = 0.1f;
    c.max_concentration = 5.1f;
    return c;
}

// Output biases (pin) under sharp_cfg: every arc Beta(0.1, 5.1) (α raw −30 → 0.1, β raw 30 →
// 5.1, equal logits), and for PF no exit (l = −30) until forced.
const std::vector<float> kSharpPF = {-30.f, 0.f, 0.f, -30.f, -30.f, 30.f, 30.f};
const std::vector<float> kSharpPB = {0.f, 0.f, -30.f, -30.f, 30.f, 30.f};

// log B(a, b)
double log_beta_fn(double a, double b) { return std::lgamma(a) + std::lgamma(b) - std::lgamma(a + b); }

// Every weight of `net` 0 and its output bias = bias.
void pin(ParamStore& store, const MLP& net, const std::vector<float>& bias) {
    for (const Linear& l : net.hidden_layers) {
        std::fill_n(store.value(l.W).data, l.in * l.out, 0.f);
        std::fill_n(store.value(l.b).data, l.out, 0.f);
    }
    std::fill_n(store.value(net.output_layer.W).data, net.output_layer.in * net.output_layer.out, 0.f);
    BOOST_REQUIRE_EQUAL(size_t(net.output_layer.out), bias.size());
    std::copy(bias.begin(), bias.end(), store.value(net.output_layer.b).data);
}

// log p of one action (or the exit) at one state.
double lp1(const ContinuousPolicy& p, const float* s, const float* a, bool exit = false) {
    Tape tape;
    uint8_t e = exit ? 1 : 0;
    return p.log_prob(tape, s, a, &e, 1).value().data[0];
}

// log p of many actions at one state.
std::vector<double> lp_many(const ContinuousPolicy& p, const float* s, const std::vector<float>& a) {
    const int n = int(a.size() / 2);
    std::vector<float> st(size_t(n) * 2);
    for (int i = 0; i < n; ++i) st[2 * size_t(i)] = s[0], st[2 * size_t(i) + 1] = s[1];
    Tape tape;
    Var v = p.log_prob(tape, st.data(), a.data(), nullptr, n);
    return std::vector<double>(v.value().data, v.value().data + n);
}

// ∫ p over the arc of radius δ between angles (π/2)m and (π/2)M, per unit arc length.
double arc_integral(const ContinuousPolicy& p, const float* s, double delta, double m, double M, int N = 4000) {
    std::vector<float> a;
    for (int i = 0; i < N; ++i) {
        const double phi = M_PI / 2 * (m + (M - m) * (i + 0.5) / N);
        a.push_back(float(delta * std::cos(phi)));
        a.push_back(float(delta * std::sin(phi)));
    }
    double t = 0;
    for (double l : lp_many(p, s, a)) t += std::exp(l);
    return t * delta * (M_PI / 2) * (M - m) / N;
}

// ∫∫ p over the rectangle [lo0, hi0] × [lo1, hi1] of moves.
double rect_integral(const ContinuousPolicy& p, const float* s, double lo0, double hi0, double lo1, double hi1,
                     int N = 300) {
    std::vector<float> a;
    for (int i = 0; i < N; ++i)
        for (int j = 0; j < N; ++j) {
            a.push_back(float(lo0 + (hi0 - lo0) * (i + 0.5) / N));
            a.push_back(float(lo1 + (hi1 - lo1) * (j + 0.5) / N));
        }
    double t = 0;
    for (double l : lp_many(p, s, a)) t += std::exp(l);
    return t * (hi0 - lo0) * (hi1 - lo1) / (double(N) * N);
}

void randomise(ParamStore& store, int id, Rng& rng) {
    Tensor v = store.value(id);
    for (int k = 0; k < v.rows * v.cols; ++k) v.data[k] = rng.uniform(-1.f, 1.f);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(box)

BOOST_AUTO_TEST_CASE(reward_partition_and_cells) {
    Box env;
    const float xs[] = {0.5f, 0.5f, 0.05f, 0.05f, 0.15f, 0.85f, 0.15f, 0.5f, 0.95f, 0.05f};
    float lr[5];
    env.log_reward(xs, 5, lr);
    // centre R0; corner (|x−½| = 0.45 > 0.25, not < 0.4) R0 + R1; band R0 + R1 + R2; mixed R0
    const double want[] = {0.1, 0.6, 2.6, 0.1, 0.6};
    for (int i = 0; i < 5; ++i) BOOST_CHECK_CLOSE(std::exp(double(lr[i])), want[i], 1e-4);
    double lz;
    BOOST_REQUIRE(env.exact_log_partition(&lz));
    BOOST_CHECK_CLOSE(std::exp(lz), 0.305, 1e-9);
    // G = 10: the cell [0.1, 0.2]² lies in S1 and S2: (0.1 + 0.5 + 2)·0.01 / Z;
    // [0.2, 0.3] × [0.1, 0.2]: S1 overlap 0.05 × 0.1, no S2: (0.1·0.01 + 0.5·0.005) / Z.
    std::vector<double> c = env.cell_masses(10);
    double total = 0;
    for (double v : c) total += v;
    BOOST_CHECK_CLOSE(total, 1.0, 1e-9);
    BOOST_CHECK_CLOSE(c[1 * 10 + 1], 0.026 / 0.305, 1e-9);
    BOOST_CHECK_CLOSE(c[2 * 10 + 1], 0.0035 / 0.305, 1e-9);
    BOOST_CHECK_CLOSE(c[5 * 10 + 5], 0.001 / 0.305, 1e-9);
    BOOST_CHECK_THROW(env.cell_masses(0), std::invalid_argument);
    BOOST_CHECK_THROW(Box(0.0), std::invalid_argument);
    BOOST_CHECK_THROW(BoxCartesian(1.5), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(exact_sampler_matches_cells) {
    Box env;
    Rng rng(7);
    const int n = 200000;
    std::vector<float> x(size_t(n) * 2);
    BOOST_REQUIRE(env.sample_target(rng, n, x.data()));
    // Reward classes: P(R = 0.1) = 0.1·0.75/Z, P(0.6) = 0.6·0.21/Z, P(2.6) = 2.6·0.04/Z.
    std::vector<float> lr(static_cast<size_t>(n));
    env.log_reward(x.data(), n, lr.data());
    double f[3] = {0, 0, 0};
    for (float l : lr) f[std::exp(l) < 0.3 ? 0 : (std::exp(l) < 1.0 ? 1 : 2)] += 1.0 / n;
    const double p[3] = {0.075 / 0.305, 0.126 / 0.305, 0.104 / 0.305};
    for (int k = 0; k < 3; ++k) BOOST_CHECK_SMALL(f[k] - p[k], 4 * std::sqrt(p[k] * (1 - p[k]) / n));
    // Cells: l1 of 200000 draws on 100 cells is ~ Σ √(2 p / π n) ≈ 0.016 for exact draws.
    std::vector<double> freq = grid_frequencies(x.data(), n, 2, 10);
    double l1 = 0;
    std::vector<double> c = env.cell_masses(10);
    for (size_t k = 0; k < c.size(); ++k) l1 += std::fabs(freq[k] - c[k]);
    BOOST_CHECK_LT(l1, 0.03);
}

// The floor of the reported binned l1: exact draws through the code validate_continuous_grid
// uses (grid_frequencies, l1_distance) on the 50 × 50 grid. A cell's count is Binomial(n, p),
// so E|p̂ − p| ≈ √(2 p (1 − p) / (π n)) and the expected l1 is the sum of that over the cells
// (≈ 0.075 for 200,000 draws); its spread over seeds is ≈ 50 · 0.6 · √(p/n) ≈ 0.0014.
BOOST_AUTO_TEST_CASE(exact_sampler_binned_l1_is_the_floor) {
    Box env;
    const int n = 200000, G = 50;
    std::vector<double> c = env.cell_masses(G);
    double expected = 0;
    for (double p : c) expected += std::sqrt(2.0 * p * (1.0 - p) / (M_PI * n));
    BOOST_CHECK_CLOSE(expected, 0.075, 2.0);
    for (uint64_t seed : {1u, 2u, 3u}) {
        Rng rng(seed);
        std::vector<float> x(size_t(n) * 2);
        BOOST_REQUIRE(env.sample_target(rng, n, x.data()));
        const double l1 = l1_distance(grid_frequencies(x.data(), n, 2, G), c);
        BOOST_CHECK_SMALL(l1 - expected, 0.005);
    }
}

BOOST_AUTO_TEST_CASE(forced_steps) {
    Box polar;  // δ = 0.25
    BoxCartesian cart;
    const float s0[] = {0.f, 0.f}, mid[] = {0.5f, 0.5f}, near[] = {0.9f, 0.85f}, edge[] = {0.9f, 0.2f},
                small[] = {0.1f, 0.1f}, low[] = {0.2f, 0.5f};
    BOOST_CHECK(!polar.exit_forced(s0) && !polar.exit_allowed(s0));
    BOOST_CHECK(!polar.exit_forced(mid) && polar.exit_allowed(mid));
    BOOST_CHECK(polar.exit_forced(near));   // ‖1 − x‖ = 0.18 <= δ
    BOOST_CHECK(!polar.exit_forced(edge));  // ‖1 − x‖ = 0.81: a step at a steep angle fits
    BOOST_CHECK(polar.backward_forced(small) && !polar.backward_forced(low) && !polar.backward_forced(s0));
    BOOST_CHECK(cart.exit_forced(edge) && !cart.exit_forced(mid) && !cart.exit_forced(s0));
    BOOST_CHECK(cart.backward_forced(low) && !cart.backward_forced(mid));
    float out[2], a[2];
    cart.backward_forced_action(low, a);
    cart.backward_step(low, a, 1, out);
    BOOST_CHECK(cart.is_initial(out));
    BOOST_CHECK_THROW(cart.backward_step(s0, a, 1, out), std::invalid_argument);
    // Lengths: Cartesian 1 + ⌈1/δ⌉ moves and the exit; polar 1 + ⌈2/δ⌉ and the exit.
    BOOST_CHECK_EQUAL(cart.max_trajectory_length(), 6);
    BOOST_CHECK_EQUAL(polar.max_trajectory_length(), 10);
}

BOOST_AUTO_TEST_CASE(polar_hand_worked) {
    Box env(0.25);
    ParamStore store;
    Rng rng(1);
    BoxPolarPolicy pf(env, false, store, small_net(), test_cfg(), rng, "pf");
    BoxPolarPolicy pb(env, true, store, small_net(), test_cfg(), rng, "pb");
    const float L3 = std::log(3.f);
    // circle rows: l = −1, logits (0, log 3), α raw (0, log 3) → (3, 4), β raw (0, −log 3) → (3, 2)
    pin(store, pf.net(), {-1.f, 0.f, L3, 0.f, L3, 0.f, -L3});
    pin(store, pb.net(), {0.f, L3, 0.f, L3, 0.f, -L3});
    // s_0: logits (0, log 3), α_r (3, 3), β_r (4, 2), α_θ (2, 2), β_θ (3, 3)
    const float s0p[] = {0.f, L3, 0.f, 0.f, L3, -L3, -L3, -L3, 0.f, 0.f};
    std::copy(s0p, s0p + 10, store.value(pf.s0_param()).data);
    const double d = 0.25, lhp = std::log(M_PI / 2);

    // Move 1 from s_0: r = ½, θ = ½:
    //   log PF = log(¼ Beta(½;3,4) + ¾ Beta(½;3,2)) + log Beta(½;2,3) − log δ − log(π/2) − log(δ/2)
    const float s0[] = {0.f, 0.f};
    const float a1[] = {float(0.125 * std::cos(M_PI / 4)), float(0.125 * std::sin(M_PI / 4))};
    const double want1 = std::log(0.25 * 1.875 + 0.75 * 1.5) + std::log(1.5) - std::log(d) - lhp - std::log(0.125);
    BOOST_CHECK_CLOSE(0.25 * beta_pdf(0.5, 3, 4) + 0.75 * beta_pdf(0.5, 3, 2), 1.59375, 1e-9);
    BOOST_CHECK_CLOSE(lp1(pf, s0, a1), want1, 1e-3);
    BOOST_CHECK_THROW(lp1(pf, s0, a1, true), std::invalid_argument);  // no exit at s_0

    // Move 2 from x1 (full arc): u = ¼, φ = π/8:
    //   log PF = log σ(1) + log mix(¼) − log δ − log(π/2) − log 1,  mix(¼) = ¼·1.0546875 + ¾·0.234375
    float x1[2];
    env.step(s0, a1, 1, x1);
    const float a2[] = {float(d * std::cos(M_PI / 8)), float(d * std::sin(M_PI / 8))};
    BOOST_CHECK_CLOSE(mix(0.25), 0.439453125, 1e-9);
    BOOST_CHECK_CLOSE(lp1(pf, x1, a2), std::log(sigmoid_d(1)) + std::log(0.439453125) - std::log(d) - lhp, 1e-3);
    float x2[2];
    env.step(x1, a2, 1, x2);
    // Exit at x2 (allowed, not forced): log σ(l) = log σ(−1).
    BOOST_CHECK_CLOSE(lp1(pf, x2, a2, true), std::log(sigmoid_d(-1)), 1e-3);
    // A restricted arc: x = (0.85, 0.3), m = (2/π) acos(0.15/δ), M = 1; u = ½.
    const float xr[] = {0.85f, 0.3f};
    const double m = std::acos((1.0 - double(xr[0])) / d) / (M_PI / 2);
    const double phi = M_PI / 2 * (m + (1 - m) * 0.5);
    const float ar[] = {float(d * std::cos(phi)), float(d * std::sin(phi))};
    BOOST_CHECK_CLOSE(lp1(pf, xr, ar),
                      std::log(sigmoid_d(1)) + std::log(mix(0.5)) - std::log(d) - lhp - std::log(1 - m), 1e-2);
    // Forced exit: 0; a move there is an error.
    const float xf[] = {0.9f, 0.85f};
    BOOST_CHECK_EQUAL(lp1(pf, xf, a2, true), 0.0);
    BOOST_CHECK_THROW(lp1(pf, xf, a2), std::invalid_argument);

    // PB at x2 (‖x2‖ > δ, x2^1 < δ): m = 0, M = (2/π) asin(x2^1/δ), u = ¼ / M:
    //   log PB = log mix(u) − log δ − log(π/2) − log M;  at x1 (‖x1‖ < δ) forced: 0.
    const double M = std::asin(double(x2[1]) / d) / (M_PI / 2);
    BOOST_REQUIRE(!env.backward_forced(x2));
    BOOST_CHECK_CLOSE(lp1(pb, x2, a2), std::log(mix(0.25 / M)) - std::log(d) - lhp - std::log(M), 1e-2);
    BOOST_CHECK_EQUAL(lp1(pb, x1, a1), 0.0);
}

// On-policy log PF is the density of the arc value u actually drawn. At x = (0.9, 0.2) the arc
// starts at m = (2/π) acos(0.4) > 0, where the float move resolves u only to ~1e-7, and a
// Beta(0.1, 5.1) draws below 4e-8 about 98 % of the time: the mean of log p(u) over the draws
// must be E[log Beta(U; α, β)] = −log B(α, β) + (α − 1)(ψ(α) − ψ(α + β)) + (β − 1)(ψ(β) − ψ(α + β)).
// Scored at the u recovered from the move instead (before 2026-12-04), the mean was 1.77 nats off.
BOOST_AUTO_TEST_CASE(polar_on_policy_scores_the_draw) {
    Box env(0.25);
    ParamStore store;
    Rng rng(3);
    const BoxPolicyConfig cfg = sharp_cfg();
    BoxPolarPolicy pf(env, false, store, small_net(), cfg, rng, "pf");
    pin(store, pf.net(), kSharpPF);
    const float x[] = {0.9f, 0.2f};
    BOOST_REQUIRE(!env.exit_forced(x));
    const double d = 0.25, m = std::acos((1.0 - double(x[0])) / d) / (M_PI / 2), w = 1.0 - m;
    const int n = 20000;
    std::vector<float> st(2 * size_t(n)), act(2 * size_t(n));
    for (int i = 0; i < n; ++i) st[2 * size_t(i)] = x[0], st[2 * size_t(i) + 1] = x[1];
    std::vector<uint8_t> ex(static_cast<size_t>(n));
    Tape tape;
    Var lp = pf.sample_and_log_prob(tape, st.data(), n, 0.f, rng, act.data(), ex.data());
    // log p(u) = log PF + log δ + log(π/2) + log(M − m) − log σ(−l)
    const double shift = std::log(d) + std::log(M_PI / 2) + std::log(w) - std::log(sigmoid_d(30.0));
    double mean = 0;
    for (int i = 0; i < n; ++i) {
        BOOST_REQUIRE_EQUAL(int(ex[size_t(i)]), 0);
        mean += (lp.value().data[i] + shift) / n;
    }
    const double a = 0.1f, b = 5.1f;  // the concentrations as floats give them
    const double want = -log_beta_fn(a, b) +
                        (a - 1) * (digamma(a) - digamma(a + b)) + (b - 1) * (digamma(b) - digamma(a + b));
    // sd of log p(U) ≈ 0.9 √(ψ'(0.1) − ψ'(5.2)) ≈ 9: the standard error of the mean is ≈ 0.064
    BOOST_CHECK_SMALL(mean - want, 0.35);
}

// logz_is (validate_continuous_grid) weighs each fresh trajectory by PF's score of its own
// draws. The PF of polar_on_policy_scores_the_draw (arc draws u ~ Beta(0.1, 5.1), no exit
// until forced) walks into restricted arcs, where the float move keeps u only to ~1e-7, so
// log_prob of the move misjudges many of those draws: below the resolution it scores the
// resolution (underrating PF). (Until 2026-12-04 a u that rounded to <= 0 was scored at
// FLT_MIN, overrating PF by up to ~60 nats at α = 0.1: `over` counted 318 such
// trajectories of these 2,000.)
BOOST_AUTO_TEST_CASE(polar_logz_is_scores_the_draws) {
    Box env(0.25);
    ParamStore store;
    Rng rng(3);
    const BoxPolicyConfig cfg = sharp_cfg();
    BoxPolarPolicy pf(env, false, store, small_net(), cfg, rng, "pf");
    BoxPolarPolicy pb(env, true, store, small_net(), cfg, rng, "pb");
    pin(store, pf.net(), kSharpPF);
    const int n = 2000, G = 10;
    Rng vrng(7);
    const ContinuousValidation v = validate_continuous_grid(env, pf, &pb, env.cell_masses(G), G, n, vrng);
    // The same draws (the same stream), weighed by hand: log R − Σ (log PF as drawn) + Σ log PB,
    // and, for contrast, with log PF of the moves.
    Rng same(7);
    Tape tape;
    NoGrad ng(tape);
    Trajectories t;
    sample_continuous_trajectories(env, pf, n, 0.f, same, tape, t, true);
    BOOST_REQUIRE(t.saved_log_pf.valid());
    const float* drawn = sum_per_trajectory(t, t.saved_log_pf).value().data;
    const float* moves = sum_per_trajectory(t, evaluate_log_probs(tape, t, pf, nullptr, true).log_pf).value().data;
    const float* back = sum_per_trajectory_backward(t, evaluate_log_probs(tape, t, pf, &pb, true).log_pb).value().data;
    std::vector<double> w_drawn(static_cast<size_t>(n)), w_moves(static_cast<size_t>(n));
    int under = 0, over = 0;
    for (int i = 0; i < n; ++i) {
        w_drawn[size_t(i)] = double(t.log_rewards[size_t(i)]) - double(drawn[i]) + double(back[i]);
        w_moves[size_t(i)] = double(t.log_rewards[size_t(i)]) - double(moves[i]) + double(back[i]);
        under += double(drawn[i]) - double(moves[i]) > 1.0;
        over += double(moves[i]) - double(drawn[i]) > 20.0;
    }
    // log_importance_weights takes the batch's saved scores, weight by weight
    const std::vector<double> w = log_importance_weights(pf, &pb, t, tape);
    for (int i = 0; i < n; ++i) BOOST_REQUIRE_SMALL(w[size_t(i)] - w_drawn[size_t(i)], 1e-9);
    BOOST_TEST_MESSAGE("logz_is " << v.logz_is << ", from the moves " << log_mean_exp(w_moves) << "; of " << n
                                  << " trajectories PF is underrated by > 1 nat on " << under
                                  << " and overrated by > 20 on " << over << " when scored from the moves");
    BOOST_CHECK_SMALL(v.logz_is - log_mean_exp(w_drawn), 1e-9);
    BOOST_CHECK_GT(std::fabs(v.logz_is - log_mean_exp(w_moves)), 1e-5);
    BOOST_CHECK_GT(under, 100);  // the case arises (239 on this stream)
    BOOST_CHECK_EQUAL(over, 0);  // scored from the moves, PF is never overrated by tens of nats
}

// A state just outside the quarter disk of radius δ has a backward arc narrower than a
// float move can resolve (M − m ~ 1e-7): no u can be recovered there, and PB scores the
// middle of the arc, not a clamped end (which, at α = 0.1, is tens of nats denser).
BOOST_AUTO_TEST_CASE(polar_arc_narrower_than_the_resolution_scores_the_middle) {
    Box env(0.25);
    ParamStore store;
    Rng rng(3);
    const BoxPolicyConfig cfg = sharp_cfg();
    BoxPolarPolicy pb(env, true, store, small_net(), cfg, rng, "pb");
    pin(store, pb.net(), kSharpPB);
    const double d = 0.25;
    // the first float point along angle 0.6 rad at radius >= δ
    float x[2] = {float(d * std::cos(0.6)), float(d * std::sin(0.6))};
    while (double(x[0]) * x[0] + double(x[1]) * x[1] < d * d) x[0] = std::nextafter(x[0], 1.f);
    BOOST_REQUIRE(!env.backward_forced(x));
    const double m = std::acos(double(x[0]) / d) / (M_PI / 2), M = std::asin(double(x[1]) / d) / (M_PI / 2);
    const double w = std::max(double(std::numeric_limits<float>::epsilon()), M - m);
    BOOST_TEST_MESSAGE("arc width " << M - m);
    BOOST_REQUIRE_LT(w, 1e-6);
    // the move back by δ along angle 0.6 (its parent ~0: the arc's only point)
    const float a[2] = {float(d * std::cos(0.6)), float(d * std::sin(0.6))};
    const double a_ = 0.1f, b_ = 5.1f;
    const double log_beta_half = -log_beta_fn(a_, b_) +
                                 (a_ - 1) * std::log(0.5) + (b_ - 1) * std::log(0.5);
    const double want = log_beta_half - std::log(d) - std::log(M_PI / 2) - std::log(w);
    BOOST_CHECK_CLOSE(lp1(pb, x, a), want, 1e-3);
}

BOOST_AUTO_TEST_CASE(cartesian_hand_worked) {
    BoxCartesian env(0.25);
    ParamStore store;
    Rng rng(2);
    BoxCartesianPolicy pf(env, false, store, small_net(), test_cfg(), rng, "pf");
    BoxCartesianPolicy pb(env, true, store, small_net(), test_cfg(), rng, "pb");
    const float L3 = std::log(3.f);
    // [l | logits d0 d1 | α raw d0 d1 | β raw d0 d1], each dimension the pinned mixture
    const std::vector<float> bias = {-1.f, 0.f, L3, 0.f, L3, 0.f, L3, 0.f, L3, 0.f, -L3, 0.f, -L3};
    pin(store, pf.net(), bias);
    pin(store, pb.net(), bias);
    const double d = 0.25;
    const float s0[] = {0.f, 0.f}, a1[] = {0.2f, 0.4f};
    // Move 1 from s_0 (m = 0, L = 1, no exit term): log mix(0.2) + log mix(0.4)
    BOOST_CHECK_CLOSE(lp1(pf, s0, a1), std::log(mix(0.2)) + std::log(mix(0.4)), 1e-3);
    float x1[2], x2[2], x3[2];
    env.step(s0, a1, 1, x1);
    // Move 2: L = 1 − x1 − δ = (0.55, 0.35), r = (0.5, 0.2), the move δ + rL is
    // stored as its excess e = rL:
    //   log PF = log mix(0.5) + log mix(0.2) − log 0.55 − log 0.35 + log σ(1)
    const float a2[] = {float(0.5 * 0.55), float(0.2 * 0.35)};
    BOOST_CHECK_CLOSE(lp1(pf, x1, a2),
                      std::log(mix(0.5)) + std::log(mix(0.2)) - std::log(0.55) - std::log(0.35) +
                          std::log(sigmoid_d(1)),
                      1e-3);
    // A tiny excess, r = (10⁻⁹, ½): the move δ + rL rounds to δ in float (steps of
    // 2⁻²⁵ there), but the stored excess keeps r, so PF and PB score the draw itself.
    const float at[] = {float(1e-9 * 0.55), float(0.5 * 0.35)};
    BOOST_CHECK_CLOSE(lp1(pf, x1, at),
                      std::log(mix(1e-9)) + std::log(mix(0.5)) - std::log(0.55) - std::log(0.35) +
                          std::log(sigmoid_d(1)),
                      1e-3);
    float xt[2];
    env.step(x1, at, 1, xt);
    BOOST_CHECK_SMALL(double(xt[0]) - (double(x1[0]) + d), 3e-8);  // the state holds it to an ulp only
    const double qt0 = double(xt[0]) - d, qt1 = double(xt[1]) - d;
    BOOST_CHECK_CLOSE(lp1(pb, xt, at),
                      std::log(sigmoid_d(1)) + std::log(mix(double(at[0]) / qt0)) +
                          std::log(mix(double(at[1]) / qt1)) - std::log(qt0) - std::log(qt1),
                      1e-3);
    env.step(x1, a2, 1, x2);  // (0.725, 0.72)
    BOOST_CHECK_CLOSE(lp1(pf, x2, a2, true), std::log(sigmoid_d(-1)), 1e-3);  // an unforced exit
    BOOST_CHECK_CLOSE(x2[0], 0.725, 1e-4);  // x1 + δ + e
    BOOST_CHECK_CLOSE(x2[1], 0.72, 1e-4);
    // Move 3: L = (1 − x2 − δ) = (0.025, 0.03), r = (½, ½), e = rL
    const double L0 = 1.0 - double(x2[0]) - d, L1 = 1.0 - double(x2[1]) - d;
    const float a3[] = {float(0.5 * L0), float(0.5 * L1)};
    BOOST_CHECK_CLOSE(lp1(pf, x2, a3),
                      2 * std::log(mix(0.5)) - std::log(L0) - std::log(L1) + std::log(sigmoid_d(1)), 1e-2);
    env.step(x2, a3, 1, x3);
    BOOST_REQUIRE(env.exit_forced(x3));
    BOOST_CHECK_EQUAL(lp1(pf, x3, a3, true), 0.0);  // forced exit: 0 (not log σ(l))
    BOOST_CHECK_THROW(lp1(pf, x3, a3), std::invalid_argument);
    BOOST_CHECK_THROW(lp1(pf, s0, a1, true), std::invalid_argument);

    // PB at x3: r^d = e^d/(x3^d − δ):
    //   log PB = log σ(1) + Σ log mix(r^d) − Σ log(x3^d − δ)
    const double q0 = double(x3[0]) - d, q1 = double(x3[1]) - d;
    BOOST_CHECK_CLOSE(lp1(pb, x3, a3),
                      std::log(sigmoid_d(1)) + std::log(mix(double(a3[0]) / q0)) +
                          std::log(mix(double(a3[1]) / q1)) - std::log(q0) - std::log(q1),
                      1e-2);
    // backward_step undoes the move: x3 − δ − e = x2
    float back[2];
    env.backward_step(x3, a3, 1, back);
    BOOST_CHECK_CLOSE(back[0], x2[0], 1e-4);
    BOOST_CHECK_CLOSE(back[1], x2[1], 1e-4);
    // Back to s_0 from x2 (not forced): the move x2 itself, log σ(l) = log σ(−1);
    // a move near x2 but not equal to it is a decrement, not the return (torchgfn: within δ/2).
    BOOST_CHECK_CLOSE(lp1(pb, x2, x2), std::log(sigmoid_d(-1)), 1e-3);
    const float near[] = {x2[0] - 0.01f - float(d), x2[1] - 0.01f - float(d)};  // the excess of a move x2 − 0.01
    const double r0 = double(near[0]) / (double(x2[0]) - d), r1 = double(near[1]) / (double(x2[1]) - d);
    BOOST_CHECK_CLOSE(lp1(pb, x2, near),
                      std::log(sigmoid_d(1)) + std::log(mix(r0)) + std::log(mix(r1)) -
                          std::log(double(x2[0]) - d) - std::log(double(x2[1]) - d),
                      1e-2);
    // x1 = (0.2, 0.4): x1^0 <= δ, forced back to s_0: 0.
    BOOST_CHECK_EQUAL(lp1(pb, x1, a1), 0.0);
}

BOOST_AUTO_TEST_CASE(polar_normalised) {
    Box env(0.25);
    ParamStore store;
    Rng rng(3);
    BoxPolarPolicy pf(env, false, store, small_net(), test_cfg(), rng, "pf");
    BoxPolarPolicy pb(env, true, store, small_net(), test_cfg(), rng, "pb");
    randomise(store, pf.s0_param(), rng);
    const double d = 0.25;
    // s_0: ∫_0^δ ∫_0^{π/2} p(ρ cos φ, ρ sin φ) ρ dφ dρ = 1
    {
        const int N = 300;
        std::vector<float> a;
        std::vector<double> rho;
        for (int i = 0; i < N; ++i)
            for (int j = 0; j < N; ++j) {
                const double r = d * (i + 0.5) / N, phi = M_PI / 2 * (j + 0.5) / N;
                a.push_back(float(r * std::cos(phi)));
                a.push_back(float(r * std::sin(phi)));
                rho.push_back(r);
            }
        const float s0[] = {0.f, 0.f};
        std::vector<double> lp = lp_many(pf, s0, a);
        double t = 0;
        for (size_t k = 0; k < lp.size(); ++k) t += std::exp(lp[k]) * rho[k];
        BOOST_CHECK_CLOSE(t * d / N * (M_PI / 2) / N, 1.0, 0.2);
    }
    // Circle states (full and restricted arcs): exit mass + ∫ arc = 1.
    const float states[][2] = {{0.3f, 0.4f}, {0.85f, 0.2f}, {0.2f, 0.8f}, {0.8f, 0.78f}};
    for (const auto& s : states) {
        BOOST_REQUIRE(!env.exit_forced(s));
        double m, M;
        pf.arc(s, &m, &M);
        const float dummy[] = {0.f, 0.f};
        const double total = std::exp(lp1(pf, s, dummy, true)) + arc_integral(pf, s, d, m, M);
        BOOST_CHECK_CLOSE(total, 1.0, 0.2);
    }
    // PB: ∫ over the arc that keeps x − a >= 0.
    const float bstates[][2] = {{0.3f, 0.4f}, {0.1f, 0.5f}, {0.5f, 0.2f}, {0.2f, 0.2f}};
    for (const auto& s : bstates) {
        BOOST_REQUIRE(!env.backward_forced(s));
        double m, M;
        pb.arc(s, &m, &M);
        BOOST_CHECK_CLOSE(arc_integral(pb, s, d, m, M), 1.0, 0.2);
    }
}

BOOST_AUTO_TEST_CASE(cartesian_normalised) {
    BoxCartesian env(0.25);
    ParamStore store;
    Rng rng(4);
    BoxCartesianPolicy pf(env, false, store, small_net(), test_cfg(), rng, "pf");
    BoxCartesianPolicy pb(env, true, store, small_net(), test_cfg(), rng, "pb");
    const double d = 0.25;
    const float s0[] = {0.f, 0.f};
    BOOST_CHECK_CLOSE(rect_integral(pf, s0, 0, 1, 0, 1), 1.0, 0.2);
    const float states[][2] = {{0.2f, 0.3f}, {0.5f, 0.1f}, {0.7f, 0.05f}};
    for (const auto& s : states) {
        const float dummy[] = {0.f, 0.f};
        // the excess e^d ∈ [0, 1 − x^d − δ]
        const double total =
            std::exp(lp1(pf, s, dummy, true)) + rect_integral(pf, s, 0, 1 - s[0] - d, 0, 1 - s[1] - d);
        BOOST_CHECK_CLOSE(total, 1.0, 0.2);
    }
    // PB: return to s_0 (the action x) + ∫∫ over the excess e^d ∈ [0, x^d − δ].
    const float bstates[][2] = {{0.6f, 0.8f}, {0.9f, 0.5f}, {0.3f, 0.95f}};
    for (const auto& s : bstates) {
        BOOST_REQUIRE(!env.backward_forced(s));
        const double total = std::exp(lp1(pb, s, s)) + rect_integral(pb, s, 0, s[0] - d, 0, s[1] - d);
        BOOST_CHECK_CLOSE(total, 1.0, 0.2);
    }
}

BOOST_AUTO_TEST_CASE(gradients) {
    // A batch of every kind of row: s_0 moves, moves, exits, forced exits / steps.
    for (int variant = 0; variant < 2; ++variant) {
        ParamStore store;
        Rng rng(5);
        Box polar(0.25);
        BoxCartesian cart(0.25);
        BoxPolicyConfig cfg;  // default concentrations [0.1, 5.1]
        std::unique_ptr<ContinuousPolicy> pf, pb;
        if (variant == 0) {
            auto f = std::make_unique<BoxPolarPolicy>(polar, false, store, small_net(), cfg, rng, "pf");
            randomise(store, f->s0_param(), rng);
            pf = std::move(f);
            pb = std::make_unique<BoxPolarPolicy>(polar, true, store, small_net(), cfg, rng, "pb");
        } else {
            pf = std::make_unique<BoxCartesianPolicy>(cart, false, store, small_net(), cfg, rng, "pf");
            pb = std::make_unique<BoxCartesianPolicy>(cart, true, store, small_net(), cfg, rng, "pb");
        }
        const double d = 0.25;
        const float pc = float(d * std::cos(0.7)), ps = float(d * std::sin(0.7));
        // polar: s_0 move, circle move, exit, forced exit; Cartesian: s_0 move, move, exit, forced exit
        std::vector<float> fs = {0.f, 0.f, 0.3f, 0.4f, 0.5f, 0.5f, 0.9f, 0.9f};
        std::vector<float> fa = variant == 0 ? std::vector<float>{0.1f, 0.05f, pc, ps, 0.f, 0.f, 0.f, 0.f}
                                             : std::vector<float>{0.3f, 0.6f, 0.15f, 0.1f, 0.f, 0.f, 0.f, 0.f};
        std::vector<uint8_t> fe = {0, 0, 1, 1};
        // backward: unforced moves, the return to s_0 (Cartesian), a forced step
        std::vector<float> bs = {0.6f, 0.7f, 0.5f, 0.3f, 0.4f, 0.45f, 0.1f, 0.1f};
        std::vector<float> ba = variant == 0 ? std::vector<float>{pc, ps, ps, pc, pc, ps, 0.1f, 0.1f}
                                             : std::vector<float>{0.05f, 0.25f, 0.15f, 0.02f, 0.4f, 0.45f, 0.1f, 0.1f};
        GradCheckOptions opt;
        GradCheckReport rep = check_gradients(
            [&](Tape& tp) {
                Var f = pf->log_prob(tp, fs.data(), fa.data(), fe.data(), 4);
                Var b = pb->log_prob(tp, bs.data(), ba.data(), nullptr, 4);
                Var parts[2] = {f, b};
                return concat_rows(parts, 2);
            },
            {GradTarget{"store", store.values.data(), store.grads.data(), store.size()}}, opt);
        BOOST_CHECK_MESSAGE(rep.ok, (variant ? "cartesian: " : "polar: ") << rep.message());
        BOOST_CHECK(rep.checked > 20);
    }
}

BOOST_AUTO_TEST_CASE(sampling_matches_density) {
    // At a fixed state and seed, the frequencies of sampled actions in 8 cells
    // against the mass the density puts there (quadrature); the exit frequency against σ(l).
    const int n = 40000;
    {
        Box env(0.25);
        ParamStore store;
        Rng rng(6);
        BoxPolarPolicy pf(env, false, store, small_net(), test_cfg(), rng, "pf");
        const float s[] = {0.85f, 0.3f};
        std::vector<float> st(size_t(n) * 2), a(size_t(n) * 2);
        std::vector<uint8_t> e(static_cast<size_t>(n));
        for (int i = 0; i < n; ++i) st[2 * size_t(i)] = s[0], st[2 * size_t(i) + 1] = s[1];
        Tape tape;
        Rng srng(99);
        pf.sample(tape, st.data(), n, 0.f, srng, a.data(), e.data());
        double m, M;
        pf.arc(s, &m, &M);
        const float dummy[] = {0.f, 0.f};
        const double p_exit = std::exp(lp1(pf, s, dummy, true));
        std::vector<double> f(8, 0.0);
        double exits = 0;
        for (int i = 0; i < n; ++i) {
            if (e[size_t(i)]) { exits += 1; continue; }
            BOOST_REQUIRE_CLOSE(std::hypot(a[2 * size_t(i)], a[2 * size_t(i) + 1]), 0.25, 1e-3);
            const double u = (std::atan2(a[2 * size_t(i) + 1], a[2 * size_t(i)]) / (M_PI / 2) - m) / (M - m);
            f[size_t(std::min(7, std::max(0, int(u * 8))))] += 1.0 / n;
        }
        BOOST_CHECK_SMALL(exits / n - p_exit, 4 * std::sqrt(p_exit * (1 - p_exit) / n));
        for (int b = 0; b < 8; ++b) {
            const double p = arc_integral(pf, s, 0.25, m + (M - m) * b / 8, m + (M - m) * (b + 1) / 8, 500);
            BOOST_CHECK_SMALL(f[size_t(b)] - p, 4 * std::sqrt(p * (1 - p) / n) + 1e-3);
        }
    }
    {
        BoxCartesian env(0.25);
        ParamStore store;
        Rng rng(8);
        BoxCartesianPolicy pb(env, true, store, small_net(), test_cfg(), rng, "pb");
        const float s[] = {0.7f, 0.9f};
        std::vector<float> st(size_t(n) * 2), a(size_t(n) * 2);
        std::vector<uint8_t> e(static_cast<size_t>(n));
        for (int i = 0; i < n; ++i) st[2 * size_t(i)] = s[0], st[2 * size_t(i) + 1] = s[1];
        Tape tape;
        Rng srng(98);
        pb.sample(tape, st.data(), n, 0.f, srng, a.data(), e.data());
        const double p_back = std::exp(lp1(pb, s, s));
        // cells: the 2 × 4 split of the excess box [0, x^0 − δ] × [0, x^1 − δ]
        std::vector<double> f(8, 0.0);
        double back = 0;
        for (int i = 0; i < n; ++i) {
            const float* ai = &a[2 * size_t(i)];
            if (ai[0] == s[0] && ai[1] == s[1]) { back += 1; continue; }
            const int c0 = std::min(1, int(ai[0] / (s[0] - 0.25) * 2));
            const int c1 = std::min(3, int(ai[1] / (s[1] - 0.25) * 4));
            f[size_t(c0 * 4 + c1)] += 1.0 / n;
        }
        BOOST_CHECK_SMALL(back / n - p_back, 4 * std::sqrt(p_back * (1 - p_back) / n));
        for (int c0 = 0; c0 < 2; ++c0)
            for (int c1 = 0; c1 < 4; ++c1) {
                const double w0 = (s[0] - 0.25) / 2, w1 = (s[1] - 0.25) / 4;
                const double p = rect_integral(pb, s, c0 * w0, (c0 + 1) * w0, c1 * w1, (c1 + 1) * w1, 100);
                BOOST_CHECK_SMALL(f[size_t(c0 * 4 + c1)] - p, 4 * std::sqrt(p * (1 - p) / n) + 1e-3);
            }
    }
}

BOOST_AUTO_TEST_CASE(sampling_matches_density_forward) {
    // Polar PF at s_0 (radius and angle, 4 × 2 cells of the quarter disk) and the
    // Cartesian PF at a state inside (exit, 2 × 4 cells of the move box), as above.
    const int n = 40000;
    {
        Box env(0.25);
        ParamStore store;
        Rng rng(13);
        BoxPolarPolicy pf(env, false, store, small_net(), test_cfg(), rng, "pf");
        randomise(store, pf.s0_param(), rng);
        std::vector<float> st(size_t(n) * 2, 0.f), a(size_t(n) * 2);
        std::vector<uint8_t> e(static_cast<size_t>(n));
        Tape tape;
        Rng srng(97);
        pf.sample(tape, st.data(), n, 0.f, srng, a.data(), e.data());
        std::vector<double> f(8, 0.0);
        for (int i = 0; i < n; ++i) {
            BOOST_REQUIRE(!e[size_t(i)]);
            const double rho = std::hypot(a[2 * size_t(i)], a[2 * size_t(i) + 1]) / 0.25;
            const double th = std::atan2(a[2 * size_t(i) + 1], a[2 * size_t(i)]) / (M_PI / 2);
            f[size_t(std::min(3, int(rho * 4)) * 2 + std::min(1, int(th * 2)))] += 1.0 / n;
        }
        const float s0[] = {0.f, 0.f};
        for (int cr = 0; cr < 4; ++cr)
            for (int ct = 0; ct < 2; ++ct) {
                // ∫∫ p(ρ cos φ, ρ sin φ) ρ dρ dφ over the cell
                const int N = 100;
                std::vector<float> q;
                std::vector<double> rho;
                for (int i = 0; i < N; ++i)
                    for (int j = 0; j < N; ++j) {
                        const double r = 0.25 * (cr + (i + 0.5) / N) / 4, phi = M_PI / 2 * (ct + (j + 0.5) / N) / 2;
                        q.push_back(float(r * std::cos(phi)));
                        q.push_back(float(r * std::sin(phi)));
                        rho.push_back(r);
                    }
                std::vector<double> lp = lp_many(pf, s0, q);
                double p = 0;
                for (size_t k = 0; k < lp.size(); ++k) p += std::exp(lp[k]) * rho[k];
                p *= (0.25 / 4 / N) * (M_PI / 4 / N);
                BOOST_CHECK_SMALL(f[size_t(cr * 2 + ct)] - p, 4 * std::sqrt(p * (1 - p) / n) + 1e-3);
            }
    }
    {
        BoxCartesian env(0.25);
        ParamStore store;
        Rng rng(14);
        BoxCartesianPolicy pf(env, false, store, small_net(), test_cfg(), rng, "pf");
        const float s[] = {0.3f, 0.2f};
        std::vector<float> st(size_t(n) * 2), a(size_t(n) * 2);
        std::vector<uint8_t> e(static_cast<size_t>(n));
        for (int i = 0; i < n; ++i) st[2 * size_t(i)] = s[0], st[2 * size_t(i) + 1] = s[1];
        Tape tape;
        Rng srng(96);
        pf.sample(tape, st.data(), n, 0.f, srng, a.data(), e.data());
        const float dummy[] = {0.f, 0.f};
        const double p_exit = std::exp(lp1(pf, s, dummy, true));
        const double w0 = (1 - s[0] - 0.25) / 2, w1 = (1 - s[1] - 0.25) / 4;
        std::vector<double> f(8, 0.0);
        double exits = 0;
        for (int i = 0; i < n; ++i) {
            if (e[size_t(i)]) { exits += 1; continue; }
            const float* ai = &a[2 * size_t(i)];
            f[size_t(std::min(1, int(ai[0] / w0)) * 4 + std::min(3, int(ai[1] / w1)))] += 1.0 / n;
        }
        BOOST_CHECK_SMALL(exits / n - p_exit, 4 * std::sqrt(p_exit * (1 - p_exit) / n));
        for (int c0 = 0; c0 < 2; ++c0)
            for (int c1 = 0; c1 < 4; ++c1) {
                const double p = rect_integral(pf, s, c0 * w0, (c0 + 1) * w0, c1 * w1, (c1 + 1) * w1, 100);
                BOOST_CHECK_SMALL(f[size_t(c0 * 4 + c1)] - p, 4 * std::sqrt(p * (1 - p) / n) + 1e-3);
            }
    }
}

BOOST_AUTO_TEST_CASE(elbo_below_eubo_above_log_z) {
    // With log w = log R(x) + Σ log PB − Σ log PF, Jensen gives for any PF and any
    // normalised PB taken against the same measure as PF:
    //     ELBO = E_PF[log w] <= log Z <= E_{x ~ R/Z, τ ~ PB}[log w] = EUBO.
    // Both are means of light-tailed log-weights (the mean weight itself is too
    // heavy-tailed at 10⁵ rollouts of a random policy to test against Z); 20,000
    // rollouts each way, 4 standard errors of slack. The backward rollouts start
    // from the exact sampler of R/Z and must end at s_0.
    for (int variant = 0; variant < 2; ++variant) {
        ParamStore store;
        Rng rng(12);
        Box polar(0.25);
        BoxCartesian cart(0.25);
        const ContinuousEnv& env = variant == 0 ? static_cast<const ContinuousEnv&>(polar) : cart;
        std::unique_ptr<ContinuousPolicy> pf, pb;
        if (variant == 0) {
            auto f = std::make_unique<BoxPolarPolicy>(polar, false, store, small_net(), test_cfg(), rng, "pf");
            randomise(store, f->s0_param(), rng);
            pf = std::move(f);
            pb = std::make_unique<BoxPolarPolicy>(polar, true, store, small_net(), test_cfg(), rng, "pb");
        } else {
            pf = std::make_unique<BoxCartesianPolicy>(cart, false, store, small_net(), test_cfg(), rng, "pf");
            pb = std::make_unique<BoxCartesianPolicy>(cart, true, store, small_net(), test_cfg(), rng, "pb");
        }
        const int n = 20000;
        auto mean_se = [&](const Trajectories& t, Tape& tape, double* se) {
            StepLogProbs lp = evaluate_log_probs(tape, t, *pf, pb.get(), true);
            std::vector<double> lw(static_cast<size_t>(t.n));
            for (int i = 0; i < t.n; ++i) lw[size_t(i)] = t.log_rewards[size_t(i)];
            for (int k = 0; k < t.n_steps(); ++k) lw[size_t(t.step_traj[size_t(k)])] -= lp.log_pf.value().data[k];
            for (int k = 0; k < t.n_bsteps(); ++k) lw[size_t(t.bstep_traj[size_t(k)])] += lp.log_pb.value().data[k];
            double s = 0, s2 = 0;
            for (double v : lw) s += v, s2 += v * v;
            const double m = s / t.n;
            *se = std::sqrt(std::max(0.0, s2 / t.n - m * m) / t.n);
            return m;
        };
        Tape tape;
        NoGrad ng(tape);
        Trajectories fwd, bwd;
        sample_continuous_trajectories(env, *pf, n, 0.f, rng, tape, fwd);
        double se_f, se_b;
        const double elbo = mean_se(fwd, tape, &se_f);
        std::vector<float> x(size_t(n) * 2);
        env.sample_target(rng, n, x.data());
        sample_continuous_backward_trajectories(env, *pb, x.data(), n, rng, tape, bwd);
        for (int i = 0; i < n; ++i) BOOST_REQUIRE(env.is_initial(bwd.float_state(0, i)));
        const double eubo = mean_se(bwd, tape, &se_b);
        const double log_z = std::log(0.305);
        BOOST_TEST_MESSAGE((variant ? "cartesian" : "polar") << ": ELBO " << elbo << " +- " << se_f << ", EUBO "
                                                             << eubo << " +- " << se_b << ", log Z " << log_z);
        BOOST_CHECK_LT(elbo, log_z + 4 * se_f);
        BOOST_CHECK_GT(eubo, log_z - 4 * se_b);
    }
}

BOOST_AUTO_TEST_CASE(rollouts_and_validation) {
    // Forward rollouts end in the box with finite log-probs; backward rollouts from
    // exact target samples end at s_0; the grid validation runs; kde_jsd of a set with itself is 0.
    for (int variant = 0; variant < 2; ++variant) {
        ParamStore store;
        Rng rng(10);
        Box polar(0.25);
        BoxCartesian cart(0.25);
        const ContinuousEnv& env = variant == 0 ? static_cast<const ContinuousEnv&>(polar) : cart;
        BoxPolicyConfig cfg;
        std::unique_ptr<ContinuousPolicy> pf, pb;
        if (variant == 0) {
            pf = std::make_unique<BoxPolarPolicy>(polar, false, store, small_net(), cfg, rng, "pf");
            pb = std::make_unique<BoxPolarPolicy>(polar, true, store, small_net(), cfg, rng, "pb");
        } else {
            pf = std::make_unique<BoxCartesianPolicy>(cart, false, store, small_net(), cfg, rng, "pf");
            pb = std::make_unique<BoxCartesianPolicy>(cart, true, store, small_net(), cfg, rng, "pb");
        }
        Tape tape;
        Trajectories t;
        sample_continuous_trajectories(env, *pf, 500, 0.f, rng, tape, t);
        StepLogProbs lp = evaluate_log_probs(tape, t, *pf, pb.get(), true);
        for (int k = 0; k < t.n_steps(); ++k) BOOST_CHECK(std::isfinite(lp.log_pf.value().data[k]));
        for (int k = 0; k < t.n_bsteps(); ++k) BOOST_CHECK(std::isfinite(lp.log_pb.value().data[k]));
        for (int i = 0; i < t.n; ++i) {
            const float* x = t.float_terminal_state(i);
            BOOST_CHECK(x[0] > 0.f && x[0] <= 1.f + 1e-5f && x[1] > 0.f && x[1] <= 1.f + 1e-5f);
        }
        std::vector<float> x(1000);
        env.sample_target(rng, 500, x.data());
        tape.reset();
        Trajectories bt;
        sample_continuous_backward_trajectories(env, *pb, x.data(), 500, rng, tape, bt);
        for (int i = 0; i < 500; ++i) BOOST_CHECK(env.is_initial(bt.float_state(0, i)));
        const BoxBase& bb = variant == 0 ? static_cast<const BoxBase&>(polar) : cart;
        Rng vrng(11);
        ContinuousValidation v = validate_continuous_grid(env, *pf, pb.get(), bb.cell_masses(10), 10, 2000, vrng);
        BOOST_CHECK(v.binned_l1 >= 0 && v.binned_l1 <= 2 && std::isfinite(v.logz_is));
        BOOST_CHECK_SMALL(kde_jsd(x.data(), 500, x.data(), 500, 10), 1e-12);
    }
    // kde_jsd grows with separation: two clusters far apart vs close.
    std::vector<float> a = {0.1f, 0.1f, 0.12f, 0.1f}, b = {0.9f, 0.9f, 0.88f, 0.9f}, c = {0.15f, 0.1f, 0.1f, 0.15f};
    BOOST_CHECK_GT(kde_jsd(a.data(), 2, b.data(), 2, 20), kde_jsd(a.data(), 2, c.data(), 2, 20));
}

BOOST_AUTO_TEST_CASE(runs_defaults_and_step_schedule) {
    auto parse = [](std::vector<std::string> args) {
        Config c;
        parse_train_flags(args, c);
        return c;
    };
    // The issue target's defaults, shared by both Box envs ...
    for (const char* env : {"box", "box_cartesian"}) {
        BOOST_TEST_CONTEXT("--env " << env) {
            Config d = parse({"--env", env});
            BOOST_CHECK_EQUAL(d.hidden, 128);
            BOOST_CHECK_EQUAL(d.layers, 4);
            BOOST_CHECK_EQUAL(d.batch_size, 128);
            BOOST_CHECK_EQUAL(d.iterations, 10000);
            BOOST_CHECK_EQUAL(d.lr_schedule, "step");
            BOOST_CHECK_EQUAL(d.scheduler_milestone, 2500);
            BOOST_CHECK_EQUAL(d.validation_bins, 50);
            BOOST_CHECK_EQUAL(d.delta, 0.25);
        }
    }
    // ... then polar: 2 components a move, 4 for the first, concentrations up to 5.1, log Z lr 1e-3;
    Config d = parse({"--env", "box"});
    BOOST_CHECK_EQUAL(d.lr_logz, 1e-3);
    BOOST_CHECK_EQUAL(d.n_components, 2);
    BOOST_CHECK_EQUAL(d.n_components_s0, 4);
    BOOST_CHECK_CLOSE(d.max_concentration, 5.1, 1e-9);
    // Cartesian: 8 components, concentrations up to 20 and log Z lr 1e-2; a flag given still wins.
    Config k = parse({"--env", "box_cartesian"});
    BOOST_CHECK_EQUAL(k.n_components, 8);
    BOOST_CHECK_CLOSE(k.max_concentration, 20.0, 1e-9);
    BOOST_CHECK_CLOSE(k.lr_logz, 1e-2, 1e-9);
    Config k2 = parse({"--env", "box_cartesian", "--n-components", "2", "--max-concentration", "5.1", "--lr-logz",
                       "0.001"});
    BOOST_CHECK_EQUAL(k2.n_components, 2);
    BOOST_CHECK_CLOSE(k2.max_concentration, 5.1, 1e-9);
    BOOST_CHECK_CLOSE(k2.lr_logz, 1e-3, 1e-9);
    auto throws_with = [&](std::vector<std::string> args, const std::string& needle) {
        try {
            parse(args);
            BOOST_ERROR("no error for " << needle);
        } catch (const std::invalid_argument& e) {
            BOOST_CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, e.what());
        }
    };
    throws_with({"--env", "box", "--delta", "0"}, "--delta");
    throws_with({"--env", "box_cartesian", "--min-concentration", "3", "--max-concentration", "2"},
                "--min-concentration");
    throws_with({"--env", "box", "--exploration-var-starting-val", "1"}, "--exploration-var-starting-val");
    throws_with({"--env", "box", "--loss", "fm"}, "--loss");
    throws_with({"--lr-schedule", "step", "--gamma-scheduler", "0"}, "--gamma-scheduler");
    // Step schedule: lr_t = lr · γ^⌊t / milestone⌋ for every group, t the steps taken before.
    for (const char* env : {"box", "box_cartesian"})
        for (const char* loss : {"tb", "lpv"}) {
            Config c = parse({"--env", env, "--loss", loss, "--hidden", "8", "--layers", "2", "--batch-size", "8",
                              "--iterations", "6", "--scheduler-milestone", "2", "--gamma-scheduler", "0.5",
                              "--validation-samples", "500", "--validation-bins", "10", "--lr-logz", "1e-3"});
            Run run(c);
            const float want[] = {1e-3f, 1e-3f, 5e-4f, 5e-4f, 2.5e-4f};
            for (float w : want) {
                StepStats st = train_step(run);
                BOOST_CHECK(std::isfinite(st.loss));
                BOOST_CHECK_CLOSE(run.optimizer->groups[0].lr, w, 1e-4);
                BOOST_CHECK_CLOSE(run.optimizer->groups[1].lr, w, 1e-4);  // log Z: --lr-logz 1e-3
            }
            Metrics m = validate_continuous_run(run);
            BOOST_CHECK(m.binned_l1 >= 0 && m.binned_l1 <= 2);
            BOOST_CHECK_CLOSE(m.logz_true, std::log(0.305), 1e-6);
        }
}

BOOST_AUTO_TEST_SUITE_END()
