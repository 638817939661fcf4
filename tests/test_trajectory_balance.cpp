// test_trajectory_balance.cpp — the trajectory-balance family (gfn/objectives/trajectory_balance.h):
// TB, LPV, RTB, Relative LPV and Trust-PCL against hand-worked values on a hand-built
// batch, their gradients against central differences (tests/gradcheck.h) through every
// objective and estimator kind, on-policy reuse of saved log-probs, the frozen prior, and
// the errors.
//
// The hand-built batch lives on HyperGrid(2, 3). With H = 3, a_i = |x_i/2 − ½| is ½ for
// x_i ∈ {0, 2} and 0 for x_i = 1; a_i > 0.25 only at 0 and 2, and 0.3 < a_i < 0.4 never,
// so R = 0.1 + 0.5 = 0.6 at the four corners and R = 0.1 everywhere else.
// Actions: 0 adds 1 to x_0, 1 adds 1 to x_1, 2 exits.
//
//   τ0: (0,0) exit                                      x = (0,0), R = 0.6
//   τ1: (0,0) -0-> (1,0) exit                           x = (1,0), R = 0.1
//   τ2: (0,0) -0-> (1,0) -0-> (2,0) -1-> (2,1) -1-> (2,2) exit   x = (2,2), R = 0.6
//
// Uniform PF: valid forward actions are one per coordinate below H−1, plus the exit:
//   (0,0): 3, (1,0): 3, (2,0): 2, (2,1): 2, (2,2): 1 (exit only, log PF = 0), so
//   Σ log PF = −log 3 (τ0), −2 log 3 (τ1), −2 log 3 − 2 log 2 (τ2).
// Uniform PB over parents (one per non-zero coordinate), evaluated at s_1 … s_{L−1}:
//   (1,0): 1, (2,0): 1, (2,1): 2, (2,2): 2, so Σ log PB = 0 (τ0), 0 (τ1), −2 log 2 (τ2).
// Scores s = Σ log PF − Σ log PB − log R:
//   s0 = −log 3 − log 0.6,  s1 = −2 log 3 − log 0.1,  s2 = −2 log 3 − log 0.6.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "envs/hypergrid.h"
#include "gfn/estimators/estimators.h"
#include "gfn/objectives/gflownet.h"
#include "gfn/estimators/preprocessors.h"
#include "gfn/objectives/regression_loss.h"
#include "gfn/samplers/sampler.h"
#include "gfn/containers/trajectories.h"
#include "gfn/objectives/trajectory_balance.h"
#include "tests/gradcheck.h"
#include "tests/objective_fixtures.h"

using namespace gfn;
using namespace gfn::testing;

namespace {

const double L2 = std::log(2.0), L3 = std::log(3.0);
const double LOG_R[3] = {std::log(0.6), std::log(0.1), std::log(0.6)};
const double SUM_PF_UNIFORM[3] = {-L3, -2 * L3, -2 * L3 - 2 * L2};
const double SUM_PB_UNIFORM[3] = {0.0, 0.0, -2 * L2};

void expect_scalar(Var v, double want, double tol, const std::string& what) {
    BOOST_REQUIRE_EQUAL(v.rows(), 1);
    BOOST_REQUIRE_EQUAL(v.cols(), 1);
    expect_values(v, {want}, tol, what);
}


// Checks the three reductions of an objective against per-trajectory hand values.
void expect_reductions(const TrajectoryBasedGFlowNet& gfn, const Trajectories& tr, const Vec& per_item,
                       const std::string& what, const float* log_rewards = nullptr) {
    Tape tape;
    expect_scalar(gfn.loss(tape, tr, true, Reduction::Mean, log_rewards), vmean(per_item), 1e-5, what + " mean");
    expect_scalar(gfn.loss(tape, tr, true, Reduction::Sum, log_rewards), vsum(per_item), 1e-5, what + " sum");
    Var none = gfn.loss(tape, tr, true, Reduction::None, log_rewards);
    BOOST_CHECK_EQUAL(none.cols(), 1);
    expect_values(none, per_item, 1e-5, what + " none");
}

// s_i + c for the uniform-PF, uniform-PB hand batch.
Vec hand_scores(bool with_pb = true, const double* log_r = LOG_R) {
    Vec s(3);
    for (int i = 0; i < 3; ++i) s[size_t(i)] = SUM_PF_UNIFORM[i] - (with_pb ? SUM_PB_UNIFORM[i] : 0.0) - log_r[i];
    return s;
}
Vec plus(const Vec& v, double c) { return map(v, [c](double x) { return x + c; }); }

// A posterior PF whose logits are the constant vector `bias` at every state: an MLP with
// every weight zero (tanh(0) = 0 hidden features) and output bias `bias`.
std::unique_ptr<PolicyEstimator> constant_logit_pf(const HyperGrid& env, const Preprocessor& pre,
                                                    ParamStore& store, const std::vector<float>& bias) {
    Rng rng(7);
    NetConfig cfg{8, 2, Activation::Tanh};
    auto pf = PolicyEstimator::mlp(env, pre, false, store, cfg, rng, "post");
    std::fill(store.values.begin(), store.values.end(), 0.f);
    Tensor b = store.value(param_id(store, "post.out.bias"));
    std::copy(bias.begin(), bias.end(), b.data);
    return pf;
}

// The posterior log-probabilities of constant_logit_pf with bias (0.5, −0.3, 1.0) summed over
// the hand batch. With all actions valid (at (0,0) and (1,0)) the normaliser is
// Z3 = log(e^0.5 + e^−0.3 + e^1); at (2,0) and (2,1) only action 1 and the exit are valid,
// Z2 = log(e^−0.3 + e^1); at (2,2) only the exit is valid (log-prob 0).
//   τ0: exit at (0,0)                      1.0 − Z3
//   τ1: 0 at (0,0), exit at (1,0)          (0.5 − Z3) + (1.0 − Z3)
//   τ2: 0, 0 at (0,0), (1,0); 1, 1 at (2,0), (2,1); exit at (2,2)
//                                          2(0.5 − Z3) + 2(−0.3 − Z2) + 0
const std::vector<float> kPostBias = {0.5f, -0.3f, 1.0f};
Vec hand_posterior_sums() {
    const double Z3 = std::log(std::exp(0.5) + std::exp(-0.3) + std::exp(1.0));
    const double Z2 = std::log(std::exp(-0.3) + std::exp(1.0));
    return {1.0 - Z3, (0.5 - Z3) + (1.0 - Z3), 2 * (0.5 - Z3) + 2 * (-0.3 - Z2)};
}
// s_rtb = Σ log pf_post − Σ log pf_prior − β log r with the uniform prior.
Vec hand_rtb_scores(double beta) {
    Vec post = hand_posterior_sums(), s(3);
    for (int i = 0; i < 3; ++i) s[size_t(i)] = post[size_t(i)] - SUM_PF_UNIFORM[i] - beta * LOG_R[i];
    return s;
}

// ---- sampled batches and small networks for the gradient checks --------------------------

// An MLP PF and PB (tanh: no kinks for the finite differences to straddle), log Z in
// group 1, a frozen prior in its own store, and a batch sampled once.
struct Model {
    std::unique_ptr<HyperGrid> env;
    std::unique_ptr<Preprocessor> pre;
    ParamStore store, prior_store;
    std::unique_ptr<PolicyEstimator> pf, pb, prior;
    std::unique_ptr<ScalarEstimator> log_z;
    Trajectories batch;

