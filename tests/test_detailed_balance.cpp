// test_detailed_balance.cpp — transitions (gfn/containers/transitions.h) and the detailed-balance
// objectives (gfn/objectives/detailed_balance.h): DB (standalone and tied log F, forward-looking) and
// ModifiedDB against hand-worked values on a hand-built batch, their gradients against
// central differences (tests/gradcheck.h) over the whole parameter slab, on-policy reuse of
// saved log-probs, the replay-buffer path (transitions without next_index), and the errors.
//
// The hand-built batch is test_trajectory_balance's, on HyperGrid(2, 3): R = 0.6 at the four
// corners, 0.1 elsewhere. Actions: 0 adds 1 to x_0, 1 adds 1 to x_1, 2 exits.
//   τ0: (0,0) exit
//   τ1: (0,0) -0-> (1,0) exit
//   τ2: (0,0) -0-> (1,0) -0-> (2,0) -1-> (2,1) -1-> (2,2) exit
// Its transitions, time-major (t ascending, then trajectory):
//   k  t  τ   s      a   s'       next_index
//   0  0  τ0  (0,0)  2   s_f      −
//   1  0  τ1  (0,0)  0   (1,0)    3
//   2  0  τ2  (0,0)  0   (1,0)    4
//   3  1  τ1  (1,0)  2   s_f      −
//   4  1  τ2  (1,0)  0   (2,0)    5
//   5  2  τ2  (2,0)  1   (2,1)    6
//   6  3  τ2  (2,1)  1   (2,2)    7
//   7  4  τ2  (2,2)  2   s_f      −
// non_exit = {1, 2, 4, 5, 6}, one per backward step of the trajectories, in order.
//
// Uniform PF: 1/(number of valid actions): (0,0) and (1,0): 3; (2,0) and (2,1): 2; (2,2): 1.
//   log PF per transition: k0…k4 −log 3, k5 and k6 −log 2, k7 0; log PF(exit|s) likewise.
// Uniform PB at s' over its parents: (1,0), (2,0): 1 parent (log PB 0); (2,1), (2,2): 2.
//   log PB per non-exit transition: k1, k2, k4: 0; k5, k6: −log 2.
// log R: (0,0), (2,0), (2,2): log 0.6; (1,0), (2,1): log 0.1. Write ℓ6 = log 6 = log 0.6 − log 0.1.
//
// A "linear" log F: a network with no hidden layer on the K-hot input (x_0 one-hot, then
// x_1 one-hot), weights (0, 0.1, 0.2 | 0, 0.2, 0.4) and bias 0.4, so
//   f(x) = 0.4 + 0.1·x_0 + 0.2·x_1:  f(0,0) = 0.4, f(1,0) = 0.5, f(2,0) = 0.6, f(2,1) = 0.8, f(2,2) = 1.0.
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
#include "gfn/objectives/detailed_balance.h"
#include "gfn/validation/enumeration.h"
#include "gfn/estimators/estimators.h"
#include "gfn/objectives/gflownet.h"
#include "gfn/estimators/preprocessors.h"
#include "gfn/objectives/regression_loss.h"
#include "gfn/samplers/sampler.h"
#include "gfn/containers/trajectories.h"
#include "gfn/containers/transitions.h"
#include "tests/gradcheck.h"
#include "tests/objective_fixtures.h"

using namespace gfn;
// Not the whole of gfn::testing: this suite's expect_values also checks for one column.
using gfn::testing::all_zero;
using gfn::testing::expect_grads;
using gfn::testing::expect_same_grads;
using gfn::testing::hand_batch;
using gfn::testing::loss_and_grad;
using gfn::testing::LossAndGrad;
using gfn::testing::make_pf_pb;
using gfn::testing::param_id;
using gfn::testing::PbKind;
using gfn::testing::values;
using gfn::testing::Vec;
using gfn::testing::vmean;
using gfn::testing::vsum;

