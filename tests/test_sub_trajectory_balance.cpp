// test_sub_trajectory_balance.cpp — SubTB (gfn/objectives/sub_trajectory_balance.h): every weighting
// against hand-worked values on a hand-built batch, against an independent double-precision
// enumeration of sub-trajectories on sampled batches, the TB and DB weightings against TB and
// a DB computed here, the gradients against central differences (tests/gradcheck.h), on-policy
// reuse of saved log-probs, and the errors.
//
// The hand-built batch is the one of test_trajectory_balance.cpp, on HyperGrid(2, 3):
// R = 0.6 at the corners, 0.1 elsewhere; actions 0: x_0 + 1, 1: x_1 + 1, 2: exit.
//   τ0: (0,0) exit                                                 L = 1, R = 0.6
//   τ1: (0,0) -0-> (1,0) exit                                      L = 2, R = 0.1
//   τ2: (0,0) -0-> (1,0) -0-> (2,0) -1-> (2,1) -1-> (2,2) exit     L = 5, R = 0.6
// Uniform PF, log pf[t] at s_t: (0,0), (1,0): −log 3 (3 valid actions); (2,0), (2,1): −log 2;
// (2,2): 0 (exit only). Uniform PB, log pb[t] = log PB(s_t | s_{t+1}): (1,0), (2,0) have one
// parent (0), (2,1), (2,2) two (−log 2); 0 on the exit step. So per step
//   τ0: pf = [−L3]                     pb = [0]
//   τ1: pf = [−L3, −L3]                pb = [0, 0]
//   τ2: pf = [−L3, −L3, −L2, −L2, 0]   pb = [0, 0, −L2, −L2, 0]
// log F is linear in the K-hot input (an MLP with no hidden layer): weights
// (0, 0.5, −0.4 | 0, −0.2, 0.7) for x_0 = 0, 1, 2 | x_1 = 0, 1, 2 and bias 0.3, so
//   logF(0,0) = 0.3, logF(1,0) = 0.8, logF(2,0) = −0.1, logF(2,1) = −0.3, logF(2,2) = 0.6.
//
// The residual of sub-trajectory (j, k) is logF(s_j) + Σ_{j..k−1} (pf − pb) − target with
// target = log R at k = L, else logF(s_k). All 19 of them, worked out:
//   τ0  (0,1)  0.3 − L3 − log 0.6
//   τ1  (0,1)  0.3 − L3 − 0.8                = −0.5 − L3
//       (1,2)  0.8 − L3 − log 0.1
//       (0,2)  0.3 − 2 L3 − log 0.1
//   τ2  (0,1)  0.3 − L3 − 0.8                = −0.5 − L3
//       (1,2)  0.8 − L3 − (−0.1)             =  0.9 − L3
//       (2,3)  −0.1 + (−L2 + L2) − (−0.3)    =  0.2
//       (3,4)  −0.3 + (−L2 + L2) − 0.6       = −0.9
//       (4,5)  0.6 + 0 − log 0.6
//       (0,2)  0.3 − 2 L3 − (−0.1)           =  0.4 − 2 L3
//       (1,3)  0.8 − L3 + 0 − (−0.3)         =  1.1 − L3
//       (2,4)  −0.1 + 0 − 0.6                = −0.7
//       (3,5)  −0.3 + 0 − log 0.6
//       (0,3)  0.3 − 2 L3 − (−0.3)           =  0.6 − 2 L3
//       (1,4)  0.8 − L3 − 0.6                =  0.2 − L3
//       (2,5)  −0.1 − log 0.6
//       (0,4)  0.3 − 2 L3 − 0.6              = −0.3 − 2 L3
//       (1,5)  0.8 − L3 − log 0.6
//       (0,5)  0.3 − 2 L3 − log 0.6
// Weights (N = 3, λ = 0.9):
//   equal             1/19 (1 + 3 + 15 sub-trajectories)
//   equal_within      2/(n(n+1)·3): τ0 1/3, τ1 1/9, τ2 1/45
//   geometric_within  λ^{i−1} / (3 D_n), D_1 = 1, D_2 = 2 + λ = 2.9,
//                     D_5 = 5 + 4λ + 3λ² + 2λ³ + λ⁴ = 13.1441
//   geometric         λ^{i−1} / 4.0951 / c_i with 4.0951 = 1 + λ + λ² + λ³ + λ⁴ (T = 5) and
//                     c = (8, 5, 3, 2, 1) sub-trajectories of length 1..5
//   ModifiedDB        i = 1 only, 1/(3n): τ0 1/3, τ1 1/6, τ2 1/15
//   TB                (0, L) only, 1/3 under mean; sum and none reduce the unweighted g
//   DB                i = 1 only, mean over the 8 transitions
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
#include "envs/hypergrid.h"
#include "gfn/estimators/estimators.h"
#include "gfn/objectives/gflownet.h"
#include "gfn/estimators/preprocessors.h"
#include "gfn/objectives/regression_loss.h"
#include "gfn/samplers/sampler.h"
#include "gfn/objectives/sub_trajectory_balance.h"
#include "gfn/containers/trajectories.h"
#include "gfn/objectives/trajectory_balance.h"
#include "tests/gradcheck.h"
#include "tests/objective_fixtures.h"

using namespace gfn;
using namespace gfn::testing;

