// test_flow_matching.cpp — the flow-matching objective (gfn/objectives/flow_matching.h) against
// hand-worked values, its gradients against central differences (tests/gradcheck.h),
// the exact flows of small environments (loss 0), the errors, and a short training run.
//
// The hand-built batch lives on HyperGrid(2, 3) (R = 0.6 at the corners, 0.1 elsewhere;
// actions: 0 adds 1 to x_0, 1 adds 1 to x_1, 2 exits):
//
//   τ0: (0,0) exit                                                 x = (0,0), R = 0.6
//   τ1: (0,0) -0-> (1,0) exit                                      x = (1,0), R = 0.1
//   τ2: (0,0) -0-> (1,0) -0-> (2,0) -1-> (2,1) -1-> (2,2) exit      x = (2,2), R = 0.6
//
// The flow-matching states are the visited non-initial states, repeats kept, time-major:
//   t = 1: (1,0) of τ1, (1,0) of τ2;  t = 2: (2,0);  t = 3: (2,1);  t = 4: (2,2)
// Their valid parents (backward action b = the forward action of the edge into the state):
//   (1,0) ← (0,0) by 0;   (2,0) ← (1,0) by 0;   (2,1) ← (1,1) by 0, (2,0) by 1;
//   (2,2) ← (1,2) by 0, (2,1) by 1
// Their valid forward actions (x_i < 2 for action i; the exit always):
//   (1,0): 0, 1, exit;   (2,0): 1, exit;   (2,1): 1, exit;   (2,2): exit only
// The reward terms are on the last states (0,0), (1,0), (2,2).
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "engine/optim.h"
#include "envs/discrete_ebm.h"
#include "envs/hypergrid.h"
#include "gfn/validation/enumeration.h"
#include "gfn/estimators/estimators.h"
#include "gfn/objectives/flow_matching.h"
#include "gfn/estimators/preprocessors.h"
#include "gfn/objectives/regression_loss.h"
#include "gfn/samplers/sampler.h"
#include "gfn/containers/trajectories.h"
#include "gfn/validation/validation.h"
#include "tests/batches.h"
#include "tests/gradcheck.h"
#include "tests/objective_fixtures.h"

using namespace gfn;
using namespace gfn::testing;

