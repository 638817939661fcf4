// test_soft_dqn.cpp — Soft DQN / Munchausen DQN (gfn/objectives/soft_dqn.h): soft
// Bellman targets worked by hand on a 3×3 HyperGrid with pinned Q values, the
// Munchausen bonus, its clip and its entropy coefficient λ = 1/(1 − α), the Munchausen
// fixed point on a tabular 3×3 grid (PF ∝ R, log Z = V(s_0)), the Huber loss, a
// finite-difference gradient check, Polyak arithmetic, the transition buffer, flag
// refusals and the checkpoint round trip.
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "envs/hypergrid.h"
#include "gfn/objectives/soft_dqn.h"
#include "gfn/runtime/checkpoint.h"
#include "gfn/runtime/config.h"
#include "gfn/runtime/training.h"
#include "tests/gradcheck.h"

using namespace gfn;

namespace {

// logsumexp of a few numbers, by hand.
double lse(std::initializer_list<double> xs) {
    double m = -INFINITY, s = 0;
    for (double x : xs) m = std::max(m, x);
    for (double x : xs) s += std::exp(x - m);
    return m + std::log(s);
}

// The 2-D HyperGrid of side 3 (actions: 0 = x+1, 1 = y+1, 2 = exit), a PF and a
// target network of the same architecture, and the uniform PB.
struct Fixture {
    HyperGrid env{2, 3};
    std::unique_ptr<Preprocessor> pre = make_preprocessor("default", env);
    ParamStore store, target_store;
    Rng rng{7};
    NetConfig net{8, 2, Activation::Tanh};
    std::unique_ptr<PolicyEstimator> pf = PolicyEstimator::mlp(env, *pre, false, store, net, rng, "pf");
    std::unique_ptr<PolicyEstimator> target = PolicyEstimator::mlp(env, *pre, false, target_store, net, rng, "pf");
    std::unique_ptr<PolicyEstimator> pb = PolicyEstimator::uniform_pb(env);
    Fixture() { target_store.frozen = true; }

