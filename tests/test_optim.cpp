// test_optim.cpp — Adam, AdamW and SGD against hand-worked steps, parameter
// groups, and clipping by global norm.
//
// Every expected value below is worked out by hand in the comment above it
// (torch.optim's update rules, see engine/optim.cpp); the optimizer computes
// in float, so comparisons allow a few float ulps of accumulated rounding.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include <omp.h>

#include <algorithm>

#include "engine/blas.h"
#include "engine/optim.h"

using namespace gfn;

namespace {

// A store of scalar parameters (1x1 each) with the given initial values and groups.
struct Scalars {
    ParamStore store;
    explicit Scalars(const std::vector<float>& init, const std::vector<int>& groups = {}) {
        for (size_t i = 0; i < init.size(); ++i) {
            int id = store.add("p" + std::to_string(i), 1, 1, groups.empty() ? 0 : groups[i]);
            store.value(id).data[0] = init[i];
        }
    }
    float& theta(size_t i) { return store.values[i]; }
    void set_grads(const std::vector<float>& g) {
        for (size_t i = 0; i < g.size(); ++i) store.grads[i] = g[i];
    }
};

void check_near(double got, double want, double tol, const std::string& what) {
    BOOST_CHECK_MESSAGE(std::fabs(got - want) <= tol,
                        what << ": got " << got << ", want " << want << " (tol " << tol << ")");
}

const double kTol = 2e-6;

}  // namespace

BOOST_AUTO_TEST_SUITE(optim)

// ---------------------------------------------------------------------------
// Adam

BOOST_AUTO_TEST_CASE(adam_three_steps_by_hand) {
    // lr = 0.1, β1 = 0.9, β2 = 0.999, ε = 1e-8.
    // θ_a starts at 1 and sees gradients 2, −1, 0.5;
    // θ_b starts at −0.5 and sees the constant gradient −0.01.
    Scalars s({1.f, -0.5f});
    Optimizer opt(s.store, OptimizerKind::Adam, {ParamGroup{0.1f, 0.f}});

    // Step 1 (bias corrections 1−β1 = 0.1, 1−β2 = 0.001):
    //   a: m = 0.1·2 = 0.2, v = 0.001·4 = 0.004, m̂ = 2, v̂ = 4, √v̂ = 2
    //      θ = 1 − 0.1·2/(2 + 1e-8) = 0.9 (to 5e-10): the first step is lr·sign(g).
    //   b: m̂ = −0.01, √v̂ = 0.01 → θ = −0.5 + 0.1 = −0.4
    s.set_grads({2.f, -0.01f});
    opt.step();
    BOOST_CHECK_EQUAL(opt.t, 1);
    check_near(s.theta(0), 0.9, kTol, "a after step 1");
    check_near(s.theta(1), -0.4, kTol, "b after step 1");
    check_near(opt.m[0], 0.2, 1e-7, "m_a after step 1");
    // (1 − β2 in float is 0.00099998713: v is 0.004 to a relative 1.3e-5)
    check_near(opt.v[0], 0.004, 1e-7, "v_a after step 1");

    // Step 2 (1−β1² = 0.19, 1−β2² = 0.001999):
    //   a: m = 0.9·0.2 + 0.1·(−1) = 0.08
    //      v = 0.999·0.004 + 0.001·1 = 0.004996
    //      m̂ = 0.08/0.19 = 0.4210526316, v̂ = 0.004996/0.001999 = 2.4992496248, √v̂ = 1.5809015228
    //      θ = 0.9 − 0.1·0.4210526316/1.5809015228 = 0.9 − 0.0266337033 = 0.8733662967
    //   b: a constant gradient keeps m̂ = g and v̂ = g² exactly → θ = −0.4 + 0.1 = −0.3
    s.set_grads({-1.f, -0.01f});
    opt.step();
    check_near(s.theta(0), 0.8733662967, kTol, "a after step 2");
    check_near(s.theta(1), -0.3, kTol, "b after step 2");

    // Step 3 (1−β1³ = 0.271, 1−β2³ = 0.002997001):
    //   a: m = 0.9·0.08 + 0.1·0.5 = 0.122
    //      v = 0.999·0.004996 + 0.001·0.25 = 0.005241004
    //      m̂ = 0.122/0.271 = 0.4501845018, v̂ = 0.005241004/0.002997001 = 1.7487494999, √v̂ = 1.3224029265
    //      θ = 0.8733662967 − 0.1·0.4501845018/1.3224029265 = 0.8733662967 − 0.0340429145 = 0.8393233821
    //   b: θ = −0.3 + 0.1 = −0.2
    s.set_grads({0.5f, -0.01f});
    opt.step();
    check_near(s.theta(0), 0.8393233821, kTol, "a after step 3");
    check_near(s.theta(1), -0.2, kTol, "b after step 3");
}

