// test_ops.cpp — every op in engine/ops.h against central differences
// (tests/gradcheck.h), a few against hand-worked values, and their errors.
//
// Inputs are drawn away from kinks (relu/leaky/elu at 0, clamp bounds) so the
// finite differences never straddle one; log inputs are positive.
#include <boost/test/unit_test.hpp>

#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/blas.h"
#include "engine/ops.h"
#include "tests/gradcheck.h"

using namespace gfn;

namespace {

const float kInf = std::numeric_limits<float>::infinity();

// A trainable input: value and gradient buffers the test owns.
struct Param {
    std::string name;
    int rows, cols;
    std::vector<float> v, g;

    // Uniform in [lo, hi], redrawn while within `gap` of any kink.
    Param(std::string n, int r, int c, unsigned seed, float lo = -2.f, float hi = 2.f,
          std::vector<float> kinks = {}, float gap = 0.05f)
        : name(std::move(n)), rows(r), cols(c), v(size_t(r) * size_t(c)), g(size_t(r) * size_t(c), 0.f) {
        std::mt19937 rng(seed);
        std::uniform_real_distribution<float> u(lo, hi);
        for (float& x : v) {
            bool near;
            do {
                x = u(rng);
                near = false;
                for (float k : kinks) near = near || std::fabs(x - k) < gap;
            } while (near);
        }
    }
    Var on(Tape& t) { return t.parameter(Tensor(v.data(), rows, cols), g.data()); }
    GradTarget target() { return GradTarget{name, v.data(), g.data(), v.size()}; }
};

void expect_grads(const std::function<Var(Tape&)>& f, std::vector<GradTarget> targets,
                  const GradCheckOptions& opt = GradCheckOptions()) {
    GradCheckReport r = check_gradients(f, std::move(targets), opt);
    BOOST_CHECK_MESSAGE(r.ok, r.message());
}

// fn throws std::invalid_argument whose message starts with "<op>:".
void expect_invalid(const std::function<void()>& fn, const std::string& op) {
    try {
        fn();
        BOOST_ERROR("expected std::invalid_argument from " + op);
    } catch (const std::invalid_argument& e) {
        std::string msg = e.what();
        BOOST_CHECK_MESSAGE(msg.rfind(op + ":", 0) == 0, "message does not name " + op + ": " + msg);
    }
}

std::vector<float> values(Var v) {
    Tensor t = v.value();
    return std::vector<float>(t.data, t.data + t.size());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ops)

// ---------------------------------------------------------------------------
// Gradient checks

BOOST_AUTO_TEST_CASE(matmul_grad) {
    for (auto [n, k, m] : std::vector<std::array<int, 3>>{{5, 7, 4}, {1, 1, 1}, {1, 6, 3}, {0, 3, 2}, {4, 1, 5}}) {
        Param a("a", n, k, 1), b("b", k, m, 2);
        expect_grads([&](Tape& t) { return matmul(a.on(t), b.on(t)); }, {a.target(), b.target()});
    }
}

BOOST_AUTO_TEST_CASE(linear_grad) {
    Param x("x", 6, 5, 3), W("W", 3, 5, 4), b("b", 1, 3, 5);
    expect_grads([&](Tape& t) { return linear(x.on(t), W.on(t), b.on(t)); }, {x.target(), W.target(), b.target()});
    // Without a bias, and with a single row.
    Param x1("x1", 1, 5, 6);
    expect_grads([&](Tape& t) { return linear(x1.on(t), W.on(t), Var{}); }, {x1.target(), W.target()});
    // Constant input: only W and b get gradients.
    expect_grads([&](Tape& t) { return linear(t.constant(Tensor(x.v.data(), 6, 5)), W.on(t), b.on(t)); },
                 {W.target(), b.target()});
}

BOOST_AUTO_TEST_CASE(linear_values) {
    // x = [1 2], W = [[1 0], [0 1], [1 1]], b = [10 20 30] -> [11 22 33]
    Tape t;
    float x[] = {1, 2}, W[] = {1, 0, 0, 1, 1, 1}, b[] = {10, 20, 30};
    Var y = linear(t.constant(Tensor(x, 1, 2)), t.constant(Tensor(W, 3, 2)), t.constant(Tensor(b, 1, 3)));
    BOOST_CHECK_EQUAL(y.rows(), 1);
    BOOST_CHECK_EQUAL(y.cols(), 3);
    std::vector<float> v = values(y);
    BOOST_CHECK_CLOSE(v[0], 11.f, 1e-4);
    BOOST_CHECK_CLOSE(v[1], 22.f, 1e-4);
    BOOST_CHECK_CLOSE(v[2], 33.f, 1e-4);
}

BOOST_AUTO_TEST_CASE(add_sub_mul_grad_broadcast) {
    using Fn = Var (*)(Var, Var);
    const Fn fns[] = {add, sub, mul};
    const char* names[] = {"add", "sub", "mul"};
    for (int f = 0; f < 3; ++f) {
        BOOST_TEST_CONTEXT(names[f]) {
            Param a("a", 4, 3, 10);
            Param same("b", 4, 3, 11), row("b_row", 1, 3, 12), scalar("b_scalar", 1, 1, 13);
            for (Param* b : {&same, &row, &scalar})
                expect_grads([&](Tape& t) { return fns[f](a.on(t), b->on(t)); }, {a.target(), b->target()});
            // 1x1 with 1x1, a single row with a row, and zero rows with a row.
            Param a11("a11", 1, 1, 14), b11("b11", 1, 1, 15);
            expect_grads([&](Tape& t) { return fns[f](a11.on(t), b11.on(t)); }, {a11.target(), b11.target()});
            Param a0("a0", 0, 3, 16);
            expect_grads([&](Tape& t) { return fns[f](a0.on(t), row.on(t)); }, {row.target()});
            // The same node on both sides.
            expect_grads([&](Tape& t) { Var x = a.on(t); return fns[f](x, x); }, {a.target()});
        }
    }
}

BOOST_AUTO_TEST_CASE(broadcast_values) {
    Tape t;
    float a[] = {1, 2, 3, 4, 5, 6}, row[] = {10, 20, 30}, s[] = {2};
    Var A = t.constant(Tensor(a, 2, 3));
    std::vector<float> r = values(add(A, t.constant(Tensor(row, 1, 3))));
    BOOST_CHECK_EQUAL(r[4], 25.f);
    r = values(sub(A, t.constant(Tensor(s, 1, 1))));
    BOOST_CHECK_EQUAL(r[5], 4.f);
    r = values(mul(A, t.constant(Tensor(row, 1, 3))));
    BOOST_CHECK_EQUAL(r[3], 40.f);
}

BOOST_AUTO_TEST_CASE(scalar_ops_grad) {
    Param a("a", 3, 4, 20);
    expect_grads([&](Tape& t) { return scale(a.on(t), -1.7f); }, {a.target()});
    expect_grads([&](Tape& t) { return add_scalar(a.on(t), 0.3f); }, {a.target()});
    expect_grads([&](Tape& t) { return square(a.on(t)); }, {a.target()});
}

BOOST_AUTO_TEST_CASE(exp_log_tanh_grad) {
    Param a("a", 3, 4, 21);
    expect_grads([&](Tape& t) { return exp(a.on(t)); }, {a.target()});
    expect_grads([&](Tape& t) { return tanh(a.on(t)); }, {a.target()});
    Param p("p", 3, 4, 22, 0.5f, 3.f);
    expect_grads([&](Tape& t) { return log(p.on(t)); }, {p.target()});
    Param one("one", 1, 1, 23, 0.5f, 3.f);
    expect_grads([&](Tape& t) { return log(exp(one.on(t))); }, {one.target()});
}

BOOST_AUTO_TEST_CASE(log_ieee) {
    Tape t;
    float a[] = {0.f, -1.f, 1.f};
    std::vector<float> y = values(log(t.constant(Tensor(a, 1, 3))));
    BOOST_CHECK(std::isinf(y[0]) && y[0] < 0);
    BOOST_CHECK(std::isnan(y[1]));
    BOOST_CHECK_EQUAL(y[2], 0.f);
}

BOOST_AUTO_TEST_CASE(activations_grad) {
    Param a("a", 5, 6, 30, -2.f, 2.f, {0.f});
    expect_grads([&](Tape& t) { return relu(a.on(t)); }, {a.target()});
    expect_grads([&](Tape& t) { return leaky_relu(a.on(t), 0.1f); }, {a.target()});
    expect_grads([&](Tape& t) { return leaky_relu(a.on(t)); }, {a.target()});
    expect_grads([&](Tape& t) { return elu(a.on(t)); }, {a.target()});
    expect_grads([&](Tape& t) { return elu(a.on(t), 0.5f); }, {a.target()});
}

BOOST_AUTO_TEST_CASE(activation_values) {
    Tape t;
    float a[] = {-1.f, 0.f, 2.f};
    Var A = t.constant(Tensor(a, 1, 3));
    std::vector<float> r = values(relu(A));
    BOOST_CHECK_EQUAL(r[0], 0.f);
    BOOST_CHECK_EQUAL(r[2], 2.f);
    r = values(leaky_relu(A, 0.2f));
    BOOST_CHECK_CLOSE(r[0], -0.2f, 1e-4);
    r = values(elu(A, 2.f));
    BOOST_CHECK_CLOSE(r[0], 2.f * (std::exp(-1.f) - 1.f), 1e-4);
    BOOST_CHECK_EQUAL(r[1], 0.f);
    BOOST_CHECK_EQUAL(r[2], 2.f);
}

// ELU's negative side, α(eᵃ − 1), is computed without std::expm1 (two branches
// meeting at a = −0.35); against expm1 in double on a grid over [−100, 0] that
// crosses the switch, relative error below 2e-6, and exactly −α far out.
BOOST_AUTO_TEST_CASE(elu_matches_expm1) {
    std::vector<float> a;
    for (int i = 0; i <= 20000; ++i) a.push_back(-10.f * float(i) / 20000.f);
    for (float x : {-0.35f, std::nextafter(-0.35f, 0.f), std::nextafter(-0.35f, -1.f), -1e-6f, -1e-30f, -87.5f, -100.f})
        a.push_back(x);
    Tape t;
    std::vector<float> r = values(elu(t.constant(Tensor(a.data(), 1, int(a.size()))), 1.5f));
    double worst = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        const double exact = 1.5 * std::expm1(double(a[i]));
        const double rel = exact == 0 ? std::fabs(r[i]) : std::fabs(r[i] - exact) / std::fabs(exact);
        worst = std::max(worst, rel);
    }
    BOOST_TEST_INFO("worst relative error " << worst);
    BOOST_TEST(worst < 2e-6);
    BOOST_CHECK_EQUAL(r.back(), -1.5f);
}