namespace {

const double L2 = std::log(2.0), L3 = std::log(3.0);
const double LR6 = std::log(0.6), LR1 = std::log(0.1);

using W = SubTBWeighting;
const std::vector<W> kAllWeightings = {W::DB, W::ModifiedDB, W::TB, W::Equal, W::EqualWithin,
                                       W::GeometricWithin, W::Geometric};

// log F linear in the K-hot input of HyperGrid(2, 3), as in the header comment.
std::unique_ptr<StateFlowEstimator> linear_log_f(const HyperGrid& env, const Preprocessor& pre, ParamStore& store) {
    Rng rng(9);
    auto f = StateFlowEstimator::mlp(env, pre, store, NetConfig{8, 0, Activation::Tanh}, rng, "logF");
    const std::vector<float> w = {0.f, 0.5f, -0.4f, 0.f, -0.2f, 0.7f};
    Tensor W = store.value(param_id(store, "logF.out.weight"));
    BOOST_REQUIRE_EQUAL(W.size(), w.size());
    std::copy(w.begin(), w.end(), W.data);
    store.value(param_id(store, "logF.out.bias")).data[0] = 0.3f;
    return f;
}

// ---- the hand table ---------------------------------------------------------------

struct HandSub {
    int traj, j, len;
    double r;
};
// The 19 residuals of the header comment, trajectory by trajectory, by length, by start.
const std::vector<HandSub> kHand = {
    {0, 0, 1, 0.3 - L3 - LR6},
    {1, 0, 1, -0.5 - L3}, {1, 1, 1, 0.8 - L3 - LR1}, {1, 0, 2, 0.3 - 2 * L3 - LR1},
    {2, 0, 1, -0.5 - L3}, {2, 1, 1, 0.9 - L3}, {2, 2, 1, 0.2}, {2, 3, 1, -0.9}, {2, 4, 1, 0.6 - LR6},
    {2, 0, 2, 0.4 - 2 * L3}, {2, 1, 2, 1.1 - L3}, {2, 2, 2, -0.7}, {2, 3, 2, -0.3 - LR6},
    {2, 0, 3, 0.6 - 2 * L3}, {2, 1, 3, 0.2 - L3}, {2, 2, 3, -0.1 - LR6},
    {2, 0, 4, -0.3 - 2 * L3}, {2, 1, 4, 0.8 - L3 - LR6},
    {2, 0, 5, 0.3 - 2 * L3 - LR6},
};
const int kHandLen[3] = {1, 2, 5};

// The hand weights of the header comment (0: not used by the weighting), λ = 0.9.
double hand_weight(W w, const HandSub& s) {
    const double lam = 0.9, n = kHandLen[s.traj];
    const double D[6] = {0, 1.0, 2.9, 0, 0, 13.1441};
    const double c[6] = {0, 8, 5, 3, 2, 1};
    switch (w) {
    case W::DB: return s.len == 1 ? 1.0 / 8.0 : 0.0;
    case W::ModifiedDB: return s.len == 1 ? 1.0 / (3.0 * n) : 0.0;
    case W::TB: return s.len == n ? 1.0 / 3.0 : 0.0;
    case W::Equal: return 1.0 / 19.0;
    case W::EqualWithin: return 2.0 / (n * (n + 1) * 3.0);
    case W::GeometricWithin: return std::pow(lam, s.len - 1) / (3.0 * D[int(n)]);
    case W::Geometric: return std::pow(lam, s.len - 1) / 4.0951 / c[s.len];
    }
    return 0.0;
}

// ---- an independent enumeration in double ----------------------------------------

// Per-trajectory step values read off the objective's estimators.
struct StepData {
    std::vector<Vec> pf, pb, f;  // [trajectory][t]
    Vec log_r;
    std::vector<std::pair<int, int>> steps;  // (i, t) in step order
};

StepData read_steps(const SubTBGFlowNet& g, const Trajectories& tr, const float* custom = nullptr) {
    Tape tape;
    StepLogProbs lp = evaluate_log_probs(tape, tr, *g.pf, g.pb, true);
    Vec pf = values(lp.log_pf), pb = lp.log_pb.valid() ? values(lp.log_pb) : Vec();
    Vec f = values(g.log_state_flows(tape, tr));
    StepData d;
    d.pf.resize(size_t(tr.n));
    d.pb.resize(size_t(tr.n));
    d.f.resize(size_t(tr.n));
    for (int i = 0; i < tr.n; ++i) {
        const size_t L = size_t(tr.lengths[size_t(i)]);
        d.pf[size_t(i)].assign(L, 0.0);
        d.pb[size_t(i)].assign(L, 0.0);
        d.f[size_t(i)].assign(L, 0.0);
    }
    for (int k = 0; k < tr.n_steps(); ++k) {
        const int i = tr.step_traj[size_t(k)], t = tr.step_t[size_t(k)];
        d.pf[size_t(i)][size_t(t)] = pf[size_t(k)];
        d.f[size_t(i)][size_t(t)] = f[size_t(k)];
        d.steps.push_back({i, t});
    }
    for (int k = 0; k < int(pb.size()); ++k)  // backward step (t, i) is PB(s_{t−1} | s_t)
        d.pb[size_t(tr.bstep_traj[size_t(k)])][size_t(tr.bstep_t[size_t(k)] - 1)] = pb[size_t(k)];
    for (int i = 0; i < tr.n; ++i) {
        double r = custom ? custom[i] : tr.log_rewards[size_t(i)];
        if (std::isfinite(g.log_reward_clip_min)) r = std::max(r, double(g.log_reward_clip_min));
        d.log_r.push_back(r);
    }
    return d;
}

double residual(const StepData& d, int i, int j, int k) {
    const Vec &pf = d.pf[size_t(i)], &pb = d.pb[size_t(i)], &f = d.f[size_t(i)];
    const int L = int(pf.size());
    double s = f[size_t(j)];
    for (int t = j; t < k; ++t) s += pf[size_t(t)] - pb[size_t(t)];
    return s - (k == L ? d.log_r[size_t(i)] : f[size_t(k)]);
}

// The loss by enumeration: the value (mean, sum) or values (none) the objective must give.
Vec brute_force(const StepData& d, W w, double lam, Reduction red, const RegressionLoss& g) {
    const int N = int(d.pf.size());
    int T = 0, n_trans = 0, n_sub = 0;
    for (const Vec& p : d.pf) {
        const int L = int(p.size());
        T = std::max(T, L);
        n_trans += L;
        n_sub += L * (L + 1) / 2;
    }
    std::vector<int> count(size_t(T) + 1, 0);
    for (const Vec& p : d.pf)
        for (int j = 0; j < int(p.size()); ++j)
            for (int k = j + 1; k <= int(p.size()); ++k) ++count[size_t(k - j)];
    double norm = 0.0;
    for (int i = 1; i <= T; ++i) norm += std::pow(lam, i - 1);

    if (w == W::DB) {
        Vec per;
        for (auto [i, t] : d.steps) per.push_back(g.eval(residual(d, i, t, t + 1)));
        if (red == Reduction::None) return per;
        return {red == Reduction::Sum ? vsum(per) : vsum(per) / double(n_trans)};
    }
    if (w == W::TB) {
        // As torchgfn: the reduction applies to the unweighted g of each full trajectory.
        Vec per;
        for (int i = 0; i < N; ++i) per.push_back(g.eval(residual(d, i, 0, int(d.pf[size_t(i)].size()))));
        if (red == Reduction::None) return per;
        return {red == Reduction::Sum ? vsum(per) : vsum(per) / double(N)};
    }
    Vec per(size_t(N), 0.0);
    for (int i = 0; i < N; ++i) {
        const int L = int(d.pf[size_t(i)].size());
        double within = 0.0;
        for (int len = 1; len <= L; ++len) within += (L - len + 1) * std::pow(lam, len - 1);
        for (int j = 0; j < L; ++j)
            for (int k = j + 1; k <= L; ++k) {
                const int len = k - j;
                double wt = 0.0;
                switch (w) {
                case W::ModifiedDB: wt = len == 1 ? 1.0 / (double(L) * N) : 0.0; break;
                case W::TB: wt = len == L ? 1.0 / N : 0.0; break;
                case W::Equal: wt = 1.0 / n_sub; break;
                case W::EqualWithin: wt = 2.0 / (double(L) * (L + 1) * N); break;
                case W::GeometricWithin: wt = std::pow(lam, len - 1) / (N * within); break;
                case W::Geometric: wt = std::pow(lam, len - 1) / norm / count[size_t(len)]; break;
                case W::DB: break;
                }
                per[size_t(i)] += wt * g.eval(residual(d, i, j, k));
            }
    }
    if (red == Reduction::None) return per;
    return {vsum(per)};
}

void expect_brute_force(const SubTBGFlowNet& g, const Trajectories& tr, const std::string& what,
                        const float* custom = nullptr, double tol = 2e-4) {
    const StepData d = read_steps(g, tr, custom);
    for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None}) {
        Tape tape;
        Var l = g.loss(tape, tr, true, r, custom);
        const Vec want = brute_force(d, g.weighting, g.lambda, r, g.loss_fn);
        if (r != Reduction::None) {
            BOOST_CHECK_EQUAL(l.rows(), 1);
            BOOST_CHECK_EQUAL(l.cols(), 1);
        }
        expect_values(l, want, tol,
                      what + " " + subtb_weighting_name(g.weighting) + " reduction " + std::to_string(int(r)));
    }
}