    enum class Pb { Mlp, Tied, Uniform };
    Model(bool conditional, Pb pb_kind, int n = 12, unsigned seed = 3, int height = 4) {
        env = conditional ? std::make_unique<ConditionalHyperGrid>(2, height) : std::make_unique<HyperGrid>(2, height);
        pre = env->default_preprocessor();
        Rng rng(seed);
        NetConfig cfg{8, 2, Activation::Tanh};
        if (conditional) {
            pf = PolicyEstimator::conditional(*env, *pre, false, store, cfg, rng, "pf");
            if (pb_kind == Pb::Mlp) pb = PolicyEstimator::conditional(*env, *pre, true, store, cfg, rng, "pb");
            log_z = std::make_unique<ScalarEstimator>(store, 1, cfg, rng, 1, "log_z");
        } else {
            pf = PolicyEstimator::mlp(*env, *pre, false, store, cfg, rng, "pf");
            if (pb_kind == Pb::Mlp) pb = PolicyEstimator::mlp(*env, *pre, true, store, cfg, rng, "pb");
            log_z = std::make_unique<ScalarEstimator>(store, 0.f, 1, "log_z");
        }
        if (pb_kind == Pb::Tied) pb = PolicyEstimator::tied(*pf, store, rng, "pb");
        if (pb_kind == Pb::Uniform) pb = PolicyEstimator::uniform_pb(*env);
        prior = PolicyEstimator::mlp(*env, *pre, false, prior_store, cfg, rng, "prior");
        prior_store.frozen = true;
        Tape tape;
        SampleRequest req;
        req.n = n;
        sample_trajectories(*env, *pf, nullptr, req, rng, tape, batch);
    }
    GradTarget all() { return GradTarget{"params", store.values.data(), store.grads.data(), store.size()}; }
    // log Z alone (unconditional only), so that it is always among the checked values.
    GradTarget log_z_target() {
        const size_t off = store.params[size_t(param_id(store, "log_z"))].offset;
        return GradTarget{"log_z", store.values.data() + off, store.grads.data() + off, 1};
    }
    // Shifts log Z (its output bias, when conditional) so that the residuals s + log Z
    // average 0.3: small residuals keep the float rounding of the loss, which central
    // differences divide by 2h, well below the tolerance.
    void center_log_z(const TrajectoryBasedGFlowNet& gfn) {
        Tape tape;
        Var s = gfn.get_scores(tape, batch);
        Var r = add(s, log_z->forward(tape, batch.conditions.empty() ? nullptr : batch.conditions.data(), batch.n));
        const double shift = -vmean(values(r)) + 0.3;
        store.value(param_id(store, log_z->conditional() ? "log_z.out.bias" : "log_z")).data[0] += float(shift);
    }
};


}  // namespace

BOOST_AUTO_TEST_SUITE(trajectory_balance)

// ---------------------------------------------------------------------------
// Hand-worked values

BOOST_AUTO_TEST_CASE(hand_batch_is_well_formed) {
    HyperGrid env(2, 3);
    Trajectories tr = hand_batch(env);
    BOOST_CHECK_EQUAL(tr.n_steps(), 1 + 2 + 5);
    BOOST_CHECK_EQUAL(tr.n_bsteps(), 0 + 1 + 4);
    for (int i = 0; i < 3; ++i) BOOST_CHECK_CLOSE(tr.log_rewards[size_t(i)], LOG_R[i], 1e-4);
}

BOOST_AUTO_TEST_CASE(tb_uniform_policies) {
    HyperGrid env(2, 3);
    Trajectories tr = hand_batch(env);
    auto pf = PolicyEstimator::uniform(env, false);
    auto pb = PolicyEstimator::uniform_pb(env);
    ParamStore store;
    ScalarEstimator log_z(store, 0.7f, 1, "log_z");
    TBGFlowNet tb(pf.get(), pb.get(), &log_z);
    BOOST_CHECK_EQUAL(tb.log_z(), double(0.7f));
    BOOST_CHECK(tb.loss_fn.kind == LossKind::Squared);

    Tape tape;
    Var s = tb.get_scores(tape, tr);
    BOOST_CHECK_EQUAL(s.rows(), 3);
    expect_values(s, hand_scores(), 1e-5, "TB scores");
    // g(s_i + log Z), squared.
    const Vec r = plus(hand_scores(), 0.7);
    expect_reductions(tb, tr, map(r, g_sq), "TB");
    // d mean((s + log Z)²) / d log Z = (2/3) Σ (s_i + log Z)
    Tape t2;
    store.zero_grad();
    t2.backward(tb.loss(t2, tr));
    BOOST_CHECK_CLOSE(store.grads[0], 2.0 / 3.0 * vsum(r), 1e-3);
}

