// test_regression_loss.cpp — the regression losses g(t) of gfn/objectives/regression_loss.h against
// hand-worked values (inside and beyond the ±80 clamp), their names and errors, the
// reductions, and their gradients against central differences (tests/gradcheck.h).
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "gfn/objectives/regression_loss.h"
#include "tests/gradcheck.h"

using namespace gfn;

namespace {

// g applied to the values ts through the tape; returns g(t) as floats.
std::vector<float> apply(const RegressionLoss& g, const std::vector<float>& ts) {
    Tape tape;
    Var t = tape.constant_copy(ts.data(), int(ts.size()), 1);
    Var y = g(t);
    BOOST_REQUIRE_EQUAL(y.rows(), int(ts.size()));
    BOOST_REQUIRE_EQUAL(y.cols(), 1);
    return std::vector<float>(y.value().data, y.value().data + ts.size());
}

// |got − want| <= tol·max(1, |want|): relative for large values, absolute near 0.
void expect_close(double got, double want, double tol, const std::string& what) {
    const double scale = std::fmax(1.0, std::fabs(want));
    BOOST_CHECK_MESSAGE(std::fabs(got - want) <= tol * scale,
                        what << ": got " << got << ", want " << want);
}

// Checks g(t) on the tape (float) and g.eval(t) (double) against a hand value.
void expect_g(const RegressionLoss& g, double t, double want) {
    const std::string what = g.name() + "(" + std::to_string(t) + ")";
    expect_close(g.eval(t), want, 1e-12, what + " eval");
    expect_close(apply(g, {float(t)})[0], want, 2e-6, what + " on the tape");
}

// A trainable vector of residuals t.
struct Residuals {
    std::vector<float> v, g;
    explicit Residuals(std::vector<float> values) : v(std::move(values)), g(v.size(), 0.f) {}
    Var on(Tape& t) { return t.parameter(Tensor(v.data(), int(v.size()), 1), g.data()); }
    GradTarget target() { return GradTarget{"t", v.data(), g.data(), v.size()}; }
};

void expect_grads(const RegressionLoss& g, Residuals& r) {
    GradCheckReport rep = check_gradients([&](Tape& t) { return g(r.on(t)); }, {r.target()});
    BOOST_CHECK_MESSAGE(rep.ok, g.name() << ": " << rep.message());
}

const double e = std::exp(1.0);

}  // namespace

BOOST_AUTO_TEST_SUITE(regression_loss)

BOOST_AUTO_TEST_CASE(squared_and_half_squared_by_hand) {
    RegressionLoss sq(LossKind::Squared), half(LossKind::HalfSquared);
    expect_g(sq, 0.0, 0.0);
    expect_g(sq, 1.5, 2.25);    // 1.5² = 2.25
    expect_g(sq, -3.0, 9.0);    // (−3)² = 9
    expect_g(sq, 100.0, 1e4);   // no clamp for the squared losses
    expect_g(half, 0.0, 0.0);
    expect_g(half, -3.0, 4.5);  // 9/2
    expect_g(half, 0.5, 0.125); // 0.25/2
    expect_g(half, 200.0, 2e4); // 40000/2
    // The default loss is squared.
    BOOST_CHECK(RegressionLoss().kind == LossKind::Squared);
}

BOOST_AUTO_TEST_CASE(shifted_cosh_by_hand) {
    RegressionLoss g(LossKind::ShiftedCosh);
    expect_g(g, 0.0, 0.0);                              // 1 + 1 − 2
    expect_g(g, 1.0, e + 1.0 / e - 2.0);                // 1.0861612…
    expect_g(g, -1.0, e + 1.0 / e - 2.0);               // even
    expect_g(g, 2.0, e * e + 1.0 / (e * e) - 2.0);      // 5.5243…
    // Clamped at ±80: g(100) = g(−100) = g(80) = e⁸⁰ + e⁻⁸⁰ − 2 ≈ 5.5406e34 (fits a float).
    const double g80 = std::exp(80.0) + std::exp(-80.0) - 2.0;
    expect_g(g, 80.0, g80);
    expect_g(g, 100.0, g80);
    expect_g(g, -1000.0, g80);
    for (float y : apply(g, {1e6f, -1e6f})) BOOST_CHECK(std::isfinite(y));
}

