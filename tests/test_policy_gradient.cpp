// test_policy_gradient.cpp — the soft-RL view (gfn/objectives/soft_rl.h) and the
// policy-gradient objectives (gfn/objectives/policy_gradient.h): VPG with its four
// advantages, the mse and sub_eb critics, Entropic PPO and TLM (beside VPG, and beside
// TB, DB and SubTB through the training step's backward_step), against hand-worked
// values on the hand batch, gradients against central differences with the rollout
// frozen, PB held fixed, the masked KL and the log-ratio clamp, and the flag checks.
//
// The hand batch on HyperGrid(2, 3) (tests/objective_fixtures.h), steps in time-major
// order k = 0..7: (t0: τ0, τ1, τ2), (t1: τ1, τ2), (t2: τ2), (t3: τ2), (t4: τ2).
// Uniform PF: log PF = −log 3 at (0,0) and (1,0), −log 2 at (2,0) and (2,1), 0 at (2,2).
// Uniform PB: log PB(s_t | s_{t+1}) = −log(parents of s_{t+1}): 0 into (1,0) and (2,0),
// −log 2 into (2,1) and (2,2). The exit step's reward is log R (0.6, 0.1, 0.6).
//   k  step       r_t        g_t = r_t − log PF
//   0  τ0 t0      log .6     log .6 + log 3
//   1  τ1 t0      0          log 3
//   2  τ2 t0      0          log 3
//   3  τ1 t1      log .1     log .1 + log 3
//   4  τ2 t1      0          log 3
//   5  τ2 t2      −log 2     0
//   6  τ2 t3      −log 2     0
//   7  τ2 t4      log .6     log .6
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "envs/hypergrid.h"
#include "gfn/objectives/detailed_balance.h"
#include "gfn/objectives/policy_gradient.h"
#include "gfn/objectives/soft_rl.h"
#include "gfn/objectives/sub_trajectory_balance.h"
#include "gfn/objectives/trajectory_balance.h"
#include "gfn/runtime/config.h"
#include "gfn/runtime/training.h"
#include "gfn/samplers/sampler.h"
#include "tests/gradcheck.h"
#include "tests/objective_fixtures.h"

using namespace gfn;
using namespace gfn::testing;