BOOST_AUTO_TEST_CASE(tb_constant_pb) {
    // log PB ≡ 0: s2 = −2 log 3 − 2 log 2 − log 0.6; s0 and s1 unchanged (no PB terms there).
    HyperGrid env(2, 3);
    Trajectories tr = hand_batch(env);
    auto pf = PolicyEstimator::uniform(env, false);
    auto pb = PolicyEstimator::uniform_pb(env);
    ParamStore store;
    ScalarEstimator log_z(store, 0.7f, 1, "log_z");
    TBGFlowNet tb(pf.get(), nullptr, &log_z, true);
    TBGFlowNet tb_ignores_pb(pf.get(), pb.get(), &log_z, true);  // constant_pb wins over a given PB
    BOOST_CHECK(tb_ignores_pb.pb == nullptr);
    const Vec s = hand_scores(false);
    BOOST_CHECK_CLOSE(s[2], -2 * L3 - 2 * L2 - std::log(0.6), 1e-9);
    for (const TBGFlowNet* g : {&tb, &tb_ignores_pb}) {
        Tape tape;
        expect_values(g->get_scores(tape, tr), s, 1e-5, "constant-PB scores");
        expect_reductions(*g, tr, map(plus(s, 0.7), g_sq), "constant-PB TB");
    }
}

BOOST_AUTO_TEST_CASE(tb_custom_log_rewards) {
    // The custom values replace log R: s_i = Σ log PF − Σ log PB − c_i.
    HyperGrid env(2, 3);
    Trajectories tr = hand_batch(env);
    auto pf = PolicyEstimator::uniform(env, false);
    auto pb = PolicyEstimator::uniform_pb(env);
    ParamStore store;
    ScalarEstimator log_z(store, 0.7f, 1, "log_z");
    TBGFlowNet tb(pf.get(), pb.get(), &log_z);
    const float custom[3] = {0.3f, -1.2f, 2.0f};
    const double c[3] = {0.3f, -1.2f, 2.0f};
    const Vec s = hand_scores(true, c);
    Tape tape;
    expect_values(tb.get_scores(tape, tr, true, custom), s, 1e-5, "custom scores");
    expect_reductions(tb, tr, map(plus(s, 0.7), g_sq), "custom TB", custom);
    // The batch's own log-rewards are untouched.
    BOOST_CHECK_CLOSE(tr.log_rewards[1], LOG_R[1], 1e-4);
}

BOOST_AUTO_TEST_CASE(tb_log_reward_clip_min) {
    HyperGrid env(2, 3);
    Trajectories tr = hand_batch(env);
    auto pf = PolicyEstimator::uniform(env, false);
    auto pb = PolicyEstimator::uniform_pb(env);
    ParamStore store;
    ScalarEstimator log_z(store, 0.7f, 1, "log_z");
    TBGFlowNet clip10(pf.get(), pb.get(), &log_z, false, -10.f);
    TBGFlowNet clip1(pf.get(), pb.get(), &log_z, false, -1.f);

    // A clip below every log R changes nothing.
    expect_reductions(clip10, tr, map(plus(hand_scores(), 0.7), g_sq), "clip below all");
    // Clip at −1: log 0.1 = −2.303 becomes −1; log 0.6 = −0.511 stays.
    {
        const double lr[3] = {LOG_R[0], -1.0, LOG_R[2]};
        expect_reductions(clip1, tr, map(plus(hand_scores(true, lr), 0.7), g_sq), "clip at -1");
    }
    // A tiny custom reward (log R = −50) or R = 0 (log R = −inf) is clamped to −10.
    const double lr[3] = {LOG_R[0], -10.0, LOG_R[2]};
    const Vec want = map(plus(hand_scores(true, lr), 0.7), g_sq);
    const float tiny[3] = {float(LOG_R[0]), -50.f, float(LOG_R[2])};
    const float zero[3] = {float(LOG_R[0]), -INFINITY, float(LOG_R[2])};
    expect_reductions(clip10, tr, want, "custom -50 clipped", tiny);
    expect_reductions(clip10, tr, want, "custom -inf clipped", zero);
    // The batch's own log-rewards are clipped too.
    tr.log_rewards[1] = -50.f;
    expect_reductions(clip10, tr, want, "batch -50 clipped");
}

BOOST_AUTO_TEST_CASE(tb_each_loss_fn) {
    HyperGrid env(2, 3);
    Trajectories tr = hand_batch(env);
    auto pf = PolicyEstimator::uniform(env, false);
    auto pb = PolicyEstimator::uniform_pb(env);
    ParamStore store;
    ScalarEstimator log_z(store, 0.7f, 1, "log_z");
    const Vec r = plus(hand_scores(), 0.7);
    struct Case { RegressionLoss g; std::function<double(double)> hand; };
    const std::vector<Case> cases = {
        {RegressionLoss(LossKind::Squared), g_sq},
        {RegressionLoss(LossKind::HalfSquared), g_half},
        {RegressionLoss(LossKind::ShiftedCosh), g_cosh},
        {RegressionLoss(LossKind::Linex, 0.5f), [](double t) { return g_linex(t, 0.5); }},
    };
    for (const Case& c : cases) {
        TBGFlowNet tb(pf.get(), pb.get(), &log_z, false, kNoClip, c.g);
        expect_reductions(tb, tr, map(r, c.hand), "TB " + c.g.name());
    }
}