BOOST_AUTO_TEST_CASE(adam_first_step_is_lr_times_sign) {
    // m̂ = g and √v̂ = |g| at t = 1, so θ moves by lr·g/(|g| + ε) = lr·sign(g)
    // up to the relative error ε/|g| (1e-5 for g = 1e-3: 0.01 → 0.0099999).
    Scalars s({0.f, 0.f, 0.f, 0.f, 3.f});
    Optimizer opt(s.store, OptimizerKind::Adam, {ParamGroup{0.01f, 0.f}});
    s.set_grads({1e-3f, -250.f, 7.f, -1e-2f, 0.f});
    opt.step();
    auto move = [](double g) { return -0.01 * g / (std::fabs(g) + 1e-8); };
    check_near(s.theta(0), move(1e-3), 1e-8, "g = 1e-3");
    check_near(s.theta(1), move(-250.0), 1e-8, "g = -250");
    check_near(s.theta(2), move(7.0), 1e-8, "g = 7");
    check_near(s.theta(3), move(-1e-2), 1e-8, "g = -1e-2");
    check_near(s.theta(1), 0.01, 1e-8, "g = -250 is exactly lr");
    // A zero gradient: m = v = 0 → 0/(0 + ε) = 0, no move.
    BOOST_CHECK_EQUAL(s.theta(4), 3.f);
}

BOOST_AUTO_TEST_CASE(adam_eps_matters_when_gradient_is_eps) {
    // g = ε = 1e-8: m̂ = 1e-8, √v̂ = 1e-8 → step = lr·1e-8/(1e-8 + 1e-8) = lr/2.
    Scalars s({1.f});
    Optimizer opt(s.store, OptimizerKind::Adam, {ParamGroup{0.1f, 0.f}}, 0.9f, 0.999f, 1e-8f);
    s.set_grads({1e-8f});
    opt.step();
    check_near(s.theta(0), 0.95, 1e-5, "half a step");
}

BOOST_AUTO_TEST_CASE(adam_weight_decay_is_l2_adamw_is_decoupled) {
    // lr = 0.1, λ = 0.1, θ = 1 for all four parameters.
    // p0, p1: gradient 0.  p2, p3: gradient 2.
    Scalars adam({1.f, 1.f}), adamw({1.f, 1.f});
    Optimizer a(adam.store, OptimizerKind::Adam, {ParamGroup{0.1f, 0.1f}});
    Optimizer w(adamw.store, OptimizerKind::AdamW, {ParamGroup{0.1f, 0.1f}});

    // Step 1.
    // Adam, g = 0: g ← 0 + 0.1·1 = 0.1 → first step lr·sign = 0.1 → θ = 0.9
    // Adam, g = 2: g ← 2.1 → θ = 0.9 as well (first step ignores |g|)
    // AdamW, g = 0: θ ← 1 − 0.1·0.1·1 = 0.99; m = v = 0 → no Adam move → 0.99
    // AdamW, g = 2: θ ← 0.99, then − lr·sign(2) → 0.89
    adam.set_grads({0.f, 2.f});
    adamw.set_grads({0.f, 2.f});
    a.step();
    w.step();
    check_near(adam.theta(0), 0.9, kTol, "Adam g=0 step 1");
    check_near(adam.theta(1), 0.9, kTol, "Adam g=2 step 1");
    check_near(adamw.theta(0), 0.99, kTol, "AdamW g=0 step 1");
    check_near(adamw.theta(1), 0.89, kTol, "AdamW g=2 step 1");

    // Step 2, same raw gradients.
    // Adam, g = 0: g ← 0.1·0.9 = 0.09; m = 0.9·0.01 + 0.1·0.09 = 0.018
    //   v = 0.999·1e-5 + 0.001·0.0081 = 1.809e-5; m̂ = 0.018/0.19 = 0.0947368421
    //   v̂ = 1.809e-5/0.001999 = 0.0090495249, √v̂ = 0.0951289906
    //   θ = 0.9 − 0.1·0.0947368421/0.0951289906 = 0.9 − 0.0995877752 = 0.8004122248
    // AdamW, g = 0: θ = 0.99·(1 − 0.01) = 0.9801 (m = v = 0 still)
    // AdamW, g = 2: θ ← 0.89·0.99 = 0.8811; constant g → m̂ = 2, √v̂ = 2 → θ = 0.8811 − 0.1 = 0.7811
    adam.set_grads({0.f, 2.f});
    adamw.set_grads({0.f, 2.f});
    a.step();
    w.step();
    check_near(adam.theta(0), 0.8004122248, kTol, "Adam g=0 step 2");
    check_near(adamw.theta(0), 0.9801, kTol, "AdamW g=0 step 2");
    check_near(adamw.theta(1), 0.7811, kTol, "AdamW g=2 step 2");
}