BOOST_AUTO_TEST_CASE(linex_by_hand) {
    // (e^{αt} − αt − 1)/α²
    RegressionLoss half(LossKind::Linex, 0.5f), neg(LossKind::Linex, -1.f), one(LossKind::Linex, 1.f);
    expect_g(half, 0.0, 0.0);
    expect_g(half, 2.0, (e - 1.0 - 1.0) / 0.25);            // αt = 1: 4(e − 2) = 2.8731…
    expect_g(half, -2.0, (1.0 / e + 1.0 - 1.0) / 0.25);     // αt = −1: 4/e = 1.4715…
    expect_g(neg, 1.0, (1.0 / e + 1.0 - 1.0) / 1.0);        // α = −1, t = 1: αt = −1 → 1/e
    expect_g(one, 3.0, std::exp(3.0) - 4.0);                // e³ − 3 − 1
    // αt clamped to ±80: α = 0.5, t = 200 → αt = 100 → 80: (e⁸⁰ − 81)/0.25;
    // t = −200 → αt = −80: (e⁻⁸⁰ + 80 − 1)/0.25 = 316 (to 1e−35).
    expect_g(half, 200.0, (std::exp(80.0) - 81.0) / 0.25);
    expect_g(half, -200.0, (std::exp(-80.0) + 79.0) / 0.25);
    expect_g(neg, 85.0, (std::exp(-80.0) + 79.0) / 1.0);    // α = −1: αt = −85 → −80
    // For small α, linex(α) → t²/2.
    RegressionLoss tiny(LossKind::Linex, 1e-3f);
    BOOST_CHECK_CLOSE(tiny.eval(1.5), 1.125, 0.1);
}

BOOST_AUTO_TEST_CASE(names_and_from_string) {
    BOOST_CHECK(RegressionLoss::from_string("squared").kind == LossKind::Squared);
    BOOST_CHECK(RegressionLoss::from_string("half_squared").kind == LossKind::HalfSquared);
    BOOST_CHECK(RegressionLoss::from_string("shifted_cosh").kind == LossKind::ShiftedCosh);
    RegressionLoss lx = RegressionLoss::from_string("linex", 0.25f);
    BOOST_CHECK(lx.kind == LossKind::Linex);
    BOOST_CHECK_EQUAL(lx.alpha, 0.25f);
    expect_g(lx, 4.0, (e - 1.0 - 1.0) / 0.0625);  // αt = 1
    for (const char* n : {"squared", "half_squared", "shifted_cosh"})
        BOOST_CHECK_EQUAL(RegressionLoss::from_string(n).name(), n);
    BOOST_CHECK(lx.name().rfind("linex", 0) == 0);
}

BOOST_AUTO_TEST_CASE(errors) {
    BOOST_CHECK_THROW(RegressionLoss(LossKind::Linex, 0.f), std::invalid_argument);
    BOOST_CHECK_THROW(RegressionLoss::from_string("linex", 0.f), std::invalid_argument);
    BOOST_CHECK_THROW(RegressionLoss(LossKind::Linex, NAN), std::invalid_argument);
    BOOST_CHECK_THROW(RegressionLoss(LossKind::Linex, INFINITY), std::invalid_argument);
    BOOST_CHECK_THROW(RegressionLoss::from_string("Squared"), std::invalid_argument);
    BOOST_CHECK_THROW(RegressionLoss::from_string("huber"), std::invalid_argument);
    BOOST_CHECK_THROW(RegressionLoss::from_string(""), std::invalid_argument);
    // alpha is irrelevant (and unchecked) for the other kinds.
    BOOST_CHECK_NO_THROW(RegressionLoss(LossKind::Squared, 0.f));
}