BOOST_AUTO_TEST_CASE(lpv_by_hand) {
    // g(s_i − mean(s)); no log Z.
    HyperGrid env(2, 3);
    Trajectories tr = hand_batch(env);
    auto pf = PolicyEstimator::uniform(env, false);
    auto pb = PolicyEstimator::uniform_pb(env);
    LogPartitionVarianceGFlowNet lpv(pf.get(), pb.get());
    BOOST_CHECK(std::isnan(lpv.log_z()));
    const Vec s = hand_scores();
    const Vec dev = plus(s, -vmean(s));
    expect_reductions(lpv, tr, map(dev, g_sq), "LPV");
    LogPartitionVarianceGFlowNet lpv_cosh(pf.get(), pb.get(), false, kNoClip, RegressionLoss(LossKind::ShiftedCosh));
    expect_reductions(lpv_cosh, tr, map(dev, g_cosh), "LPV shifted_cosh");
    // Constant PB and custom rewards.
    LogPartitionVarianceGFlowNet lpv_c(pf.get(), nullptr, true);
    const float custom[3] = {0.3f, -1.2f, 2.0f};
    const double c[3] = {0.3f, -1.2f, 2.0f};
    const Vec sc = hand_scores(false, c);
    expect_reductions(lpv_c, tr, map(plus(sc, -vmean(sc)), g_sq), "LPV constant PB custom", custom);
}

BOOST_AUTO_TEST_CASE(rtb_by_hand) {
    // Posterior with known logits, uniform prior (no store), β = 2, log Z = 0.7, half_squared.
    HyperGrid env(2, 3);
    Trajectories tr = hand_batch(env);
    auto pre = env.default_preprocessor();
    ParamStore store;
    auto post = constant_logit_pf(env, *pre, store, kPostBias);
    auto prior = PolicyEstimator::uniform(env, false);
    ScalarEstimator log_z(store, 0.7f, 1, "log_z");
    RelativeTrajectoryBalanceGFlowNet rtb(post.get(), prior.get(), &log_z, 2.f);
    BOOST_CHECK(rtb.loss_fn.kind == LossKind::HalfSquared);
    BOOST_CHECK(rtb.pb == nullptr);
    BOOST_CHECK_EQUAL(rtb.log_z(), double(0.7f));
    const Vec s = hand_rtb_scores(2.0);
    Tape tape;
    expect_values(rtb.get_scores(tape, tr), s, 1e-5, "RTB scores");
    expect_reductions(rtb, tr, map(plus(s, 0.7), g_half), "RTB");
    RelativeTrajectoryBalanceGFlowNet rtb_sq(post.get(), prior.get(), &log_z, 2.f, kNoClip,
                                             RegressionLoss(LossKind::Squared));
    expect_reductions(rtb_sq, tr, map(plus(s, 0.7), g_sq), "RTB squared");
    // Uniform posterior too: s_rtb = −β log r.
    auto uniform_post = PolicyEstimator::uniform(env, false);
    RelativeTrajectoryBalanceGFlowNet rtb_u(uniform_post.get(), prior.get(), &log_z, 2.f);
    Tape t2;
    expect_values(rtb_u.get_scores(t2, tr), {-2 * LOG_R[0], -2 * LOG_R[1], -2 * LOG_R[2]}, 1e-5,
                  "RTB uniform posterior");
    // log_reward_clip_min applies to log r.
    RelativeTrajectoryBalanceGFlowNet rtb_clip(post.get(), prior.get(), &log_z, 2.f, -1.f);
    Vec sc = s;
    sc[1] += 2.0 * LOG_R[1] - 2.0 * (-1.0);
    expect_reductions(rtb_clip, tr, map(plus(sc, 0.7), g_half), "RTB clipped");
}

BOOST_AUTO_TEST_CASE(relative_lpv_by_hand) {
    HyperGrid env(2, 3);
    Trajectories tr = hand_batch(env);
    auto pre = env.default_preprocessor();
    ParamStore store;
    auto post = constant_logit_pf(env, *pre, store, kPostBias);
    auto prior = PolicyEstimator::uniform(env, false);
    RelativeLogPartitionVarianceGFlowNet rlpv(post.get(), prior.get(), 2.f);
    BOOST_CHECK(rlpv.loss_fn.kind == LossKind::HalfSquared);
    const Vec s = hand_rtb_scores(2.0);
    const Vec dev = plus(s, -vmean(s));
    expect_reductions(rlpv, tr, map(dev, g_half), "relative LPV");

    // Equal to RTB at the batch-optimal log Z = −mean(s_rtb), every reduction.
    ScalarEstimator log_z(store, float(-vmean(s)), 1, "log_z");
    RelativeTrajectoryBalanceGFlowNet rtb(post.get(), prior.get(), &log_z, 2.f);
    for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
        Tape tape;
        expect_values(rlpv.loss(tape, tr, true, r), values(rtb.loss(tape, tr, true, r)), 1e-5, "relative LPV = RTB");
    }
}

BOOST_AUTO_TEST_CASE(trust_pcl_by_hand) {
    // α = 2 → β = 0.5; init v_soft(s_0) = 1.4 → log Z = 1.4 / 2 = 0.7; loss = α² · RTB.
    HyperGrid env(2, 3);
    Trajectories tr = hand_batch(env);
    auto pre = env.default_preprocessor();
    ParamStore store;
    auto post = constant_logit_pf(env, *pre, store, kPostBias);
    auto prior = PolicyEstimator::uniform(env, false);
    ScalarEstimator log_z(store, 0.f, 1, "log_z");  // an empty slot for init_v_soft_s0
    TrustPCLGFlowNet pcl(post.get(), prior.get(), &log_z, 2.f, 1.4f);
    BOOST_CHECK_CLOSE(pcl.alpha(), 2.f, 1e-5);
    BOOST_CHECK_CLOSE(pcl.beta, 0.5f, 1e-5);
    BOOST_CHECK_CLOSE(log_z.value(), 0.7f, 1e-5);
    BOOST_CHECK_CLOSE(pcl.v_soft_s0(), 1.4, 1e-4);
    BOOST_CHECK_CLOSE(pcl.v_soft_s0(), 2.0 * pcl.log_z(), 1e-9);
    BOOST_CHECK(pcl.loss_fn.kind == LossKind::HalfSquared);
    const Vec s = hand_rtb_scores(0.5);
    expect_reductions(pcl, tr, map(plus(s, 0.7), [](double t) { return 4.0 * g_half(t); }), "Trust-PCL");
}