namespace {

const double L2 = std::log(2.0), L3 = std::log(3.0), LR6 = std::log(0.6), LR1 = std::log(0.1);
const Vec G = {LR6 + L3, L3, L3, LR1 + L3, L3, 0.0, 0.0, LR6};

// A PF whose logits are `bias` at every state (all weights zero, tanh hidden layers).
std::unique_ptr<PolicyEstimator> constant_logit_pf(const HyperGrid& env, const Preprocessor& pre, ParamStore& store,
                                                   const std::vector<float>& bias) {
    Rng rng(7);
    NetConfig cfg{8, 2, Activation::Tanh};
    auto pf = PolicyEstimator::mlp(env, pre, false, store, cfg, rng, "pf");
    std::fill(store.values.begin(), store.values.end(), 0.f);
    std::copy(bias.begin(), bias.end(), store.value(param_id(store, "pf.out.bias")).data);
    return pf;
}

Vec to_vec(const std::vector<double>& v) { return Vec(v.begin(), v.end()); }
Vec to_vec(const std::vector<float>& v) { return Vec(v.begin(), v.end()); }

std::vector<float> uniform_log_pf() {
    return {float(-L3), float(-L3), float(-L3), float(-L3), float(-L3), float(-L2), float(-L2), 0.f};
}
std::vector<float> uniform_log_pb() {
    // backward steps in order: (t1: τ1, τ2), (t2: τ2), (t3: τ2), (t4: τ2)
    return {0.f, 0.f, 0.f, float(-L2), float(-L2)};
}

// An MLP PF, PB and value net, each in its own store, and a batch sampled from PF.
struct Model {
    HyperGrid env{2, 4};
    std::unique_ptr<Preprocessor> pre = env.default_preprocessor();
    ParamStore pf_store, pb_store, v_store;
    std::unique_ptr<PolicyEstimator> pf, pb;
    std::unique_ptr<StateFlowEstimator> v;
    Trajectories batch;
    explicit Model(unsigned seed = 3, int n = 10) {
        Rng rng(seed);
        NetConfig cfg{8, 2, Activation::Tanh};
        pf = PolicyEstimator::mlp(env, *pre, false, pf_store, cfg, rng, "pf");
        pb = PolicyEstimator::mlp(env, *pre, true, pb_store, cfg, rng, "pb");
        v = StateFlowEstimator::mlp(env, *pre, v_store, cfg, rng, "v");
        Tape tape;
        SampleRequest req;
        req.n = n;
        sample_trajectories(env, *pf, nullptr, req, rng, tape, batch);
    }
    static GradTarget all(ParamStore& s, const std::string& name) {
        return GradTarget{name, s.values.data(), s.grads.data(), s.size()};
    }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(policy_gradient)

// ---------------------------------------------------------------------------
// The soft-RL view, by hand

BOOST_AUTO_TEST_CASE(soft_returns_and_reward_to_go_by_hand) {
    HyperGrid env(2, 3);
    Trajectories tr = hand_batch(env);
    BOOST_REQUIRE_EQUAL(tr.n_steps(), 8);
    std::vector<int> next = next_step_index(tr);
    BOOST_CHECK((next == std::vector<int>{-1, 3, 4, -1, 5, 6, 7, -1}));
    std::vector<float> lpf = uniform_log_pf(), lpb = uniform_log_pb();
    std::vector<double> r = soft_step_rewards(tr, lpb.data(), tr.log_rewards.data());
    expect_values(to_vec(r), {LR6, 0, 0, LR1, 0, -L2, -L2, LR6}, 1e-6, "step rewards");
    // constant PB: every non-exit reward is 0
    expect_values(to_vec(soft_step_rewards(tr, nullptr, tr.log_rewards.data())), {LR6, 0, 0, LR1, 0, 0, 0, LR6}, 1e-6,
                  "step rewards, constant PB");
    std::vector<double> g = soft_step_returns(r, lpf.data());
    expect_values(to_vec(g), G, 1e-6, "soft returns");
    // R̂: τ0 k0; τ1 k3, k1; τ2 k7, k6, k5, k4, k2
    expect_values(to_vec(reward_to_go(tr, g)),
                  {LR6 + L3, LR1 + 2 * L3, LR6 + 2 * L3, LR1 + L3, LR6 + L3, LR6, LR6, LR6}, 1e-6, "reward-to-go");
}

BOOST_AUTO_TEST_CASE(td_residuals_and_gae_by_hand) {
    HyperGrid env(2, 3);
    Trajectories tr = hand_batch(env);
    std::vector<double> g(G.begin(), G.end());
    const std::vector<float> V = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f};
    auto v = [&](int k) { return double(V[size_t(k)]); };
    // δ_k = g_k + V(next) − V(k), V(s_f) = 0
    const Vec d = {G[0] - v(0),        G[1] + v(3) - v(1), G[2] + v(4) - v(2), G[3] - v(3),
                   G[4] + v(5) - v(4), G[5] + v(6) - v(5), G[6] + v(7) - v(6), G[7] - v(7)};
    expect_values(to_vec(soft_td_residuals(tr, g, V.data())), d, 1e-6, "TD residuals");
    const double l = 0.5;
    // A_k = δ_k + λ A_next
    const double a7 = d[7], a6 = d[6] + l * a7, a5 = d[5] + l * a6, a4 = d[4] + l * a5, a2 = d[2] + l * a4;
    const double a3 = d[3], a1 = d[1] + l * a3, a0 = d[0];
    expect_values(to_vec(gae_advantages(tr, g, V.data(), l)), {a0, a1, a2, a3, a4, a5, a6, a7}, 1e-6, "GAE(0.5)");
    // λ = 0: δ; λ = 1: R̂ − V
    expect_values(to_vec(gae_advantages(tr, g, V.data(), 0.0)), d, 1e-6, "GAE(0)");
    std::vector<double> rtg = reward_to_go(tr, g);
    Vec want(8);
    for (int k = 0; k < 8; ++k) want[size_t(k)] = rtg[size_t(k)] - v(k);
    expect_values(to_vec(gae_advantages(tr, g, V.data(), 1.0)), want, 1e-6, "GAE(1)");
    BOOST_CHECK_THROW(gae_advantages(tr, g, V.data(), 1.5), std::invalid_argument);
    BOOST_CHECK_THROW(gae_advantages(tr, g, V.data(), -0.1), std::invalid_argument);
}

// ---------------------------------------------------------------------------
// VPG

BOOST_AUTO_TEST_CASE(total_advantage_is_the_negated_tb_score) {
    HyperGrid env(2, 3);
    Trajectories tr = hand_batch(env);
    auto pf = PolicyEstimator::uniform(env, false);
    auto pb = PolicyEstimator::uniform_pb(env);
    PolicyGradientGFlowNet vpg(pf.get(), pb.get(), nullptr, Advantage::Total);
    ParamStore st;
    ScalarEstimator log_z(st, 0.f, 1, "log_z");
    TBGFlowNet tb(pf.get(), pb.get(), &log_z);
    Tape tape;
    Vec s = values(tb.get_scores(tape, tr));
    FrozenRollout fr = vpg.freeze(tape, tr);
    const int traj_of[8] = {0, 1, 2, 1, 2, 2, 2, 2};
    Vec want(8);
    for (int k = 0; k < 8; ++k) want[size_t(k)] = -s[size_t(traj_of[k])];
    expect_values(to_vec(fr.advantages), want, 1e-5, "total advantage = −TB score");
    BOOST_CHECK(fr.value_targets.empty());
    // L = mean_i −Σ_t log PF · (−s_i) = mean_i (Σ log PF_i) s_i
    const double sum_pf[3] = {-L3, -2 * L3, -2 * L3 - 2 * L2};
    Vec per(3);
    for (int i = 0; i < 3; ++i) per[size_t(i)] = sum_pf[i] * s[size_t(i)];
    expect_values(vpg.loss(tape, tr, true, Reduction::Mean), {vmean(per)}, 1e-5, "VPG total, mean");
    expect_values(vpg.loss(tape, tr, true, Reduction::Sum), {vsum(per)}, 1e-5, "VPG total, sum");
    expect_values(vpg.loss(tape, tr, true, Reduction::None), per, 1e-5, "VPG total, none");
}

BOOST_AUTO_TEST_CASE(reward_to_go_loss_by_hand) {
    HyperGrid env(2, 3);
    Trajectories tr = hand_batch(env);
    auto pf = PolicyEstimator::uniform(env, false);
    auto pb = PolicyEstimator::uniform_pb(env);
    PolicyGradientGFlowNet vpg(pf.get(), pb.get(), nullptr, Advantage::RewardToGo);
    Tape tape;
    std::vector<float> lpf = uniform_log_pf();
    const Vec rtg = {LR6 + L3, LR1 + 2 * L3, LR6 + 2 * L3, LR1 + L3, LR6 + L3, LR6, LR6, LR6};
    // per trajectory −Σ_t log PF_t R̂_t
    const Vec per = {-lpf[0] * rtg[0], -(lpf[1] * rtg[1] + lpf[3] * rtg[3]),
                     -(lpf[2] * rtg[2] + lpf[4] * rtg[4] + lpf[5] * rtg[5] + lpf[6] * rtg[6] + lpf[7] * rtg[7])};
    expect_values(vpg.loss(tape, tr, true, Reduction::None), per, 1e-5, "VPG reward_to_go, none");
}

BOOST_AUTO_TEST_CASE(baseline_and_gae_targets_and_critic_loss) {
    Model m;
    for (Advantage a : {Advantage::Baseline, Advantage::Gae}) {
        PolicyGradientGFlowNet vpg(m.pf.get(), m.pb.get(), m.v.get(), a, 0.7f);
        Tape tape;
        FrozenRollout fr = vpg.freeze(tape, m.batch);
        // the pieces recomputed from soft_rl.h, outside freeze
        Tape t2;
        NoGrad ng(t2);
        StepLogProbs lp = evaluate_log_probs(t2, m.batch, *m.pf, m.pb.get(), true);
        const Vec lpf_d = values(lp.log_pf), lpb_d = values(lp.log_pb);
        std::vector<float> lpf(lpf_d.begin(), lpf_d.end()), lpb(lpb_d.begin(), lpb_d.end());
        std::vector<double> g = soft_step_returns(soft_step_rewards(m.batch, lpb.data(), m.batch.log_rewards.data()),
                                                  lpf.data());
        const int M = m.batch.n_steps();
        std::vector<int> states(static_cast<size_t>(M) * 2);
        for (int k = 0; k < M; ++k)
            for (int d = 0; d < 2; ++d)
                states[size_t(k) * 2 + size_t(d)] = m.batch.state(m.batch.step_t[size_t(k)], m.batch.step_traj[size_t(k)])[d];
        Vec vv = values(m.v->forward(t2, states.data(), nullptr, M));
        std::vector<float> V(vv.begin(), vv.end());
        std::vector<double> rtg = reward_to_go(m.batch, g), gae = gae_advantages(m.batch, g, V.data(), 0.7f);
        Vec want_a(static_cast<size_t>(M)), want_y(static_cast<size_t>(M));
        for (int k = 0; k < M; ++k) {
            want_a[size_t(k)] = a == Advantage::Baseline ? rtg[size_t(k)] - V[size_t(k)] : gae[size_t(k)];
            want_y[size_t(k)] = a == Advantage::Baseline ? rtg[size_t(k)] : gae[size_t(k)] + V[size_t(k)];
        }
        expect_values(to_vec(fr.advantages), want_a, 1e-4, std::string(to_string(a)) + " advantages");
        expect_values(to_vec(fr.value_targets), want_y, 1e-4, std::string(to_string(a)) + " targets");
        // critic: mean_t (V − y)²
        Vec res(static_cast<size_t>(M));
        for (int k = 0; k < M; ++k) res[size_t(k)] = g_sq(V[size_t(k)] - want_y[size_t(k)]);
        expect_values(vpg.value_loss(tape, m.batch, fr), {vmean(res)}, 1e-4, "critic mse");
        BOOST_CHECK_THROW(vpg.loss(tape, m.batch, true, Reduction::None), std::invalid_argument);
    }
}

BOOST_AUTO_TEST_CASE(vpg_gradients_with_the_rollout_frozen_and_pb_fixed) {
    for (Advantage a : {Advantage::Total, Advantage::RewardToGo, Advantage::Baseline, Advantage::Gae}) {
        Model m;
        const bool critic = a == Advantage::Baseline || a == Advantage::Gae;
        PolicyGradientGFlowNet vpg(m.pf.get(), m.pb.get(), critic ? m.v.get() : nullptr, a, 0.7f);
        Tape t0;
        const FrozenRollout fr = vpg.freeze(t0, m.batch);
        auto f = [&](Tape& t) {
            Var l = vpg.policy_loss(t, m.batch, fr, true, Reduction::Mean);
            return critic ? add(l, vpg.value_loss(t, m.batch, fr)) : l;
        };
        std::vector<GradTarget> targets = {Model::all(m.pf_store, "pf")};
        if (critic) targets.push_back(Model::all(m.v_store, "v"));
        expect_grads(f, targets, std::string("VPG ") + to_string(a));
        // PB defines the reward: no gradient reaches it
        Tape t;
        m.pb_store.zero_grad();
        m.pf_store.zero_grad();
        t.backward(vpg.loss(t, m.batch));
        BOOST_CHECK(all_zero(m.pb_store.grads));
        BOOST_CHECK(!all_zero(m.pf_store.grads));
    }
}

BOOST_AUTO_TEST_CASE(tlm_trains_pb_alone) {
    Model m;
    PolicyGradientGFlowNet vpg(m.pf.get(), m.pb.get(), m.v.get(), Advantage::Gae, 0.7f, false, kNoClip, true);
    // L_TLM = mean_i −Σ log PB
    Tape tape;
    StepLogProbs lp = evaluate_log_probs(tape, m.batch, *m.pf, m.pb.get(), true);
    Vec per = values(sum_per_trajectory_backward(m.batch, lp.log_pb));
    expect_values(vpg.tlm_loss(tape, m.batch, Reduction::Mean), {-vmean(per)}, 1e-5, "TLM");
    expect_grads([&](Tape& t) { return vpg.tlm_loss(t, m.batch, Reduction::Mean); }, {Model::all(m.pb_store, "pb")},
                 "TLM");
    Tape t;
    m.pf_store.zero_grad();
    m.pb_store.zero_grad();
    t.backward(vpg.tlm_loss(t, m.batch, Reduction::Mean));
    BOOST_CHECK(all_zero(m.pf_store.grads));
    BOOST_CHECK(!all_zero(m.pb_store.grads));
    auto upb = PolicyEstimator::uniform_pb(m.env);
    BOOST_CHECK_THROW(PolicyGradientGFlowNet(m.pf.get(), upb.get(), m.v.get(), Advantage::Gae, 0.7f, false, kNoClip, true),
                      std::invalid_argument);
}

// ---------------------------------------------------------------------------
// The sub_eb critic

// τ0 and τ1 of the hand batch (N = 2), uniform PF and PB, V an MLP read at (0,0) and (1,0).
// Steps: τ0 t0 at (0,0), the exit, g = log .6 + log 3; τ1 t0 at (0,0), g = log 3 (log PB
// into (1,0) is 0); τ1 t1 at (1,0), the exit, g = log .1 + log 3. With V(s_L) := log R:
//   τ0 (L = 1, D = 1):      (0,1) ρ = V0 − (log .6 + log 3)                 w = 1/2
//   τ1 (L = 2, D = 2 + λ):  (0,1) ρ = V0 − log 3 − V1                        w = 1/(2(2 + λ))
//                           (1,2) ρ = V1 − (log .1 + log 3)                  w = 1/(2(2 + λ))
//                           (0,2) ρ = V0 − (log 3 + log .1 + log 3)          w = λ/(2(2 + λ))
BOOST_AUTO_TEST_CASE(sub_eb_critic_by_hand) {
    HyperGrid env(2, 3);
    Trajectories tr = select_trajectories(hand_batch(env), {0, 1});
    auto pre = env.default_preprocessor();
    auto pf = PolicyEstimator::uniform(env, false);
    auto pb = PolicyEstimator::uniform_pb(env);
    ParamStore vs;
    Rng rng(11);
    auto v = StateFlowEstimator::mlp(env, *pre, vs, NetConfig{8, 1, Activation::Tanh}, rng, "v");
    const float lam = 0.6f;
    PolicyGradientGFlowNet vpg(pf.get(), pb.get(), v.get(), Advantage::Gae, 0.7f, false, kNoClip, false, 1.f,
                               std::nullopt, CriticLoss::SubEB, lam);
    Tape tape;
    const int s00[2] = {0, 0}, s10[2] = {1, 0};
    const double V0 = v->forward(tape, s00, nullptr, 1).item(), V1 = v->forward(tape, s10, nullptr, 1).item();
    const FrozenRollout fr = vpg.freeze(tape, tr);
    expect_values(to_vec(fr.soft_returns), {LR6 + L3, L3, LR1 + L3}, 1e-6, "frozen soft returns");
    const double l = lam, d2 = 2 * (2 + l);
    const double want = g_sq(V0 - (LR6 + L3)) / 2 + g_sq(V0 - L3 - V1) / d2 + g_sq(V1 - (LR1 + L3)) / d2 +
                        l * g_sq(V0 - (2 * L3 + LR1)) / d2;
    expect_values(vpg.value_loss(tape, tr, fr), {want}, 1e-5, "sub_eb critic");
    expect_values(vpg.sub_eb_loss(tape, tr, fr), {want}, 1e-5, "sub_eb_loss");
    // the loss: L_pi + value_weight · sub_eb
    PolicyGradientGFlowNet half(pf.get(), pb.get(), v.get(), Advantage::Gae, 0.7f, false, kNoClip, false, 0.5f,
                                std::nullopt, CriticLoss::SubEB, lam);
    const double lpi = vpg.policy_loss(tape, tr, fr, true, Reduction::Mean).item();
    expect_values(half.loss(tape, tr), {lpi + 0.5 * want}, 1e-5, "L_pi + 0.5 sub_eb");
    // the residuals read the frozen soft returns: changing them moves the loss
    FrozenRollout shifted = fr;
    shifted.soft_returns[1] += 1.f;  // τ1's first step: (0,1) and (0,2) gain −1
    const double want2 = g_sq(V0 - (LR6 + L3)) / 2 + g_sq(V0 - L3 - 1 - V1) / d2 + g_sq(V1 - (LR1 + L3)) / d2 +
                         l * g_sq(V0 - (2 * L3 + LR1) - 1) / d2;
    expect_values(vpg.value_loss(tape, tr, shifted), {want2}, 1e-5, "sub_eb, shifted g");
    // the mse critic has no soft returns to read
    PolicyGradientGFlowNet mse(pf.get(), pb.get(), v.get(), Advantage::Gae, 0.7f);
    BOOST_CHECK(mse.freeze(tape, tr).soft_returns.empty());
    BOOST_CHECK_THROW(vpg.sub_eb_loss(tape, tr, mse.freeze(tape, tr)), std::logic_error);
}

// At the rollout, sub_eb is SubTB (geometric_within, same λ) with V as log F: the same
// value and the same gradient into V; but PF and PB receive none from it (SubTB's own
// gradient reaches both). After PF moves, sub_eb still reads the rollout's policies.
BOOST_AUTO_TEST_CASE(sub_eb_is_subtb_on_v_with_the_policies_frozen) {
    Model m;
    const float lam = 0.8f;
    PolicyGradientGFlowNet vpg(m.pf.get(), m.pb.get(), m.v.get(), Advantage::Gae, 0.7f, false, kNoClip, false, 1.f,
                               std::nullopt, CriticLoss::SubEB, lam);
    SubTBGFlowNet subtb(m.pf.get(), m.pb.get(), m.v.get(), lam, SubTBWeighting::GeometricWithin);
    Tape t0;
    const FrozenRollout fr = vpg.freeze(t0, m.batch);
    auto grads = [&](bool eb) {
        Tape t;
        m.pf_store.zero_grad();
        m.pb_store.zero_grad();
        m.v_store.zero_grad();
        Var l = eb ? vpg.value_loss(t, m.batch, fr) : subtb.loss(t, m.batch);
        const double value = l.item();
        t.backward(l);
        return value;
    };
    const double sub_tb = grads(false);
    const std::vector<float> v_subtb = m.v_store.grads;
    BOOST_CHECK(!all_zero(m.pf_store.grads));
    BOOST_CHECK(!all_zero(m.pb_store.grads));
    const double sub_eb = grads(true);
    BOOST_CHECK_CLOSE(sub_eb, sub_tb, 1e-3);
    expect_same_grads(m.v_store.grads, v_subtb, "sub_eb vs SubTB, V");
    BOOST_CHECK(all_zero(m.pf_store.grads));
    BOOST_CHECK(all_zero(m.pb_store.grads));
    expect_grads([&](Tape& t) { return vpg.value_loss(t, m.batch, fr); }, {Model::all(m.v_store, "v")},
                 "sub_eb critic");
    // PF moves: SubTB's value moves with it, sub_eb's (frozen rollout) does not
    for (float& x : m.pf_store.values) x *= 1.5f;
    Tape t1;
    BOOST_CHECK_CLOSE(vpg.value_loss(t1, m.batch, fr).item(), sub_eb, 1e-4);
    BOOST_CHECK(std::fabs(subtb.loss(t1, m.batch).item() - sub_tb) > 1e-3 * std::fabs(sub_tb));
}

// PPO with the sub_eb critic: the minibatch rows of the frozen soft returns are the
// minibatch's own, and an update's critic gradient reaches V alone.
BOOST_AUTO_TEST_CASE(sub_eb_with_ppo_minibatches) {
    Model m;
    EntPPOGFlowNet ppo(m.pf.get(), m.pb.get(), m.v.get(), PPOOptions{0.2f, 2, 3}, 0.7f, false, kNoClip, false, 1.f,
                       std::nullopt, CriticLoss::SubEB, 0.9f);
    Rng rng(2);
    auto rows = ppo.minibatch_rows(m.batch.n, rng);
    Tape t0;
    const FrozenRollout fr = ppo.freeze(t0, m.batch, true, nullptr, true);
    Trajectories mb = select_trajectories(m.batch, rows[1]);
    FrozenRollout mfr = select_frozen(m.batch, fr, rows[1]);
    Tape t1;
    const FrozenRollout direct = ppo.freeze(t1, mb, true, nullptr, true);
    expect_values(to_vec(mfr.soft_returns), to_vec(direct.soft_returns), 1e-5, "minibatch soft returns");
    Tape t;
    m.pf_store.zero_grad();
    m.v_store.zero_grad();
    t.backward(ppo.value_loss(t, mb, mfr));
    BOOST_CHECK(all_zero(m.pf_store.grads));
    BOOST_CHECK(!all_zero(m.v_store.grads));
}

BOOST_AUTO_TEST_CASE(sub_eb_refused_without_a_critic) {
    Model m;
    for (Advantage a : {Advantage::Total, Advantage::RewardToGo}) {
        try {
            PolicyGradientGFlowNet(m.pf.get(), m.pb.get(), nullptr, a, 0.7f, false, kNoClip, false, 1.f, std::nullopt,
                                   CriticLoss::SubEB);
            BOOST_ERROR("sub_eb accepted with --advantage " << to_string(a));
        } catch (const std::invalid_argument& e) {
            BOOST_CHECK_MESSAGE(std::string(e.what()).find("--critic-loss") != std::string::npos, e.what());
        }
    }
    BOOST_CHECK_THROW(PolicyGradientGFlowNet(m.pf.get(), m.pb.get(), m.v.get(), Advantage::Gae, 0.7f, false, kNoClip,
                                             false, 1.f, std::nullopt, CriticLoss::SubEB, 0.f),
                      std::invalid_argument);
    BOOST_CHECK(critic_loss_from_string("sub_eb") == CriticLoss::SubEB);
    BOOST_CHECK(critic_loss_from_string("mse") == CriticLoss::Mse);
    try {
        critic_loss_from_string("mae");
        BOOST_ERROR("unknown critic loss accepted");
    } catch (const std::invalid_argument& e) {
        BOOST_CHECK_MESSAGE(std::string(e.what()).find("--critic-loss") != std::string::npos, e.what());
    }
}

// ---------------------------------------------------------------------------
// TLM beside TB, DB and SubTB (backward_step)

// The training step's gradient with --pb-loss tlm: PB's is TLM's alone; PF's, log Z's and
// log F's are the balance loss's with PB frozen (a copy of PB in a frozen store).
BOOST_AUTO_TEST_CASE(tlm_beside_balance_losses) {
    for (const char* loss : {"tb", "db", "subtb"}) {
        BOOST_TEST_CONTEXT(loss) {
            Config c;
            parse_train_flags({"--loss", loss, "--pb-loss", "tlm", "--height", "4", "--hidden", "16", "--seed", "5"}, c);
            BOOST_REQUIRE(balance_tlm(c));
            Run run(c);
            Trajectories batch;
            {
                Tape ts;
                SampleRequest req;
                req.n = 12;
                sample_trajectories(*run.env, *run.pf, nullptr, req, run.rng, ts, batch);
            }
            batch.drop_saved();
            // the step's gradient
            run.tape.reset();
            Var l = run.gflownet->loss(run.tape, batch, true);
            Var tlm = tlm_loss(run.tape, batch, *run.pb, Reduction::Mean);
            backward_step(run, l, tlm);
            const std::vector<float> step = run.store.grads;
            // PB's parameters in the store
            std::vector<char> is_pb(run.store.size(), 0);
            for (const Param& p : run.store.params)
                if (p.name.compare(0, 3, "pb.") == 0) std::fill(is_pb.begin() + long(p.offset), is_pb.begin() + long(p.offset + p.size()), 1);
            auto part = [&](const std::vector<float>& g, bool pb_part) {
                std::vector<float> o;
                for (size_t k = 0; k < g.size(); ++k)
                    if (bool(is_pb[k]) == pb_part) o.push_back(g[k]);
                return o;
            };
            // TLM alone
            run.store.zero_grad();
            {
                Tape t;
                t.backward(tlm_loss(t, batch, *run.pb, Reduction::Mean));
            }
            const std::vector<float> tlm_only = run.store.grads;
            BOOST_CHECK(all_zero(part(tlm_only, false)));
            expect_same_grads(part(step, true), part(tlm_only, true), "PB: TLM's gradient");
            // the balance loss with a frozen copy of PB
            ParamStore frozen;
            Rng r0(1);
            auto pb_copy = PolicyEstimator::mlp(*run.env, *run.preprocessor, true, frozen,
                                                NetConfig{c.hidden, c.layers, activation_from_string(c.activation)},
                                                r0, "pb");
            for (const Param& p : frozen.params)
                std::copy_n(run.store.values.begin() + long(run.store.params[size_t(param_id(run.store, p.name))].offset),
                            p.size(), frozen.values.begin() + long(p.offset));
            frozen.frozen = true;
            std::unique_ptr<GFlowNet> ref;
            const std::string ls = loss;
            if (ls == "tb") ref = std::make_unique<TBGFlowNet>(run.pf.get(), pb_copy.get(), run.log_z.get());
            else if (ls == "db") ref = std::make_unique<DBGFlowNet>(run.pf.get(), pb_copy.get(), run.log_f.get());
            else ref = std::make_unique<SubTBGFlowNet>(run.pf.get(), pb_copy.get(), run.log_f.get());
            run.store.zero_grad();
            {
                Tape t;
                Var rl = ref->loss(t, batch, true);
                BOOST_CHECK_CLOSE(rl.item(), l.item(), 1e-4);  // PB's copy is PB
                t.backward(rl);
            }
            const std::vector<float> frozen_pb = run.store.grads;
            BOOST_CHECK(all_zero(part(frozen_pb, true)));
            expect_same_grads(part(step, false), part(frozen_pb, false), "PF, log Z / log F: the balance loss, PB frozen");
            // without the hook PB would also take the balance loss's gradient
            run.store.zero_grad();
            {
                Tape t;
                t.backward(add(run.gflownet->loss(t, batch, true), tlm_loss(t, batch, *run.pb, Reduction::Mean)));
            }
            const std::vector<float> joint = part(run.store.grads, true), mine = part(step, true);
            size_t differ = 0;
            for (size_t k = 0; k < joint.size(); ++k) differ += std::fabs(joint[k] - mine[k]) > 1e-4f;
            BOOST_CHECK(differ > 0);
        }
    }
}

BOOST_AUTO_TEST_CASE(value_function_required_exactly_when_used) {
    Model m;
    BOOST_CHECK_THROW(PolicyGradientGFlowNet(m.pf.get(), m.pb.get(), nullptr, Advantage::Gae), std::invalid_argument);
    BOOST_CHECK_THROW(PolicyGradientGFlowNet(m.pf.get(), m.pb.get(), nullptr, Advantage::Baseline),
                      std::invalid_argument);
    BOOST_CHECK_THROW(PolicyGradientGFlowNet(m.pf.get(), m.pb.get(), m.v.get(), Advantage::Total),
                      std::invalid_argument);
    BOOST_CHECK_THROW(PolicyGradientGFlowNet(m.pf.get(), m.pb.get(), m.v.get(), Advantage::Gae, 1.5f),
                      std::invalid_argument);
    BOOST_CHECK_THROW(advantage_from_string("gea"), std::invalid_argument);
}

// ---------------------------------------------------------------------------
// Entropic PPO

// τ0 alone: one step, the exit at (0,0) with all three actions valid. π_old uniform
// (log q = −log 3), π_θ = softmax(0.5, −0.3, 1.0), so ρ = 3 p_exit ≈ 1.596 > 1 + ε.
BOOST_AUTO_TEST_CASE(ppo_clipped_surrogate_and_kl_by_hand) {
    HyperGrid env(2, 3);
    Trajectories tr = select_trajectories(hand_batch(env), {0});
    auto pre = env.default_preprocessor();
    ParamStore store;
    auto pf = constant_logit_pf(env, *pre, store, {0.5f, -0.3f, 1.0f});
    ParamStore vs;
    Rng rng(1);
    auto v = StateFlowEstimator::mlp(env, *pre, vs, NetConfig{8, 1, Activation::Tanh}, rng, "v");
    EntPPOGFlowNet ppo(pf.get(), nullptr, v.get(), PPOOptions{0.2f, 4, 1}, 0.7f, true);
    const double z = std::exp(0.5) + std::exp(-0.3) + std::exp(1.0);
    const double p[3] = {std::exp(0.5) / z, std::exp(-0.3) / z, std::exp(1.0) / z};
    const double rho = 3 * p[2];
    double kl = 0;
    for (double pa : p) kl += pa * (std::log(pa) + L3);
    for (double a : {1.0, -1.0}) {
        FrozenRollout fr;
        fr.advantages = {float(a)};
        fr.old_log_pf = {float(-L3)};
        fr.old_log_probs = {float(-L3), float(-L3), float(-L3)};
        // min(ρA, clip(ρ)A): A > 0 takes 1.2·A, A < 0 takes ρ·A
        const double surr = std::min(rho * a, std::min(std::max(rho, 0.8), 1.2) * a);
        Tape tape;
        expect_values(ppo.ppo_policy_loss(tape, tr, fr, Reduction::Mean), {-(surr - kl)}, 1e-5,
                      a > 0 ? "PPO, A > 0 (clipped)" : "PPO, A < 0 (unclipped)");
    }
}

// At θ = θ_old: ρ = 1, KL = 0 with zero gradient, so PPO's policy gradient is VPG's (GAE).
BOOST_AUTO_TEST_CASE(ppo_at_the_rollout_policy_is_vpg) {
    Model m;
    EntPPOGFlowNet ppo(m.pf.get(), m.pb.get(), m.v.get());
    PolicyGradientGFlowNet vpg(m.pf.get(), m.pb.get(), m.v.get(), Advantage::Gae, 0.7f);
    Tape t0;
    const FrozenRollout fr = ppo.freeze(t0, m.batch, true, nullptr, true);
    auto grad_of = [&](bool use_ppo) {
        Tape t;
        m.pf_store.zero_grad();
        Var l = use_ppo ? ppo.ppo_policy_loss(t, m.batch, fr, Reduction::Mean)
                        : vpg.policy_loss(t, m.batch, fr, true, Reduction::Mean);
        t.backward(l);
        return m.pf_store.grads;
    };
    expect_same_grads(grad_of(true), grad_of(false), "PPO at θ_old vs VPG");
    // the surrogate's value at θ_old: −mean_i Σ_t A_t
    std::vector<double> per(size_t(m.batch.n), 0.0);
    for (int k = 0; k < m.batch.n_steps(); ++k) per[size_t(m.batch.step_traj[size_t(k)])] -= fr.advantages[size_t(k)];
    Tape t;
    expect_values(ppo.ppo_policy_loss(t, m.batch, fr, Reduction::Mean), {vmean(Vec(per.begin(), per.end()))}, 1e-4,
                  "PPO at θ_old");
}

// With V a head on PF's trunk (--tied), update_loss runs the trunk once for the
// policy and the critic: the same loss and the same gradient as the two terms
// computed apart (each with its own trunk pass), for the mse and sub_eb critics.
BOOST_AUTO_TEST_CASE(ppo_tied_critic_shares_the_trunk_pass) {
    HyperGrid env{2, 4};
    auto pre = env.default_preprocessor();
    ParamStore store;
    Rng rng(11);
    NetConfig cfg{8, 2, Activation::Tanh};
    auto pf = PolicyEstimator::mlp(env, *pre, false, store, cfg, rng, "pf");
    auto v = StateFlowEstimator::tied(*pf, store, rng, "v");
    Trajectories batch;
    {
        Tape tape;
        SampleRequest req;
        req.n = 9;
        sample_trajectories(env, *pf, nullptr, req, rng, tape, batch);
    }
    for (CriticLoss critic : {CriticLoss::Mse, CriticLoss::SubEB}) {
        EntPPOGFlowNet ppo(pf.get(), nullptr, v.get(), PPOOptions{0.2f, 4, 1}, 0.7f, true, kNoClip, false, 0.5f,
                           std::nullopt, critic);
        Tape t0;
        const FrozenRollout fr = ppo.freeze(t0, batch, true, nullptr, true);
        // move θ away from θ_old so that the ratio and the KL are not trivial
        for (float& x : store.values) x += 0.05f * std::sin(float(&x - store.values.data()));
        auto run = [&](bool shared, double* value) {
            Tape t;
            store.zero_grad();
            Var l = shared ? ppo.update_loss(t, batch, fr)
                           : add(ppo.ppo_policy_loss(t, batch, fr, Reduction::Mean),
                                 scale(ppo.value_loss(t, batch, fr), 0.5f));
            *value = l.item();
            const size_t nodes = t.nodes.size();
            t.backward(l);
            return std::make_pair(store.grads, nodes);
        };
        double shared_value = 0, apart_value = 0;
        auto shared = run(true, &shared_value);
        auto apart = run(false, &apart_value);
        BOOST_TEST(shared_value == apart_value, boost::test_tools::tolerance(1e-6));
        expect_same_grads(shared.first, apart.first, critic == CriticLoss::Mse ? "tied mse" : "tied sub_eb");
        BOOST_TEST(shared.second < apart.second);  // fewer nodes: one trunk pass, not two
        for (float& x : store.values) x -= 0.05f * std::sin(float(&x - store.values.data()));
    }
}

// τ2 visits (2,0) and (2,1), where action 0 is masked (log p = −∞): the KL and its
// gradient stay finite and match central differences.
BOOST_AUTO_TEST_CASE(ppo_masked_kl_is_finite_and_differentiable) {
    HyperGrid env(2, 3);
    Trajectories tr = hand_batch(env);
    auto pre = env.default_preprocessor();
    ParamStore store;
    auto pf = constant_logit_pf(env, *pre, store, {0.1f, -0.1f, 0.2f});
    ParamStore vs;
    Rng rng(1);
    auto v = StateFlowEstimator::mlp(env, *pre, vs, NetConfig{8, 1, Activation::Tanh}, rng, "v");
    EntPPOGFlowNet ppo(pf.get(), nullptr, v.get(), PPOOptions{0.5f, 4, 1}, 0.7f, true);
    auto upf = PolicyEstimator::uniform(env, false);
    EntPPOGFlowNet old(upf.get(), nullptr, v.get(), PPOOptions{0.5f, 4, 1}, 0.7f, true);
    Tape t0;
    const FrozenRollout fr = old.freeze(t0, tr, true, nullptr, true);  // π_old uniform, with its −∞
    size_t n_masked = 0;
    for (float q : fr.old_log_probs) n_masked += !std::isfinite(q);
    BOOST_CHECK(n_masked > 0);
    Tape t;
    store.zero_grad();
    Var l = ppo.ppo_policy_loss(t, tr, fr, Reduction::Mean);
    BOOST_CHECK(std::isfinite(l.item()));
    t.backward(l);
    for (float g : store.grads) BOOST_REQUIRE(std::isfinite(g));
    BOOST_CHECK(!all_zero(store.grads));
    expect_grads([&](Tape& tt) { return ppo.ppo_policy_loss(tt, tr, fr, Reduction::Mean); },
                 {GradTarget{"pf", store.values.data(), store.grads.data(), store.size()}}, "PPO masked KL");
}

// A rollout log-prob of −100 would give ρ = e^(log π + 100) = inf; the clamp keeps it e^20.
BOOST_AUTO_TEST_CASE(ppo_log_ratio_clamp_keeps_exp_finite) {
    HyperGrid env(2, 3);
    Trajectories tr = select_trajectories(hand_batch(env), {0});
    auto pre = env.default_preprocessor();
    ParamStore store;
    auto pf = constant_logit_pf(env, *pre, store, {0.5f, -0.3f, 1.0f});
    ParamStore vs;
    Rng rng(1);
    auto v = StateFlowEstimator::mlp(env, *pre, vs, NetConfig{8, 1, Activation::Tanh}, rng, "v");
    EntPPOGFlowNet ppo(pf.get(), nullptr, v.get(), PPOOptions{0.2f, 4, 1}, 0.7f, true);
    FrozenRollout fr;
    fr.advantages = {-1.f};  // A < 0: the unclipped branch ρA is the minimum
    fr.old_log_pf = {-100.f};
    fr.old_log_probs = {float(-L3), float(-L3), float(-L3)};
    Tape t;
    store.zero_grad();
    Var l = ppo.ppo_policy_loss(t, tr, fr, Reduction::Mean);
    double kl = 0;
    const double z = std::exp(0.5) + std::exp(-0.3) + std::exp(1.0);
    for (double x : {0.5, -0.3, 1.0}) kl += std::exp(x) / z * (x - std::log(z) + L3);
    expect_values(l, {std::exp(20.0) + kl}, 1e-5, "clamped ratio");
    t.backward(l);
    for (float g : store.grads) BOOST_REQUIRE(std::isfinite(g));
}

BOOST_AUTO_TEST_CASE(ppo_minibatches_cover_every_trajectory_each_epoch) {
    Model m;
    EntPPOGFlowNet ppo(m.pf.get(), m.pb.get(), m.v.get(), PPOOptions{0.2f, 3, 4});
    Rng rng(5);
    auto rows = ppo.minibatch_rows(10, rng);
    BOOST_REQUIRE_EQUAL(rows.size(), 12u);
    for (int e = 0; e < 3; ++e) {
        std::vector<int> seen(10, 0);
        for (int s = 0; s < 4; ++s)
            for (int i : rows[size_t(e * 4 + s)]) ++seen[size_t(i)];
        BOOST_CHECK((seen == std::vector<int>(10, 1)));
    }
    // a minibatch's frozen rows are the batch's rows for the same steps
    Tape t0;
    const FrozenRollout fr = ppo.freeze(t0, m.batch, true, nullptr, true);
    const std::vector<int>& r = rows[0];
    Trajectories mb = select_trajectories(m.batch, r);
    FrozenRollout mfr = select_frozen(m.batch, fr, r);
    Tape t1;
    const FrozenRollout direct = ppo.freeze(t1, mb, true, nullptr, true);
    expect_values(to_vec(mfr.advantages), to_vec(direct.advantages), 1e-5, "minibatch advantages");
    expect_values(to_vec(mfr.old_log_probs), to_vec(direct.old_log_probs), 1e-5, "minibatch π_old");
    BOOST_CHECK_THROW(EntPPOGFlowNet(m.pf.get(), m.pb.get(), m.v.get(), PPOOptions{1.5f, 4, 1}), std::invalid_argument);
    BOOST_CHECK_THROW(EntPPOGFlowNet(m.pf.get(), m.pb.get(), m.v.get(), PPOOptions{0.2f, 0, 1}), std::invalid_argument);
}

// ---------------------------------------------------------------------------
// Flags

BOOST_AUTO_TEST_CASE(policy_gradient_flag_checks) {
    auto fails = [](Config c, const std::string& flag) {
        try {
            validate_config(c);
        } catch (const std::invalid_argument& e) {
            BOOST_CHECK_MESSAGE(std::string(e.what()).find(flag) != std::string::npos, e.what());
            return;
        }
        BOOST_ERROR("no error for " + flag);
    };
    Config c;
    c.loss = "vpg";
    validate_config(c);
    Config r = c;
    r.replay_buffer = 100;
    fails(r, "--replay-buffer");
    Config a = c;
    a.advantage = "gea";
    fails(a, "--advantage");
    Config p = c;
    p.loss = "ppo";
    p.advantage = "total";
    fails(p, "--advantage");
    for (const char* other : {"lpv", "modified_db", "fm", "soft_dqn"}) {
        Config t = c;
        t.loss = other;
        t.pb_loss = "tlm";
        fails(t, "--pb-loss");
    }
    for (const char* balance : {"tb", "db", "subtb"}) {
        Config t = c;
        t.loss = balance;
        t.pb_loss = "tlm";
        validate_config(t);
        Config u = t;
        u.uniform_pb = true;
        fails(u, "--uniform-pb");
        Config d = t;
        d.tied = true;
        fails(d, "--tied");
    }
    {
        // a tree: no PB to train
        Config t;
        parse_train_flags({"--env", "bitsequence", "--word-size", "1", "--seq-size", "4", "--n-modes", "2", "--loss",
                           "tb", "--pb-loss", "tlm", "--hidden", "8"},
                          t);
        try {
            Run run(t);
            BOOST_ERROR("tb --pb-loss tlm accepted on a tree");
        } catch (const std::invalid_argument& e) {
            BOOST_CHECK_MESSAGE(std::string(e.what()).find("--pb-loss") != std::string::npos, e.what());
        }
    }
    Config k = c;
    k.critic_loss = "mae";
    fails(k, "--critic-loss");
    Config ke = c;
    ke.critic_loss = "sub_eb";
    validate_config(ke);
    Config kp = ke;
    kp.loss = "ppo";
    validate_config(kp);
    for (const char* adv : {"total", "reward_to_go"}) {
        Config kt = ke;
        kt.advantage = adv;
        fails(kt, "--critic-loss");
    }
    Config kb = ke;
    kb.loss = "subtb";
    fails(kb, "--critic-loss");
    Config kw = ke;
    kw.subtb_weighting = "equal";
    fails(kw, "--subtb-weighting");
    Config l = c;
    l.gae_lambda = 1.5;
    fails(l, "--gae-lambda");
    Config e = c;
    e.loss = "ppo";
    e.ppo_clip = 0;
    fails(e, "--ppo-clip");
}

BOOST_AUTO_TEST_SUITE_END()

// Training against the exact target (seed 1; docs/objectives/policy-gradient.md has three seeds).
BOOST_AUTO_TEST_SUITE(policy_gradient_learning, *boost::unit_test::label("learning"))

static Metrics train_pg(const std::vector<std::string>& args) {
    Config c;
    parse_train_flags(args, c);
    Run run(c);
    return train(run).final_metrics;
}

// HyperGrid 2D H = 8, 250 iterations of 128 (TB's budget), uniform PB: exact l1 <= 0.05.
BOOST_AUTO_TEST_CASE(vpg_gae_hypergrid_2d_h8) {
    Metrics m = train_pg({"--loss", "vpg", "--uniform-pb", "--seed", "1"});
    BOOST_TEST_INFO("exact_l1 " << m.exact_l1);
    BOOST_TEST(m.exact_l1 <= 0.05);
}
BOOST_AUTO_TEST_CASE(ppo_hypergrid_2d_h8) {
    Metrics m = train_pg({"--loss", "ppo", "--uniform-pb", "--seed", "1"});
    BOOST_TEST_INFO("exact_l1 " << m.exact_l1);
    BOOST_TEST(m.exact_l1 <= 0.05);
}
// The same budget with the sub_eb critic (uniform PB), and TB with a learned PB trained by TLM alone.
BOOST_AUTO_TEST_CASE(vpg_sub_eb_critic_hypergrid_2d_h8) {
    Metrics m = train_pg({"--loss", "vpg", "--uniform-pb", "--critic-loss", "sub_eb", "--seed", "1"});
    BOOST_TEST_INFO("exact_l1 " << m.exact_l1);
    BOOST_TEST(m.exact_l1 <= 0.05);
}
BOOST_AUTO_TEST_CASE(tb_with_tlm_hypergrid_2d_h8) {
    Metrics m = train_pg({"--loss", "tb", "--pb-loss", "tlm", "--seed", "1"});
    BOOST_TEST_INFO("exact_l1 " << m.exact_l1);
    BOOST_TEST(m.exact_l1 <= 0.05);
}
// BitSequence k = 1, n = 4, 2 modes, TB's budget (1,000 iterations of 32, lr 1e-4): mean |PF − p| <= 1.44e-3.
BOOST_AUTO_TEST_CASE(vpg_and_ppo_bitsequence_k1_n4) {
    for (const char* loss : {"vpg", "ppo"}) {
        Metrics m = train_pg({"--env", "bitsequence", "--word-size", "1", "--seq-size", "4", "--n-modes", "2",
                              "--batch-size", "32", "--iterations", "1000", "--lr", "1e-4", "--loss", loss, "--seed", "1"});
        BOOST_TEST_INFO(loss << ": mean |PF - p| " << m.mean_abs_error);
        BOOST_TEST(m.mean_abs_error <= 1.44e-3);
    }
}

BOOST_AUTO_TEST_SUITE_END()