BOOST_AUTO_TEST_CASE(clamp_grad) {
    Param a("a", 4, 5, 40, -2.f, 2.f, {-0.5f, 1.f});
    expect_grads([&](Tape& t) { return clamp(a.on(t), -0.5f, 1.f); }, {a.target()});
    expect_grads([&](Tape& t) { return clamp_min(a.on(t), 1.f); }, {a.target()});
}

BOOST_AUTO_TEST_CASE(clamp_boundary_passes_gradient) {
    // PyTorch's convention: the gradient passes when lo <= x <= hi.
    Tape t;
    float a[] = {-1.f, 0.f, 0.5f, 1.f, 2.f}, g[5] = {};
    Var A = t.parameter(Tensor(a, 1, 5), g);
    Var y = clamp(A, 0.f, 1.f);
    std::vector<float> v = values(y);
    BOOST_CHECK_EQUAL(v[0], 0.f);
    BOOST_CHECK_EQUAL(v[4], 1.f);
    t.backward(sum(y));
    const float expect[] = {0.f, 1.f, 1.f, 1.f, 0.f};
    for (int i = 0; i < 5; ++i) BOOST_CHECK_EQUAL(g[i], expect[i]);
}

BOOST_AUTO_TEST_CASE(log_softmax_grad) {
    Param a("a", 4, 5, 50);
    expect_grads([&](Tape& t) { return log_softmax(a.on(t)); }, {a.target()});
    Param one("one", 1, 1, 51), row("row", 1, 7, 52);
    expect_grads([&](Tape& t) { return log_softmax(one.on(t)); }, {one.target()});
    expect_grads([&](Tape& t) { return log_softmax(row.on(t)); }, {row.target()});
}

BOOST_AUTO_TEST_CASE(log_softmax_masked_grad) {
    const int n = 4, c = 5;
    Param a("a", n, c, 53);
    std::vector<uint8_t> mask = {1, 0, 1, 1, 0,   //
                                 0, 0, 0, 0, 1,   // one valid entry
                                 1, 1, 1, 1, 1,   //
                                 0, 1, 0, 1, 0};
    std::vector<int> first_valid = {0, 4, 2, 1};
    // The -inf outputs cannot enter a weighted sum, so check exp(y) (masked -> 0)
    // and one valid entry per row.
    expect_grads(
        [&](Tape& t) {
            Var y = log_softmax(a.on(t), mask.data());
            return concat_cols(exp(y), gather(y, first_valid.data()));
        },
        {a.target()});
}

BOOST_AUTO_TEST_CASE(log_softmax_masked_values) {
    const int n = 2, c = 3;
    float a[] = {1.f, 5.f, 3.f, 0.f, 1.f, 2.f}, g[6] = {};
    uint8_t mask[] = {1, 0, 1, 1, 1, 1};
    Tape t;
    Var A = t.parameter(Tensor(a, n, c), g);
    Var y = log_softmax(A, mask);
    std::vector<float> v = values(y);
    BOOST_CHECK(std::isinf(v[1]) && v[1] < 0);
    // Row 0 is log_softmax([1, 3]).
    double lse = std::log(std::exp(1.0) + std::exp(3.0));
    BOOST_CHECK_CLOSE(v[0], float(1.0 - lse), 1e-4);
    BOOST_CHECK_CLOSE(v[2], float(3.0 - lse), 1e-4);
    // Gradient through the valid entries only; the masked entry gets exactly 0.
    float w[] = {0.3f, 0.f, -1.2f, 0.5f, 0.7f, -0.4f};
    Var p = exp(y);
    t.backward(sum(mul(p, t.constant(Tensor(w, n, c)))));
    BOOST_CHECK_EQUAL(g[1], 0.f);
    BOOST_CHECK(g[0] != 0.f && g[2] != 0.f);
    BOOST_CHECK_CLOSE(g[0], -g[2], 1e-3);  // two valid entries: gradients opposite
}

BOOST_AUTO_TEST_CASE(log_softmax_values) {
    Tape t;
    float a[] = {1.f, 2.f, 3.f};
    std::vector<float> v = values(log_softmax(t.constant(Tensor(a, 1, 3))));
    // log(e + e² + e³) = 3.40760596444...
    BOOST_CHECK_CLOSE(v[0], -2.40760596f, 1e-4);
    BOOST_CHECK_CLOSE(v[1], -1.40760596f, 1e-4);
    BOOST_CHECK_CLOSE(v[2], -0.40760596f, 1e-4);
    // Max subtraction: large logits stay finite.
    float big[] = {1000.f, 0.f};
    v = values(log_softmax(t.constant(Tensor(big, 1, 2))));
    BOOST_CHECK_EQUAL(v[0], 0.f);
    BOOST_CHECK_CLOSE(v[1], -1000.f, 1e-4);
}