// ---- sampled batches and small networks ----------------------------------------------

struct Model {
    std::unique_ptr<HyperGrid> env;
    std::unique_ptr<Preprocessor> pre;
    ParamStore store;
    std::unique_ptr<PolicyEstimator> pf, pb;
    std::unique_ptr<StateFlowEstimator> log_f;
    Trajectories batch;

    using Pb = PbKind;
    // A conditional model's log F is a head on PF's trunk (the only conditional log F).
    Model(bool conditional, Pb pb_kind, bool tied_log_f = false, int n = 10, unsigned seed = 3, int height = 4) {
        env = conditional ? std::make_unique<ConditionalHyperGrid>(2, height) : std::make_unique<HyperGrid>(2, height);
        pre = env->default_preprocessor();
        Rng rng(seed);
        NetConfig cfg{8, 2, Activation::Tanh};
        make_pf_pb(*env, *pre, conditional, pb_kind, store, cfg, rng, pf, pb);
        if (conditional || tied_log_f) log_f = StateFlowEstimator::tied(*pf, store, rng, "logF");
        else log_f = StateFlowEstimator::mlp(*env, *pre, store, cfg, rng, "logF");
        Tape tape;
        SampleRequest req;
        req.n = n;
        sample_trajectories(*env, *pf, nullptr, req, rng, tape, batch);
    }
    GradTarget all() { return GradTarget{"params", store.values.data(), store.grads.data(), store.size()}; }
};

// The hand objects: uniform PF and PB, linear log F.
struct Hand {
    HyperGrid env{2, 3};
    std::unique_ptr<Preprocessor> pre = env.default_preprocessor();
    ParamStore store;
    std::unique_ptr<PolicyEstimator> pf = PolicyEstimator::uniform(env, false);
    std::unique_ptr<PolicyEstimator> pb = PolicyEstimator::uniform_pb(env);
    std::unique_ptr<StateFlowEstimator> log_f = linear_log_f(env, *pre, store);
    Trajectories tr = hand_batch(env);
};

}  // namespace

BOOST_AUTO_TEST_SUITE(sub_trajectory_balance)

// ---------------------------------------------------------------------------
// Hand-worked values

BOOST_AUTO_TEST_CASE(weighting_names) {
    for (W w : kAllWeightings) BOOST_CHECK(subtb_weighting_from_string(subtb_weighting_name(w)) == w);
    BOOST_CHECK(subtb_weighting_from_string("geometric_within") == W::GeometricWithin);
    BOOST_CHECK(subtb_weighting_from_string("ModifiedDB") == W::ModifiedDB);
}

