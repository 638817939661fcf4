// objective_fixtures.h — fixtures shared by the objective suites (test_trajectory_balance,
// test_detailed_balance, test_sub_trajectory_balance, test_flow_matching): the hand-built
// batch on HyperGrid(2, 3), reading values off the tape, the regression losses written out
// by hand, parameter look-up, and the gradient checks (against central differences, and
// saved against recomputed log-probs).
//
// The hand-built batch (R = 0.6 at the four corners of HyperGrid(2, 3), 0.1 elsewhere;
// actions: 0 adds 1 to x_0, 1 adds 1 to x_1, 2 exits):
//   τ0: (0,0) exit                                                 x = (0,0), R = 0.6
//   τ1: (0,0) -0-> (1,0) exit                                      x = (1,0), R = 0.1
//   τ2: (0,0) -0-> (1,0) -0-> (2,0) -1-> (2,1) -1-> (2,2) exit      x = (2,2), R = 0.6
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/nn.h"
#include "engine/tape.h"
#include "envs/hypergrid.h"
#include "gfn/estimators/estimators.h"
#include "gfn/objectives/gflownet.h"
#include "gfn/objectives/regression_loss.h"
#include "gfn/containers/trajectories.h"
#include "tests/gradcheck.h"

namespace gfn::testing {

using Vec = std::vector<double>;

// The three trajectories above, states and actions written out by hand; log R from env.
Trajectories hand_batch(const HyperGrid& env);

// The values of v, row-major, in double.
Vec values(Var v);
// Each value within tol·max(1, |want|) of want (and as many of them).
void expect_values(const Vec& got, const Vec& want, double tol, const std::string& what);
void expect_values(Var v, const Vec& want, double tol, const std::string& what);

double vmean(const Vec& v);
double vsum(const Vec& v);
Vec map(const Vec& v, const std::function<double(double)>& f);

// The regression losses, written out independently of gfn/objectives/regression_loss.cpp.
double g_sq(double t);
double g_half(double t);
double g_cosh(double t);
double g_linex(double t, double a);

// The index of the parameter called `name` in store (fails the test when there is none).
int param_id(const ParamStore& store, const std::string& name);

// check_gradients (at most 40 values) of f, or of gfn.loss on batch with reduction r.
void expect_grads(const std::function<Var(Tape&)>& f, std::vector<GradTarget> targets, const std::string& what);
void expect_grads(const GFlowNet& gfn, const Trajectories& batch, std::vector<GradTarget> targets, Reduction r,
                  const std::string& what);

// PF and PB of a small model (conditional estimators when `conditional`), PB by kind: its
// own network, a head on PF's trunk, or uniform over the parents. Draws from rng in that order.
enum class PbKind { Mlp, Tied, Uniform };
void make_pf_pb(const DiscreteEnv& env, const Preprocessor& pre, bool conditional, PbKind pb_kind, ParamStore& store,
                const NetConfig& cfg, Rng& rng, std::unique_ptr<PolicyEstimator>& pf,
                std::unique_ptr<PolicyEstimator>& pb);

bool all_zero(const std::vector<float>& v);

// The loss value and the gradient slab after one backward pass.
struct LossAndGrad {
    double loss;
    std::vector<float> grad;
};
LossAndGrad loss_and_grad(Tape& tape, const GFlowNet& gfn, const Trajectories& batch, ParamStore& store,
                          bool recalculate);

// a and b agree (1e-5 + 1e-4·|b|) and b is not all zero.
void expect_same_grads(const std::vector<float>& a, const std::vector<float>& b, const std::string& what);

}  // namespace gfn::testing