BOOST_AUTO_TEST_CASE(logsumexp_grad) {
    Param a("a", 4, 5, 60);
    expect_grads([&](Tape& t) { return logsumexp(a.on(t)); }, {a.target()});
    std::vector<uint8_t> mask = {0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 1, 0, 1};
    expect_grads([&](Tape& t) { return logsumexp(a.on(t), mask.data()); }, {a.target()});
    Param one("one", 1, 1, 61);
    expect_grads([&](Tape& t) { return logsumexp(one.on(t)); }, {one.target()});
}

BOOST_AUTO_TEST_CASE(logsumexp_values) {
    Tape t;
    float a[] = {1.f, 2.f, 3.f, 1.f, 100.f, 3.f};
    uint8_t mask[] = {1, 1, 1, 1, 0, 1};
    std::vector<float> v = values(logsumexp(t.constant(Tensor(a, 2, 3)), mask));
    BOOST_CHECK_CLOSE(v[0], 3.40760596f, 1e-4);
    BOOST_CHECK_CLOSE(v[1], 3.12692801f, 1e-4);  // log(e + e³)
    float big[] = {1000.f, 1000.f};
    v = values(logsumexp(t.constant(Tensor(big, 1, 2))));
    BOOST_CHECK_CLOSE(v[0], 1000.f + std::log(2.f), 1e-4);
    // All valid entries -inf: -inf, and no NaN gradient.
    float ninf[] = {-kInf, -kInf}, g[2] = {};
    Var A = t.parameter(Tensor(ninf, 1, 2), g);
    Var y = logsumexp(A);
    BOOST_CHECK(std::isinf(y.item()) && y.item() < 0);
    t.backward(sum(y));
    BOOST_CHECK_EQUAL(g[0], 0.f);
    BOOST_CHECK_EQUAL(g[1], 0.f);
}

BOOST_AUTO_TEST_CASE(zero_rows) {
    Param a("a", 0, 4, 62);
    Tape t;
    Var x = a.on(t);
    BOOST_CHECK_EQUAL(log_softmax(x).rows(), 0);
    BOOST_CHECK_EQUAL(logsumexp(x).rows(), 0);
    BOOST_CHECK_EQUAL(gather(x, nullptr).rows(), 0);
    BOOST_CHECK_EQUAL(sum(x).item(), 0.f);
    BOOST_CHECK(std::isnan(mean(x).item()));
    BOOST_CHECK_EQUAL(index_rows(x, nullptr, 0).rows(), 0);
    Var s = segment_sum(x, nullptr, 2);
    BOOST_CHECK_EQUAL(s.rows(), 2);
    for (float v : values(s)) BOOST_CHECK_EQUAL(v, 0.f);
    t.backward(sum(s));  // nothing to do, must not crash
}

BOOST_AUTO_TEST_CASE(gather_grad) {
    Param a("a", 5, 4, 70);
    std::vector<int> idx = {3, 0, 0, 2, 1};
    expect_grads([&](Tape& t) { return gather(a.on(t), idx.data()); }, {a.target()});
    Tape t;
    std::vector<float> v = values(gather(a.on(t), idx.data()));
    for (int i = 0; i < 5; ++i) BOOST_CHECK_EQUAL(v[size_t(i)], a.v[size_t(i * 4 + idx[size_t(i)])]);
}

BOOST_AUTO_TEST_CASE(sum_mean_grad) {
    Param a("a", 3, 7, 80);
    expect_grads([&](Tape& t) { return sum(a.on(t)); }, {a.target()});
    expect_grads([&](Tape& t) { return mean(a.on(t)); }, {a.target()});
    Tape t;
    float x[] = {1, 2, 3, 4};
    BOOST_CHECK_EQUAL(sum(t.constant(Tensor(x, 2, 2))).item(), 10.f);
    BOOST_CHECK_EQUAL(mean(t.constant(Tensor(x, 2, 2))).item(), 2.5f);
}

BOOST_AUTO_TEST_CASE(segment_sum_grad_and_values) {
    Param a("a", 6, 3, 90);
    std::vector<int> seg = {2, 0, 2, 2, 0, 3};  // segment 1 is empty
    expect_grads([&](Tape& t) { return segment_sum(a.on(t), seg.data(), 4); }, {a.target()});

    Tape t;
    float x[] = {1, 2, 3, 4, 5, 6};
    int s[] = {1, 0, 1};
    Var y = segment_sum(t.constant(Tensor(x, 3, 2)), s, 3);
    BOOST_CHECK_EQUAL(y.rows(), 3);
    BOOST_CHECK_EQUAL(y.cols(), 2);
    const float expect[] = {3, 4, 6, 8, 0, 0};
    std::vector<float> v = values(y);
    for (int i = 0; i < 6; ++i) BOOST_CHECK_EQUAL(v[size_t(i)], expect[i]);
}

BOOST_AUTO_TEST_CASE(slice_concat_grad) {
    Param a("a", 3, 6, 100), b("b", 3, 2, 101);
    expect_grads([&](Tape& t) { return slice_cols(a.on(t), 1, 4); }, {a.target()});
    expect_grads([&](Tape& t) { return slice_cols(a.on(t), 0, 6); }, {a.target()});
    expect_grads([&](Tape& t) { return concat_cols(a.on(t), b.on(t)); }, {a.target(), b.target()});
    expect_grads([&](Tape& t) { Var x = b.on(t); return concat_cols(x, x); }, {b.target()});
    // An empty slice.
    Tape t;
    Var e = slice_cols(a.on(t), 2, 2);
    BOOST_CHECK_EQUAL(e.cols(), 0);
    BOOST_CHECK_EQUAL(e.rows(), 3);
    std::vector<float> v = values(slice_cols(a.on(t), 4, 6));
    BOOST_CHECK_EQUAL(v[0], a.v[4]);
    BOOST_CHECK_EQUAL(v[5], a.v[2 * 6 + 5]);
}