BOOST_AUTO_TEST_CASE(hand_log_flows_and_residuals) {
    Hand h;
    SubTBGFlowNet g(h.pf.get(), h.pb.get(), h.log_f.get());
    BOOST_CHECK(g.weighting == W::GeometricWithin);
    BOOST_CHECK_CLOSE(g.lambda, 0.9f, 1e-6);
    BOOST_CHECK(g.loss_fn.kind == LossKind::Squared);
    BOOST_CHECK(!g.forward_looking);
    BOOST_CHECK_CLOSE(g.log_z(), 0.3, 1e-4);  // log F(s_0)

    Tape tape;
    // Steps in time-major order: τ0 (0,0); τ1 (0,0); τ2 (0,0); τ1 (1,0); τ2 (1,0); τ2 (2,0), (2,1), (2,2).
    expect_values(g.log_state_flows(tape, h.tr), {0.3, 0.3, 0.3, 0.8, 0.8, -0.1, -0.3, 0.6}, 1e-6, "log F");

    SubTrajectoryResiduals s = g.residuals(tape, h.tr);
    BOOST_REQUIRE_EQUAL(s.residuals.rows(), 19);
    BOOST_REQUIRE_EQUAL(s.traj.size(), 19u);
    const Vec r = values(s.residuals);
    for (size_t k = 0; k < kHand.size(); ++k) {
        BOOST_CHECK_EQUAL(s.traj[k], kHand[k].traj);
        BOOST_CHECK_EQUAL(s.start[k], kHand[k].j);
        BOOST_CHECK_EQUAL(s.length[k], kHand[k].len);
        BOOST_CHECK_MESSAGE(std::fabs(r[k] - kHand[k].r) < 1e-5,
                            "residual " << k << ": got " << r[k] << ", want " << kHand[k].r);
        BOOST_CHECK_CLOSE(s.weights[k], hand_weight(W::GeometricWithin, kHand[k]), 1e-3);
    }
    BOOST_CHECK_CLOSE(vsum(s.weights), 1.0, 1e-9);
}

BOOST_AUTO_TEST_CASE(every_weighting_by_hand) {
    Hand h;
    for (W w : kAllWeightings) {
        SubTBGFlowNet g(h.pf.get(), h.pb.get(), h.log_f.get(), 0.9f, w);
        const std::string what = "hand " + subtb_weighting_name(w);
        // Σ w r² over the hand table, and per trajectory.
        Vec per(3, 0.0);
        double total = 0.0, weight_sum = 0.0;
        for (const HandSub& s : kHand) {
            const double c = hand_weight(w, s) * s.r * s.r;
            per[size_t(s.traj)] += c;
            total += c;
            weight_sum += hand_weight(w, s);
        }
        BOOST_CHECK_CLOSE(weight_sum, 1.0, 1e-3);
        Tape tape;
        expect_values(g.loss(tape, h.tr), {total}, 1e-5, what + " mean");
        if (w == W::DB) {
            // The 8 transitions in step order, reduced as usual.
            const Vec r = {0.3 - L3 - LR6, -0.5 - L3, -0.5 - L3, 0.8 - L3 - LR1, 0.9 - L3, 0.2, -0.9, 0.6 - LR6};
            Vec sq;
            for (double x : r) sq.push_back(x * x);
            expect_values(g.loss(tape, h.tr, true, Reduction::Sum), {vsum(sq)}, 1e-5, what + " sum");
            expect_values(g.loss(tape, h.tr, true, Reduction::None), sq, 1e-5, what + " none");
            BOOST_CHECK_CLOSE(total, vsum(sq) / 8.0, 1e-6);
        } else if (w == W::TB) {
            // Reduced unweighted: sum = N × mean, none = g per trajectory (tb_weighting_reductions).
            expect_values(g.loss(tape, h.tr, true, Reduction::Sum), {3.0 * total}, 1e-5, what + " sum");
            for (double& x : per) x *= 3.0;
            expect_values(g.loss(tape, h.tr, true, Reduction::None), per, 1e-5, what + " none");
        } else {
            expect_values(g.loss(tape, h.tr, true, Reduction::Sum), {total}, 1e-5, what + " sum");
            Var none = g.loss(tape, h.tr, true, Reduction::None);
            BOOST_CHECK_EQUAL(none.cols(), 1);
            expect_values(none, per, 1e-5, what + " none");
        }
        // The same number from the enumeration.
        expect_brute_force(g, h.tr, "hand");
    }
}

BOOST_AUTO_TEST_CASE(hand_numbers) {
    // A few totals written out, squared loss, λ = 0.9:
    //   TB:  (1/3)[(0.3 − L3 − log 0.6)² + (0.3 − 2L3 − log 0.1)² + (0.3 − 2L3 − log 0.6)²]
    //   ModifiedDB: (1/3)(0.3 − L3 − log 0.6)² + (1/6)[(−0.5 − L3)² + (0.8 − L3 − log 0.1)²]
    //               + (1/15)[(−0.5 − L3)² + (0.9 − L3)² + 0.2² + 0.9² + (0.6 − log 0.6)²]
    Hand h;
    const double a = 0.3 - L3 - LR6, b = 0.3 - 2 * L3 - LR1, c = 0.3 - 2 * L3 - LR6;
    const double tb = (a * a + b * b + c * c) / 3.0;
    const double mdb = a * a / 3.0 + (std::pow(-0.5 - L3, 2) + std::pow(0.8 - L3 - LR1, 2)) / 6.0 +
                       (std::pow(-0.5 - L3, 2) + std::pow(0.9 - L3, 2) + 0.04 + 0.81 + std::pow(0.6 - LR6, 2)) / 15.0;
    BOOST_CHECK_CLOSE(tb, 0.72308012, 1e-5);  // a = −0.28779, b = 0.40536, c = −1.38640
    Tape tape;
    SubTBGFlowNet g_tb(h.pf.get(), h.pb.get(), h.log_f.get(), 0.9f, W::TB);
    SubTBGFlowNet g_mdb(h.pf.get(), h.pb.get(), h.log_f.get(), 0.9f, W::ModifiedDB);
    BOOST_CHECK_CLOSE(double(g_tb.loss(tape, h.tr).item()), tb, 1e-3);
    BOOST_CHECK_CLOSE(double(g_mdb.loss(tape, h.tr).item()), mdb, 1e-3);
}