// ---------------------------------------------------------------------------
// Relations between objectives on sampled batches

BOOST_AUTO_TEST_CASE(trust_pcl_is_alpha_squared_rtb) {
    Model m(false, Model::Pb::Uniform, 16);
    ParamStore zs;
    ScalarEstimator z_pcl(zs, 0.f, 1, "z_pcl"), z_rtb(zs, 0.f, 1, "z_rtb");
    const float alpha = 2.f, v0 = 3.1f;
    TrustPCLGFlowNet pcl(m.pf.get(), m.prior.get(), &z_pcl, alpha, v0);
    z_rtb.set_value(v0 / alpha);
    RelativeTrajectoryBalanceGFlowNet rtb(m.pf.get(), m.prior.get(), &z_rtb, 1.f / alpha);
    BOOST_CHECK_CLOSE(z_pcl.value(), v0 / alpha, 1e-5);
    BOOST_CHECK_CLOSE(pcl.v_soft_s0(), alpha * z_pcl.value(), 1e-5);
    for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
        Tape tape;
        Vec want = values(rtb.loss(tape, m.batch, true, r));
        for (double& w : want) w *= double(alpha) * alpha;
        expect_values(pcl.loss(tape, m.batch, true, r), want, 1e-5, "Trust-PCL = α² RTB");
    }
}

BOOST_AUTO_TEST_CASE(prior_receives_no_gradient) {
    Model m(false, Model::Pb::Uniform, 16);
    BOOST_CHECK(&m.prior_store != &m.store);
    BOOST_CHECK(m.prior->store() == &m.prior_store);
    BOOST_CHECK(m.pf->store() == &m.store);
    const std::vector<float> prior_before = m.prior_store.values;
    RelativeTrajectoryBalanceGFlowNet rtb(m.pf.get(), m.prior.get(), m.log_z.get());
    RelativeLogPartitionVarianceGFlowNet rlpv(m.pf.get(), m.prior.get());
    TrustPCLGFlowNet pcl(m.pf.get(), m.prior.get(), m.log_z.get(), 2.f);
    for (const TrajectoryBasedGFlowNet* g : std::vector<const TrajectoryBasedGFlowNet*>{&rtb, &rlpv, &pcl}) {
        Tape tape;
        m.store.zero_grad();
        m.prior_store.zero_grad();
        tape.backward(g->loss(tape, m.batch));
        BOOST_CHECK_MESSAGE(all_zero(m.prior_store.grads), g->name() << ": the prior got a gradient");
        BOOST_CHECK_MESSAGE(!all_zero(m.store.grads), g->name() << ": the posterior got no gradient");
        BOOST_CHECK(m.prior_store.values == prior_before);
    }
}

// ---------------------------------------------------------------------------
// Gradient checks (central differences over the whole parameter slab)

BOOST_AUTO_TEST_CASE(tb_gradients) {
    Model m(false, Model::Pb::Mlp);
    TBGFlowNet tb(m.pf.get(), m.pb.get(), m.log_z.get());
    m.center_log_z(tb);
    expect_grads(tb, m.batch, {m.all(), m.log_z_target()}, Reduction::Mean, "TB squared mean");
    expect_grads(tb, m.batch, {m.all(), m.log_z_target()}, Reduction::None, "TB squared none");
    TBGFlowNet cosh(m.pf.get(), m.pb.get(), m.log_z.get(), false, kNoClip, RegressionLoss(LossKind::ShiftedCosh));
    expect_grads(cosh, m.batch, {m.all(), m.log_z_target()}, Reduction::Sum, "TB shifted_cosh sum");
    TBGFlowNet linex(m.pf.get(), m.pb.get(), m.log_z.get(), false, kNoClip, RegressionLoss(LossKind::Linex, 0.5f));
    expect_grads(linex, m.batch, {m.all(), m.log_z_target()}, Reduction::Mean, "TB linex mean");
    TBGFlowNet constant(m.pf.get(), nullptr, m.log_z.get(), true);
    expect_grads(constant, m.batch, {m.all(), m.log_z_target()}, Reduction::Mean, "TB constant PB");
}

BOOST_AUTO_TEST_CASE(tb_tied_pb_gradients) {
    Model m(false, Model::Pb::Tied);
    BOOST_CHECK(m.pb->kind() == PolicyEstimator::Kind::Tied);
    TBGFlowNet tb(m.pf.get(), m.pb.get(), m.log_z.get());
    m.center_log_z(tb);
    expect_grads(tb, m.batch, {m.all(), m.log_z_target()}, Reduction::Mean, "TB tied mean");
    expect_grads(tb, m.batch, {m.all()}, Reduction::None, "TB tied none");
}

BOOST_AUTO_TEST_CASE(conditional_tb_gradients) {
    Model m(true, Model::Pb::Mlp);
    BOOST_CHECK_EQUAL(m.batch.condition_dim, 1);
    BOOST_CHECK(m.log_z->conditional());
    TBGFlowNet tb(m.pf.get(), m.pb.get(), m.log_z.get());
    BOOST_CHECK(std::isnan(tb.log_z()));
    m.center_log_z(tb);
    expect_grads(tb, m.batch, {m.all()}, Reduction::Mean, "conditional TB mean");
    expect_grads(tb, m.batch, {m.all()}, Reduction::None, "conditional TB none");
}

BOOST_AUTO_TEST_CASE(lpv_gradients) {
    Model m(false, Model::Pb::Mlp);
    LogPartitionVarianceGFlowNet lpv(m.pf.get(), m.pb.get());
    expect_grads(lpv, m.batch, {m.all()}, Reduction::Mean, "LPV mean");
    expect_grads(lpv, m.batch, {m.all()}, Reduction::None, "LPV none");
    LogPartitionVarianceGFlowNet cosh(m.pf.get(), m.pb.get(), false, kNoClip, RegressionLoss(LossKind::ShiftedCosh));
    expect_grads(cosh, m.batch, {m.all()}, Reduction::Mean, "LPV shifted_cosh");
}