BOOST_AUTO_TEST_CASE(slice_rows_grad_and_view) {
    Param a("a", 5, 3, 120);
    expect_grads([&](Tape& t) { return slice_rows(a.on(t), 1, 4); }, {a.target()});
    expect_grads([&](Tape& t) { return slice_rows(a.on(t), 0, 5); }, {a.target()});
    // Overlapping views of one node both reach it.
    expect_grads([&](Tape& t) { Var x = a.on(t); return add(slice_rows(x, 0, 3), slice_rows(x, 2, 5)); },
                 {a.target()});
    Tape t;
    Var x = a.on(t);
    Var v = slice_rows(x, 2, 4);
    BOOST_CHECK_EQUAL(v.rows(), 2);
    BOOST_CHECK_EQUAL(v.cols(), 3);
    BOOST_CHECK(v.value().data == x.value().data + 2 * 3);  // a view, not a copy
    BOOST_CHECK_EQUAL(v.value()(1, 2), a.v[3 * 3 + 2]);
    BOOST_CHECK_EQUAL(slice_rows(x, 5, 5).rows(), 0);
    BOOST_CHECK_THROW(slice_rows(x, 3, 2), std::invalid_argument);
    BOOST_CHECK_THROW(slice_rows(x, 0, 6), std::invalid_argument);
    BOOST_CHECK_THROW(slice_rows(x, -1, 2), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(concat_rows_grad) {
    Param a("a", 2, 3, 110), b("b", 1, 3, 111), c("c", 4, 3, 112);
    std::vector<float> k(6, 0.5f);
    expect_grads(
        [&](Tape& t) {
            Var x = a.on(t);
            Var xs[] = {x, b.on(t), t.constant(Tensor(k.data(), 2, 3)), c.on(t), x};
            return concat_rows(xs, 5);
        },
        {a.target(), b.target(), c.target()});
    Tape t;
    Var xs[] = {a.on(t), b.on(t)};
    std::vector<float> v = values(concat_rows(xs, 2));
    BOOST_CHECK_EQUAL(v.size(), 9u);
    BOOST_CHECK_EQUAL(v[6], b.v[0]);
}

BOOST_AUTO_TEST_CASE(index_rows_grad) {
    Param a("a", 4, 3, 120);
    std::vector<int> idx = {3, 1, 3, 0, 3};
    expect_grads([&](Tape& t) { return index_rows(a.on(t), idx.data(), 5); }, {a.target()});
    Tape t;
    std::vector<float> v = values(index_rows(a.on(t), idx.data(), 5));
    BOOST_CHECK_EQUAL(v[3], a.v[3]);  // row 1 of y is row 1 of a
}

BOOST_AUTO_TEST_CASE(gather_at_grad_and_values) {
    // Repeated rows, a repeated (row, col) pair, and rows never read.
    Param a("a", 5, 4, 121);
    std::vector<int> idx = {3, 1, 0, 2, 3, 1, 4, 0, 3, 3, 0, 0};
    expect_grads([&](Tape& t) { return gather_at(a.on(t), idx.data(), 6); }, {a.target()});
    Tape t;
    Var x = a.on(t);
    std::vector<float> v = values(gather_at(x, idx.data(), 6));
    BOOST_REQUIRE_EQUAL(v.size(), 6u);
    for (int k = 0; k < 6; ++k) BOOST_CHECK_EQUAL(v[size_t(k)], a.v[size_t(idx[2 * k] * 4 + idx[2 * k + 1])]);
    // The gradient of Σ_k w_k y_k: each pair's weight added into its entry (twice at (3, 1)).
    Tape t2;
    std::fill(a.g.begin(), a.g.end(), 0.f);
    Var x2 = a.on(t2);
    std::vector<float> w = {1, 2, 3, 4, 5, 6};
    Var wv = t2.constant_copy(w.data(), 6, 1);
    t2.backward(sum(mul(gather_at(x2, idx.data(), 6), wv)));
    std::vector<float> expect(20, 0.f);
    for (int k = 0; k < 6; ++k) expect[size_t(idx[2 * k] * 4 + idx[2 * k + 1])] += w[size_t(k)];
    for (int e = 0; e < 20; ++e) BOOST_CHECK_EQUAL(a.g[size_t(e)], expect[size_t(e)]);
    BOOST_CHECK_EQUAL(expect[13], 4.f);  // (3, 1) read at k = 0 and k = 2: w_0 + w_2
}

BOOST_AUTO_TEST_CASE(range_sum_grad_and_values) {
    // Overlapping, nested, repeated, empty and whole-input ranges over 6 rows.
    Param a("a", 6, 2, 125);
    std::vector<int> ranges = {0, 6, 1, 3, 2, 2, 2, 5, 1, 3, 5, 6, 0, 1, 6, 6};
    expect_grads([&](Tape& t) { return range_sum(a.on(t), ranges.data(), 8); }, {a.target()});

    Tape t;
    float x[] = {1, 10, 2, 20, 3, 30, 4, 40};  // (4, 2)
    int r[] = {0, 4, 1, 3, 2, 2, 3, 4};
    Var y = range_sum(t.constant(Tensor(x, 4, 2)), r, 4);
    BOOST_CHECK_EQUAL(y.rows(), 4);
    BOOST_CHECK_EQUAL(y.cols(), 2);
    const float expect[] = {10, 100, 5, 50, 0, 0, 4, 40};
    std::vector<float> v = values(y);
    for (int i = 0; i < 8; ++i) BOOST_CHECK_EQUAL(v[size_t(i)], expect[i]);

    // The gradient of row r counts the ranges covering it: rows 0..3 are covered by
    // {[0,4)}, {[0,4), [1,3)}, {[0,4), [1,3)}, {[0,4), [3,4)}.
    std::vector<float> g(8, 0.f);
    Tape t2;
    t2.backward(sum(range_sum(t2.parameter(Tensor(x, 4, 2), g.data()), r, 4)));
    const float count[] = {1, 1, 2, 2, 2, 2, 2, 2};
    for (int i = 0; i < 8; ++i) BOOST_CHECK_EQUAL(g[size_t(i)], count[i]);

    // No ranges, or no rows with empty ranges.
    Param e("e", 0, 3, 126);
    Tape t3;
    BOOST_CHECK_EQUAL(range_sum(a.on(t3), nullptr, 0).rows(), 0);
    int empty[] = {0, 0, 0, 0};
    Var z = range_sum(e.on(t3), empty, 2);
    BOOST_CHECK_EQUAL(z.rows(), 2);
    for (float w : values(z)) BOOST_CHECK_EQUAL(w, 0.f);
    t3.backward(sum(z));
}

BOOST_AUTO_TEST_CASE(composite_grad) {
    // A small policy head: log_softmax(linear(tanh(linear(x)))) gathered, summed per segment.
    Param x("x", 6, 4, 130), W1("W1", 5, 4, 131), b1("b1", 1, 5, 132), W2("W2", 3, 5, 133), b2("b2", 1, 3, 134);
    std::vector<int> act = {0, 2, 1, 1, 0, 2}, seg = {0, 0, 1, 1, 1, 2};
    expect_grads(
        [&](Tape& t) {
            Var h = tanh(linear(x.on(t), W1.on(t), b1.on(t)));
            Var lp = gather(log_softmax(linear(h, W2.on(t), b2.on(t))), act.data());
            return square(segment_sum(lp, seg.data(), 3));
        },
        {x.target(), W1.target(), b1.target(), W2.target(), b2.target()});
}

BOOST_AUTO_TEST_CASE(large_parallel_grad) {
    // Above the OpenMP threshold: the element-wise and reduction paths with threads.
    Param a("a", 256, 160, 140, -2.f, 2.f, {0.f}), r("r", 1, 160, 141);
    GradCheckOptions opt;
    opt.max_checks = 16;
    expect_grads([&](Tape& t) { return mean(mul(elu(a.on(t)), r.on(t))); }, {a.target(), r.target()}, opt);
}

BOOST_AUTO_TEST_CASE(reductions_independent_of_threads) {
    const int n = 1 << 10, c = 300;
    Param a("a", n, c, 150), s("s", 1, 1, 151);
    std::vector<int> seg(n);
    for (int i = 0; i < n; ++i) seg[size_t(i)] = (i * 7) % 5;
    const int prev = num_threads();
    std::vector<float> out[2];
    for (int k = 0; k < 2; ++k) {
        set_num_threads(k + 1);
        Tape t;
        std::fill(a.g.begin(), a.g.end(), 0.f);
        std::fill(s.g.begin(), s.g.end(), 0.f);
        Var y = segment_sum(mul(a.on(t), s.on(t)), seg.data(), 5);
        Var loss = add(sum(y), sum(logsumexp(slice_cols(y, 0, 2))));
        t.backward(add(loss, mean(log_softmax(y))));
        out[k] = {loss.item(), s.g[0], a.g[0], a.g[size_t(n) * c - 1]};
    }
    set_num_threads(prev);
    for (size_t i = 0; i < out[0].size(); ++i) BOOST_CHECK_EQUAL(out[0][i], out[1][i]);
}

// ---------------------------------------------------------------------------
// The helper itself must catch a wrong gradient.

BOOST_AUTO_TEST_CASE(gradcheck_rejects_wrong_gradient) {
    // The recorded graph (grad enabled) computes 3x, the numeric evaluations
    // (NoGrad tapes) compute 2x: the analytic gradient is wrong by 50%.
    Param x("x", 2, 3, 160);
    GradCheckReport r = check_gradients(
        [&](Tape& t) { return scale(x.on(t), t.grad_enabled ? 3.f : 2.f); }, {x.target()});
    BOOST_CHECK(!r.ok);
    BOOST_CHECK(r.checked == 6u);
    BOOST_TEST_MESSAGE("deliberately wrong gradient: " << r.message());
    // And accepts the honest version.
    r = check_gradients([&](Tape& t) { return scale(x.on(t), 2.f); }, {x.target()});
    BOOST_CHECK_MESSAGE(r.ok, r.message());
}

// ---------------------------------------------------------------------------
// Errors: std::invalid_argument naming the op; the tape is left unchanged.

BOOST_AUTO_TEST_CASE(errors) {
    Tape t;
    std::vector<float> buf(64, 1.f);
    Var a34 = t.constant(Tensor(buf.data(), 3, 4));
    Var a24 = t.constant(Tensor(buf.data(), 2, 4));
    Var a31 = t.constant(Tensor(buf.data(), 3, 1));
    Var a43 = t.constant(Tensor(buf.data(), 4, 3));
    Var b14 = t.constant(Tensor(buf.data(), 1, 4));
    const size_t n_nodes = t.nodes.size();

    expect_invalid([&] { add(a34, a24); }, "add");
    expect_invalid([&] { sub(a34, a31); }, "sub");  // column broadcasting is not supported
    expect_invalid([&] { mul(b14, a34); }, "mul");  // only b broadcasts
    expect_invalid([&] { matmul(a34, a34); }, "matmul");
    expect_invalid([&] { linear(a34, a43, Var{}); }, "linear");
    expect_invalid([&] { linear(a34, a24, a34); }, "linear");
    expect_invalid([&] { concat_cols(a34, a24); }, "concat_cols");
    Var xs[] = {a34, a43};
    expect_invalid([&] { concat_rows(xs, 2); }, "concat_rows");
    expect_invalid([&] { concat_rows(xs, 0); }, "concat_rows");
    expect_invalid([&] { slice_cols(a34, 3, 5); }, "slice_cols");
    expect_invalid([&] { slice_cols(a34, 2, 1); }, "slice_cols");
    expect_invalid([&] { clamp(a34, 1.f, 0.f); }, "clamp");
    expect_invalid([&] { add(a34, Var{}); }, "add");

    int idx_hi[] = {0, 4, 1}, idx_neg[] = {0, -1, 1};
    expect_invalid([&] { gather(a34, idx_hi); }, "gather");
    expect_invalid([&] { gather(a34, idx_neg); }, "gather");
    int seg[] = {0, 1, 2};
    expect_invalid([&] { segment_sum(a34, seg, 2); }, "segment_sum");
    expect_invalid([&] { segment_sum(a34, idx_neg, 2); }, "segment_sum");
    int rows[] = {0, 3};
    expect_invalid([&] { index_rows(a34, rows, 2); }, "index_rows");
    expect_invalid([&] { index_rows(a34, idx_neg, 3); }, "index_rows");
    int pair_row_hi[] = {3, 0}, pair_col_hi[] = {0, 4}, pair_neg[] = {0, -1};
    expect_invalid([&] { gather_at(a34, pair_row_hi, 1); }, "gather_at");
    expect_invalid([&] { gather_at(a34, pair_col_hi, 1); }, "gather_at");
    expect_invalid([&] { gather_at(a34, pair_neg, 1); }, "gather_at");
    int bad_hi[] = {0, 4}, bad_lo[] = {-1, 2}, bad_order[] = {2, 1};
    expect_invalid([&] { range_sum(a34, bad_hi, 1); }, "range_sum");
    expect_invalid([&] { range_sum(a34, bad_lo, 1); }, "range_sum");
    expect_invalid([&] { range_sum(a34, bad_order, 1); }, "range_sum");
    expect_invalid([&] { range_sum(a34, nullptr, 1); }, "range_sum");

    uint8_t mask[12] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0};  // row 1 has no valid entry
    expect_invalid([&] { log_softmax(a34, mask); }, "log_softmax");
    expect_invalid([&] { logsumexp(a34, mask); }, "logsumexp");

    BOOST_CHECK_EQUAL(t.nodes.size(), n_nodes);

    // The message names the shapes too.
    try {
        add(a34, a24);
    } catch (const std::invalid_argument& e) {
        BOOST_CHECK_EQUAL(std::string(e.what()), "add: shapes (3, 4) and (2, 4) do not broadcast");
    }
}

BOOST_AUTO_TEST_SUITE_END()

// ===========================================================================
// The ops continuous policies need: element-wise activations and special
// functions, div, row_sum, reshape, the fused log-densities, and logsumexp over
// mixture components. Gradient checks use the default options at
// well-conditioned points; large |x| and other edge cases check values.

BOOST_AUTO_TEST_SUITE(ops)

BOOST_AUTO_TEST_CASE(smooth_unary_grad) {
    Param a("a", 4, 5, 200, -3.f, 3.f);
    expect_grads([&](Tape& t) { return sigmoid(a.on(t)); }, {a.target()});
    expect_grads([&](Tape& t) { return log_sigmoid(a.on(t)); }, {a.target()});
    expect_grads([&](Tape& t) { return softplus(a.on(t)); }, {a.target()});
    expect_grads([&](Tape& t) { return gelu(a.on(t)); }, {a.target()});
    expect_grads([&](Tape& t) { return sin(a.on(t)); }, {a.target()});
    expect_grads([&](Tape& t) { return cos(a.on(t)); }, {a.target()});
}

BOOST_AUTO_TEST_CASE(sigmoid_family_large_inputs_grad) {
    // Far out on both sides (|x| in [4, 9]) the safe forms keep their slopes.
    Param pos("pos", 2, 5, 201, 4.f, 9.f), neg("neg", 2, 5, 202, -9.f, -4.f);
    for (Param* p : {&pos, &neg}) {
        expect_grads([&](Tape& t) { return log_sigmoid(p->on(t)); }, {p->target()});
        expect_grads([&](Tape& t) { return softplus(p->on(t)); }, {p->target()});
        expect_grads([&](Tape& t) { return sigmoid(p->on(t)); }, {p->target()});
    }
}

BOOST_AUTO_TEST_CASE(sigmoid_family_values) {
    // At 0: σ = ½, log σ = −log 2, softplus = log 2. Far out (|x| = 100, where
    // e^{|x|} overflows float): σ(100) = 1, σ(−100) = e^{−100} ≈ 3.7e−44 (a float
    // denormal), softplus(100) = 100, softplus(−100) = e^{−100}, log σ(−100) = −100,
    // log σ(100) = −e^{−100}; slopes σ(x) for softplus, σ(−x) for log σ.
    // The denormal results are 0 where subnormals are flushed (set_num_threads
    // turns flushing on; the test runner calls it), so bounds below are normal floats.
    Tape t;
    float a[] = {0.f, 100.f, -100.f}, g1[3] = {}, g2[3] = {}, g3[3] = {};
    Var s = sigmoid(t.parameter(Tensor(a, 1, 3), g1));
    Var ls = log_sigmoid(t.parameter(Tensor(a, 1, 3), g2));
    Var sp = softplus(t.parameter(Tensor(a, 1, 3), g3));
    const float ln2 = 0.69314718f, tiny = 3.7200760e-44f;
    std::vector<float> v = values(s);
    BOOST_CHECK_CLOSE(v[0], 0.5f, 1e-4);
    BOOST_CHECK_EQUAL(v[1], 1.f);
    if (denormals_flushed()) BOOST_CHECK_EQUAL(v[2], 0.f);
    else BOOST_CHECK(v[2] > 0.f && std::fabs(v[2] - tiny) < 1e-45f);
    v = values(ls);
    BOOST_CHECK_CLOSE(v[0], -ln2, 1e-4);
    BOOST_CHECK(v[1] <= 0.f && v[1] > -1e-37f);
    BOOST_CHECK_CLOSE(v[2], -100.f, 1e-5);
    v = values(sp);
    BOOST_CHECK_CLOSE(v[0], ln2, 1e-4);
    BOOST_CHECK_CLOSE(v[1], 100.f, 1e-5);
    BOOST_CHECK(v[2] >= 0.f && v[2] < 1e-37f);
    t.backward(add(add(sum(s), sum(ls)), sum(sp)));
    for (float* g : {g1, g2, g3})
        for (int k = 0; k < 3; ++k) BOOST_CHECK(std::isfinite(g[k]));
    BOOST_CHECK_CLOSE(g1[0], 0.25f, 1e-4);  // σ(1 − σ) at 0
    BOOST_CHECK_CLOSE(g2[2], 1.f, 1e-5);    // σ(100)
    BOOST_CHECK(std::fabs(g2[1]) < 1e-37f);  // σ(−100)
    BOOST_CHECK_CLOSE(g3[1], 1.f, 1e-5);
    BOOST_CHECK_CLOSE(g3[0], 0.5f, 1e-4);
}

BOOST_AUTO_TEST_CASE(gelu_sin_cos_values) {
    // GELU(x) = x Φ(x): GELU(1) = Φ(1) = 0.8413447, GELU(−1) = −(1 − Φ(1)), GELU(0) = 0.
    Tape t;
    float a[] = {1.f, -1.f, 0.f};
    Var A = t.constant(Tensor(a, 1, 3));
    std::vector<float> v = values(gelu(A));
    BOOST_CHECK_CLOSE(v[0], 0.8413447f, 1e-4);
    BOOST_CHECK_CLOSE(v[1], -0.1586553f, 1e-3);
    BOOST_CHECK_EQUAL(v[2], 0.f);
    v = values(sin(A));
    BOOST_CHECK_CLOSE(v[0], 0.84147098f, 1e-4);
    v = values(cos(A));
    BOOST_CHECK_CLOSE(v[1], 0.54030231f, 1e-4);
    BOOST_CHECK_EQUAL(v[2], 1.f);
}

BOOST_AUTO_TEST_CASE(lgamma_grad) {
    // Near 0+ (ψ ≈ −1/x, steep), moderate, and large (log Γ(30) ≈ 71).
    Param small("small", 2, 4, 203, 0.1f, 0.5f), mid("mid", 3, 4, 204, 0.6f, 6.f), big("big", 2, 4, 205, 10.f, 30.f);
    for (Param* p : {&small, &mid, &big}) expect_grads([&](Tape& t) { return lgamma(p->on(t)); }, {p->target()});
}

BOOST_AUTO_TEST_CASE(lgamma_values) {
    // log Γ(1) = log Γ(2) = 0, log Γ(0.5) = ½ log π, log Γ(0.1) = 2.2527127, log Γ(30) = log 29! = 71.257039.
    Tape t;
    float a[] = {1.f, 2.f, 0.5f, 0.1f, 30.f};
    std::vector<float> v = values(lgamma(t.constant(Tensor(a, 1, 5))));
    BOOST_CHECK_SMALL(v[0], 1e-6f);
    BOOST_CHECK_SMALL(v[1], 1e-6f);
    BOOST_CHECK_CLOSE(v[2], 0.57236494f, 1e-4);
    BOOST_CHECK_CLOSE(v[3], 2.2527127f, 1e-4);
    BOOST_CHECK_CLOSE(v[4], 71.257039f, 1e-4);
}

BOOST_AUTO_TEST_CASE(digamma_known_values_and_differences) {
    // ψ(1) = −γ, ψ(0.5) = −γ − 2 log 2, ψ(2) = 1 − γ, ψ(10) = H_9 − γ,
    // ψ(−0.5) = ψ(1.5) = 2 − γ − 2 log 2 (reflection: π / tan(−π/2) = 0).
    const double gamma = 0.57721566490153286, ln2 = 0.69314718055994531;
    const double h9 = 1.0 + 1.0 / 2 + 1.0 / 3 + 1.0 / 4 + 1.0 / 5 + 1.0 / 6 + 1.0 / 7 + 1.0 / 8 + 1.0 / 9;
    BOOST_CHECK_CLOSE(digamma(1.0), -gamma, 1e-9);
    BOOST_CHECK_CLOSE(digamma(0.5), -gamma - 2 * ln2, 1e-9);
    BOOST_CHECK_CLOSE(digamma(2.0), 1.0 - gamma, 1e-9);
    BOOST_CHECK_CLOSE(digamma(10.0), h9 - gamma, 1e-9);
    BOOST_CHECK_CLOSE(digamma(-0.5), 2.0 - gamma - 2 * ln2, 1e-8);
    BOOST_CHECK(std::isnan(digamma(0.0)));
    BOOST_CHECK(std::isnan(digamma(-2.0)));
    // Central differences of std::lgamma in double, h = 1e−5: truncation
    // h²/6·|ψ''(x)| <= 3e−7 for x >= 0.05, rounding ~1e−11.
    for (double x : {0.05, 0.3, 1.7, 5.99, 6.0, 7.25, 100.0, 1e4, -1.3}) {
        const double h = 1e-5;
        const double fd = (std::lgamma(x + h) - std::lgamma(x - h)) / (2 * h);
        BOOST_CHECK_MESSAGE(std::fabs(digamma(x) - fd) <= 1e-6 * std::max(1.0, std::fabs(fd)),
                            "psi(" << x << ") = " << digamma(x) << ", finite difference " << fd);
    }
    BOOST_CHECK_CLOSE(log_gamma(0.5), 0.5 * std::log(3.14159265358979323846), 1e-12);
}

BOOST_AUTO_TEST_CASE(div_grad_broadcast) {
    Param a("a", 4, 3, 206);
    Param same("b", 4, 3, 207, 0.5f, 2.f), row("b_row", 1, 3, 208, -2.f, -0.5f), scalar("b_scalar", 1, 1, 209, 0.5f, 2.f);
    for (Param* b : {&same, &row, &scalar}) expect_grads([&](Tape& t) { return div(a.on(t), b->on(t)); }, {a.target(), b->target()});
    // [6 8] / 2 = [3 4]
    Tape t;
    float x[] = {6.f, 8.f}, two = 2.f;
    std::vector<float> v = values(div(t.constant(Tensor(x, 1, 2)), t.constant(Tensor(&two, 1, 1))));
    BOOST_CHECK_EQUAL(v[0], 3.f);
    BOOST_CHECK_EQUAL(v[1], 4.f);
}

BOOST_AUTO_TEST_CASE(row_sum_and_reshape) {
    Param a("a", 5, 4, 210);
    expect_grads([&](Tape& t) { return row_sum(a.on(t)); }, {a.target()});
    expect_grads([&](Tape& t) { return log_softmax(reshape(a.on(t), 10, 2)); }, {a.target()});
    expect_grads([&](Tape& t) { return reshape(row_sum(reshape(a.on(t), 10, 2)), 2, 5); }, {a.target()});
    Tape t;
    float x[] = {1, 2, 3, 4, 5, 6};
    Var X = t.constant(Tensor(x, 2, 3));
    std::vector<float> v = values(row_sum(X));
    BOOST_CHECK_EQUAL(v[0], 6.f);
    BOOST_CHECK_EQUAL(v[1], 15.f);
    Var R = reshape(X, 3, 2);  // a view: same memory, rows [1 2], [3 4], [5 6]
    BOOST_CHECK(R.value().data == x);
    BOOST_CHECK_EQUAL(values(row_sum(R))[2], 11.f);
    expect_invalid([&] { reshape(X, 4, 2); }, "reshape");
    expect_invalid([&] { reshape(X, -2, -3); }, "reshape");
}

BOOST_AUTO_TEST_CASE(normal_log_prob_grad_and_values) {
    Param x("x", 4, 3, 211), mu("mu", 4, 3, 212), sigma("sigma", 4, 3, 213, 0.5f, 2.f);
    expect_grads([&](Tape& t) { return normal_log_prob(x.on(t), mu.on(t), sigma.on(t)); },
                 {x.target(), mu.target(), sigma.target()});
    // log N(0.3; 0, 1) = −½(log 2π + 0.09) = −0.96393853;
    // log N((0.3, −1); (0, 1), diag(1, 2)²) = −½(2 log 2π + 2 log 2 + 0.09 + 1) = −3.0760242
    Tape t;
    float xv[] = {0.3f, 0.f, 0.3f, -1.f}, mv[] = {0.f, 0.f, 0.f, 1.f}, sv[] = {1.f, 1.f, 1.f, 2.f};
    std::vector<float> v = values(normal_log_prob(t.constant(Tensor(xv, 1, 1)), t.constant(Tensor(mv, 1, 1)),
                                                  t.constant(Tensor(sv, 1, 1))));
    BOOST_CHECK_CLOSE(v[0], -0.96393853f, 1e-4);
    v = values(normal_log_prob(t.constant(Tensor(xv + 2, 1, 2)), t.constant(Tensor(mv + 2, 1, 2)),
                               t.constant(Tensor(sv + 2, 1, 2))));
    BOOST_CHECK_CLOSE(v[0], -3.0760242f, 1e-4);
    float bad[] = {1.f, 0.f};
    expect_invalid([&] { normal_log_prob(t.constant(Tensor(xv, 1, 2)), t.constant(Tensor(mv, 1, 2)),
                                         t.constant(Tensor(bad, 1, 2))); }, "normal_log_prob");
    expect_invalid([&] { normal_log_prob(t.constant(Tensor(xv, 1, 2)), t.constant(Tensor(mv, 2, 1)),
                                         t.constant(Tensor(sv, 1, 2))); }, "normal_log_prob");
}

BOOST_AUTO_TEST_CASE(normal_log_prob_equals_composition) {
    // −½ Σ_j [log 2π + 2 log σ + ((x − μ)/σ)²] from div, square, log, row_sum.
    Param x("x", 6, 3, 214), mu("mu", 6, 3, 215), sigma("sigma", 6, 3, 216, 0.3f, 3.f);
    Tape t;
    Var fused = normal_log_prob(x.on(t), mu.on(t), sigma.on(t));
    Var z = div(sub(x.on(t), mu.on(t)), sigma.on(t));
    Var terms = add(add_scalar(scale(log(sigma.on(t)), 2.f), 1.8378770664f), square(z));
    Var composed = scale(row_sum(terms), -0.5f);
    std::vector<float> f = values(fused), c = values(composed);
    for (size_t i = 0; i < f.size(); ++i) BOOST_CHECK_CLOSE(f[i], c[i], 1e-4);
}

BOOST_AUTO_TEST_CASE(beta_log_prob_grad_and_values) {
    // One value per row against K = 3 components, and one value per column (K = 1).
    Param r("r", 4, 2, 217, 0.1f, 0.9f), al("alpha", 4, 6, 218, 0.6f, 4.f), be("beta", 4, 6, 219, 0.6f, 4.f);
    expect_grads([&](Tape& t) { return beta_log_prob(r.on(t), al.on(t), be.on(t)); },
                 {r.target(), al.target(), be.target()});
    Param r6("r6", 4, 6, 220, 0.1f, 0.9f);
    expect_grads([&](Tape& t) { return beta_log_prob(r6.on(t), al.on(t), be.on(t)); },
                 {r6.target(), al.target(), be.target()});
    // Beta(0.25; 2, 3) = 0.25·0.75² / B(2, 3) = 12·0.25·0.5625 = 1.6875, log = 0.52324814;
    // Beta(r; 1, 1) = 1 everywhere, also at r = 0 and 1 (0·log 0 = 0).
    Tape t;
    float rv[] = {0.25f, 0.f, 1.f}, av[] = {2.f, 1.f, 1.f}, bv[] = {3.f, 1.f, 1.f};
    std::vector<float> v = values(beta_log_prob(t.constant(Tensor(rv, 1, 3)), t.constant(Tensor(av, 1, 3)),
                                                t.constant(Tensor(bv, 1, 3))));
    BOOST_CHECK_CLOSE(v[0], 0.52324814f, 1e-4);
    BOOST_CHECK_SMALL(v[1], 1e-6f);
    BOOST_CHECK_SMALL(v[2], 1e-6f);
    float bad_r[] = {1.5f}, neg[] = {-1.f}, one[] = {1.f};
    expect_invalid([&] { beta_log_prob(t.constant(Tensor(bad_r, 1, 1)), t.constant(Tensor(one, 1, 1)),
                                       t.constant(Tensor(one, 1, 1))); }, "beta_log_prob");
    expect_invalid([&] { beta_log_prob(t.constant(Tensor(rv, 1, 1)), t.constant(Tensor(neg, 1, 1)),
                                       t.constant(Tensor(one, 1, 1))); }, "beta_log_prob");
    expect_invalid([&] { beta_log_prob(t.constant(Tensor(rv, 1, 2)), t.constant(Tensor(av, 1, 3)),
                                       t.constant(Tensor(bv, 1, 3))); }, "beta_log_prob");
}

BOOST_AUTO_TEST_CASE(beta_log_prob_equals_composition) {
    // (α−1) log r + (β−1) log(1−r) − lgamma(α) − lgamma(β) + lgamma(α+β), composed.
    Param r("r", 5, 3, 221, 0.05f, 0.95f), al("alpha", 5, 3, 222, 0.3f, 5.f), be("beta", 5, 3, 223, 0.3f, 5.f);
    Tape t;
    Var R = r.on(t), A = al.on(t), B = be.on(t);
    Var fused = beta_log_prob(R, A, B);
    Var lr = log(R), l1r = log(add_scalar(scale(R, -1.f), 1.f));
    Var composed = add(add(mul(add_scalar(A, -1.f), lr), mul(add_scalar(B, -1.f), l1r)),
                       sub(lgamma(add(A, B)), add(lgamma(A), lgamma(B))));
    std::vector<float> f = values(fused), c = values(composed);
    for (size_t i = 0; i < f.size(); ++i) BOOST_CHECK_SMALL(f[i] - c[i], 2e-5f * std::max(1.f, std::fabs(f[i])));
}

BOOST_AUTO_TEST_CASE(logsumexp_mixture_edge_cases) {
    // Mixture components: −inf entries (zero weight), very large finite values,
    // and a +inf entry (a Beta density at an end with α < 1) must give +inf.
    Tape t;
    float a[] = {-kInf, 0.f, -kInf,               // log(e⁰) = 0
                 3e38f, 3e38f, -kInf,             // 3e38 + log 2 = 3e38 in float
                 -kInf, -kInf, -kInf,             // no mass: −inf
                 kInf, 1.f, -kInf,                // +inf
                 -1000.f, -1000.f, -1000.f};      // −1000 + log 3
    float g[15] = {};
    Var A = t.parameter(Tensor(a, 5, 3), g);
    Var y = logsumexp(A);
    std::vector<float> v = values(y);
    BOOST_CHECK_EQUAL(v[0], 0.f);
    BOOST_CHECK_EQUAL(v[1], 3e38f);
    BOOST_CHECK(std::isinf(v[2]) && v[2] < 0);
    BOOST_CHECK_MESSAGE(std::isinf(v[3]) && v[3] > 0, "logsumexp(+inf, 1, −inf) = " << v[3]);
    BOOST_CHECK_CLOSE(v[4], -1000.f + 1.0986123f, 1e-5);
    // Gradients: the softmax weights, in full precision even for huge entries;
    // −inf entries get 0, never NaN; +inf entries share the limit weight 1.
    float w[] = {1.f, 1.f, 1.f, 1.f, 1.f};
    t.backward(sum(mul(y, t.constant(Tensor(w, 5, 1)))));
    BOOST_CHECK_EQUAL(g[0], 0.f);
    BOOST_CHECK_CLOSE(g[1], 1.f, 1e-5);
    BOOST_CHECK_CLOSE(g[3], 0.5f, 1e-4);
    BOOST_CHECK_EQUAL(g[5], 0.f);
    for (int k : {6, 7, 8}) BOOST_CHECK_EQUAL(g[k], 0.f);
    BOOST_CHECK_EQUAL(g[9], 1.f);
    BOOST_CHECK_EQUAL(g[10], 0.f);
    BOOST_CHECK_EQUAL(g[11], 0.f);
    for (int k : {12, 13, 14}) BOOST_CHECK_CLOSE(g[k], 1.f / 3.f, 1e-4);
}

BOOST_AUTO_TEST_CASE(new_ops_large_parallel_grad) {
    // Above the OpenMP threshold: the element-wise helper and the fused densities with threads.
    Param a("a", 256, 160, 224, -2.f, 2.f), s("s", 256, 160, 225, 0.5f, 2.f);
    GradCheckOptions opt;
    opt.max_checks = 16;
    // The outputs stay unreduced: the check weights them in double, so a
    // perturbed entry is not lost in the rounding of a float sum.
    expect_grads([&](Tape& t) { return mul(gelu(a.on(t)), softplus(s.on(t))); }, {a.target(), s.target()}, opt);
    // Rows of 40 dimensions keep each row's sum small (its float rounding too).
    Param x("x", 1024, 40, 226, -2.f, 2.f), sd("sd", 1024, 40, 227, 0.5f, 2.f);
    expect_grads([&](Tape& t) { return normal_log_prob(x.on(t), sin(x.on(t)), sd.on(t)); },
                 {x.target(), sd.target()}, opt);
}

BOOST_AUTO_TEST_SUITE_END()

// ===========================================================================
// The fused GELU layers of the diffusion sampler's network: linear_gelu and
// gelu_add_rows, against central differences and against the unfused
// compositions they replace (values and gradients).

namespace {

// Gradients of Σ w ⊙ f over the given parameters (w fixed, not all ones).
std::vector<std::vector<float>> grads_of(const std::function<Var(Tape&)>& f, std::vector<Param*> ps) {
    for (Param* p : ps) std::fill(p->g.begin(), p->g.end(), 0.f);
    Tape t;
    Var y = f(t);
    std::vector<float> w(size_t(y.rows()) * y.cols());
    for (size_t k = 0; k < w.size(); ++k) w[k] = 0.5f + 0.25f * float(k % 5);
    t.backward(sum(mul(y, t.constant(Tensor(w.data(), y.rows(), y.cols())))));
    std::vector<std::vector<float>> out;
    for (Param* p : ps) out.push_back(p->g);
    return out;
}

void expect_close(const std::vector<float>& a, const std::vector<float>& b, float rel, const std::string& what) {
    BOOST_REQUIRE_EQUAL(a.size(), b.size());
    for (size_t k = 0; k < a.size(); ++k)
        BOOST_CHECK_MESSAGE(std::fabs(a[k] - b[k]) <= rel * std::max(1.f, std::fabs(b[k])),
                            what << "[" << k << "]: " << a[k] << " vs " << b[k]);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ops_fused_gelu)

BOOST_AUTO_TEST_CASE(linear_gelu_grad) {
    Param x("x", 5, 4, 300), W("W", 3, 4, 301, -1.f, 1.f), b("b", 1, 3, 302, -1.f, 1.f);
    expect_grads([&](Tape& t) { return linear_gelu(x.on(t), W.on(t), b.on(t)); }, {x.target(), W.target(), b.target()});
}

BOOST_AUTO_TEST_CASE(linear_gelu_matches_linear_then_gelu) {
    // Rows of 64 as the PIS network's joint layers, enough rows for the GEMM's blocking.
    Param x("x", 37, 64, 303), W("W", 64, 64, 304, -0.2f, 0.2f), b("b", 1, 64, 305, -0.5f, 0.5f);
    Tape t1, t2;
    const std::vector<float> fused = values(linear_gelu(x.on(t1), W.on(t1), b.on(t1)));
    const std::vector<float> plain = values(gelu(linear(x.on(t2), W.on(t2), b.on(t2))));
    expect_close(fused, plain, 1e-6f, "value");
    auto gf = grads_of([&](Tape& t) { return linear_gelu(x.on(t), W.on(t), b.on(t)); }, {&x, &W, &b});
    auto gp = grads_of([&](Tape& t) { return gelu(linear(x.on(t), W.on(t), b.on(t))); }, {&x, &W, &b});
    for (size_t k = 0; k < gf.size(); ++k) expect_close(gf[k], gp[k], 1e-5f, "grad " + std::to_string(k));
    // Without a gradient (NoGrad) the same values, and a node that needs none.
    Tape t3;
    NoGrad ng(t3);
    Var y = linear_gelu(x.on(t3), W.on(t3), b.on(t3));
    BOOST_CHECK(!y.node().requires_grad);
    expect_close(values(y), plain, 1e-6f, "no-grad value");
}

BOOST_AUTO_TEST_CASE(gelu_add_rows_grad) {
    Param a("a", 6, 4, 306), b("b", 3, 4, 307);
    static const int idx[6] = {2, 0, 1, 2, 2, 0};
    expect_grads([&](Tape& t) { return gelu_add_rows(a.on(t), b.on(t), idx); }, {a.target(), b.target()});
}

BOOST_AUTO_TEST_CASE(gelu_add_rows_matches_add_of_index_rows) {
    Param a("a", 40, 64, 308), b("b", 3, 64, 309);
    std::vector<int> idx(40);
    for (int i = 0; i < 40; ++i) idx[size_t(i)] = (i * 7) % 3;
    auto fused_f = [&](Tape& t) { return gelu_add_rows(a.on(t), b.on(t), idx.data()); };
    auto plain_f = [&](Tape& t) { return gelu(add(a.on(t), index_rows(b.on(t), idx.data(), 40))); };
    Tape t1, t2;
    expect_close(values(fused_f(t1)), values(plain_f(t2)), 1e-6f, "value");
    auto gf = grads_of(fused_f, {&a, &b});
    auto gp = grads_of(plain_f, {&a, &b});
    for (size_t k = 0; k < gf.size(); ++k) expect_close(gf[k], gp[k], 1e-5f, "grad " + std::to_string(k));
    // One row of b for every row: the broadcast add(a, b) of a (1, c) row.
    std::vector<int> zeros(40, 0);
    Param b1("b1", 1, 64, 310);
    Tape t3, t4;
    expect_close(values(gelu_add_rows(a.on(t3), b1.on(t3), zeros.data())), values(gelu(add(a.on(t4), b1.on(t4)))),
                 1e-6f, "row broadcast");
}

BOOST_AUTO_TEST_CASE(fused_gelu_errors) {
    Tape t;
    std::vector<float> v(64, 0.5f);
    Var x = t.constant(Tensor(v.data(), 4, 4)), W = t.constant(Tensor(v.data(), 3, 5)),
        W_ok = t.constant(Tensor(v.data(), 3, 4)), b_bad = t.constant(Tensor(v.data(), 1, 4)),
        b = t.constant(Tensor(v.data(), 1, 3));
    expect_invalid([&] { linear_gelu(x, W, b); }, "linear_gelu");        // in 4 vs weight (3, 5)
    expect_invalid([&] { linear_gelu(x, W_ok, b_bad); }, "linear_gelu"); // bias (1, 4) vs out 3
    const int bad_idx[4] = {0, 1, 3, 0};  // b has 3 rows
    const int good_idx[4] = {0, 1, 2, 0};
    Var rows = t.constant(Tensor(v.data(), 3, 4)), narrow = t.constant(Tensor(v.data(), 3, 2));
    expect_invalid([&] { gelu_add_rows(x, rows, bad_idx); }, "gelu_add_rows");
    expect_invalid([&] { gelu_add_rows(x, narrow, good_idx); }, "gelu_add_rows");
    expect_invalid([&] { gelu_add_rows(x, rows, nullptr); }, "gelu_add_rows");
    BOOST_CHECK_NO_THROW(gelu_add_rows(x, rows, good_idx));
}

BOOST_AUTO_TEST_SUITE_END()