namespace {

const double LOG_R[3] = {std::log(0.6), std::log(0.1), std::log(0.6)};

double lse(std::initializer_list<double> xs) {
    double mx = -INFINITY;
    for (double x : xs) mx = std::max(mx, x);
    double s = 0.0;
    for (double x : xs) s += std::exp(x - mx);
    return mx + std::log(s);
}

// Checks every reduction against the flow residuals and reward residuals by hand:
//   mean = mean g(fm) + α mean g(rm),  sum = Σ g(fm) + α Σ g(rm),  none = [g(fm); α g(rm)].
void expect_reductions(const FMGFlowNet& fm, const Trajectories& tr, const Vec& fm_res, const Vec& rm_res,
                       double alpha, const std::function<double(double)>& g, const std::string& what,
                       const float* log_rewards = nullptr) {
    const Vec gf = map(fm_res, g), gr = map(rm_res, [&](double t) { return alpha * g(t); });
    Tape tape;
    const double mean_want = (gf.empty() ? 0.0 : vmean(gf)) + vmean(gr);
    expect_values(fm.loss(tape, tr, true, Reduction::Mean, log_rewards), {mean_want}, 1e-5, what + " mean");
    expect_values(fm.loss(tape, tr, true, Reduction::Sum, log_rewards), {vsum(gf) + vsum(gr)}, 1e-5, what + " sum");
    Vec none = gf;
    none.insert(none.end(), gr.begin(), gr.end());
    Var v = fm.loss(tape, tr, false, Reduction::None, log_rewards);
    BOOST_CHECK_EQUAL(v.cols(), 1);
    expect_values(v, none, 1e-5, what + " none");
}

// An edge-flow network with log F(s→a) = bias_a at every state: every weight zero
// (tanh(0) = 0 hidden features) and output bias `bias`.
std::unique_ptr<PolicyEstimator> constant_flows(const DiscreteEnv& env, const Preprocessor& pre, ParamStore& store,
                                                const std::vector<float>& bias) {
    Rng rng(7);
    auto f = PolicyEstimator::mlp(env, pre, false, store, NetConfig{8, 2, Activation::Tanh}, rng, "fm");
    std::fill(store.values.begin(), store.values.end(), 0.f);
    Tensor b = store.value(param_id(store, "fm.out.bias"));
    std::copy(bias.begin(), bias.end(), b.data);
    return f;
}

// A linear edge-flow network (no hidden layer): log F(s→a) = W[a, :] · input(s) + bias_a.
std::unique_ptr<PolicyEstimator> linear_flows(const DiscreteEnv& env, const Preprocessor& pre, ParamStore& store) {
    Rng rng(7);
    auto f = PolicyEstimator::mlp(env, pre, false, store, NetConfig{8, 0, Activation::Tanh}, rng, "fm");
    std::fill(store.values.begin(), store.values.end(), 0.f);
    return f;
}

const std::vector<float> kBias = {0.5f, -0.3f, 1.0f};
const double b0 = 0.5, b1 = -0.3, b2 = 1.0;

// The flow residuals in(s) − out(s) of the hand batch with log F(s→a) = b_a (see the header):
//   (1,0): in b0 (one parent, action 0), out LSE(b0, b1, b2)    — twice (τ1 and τ2)
//   (2,0): in b0,                         out LSE(b1, b2)        (action 0 masked at x_0 = 2)
//   (2,1): in LSE(b0, b1),                out LSE(b1, b2)
//   (2,2): in LSE(b0, b1),                out b2                 (exit only)
Vec constant_flow_residuals() {
    return {b0 - lse({b0, b1, b2}), b0 - lse({b0, b1, b2}), b0 - lse({b1, b2}), lse({b0, b1}) - lse({b1, b2}),
            lse({b0, b1}) - b2};
}
// Reward residuals log F(x→exit) − log R(x) = b2 − log R(x).
Vec constant_reward_residuals(const double* log_r = LOG_R) { return {b2 - log_r[0], b2 - log_r[1], b2 - log_r[2]}; }

// ---- small models for the gradient checks --------------------------------------------------

struct Model {
    std::unique_ptr<DiscreteEnv> env;
    std::unique_ptr<Preprocessor> pre;
    ParamStore store;
    std::unique_ptr<PolicyEstimator> logF;
    Trajectories batch;