BOOST_AUTO_TEST_CASE(reductions) {
    BOOST_CHECK(reduction_from_string("mean") == Reduction::Mean);
    BOOST_CHECK(reduction_from_string("sum") == Reduction::Sum);
    BOOST_CHECK(reduction_from_string("none") == Reduction::None);
    BOOST_CHECK_THROW(reduction_from_string("avg"), std::invalid_argument);
    BOOST_CHECK_THROW(reduction_from_string("Mean"), std::invalid_argument);

    // g = squared on t = (1, −2, 3): per item (1, 4, 9), sum 14, mean 14/3.
    Tape tape;
    float t[] = {1.f, -2.f, 3.f};
    Var per = RegressionLoss()(tape.constant(Tensor(t, 3, 1)));
    Var s = reduce(per, Reduction::Sum), m = reduce(per, Reduction::Mean), n = reduce(per, Reduction::None);
    BOOST_CHECK_EQUAL(s.rows(), 1);
    BOOST_CHECK_EQUAL(m.cols(), 1);
    BOOST_CHECK_CLOSE(s.item(), 14.f, 1e-4);
    BOOST_CHECK_CLOSE(m.item(), 14.f / 3.f, 1e-4);
    BOOST_CHECK_EQUAL(n.rows(), 3);
    BOOST_CHECK_EQUAL(n.value().data[1], 4.f);
}

BOOST_AUTO_TEST_CASE(gradients_inside_the_clamp) {
    // Residuals well inside ±80 (and away from it) so no difference straddles the clamp.
    Residuals r({-2.5f, -1.1f, -0.3f, 0.f, 0.4f, 1.3f, 2.7f});
    expect_grads(RegressionLoss(LossKind::Squared), r);
    expect_grads(RegressionLoss(LossKind::HalfSquared), r);
    expect_grads(RegressionLoss(LossKind::ShiftedCosh), r);
    expect_grads(RegressionLoss(LossKind::Linex, 0.5f), r);
    expect_grads(RegressionLoss(LossKind::Linex, -1.5f), r);
    Residuals wide({-6.f, -4.5f, 3.5f});
    expect_grads(RegressionLoss(LossKind::Linex, 1.5f), wide);
}

BOOST_AUTO_TEST_CASE(gradient_by_hand) {
    // g'(t): squared 2t, half t, shifted_cosh eᵗ − e⁻ᵗ, linex (e^{αt} − 1)/α.
    struct Case { RegressionLoss g; double t, dg; };
    const std::vector<Case> cases = {
        {RegressionLoss(LossKind::Squared), 1.5, 3.0},
        {RegressionLoss(LossKind::HalfSquared), -2.0, -2.0},
        {RegressionLoss(LossKind::ShiftedCosh), 1.0, e - 1.0 / e},
        {RegressionLoss(LossKind::Linex, 0.5f), 2.0, (e - 1.0) / 0.5},
    };
    for (const Case& c : cases) {
        Residuals r({float(c.t)});
        Tape tape;
        tape.backward(sum(c.g(r.on(tape))));
        expect_close(r.g[0], c.dg, 1e-5, c.g.name() + "'");
    }
}

BOOST_AUTO_TEST_CASE(gradient_beyond_the_clamp_is_zero) {
    // |t| > 80 (shifted_cosh) and |αt| > 80 (linex): g is constant there, so g' = 0,
    // both analytically and by central differences; the value stays finite.
    const std::vector<RegressionLoss> gs = {RegressionLoss(LossKind::ShiftedCosh), RegressionLoss(LossKind::Linex, 0.5f),
                                            RegressionLoss(LossKind::Linex, -2.f)};
    for (const RegressionLoss& g : gs) {
        Residuals r({-500.f, -200.f, 200.f, 500.f});
        Tape tape;
        Var y = g(r.on(tape));
        for (int i = 0; i < 4; ++i) BOOST_CHECK(std::isfinite(y.value().data[i]));
        tape.backward(sum(y));
        for (float d : r.g) BOOST_CHECK_EQUAL(d, 0.f);
        // g(t ± h) are the same clamped value, so central differences give exactly 0 too.
        expect_grads(g, r);
    }
}

BOOST_AUTO_TEST_SUITE_END()