// ---------------------------------------------------------------------------
// SGD

BOOST_AUTO_TEST_CASE(sgd_plain) {
    // θ ← θ − lr·g with lr = 0.1: 1 − 0.1·2 = 0.8, then 0.8 − 0.1·(−1) = 0.9
    Scalars s({1.f});
    Optimizer opt(s.store, OptimizerKind::SGD, {ParamGroup{0.1f, 0.f}});
    BOOST_CHECK(opt.v.empty());
    s.set_grads({2.f});
    opt.step();
    check_near(s.theta(0), 0.8, kTol, "step 1");
    s.set_grads({-1.f});
    opt.step();
    check_near(s.theta(0), 0.9, kTol, "step 2");
}

BOOST_AUTO_TEST_CASE(sgd_momentum) {
    // μ = 0.9, lr = 0.1, gradients 2, −1, 0.5:
    //   b = 2 (first step)          θ = 1 − 0.2 = 0.8
    //   b = 0.9·2 − 1 = 0.8         θ = 0.8 − 0.08 = 0.72
    //   b = 0.9·0.8 + 0.5 = 1.22    θ = 0.72 − 0.122 = 0.598
    Scalars s({1.f});
    Optimizer opt(s.store, OptimizerKind::SGD, {ParamGroup{0.1f, 0.f}}, 0.9f, 0.999f, 1e-8f, 0.9f);
    const float grads[] = {2.f, -1.f, 0.5f};
    const double theta[] = {0.8, 0.72, 0.598}, buf[] = {2.0, 0.8, 1.22};
    for (int k = 0; k < 3; ++k) {
        s.set_grads({grads[k]});
        opt.step();
        check_near(s.theta(0), theta[k], kTol, "theta step " + std::to_string(k + 1));
        check_near(opt.m[0], buf[k], kTol, "momentum buffer step " + std::to_string(k + 1));
    }
}

BOOST_AUTO_TEST_CASE(sgd_weight_decay) {
    // g ← g + λθ = 1 + 0.5·2 = 2; θ = 2 − 0.1·2 = 1.8
    Scalars s({2.f});
    Optimizer opt(s.store, OptimizerKind::SGD, {ParamGroup{0.1f, 0.5f}});
    s.set_grads({1.f});
    opt.step();
    check_near(s.theta(0), 1.8, kTol, "decayed step");
}

// ---------------------------------------------------------------------------
// Parameter groups

BOOST_AUTO_TEST_CASE(groups_have_their_own_learning_rate) {
    // A 2x3 "network" weight in group 0 (lr 1e-3) and log Z in group 1 (lr 0.1).
    // Adam's first step moves each value by its group's lr·sign(g).
    ParamStore store;
    int W = store.add("net.weight", 2, 3, 0);
    int log_z = store.add("log_z", 1, 1, 1);
    for (size_t i = 0; i < store.size(); ++i) store.values[i] = 0.5f;
    for (size_t i = 0; i < store.size(); ++i) store.grads[i] = (i % 2 == 0) ? 1.f : -3.f;
    BOOST_CHECK_EQUAL(store.group_size(0), 6u);
    BOOST_CHECK_EQUAL(store.group_size(1), 1u);
    Optimizer opt(store, OptimizerKind::Adam, {ParamGroup{1e-3f, 0.f}, ParamGroup{0.1f, 0.f}});
    opt.step();
    Tensor w = store.value(W);
    for (size_t i = 0; i < w.size(); ++i) {
        // Global index i (W starts at 0): even → g = 1, odd → g = −3.
        const double want = 0.5 - 1e-3 * (i % 2 == 0 ? 1.0 : -1.0);
        check_near(w.data[i], want, 1e-6, "W[" + std::to_string(i) + "]");
    }
    // log Z sits at global index 6 (even, g = 1): 0.5 − 0.1 = 0.4
    check_near(store.value(log_z).data[0], 0.4, 1e-6, "log_z");

    // Per-group weight decay: only group 1 decays (AdamW, zero gradients).
    // group 0: untouched; group 1: θ = 0.4·(1 − 0.1·0.5) = 0.38
    store.zero_grad();
    Optimizer w2(store, OptimizerKind::AdamW, {ParamGroup{1e-3f, 0.f}, ParamGroup{0.1f, 0.5f}});
    std::vector<float> before(store.values);
    w2.step();
    for (size_t i = 0; i < 6; ++i) BOOST_CHECK_EQUAL(store.values[i], before[i]);
    check_near(store.value(log_z).data[0], 0.38, 1e-6, "decayed log_z");
}