BOOST_AUTO_TEST_CASE(relative_gradients) {
    Model m(false, Model::Pb::Uniform);
    RelativeTrajectoryBalanceGFlowNet rtb(m.pf.get(), m.prior.get(), m.log_z.get(), 1.5f);
    m.center_log_z(rtb);
    expect_grads(rtb, m.batch, {m.all(), m.log_z_target()}, Reduction::Mean, "RTB mean");
    expect_grads(rtb, m.batch, {m.all(), m.log_z_target()}, Reduction::None, "RTB none");
    RelativeTrajectoryBalanceGFlowNet rtb_cosh(m.pf.get(), m.prior.get(), m.log_z.get(), 1.5f, kNoClip,
                                               RegressionLoss(LossKind::ShiftedCosh));
    expect_grads(rtb_cosh, m.batch, {m.all(), m.log_z_target()}, Reduction::Mean, "RTB shifted_cosh");
    RelativeLogPartitionVarianceGFlowNet rlpv(m.pf.get(), m.prior.get(), 1.5f);
    expect_grads(rlpv, m.batch, {m.all()}, Reduction::Mean, "relative LPV mean");
    expect_grads(rlpv, m.batch, {m.all()}, Reduction::None, "relative LPV none");
    TrustPCLGFlowNet pcl(m.pf.get(), m.prior.get(), m.log_z.get(), 2.f);  // keeps the centred log Z
    expect_grads(pcl, m.batch, {m.all(), m.log_z_target()}, Reduction::Mean, "Trust-PCL mean");
    expect_grads(pcl, m.batch, {m.all(), m.log_z_target()}, Reduction::None, "Trust-PCL none");
}

// ---------------------------------------------------------------------------
// On-policy reuse of saved log-probabilities

// The distinct states of a batch's steps.
static int distinct_states(const Trajectories& b) {
    std::set<std::vector<int>> seen;
    for (int k = 0; k < b.n_steps(); ++k) {
        const int* s = b.state(b.step_t[size_t(k)], b.step_traj[size_t(k)]);
        seen.insert(std::vector<int>(s, s + b.state_dim));
    }
    return int(seen.size());
}

// The three rollout paths: per-step tape nodes; the trunk recorded outside the
// tape then put on it once (SampleRequest::recording), on every visited state;
// and recorded once per distinct state (dedup_states, the default).
BOOST_AUTO_TEST_CASE(on_policy_reuse_separate_pb) {
    for (int path = 0; path < 3; ++path) {
        const bool recorded = path > 0;
        Model m(false, Model::Pb::Mlp);
        TBGFlowNet tb(m.pf.get(), m.pb.get(), m.log_z.get());
        Rng rng(11);
        Tape tape;
        TrunkRecording rec;
        SampleRequest req;
        req.n = 32;
        req.save_log_probs = true;
        req.recording = recorded ? &rec : nullptr;
        req.dedup_states = path == 2;
        Trajectories batch;
        sample_trajectories(*m.env, *m.pf, m.pb.get(), req, rng, tape, batch);
        BOOST_REQUIRE(batch.saved_log_pf.valid());
        BOOST_CHECK(!batch.saved_log_pb.valid());  // PB is not tied: nothing saved for it
        BOOST_CHECK_EQUAL(rec.rows, path == 0 ? 0 : path == 1 ? batch.n_steps() : distinct_states(batch));
        if (path == 2) BOOST_CHECK_LT(rec.rows, batch.n_steps() / 2);
        LossAndGrad saved = loss_and_grad(tape, tb, batch, m.store, false);
        batch.drop_saved();
        Tape fresh;
        LossAndGrad recomputed = loss_and_grad(fresh, tb, batch, m.store, true);
        BOOST_CHECK_CLOSE(saved.loss, recomputed.loss, 1e-3);
        expect_same_grads(saved.grad, recomputed.grad,
                          path == 2 ? "separate PB, deduplicated" : recorded ? "separate PB, recorded" : "separate PB");
    }
}

BOOST_AUTO_TEST_CASE(on_policy_reuse_tied_pb) {
    for (int path = 0; path < 3; ++path) {
        const bool recorded = path > 0;
        Model m(false, Model::Pb::Tied);
        TBGFlowNet tb(m.pf.get(), m.pb.get(), m.log_z.get());
        Rng rng(12);
        Tape tape;
        TrunkRecording rec;
        SampleRequest req;
        req.n = 32;
        req.save_log_probs = true;
        req.recording = recorded ? &rec : nullptr;
        req.dedup_states = path == 2;
        Trajectories batch;
        sample_trajectories(*m.env, *m.pf, m.pb.get(), req, rng, tape, batch);
        BOOST_CHECK_EQUAL(rec.rows, path == 0 ? 0 : path == 1 ? batch.n_steps() : distinct_states(batch));
        BOOST_REQUIRE(batch.saved_log_pf.valid());
        BOOST_REQUIRE(batch.saved_log_pb.valid());
        BOOST_CHECK_EQUAL(batch.saved_log_pb.rows(), batch.n_bsteps());
        LossAndGrad saved = loss_and_grad(tape, tb, batch, m.store, false);
        // PF recomputed, the saved tied PB reused.
        LossAndGrad half = loss_and_grad(tape, tb, batch, m.store, true);
        batch.drop_saved();
        Tape fresh;
        LossAndGrad recomputed = loss_and_grad(fresh, tb, batch, m.store, true);
        BOOST_CHECK_CLOSE(saved.loss, recomputed.loss, 1e-3);
        BOOST_CHECK_CLOSE(half.loss, recomputed.loss, 1e-3);
        const std::string how = path == 2 ? ", deduplicated" : recorded ? ", recorded" : "";
        expect_same_grads(saved.grad, recomputed.grad, "tied PB, all saved" + how);
        expect_same_grads(half.grad, recomputed.grad, "tied PB, saved PB" + how);
    }
}