namespace {

const double L2 = std::log(2.0), L3 = std::log(3.0), L6 = std::log(6.0);
const double LR06 = std::log(0.6), LR01 = std::log(0.1);

void expect_values(Var v, const Vec& want, double tol, const std::string& what) {
    Vec got = values(v);
    BOOST_REQUIRE_MESSAGE(got.size() == want.size(), what << ": " << got.size() << " values, want " << want.size());
    BOOST_CHECK_EQUAL(v.cols(), 1);
    for (size_t i = 0; i < want.size(); ++i)
        BOOST_CHECK_MESSAGE(std::fabs(got[i] - want[i]) <= tol * std::fmax(1.0, std::fabs(want[i])),
                            what << "[" << i << "]: got " << got[i] << ", want " << want[i]);
}

void expect_scalar(Var v, double want, double tol, const std::string& what) {
    BOOST_REQUIRE_EQUAL(v.rows(), 1);
    BOOST_REQUIRE_EQUAL(v.cols(), 1);
    expect_values(v, {want}, tol, what);
}

Vec squares(const Vec& v) {
    Vec o(v.size());
    std::transform(v.begin(), v.end(), o.begin(), [](double x) { return x * x; });
    return o;
}

// The three reductions of an objective against its per-transition hand residuals (g squared).
void expect_reductions(const GFlowNet& gfn, const Trajectories& tr, const Vec& residuals, const std::string& what,
                       const float* log_rewards = nullptr) {
    const Vec g = squares(residuals);
    Tape tape;
    expect_scalar(gfn.loss(tape, tr, true, Reduction::Mean, log_rewards), vmean(g), 1e-5, what + " mean");
    expect_scalar(gfn.loss(tape, tr, true, Reduction::Sum, log_rewards), vsum(g), 1e-5, what + " sum");
    expect_values(gfn.loss(tape, tr, true, Reduction::None, log_rewards), g, 1e-5, what + " none");
}

// The linear log F of the header comment.
std::unique_ptr<StateFlowEstimator> linear_log_f(const HyperGrid& env, const Preprocessor& pre, ParamStore& store) {
    Rng rng(3);
    auto f = StateFlowEstimator::mlp(env, pre, store, NetConfig{8, 0, Activation::Tanh}, rng, "logF");
    const float w[6] = {0.f, 0.1f, 0.2f, 0.f, 0.2f, 0.4f};
    std::copy(w, w + 6, store.value(param_id(store, "logF.out.weight")).data);
    store.value(param_id(store, "logF.out.bias")).data[0] = 0.4f;
    return f;
}
const double F00 = 0.4, F10 = 0.5, F20 = 0.6, F21 = 0.8, F22 = 1.0;

// A log F that is the constant c: an MLP (hidden 8, tanh) with every weight zero, output bias c.
std::unique_ptr<StateFlowEstimator> constant_log_f(const HyperGrid& env, const Preprocessor& pre, ParamStore& store,
                                                   float c) {
    Rng rng(4);
    auto f = StateFlowEstimator::mlp(env, pre, store, NetConfig{8, 2, Activation::Tanh}, rng, "logF");
    std::fill(store.values.begin(), store.values.end(), 0.f);
    store.value(param_id(store, "logF.out.bias")).data[0] = c;
    return f;
}

// Hand residuals (see the header) -------------------------------------------------------

// DB with log F = f (linear) or the constant c, uniform PF and PB (or constant PB).
Vec db_linear() {
    return {F00 - L3 - LR06,   // k0 exit at (0,0)
            F00 - L3 - F10,    // k1 (0,0)→(1,0): −0.1 − log 3
            F00 - L3 - F10,    // k2
            F10 - L3 - LR01,   // k3 exit at (1,0)
            F10 - L3 - F20,    // k4 (1,0)→(2,0)
            F20 - L2 + L2 - F21,  // k5 (2,0)→(2,1): −0.2
            F21 - L2 + L2 - F22,  // k6 (2,1)→(2,2): −0.2
            F22 - 0.0 - LR06};    // k7 exit at (2,2)
}
Vec db_constant(double c, bool constant_pb = false) {
    // logF(s) − logF(s') = 0 on the non-exit rows.
    const double pb = constant_pb ? 0.0 : L2;
    return {c - L3 - LR06, -L3, -L3, c - L3 - LR01, -L3, -L2 + pb, -L2 + pb, c - LR06};
}
// Forward-looking with logF̃ = f: non-exit f(s) + log R(s) + log PF − log PB − f(s') − log R(s');
// exit f(x) + log PF(exit|x).
Vec db_forward_looking() {
    return {F00 - L3,                  // k0
            F00 + LR06 - L3 - F10 - LR01,  // k1: −0.1 − log 3 + ℓ6
            F00 + LR06 - L3 - F10 - LR01,  // k2
            F10 - L3,                  // k3
            F10 + LR01 - L3 - F20 - LR06,  // k4: −0.1 − log 3 − ℓ6
            F20 + LR06 - F21 - LR01,       // k5: −0.2 + ℓ6
            F21 + LR01 - F22 - LR06,       // k6: −0.2 − ℓ6
            F22};                          // k7
}
// ModifiedDB on k1, k2, k4, k5, k6:
//   [log R(s) + log PF(a|s) + log PF(exit|s')] − [log R(s') + log PB(s|s') + log PF(exit|s)]
Vec modified_db(bool constant_pb = false) {
    const double pb5 = constant_pb ? 0.0 : -L2, pb6 = pb5;
    return {LR06 - L3 - L3 - (LR01 + 0.0 - L3),   // k1 (0,0)→(1,0): ℓ6 − log 3
            LR06 - L3 - L3 - (LR01 + 0.0 - L3),   // k2
            LR01 - L3 - L2 - (LR06 + 0.0 - L3),   // k4 (1,0)→(2,0): −ℓ6 − log 2
            LR06 - L2 - L2 - (LR01 + pb5 - L2),   // k5 (2,0)→(2,1): ℓ6
            LR01 - L2 + 0.0 - (LR06 + pb6 - L2)}; // k6 (2,1)→(2,2): −ℓ6 + log 2
}

// ---- sampled batches and small networks ---------------------------------------------------

struct Model {
    std::unique_ptr<HyperGrid> env;
    std::unique_ptr<Preprocessor> pre;
    ParamStore store;
    std::unique_ptr<PolicyEstimator> pf, pb;
    std::unique_ptr<StateFlowEstimator> logF;
    Trajectories batch;