    // Q(s, ·) = bias for every s: the output layer's weights 0, its bias b.
    static void pin(ParamStore& s, const std::vector<float>& b) {
        for (const Param& p : s.params) {
            const bool w = p.name == "pf.out.weight", bias = p.name == "pf.out.bias";
            for (size_t i = 0; i < p.size(); ++i) {
                if (w) s.values[p.offset + i] = 0.f;
                if (bias) s.values[p.offset + i] = b[i];
            }
        }
    }
};

// Transitions (s, a, s') by hand; exits carry log R(s).
Transitions hand_transitions(const DiscreteEnv& env, const std::vector<std::vector<int>>& rows) {
    // row: {x, y, action, x', y'} (x', y' ignored for the exit)
    Transitions tr;
    tr.allocate(int(rows.size()), 2, 0);
    for (size_t k = 0; k < rows.size(); ++k) {
        const auto& r = rows[k];
        tr.states[2 * k] = r[0];
        tr.states[2 * k + 1] = r[1];
        tr.actions[k] = r[2];
        tr.is_exit[k] = r[2] == 2;
        if (r[2] == 2) {
            // original reward at a corner of the 3×3 grid: R0 + R1 = 0.1 + 0.5 (|x/2 − 1/2| = 1/2 > 1/4 in both)
            tr.log_rewards[k] = float(std::log(0.6));
        } else {
            tr.next_states[2 * k] = r[3];
            tr.next_states[2 * k + 1] = r[4];
        }
    }
    tr.compute_state_info(env, false);
    return tr;
}

const std::vector<float> kTargetQ = {0.5f, -0.3f, 1.2f}, kOnlineQ = {0.1f, 0.2f, 0.3f};

std::vector<std::vector<int>> hand_rows() {
    return {
        {0, 0, 0, 1, 0},  // s' = (1,0): one parent; every action valid at s'
        {1, 1, 1, 1, 2},  // s' = (1,2): two parents; y+1 invalid at s'
        {2, 2, 2},        // exit at the corner (2,2)
        {2, 0, 1, 2, 1},  // s' = (2,1): two parents; x+1 invalid at s'
        {2, 0, 2},        // exit at the corner (2,0)
    };
}

Config parse(const std::vector<std::string>& args) {
    Config c;
    parse_train_flags(args, c);
    return c;
}

void check_refused(const std::vector<std::string>& args, const std::string& needle) {
    try {
        parse(args);
        BOOST_ERROR("accepted: " << needle);
    } catch (const std::invalid_argument& e) {
        BOOST_CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos,
                            "message '" << e.what() << "' lacks '" << needle << "'");
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(soft_dqn)

BOOST_AUTO_TEST_CASE(soft_bellman_targets_by_hand) {
    Fixture f;
    Fixture::pin(f.target_store, kTargetQ);
    SoftDQNGFlowNet dqn(f.pf.get(), f.target.get(), f.pb.get());
    Transitions tr = hand_transitions(f.env, hand_rows());
    Tape tape;
    SoftDQNTargets t = dqn.targets(tape, tr);
    const double q0 = 0.5, q1 = -0.3, q2 = 1.2;
    // g = log PB(s | s') = −log(#parents of s'), or log R at exits
    const double g[5] = {0.0, -std::log(2.0), std::log(0.6), -std::log(2.0), std::log(0.6)};
    // V̄(s') = logsumexp over the actions valid at s'; 0 after an exit
    const double v[5] = {lse({q0, q1, q2}), lse({q0, q2}), 0.0, lse({q1, q2}), 0.0};
    for (int k = 0; k < 5; ++k) {
        BOOST_TEST(t.g[size_t(k)] == g[k], boost::test_tools::tolerance(1e-6));
        BOOST_TEST(t.v_next[size_t(k)] == v[k], boost::test_tools::tolerance(1e-5));
        BOOST_TEST(t.bonus[size_t(k)] == 0.0);
        BOOST_TEST(double(t.y[size_t(k)]) == g[k] + v[k], boost::test_tools::tolerance(1e-5));
    }
    // log Z estimate of the online network: V(s_0) = logsumexp of its Q(s_0, ·)
    Fixture::pin(f.store, kOnlineQ);
    BOOST_TEST(dqn.log_z() == lse({0.1, 0.2, 0.3}), boost::test_tools::tolerance(1e-5));
}

BOOST_AUTO_TEST_CASE(munchausen_bonus_and_clip_by_hand) {
    Fixture f;
    Fixture::pin(f.target_store, kTargetQ);
    Fixture::pin(f.store, kOnlineQ);
    Transitions tr = hand_transitions(f.env, hand_rows());
    const double q0 = 0.5, q1 = -0.3, q2 = 1.2;
    // log π̄(a|s) = ℓ̄(s, a) − logsumexp over the actions valid at s
    const double log_pi[5] = {q0 - lse({q0, q1, q2}),  // (0,0), x+1   ≈ −1.242
                              q1 - lse({q0, q1, q2}),  // (1,1), y+1   ≈ −2.042
                              0.0,                     // (2,2): the exit is the only action
                              q1 - lse({q1, q2}),      // (2,0), y+1   ≈ −1.701
                              q2 - lse({q1, q2})};     // (2,0), exit  ≈ −0.201
    // g = log PB(s | s'), or log R at exits; the logsumexp of ℓ̄ over the actions valid at s'
    const double g[5] = {0.0, -std::log(2.0), std::log(0.6), -std::log(2.0), std::log(0.6)};
    const double lse_next[5] = {lse({q0, q1, q2}), lse({q0, q2}), 0.0, lse({q1, q2}), 0.0};
    const int a[5] = {0, 1, 2, 1, 2};
    struct Case {
        double alpha, l0;
    };
    // λ = 1/(1 − α): 10 at α = 0.9, 2 at α = 0.5. At α = 0.9, λ·log π̄ ≈ −12.4, −20.4, 0, −17.0,
    // −2.0: l0 = −1 clips all but the lone exit, l0 = −15 clips rows 1 and 3 only, l0 = −100 none.
    for (Case c : {Case{0.9, -1.0}, Case{0.9, -15.0}, Case{0.9, -100.0}, Case{0.5, -100.0}}) {
        BOOST_TEST_CONTEXT("alpha " << c.alpha << ", l0 " << c.l0) {
            SoftDQNOptions o;
            o.munchausen = true;
            o.munchausen_alpha = float(c.alpha);
            o.munchausen_clip = float(c.l0);
            SoftDQNGFlowNet dqn(f.pf.get(), f.target.get(), f.pb.get(), o, kNoClip, RegressionLoss(LossKind::Squared));
            const double lambda = 1.0 / (1.0 - c.alpha);
            BOOST_TEST(dqn.entropy_coeff() == lambda, boost::test_tools::tolerance(1e-6));
            Tape tape;
            SoftDQNTargets t = dqn.targets(tape, tr);
            double sq = 0;
            for (int k = 0; k < 5; ++k) {
                // b = α · clip(λ · log π̄, l0, 0);  V̄(s') = λ · logsumexp ℓ̄(s', ·);  y = g + b + V̄(s')
                const double b = c.alpha * std::min(0.0, std::max(c.l0, lambda * log_pi[k]));
                const double v = lambda * lse_next[k];
                BOOST_TEST(t.g[size_t(k)] == g[k], boost::test_tools::tolerance(1e-6));
                BOOST_TEST(t.bonus[size_t(k)] == b, boost::test_tools::tolerance(1e-5));
                BOOST_TEST(t.v_next[size_t(k)] == v, boost::test_tools::tolerance(1e-5));
                BOOST_CHECK_SMALL(double(t.y[size_t(k)]) - (g[k] + b + v), 2e-5);  // (y is a float)
                // the residual is Q(s, a) − y with Q = λ · (the online logit)
                const double x = lambda * kOnlineQ[size_t(a[k])] - (g[k] + b + v);
                sq += x * x;
            }
            BOOST_TEST(dqn.loss(tape, tr).item() == sq / 5, boost::test_tools::tolerance(1e-5));
            // log Z estimate: V(s_0) = λ · logsumexp of the online logits at s_0
            BOOST_TEST(dqn.log_z() == lambda * lse({0.1, 0.2, 0.3}), boost::test_tools::tolerance(1e-5));
            if (c.l0 == -1.0) BOOST_TEST(t.bonus[0] == -0.9, boost::test_tools::tolerance(1e-6));   // clipped
            if (c.l0 == -15.0) {
                BOOST_TEST(t.bonus[0] == 9.0 * log_pi[0], boost::test_tools::tolerance(1e-5));  // inside
                BOOST_TEST(t.bonus[1] == -13.5, boost::test_tools::tolerance(1e-5));            // clipped
            }
            BOOST_TEST(t.bonus[2] == 0.0);  // log π̄ = 0: no bonus
        }
    }
}

// The exact GFlowNet on the 3×3 grid (uniform PB), by hand: the flows
//     F(s) = R(s) + Σ_{children s'} F(s') / #parents(s')        (s = x, in reverse order)
// and, for every transition, the logit ℓ*(s, a) = g(s, a, s') + log F(s') − α log F(s)
// (log F(s_f) = 0). Then logsumexp ℓ*(s, ·) = (1 − α) log F(s), so
//     PF(a|s) = exp(ℓ* − logsumexp ℓ*) = F(s') PB(s | s') / F(s)   (the GFlowNet: samples ∝ R)
//     Q* = λ ℓ*,  V*(s) = λ logsumexp ℓ*(s, ·) = log F(s)          (λ = 1/(1 − α))
// and Q*(s, a) = g + α λ log PF(a|s) + V*(s'): the Munchausen target of ℓ* is Q* itself.
// A tabular network (one-hot input, no hidden layer: ℓ(s, ·) = W e_s + b) holds ℓ*
// exactly; online and target both. α = 0 without --munchausen is plain soft DQN.
BOOST_AUTO_TEST_CASE(munchausen_fixed_point_is_the_gflownet) {
    HyperGrid env(2, 3);
    std::unique_ptr<Preprocessor> pre = make_preprocessor("one_hot", env);
    ParamStore store, target_store;
    Rng rng(5);
    const NetConfig tabular{1, 0, Activation::Tanh};
    auto pf = PolicyEstimator::mlp(env, *pre, false, store, tabular, rng, "pf");
    auto target = PolicyEstimator::mlp(env, *pre, false, target_store, tabular, rng, "pf");
    target_store.frozen = true;
    auto pb = PolicyEstimator::uniform_pb(env);

    // R, #parents and F over the 9 states, index 3x + y (HyperGrid's order)
    std::vector<double> log_r(9), log_f(9);
    std::vector<int> parents(9);
    for (int x = 0; x < 3; ++x)
        for (int y = 0; y < 3; ++y) {
            const int s[2] = {x, y};
            float lr;
            env.log_reward(s, nullptr, 1, &lr);
            log_r[size_t(3 * x + y)] = double(lr);
            parents[size_t(3 * x + y)] = (x > 0) + (y > 0);
            BOOST_TEST(env.state_index(s) == 3 * x + y);
        }
    for (int i = 8; i >= 0; --i) {
        const int x = i / 3, y = i % 3;
        double f = std::exp(log_r[size_t(i)]);
        if (x < 2) f += std::exp(log_f[size_t(i + 3)]) / parents[size_t(i + 3)];
        if (y < 2) f += std::exp(log_f[size_t(i + 1)]) / parents[size_t(i + 1)];
        log_f[size_t(i)] = std::log(f);
    }
    double z = 0;
    for (double l : log_r) z += std::exp(l);
    BOOST_TEST(log_f[0] == std::log(z), boost::test_tools::tolerance(1e-9));  // F(s_0) = Z

    // every transition of the grid: {x, y, action, x', y'}
    std::vector<std::vector<int>> rows;
    for (int x = 0; x < 3; ++x)
        for (int y = 0; y < 3; ++y) {
            if (x < 2) rows.push_back({x, y, 0, x + 1, y});
            if (y < 2) rows.push_back({x, y, 1, x, y + 1});
            rows.push_back({x, y, 2});
        }
    Transitions tr;
    tr.allocate(int(rows.size()), 2, 0);
    for (size_t k = 0; k < rows.size(); ++k) {
        const auto& r = rows[k];
        tr.states[2 * k] = r[0];
        tr.states[2 * k + 1] = r[1];
        tr.actions[k] = r[2];
        tr.is_exit[k] = r[2] == 2;
        if (r[2] == 2) tr.log_rewards[k] = float(log_r[size_t(3 * r[0] + r[1])]);
        else {
            tr.next_states[2 * k] = r[3];
            tr.next_states[2 * k + 1] = r[4];
        }
    }
    tr.compute_state_info(env, false);
    // g and log F(s') of a row
    auto g_of = [&](const std::vector<int>& r) {
        return r[2] == 2 ? log_r[size_t(3 * r[0] + r[1])] : -std::log(double(parents[size_t(3 * r[3] + r[4])]));
    };
    auto log_f_next = [&](const std::vector<int>& r) { return r[2] == 2 ? 0.0 : log_f[size_t(3 * r[3] + r[4])]; };

    for (double alpha : {0.0, 0.15, 0.9}) {
        BOOST_TEST_CONTEXT("alpha " << alpha) {
            // ℓ*(s, a) into W[a, s]; b = 0; invalid actions (masked anyway) 0
            std::vector<float> w(27, 0.f);
            for (const auto& r : rows) {
                const int i = 3 * r[0] + r[1];
                w[size_t(r[2] * 9 + i)] = float(g_of(r) + log_f_next(r) - alpha * log_f[size_t(i)]);
            }
            for (ParamStore* st : {&store, &target_store})
                for (const Param& p : st->params)
                    for (size_t i = 0; i < p.size(); ++i)
                        st->values[p.offset + i] = p.name == "pf.out.weight" ? w[i] : 0.f;
            SoftDQNOptions o;
            o.munchausen = alpha > 0;
            o.munchausen_alpha = float(alpha);
            o.munchausen_clip = -100.f;
            SoftDQNGFlowNet dqn(pf.get(), target.get(), pb.get(), o, kNoClip, RegressionLoss(LossKind::Squared));
            const double lambda = 1.0 / (1.0 - alpha);
            Tape tape;
            SoftDQNTargets t = dqn.targets(tape, tr);
            Tensor lp = pf->log_probs(tape, tr.states.data(), nullptr, tr.n).value();
            for (size_t k = 0; k < rows.size(); ++k) {
                const auto& r = rows[k];
                const double lf = log_f[size_t(3 * r[0] + r[1])];
                // PF(a|s) = F(s') PB(s | s') / F(s)
                BOOST_CHECK_SMALL(double(lp.data[k * 3 + size_t(r[2])]) - (g_of(r) + log_f_next(r) - lf), 1e-5);
                // V̄(s') = log F(s');  y = Q* = λ ℓ*
                BOOST_CHECK_SMALL(t.v_next[k] - log_f_next(r), 1e-5);
                BOOST_CHECK_SMALL(double(t.y[k]) - lambda * (g_of(r) + log_f_next(r) - alpha * lf), 5e-5);
            }
            BOOST_TEST(dqn.loss(tape, tr).item() < 1e-8);
            BOOST_CHECK_SMALL(dqn.log_z() - std::log(z), 1e-5);

            // The clip is exact only where it does not bind: at l0 = −1 the same ℓ* is no fixed point
            // (λ·log PF < −1 for some action whenever α > 0).
            if (alpha > 0) {
                o.munchausen_clip = -1.f;
                SoftDQNGFlowNet clipped(pf.get(), target.get(), pb.get(), o, kNoClip,
                                        RegressionLoss(LossKind::Squared));
                BOOST_TEST(clipped.loss(tape, tr).item() > 1e-3);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(huber_and_squared_loss_by_hand) {
    Fixture f;
    Fixture::pin(f.target_store, kTargetQ);
    Fixture::pin(f.store, kOnlineQ);
    Transitions tr = hand_transitions(f.env, hand_rows());
    const double q0 = 0.5, q1 = -0.3, q2 = 1.2;
    const double y[5] = {lse({q0, q1, q2}), -std::log(2.0) + lse({q0, q2}), std::log(0.6),
                         -std::log(2.0) + lse({q1, q2}), std::log(0.6)};
    const int a[5] = {0, 1, 2, 1, 2};
    double huber_sum = 0, sq_sum = 0;
    for (int k = 0; k < 5; ++k) {
        const double x = kOnlineQ[size_t(a[k])] - y[k];
        huber_sum += std::fabs(x) <= 1 ? 0.5 * x * x : std::fabs(x) - 0.5;
        sq_sum += x * x;
    }
    // Both branches of the Huber loss are used: (0,0)'s residual 0.1 − 1.742 is beyond 1.
    BOOST_TEST(std::fabs(kOnlineQ[0] - y[0]) > 1.0);
    BOOST_TEST(std::fabs(kOnlineQ[1] - y[1]) < 1.0);
    {
        SoftDQNGFlowNet dqn(f.pf.get(), f.target.get(), f.pb.get());
        Tape tape;
        BOOST_TEST(dqn.loss(tape, tr).item() == huber_sum / 5, boost::test_tools::tolerance(1e-5));
        Var none = dqn.loss(tape, tr, Reduction::None);
        BOOST_TEST(none.rows() == 5);
    }
    {
        SoftDQNGFlowNet dqn(f.pf.get(), f.target.get(), f.pb.get(), SoftDQNOptions(), kNoClip,
                            RegressionLoss(LossKind::Squared));
        Tape tape;
        BOOST_TEST(dqn.loss(tape, tr).item() == sq_sum / 5, boost::test_tools::tolerance(1e-5));
    }
}

BOOST_AUTO_TEST_CASE(huber_kink_gradient) {
    // ℓ'(x) = x inside [−1, 1], sign(x) outside
    Tape tape;
    const float xs[4] = {-3.f, -0.4f, 0.7f, 2.f};
    float g[4] = {0, 0, 0, 0};
    Var x = tape.parameter(Tensor(const_cast<float*>(xs), 4, 1), g);
    Var l = sum(huber(x));
    BOOST_TEST(l.item() == 2.5 + 0.08 + 0.245 + 1.5, boost::test_tools::tolerance(1e-6));
    tape.backward(l);
    BOOST_TEST(g[0] == -1.f);
    BOOST_TEST(g[1] == -0.4f, boost::test_tools::tolerance(1e-6f));
    BOOST_TEST(g[2] == 0.7f, boost::test_tools::tolerance(1e-6f));
    BOOST_TEST(g[3] == 1.f);
}

BOOST_AUTO_TEST_CASE(gradient_check_only_through_q) {
    Fixture f;  // random networks; the target a different one
    SoftDQNOptions o;
    o.munchausen = true;
    o.munchausen_alpha = 0.5f;
    Transitions tr = hand_transitions(f.env, hand_rows());
    for (bool munchausen : {false, true}) {
        o.munchausen = munchausen;
        SoftDQNGFlowNet dqn(f.pf.get(), f.target.get(), f.pb.get(), o, kNoClip, RegressionLoss(LossKind::Squared));
        GradCheckReport rep = check_gradients([&](Tape& tp) { return dqn.loss(tp, tr); },
                                              {GradTarget{"pf", f.store.values.data(), f.store.grads.data(),
                                                          f.store.size()}});
        BOOST_CHECK_MESSAGE(rep.ok, rep.message());
        BOOST_CHECK(rep.checked > 20);
        SoftDQNGFlowNet hub(f.pf.get(), f.target.get(), f.pb.get(), o);
        rep = check_gradients([&](Tape& tp) { return hub.loss(tp, tr); },
                              {GradTarget{"pf", f.store.values.data(), f.store.grads.data(), f.store.size()}});
        BOOST_CHECK_MESSAGE(rep.ok, "huber: " << rep.message());
    }
    // The target is a constant: y does not move with PF's parameters, and no gradient reaches Q̄.
    SoftDQNGFlowNet dqn(f.pf.get(), f.target.get(), f.pb.get(), o);
    Tape tape;
    std::vector<float> y0 = dqn.targets(tape, tr).y;
    for (float& v : f.store.values) v += 0.05f;
    BOOST_TEST(dqn.targets(tape, tr).y == y0);
    f.target_store.grads.assign(f.target_store.size(), 0.f);
    f.store.zero_grad();
    Var l = dqn.loss(tape, tr);
    tape.backward(l);
    for (float gr : f.target_store.grads) BOOST_TEST(gr == 0.f);
    double norm = 0;
    for (float gr : f.store.grads) norm += double(gr) * gr;
    BOOST_TEST(norm > 0);
}

BOOST_AUTO_TEST_CASE(polyak_update_arithmetic) {
    ParamStore online, target;
    const int a = online.add("pf.a", 1, 2), b = online.add("pb.b", 1, 1);  // pb.b: not in the target
    const int ta = target.add("pf.a", 1, 2);
    online.value(a).data[0] = 2.f;
    online.value(a).data[1] = -4.f;
    online.value(b).data[0] = 9.f;
    target.value(ta).data[0] = 1.f;
    target.value(ta).data[1] = 1.f;
    // θ̄ ← 0.75 θ̄ + 0.25 θ
    polyak_update(target, online, 0.25f);
    BOOST_TEST(target.value(ta).data[0] == 1.25f);
    BOOST_TEST(target.value(ta).data[1] == -0.25f);
    polyak_update(target, online, 0.25f);
    BOOST_TEST(target.value(ta).data[0] == 0.75f * 1.25f + 0.5f);
    polyak_update(target, online, 1.f);  // a copy
    BOOST_TEST(target.value(ta).data[0] == 2.f);
    BOOST_TEST(target.value(ta).data[1] == -4.f);
    BOOST_CHECK_THROW(polyak_update(target, online, 0.f), std::invalid_argument);
    BOOST_CHECK_THROW(polyak_update(target, online, 1.5f), std::invalid_argument);
    ParamStore other;
    other.add("pf.a", 2, 1);  // another shape
    BOOST_CHECK_THROW(polyak_update(target, other, 0.5f), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(target_update_schedule_in_training) {
    // τ = 0.5 every 2 steps: after step 1 the target is still the initial PF; after
    // step 2 it is ½ θ_init + ½ θ_2.
    Config c = parse({"--loss", "soft_dqn", "--height", "4", "--hidden", "16", "--batch-size", "4",
                      "--target-tau", "0.5", "--target-update-every", "2", "--validation-samples", "10"});
    Run run(c);
    std::vector<float> init(run.target_store.values);
    // the target starts as PF: the same values under the same names
    for (const Param& p : run.target_store.params)
        for (const Param& q : run.store.params)
            if (q.name == p.name)
                for (size_t i = 0; i < p.size(); ++i) BOOST_TEST(init[p.offset + i] == run.store.values[q.offset + i]);
    train_step(run);
    BOOST_TEST(run.target_store.values == init);
    train_step(run);
    for (const Param& p : run.target_store.params)
        for (const Param& q : run.store.params)
            if (q.name == p.name)
                for (size_t i = 0; i < p.size(); ++i)
                    BOOST_TEST(run.target_store.values[p.offset + i] ==
                               0.5f * init[p.offset + i] + 0.5f * run.store.values[q.offset + i]);
}

BOOST_AUTO_TEST_CASE(transition_buffer_fifo_and_uniform) {
    HyperGrid env(2, 3);
    TransitionReplayBuffer buf(4, env);
    BOOST_TEST(buf.kind() == "transition");
    Transitions a = hand_transitions(env, hand_rows());  // 5 rows: the first is dropped
    buf.add_transitions(a);
    BOOST_TEST(buf.size() == 4);
    BOOST_TEST(buf.contents().actions == std::vector<int>({1, 2, 1, 2}));
    BOOST_TEST(buf.contents().states[0] == 1);  // (1,1) is now the oldest
    Rng rng(3);
    Transitions s;
    buf.sample_transitions(3, rng, s);
    BOOST_TEST(s.n == 3);
    BOOST_TEST(s.n_non_exit() + 0 == int(s.non_exit.size()));
    // uniform: over many draws of one transition, each of the 4 rows about a quarter
    std::vector<int> count(4, 0);
    for (int i = 0; i < 8000; ++i) {
        buf.sample_transitions(1, rng, s);
        for (int k = 0; k < 4; ++k)
            if (s.states[0] == buf.contents().states[2 * size_t(k)] &&
                s.states[1] == buf.contents().states[2 * size_t(k) + 1] && s.actions[0] == buf.contents().actions[size_t(k)])
                ++count[size_t(k)];
    }
    // rows 1 and 2 of the buffer are different transitions from (2,2)/(2,0): all 4 distinct
    for (int c : count) BOOST_TEST(std::abs(c - 2000) < 4 * std::sqrt(8000 * 0.25 * 0.75));
    Trajectories t;
    BOOST_CHECK_THROW(buf.sample(1, rng, t), std::logic_error);
    buf.clear();
    BOOST_CHECK_THROW(buf.sample_transitions(1, rng, s), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(flags_refused_where_they_do_not_apply) {
    check_refused({"--munchausen"}, "--loss soft_dqn");
    check_refused({"--loss", "tb", "--target-tau", "0.5"}, "--target-tau");
    check_refused({"--loss", "db", "--target-update-every", "3"}, "--target-update-every");
    check_refused({"--loss", "soft_dqn", "--munchausen-alpha", "0.5"}, "add --munchausen");
    check_refused({"--loss", "soft_dqn", "--munchausen", "--munchausen-alpha", "1"}, "--munchausen-alpha");
    check_refused({"--loss", "soft_dqn", "--munchausen", "--munchausen-clip", "0"}, "--munchausen-clip");
    check_refused({"--loss", "soft_dqn", "--target-tau", "0"}, "--target-tau");
    check_refused({"--loss", "soft_dqn", "--target-update-every", "0"}, "--target-update-every");
    check_refused({"--loss", "soft_dqn", "--tied"}, "--tied");
    check_refused({"--loss", "soft_dqn", "--replay-buffer", "100", "--buffer", "prioritized"}, "--buffer");
    check_refused({"--loss", "soft_dqn", "--env", "line"}, "--loss soft_dqn");
    check_refused({"--loss", "soft_dqn", "--env", "diffusion"}, "--loss soft_dqn");
    check_refused({"--loss", "soft_dqn", "--pb-loss", "tlm"}, "--pb-loss");
    Config ok = parse({"--loss", "soft_dqn", "--munchausen", "--munchausen-alpha", "0.5", "--replay-buffer", "100"});
    BOOST_TEST(ok.munchausen);
}

BOOST_AUTO_TEST_CASE(checkpoint_resumes_bit_for_bit) {
    // The target network and the transition buffer are saved; resuming equals never stopping.
    const std::vector<std::string> args = {"--loss", "soft_dqn", "--munchausen", "--replay-buffer", "200",
                                           "--epsilon", "0.1", "--target-tau", "0.5", "--target-update-every", "2",
                                           "--hidden", "16", "--batch-size", "8", "--height", "5",
                                           "--validation-samples", "2000", "--seed", "3"};
    Config cfg = parse(args);
    cfg.iterations = 7;
    Run straight(cfg);
    Metrics m_straight = train(straight).final_metrics;

    const std::string path = "/tmp/gfn_test_" + std::to_string(::getpid()) + "_soft_dqn.ckpt";
    Config first = cfg;
    first.iterations = 3;  // stops between two target updates, with a partly filled buffer
    {
        Run a(first);
        train(a);
        save_checkpoint(a, path);
    }
    Run b(cfg, false);
    load_checkpoint(b, path);
    BOOST_TEST(b.iteration == 3);
    BOOST_TEST(b.buffer->size() > 0);
    Metrics m_resumed = train(b).final_metrics;
    std::remove(path.c_str());
    BOOST_TEST(b.store.values == straight.store.values);
    BOOST_TEST(b.target_store.values == straight.target_store.values);
    BOOST_TEST(b.target_store.values != b.store.values);  // (Polyak: the target lags)
    BOOST_TEST(b.optimizer->m == straight.optimizer->m);
    BOOST_TEST(b.rng.state == straight.rng.state);
    BOOST_TEST(b.buffer->size() == straight.buffer->size());
    const auto& xb = static_cast<const TransitionReplayBuffer&>(*b.buffer);
    const auto& xs = static_cast<const TransitionReplayBuffer&>(*straight.buffer);
    BOOST_TEST(xb.contents().states == xs.contents().states);
    BOOST_TEST(xb.contents().next_states == xs.contents().next_states);
    BOOST_TEST(xb.contents().is_exit == xs.contents().is_exit);
    // (NaN at non-exit rows: compared as bytes)
    BOOST_TEST(xb.contents().log_rewards.size() == xs.contents().log_rewards.size());
    BOOST_TEST(std::memcmp(xb.contents().log_rewards.data(), xs.contents().log_rewards.data(),
                           sizeof(float) * xs.contents().log_rewards.size()) == 0);
    BOOST_TEST(m_resumed.l1 == m_straight.l1);
    BOOST_TEST(m_resumed.logz == m_straight.logz);
}

BOOST_AUTO_TEST_SUITE_END()