    Model(std::unique_ptr<DiscreteEnv> e, bool conditional, int n = 12, unsigned seed = 3) : env(std::move(e)) {
        pre = env->default_preprocessor();
        Rng rng(seed);
        NetConfig cfg{8, 2, Activation::Tanh};
        logF = conditional ? PolicyEstimator::conditional(*env, *pre, false, store, cfg, rng, "fm")
                           : PolicyEstimator::mlp(*env, *pre, false, store, cfg, rng, "fm");
        Tape tape;
        NoGrad ng(tape);
        SampleRequest req;
        req.n = n;
        sample_trajectories(*env, *logF, nullptr, req, rng, tape, batch);
    }
    GradTarget all() { return {"slab", store.values.data(), store.grads.data(), store.size()}; }
};

void expect_grads(const FMGFlowNet& fm, Model& m, Reduction r, const std::string& what) {
    GradCheckOptions opt;
    opt.max_checks = 48;
    opt.step = 1e-2;  // tanh networks: no kink; a larger step keeps rounding noise below 20 % of small entries
    GradCheckReport rep = check_gradients([&](Tape& t) { return fm.loss(t, m.batch, true, r); }, {m.all()}, opt);
    BOOST_CHECK_MESSAGE(rep.ok, what << ": " << rep.message());
    BOOST_CHECK(rep.checked > 0);
}

// ---- the exact flows of a small environment ------------------------------------------------

// A flow that matches every state: with the uniform PB (1 / number of parents),
//   F(s) = R(s)·[exit valid at s] + Σ_{a valid, non-exit} F(child_a(s)) · PB(s | child_a(s))
// in reverse topological order, and the edge flows
//   F(s → exit) = R(s),   F(s → child) = F(child) · PB(s | child).
// Then in(c) = Σ_parents F(c)·PB(p | c) = F(c) = out(c) for every non-initial state c.
// Returns log F(s → a) as (n_states, n_actions) (0 for invalid actions) and log F(s_0).
struct ExactFlows {
    std::vector<float> log_edge;  // (n_states, n_actions)
    double log_f0 = 0.0;
};

ExactFlows exact_flows(const DiscreteEnv& env) {
    const long long S = env.n_states();
    const int D = env.state_dim(), A = env.n_actions(), B = env.n_backward_actions();
    std::vector<int> all(size_t(S) * D);
    env.all_states(all.data());
    std::vector<uint8_t> fmask(size_t(S) * A), bmask(size_t(S) * B);
    env.forward_masks(all.data(), int(S), fmask.data());
    env.backward_masks(all.data(), int(S), bmask.data());
    std::vector<float> log_r(static_cast<size_t>(S));
    env.log_reward(all.data(), nullptr, int(S), log_r.data());
    std::vector<double> F(static_cast<size_t>(S), 0.0);
    ExactFlows out;
    out.log_edge.assign(size_t(S) * A, 0.f);
    std::vector<int> child(static_cast<size_t>(D));
    for (long long s = S - 1; s >= 0; --s) {
        double f = 0.0;
        for (int a = 0; a < A; ++a) {
            if (!fmask[size_t(s) * A + a]) continue;
            double e;
            if (a == A - 1) {
                e = std::exp(double(log_r[size_t(s)]));
            } else {
                env.step(all.data() + size_t(s) * D, &a, 1, child.data());
                const long long c = env.state_index(child.data());
                int parents = 0;
                for (int b = 0; b < B; ++b) parents += bmask[size_t(c) * B + b];
                e = F[size_t(c)] / parents;
            }
            out.log_edge[size_t(s) * A + a] = float(std::log(e));
            f += e;
        }
        F[size_t(s)] = f;
    }
    out.log_f0 = std::log(F[0]);  // s_0 is the first state of the topological order
    return out;
}

// A one-hot linear network whose outputs are exactly the given edge flows.
std::unique_ptr<PolicyEstimator> table_flows(const DiscreteEnv& env, const Preprocessor& one_hot, ParamStore& store,
                                             const std::vector<float>& log_edge) {
    auto f = linear_flows(env, one_hot, store);
    Tensor W = store.value(param_id(store, "fm.out.weight"));  // (A, n_states)
    const int A = env.n_actions(), S = int(env.n_states());
    for (int s = 0; s < S; ++s)
        for (int a = 0; a < A; ++a) W.data[size_t(a) * S + s] = log_edge[size_t(s) * A + a];
    return f;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(flow_matching)

// ---------------------------------------------------------------------------
// Hand-worked values

BOOST_AUTO_TEST_CASE(constant_flows_by_hand) {
    HyperGrid env(2, 3);
    Trajectories tr = hand_batch(env);
    BOOST_REQUIRE_EQUAL(tr.n_bsteps(), 5);
    auto pre = env.default_preprocessor();
    ParamStore store;
    auto logF = constant_flows(env, *pre, store, kBias);
    FMGFlowNet fm(logF.get());
    BOOST_CHECK_EQUAL(fm.name(), "fm");
    BOOST_CHECK_EQUAL(fm.alpha, 1.f);
    BOOST_CHECK(fm.loss_fn.kind == LossKind::Squared);
    expect_reductions(fm, tr, constant_flow_residuals(), constant_reward_residuals(), 1.0, g_sq, "constant flows");
    // log Z = log F(s_0) = LSE over the three valid actions of s_0.
    BOOST_CHECK_CLOSE(fm.log_z(), lse({b0, b1, b2}), 1e-4);
}

BOOST_AUTO_TEST_CASE(state_dependent_flows_by_hand) {
    // A linear network on the K-hot input: log F(x→a) = u_a x_0 + v_a x_1 + b_a,
    // so a parent's flow differs from its child's and the parents must be evaluated
    // at the parent states:
    //   f(x, a) = u_a x_0 + v_a x_1 + b_a,  u = (0.3, −0.2, 0.1), v = (0.4, 0.25, −0.5)
    //   (1,0): in f((0,0),0),                  out LSE(f((1,0),0), f((1,0),1), f((1,0),2))   (twice)
    //   (2,0): in f((1,0),0),                  out LSE(f((2,0),1), f((2,0),2))
    //   (2,1): in LSE(f((1,1),0), f((2,0),1)), out LSE(f((2,1),1), f((2,1),2))
    //   (2,2): in LSE(f((1,2),0), f((2,1),1)), out f((2,2),2)
    //   reward: f((0,0),2) − log 0.6, f((1,0),2) − log 0.1, f((2,2),2) − log 0.6
    HyperGrid env(2, 3);
    Trajectories tr = hand_batch(env);
    auto pre = env.default_preprocessor();  // K-hot: x_0 one-hot in 0..2, x_1 one-hot in 3..5
    ParamStore store;
    auto logF = linear_flows(env, *pre, store);
    const double u[3] = {0.3, -0.2, 0.1}, v[3] = {0.4, 0.25, -0.5};
    Tensor W = store.value(param_id(store, "fm.out.weight"));  // (3, 6)
    Tensor bias = store.value(param_id(store, "fm.out.bias"));
    for (int a = 0; a < 3; ++a) {
        for (int x = 0; x < 3; ++x) {
            W.data[a * 6 + x] = float(u[a] * x);
            W.data[a * 6 + 3 + x] = float(v[a] * x);
        }
        bias.data[a] = kBias[size_t(a)];
    }
    auto f = [&](int x0, int x1, int a) { return double(float(u[a] * x0)) + double(float(v[a] * x1)) + double(kBias[size_t(a)]); };
    const Vec fm_res = {
        f(0, 0, 0) - lse({f(1, 0, 0), f(1, 0, 1), f(1, 0, 2)}),
        f(0, 0, 0) - lse({f(1, 0, 0), f(1, 0, 1), f(1, 0, 2)}),
        f(1, 0, 0) - lse({f(2, 0, 1), f(2, 0, 2)}),
        lse({f(1, 1, 0), f(2, 0, 1)}) - lse({f(2, 1, 1), f(2, 1, 2)}),
        lse({f(1, 2, 0), f(2, 1, 1)}) - f(2, 2, 2),
    };
    const Vec rm_res = {f(0, 0, 2) - LOG_R[0], f(1, 0, 2) - LOG_R[1], f(2, 2, 2) - LOG_R[2]};
    FMGFlowNet fm(logF.get());
    expect_reductions(fm, tr, fm_res, rm_res, 1.0, g_sq, "linear flows");
    FMGFlowNet fm_cosh(logF.get(), 0.5f, RegressionLoss(LossKind::ShiftedCosh));
    expect_reductions(fm_cosh, tr, fm_res, rm_res, 0.5, g_cosh, "linear flows shifted_cosh");
}

BOOST_AUTO_TEST_CASE(discrete_ebm_by_hand) {
    // DiscreteEBM(2): actions 0, 1 set x_0, x_1 to 0; 2, 3 set them to 1; 4 exits (only at full
    // states, and then alone). log R = (s_0 + s_1)², s = 2x − 1.
    //   τ0: (−1,−1) -0-> (0,−1) -3-> (0,1) exit     log R = (−1 + 1)² = 0
    //   τ1: (−1,−1) -2-> (1,−1) -3-> (1,1) exit     log R = (1 + 1)² = 4
    // With log F(s→a) = c_a:
    //   t = 1: (0,−1): in c0 (unset x_0 = 0),  out LSE(c1, c3) (x_1 unset; exit masked)
    //          (1,−1): in c2,                  out LSE(c1, c3)
    //   t = 2: (0,1):  in LSE(c0, c3),         out c4 (exit only)
    //          (1,1):  in LSE(c2, c3),         out c4
    //   reward: c4 − 0, c4 − 4
    DiscreteEBM env(2);
    Trajectories tr = make_batch(env, {{-1, -1, 0, -1, 0, 1}, {-1, -1, 1, -1, 1, 1}}, {{0, 3, 4}, {2, 3, 4}});
    BOOST_CHECK_CLOSE(tr.log_rewards[1], 4.f, 1e-4);
    BOOST_CHECK_SMALL(tr.log_rewards[0], 1e-6f);
    auto pre = env.default_preprocessor();
    ParamStore store;
    const std::vector<float> c = {0.2f, -0.7f, 1.1f, 0.4f, 2.5f};
    auto logF = constant_flows(env, *pre, store, c);
    const double c0 = c[0], c1 = c[1], c2 = c[2], c3 = c[3], c4 = c[4];
    const Vec fm_res = {c0 - lse({c1, c3}), c2 - lse({c1, c3}), lse({c0, c3}) - c4, lse({c2, c3}) - c4};
    const Vec rm_res = {c4 - 0.0, c4 - 4.0};
    FMGFlowNet fm(logF.get());
    expect_reductions(fm, tr, fm_res, rm_res, 1.0, g_sq, "EBM constant flows");
    // log Z = log F(s_0): four valid actions (exit masked).
    BOOST_CHECK_CLOSE(fm.log_z(), lse({c0, c1, c2, c3}), 1e-4);
}

BOOST_AUTO_TEST_CASE(alpha_weights_the_reward_terms) {
    HyperGrid env(2, 3);
    Trajectories tr = hand_batch(env);
    auto pre = env.default_preprocessor();
    ParamStore store;
    auto logF = constant_flows(env, *pre, store, kBias);
    for (float alpha : {0.f, 0.5f, 2.f}) {
        FMGFlowNet fm(logF.get(), alpha);
        expect_reductions(fm, tr, constant_flow_residuals(), constant_reward_residuals(), alpha, g_sq,
                          "alpha " + std::to_string(alpha));
    }
}

BOOST_AUTO_TEST_CASE(custom_log_rewards_replace_the_reward_terms) {
    HyperGrid env(2, 3);
    Trajectories tr = hand_batch(env);
    auto pre = env.default_preprocessor();
    ParamStore store;
    auto logF = constant_flows(env, *pre, store, kBias);
    FMGFlowNet fm(logF.get(), 1.5f);
    const float custom[3] = {0.3f, -1.2f, 2.0f};
    const double c[3] = {0.3f, -1.2f, 2.0f};
    expect_reductions(fm, tr, constant_flow_residuals(), constant_reward_residuals(c), 1.5, g_sq, "custom",
                      custom);
    BOOST_CHECK_CLOSE(tr.log_rewards[1], LOG_R[1], 1e-4);  // the batch's own are untouched
    // Very negative log-rewards are used as they are: FM never clips.
    const float tiny[3] = {-50.f, -50.f, -50.f};
    const double t[3] = {-50.0, -50.0, -50.0};
    expect_reductions(fm, tr, constant_flow_residuals(), constant_reward_residuals(t), 1.5, g_sq, "tiny", tiny);
}

BOOST_AUTO_TEST_CASE(only_exits_at_s0) {
    // Trajectories that only exit at s_0 have no flow-matching state: only reward terms,
    // and `mean` is α·mean of them. s_0 never gets a flow-matching term.
    HyperGrid env(2, 3);
    Trajectories tr = make_batch(env, {{0, 0}, {0, 0}}, {{2}, {2}});
    BOOST_CHECK_EQUAL(tr.n_bsteps(), 0);
    auto pre = env.default_preprocessor();
    ParamStore store;
    auto logF = constant_flows(env, *pre, store, kBias);
    FMGFlowNet fm(logF.get(), 2.f);
    expect_reductions(fm, tr, {}, {b2 - LOG_R[0], b2 - LOG_R[0]}, 2.0, g_sq, "exits only");
}

BOOST_AUTO_TEST_CASE(uniform_estimator_means_zero_flows) {
    // log F ≡ 0: in(s) = log(number of parents), out(s) = log(number of valid actions).
    HyperGrid env(2, 3);
    Trajectories tr = hand_batch(env);
    auto logF = PolicyEstimator::uniform(env, false);
    FMGFlowNet fm(logF.get());
    const double L2 = std::log(2.0), L3 = std::log(3.0);
    expect_reductions(fm, tr, {-L3, -L3, -L2, L2 - L2, L2}, {-LOG_R[0], -LOG_R[1], -LOG_R[2]}, 1.0, g_sq,
                      "uniform");
    BOOST_CHECK_CLOSE(fm.log_z(), L3, 1e-4);
}

// ---------------------------------------------------------------------------
// The exact flows of small environments match: loss ~ 0, PF = R/Z, log F(s_0) = log Z.

BOOST_AUTO_TEST_CASE(exact_flows_have_zero_loss) {
    std::vector<std::unique_ptr<DiscreteEnv>> envs;
    envs.push_back(std::make_unique<HyperGrid>(2, 3));
    envs.push_back(std::make_unique<DiscreteEBM>(2));
    envs.push_back(std::make_unique<DiscreteEBM>(3, 0.5));
    for (const auto& env : envs) {
        OneHotPreprocessor one_hot(*env);
        ParamStore store;
        ExactFlows ex = exact_flows(*env);
        auto logF = table_flows(*env, one_hot, store, ex.log_edge);
        FMGFlowNet fm(logF.get());
        TargetDistribution target = true_distribution(*env);
        BOOST_CHECK_CLOSE(ex.log_f0, target.log_z, 1e-6);
        BOOST_CHECK_CLOSE(fm.log_z(), target.log_z, 1e-4);
        // Its policy is the target distribution.
        std::vector<double> p = exact_terminating_distribution(*env, target, policy_fn(*logF));
        BOOST_CHECK_SMALL(l1_distance(p, target.prob), 1e-5);

        Rng rng(21);
        Tape tape;
        Trajectories batch;
        {
            NoGrad ng(tape);
            SampleRequest req;
            req.n = 64;
            sample_trajectories(*env, *logF, nullptr, req, rng, tape, batch);
        }
        const float loss = fm.loss(tape, batch).item();
        BOOST_TEST_INFO(env->name());
        BOOST_CHECK_SMALL(loss, 1e-9f);
        Var none = fm.loss(tape, batch, true, Reduction::None);
        BOOST_CHECK_EQUAL(none.rows(), batch.n_bsteps() + batch.n);
        for (double x : values(none)) BOOST_CHECK_SMALL(x, 1e-9);

        // One wrong edge flow (the exit of a state the batch visits) breaks the match.
        const long long s = env->state_index(batch.terminal_state(0));
        Tensor W = store.value(param_id(store, "fm.out.weight"));
        W.data[size_t(env->n_actions() - 1) * size_t(env->n_states()) + size_t(s)] += 0.5f;
        BOOST_CHECK_GT(fm.loss(tape, batch).item(), 1e-3f);
    }
}

// ---------------------------------------------------------------------------
// Gradient checks (central differences over the whole parameter slab)

BOOST_AUTO_TEST_CASE(hypergrid_gradients) {
    Model m(std::make_unique<HyperGrid>(2, 4), false);
    BOOST_REQUIRE_GT(m.batch.n_bsteps(), 0);
    FMGFlowNet fm(m.logF.get());
    expect_grads(fm, m, Reduction::Mean, "HyperGrid FM mean");
    expect_grads(fm, m, Reduction::Sum, "HyperGrid FM sum");
    expect_grads(fm, m, Reduction::None, "HyperGrid FM none");
    FMGFlowNet cosh(m.logF.get(), 0.7f, RegressionLoss(LossKind::ShiftedCosh));
    expect_grads(cosh, m, Reduction::Mean, "HyperGrid FM shifted_cosh alpha 0.7");
}

BOOST_AUTO_TEST_CASE(discrete_ebm_gradients) {
    Model m(std::make_unique<DiscreteEBM>(3), false);
    FMGFlowNet fm(m.logF.get());
    expect_grads(fm, m, Reduction::Mean, "DiscreteEBM FM mean");
    expect_grads(fm, m, Reduction::None, "DiscreteEBM FM none");
    FMGFlowNet linex(m.logF.get(), 2.f, RegressionLoss(LossKind::Linex, 0.5f));
    expect_grads(linex, m, Reduction::Sum, "DiscreteEBM FM linex sum");
}

BOOST_AUTO_TEST_CASE(conditional_gradients) {
    Model m(std::make_unique<ConditionalHyperGrid>(2, 4), true);
    BOOST_CHECK_EQUAL(m.batch.condition_dim, 1);
    FMGFlowNet fm(m.logF.get());
    BOOST_CHECK(std::isnan(fm.log_z()));
    expect_grads(fm, m, Reduction::Mean, "conditional FM mean");
    expect_grads(fm, m, Reduction::None, "conditional FM none");
}

BOOST_AUTO_TEST_CASE(in_flow_is_stable_for_large_flows) {
    // Flows of ±200 (e^200 overflows float): the in-flow LSE is shifted, so the loss is
    // finite and equal to the hand value.
    HyperGrid env(2, 3);
    Trajectories tr = hand_batch(env);
    auto pre = env.default_preprocessor();
    ParamStore store;
    auto logF = constant_flows(env, *pre, store, {200.f, 199.f, -200.f});
    FMGFlowNet fm(logF.get());
    const double c0 = 200, c1 = 199, c2 = -200;
    const Vec fm_res = {c0 - lse({c0, c1, c2}), c0 - lse({c0, c1, c2}), c0 - lse({c1, c2}),
                        lse({c0, c1}) - lse({c1, c2}), lse({c0, c1}) - c2};
    Tape tape;
    Var none = fm.loss(tape, tr, true, Reduction::None);
    Vec got = values(none);
    for (size_t k = 0; k < fm_res.size(); ++k)
        BOOST_CHECK_CLOSE(got[k], fm_res[k] * fm_res[k], 1e-3);
    Var l = fm.loss(tape, tr);
    store.zero_grad();
    tape.backward(l);
    for (float g : store.grads) BOOST_CHECK(std::isfinite(g));
}

// ---------------------------------------------------------------------------
// Errors

// HyperGrid pretending it cannot list parents.
class NoParentsGrid : public HyperGrid {
public:
    using HyperGrid::HyperGrid;
    bool parents_enumerable() const override { return false; }
};

BOOST_AUTO_TEST_CASE(construction_errors) {
    HyperGrid env(2, 3);
    auto pre = env.default_preprocessor();
    Rng rng(5);
    ParamStore store;
    NetConfig cfg{8, 2, Activation::Tanh};
    auto f = PolicyEstimator::mlp(env, *pre, false, store, cfg, rng, "fm");
    auto backward = PolicyEstimator::mlp(env, *pre, true, store, cfg, rng, "pb");
    BOOST_CHECK_THROW(FMGFlowNet(nullptr), std::invalid_argument);
    BOOST_CHECK_THROW(FMGFlowNet(backward.get()), std::invalid_argument);
    BOOST_CHECK_THROW(FMGFlowNet(f.get(), -1.f), std::invalid_argument);
    BOOST_CHECK_THROW(FMGFlowNet(f.get(), NAN), std::invalid_argument);
    BOOST_CHECK_THROW(FMGFlowNet(f.get(), INFINITY), std::invalid_argument);
    BOOST_CHECK_NO_THROW(FMGFlowNet(f.get(), 0.f));

    NoParentsGrid grid(2, 3);
    auto g = PolicyEstimator::mlp(grid, *pre, false, store, cfg, rng, "fm2");
    try {
        FMGFlowNet fm(g.get());
        BOOST_ERROR("no error for an environment without enumerable parents");
    } catch (const std::invalid_argument& e) {
        BOOST_CHECK_MESSAGE(std::string(e.what()).find("FM") != std::string::npos, e.what());
    }
}

BOOST_AUTO_TEST_CASE(non_finite_log_rewards) {
    HyperGrid env(2, 3);
    Trajectories tr = hand_batch(env);
    auto logF = PolicyEstimator::uniform(env, false);
    FMGFlowNet fm(logF.get());
    const float zero[3] = {0.f, -INFINITY, 0.f}, nan[3] = {0.f, NAN, 0.f}, inf[3] = {0.f, INFINITY, 0.f};
    for (const float* lr : {zero, nan, inf}) {
        Tape tape;
        try {
            fm.loss(tape, tr, true, Reduction::Mean, lr);
            BOOST_ERROR("no error for a non-finite log R");
        } catch (const std::domain_error& e) {
            const std::string msg = e.what();
            BOOST_CHECK_MESSAGE(msg.find("FM does not clip") != std::string::npos, msg);
            BOOST_CHECK_MESSAGE(msg.find("trajectory 1") != std::string::npos, msg);
        }
    }
    Trajectories bad = tr;
    bad.log_rewards[2] = -INFINITY;
    Tape tape;
    BOOST_CHECK_THROW(fm.loss(tape, bad), std::domain_error);
}

BOOST_AUTO_TEST_CASE(batch_errors) {
    HyperGrid env(2, 3);
    auto logF = PolicyEstimator::uniform(env, false);
    FMGFlowNet fm(logF.get());
    Tape tape;
    // A batch from another environment.
    DiscreteEBM ebm(3);
    Trajectories other = make_batch(ebm, {{-1, -1, -1}}, {{0}});
    BOOST_CHECK_THROW(fm.loss(tape, other), std::invalid_argument);
    // s_0 in the middle of a trajectory has no parent.
    Trajectories tr = hand_batch(env);
    tr.state(1, 1)[0] = 0;
    BOOST_CHECK_THROW(fm.loss(tape, tr), std::invalid_argument);
}

// ---------------------------------------------------------------------------
// Training: a short on-policy run on DiscreteEBM(2) reaches the target distribution.

BOOST_AUTO_TEST_CASE(fm_learns_discrete_ebm_2, *boost::unit_test::label("learning")) {
    DiscreteEBM env(2);
    auto pre = env.default_preprocessor();
    ParamStore store;
    Rng rng(1);
    auto logF = PolicyEstimator::mlp(env, *pre, false, store, NetConfig{256, 2, Activation::Relu}, rng, "fm");
    FMGFlowNet fm(logF.get());
    Optimizer opt(store, OptimizerKind::Adam, {{1e-3f, 0.f}});
    TargetDistribution target = true_distribution(env);
    Tape tape;
    Trajectories batch;
    for (int it = 0; it < 200; ++it) {
        tape.reset();
        {
            NoGrad ng(tape);
            SampleRequest req;
            req.n = 128;
            sample_trajectories(env, *logF, nullptr, req, rng, tape, batch);
        }
        Var loss = fm.loss(tape, batch);
        BOOST_REQUIRE(std::isfinite(loss.item()));
        store.zero_grad();
        tape.backward(loss);
        opt.step();
    }
    const double l1 = l1_distance(exact_terminating_distribution(env, target, policy_fn(*logF)), target.prob);
    BOOST_TEST_INFO("exact l1 " << l1 << ", log F(s_0) " << fm.log_z() << ", log Z " << target.log_z);
    BOOST_TEST(l1 <= 0.10);
}

BOOST_AUTO_TEST_SUITE_END()