BOOST_AUTO_TEST_CASE(unconfigured_group_throws) {
    ParamStore store;
    store.add("net.weight", 2, 2, 0);
    store.add("log_z", 1, 1, 2);  // group 2, but only groups 0 and 1 configured
    BOOST_CHECK_THROW(Optimizer(store, OptimizerKind::Adam, {ParamGroup{}, ParamGroup{}}), std::invalid_argument);
    BOOST_CHECK_THROW(Optimizer(store, OptimizerKind::SGD, {}), std::invalid_argument);
    try {
        Optimizer opt(store, OptimizerKind::AdamW, {ParamGroup{}});
        BOOST_ERROR("expected std::invalid_argument");
    } catch (const std::invalid_argument& e) {
        BOOST_CHECK_MESSAGE(std::string(e.what()).find("log_z") != std::string::npos, e.what());
    }
    ParamStore neg;
    neg.add("x", 1, 1, -1);
    BOOST_CHECK_THROW(Optimizer(neg, OptimizerKind::Adam, {ParamGroup{}}), std::invalid_argument);
    // Three groups: fine.
    BOOST_CHECK_NO_THROW(Optimizer(store, OptimizerKind::Adam, {ParamGroup{}, ParamGroup{}, ParamGroup{}}));
}

BOOST_AUTO_TEST_CASE(zero_grad_clears_the_slab) {
    Scalars s({1.f, 2.f});
    Optimizer opt(s.store, OptimizerKind::Adam, {ParamGroup{}});
    s.set_grads({3.f, -4.f});
    opt.zero_grad();
    BOOST_CHECK_EQUAL(s.store.grads[0], 0.f);
    BOOST_CHECK_EQUAL(s.store.grads[1], 0.f);
}

// A record large enough for the chunked, multi-threaded path (n > 2·2^15), and
// one small record beside it: every element equals the scalar Adam update
// worked in double, at 1 and 2 threads alike.
BOOST_AUTO_TEST_CASE(adam_large_record_matches_elementwise_rule) {
    const int prev = num_threads();
    for (int threads : {1, 2}) {
        set_num_threads(threads);
        ParamStore store;
        const int big = store.add("big", 300, 333);  // 99,900 values
        store.add("small", 1, 7);
        const size_t n = store.size();
        for (size_t i = 0; i < n; ++i) store.values[i] = float(std::sin(0.37 * double(i)));
        (void)big;
        Optimizer opt(store, OptimizerKind::Adam, {{0.01f, 0.1f}});
        std::vector<double> th(store.values.begin(), store.values.end()), m(n, 0.0), v(n, 0.0);
        for (int t = 1; t <= 3; ++t) {
            for (size_t i = 0; i < n; ++i) store.grads[i] = float(std::cos(0.11 * double(i) * t));
            opt.step();
            // g ← g + λθ; m ← 0.9m + 0.1g; v ← 0.999v + 0.001g²; θ ← θ − lr·m̂/(√v̂ + ε)
            for (size_t i = 0; i < n; ++i) {
                const double g = double(store.grads[i]) + 0.1 * th[i];
                m[i] = 0.9 * m[i] + 0.1 * g;
                v[i] = 0.999 * v[i] + 0.001 * g * g;
                const double mh = m[i] / (1.0 - std::pow(0.9, t)), vh = v[i] / (1.0 - std::pow(0.999, t));
                th[i] -= 0.01 * mh / (std::sqrt(vh) + 1e-8);
            }
        }
        double worst = 0.0;
        for (size_t i = 0; i < n; ++i) worst = std::max(worst, std::fabs(double(store.values[i]) - th[i]));
        BOOST_CHECK_MESSAGE(worst < 1e-5, "threads " << threads << ": max |θ − θ_ref| = " << worst);
    }
    set_num_threads(prev);
}

