// objective_fixtures.cpp — see objective_fixtures.h.
#include "tests/objective_fixtures.h"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "tests/batches.h"

namespace gfn::testing {

Trajectories hand_batch(const HyperGrid& env) {
    return make_batch(env, {{0, 0}, {0, 0, 1, 0}, {0, 0, 1, 0, 2, 0, 2, 1, 2, 2}}, {{2}, {0, 2}, {0, 0, 1, 1, 2}});
}

Vec values(Var v) {
    Tensor t = v.value();
    return Vec(t.data, t.data + t.size());
}

void expect_values(const Vec& got, const Vec& want, double tol, const std::string& what) {
    BOOST_REQUIRE_MESSAGE(got.size() == want.size(), what << ": " << got.size() << " values, want " << want.size());
    for (size_t i = 0; i < want.size(); ++i)
        BOOST_CHECK_MESSAGE(std::fabs(got[i] - want[i]) <= tol * std::fmax(1.0, std::fabs(want[i])),
                            what << "[" << i << "]: got " << got[i] << ", want " << want[i]);
}
void expect_values(Var v, const Vec& want, double tol, const std::string& what) {
    expect_values(values(v), want, tol, what);
}

double vmean(const Vec& v) { return std::accumulate(v.begin(), v.end(), 0.0) / double(v.size()); }
double vsum(const Vec& v) { return std::accumulate(v.begin(), v.end(), 0.0); }
Vec map(const Vec& v, const std::function<double(double)>& f) {
    Vec o(v.size());
    std::transform(v.begin(), v.end(), o.begin(), f);
    return o;
}

double g_sq(double t) { return t * t; }
double g_half(double t) { return 0.5 * t * t; }
double g_cosh(double t) { return std::exp(t) + std::exp(-t) - 2.0; }
double g_linex(double t, double a) { return (std::exp(a * t) - a * t - 1.0) / (a * a); }

int param_id(const ParamStore& store, const std::string& name) {
    for (size_t k = 0; k < store.params.size(); ++k)
        if (store.params[k].name == name) return int(k);
    BOOST_FAIL("no parameter named " + name);
    return -1;
}

void expect_grads(const std::function<Var(Tape&)>& f, std::vector<GradTarget> targets, const std::string& what) {
    GradCheckOptions opt;
    opt.max_checks = 40;
    opt.step = 1e-2;
    GradCheckReport rep = check_gradients(f, targets, opt);
    BOOST_CHECK_MESSAGE(rep.ok, what << ": " << rep.message());
    BOOST_CHECK(rep.checked > 0);
}
void expect_grads(const GFlowNet& gfn, const Trajectories& batch, std::vector<GradTarget> targets, Reduction r,
                  const std::string& what) {
    expect_grads([&](Tape& t) { return gfn.loss(t, batch, true, r); }, targets, what);
}

void make_pf_pb(const DiscreteEnv& env, const Preprocessor& pre, bool conditional, PbKind pb_kind, ParamStore& store,
                const NetConfig& cfg, Rng& rng, std::unique_ptr<PolicyEstimator>& pf,
                std::unique_ptr<PolicyEstimator>& pb) {
    if (conditional) {
        pf = PolicyEstimator::conditional(env, pre, false, store, cfg, rng, "pf");
        if (pb_kind == PbKind::Mlp) pb = PolicyEstimator::conditional(env, pre, true, store, cfg, rng, "pb");
    } else {
        pf = PolicyEstimator::mlp(env, pre, false, store, cfg, rng, "pf");
        if (pb_kind == PbKind::Mlp) pb = PolicyEstimator::mlp(env, pre, true, store, cfg, rng, "pb");
    }
    if (pb_kind == PbKind::Tied) pb = PolicyEstimator::tied(*pf, store, rng, "pb");
    if (pb_kind == PbKind::Uniform) pb = PolicyEstimator::uniform_pb(env);
}

bool all_zero(const std::vector<float>& v) {
    return std::all_of(v.begin(), v.end(), [](float x) { return x == 0.f; });
}

LossAndGrad loss_and_grad(Tape& tape, const GFlowNet& gfn, const Trajectories& batch, ParamStore& store,
                          bool recalculate) {
    store.zero_grad();
    Var l = gfn.loss(tape, batch, recalculate);
    tape.backward(l);
    return {double(l.item()), store.grads};
}

void expect_same_grads(const std::vector<float>& a, const std::vector<float>& b, const std::string& what) {
    BOOST_REQUIRE_EQUAL(a.size(), b.size());
    size_t bad = 0;
    for (size_t k = 0; k < a.size(); ++k)
        if (std::fabs(a[k] - b[k]) > 1e-5 + 1e-4 * std::fabs(b[k])) ++bad;
    BOOST_CHECK_MESSAGE(bad == 0, what << ": " << bad << " of " << a.size() << " gradients differ");
    BOOST_CHECK_MESSAGE(!all_zero(b), what << ": every gradient is zero");
}

}  // namespace gfn::testing