BOOST_AUTO_TEST_CASE(saved_log_probs_are_the_behaviour_policy) {
    // Sampled at temperature 2, the saved log PF are the tempered ones: recalculate = false
    // scores with them (s = Σ saved − Σ log PB − log R), recalculate = true with the policy.
    Model m(false, Model::Pb::Uniform);
    TBGFlowNet tb(m.pf.get(), m.pb.get(), m.log_z.get());
    Rng rng(13);
    Tape tape;
    SampleRequest req;
    req.n = 24;
    req.save_log_probs = true;
    req.exploration.temperature = 2.f;
    Trajectories batch;
    sample_trajectories(*m.env, *m.pf, nullptr, req, rng, tape, batch);
    Vec saved = values(batch.saved_log_pf), want(size_t(batch.n), 0.0);
    for (int k = 0; k < batch.n_steps(); ++k) want[size_t(batch.step_traj[size_t(k)])] += saved[size_t(k)];
    Var lpb = evaluate_log_probs(tape, batch, *m.pf, m.pb.get(), true).log_pb;
    Vec pbv = values(lpb);
    for (int k = 0; k < batch.n_bsteps(); ++k) want[size_t(batch.bstep_traj[size_t(k)])] -= pbv[size_t(k)];
    for (int i = 0; i < batch.n; ++i) want[size_t(i)] -= batch.log_rewards[size_t(i)];
    expect_values(tb.get_scores(tape, batch, false), want, 1e-5, "scores from saved log PF");
    Vec fresh = values(tb.get_scores(tape, batch, true));
    double diff = 0.0;
    for (int i = 0; i < batch.n; ++i) diff += std::fabs(fresh[size_t(i)] - want[size_t(i)]);
    BOOST_CHECK_MESSAGE(diff > 0.1, "tempered and untempered scores agree (diff " << diff << ")");
}

// ---------------------------------------------------------------------------
// Errors