// ---------------------------------------------------------------------------
// clip_grad_norm

BOOST_AUTO_TEST_CASE(clip_grad_norm_scales_to_max_norm) {
    // Two parameters with gradients (3) and (4, 0): ‖g‖ = 5.
    ParamStore store;
    store.add("a", 1, 1);
    store.add("b", 1, 2);
    store.grads = {3.f, 4.f, 0.f};
    double norm = clip_grad_norm(store, 1.0);
    BOOST_CHECK_CLOSE(norm, 5.0, 1e-6);
    // g · 1/(5 + 1e-6) = (0.6, 0.8, 0)
    check_near(store.grads[0], 0.6, 1e-6, "g0");
    check_near(store.grads[1], 0.8, 1e-6, "g1");
    BOOST_CHECK_EQUAL(store.grads[2], 0.f);
    double after = std::sqrt(double(store.grads[0]) * store.grads[0] + double(store.grads[1]) * store.grads[1]);
    check_near(after, 1.0, 1e-6, "norm after clipping");
    // Clipping again reports the clipped norm and (being at the limit) changes ~nothing.
    BOOST_CHECK_CLOSE(clip_grad_norm(store, 1.0), after, 1e-4);
}

BOOST_AUTO_TEST_CASE(clip_grad_norm_no_op_below_and_when_disabled) {
    ParamStore store;
    store.add("a", 1, 3);
    const std::vector<float> g = {1.f, -2.f, 2.f};  // ‖g‖ = 3
    store.grads = g;
    BOOST_CHECK_CLOSE(clip_grad_norm(store, 10.0), 3.0, 1e-6);
    BOOST_CHECK(store.grads == g);
    BOOST_CHECK_CLOSE(clip_grad_norm(store, 3.5), 3.0, 1e-6);
    BOOST_CHECK(store.grads == g);
    BOOST_CHECK_CLOSE(clip_grad_norm(store, 0.0), 3.0, 1e-6);  // max_norm 0: disabled
    BOOST_CHECK(store.grads == g);
    BOOST_CHECK_CLOSE(clip_grad_norm(store, -1.0), 3.0, 1e-6);
    BOOST_CHECK(store.grads == g);
    // All-zero gradients: norm 0, nothing to scale, no NaN.
    store.zero_grad();
    BOOST_CHECK_EQUAL(clip_grad_norm(store, 1.0), 0.0);
    for (float x : store.grads) BOOST_CHECK_EQUAL(x, 0.f);
}

// The norm over a slab whose length is not a multiple of the 8 partial sums:
// Σ_{i<n} (i mod 5 − 2)² for n = 1,003 is worked exactly in double.
BOOST_AUTO_TEST_CASE(clip_grad_norm_long_slab) {
    ParamStore store;
    store.add("a", 17, 59);  // 1,003 values
    double ss = 0.0;
    for (size_t i = 0; i < store.grads.size(); ++i) {
        store.grads[i] = float(int(i % 5) - 2);
        ss += double(store.grads[i]) * store.grads[i];
    }
    BOOST_CHECK_CLOSE(clip_grad_norm(store, 0.0), std::sqrt(ss), 1e-12);
    store.grads.back() = 1000.f;  // the tail counts
    BOOST_CHECK_GT(clip_grad_norm(store, 0.0), 999.0);
}

// set_num_threads() turns on flush-to-zero on every thread of the pool: a
// subnormal product comes out as 0 on each of them.
BOOST_AUTO_TEST_CASE(subnormals_are_flushed_on_every_thread) {
    const int prev = num_threads();
    set_num_threads(2);
    volatile float tiny = 1e-30f;
    int flushed[2] = {0, 0};
    int used = 0;
#pragma omp parallel num_threads(2) reduction(+ : used)
    {
        const int t = omp_get_thread_num();
        const float p = tiny * tiny * 1e7f;  // 1e-53: below the smallest subnormal anyway
        const float q = tiny * 1e-9f;        // 1e-39: subnormal unless flushed
        flushed[t] = (q == 0.f && p == 0.f && denormals_flushed()) ? 1 : 0;
        used += 1;
    }
    BOOST_CHECK_EQUAL(used, 2);
    BOOST_CHECK_EQUAL(flushed[0], 1);
    BOOST_CHECK_EQUAL(flushed[1], 1);
    set_num_threads(prev);
}

BOOST_AUTO_TEST_SUITE_END()