    using Pb = PbKind;
    Model(bool conditional, Pb pb_kind, bool tied_f, int n = 12, unsigned seed = 3, int height = 4) {
        env = conditional ? std::make_unique<ConditionalHyperGrid>(2, height) : std::make_unique<HyperGrid>(2, height);
        pre = env->default_preprocessor();
        Rng rng(seed);
        NetConfig cfg{8, 2, Activation::Tanh};
        make_pf_pb(*env, *pre, conditional, pb_kind, store, cfg, rng, pf, pb);
        logF = tied_f ? StateFlowEstimator::tied(*pf, store, rng, "logF")
                      : StateFlowEstimator::mlp(*env, *pre, store, cfg, rng, "logF");
        Tape tape;
        SampleRequest req;
        req.n = n;
        sample_trajectories(*env, *pf, nullptr, req, rng, tape, batch);
    }
    GradTarget all() { return GradTarget{"params", store.values.data(), store.grads.data(), store.size()}; }
    // The log F parameters alone, so that they are always among the checked values.
    GradTarget log_f_target() {
        size_t lo = store.size(), hi = 0;
        for (const Param& p : store.params)
            if (p.name.rfind("logF", 0) == 0) {
                lo = std::min(lo, p.offset);
                hi = std::max(hi, p.offset + p.size());
            }
        BOOST_REQUIRE(lo < hi);
        return GradTarget{"logF", store.values.data() + lo, store.grads.data() + lo, hi - lo};
    }
};

// The transitions of `traj` as a replay buffer would hold them: no next_index (every s' is
// looked up on its own), state information recomputed from the environment.
Transitions detached(const DiscreteEnv& env, const Trajectories& traj) {
    Transitions t = transitions_from(env, traj, true);
    std::fill(t.next_index.begin(), t.next_index.end(), -1);
    t.compute_state_info(env, true);
    t.drop_saved();
    return t;
}

template <class F>
void expect_invalid_argument(F&& f, const std::vector<std::string>& words, const std::string& what) {
    try {
        f();
        BOOST_ERROR(what << ": no std::invalid_argument");
    } catch (const std::invalid_argument& e) {
        for (const std::string& w : words)
            BOOST_CHECK_MESSAGE(std::string(e.what()).find(w) != std::string::npos,
                                what << ": message does not name '" << w << "': " << e.what());
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(detailed_balance)

// ---------------------------------------------------------------------------
// Transitions

BOOST_AUTO_TEST_CASE(transitions_layout) {
    HyperGrid env(2, 3);
    Trajectories traj = hand_batch(env);
    Transitions t = transitions_from(env, traj);
    BOOST_REQUIRE_EQUAL(t.n, 8);
    BOOST_CHECK_EQUAL(t.state_dim, 2);
    const std::vector<int> s = {0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 2, 0, 2, 1, 2, 2};
    const std::vector<int> a = {2, 0, 0, 2, 0, 1, 1, 2};
    const std::vector<uint8_t> ex = {1, 0, 0, 1, 0, 0, 0, 1};
    const std::vector<int> s1 = {-1, -1, 1, 0, 1, 0, -1, -1, 2, 0, 2, 1, 2, 2, -1, -1};
    const std::vector<int> next = {-1, 3, 4, -1, 5, 6, 7, -1};
    const std::vector<int> traj_of = {0, 1, 2, 1, 2, 2, 2, 2};
    BOOST_CHECK(t.states == s);
    BOOST_CHECK(t.actions == a);
    BOOST_CHECK(t.is_exit == ex);
    BOOST_CHECK(t.next_states == s1);
    BOOST_CHECK(t.next_index == next);
    BOOST_CHECK(t.traj_index == traj_of);
    BOOST_CHECK(t.non_exit == std::vector<int>({1, 2, 4, 5, 6}));
    BOOST_CHECK_EQUAL(t.n_non_exit(), traj.n_bsteps());
    // Every HyperGrid state is terminating.
    BOOST_CHECK(t.can_exit == std::vector<uint8_t>(8, 1));
    BOOST_CHECK(t.next_can_exit == std::vector<uint8_t>({0, 1, 1, 0, 1, 1, 1, 0}));
    // Terminal rewards at the exits; state rewards at every s and every non-exit s'.
    const double lr_s[8] = {LR06, LR06, LR06, LR01, LR01, LR06, LR01, LR06};
    const double lr_next[8] = {NAN, LR01, LR01, NAN, LR06, LR01, LR06, NAN};
    BOOST_REQUIRE(t.has_state_log_rewards());
    for (int k = 0; k < 8; ++k) {
        if (ex[size_t(k)]) BOOST_CHECK_CLOSE(t.log_rewards[size_t(k)], lr_s[k], 1e-4);
        else BOOST_CHECK(std::isnan(t.log_rewards[size_t(k)]));
        BOOST_CHECK_CLOSE(t.state_log_rewards[size_t(k)], lr_s[k], 1e-4);
        if (std::isnan(lr_next[k])) BOOST_CHECK(std::isnan(t.next_log_rewards[size_t(k)]));
        else BOOST_CHECK_CLOSE(t.next_log_rewards[size_t(k)], lr_next[k], 1e-4);
    }
    // Without state rewards: no environment calls for them, empty arrays.
    Transitions bare = transitions_from(env, traj, false);
    BOOST_CHECK(!bare.has_state_log_rewards());
    BOOST_CHECK(bare.next_log_rewards.empty());
    BOOST_CHECK(bare.can_exit == t.can_exit);
    // The replay-buffer form recomputes the same state information without next_index.
    Transitions d = detached(env, traj);
    BOOST_CHECK(d.next_can_exit == t.next_can_exit);
    for (int k = 0; k < 8; ++k) {
        BOOST_CHECK_EQUAL(std::isnan(d.next_log_rewards[size_t(k)]), std::isnan(t.next_log_rewards[size_t(k)]));
        if (!std::isnan(lr_next[k])) BOOST_CHECK_EQUAL(d.next_log_rewards[size_t(k)], t.next_log_rewards[size_t(k)]);
    }
}

BOOST_AUTO_TEST_CASE(transitions_on_discrete_ebm) {
    // DiscreteEBM(2): s_0 = (−1,−1) and the half-set states are not terminating: NaN rewards,
    // never asked of the environment; full states are.
    DiscreteEBM env(2);
    auto pf = PolicyEstimator::uniform(env, false);
    Rng rng(5);
    Tape tape;
    SampleRequest req;
    req.n = 4;
    Trajectories traj;
    sample_trajectories(env, *pf, nullptr, req, rng, tape, traj);
    Transitions t = transitions_from(env, traj);
    BOOST_REQUIRE_EQUAL(t.n, 4 * 3);  // two set actions and the exit per trajectory
    for (int k = 0; k < t.n; ++k) {
        const bool full = t.state(k)[0] != -1 && t.state(k)[1] != -1;
        BOOST_CHECK_EQUAL(bool(t.can_exit[size_t(k)]), full);
        BOOST_CHECK_EQUAL(bool(t.is_exit[size_t(k)]), full);
        BOOST_CHECK_EQUAL(std::isnan(t.state_log_rewards[size_t(k)]), !full);
    }
}

BOOST_AUTO_TEST_CASE(transitions_carry_saved_log_probs) {
    Model m(false, Model::Pb::Tied, false);
    Rng rng(21);
    Tape tape;
    SampleRequest req;
    req.n = 9;
    req.save_log_probs = true;
    Trajectories batch;
    sample_trajectories(*m.env, *m.pf, m.pb.get(), req, rng, tape, batch);
    Transitions t = transitions_from(*m.env, batch);
    BOOST_CHECK_EQUAL(t.saved_log_pf.id, batch.saved_log_pf.id);
    BOOST_CHECK_EQUAL(t.saved_log_pb.id, batch.saved_log_pb.id);
    BOOST_CHECK_EQUAL(t.saved_log_pf.rows(), t.n);
    BOOST_CHECK_EQUAL(t.saved_log_pb.rows(), t.n_non_exit());
    // The saved log PB of non-exit transition j is PB(s | s') with s' = next_states of non_exit[j].
    Var lpb = evaluate_log_probs(tape, batch, *m.pf, m.pb.get(), true).log_pb;
    BOOST_CHECK_EQUAL(lpb.rows(), t.n_non_exit());
    for (int j = 0; j < t.n_non_exit(); ++j) {
        const int k = t.non_exit[size_t(j)];
        const int bt = batch.bstep_t[size_t(j)], bi = batch.bstep_traj[size_t(j)];
        BOOST_CHECK(std::equal(t.next_state(k), t.next_state(k) + 2, batch.state(bt, bi)));
        BOOST_CHECK_EQUAL(t.actions[size_t(k)], batch.action(bt - 1, bi));
    }
}

// ---------------------------------------------------------------------------
// DB: hand-worked values

BOOST_AUTO_TEST_CASE(db_linear_log_f) {
    HyperGrid env(2, 3);
    auto pre = env.default_preprocessor();
    Trajectories tr = hand_batch(env);
    auto pf = PolicyEstimator::uniform(env, false);
    auto pb = PolicyEstimator::uniform_pb(env);
    ParamStore store;
    auto logF = linear_log_f(env, *pre, store);
    DBGFlowNet db(pf.get(), pb.get(), logF.get());
    BOOST_CHECK(db.loss_fn.kind == LossKind::Squared);
    BOOST_CHECK_EQUAL(db.name(), "db");
    Tape tape;
    expect_values(logF->forward(tape, transitions_from(env, tr).states.data(), nullptr, 8),
                  {F00, F00, F00, F10, F10, F20, F21, F22}, 1e-6, "linear log F");
    expect_values(db.transition_scores(tape, transitions_from(env, tr)), db_linear(), 1e-5, "DB residuals");
    expect_reductions(db, tr, db_linear(), "DB");
    // The replay-buffer path (every s' evaluated on its own) gives the same values.
    expect_values(db.transition_scores(tape, detached(env, tr)), db_linear(), 1e-5, "DB residuals, detached");
}

BOOST_AUTO_TEST_CASE(db_constant_log_f) {
    HyperGrid env(2, 3);
    auto pre = env.default_preprocessor();
    Trajectories tr = hand_batch(env);
    auto pf = PolicyEstimator::uniform(env, false);
    auto pb = PolicyEstimator::uniform_pb(env);
    ParamStore store;
    auto logF = constant_log_f(env, *pre, store, 0.7f);
    DBGFlowNet db(pf.get(), pb.get(), logF.get());
    expect_reductions(db, tr, db_constant(0.7), "DB constant log F");
    // Constant PB: log PB ≡ 0, which changes k5 and k6 (the only non-zero log PB).
    DBGFlowNet tree(pf.get(), nullptr, logF.get(), false, true);
    expect_reductions(tree, tr, db_constant(0.7, true), "DB constant PB");
    // Other regression losses: g applied to the same residuals.
    DBGFlowNet cosh(pf.get(), pb.get(), logF.get(), false, false, kNoClip, RegressionLoss(LossKind::ShiftedCosh));
    Tape tape;
    Vec g;
    for (double r : db_constant(0.7)) g.push_back(std::exp(r) + std::exp(-r) - 2.0);
    expect_values(cosh.loss(tape, tr, true, Reduction::None), g, 1e-5, "DB shifted_cosh");
    // d mean(r²)/d bias = (2/8) Σ r over the exit rows (the bias cancels elsewhere).
    store.zero_grad();
    Tape t2;
    t2.backward(db.loss(t2, tr));
    const Vec r = db_constant(0.7);
    BOOST_CHECK_CLOSE(store.grads[size_t(store.params[size_t(param_id(store, "logF.out.bias"))].offset)],
                      2.0 / 8.0 * (r[0] + r[3] + r[7]), 1e-3);
}

BOOST_AUTO_TEST_CASE(db_tied_log_f_and_pb) {
    // A PF network with every parameter zero is the uniform policy, a zero tied PB head the
    // uniform PB, and a tied log F head with bias c the constant c: the shared-trunk path
    // must give the constant-log-F values.
    HyperGrid env(2, 3);
    auto pre = env.default_preprocessor();
    Trajectories tr = hand_batch(env);
    ParamStore store;
    Rng rng(6);
    auto pf = PolicyEstimator::mlp(env, *pre, false, store, NetConfig{8, 2, Activation::Tanh}, rng, "pf");
    auto pb = PolicyEstimator::tied(*pf, store, rng, "pb");
    auto logF = StateFlowEstimator::tied(*pf, store, rng, "logF");
    std::fill(store.values.begin(), store.values.end(), 0.f);
    store.value(param_id(store, "logF.out.bias")).data[0] = -0.3f;
    DBGFlowNet db(pf.get(), pb.get(), logF.get());
    expect_reductions(db, tr, db_constant(-0.3), "DB tied");
    Tape tape;
    expect_values(db.transition_scores(tape, detached(env, tr)), db_constant(-0.3), 1e-5, "DB tied, detached");
}

BOOST_AUTO_TEST_CASE(db_custom_log_rewards_and_clip) {
    // Custom values c_i replace the targets of the exit rows k0 (τ0), k3 (τ1), k7 (τ2).
    HyperGrid env(2, 3);
    auto pre = env.default_preprocessor();
    Trajectories tr = hand_batch(env);
    auto pf = PolicyEstimator::uniform(env, false);
    auto pb = PolicyEstimator::uniform_pb(env);
    ParamStore store;
    auto logF = linear_log_f(env, *pre, store);
    DBGFlowNet db(pf.get(), pb.get(), logF.get());
    const float custom[3] = {0.3f, -1.2f, 2.0f};
    Vec want = db_linear();
    want[0] = F00 - L3 - double(0.3f);
    want[3] = F10 - L3 - double(-1.2f);
    want[7] = F22 - double(2.0f);
    expect_reductions(db, tr, want, "DB custom log-rewards", custom);

    // log R = −inf: an error naming the option without a clip; clamped to −5 with one.
    const float zero_r[3] = {0.f, -INFINITY, 0.f};
    {
        Tape tape;
        try {
            db.loss(tape, tr, true, Reduction::Mean, zero_r);
            BOOST_ERROR("no error for log R = -inf");
        } catch (const std::domain_error& e) {
            BOOST_CHECK(std::string(e.what()).find("log_reward_clip_min") != std::string::npos);
        }
        const float nan_r[3] = {0.f, NAN, 0.f};
        BOOST_CHECK_THROW(db.loss(tape, tr, true, Reduction::Mean, nan_r), std::domain_error);
    }
    DBGFlowNet clipped(pf.get(), pb.get(), logF.get(), false, false, -5.f);
    want = db_linear();
    want[0] = F00 - L3;
    want[3] = F10 - L3 + 5.0;
    want[7] = F22;
    expect_reductions(clipped, tr, want, "DB clipped", zero_r);
    // The clip leaves log R above it alone: log 0.1 > −5.
    expect_reductions(clipped, tr, db_linear(), "DB clip above");
    DBGFlowNet clip_high(pf.get(), pb.get(), logF.get(), false, false, -1.f);  // log 0.1 < −1 < log 0.6
    want = db_linear();
    want[3] = F10 - L3 + 1.0;
    expect_reductions(clip_high, tr, want, "DB clip -1");
}

BOOST_AUTO_TEST_CASE(db_forward_looking_by_hand) {
    HyperGrid env(2, 3);
    auto pre = env.default_preprocessor();
    Trajectories tr = hand_batch(env);
    auto pf = PolicyEstimator::uniform(env, false);
    auto pb = PolicyEstimator::uniform_pb(env);
    ParamStore store;
    auto logF = linear_log_f(env, *pre, store);
    DBGFlowNet fl(pf.get(), pb.get(), logF.get(), true);
    BOOST_CHECK(fl.forward_looking);
    BOOST_CHECK_CLOSE(db_forward_looking()[1], -0.1 - L3 + L6, 1e-9);
    BOOST_CHECK_CLOSE(db_forward_looking()[5], -0.2 + L6, 1e-9);
    expect_reductions(fl, tr, db_forward_looking(), "forward-looking DB");
    Tape tape;
    expect_values(fl.transition_scores(tape, detached(env, tr)), db_forward_looking(), 1e-5,
                  "forward-looking DB, detached");
    // A clip at −2 lifts log 0.1 (≈ −2.303) to −2 in every state reward: the exit rows
    // keep f(x) + log PF(exit|x); a non-exit row gains (−2 − log 0.1) when s has R = 0.1
    // and loses it when s' has.
    DBGFlowNet clipped(pf.get(), pb.get(), logF.get(), true, false, -2.f);
    const double d = -2.0 - LR01;
    Vec want = db_forward_looking();
    want[1] -= d;  // s' = (1,0)
    want[2] -= d;
    want[4] += d;  // s = (1,0)
    want[5] -= d;  // s' = (2,1)
    want[6] += d;  // s = (2,1)
    expect_reductions(clipped, tr, want, "forward-looking DB clipped");
    // Transitions built without state rewards are refused.
    expect_invalid_argument([&] { fl.loss_on_transitions(tape, transitions_from(env, tr, false)); },
                            {"forward-looking", "state rewards"}, "forward-looking without state rewards");
}

// ---------------------------------------------------------------------------
// ModifiedDB: hand-worked values

BOOST_AUTO_TEST_CASE(modified_db_by_hand) {
    HyperGrid env(2, 3);
    Trajectories tr = hand_batch(env);
    auto pf = PolicyEstimator::uniform(env, false);
    auto pb = PolicyEstimator::uniform_pb(env);
    ModifiedDBGFlowNet mdb(pf.get(), pb.get());
    BOOST_CHECK_EQUAL(mdb.name(), "modified_db");
    BOOST_CHECK(mdb.loss_fn.kind == LossKind::Squared);
    BOOST_CHECK(std::isinf(mdb.log_reward_clip_min));
    BOOST_CHECK_CLOSE(modified_db()[0], L6 - L3, 1e-9);
    BOOST_CHECK_CLOSE(modified_db()[2], -L6 - L2, 1e-9);
    BOOST_CHECK_CLOSE(modified_db()[3], L6, 1e-9);
    BOOST_CHECK_CLOSE(modified_db()[4], -L6 + L2, 1e-9);
    expect_reductions(mdb, tr, modified_db(), "ModifiedDB");
    Tape tape;
    expect_values(mdb.transition_scores(tape, detached(env, tr)), modified_db(), 1e-5, "ModifiedDB, detached");
    ModifiedDBGFlowNet tree(pf.get(), nullptr, true);
    expect_reductions(tree, tr, modified_db(true), "ModifiedDB constant PB");
    // Tied, all-zero networks are the uniform policies: the shared-trunk path.
    auto pre = env.default_preprocessor();
    ParamStore store;
    Rng rng(8);
    auto pf_net = PolicyEstimator::mlp(env, *pre, false, store, NetConfig{8, 2, Activation::Tanh}, rng, "pf");
    auto pb_tied = PolicyEstimator::tied(*pf_net, store, rng, "pb");
    std::fill(store.values.begin(), store.values.end(), 0.f);
    ModifiedDBGFlowNet tied(pf_net.get(), pb_tied.get());
    expect_reductions(tied, tr, modified_db(), "ModifiedDB tied");
}

BOOST_AUTO_TEST_CASE(modified_db_no_non_exit_transitions) {
    // Only τ0 (exit at s_0): nothing to balance, loss 0; none gives no values.
    HyperGrid env(2, 3);
    Trajectories tr;
    tr.allocate(2, 1, 2, 0);
    for (int i = 0; i < 2; ++i) {
        tr.lengths[size_t(i)] = 1;
        tr.state(0, i)[0] = tr.state(0, i)[1] = 0;
        tr.actions[size_t(i)] = 2;
    }
    tr.index_steps();
    compute_log_rewards(env, tr);
    auto pf = PolicyEstimator::uniform(env, false);
    ModifiedDBGFlowNet mdb(pf.get(), nullptr, true);
    Tape tape;
    BOOST_CHECK_EQUAL(mdb.loss(tape, tr).item(), 0.f);
    BOOST_CHECK_EQUAL(mdb.loss(tape, tr, true, Reduction::Sum).item(), 0.f);
    BOOST_CHECK_EQUAL(mdb.loss(tape, tr, true, Reduction::None).rows(), 0);
}

// ---------------------------------------------------------------------------
// Gradient checks (central differences over the whole parameter slab, log F included)

BOOST_AUTO_TEST_CASE(db_gradients) {
    Model m(false, Model::Pb::Mlp, false);
    DBGFlowNet db(m.pf.get(), m.pb.get(), m.logF.get());
    expect_grads(db, m.batch, {m.all(), m.log_f_target()}, Reduction::Mean, "DB mean");
    expect_grads(db, m.batch, {m.all(), m.log_f_target()}, Reduction::None, "DB none");
    DBGFlowNet cosh(m.pf.get(), m.pb.get(), m.logF.get(), false, false, kNoClip,
                    RegressionLoss(LossKind::ShiftedCosh));
    expect_grads(cosh, m.batch, {m.all(), m.log_f_target()}, Reduction::Sum, "DB shifted_cosh sum");
    DBGFlowNet tree(m.pf.get(), nullptr, m.logF.get(), false, true);
    expect_grads(tree, m.batch, {m.all()}, Reduction::Mean, "DB constant PB");
    // The replay-buffer path.
    Transitions d = detached(*m.env, m.batch);
    expect_grads([&](Tape& t) { return db.loss_on_transitions(t, d); }, {m.all(), m.log_f_target()},
                 "DB on detached transitions");
}

BOOST_AUTO_TEST_CASE(db_tied_gradients) {
    Model m(false, Model::Pb::Tied, true);
    BOOST_CHECK(m.logF->is_tied());
    DBGFlowNet db(m.pf.get(), m.pb.get(), m.logF.get());
    expect_grads(db, m.batch, {m.all(), m.log_f_target()}, Reduction::Mean, "DB tied mean");
    expect_grads(db, m.batch, {m.all()}, Reduction::None, "DB tied none");
    Transitions d = detached(*m.env, m.batch);
    expect_grads([&](Tape& t) { return db.loss_on_transitions(t, d); }, {m.all(), m.log_f_target()},
                 "DB tied on detached transitions");
    // A tied log F with a separate PB network.
    Model s(false, Model::Pb::Mlp, true, 10, 4);
    DBGFlowNet db2(s.pf.get(), s.pb.get(), s.logF.get());
    expect_grads(db2, s.batch, {s.all(), s.log_f_target()}, Reduction::Mean, "DB tied log F, MLP PB");
}

BOOST_AUTO_TEST_CASE(db_forward_looking_gradients) {
    Model m(false, Model::Pb::Mlp, false);
    DBGFlowNet fl(m.pf.get(), m.pb.get(), m.logF.get(), true);
    expect_grads(fl, m.batch, {m.all(), m.log_f_target()}, Reduction::Mean, "forward-looking DB mean");
    expect_grads(fl, m.batch, {m.all()}, Reduction::None, "forward-looking DB none");
    Model t(false, Model::Pb::Tied, true, 10, 5);
    DBGFlowNet fl_tied(t.pf.get(), t.pb.get(), t.logF.get(), true);
    expect_grads(fl_tied, t.batch, {t.all(), t.log_f_target()}, Reduction::Mean, "forward-looking DB tied");
}

BOOST_AUTO_TEST_CASE(conditional_db_gradients) {
    // log F(s | c): a head on the conditional PF's trunk.
    Model m(true, Model::Pb::Mlp, true);
    BOOST_CHECK_EQUAL(m.batch.condition_dim, 1);
    DBGFlowNet db(m.pf.get(), m.pb.get(), m.logF.get());
    expect_grads(db, m.batch, {m.all(), m.log_f_target()}, Reduction::Mean, "conditional DB mean");
    DBGFlowNet fl(m.pf.get(), m.pb.get(), m.logF.get(), true);
    expect_grads(fl, m.batch, {m.all()}, Reduction::Mean, "conditional forward-looking DB");
    ModifiedDBGFlowNet mdb(m.pf.get(), m.pb.get());
    expect_grads(mdb, m.batch, {m.all()}, Reduction::Mean, "conditional ModifiedDB");
}

BOOST_AUTO_TEST_CASE(modified_db_gradients) {
    Model m(false, Model::Pb::Mlp, false);
    ModifiedDBGFlowNet mdb(m.pf.get(), m.pb.get());
    expect_grads(mdb, m.batch, {m.all()}, Reduction::Mean, "ModifiedDB mean");
    expect_grads(mdb, m.batch, {m.all()}, Reduction::None, "ModifiedDB none");
    ModifiedDBGFlowNet tree(m.pf.get(), nullptr, true, RegressionLoss(LossKind::Linex, 0.5f));
    expect_grads(tree, m.batch, {m.all()}, Reduction::Sum, "ModifiedDB constant PB, linex");
    Transitions d = detached(*m.env, m.batch);
    expect_grads([&](Tape& t) { return mdb.loss_on_transitions(t, d); }, {m.all()},
                 "ModifiedDB on detached transitions");
    Model t(false, Model::Pb::Tied, false, 10, 6);
    ModifiedDBGFlowNet tied(t.pf.get(), t.pb.get());
    expect_grads(tied, t.batch, {t.all()}, Reduction::Mean, "ModifiedDB tied PB");
}

// ---------------------------------------------------------------------------
// On-policy reuse of saved log-probabilities

BOOST_AUTO_TEST_CASE(on_policy_reuse) {
    for (Model::Pb kind : {Model::Pb::Mlp, Model::Pb::Tied}) {
        for (bool tied_f : {false, true}) {
            const std::string what = std::string(kind == Model::Pb::Tied ? "tied PB" : "MLP PB") +
                                     (tied_f ? ", tied log F" : ", MLP log F");
            Model m(false, kind, tied_f);
            DBGFlowNet db(m.pf.get(), m.pb.get(), m.logF.get());
            DBGFlowNet fl(m.pf.get(), m.pb.get(), m.logF.get(), true);
            ModifiedDBGFlowNet mdb(m.pf.get(), m.pb.get());
            for (const GFlowNet* g : std::vector<const GFlowNet*>{&db, &fl, &mdb}) {
                Rng rng(31);
                Tape tape;
                SampleRequest req;
                req.n = 24;
                req.save_log_probs = true;
                Trajectories batch;
                sample_trajectories(*m.env, *m.pf, m.pb.get(), req, rng, tape, batch);
                BOOST_REQUIRE(batch.saved_log_pf.valid());
                BOOST_CHECK_EQUAL(batch.saved_log_pb.valid(), kind == Model::Pb::Tied);
                LossAndGrad saved = loss_and_grad(tape, *g, batch, m.store, false);
                LossAndGrad half = loss_and_grad(tape, *g, batch, m.store, true);  // PF recomputed
                batch.drop_saved();
                Tape fresh;
                LossAndGrad recomputed = loss_and_grad(fresh, *g, batch, m.store, true);
                const std::string w = g->name() + (g == &fl ? " forward-looking, " : ", ") + what;
                BOOST_CHECK_CLOSE(saved.loss, recomputed.loss, 1e-3);
                BOOST_CHECK_CLOSE(half.loss, recomputed.loss, 1e-3);
                expect_same_grads(saved.grad, recomputed.grad, w + ", saved");
                expect_same_grads(half.grad, recomputed.grad, w + ", recomputed PF");
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(saved_log_pf_is_the_behaviour_policy) {
    // Sampled at temperature 2: recalculate = false scores DB with the tempered log PF.
    Model m(false, Model::Pb::Uniform, false);
    DBGFlowNet db(m.pf.get(), m.pb.get(), m.logF.get());
    Rng rng(13);
    Tape tape;
    SampleRequest req;
    req.n = 16;
    req.save_log_probs = true;
    req.exploration.temperature = 2.f;
    Trajectories batch;
    sample_trajectories(*m.env, *m.pf, nullptr, req, rng, tape, batch);
    Transitions t = transitions_from(*m.env, batch, false);
    Vec with_saved = values(db.transition_scores(tape, t, false));
    Vec fresh = values(db.transition_scores(tape, t, true));
    Vec lpf_saved = values(batch.saved_log_pf);
    Vec lpf_fresh = values(evaluate_log_probs(tape, batch, *m.pf, nullptr, true).log_pf);
    // The residuals differ exactly by the log PF difference.
    double diff = 0.0;
    for (int k = 0; k < t.n; ++k) {
        BOOST_CHECK_SMALL(with_saved[size_t(k)] - fresh[size_t(k)] - (lpf_saved[size_t(k)] - lpf_fresh[size_t(k)]),
                          1e-4);
        diff += std::fabs(lpf_saved[size_t(k)] - lpf_fresh[size_t(k)]);
    }
    BOOST_CHECK_MESSAGE(diff > 0.1, "tempered and untempered log PF agree (diff " << diff << ")");
}

// ---------------------------------------------------------------------------
// Errors

BOOST_AUTO_TEST_CASE(construction_errors) {
    HyperGrid env(2, 3);
    auto pre = env.default_preprocessor();
    auto pf = PolicyEstimator::uniform(env, false);
    auto pb = PolicyEstimator::uniform_pb(env);
    ParamStore store;
    auto logF = constant_log_f(env, *pre, store, 0.f);
    expect_invalid_argument([&] { DBGFlowNet(pf.get(), pb.get(), nullptr); }, {"DB", "logF"}, "DB without log F");
    BOOST_CHECK_THROW(DBGFlowNet(pf.get(), nullptr, logF.get()), std::invalid_argument);  // PB absent
    BOOST_CHECK_NO_THROW(DBGFlowNet(pf.get(), nullptr, logF.get(), false, true));
    BOOST_CHECK_THROW(DBGFlowNet(pb.get(), pb.get(), logF.get()), std::invalid_argument);  // PF is backward
    BOOST_CHECK_THROW(DBGFlowNet(pf.get(), pb.get(), logF.get(), false, false, NAN), std::invalid_argument);
    BOOST_CHECK_THROW(ModifiedDBGFlowNet(pf.get(), nullptr), std::invalid_argument);
    BOOST_CHECK_THROW(ModifiedDBGFlowNet(pf.get(), pf.get()), std::invalid_argument);  // PB is forward
    BOOST_CHECK_NO_THROW(ModifiedDBGFlowNet(pf.get(), nullptr, true));
    // ModifiedDB has no custom log-rewards.
    Trajectories tr = hand_batch(env);
    ModifiedDBGFlowNet mdb(pf.get(), pb.get());
    const float custom[3] = {0.f, 0.f, 0.f};
    Tape tape;
    expect_invalid_argument([&] { mdb.loss(tape, tr, true, Reduction::Mean, custom); }, {"ModifiedDB", "log_rewards"},
                            "ModifiedDB with custom log-rewards");
    // Non-finite state rewards: ModifiedDB does not clip.
    Transitions t = transitions_from(env, tr);
    t.next_log_rewards[1] = -INFINITY;
    BOOST_CHECK_THROW(mdb.loss_on_transitions(tape, t), std::domain_error);
}

BOOST_AUTO_TEST_CASE(not_terminating_states_are_refused) {
    // DiscreteEBM: s_0 and the half-set states have no exit.
    DiscreteEBM env(3);
    auto pre = env.default_preprocessor();
    auto pf = PolicyEstimator::uniform(env, false);
    auto pb = PolicyEstimator::uniform_pb(env);
    ParamStore store;
    Rng rng(9);
    auto logF = StateFlowEstimator::mlp(env, *pre, store, NetConfig{8, 2, Activation::Tanh}, rng, "logF");
    Tape tape;
    SampleRequest req;
    req.n = 6;
    Trajectories batch;
    sample_trajectories(env, *pf, nullptr, req, rng, tape, batch);

    ModifiedDBGFlowNet mdb(pf.get(), pb.get());
    expect_invalid_argument([&] { mdb.loss(tape, batch); }, {"ModifiedDB", "discrete_ebm", "not terminating"},
                            "ModifiedDB on DiscreteEBM");
    DBGFlowNet fl(pf.get(), pb.get(), logF.get(), true);
    expect_invalid_argument([&] { fl.loss(tape, batch); }, {"forward-looking", "discrete_ebm", "not terminating"},
                            "forward-looking DB on DiscreteEBM");
    // Plain DB needs no reward at non-terminating states.
    DBGFlowNet db(pf.get(), pb.get(), logF.get());
    Var l = db.loss(tape, batch);
    BOOST_CHECK(std::isfinite(l.item()));
    BOOST_CHECK_EQUAL(db.loss(tape, batch, true, Reduction::None).rows(), batch.n_steps());
}

// ---------------------------------------------------------------------------
// A short on-policy run: DB and ModifiedDB both move the exact terminating distribution of
// PF toward R/Z on HyperGrid(2, 4) (a sanity check, not a quality target).

BOOST_AUTO_TEST_CASE(short_training_run_improves) {
    for (int which = 0; which < 3; ++which) {
        HyperGrid env(2, 4);
        auto pre = env.default_preprocessor();
        ParamStore store;
        Rng rng(100 + unsigned(which));
        NetConfig cfg{32, 2, Activation::Relu};
        auto pf = PolicyEstimator::mlp(env, *pre, false, store, cfg, rng, "pf");
        auto pb = PolicyEstimator::mlp(env, *pre, true, store, cfg, rng, "pb");
        auto logF = StateFlowEstimator::mlp(env, *pre, store, cfg, rng, "logF");
        std::unique_ptr<GFlowNet> g;
        if (which == 0) g = std::make_unique<DBGFlowNet>(pf.get(), pb.get(), logF.get());
        if (which == 1) g = std::make_unique<DBGFlowNet>(pf.get(), pb.get(), logF.get(), true);
        if (which == 2) g = std::make_unique<ModifiedDBGFlowNet>(pf.get(), pb.get());
        TargetDistribution target = true_distribution(env);
        auto exact_l1 = [&] {
            PolicyFn fn = [&](const int* s, int n, float* out) {
                Tape t;
                NoGrad ng(t);
                Var lp = pf->log_probs(t, s, nullptr, n);
                std::copy(lp.value().data, lp.value().data + lp.value().size(), out);
            };
            return l1_distance(exact_terminating_distribution(env, target, fn), target.prob);
        };
        const double before = exact_l1();
        Optimizer opt(store, OptimizerKind::Adam, {ParamGroup{1e-2f, 0.f}});
        Tape tape;
        for (int it = 0; it < 300; ++it) {
            tape.reset();
            SampleRequest req;
            req.n = 32;
            req.save_log_probs = true;
            Trajectories batch;
            sample_trajectories(env, *pf, nullptr, req, rng, tape, batch);
            opt.zero_grad();
            tape.backward(g->loss(tape, batch, false));
            opt.step();
        }
        const double after = exact_l1();
        BOOST_TEST_MESSAGE(g->name() << (which == 1 ? " (forward-looking)" : "") << ": exact l1 " << before << " -> "
                                     << after);
        BOOST_CHECK_MESSAGE(after < 0.5 * before && after < 0.25,
                            g->name() << " " << which << ": exact l1 " << before << " -> " << after);
    }
}

BOOST_AUTO_TEST_SUITE_END()