BOOST_AUTO_TEST_CASE(construction_errors) {
    HyperGrid env(2, 3);
    auto pre = env.default_preprocessor();
    auto pf = PolicyEstimator::uniform(env, false);
    auto pb = PolicyEstimator::uniform_pb(env);
    ParamStore store;
    ScalarEstimator log_z(store, 0.f, 1, "log_z");
    BOOST_CHECK_THROW(TBGFlowNet(pf.get(), nullptr, &log_z, false), std::invalid_argument);
    BOOST_CHECK_THROW(LogPartitionVarianceGFlowNet(pf.get(), nullptr, false), std::invalid_argument);
    BOOST_CHECK_THROW(TBGFlowNet(pf.get(), pb.get(), nullptr), std::invalid_argument);
    BOOST_CHECK_THROW(TBGFlowNet(pb.get(), pb.get(), &log_z), std::invalid_argument);  // PF is backward
    BOOST_CHECK_THROW(TBGFlowNet(pf.get(), pf.get(), &log_z), std::invalid_argument);  // PB is forward
    BOOST_CHECK_THROW(TBGFlowNet(nullptr, pb.get(), &log_z), std::invalid_argument);

    // The relative family: a prior is required, must be frozen, separate and forward.
    Rng rng(5);
    NetConfig cfg{8, 2, Activation::Tanh};
    ParamStore post_store, prior_store;
    auto post = PolicyEstimator::mlp(env, *pre, false, post_store, cfg, rng, "post");
    auto prior = PolicyEstimator::mlp(env, *pre, false, prior_store, cfg, rng, "prior");
    auto shared = PolicyEstimator::mlp(env, *pre, false, post_store, cfg, rng, "shared");
    BOOST_CHECK_THROW(RelativeTrajectoryBalanceGFlowNet(post.get(), nullptr, &log_z), std::invalid_argument);
    BOOST_CHECK_THROW(RelativeLogPartitionVarianceGFlowNet(post.get(), nullptr), std::invalid_argument);
    BOOST_CHECK_THROW(TrustPCLGFlowNet(post.get(), nullptr, &log_z), std::invalid_argument);
    // Not frozen.
    BOOST_CHECK_THROW(RelativeTrajectoryBalanceGFlowNet(post.get(), prior.get(), &log_z), std::invalid_argument);
    BOOST_CHECK_THROW(RelativeLogPartitionVarianceGFlowNet(post.get(), prior.get()), std::invalid_argument);
    BOOST_CHECK_THROW(TrustPCLGFlowNet(post.get(), prior.get(), &log_z), std::invalid_argument);
    prior_store.frozen = true;
    BOOST_CHECK_NO_THROW(RelativeTrajectoryBalanceGFlowNet(post.get(), prior.get(), &log_z));
    BOOST_CHECK_NO_THROW(RelativeLogPartitionVarianceGFlowNet(post.get(), prior.get()));
    // The posterior itself, a backward prior, β <= 0, α <= 0, no log Z.
    BOOST_CHECK_THROW(RelativeTrajectoryBalanceGFlowNet(post.get(), post.get(), &log_z), std::invalid_argument);
    BOOST_CHECK_THROW(RelativeTrajectoryBalanceGFlowNet(post.get(), pb.get(), &log_z), std::invalid_argument);
    BOOST_CHECK_THROW(RelativeTrajectoryBalanceGFlowNet(post.get(), prior.get(), &log_z, 0.f), std::invalid_argument);
    BOOST_CHECK_THROW(RelativeTrajectoryBalanceGFlowNet(post.get(), prior.get(), nullptr), std::invalid_argument);
    BOOST_CHECK_THROW(TrustPCLGFlowNet(post.get(), prior.get(), &log_z, 0.f), std::invalid_argument);
    BOOST_CHECK_THROW(TrustPCLGFlowNet(post.get(), prior.get(), &log_z, -1.f), std::invalid_argument);
    BOOST_CHECK_THROW(TrustPCLGFlowNet(post.get(), prior.get(), &log_z, NAN), std::invalid_argument);
    // Trust-PCL's v_soft(s_0) needs an unconditional log Z.
    ParamStore cz_store;
    ScalarEstimator conditional_z(cz_store, 1, cfg, rng, 1, "log_z");
    BOOST_CHECK_THROW(TrustPCLGFlowNet(post.get(), prior.get(), &conditional_z), std::invalid_argument);
    // A prior in the posterior's store, even a frozen one, shares parameters with it.
    BOOST_CHECK_THROW(RelativeTrajectoryBalanceGFlowNet(post.get(), shared.get(), &log_z), std::invalid_argument);
    post_store.frozen = true;
    BOOST_CHECK_THROW(RelativeTrajectoryBalanceGFlowNet(post.get(), shared.get(), &log_z), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(non_finite_log_rewards) {
    HyperGrid env(2, 3);
    Trajectories tr = hand_batch(env);
    auto pf = PolicyEstimator::uniform(env, false);
    auto pb = PolicyEstimator::uniform_pb(env);
    ParamStore store;
    ScalarEstimator log_z(store, 0.7f, 1, "log_z");
    TBGFlowNet tb(pf.get(), pb.get(), &log_z);
    TBGFlowNet clipped(pf.get(), pb.get(), &log_z, false, -10.f);
    LogPartitionVarianceGFlowNet lpv(pf.get(), pb.get());
    auto prior = PolicyEstimator::uniform(env, false);
    RelativeTrajectoryBalanceGFlowNet rtb(pf.get(), prior.get(), &log_z);
    const float zero[3] = {0.f, -INFINITY, 0.f}, nan[3] = {0.f, NAN, 0.f}, inf[3] = {0.f, INFINITY, 0.f};

    // R = 0 without a clip: a domain_error that names the option.
    for (const TrajectoryBasedGFlowNet* g : std::vector<const TrajectoryBasedGFlowNet*>{&tb, &lpv, &rtb}) {
        Tape tape;
        try {
            g->loss(tape, tr, true, Reduction::Mean, zero);
            BOOST_ERROR(g->name() << ": no error for log R = -inf");
        } catch (const std::domain_error& e) {
            BOOST_CHECK_MESSAGE(std::string(e.what()).find("log_reward_clip_min") != std::string::npos,
                                "message does not name log_reward_clip_min: " << e.what());
        }
        BOOST_CHECK_THROW(g->get_scores(tape, tr, true, zero), std::domain_error);
    }
    // The batch's own −inf is caught too.
    Trajectories bad = tr;
    bad.log_rewards[2] = -INFINITY;
    {
        Tape tape;
        BOOST_CHECK_THROW(tb.loss(tape, bad), std::domain_error);
        BOOST_CHECK_NO_THROW(clipped.loss(tape, bad));
        BOOST_CHECK(std::isfinite(clipped.loss(tape, bad).item()));
    }
    // A finite clip fixes −inf, never NaN or +inf.
    Tape tape;
    BOOST_CHECK_NO_THROW(clipped.loss(tape, tr, true, Reduction::Mean, zero));
    BOOST_CHECK_THROW(tb.loss(tape, tr, true, Reduction::Mean, nan), std::domain_error);
    BOOST_CHECK_THROW(clipped.loss(tape, tr, true, Reduction::Mean, nan), std::domain_error);
    BOOST_CHECK_THROW(clipped.loss(tape, tr, true, Reduction::Mean, inf), std::domain_error);
    bad.log_rewards[2] = NAN;
    BOOST_CHECK_THROW(clipped.loss(tape, bad), std::domain_error);
    // A NaN clip is refused at construction.
    BOOST_CHECK_THROW(TBGFlowNet(pf.get(), pb.get(), &log_z, false, NAN), std::invalid_argument);
}

// ---------------------------------------------------------------------------
// torchgfn parity

BOOST_AUTO_TEST_CASE(trust_pcl_keeps_the_callers_log_z) {
    // As torchgfn: a log Z the caller supplies is kept (not replaced by init_v_soft_s0 / α);
    // log Z together with init_v_soft_s0 is refused; init_v_soft_s0 alone starts log Z at
    // init_v_soft_s0 / α. α = 2 throughout.
    HyperGrid env(2, 3);
    auto pre = env.default_preprocessor();
    ParamStore store;
    auto post = constant_logit_pf(env, *pre, store, kPostBias);
    auto prior = PolicyEstimator::uniform(env, false);

    ScalarEstimator supplied(store, 0.8f, 1, "supplied");
    TrustPCLGFlowNet kept(post.get(), prior.get(), &supplied, 2.f);
    BOOST_CHECK_CLOSE(supplied.value(), 0.8f, 1e-5);
    BOOST_CHECK_CLOSE(kept.v_soft_s0(), 1.6, 1e-4);  // v_soft(s_0) = α log Z

    try {
        TrustPCLGFlowNet both(post.get(), prior.get(), &supplied, 2.f, 3.0f);
        BOOST_ERROR("no error for log Z and init_v_soft_s0 together");
    } catch (const std::invalid_argument& e) {
        const std::string msg = e.what();
        BOOST_CHECK_MESSAGE(msg.find("init_v_soft_s0") != std::string::npos && msg.find("log Z") != std::string::npos,
                            "message names neither: " << msg);
    }
    BOOST_CHECK_CLOSE(supplied.value(), 0.8f, 1e-5);  // untouched by the refused call

    ScalarEstimator empty(store, 0.f, 1, "empty");
    TrustPCLGFlowNet from_v(post.get(), prior.get(), &empty, 2.f, 3.0f);
    BOOST_CHECK_CLOSE(empty.value(), 1.5f, 1e-5);
    BOOST_CHECK_CLOSE(from_v.v_soft_s0(), 3.0, 1e-4);
    ScalarEstimator empty2(store, 0.f, 1, "empty2");
    BOOST_CHECK_THROW(TrustPCLGFlowNet(post.get(), prior.get(), &empty2, 2.f, INFINITY), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
