// test_tape.cpp — the tape and the arena: accumulation, no-grad scopes, errors,
// a flat arena high-water mark across steps, and the op registry.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/ops.h"

using namespace gfn;

BOOST_AUTO_TEST_SUITE(tape)

BOOST_AUTO_TEST_CASE(reused_node_accumulates) {
    Tape t;
    float x[] = {0.5f, -1.f, 2.f}, g[3] = {};
    Var X = t.parameter(Tensor(x, 1, 3), g);
    Var h = exp(X);
    // h is used twice: d/dx Σ (h + h ⊙ h) = e^x + 2 e^{2x}
    t.backward(sum(add(h, mul(h, h))));
    for (int i = 0; i < 3; ++i) BOOST_CHECK_CLOSE(g[i], std::exp(x[i]) + 2.f * std::exp(2.f * x[i]), 1e-3);
    // The intermediate's gradient holds both contributions: 1 + 2h.
    Tensor gh = h.grad();
    BOOST_REQUIRE(gh.data != nullptr);
    for (int i = 0; i < 3; ++i) BOOST_CHECK_CLOSE(gh.data[i], 1.f + 2.f * std::exp(x[i]), 1e-3);
}

BOOST_AUTO_TEST_CASE(parameter_gradients_accumulate_across_backward) {
    float x[] = {2.f}, g[] = {0.f};
    for (int step = 0; step < 2; ++step) {
        Tape t;
        Var X = t.parameter(Tensor(x, 1, 1), g);
        t.backward(scale(X, 3.f));
    }
    BOOST_CHECK_EQUAL(g[0], 6.f);
}

BOOST_AUTO_TEST_CASE(constants_get_no_gradient) {
    Tape t;
    float x[] = {1.f, 2.f}, c[] = {3.f, 4.f}, g[2] = {};
    Var X = t.parameter(Tensor(x, 1, 2), g);
    Var C = t.constant(Tensor(c, 1, 2));
    Var y = mul(X, C);
    BOOST_CHECK(y.node().requires_grad);
    BOOST_CHECK(!C.node().requires_grad);
    t.backward(sum(y));
    BOOST_CHECK(C.grad().data == nullptr);
    BOOST_CHECK_EQUAL(g[0], 3.f);
    BOOST_CHECK_EQUAL(g[1], 4.f);
    // A loss that no parameter reaches: backward does nothing.
    Var k = sum(C);
    BOOST_CHECK(!k.node().requires_grad);
    t.backward(k);
    BOOST_CHECK(C.grad().data == nullptr);
}

BOOST_AUTO_TEST_CASE(no_grad_records_no_gradient) {
    Tape t;
    float x[] = {1.f, 2.f}, g[2] = {};
    Var loss;
    {
        NoGrad ng(t);
        BOOST_CHECK(!t.grad_enabled);
        Var X = t.parameter(Tensor(x, 1, 2), g);
        BOOST_CHECK(!X.node().requires_grad);
        loss = sum(square(X));
        BOOST_CHECK(!loss.node().requires_grad);
        BOOST_CHECK_EQUAL(loss.item(), 5.f);  // values are still computed
    }
    BOOST_CHECK(t.grad_enabled);
    t.backward(loss);
    BOOST_CHECK_EQUAL(g[0], 0.f);
    BOOST_CHECK_EQUAL(g[1], 0.f);

    // A parameter recorded with grad enabled, used inside a NoGrad scope.
    Var X = t.parameter(Tensor(x, 1, 2), g);
    Var y;
    {
        NoGrad ng(t);
        y = sum(X);
    }
    BOOST_CHECK(!y.node().requires_grad);
    t.backward(y);
    BOOST_CHECK_EQUAL(g[0], 0.f);
    // Nested scopes restore the outer state.
    {
        NoGrad a(t);
        {
            NoGrad b(t);
        }
        BOOST_CHECK(!t.grad_enabled);
    }
    BOOST_CHECK(t.grad_enabled);
}

BOOST_AUTO_TEST_CASE(backward_requires_scalar) {
    Tape t;
    float x[] = {1.f, 2.f}, g[2] = {};
    Var X = t.parameter(Tensor(x, 1, 2), g);
    BOOST_CHECK_THROW(t.backward(square(X)), std::invalid_argument);
    BOOST_CHECK_THROW(t.backward(Var{}), std::invalid_argument);
    BOOST_CHECK_THROW(square(X).item(), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(arena_high_water_mark_is_flat) {
    // A start far below one step's need, so the arena must grow, then merge.
    Tape t(size_t(1) << 12);
    const int n = 64, in = 128, out = 64;
    std::vector<float> x(size_t(n) * in), W(size_t(out) * in), gW(W.size()), b(out), gb(out);
    for (size_t i = 0; i < x.size(); ++i) x[i] = float(std::sin(double(i)));
    for (size_t i = 0; i < W.size(); ++i) W[i] = 0.01f * float(std::cos(double(i)));
    std::vector<int> act(n);
    for (int i = 0; i < n; ++i) act[size_t(i)] = i % out;

    size_t cap = 0, blocks = 0, used = 0;
    for (int step = 0; step < 1000; ++step) {
        Var X = t.constant(Tensor(x.data(), n, in));
        Var h = tanh(linear(X, t.parameter(Tensor(W.data(), out, in), gW.data()),
                            t.parameter(Tensor(b.data(), 1, out), gb.data())));
        Var lp = log_softmax(add(h, scale(h, 0.5f)));
        Var loss = scale(mean(gather(lp, act.data())), -1.f);
        t.backward(loss);
        if (step == 0) BOOST_CHECK_GT(t.arena.used(), size_t(100) << 10);  // a few hundred KB
        if (step == 2) {
            cap = t.arena.capacity();
            blocks = t.arena.n_blocks();
            used = t.arena.used();
        } else if (step > 2) {
            BOOST_REQUIRE_EQUAL(t.arena.capacity(), cap);
            BOOST_REQUIRE_EQUAL(t.arena.n_blocks(), blocks);
            BOOST_REQUIRE_EQUAL(t.arena.used(), used);
        }
        t.reset();
        BOOST_CHECK(t.nodes.empty());
    }
    BOOST_CHECK_EQUAL(blocks, 1u);
    BOOST_CHECK(std::isfinite(gW[0]));
}

BOOST_AUTO_TEST_CASE(op_names) {
    std::set<std::string> names;
    for (int i = 0; i < int(Op::COUNT); ++i) {
        const char* name = op_name(Op(i));
        BOOST_REQUIRE(name != nullptr);
        BOOST_CHECK(std::string(name).size() > 0);
        names.insert(name);
    }
    BOOST_CHECK_EQUAL(names.size(), size_t(Op::COUNT));  // and distinct
}

BOOST_AUTO_TEST_SUITE_END()