BOOST_AUTO_TEST_CASE(geometric_lambda) {
    // λ = 0.5: geometric_within divides by D_1 = 1, D_2 = 2 + 1/2 = 2.5,
    // D_5 = 5 + 4/2 + 3/4 + 2/8 + 1/16 = 8.0625; geometric normalises the lengths by
    // 1 + 1/2 + 1/4 + 1/8 + 1/16 = 1.9375.
    Hand h;
    const double D[6] = {0, 1.0, 2.5, 0, 0, 8.0625}, c[6] = {0, 8, 5, 3, 2, 1};
    double lw = 0.0, lg = 0.0;
    Vec per_length(6, 0.0);
    for (const HandSub& s : kHand) {
        const double p = std::pow(0.5, s.len - 1);
        lw += p / (3.0 * D[kHandLen[s.traj]]) * s.r * s.r;
        lg += p / 1.9375 / c[s.len] * s.r * s.r;
        per_length[size_t(s.len)] += s.r * s.r / c[s.len];
    }
    SubTBGFlowNet gw(h.pf.get(), h.pb.get(), h.log_f.get(), 0.5f, W::GeometricWithin);
    SubTBGFlowNet ge(h.pf.get(), h.pb.get(), h.log_f.get(), 0.5f, W::Geometric);
    Tape tape;
    expect_values(gw.loss(tape, h.tr), {lw}, 1e-5, "geometric_within λ = 0.5");
    expect_values(ge.loss(tape, h.tr), {lg}, 1e-5, "geometric λ = 0.5");

    // λ = 1: geometric_within is equal_within, geometric the plain mean over the 5 lengths
    // of the per-length means.
    SubTBGFlowNet w1(h.pf.get(), h.pb.get(), h.log_f.get(), 1.f, W::GeometricWithin);
    SubTBGFlowNet eq(h.pf.get(), h.pb.get(), h.log_f.get(), 1.f, W::EqualWithin);
    SubTBGFlowNet g1(h.pf.get(), h.pb.get(), h.log_f.get(), 1.f, W::Geometric);
    for (Reduction r : {Reduction::Mean, Reduction::Sum, Reduction::None})
        expect_values(w1.loss(tape, h.tr, true, r), values(eq.loss(tape, h.tr, true, r)), 1e-6,
                      "geometric_within λ = 1 is equal_within");
    expect_values(g1.loss(tape, h.tr), {vsum(per_length) / 5.0}, 1e-5, "geometric λ = 1");
    expect_brute_force(g1, h.tr, "λ = 1");
    expect_brute_force(w1, h.tr, "λ = 1");
}

BOOST_AUTO_TEST_CASE(forward_looking_by_hand) {
    // log F(s) = logF̃(s) + log R(s): log R is log 0.6 at (0,0), (2,0), (2,2) and log 0.1 at
    // (1,0), (2,1). The exit residual becomes logF̃(x) + log pf(exit | x): τ0 0.3 − L3,
    // τ2 (4,5) 0.6; an inner one, τ2 (2,3): (−0.1 + log 0.6) + 0 − (−0.3 + log 0.1).
    Hand h;
    SubTBGFlowNet g(h.pf.get(), h.pb.get(), h.log_f.get(), 0.9f, W::Equal, true);
    BOOST_CHECK_CLOSE(g.log_z(), 0.3 + LR6, 1e-4);
    Tape tape;
    expect_values(g.log_state_flows(tape, h.tr),
                  {0.3 + LR6, 0.3 + LR6, 0.3 + LR6, 0.8 + LR1, 0.8 + LR1, -0.1 + LR6, -0.3 + LR1, 0.6 + LR6}, 1e-6,
                  "forward-looking log F");
    const Vec r = values(g.residuals(tape, h.tr).residuals);
    BOOST_CHECK_CLOSE(r[0], 0.3 - L3, 1e-3);
    BOOST_CHECK_CLOSE(r[8], 0.6, 1e-3);
    BOOST_CHECK_CLOSE(r[6], 0.2 + LR6 - LR1, 1e-3);
    for (W w : kAllWeightings) {
        SubTBGFlowNet gw(h.pf.get(), h.pb.get(), h.log_f.get(), 0.9f, w, true);
        expect_brute_force(gw, h.tr, "forward-looking");
    }
}

BOOST_AUTO_TEST_CASE(custom_log_rewards_and_clip) {
    // The custom values replace log R in the targets: the TB-weighted residuals become
    // 0.3 + Σ (pf − pb) − c_i = 0.3 − L3 − c_0, 0.3 − 2 L3 − c_1, 0.3 − 2 L3 − c_2.
    Hand h;
    const float custom[3] = {0.3f, -1.2f, 2.0f};
    const double c[3] = {0.3f, -1.2f, 2.0f};
    SubTBGFlowNet tb(h.pf.get(), h.pb.get(), h.log_f.get(), 0.9f, W::TB);
    Tape tape;
    expect_values(tb.residuals(tape, h.tr, true, custom).residuals,
                  {0.3 - L3 - c[0], 0.3 - 2 * L3 - c[1], 0.3 - 2 * L3 - c[2]}, 1e-5, "custom TB residuals");
    for (W w : kAllWeightings) {
        SubTBGFlowNet g(h.pf.get(), h.pb.get(), h.log_f.get(), 0.9f, w);
        expect_brute_force(g, h.tr, "custom", custom);
    }
    BOOST_CHECK_CLOSE(h.tr.log_rewards[1], LR1, 1e-4);  // the batch is untouched

    // Clipping at −2: log 0.1 = −2.303 becomes −2 in every terminal target; −inf becomes −2.
    SubTBGFlowNet clipped(h.pf.get(), h.pb.get(), h.log_f.get(), 0.9f, W::GeometricWithin, false, false, -2.f);
    SubTBGFlowNet plain(h.pf.get(), h.pb.get(), h.log_f.get(), 0.9f, W::GeometricWithin);
    const float at_clip[3] = {float(LR6), -2.f, float(LR6)}, zero[3] = {float(LR6), -INFINITY, float(LR6)};
    const double want = double(plain.loss(tape, h.tr, true, Reduction::Mean, at_clip).item());
    BOOST_CHECK_CLOSE(double(clipped.loss(tape, h.tr).item()), want, 1e-4);
    BOOST_CHECK_CLOSE(double(clipped.loss(tape, h.tr, true, Reduction::Mean, zero).item()), want, 1e-4);
    expect_brute_force(clipped, h.tr, "clipped");
    // R = 0 without a clip: an error naming the option.
    try {
        plain.loss(tape, h.tr, true, Reduction::Mean, zero);
        BOOST_ERROR("no error for log R = -inf");
    } catch (const std::domain_error& e) {
        BOOST_CHECK(std::string(e.what()).find("log_reward_clip_min") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(each_loss_fn) {
    Hand h;
    for (RegressionLoss lf : {RegressionLoss(LossKind::HalfSquared), RegressionLoss(LossKind::ShiftedCosh),
                              RegressionLoss(LossKind::Linex, 0.5f)}) {
        for (W w : {W::DB, W::GeometricWithin, W::Geometric}) {
            SubTBGFlowNet g(h.pf.get(), h.pb.get(), h.log_f.get(), 0.9f, w, false, false, kNoClip, lf);
            BOOST_CHECK(g.loss_fn.kind == lf.kind);
            expect_brute_force(g, h.tr, "loss " + lf.name());
        }
    }
}

// ---------------------------------------------------------------------------
// Relations on sampled batches

BOOST_AUTO_TEST_CASE(sampled_batches_match_enumeration) {
    struct Case {
        bool conditional;
        Model::Pb pb;
        bool tied_log_f;
        const char* name;
    };
    for (const Case& c : {Case{false, Model::Pb::Mlp, false, "mlp"}, Case{false, Model::Pb::Tied, true, "tied"},
                          Case{false, Model::Pb::Uniform, false, "uniform PB"},
                          Case{true, Model::Pb::Mlp, true, "conditional"}}) {
        Model m(c.conditional, c.pb, c.tied_log_f, 12, 21);
        for (W w : kAllWeightings) {
            SubTBGFlowNet g(m.pf.get(), m.pb.get(), m.log_f.get(), 0.8f, w);
            expect_brute_force(g, m.batch, c.name);
        }
        SubTBGFlowNet constant(m.pf.get(), nullptr, m.log_f.get(), 0.9f, W::GeometricWithin, false, true);
        expect_brute_force(constant, m.batch, std::string(c.name) + " constant PB");
        SubTBGFlowNet fl(m.pf.get(), m.pb.get(), m.log_f.get(), 0.9f, W::Geometric, true);
        expect_brute_force(fl, m.batch, std::string(c.name) + " forward-looking");
        if (c.conditional) BOOST_CHECK(std::isnan(constant.log_z()));
    }
}

BOOST_AUTO_TEST_CASE(tb_weighting_is_tb) {
    // TB weighting = TB with log Z = log F(s_0), under every reduction (as torchgfn).
    Model m(false, Model::Pb::Mlp, false, 16);
    Hand h;
    struct Pair {
        const PolicyEstimator *pf, *pb;
        const StateFlowEstimator* log_f;
        const Trajectories* tr;
    };
    for (const Pair& p : {Pair{m.pf.get(), m.pb.get(), m.log_f.get(), &m.batch},
                          Pair{h.pf.get(), h.pb.get(), h.log_f.get(), &h.tr}}) {
        SubTBGFlowNet g(p.pf, p.pb, p.log_f, 0.9f, W::TB);
        ParamStore zs;
        ScalarEstimator z(zs, float(g.log_z()), 1, "log_z");
        TBGFlowNet tb(p.pf, p.pb, &z);
        Tape tape;
        const double tb_mean = double(tb.loss(tape, *p.tr).item());
        BOOST_CHECK_CLOSE(double(g.loss(tape, *p.tr).item()), tb_mean, 1e-3);
        BOOST_CHECK_CLOSE(double(g.loss(tape, *p.tr, true, Reduction::Sum).item()),
                          double(tb.loss(tape, *p.tr, true, Reduction::Sum).item()), 1e-3);
        expect_values(g.loss(tape, *p.tr, true, Reduction::None), values(tb.loss(tape, *p.tr, true, Reduction::None)),
                      1e-4, "TB none");
    }
}

BOOST_AUTO_TEST_CASE(db_weighting_is_db) {
    // DB on every transition s_t → s_{t+1}, exits included, computed here from the
    // estimators directly: logF(s_t) + log PF(a_t | s_t) − log PB(s_t | s_{t+1}) − target,
    // target = log R(x) at the exit, else logF(s_{t+1}).
    Model m(false, Model::Pb::Mlp, false, 16, 5);
    const Trajectories& tr = m.batch;
    const int ms = tr.n_steps(), D = tr.state_dim;
    Tape tape;
    std::vector<int> states(size_t(ms) * D);
    for (int k = 0; k < ms; ++k)
        std::copy(tr.state(tr.step_t[size_t(k)], tr.step_traj[size_t(k)]),
                  tr.state(tr.step_t[size_t(k)], tr.step_traj[size_t(k)]) + D, states.begin() + size_t(k) * D);
    const Vec f = values(m.log_f->forward(tape, states.data(), nullptr, ms));
    StepLogProbs lp = evaluate_log_probs(tape, tr, *m.pf, m.pb.get(), true);
    const Vec pf = values(lp.log_pf), pb = values(lp.log_pb);
    auto step_index = [&](int t, int i) {
        for (int k = 0; k < ms; ++k)
            if (tr.step_t[size_t(k)] == t && tr.step_traj[size_t(k)] == i) return k;
        BOOST_FAIL("no step");
        return -1;
    };
    auto bstep_index = [&](int t, int i) {
        for (int k = 0; k < tr.n_bsteps(); ++k)
            if (tr.bstep_t[size_t(k)] == t && tr.bstep_traj[size_t(k)] == i) return k;
        BOOST_FAIL("no backward step");
        return -1;
    };
    Vec db, mdb(size_t(tr.n), 0.0);
    for (int k = 0; k < ms; ++k) {
        const int t = tr.step_t[size_t(k)], i = tr.step_traj[size_t(k)], L = tr.lengths[size_t(i)];
        const bool exit = t == L - 1;
        const double r = f[size_t(k)] + pf[size_t(k)] - (exit ? 0.0 : pb[size_t(bstep_index(t + 1, i))]) -
                         (exit ? double(tr.log_rewards[size_t(i)]) : f[size_t(step_index(t + 1, i))]);
        db.push_back(r * r);
        mdb[size_t(i)] += r * r / (double(L) * tr.n);
    }
    SubTBGFlowNet g(m.pf.get(), m.pb.get(), m.log_f.get(), 0.9f, W::DB);
    expect_values(g.loss(tape, tr, true, Reduction::None), db, 1e-4, "DB none");
    BOOST_CHECK_CLOSE(double(g.loss(tape, tr).item()), vsum(db) / ms, 1e-3);
    BOOST_CHECK_CLOSE(double(g.loss(tape, tr, true, Reduction::Sum).item()), vsum(db), 1e-3);
    // ModifiedDB: the same residuals, each trajectory's averaged, then averaged over trajectories.
    SubTBGFlowNet gm(m.pf.get(), m.pb.get(), m.log_f.get(), 0.9f, W::ModifiedDB);
    expect_values(gm.loss(tape, tr, true, Reduction::None), mdb, 1e-4, "ModifiedDB none");
    BOOST_CHECK_CLOSE(double(gm.loss(tape, tr).item()), vsum(mdb), 1e-3);
}

// ---------------------------------------------------------------------------
// Gradient checks (central differences over the whole parameter slab)

BOOST_AUTO_TEST_CASE(gradients_every_weighting) {
    Model m(false, Model::Pb::Mlp);
    for (W w : kAllWeightings) {
        SubTBGFlowNet g(m.pf.get(), m.pb.get(), m.log_f.get(), 0.9f, w);
        expect_grads(g, m.batch, {m.all()}, Reduction::Mean, subtb_weighting_name(w) + " mean");
        expect_grads(g, m.batch, {m.all()}, Reduction::None, subtb_weighting_name(w) + " none");
    }
}

BOOST_AUTO_TEST_CASE(gradients_variants) {
    {
        Model m(false, Model::Pb::Tied, true);
        BOOST_CHECK(m.log_f->is_tied());
        SubTBGFlowNet g(m.pf.get(), m.pb.get(), m.log_f.get());
        expect_grads(g, m.batch, {m.all()}, Reduction::Mean, "tied PB and log F");
        SubTBGFlowNet cosh(m.pf.get(), m.pb.get(), m.log_f.get(), 0.7f, W::Geometric, false, false, kNoClip,
                           RegressionLoss(LossKind::ShiftedCosh));
        expect_grads(cosh, m.batch, {m.all()}, Reduction::Sum, "shifted_cosh geometric");
    }
    {
        Model m(true, Model::Pb::Mlp, true);
        BOOST_CHECK_EQUAL(m.batch.condition_dim, 1);
        SubTBGFlowNet g(m.pf.get(), m.pb.get(), m.log_f.get(), 0.9f, W::GeometricWithin);
        expect_grads(g, m.batch, {m.all()}, Reduction::Mean, "conditional");
        SubTBGFlowNet fl(m.pf.get(), m.pb.get(), m.log_f.get(), 0.9f, W::Equal, true);
        expect_grads(fl, m.batch, {m.all()}, Reduction::Mean, "conditional forward-looking");
    }
    {
        Model m(false, Model::Pb::Uniform);
        SubTBGFlowNet fl(m.pf.get(), m.pb.get(), m.log_f.get(), 0.9f, W::GeometricWithin, true);
        expect_grads(fl, m.batch, {m.all()}, Reduction::Mean, "forward-looking");
        SubTBGFlowNet constant(m.pf.get(), nullptr, m.log_f.get(), 0.9f, W::EqualWithin, false, true);
        expect_grads(constant, m.batch, {m.all()}, Reduction::Mean, "constant PB");
    }
}

// ---------------------------------------------------------------------------
// On-policy reuse of saved log-probabilities

BOOST_AUTO_TEST_CASE(on_policy_reuse) {
    Model m(false, Model::Pb::Tied, true);
    SubTBGFlowNet g(m.pf.get(), m.pb.get(), m.log_f.get());
    Rng rng(17);
    Tape tape;
    SampleRequest req;
    req.n = 24;
    req.save_log_probs = true;
    Trajectories batch;
    sample_trajectories(*m.env, *m.pf, m.pb.get(), req, rng, tape, batch);
    BOOST_REQUIRE(batch.saved_log_pf.valid());
    m.store.zero_grad();
    Var saved = g.loss(tape, batch, false);
    tape.backward(saved);
    const std::vector<float> saved_grad = m.store.grads;
    batch.drop_saved();
    Tape fresh;
    m.store.zero_grad();
    Var recomputed = g.loss(fresh, batch, true);
    fresh.backward(recomputed);
    BOOST_CHECK_CLOSE(saved.item(), recomputed.item(), 1e-3);
    size_t bad = 0;
    for (size_t k = 0; k < saved_grad.size(); ++k)
        if (std::fabs(saved_grad[k] - m.store.grads[k]) > 1e-5 + 1e-4 * std::fabs(m.store.grads[k])) ++bad;
    BOOST_CHECK_MESSAGE(bad == 0, bad << " gradients differ");
    BOOST_CHECK(!all_zero(m.store.grads));
}

// ---------------------------------------------------------------------------
// Errors

BOOST_AUTO_TEST_CASE(errors) {
    Hand h;
    auto expect_lambda_error = [&](float lam) {
        try {
            SubTBGFlowNet g(h.pf.get(), h.pb.get(), h.log_f.get(), lam);
            BOOST_ERROR("no error for lambda " << lam);
        } catch (const std::invalid_argument& e) {
            BOOST_CHECK_MESSAGE(std::string(e.what()).find("lambda") != std::string::npos,
                                "message does not name lambda: " << e.what());
        }
    };
    expect_lambda_error(0.f);
    expect_lambda_error(1.5f);
    expect_lambda_error(-0.5f);
    expect_lambda_error(NAN);
    BOOST_CHECK_NO_THROW(SubTBGFlowNet(h.pf.get(), h.pb.get(), h.log_f.get(), 1.f));
    BOOST_CHECK_NO_THROW(SubTBGFlowNet(h.pf.get(), h.pb.get(), h.log_f.get(), 1e-3f));

    for (const char* bad : {"geometric-within", "Db", "", "subtb"}) {
        try {
            subtb_weighting_from_string(bad);
            BOOST_ERROR("no error for weighting '" << bad << "'");
        } catch (const std::invalid_argument& e) {
            const std::string msg = e.what();
            BOOST_CHECK(msg.find("'" + std::string(bad) + "'") != std::string::npos);
            BOOST_CHECK(msg.find("geometric_within") != std::string::npos);
        }
    }
    BOOST_CHECK_THROW(SubTBGFlowNet(h.pf.get(), h.pb.get(), nullptr), std::invalid_argument);
    BOOST_CHECK_THROW(SubTBGFlowNet(h.pf.get(), nullptr, h.log_f.get()), std::invalid_argument);  // PB-less
    BOOST_CHECK_THROW(SubTBGFlowNet(h.pb.get(), h.pb.get(), h.log_f.get()), std::invalid_argument);
    BOOST_CHECK_THROW(SubTBGFlowNet(h.pf.get(), h.pb.get(), h.log_f.get(), 0.9f, W::TB, false, false, NAN),
                      std::invalid_argument);
    // An empty batch.
    SubTBGFlowNet g(h.pf.get(), h.pb.get(), h.log_f.get());
    Trajectories empty;
    empty.allocate(0, 1, 2, 0);
    empty.index_steps();
    Tape tape;
    BOOST_CHECK_THROW(g.loss(tape, empty), std::invalid_argument);
}

// ---------------------------------------------------------------------------
// torchgfn parity

BOOST_AUTO_TEST_CASE(tb_weighting_reductions) {
    // torchgfn computes the TB weighting as TB and reduces the unweighted g: with the hand
    // residuals a = 0.3 − L3 − log 0.6, b = 0.3 − 2L3 − log 0.1, c = 0.3 − 2L3 − log 0.6
    // (τ0, τ1, τ2), squared loss:
    //   mean = (a² + b² + c²)/3 = 0.72308012,  sum = a² + b² + c² = 2.16924037 (3 × mean),
    //   none = (a², b², c²) = (0.0828212, 0.1643171, 1.9221021).
    Hand h;
    const double a = 0.3 - L3 - LR6, b = 0.3 - 2 * L3 - LR1, c = 0.3 - 2 * L3 - LR6;
    BOOST_CHECK_CLOSE(a * a + b * b + c * c, 2.16924037, 1e-5);
    SubTBGFlowNet g(h.pf.get(), h.pb.get(), h.log_f.get(), 0.9f, W::TB);
    Tape tape;
    expect_values(g.loss(tape, h.tr, true, Reduction::Mean), {0.72308012}, 1e-5, "TB weighting mean");
    expect_values(g.loss(tape, h.tr, true, Reduction::Sum), {2.16924037}, 1e-5, "TB weighting sum");
    Var none = g.loss(tape, h.tr, true, Reduction::None);
    BOOST_CHECK_EQUAL(none.rows(), 3);
    BOOST_CHECK_EQUAL(none.cols(), 1);
    expect_values(none, {0.0828212, 0.1643171, 1.9221021}, 1e-5, "TB weighting none");
}

BOOST_AUTO_TEST_CASE(forward_looking_clamps_intermediate_rewards) {
    // A deliberate difference from torchgfn's SubTB (see the header): with a clip, log R(s)
    // at every visited state is clamped, as torchgfn's forward-looking DB does. Clip −2:
    // log 0.1 = −2.303 at (1,0) and (2,1) becomes −2; log 0.6 = −0.511 stays.
    Hand h;
    SubTBGFlowNet g(h.pf.get(), h.pb.get(), h.log_f.get(), 0.9f, W::Equal, true, false, -2.f);
    Tape tape;
    expect_values(g.log_state_flows(tape, h.tr),
                  {0.3 + LR6, 0.3 + LR6, 0.3 + LR6, 0.8 - 2.0, 0.8 - 2.0, -0.1 + LR6, -0.3 - 2.0, 0.6 + LR6}, 1e-6,
                  "forward-looking log F, clipped");
    // τ2 (2,3): (−0.1 + log 0.6) + 0 − (−0.3 − 2) = 2.2 + log 0.6.
    BOOST_CHECK_CLOSE(values(g.residuals(tape, h.tr).residuals)[6], 2.2 + LR6, 1e-3);
}

BOOST_AUTO_TEST_SUITE_END()
