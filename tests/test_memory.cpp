// test_memory.cpp — the memory savings of the training step (docs/engine.md,
// "Memory"): linear_sparse (a one-hot / K-hot input by the columns of its ones)
// against the dense Linear on the materialised input and by finite differences;
// the preprocessors' active columns against apply(); the recycled backward's
// in-place relu / leaky relu / square Linear and its view aliasing against the
// plain backward and by finite differences; its peak arena use; the rollout
// recording with a sparse input; Tape / Arena mark and rewind.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <vector>

#include "engine/nn.h"
#include "engine/ops.h"
#include "gfn/estimators/preprocessors.h"
#include "tests/gradcheck.h"

using namespace gfn;

namespace {

void expect_grads(const std::function<Var(Tape&)>& f, std::vector<GradTarget> targets) {
    GradCheckReport r = check_gradients(f, std::move(targets));
    BOOST_CHECK_MESSAGE(r.ok, r.message());
    BOOST_TEST_MESSAGE(r.message());
}

// x (n, in) with row i = Σ_k e_{cols[i, k]} (cols < 0 skipped).
std::vector<float> materialise(const std::vector<int>& cols, int n, int per_row, int in) {
    std::vector<float> x(size_t(n) * size_t(in), 0.f);
    for (int i = 0; i < n; ++i)
        for (int k = 0; k < per_row; ++k) {
            const int c = cols[size_t(i) * per_row + k];
            if (c >= 0) x[size_t(i) * in + c] += 1.f;
        }
    return x;
}

std::vector<float> draw(Rng& rng, size_t n, float lo, float hi) {
    std::vector<float> v(n);
    for (float& x : v) x = rng.uniform(lo, hi);
    return v;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(memory)

BOOST_AUTO_TEST_CASE(linear_sparse_hand_worked) {
    // W (2, 3) = [[1, 2, 3], [4, 5, 6]], b = [10, 20];
    // x = [[1, 0, 1], [0, 0, 0], [0, 2, 0]] as columns {0, 2}, {-1, -1}, {1, 1}.
    std::vector<float> W = {1, 2, 3, 4, 5, 6}, b = {10, 20};
    std::vector<int> cols = {0, 2, -1, -1, 1, 1};
    Tape t;
    NoGrad ng(t);
    Var y = linear_sparse(t.constant(Tensor(W.data(), 2, 3)), t.constant(Tensor(b.data(), 1, 2)), cols.data(), 3, 2);
    const float expect[6] = {14, 30, 10, 20, 14, 30};
    BOOST_REQUIRE_EQUAL(y.rows(), 3);
    BOOST_REQUIRE_EQUAL(y.cols(), 2);
    for (int q = 0; q < 6; ++q) BOOST_CHECK_EQUAL(y.value().data[q], expect[q]);
}

BOOST_AUTO_TEST_CASE(linear_sparse_matches_dense_linear) {
    const int n = 7, per_row = 3, in = 9, out = 5;
    Rng rng(11);
    std::vector<float> W = draw(rng, size_t(out) * in, -1.f, 1.f), b = draw(rng, out, -1.f, 1.f);
    std::vector<int> cols(size_t(n) * per_row);
    for (int& c : cols) c = int(rng.next_u32() % (in + 1)) - 1;  // -1 (none) .. in-1, repeats allowed
    std::vector<float> x = materialise(cols, n, per_row, in);
    std::vector<float> w_up = draw(rng, size_t(n) * out, -1.f, 1.f);  // dL/dy
    std::vector<float> gW_sparse(W.size(), 0.f), gb_sparse(b.size(), 0.f), gW_dense(W.size(), 0.f),
        gb_dense(b.size(), 0.f);
    for (int recycle = 0; recycle < 2; ++recycle) {
        std::fill(gW_sparse.begin(), gW_sparse.end(), 0.f);
        std::fill(gb_sparse.begin(), gb_sparse.end(), 0.f);
        std::fill(gW_dense.begin(), gW_dense.end(), 0.f);
        std::fill(gb_dense.begin(), gb_dense.end(), 0.f);
        Tape ts, td;
        ts.recycle_gradients = td.recycle_gradients = recycle == 1;
        Var ys = linear_sparse(ts.parameter(Tensor(W.data(), out, in), gW_sparse.data()),
                               ts.parameter(Tensor(b.data(), 1, out), gb_sparse.data()), cols.data(), n, per_row);
        Var yd = linear(td.constant(Tensor(x.data(), n, in)), td.parameter(Tensor(W.data(), out, in), gW_dense.data()),
                        td.parameter(Tensor(b.data(), 1, out), gb_dense.data()));
        for (size_t q = 0; q < size_t(n) * out; ++q) BOOST_CHECK_CLOSE(ys.value().data[q], yd.value().data[q], 1e-4);
        ts.backward(sum(mul(ys, ts.constant(Tensor(w_up.data(), n, out)))));
        td.backward(sum(mul(yd, td.constant(Tensor(w_up.data(), n, out)))));
        for (size_t q = 0; q < W.size(); ++q) BOOST_CHECK_SMALL(gW_sparse[q] - gW_dense[q], 1e-5f);
        for (size_t q = 0; q < b.size(); ++q) BOOST_CHECK_SMALL(gb_sparse[q] - gb_dense[q], 1e-5f);
    }
}

BOOST_AUTO_TEST_CASE(linear_sparse_gradcheck) {
    const int n = 6, per_row = 2, in = 8, out = 4;
    Rng rng(5);
    std::vector<float> W = draw(rng, size_t(out) * in, -1.f, 1.f), b = draw(rng, out, -1.f, 1.f);
    std::vector<float> gW(W.size()), gb(b.size());
    std::vector<int> cols(size_t(n) * per_row);
    for (int& c : cols) c = int(rng.next_u32() % in);
    cols[3] = -1;
    // A smooth function of y (tanh), so that dL/dy differs from row to row.
    auto f = [&](Tape& t) {
        return tanh(linear_sparse(t.parameter(Tensor(W.data(), out, in), gW.data()),
                                  t.parameter(Tensor(b.data(), 1, out), gb.data()), cols.data(), n, per_row));
    };
    expect_grads(f, {GradTarget{"W", W.data(), gW.data(), W.size()}, GradTarget{"b", b.data(), gb.data(), b.size()}});
}

BOOST_AUTO_TEST_CASE(linear_sparse_rejects_bad_input) {
    std::vector<float> W(6, 0.f), b(2, 0.f), b_bad(3, 0.f);
    std::vector<int> cols = {0, 3};
    Tape t;
    Var w = t.constant(Tensor(W.data(), 2, 3));
    BOOST_CHECK_THROW(linear_sparse(w, t.constant(Tensor(b.data(), 1, 2)), cols.data(), 2, 1), std::invalid_argument);
    BOOST_CHECK_THROW(linear_sparse(w, t.constant(Tensor(b_bad.data(), 1, 3)), cols.data(), 1, 1),
                      std::invalid_argument);
    BOOST_CHECK_THROW(linear_sparse(w, Var(), cols.data(), 1, 0), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(preprocessor_active_columns_match_apply) {
    // K-hot over values [1, 4): 0 and 4 lie outside (a zero block, column -1).
    KHotPreprocessor p(3, 3, 1);
    BOOST_REQUIRE_EQUAL(p.active_per_row(), 3);
    std::vector<int> states = {1, 2, 3, 0, 3, 4, 2, 2, 1};
    const int n = 3;
    std::vector<float> dense(size_t(n) * p.output_dim());
    p.apply(states.data(), n, dense.data());
    std::vector<int> cols(size_t(n) * 3);
    p.active_columns(states.data(), n, cols.data());
    const std::vector<int> expect = {0, 4, 8, -1, 5, -1, 1, 4, 6};
    BOOST_CHECK_EQUAL_COLLECTIONS(cols.begin(), cols.end(), expect.begin(), expect.end());
    std::vector<float> back = materialise(cols, n, 3, p.output_dim());
    BOOST_CHECK_EQUAL_COLLECTIONS(back.begin(), back.end(), dense.begin(), dense.end());
    IdentityPreprocessor id(2);
    BOOST_CHECK_EQUAL(id.active_per_row(), 0);
    BOOST_CHECK_THROW(id.active_columns(states.data(), 1, cols.data()), std::logic_error);
}

// x (param) -> square Linear -> relu -> square Linear -> leaky relu = h; the loss
// reads h whole (a head), a slice of its rows and a reshape of it: every in-place
// and view path of the recycled backward, beside a node with two consumers (h1,
// read by the second layer and by a head of its own, so not in place).
struct InPlaceNet {
    int n = 6, H = 4;
    std::vector<float> x, W1, b1, W2, b2, V, gx, gW1, gb1, gW2, gb2, gV, wy;
    InPlaceNet() {
        Rng rng(3);
        for (uint64_t seed = 1;; ++seed) {  // pre-activations away from the kinks at 0
            Rng r(seed);
            x = draw(r, size_t(n) * H, -1.f, 1.f);
            W1 = draw(r, size_t(H) * H, -1.f, 1.f);
            b1 = draw(r, H, -0.5f, 0.5f);
            W2 = draw(r, size_t(H) * H, -1.f, 1.f);
            b2 = draw(r, H, -0.5f, 0.5f);
            Tape t;
            NoGrad ng(t);
            Var z1 = linear(t.constant(Tensor(x.data(), n, H)), t.constant(Tensor(W1.data(), H, H)),
                            t.constant(Tensor(b1.data(), 1, H)));
            Var z2 = linear(relu(z1), t.constant(Tensor(W2.data(), H, H)), t.constant(Tensor(b2.data(), 1, H)));
            float m = 1e9f;
            for (size_t q = 0; q < size_t(n) * H; ++q)
                m = std::min(m, std::min(std::fabs(z1.value().data[q]), std::fabs(z2.value().data[q])));
            if (m > 0.02f) break;
        }
        V = draw(rng, size_t(H) * 2, -1.f, 1.f);
        wy = draw(rng, size_t(n) * H, -1.f, 1.f);
        gx.assign(x.size(), 0.f); gW1.assign(W1.size(), 0.f); gb1.assign(b1.size(), 0.f);
        gW2.assign(W2.size(), 0.f); gb2.assign(b2.size(), 0.f); gV.assign(V.size(), 0.f);
    }
    Var loss(Tape& t) {
        Var xv = t.parameter(Tensor(x.data(), n, H), gx.data());
        Var z1 = linear(xv, t.parameter(Tensor(W1.data(), H, H), gW1.data()), t.parameter(Tensor(b1.data(), 1, H), gb1.data()));
        Var h1 = relu(z1);
        Var z2 = linear(h1, t.parameter(Tensor(W2.data(), H, H), gW2.data()), t.parameter(Tensor(b2.data(), 1, H), gb2.data()));
        Var h = leaky_relu(z2, 0.1f);
        Var Vv = t.parameter(Tensor(V.data(), 2, H), gV.data());
        Var head = linear(h, Vv, Var());
        Var side = linear(h1, Vv, Var());                     // h1's second consumer
        Var part = slice_rows(h, 2, 5);                       // a view of h
        Var flat = reshape(h, n * H / 2, 2);                  // another view
        Var l = add(sum(square(head)), sum(tanh(side)));
        l = add(l, sum(mul(part, part)));
        l = add(l, sum(square(flat)));
        return add(l, sum(mul(h, t.constant(Tensor(wy.data(), n, H)))));
    }
    std::vector<GradTarget> targets() {
        return {GradTarget{"x", x.data(), gx.data(), x.size()}, GradTarget{"W1", W1.data(), gW1.data(), W1.size()},
                GradTarget{"b1", b1.data(), gb1.data(), b1.size()}, GradTarget{"W2", W2.data(), gW2.data(), W2.size()},
                GradTarget{"b2", b2.data(), gb2.data(), b2.size()}, GradTarget{"V", V.data(), gV.data(), V.size()}};
    }
    std::vector<float> all_grads() const {
        std::vector<float> g;
        for (const auto* v : {&gx, &gW1, &gb1, &gW2, &gb2, &gV}) g.insert(g.end(), v->begin(), v->end());
        return g;
    }
    void zero() {
        for (auto* v : {&gx, &gW1, &gb1, &gW2, &gb2, &gV}) std::fill(v->begin(), v->end(), 0.f);
    }
};

BOOST_AUTO_TEST_CASE(recycled_backward_matches_plain_backward) {
    InPlaceNet net;
    Tape plain;
    net.zero();
    plain.backward(net.loss(plain));
    const std::vector<float> g_plain = net.all_grads();
    Tape rec;
    rec.recycle_gradients = true;
    net.zero();
    rec.backward(net.loss(rec));
    const std::vector<float> g_rec = net.all_grads();
    BOOST_REQUIRE_EQUAL(g_plain.size(), g_rec.size());
    for (size_t q = 0; q < g_plain.size(); ++q) BOOST_CHECK_CLOSE(g_rec[q] + 1.f, g_plain[q] + 1.f, 1e-4);
}

BOOST_AUTO_TEST_CASE(recycled_backward_gradcheck) {
    InPlaceNet net;
    auto f = [&](Tape& t) {
        t.recycle_gradients = true;
        return net.loss(t);
    };
    expect_grads(f, net.targets());
}

BOOST_AUTO_TEST_CASE(recycled_backward_keeps_one_trunk_gradient) {
    // A relu trunk of two square layers over many rows, heads on all rows and on
    // a slice: the recycled backward holds one (rows, H) gradient (+ small ones);
    // without the in-place ops and view aliasing it held three. (Beside it: the
    // in-place Linear's 512-row scratch and the heads' (rows, 3) gradients.)
    const int rows = 8000, H = 64, A = 3;
    Rng rng(9);
    std::vector<float> x = draw(rng, size_t(rows) * H, -1.f, 1.f);
    ParamStore store;
    Linear l1(store, "l1", H, H, rng), l2(store, "l2", H, H, rng), head(store, "head", H, A, rng),
        head_b(store, "head_b", H, A, rng);
    Tape t;
    t.recycle_gradients = true;
    Var h = relu(l2.forward(relu(l1.forward(t.constant(Tensor(x.data(), rows, H))))));
    Var loss = add(sum(square(head.forward(h))), sum(square(head_b.forward(slice_rows(h, 100, rows)))));
    const size_t before = t.arena.used();
    t.backward(loss);
    const size_t grad_bytes = t.arena.used() - before;
    const size_t one = size_t(rows) * H * sizeof(float);
    BOOST_TEST_MESSAGE("backward arena bytes " << grad_bytes << ", one (rows, H) buffer " << one);
    BOOST_CHECK_LT(grad_bytes, one + one / 2);
}

BOOST_AUTO_TEST_CASE(sparse_recording_matches_dense_trunk) {
    // A K-hot input: the rollout's recording (gather first layer) against the
    // dense trunk on the materialised input, values and gradients.
    KHotPreprocessor pre(3, 4);
    const int in = pre.output_dim(), n1 = 5, n2 = 4, n = n1 + n2;
    Rng rng(21);
    ParamStore store;
    MLP mlp(store, "net", in, 3, 8, 2, Activation::Relu, rng);
    std::vector<int> states(size_t(n) * 3);
    for (int& s : states) s = int(rng.next_u32() % 5);  // 4 lies outside: a zero block
    std::vector<float> x(size_t(n) * in);
    pre.apply(states.data(), n, x.data());
    std::vector<int> cols(size_t(n) * 3);
    pre.active_columns(states.data(), n, cols.data());
    TrunkRecording rec;
    rec.clear();
    const float* h1 = mlp.trunk_rows_sparse(cols.data(), 3, n1, rec);
    std::vector<float> rows_out(h1, h1 + size_t(n1) * 8);
    const float* h2 = mlp.trunk_rows_sparse(cols.data() + size_t(n1) * 3, 3, n2, rec);
    rows_out.insert(rows_out.end(), h2, h2 + size_t(n2) * 8);
    BOOST_REQUIRE_EQUAL(rec.rows, n);
    BOOST_CHECK_EQUAL(rec.input.size(), 0u);  // no (rows, in) input kept

    std::vector<float> w_up = draw(rng, size_t(n) * 3, -1.f, 1.f);
    Tape ts;
    ts.recycle_gradients = true;
    Var ys = mlp.head(mlp.trunk_from_recording(ts, rec));
    ts.backward(sum(mul(ys, ts.constant(Tensor(w_up.data(), n, 3)))));
    const std::vector<float> g_sparse = store.grads;
    store.zero_grad();
    Tape td;
    Var hd = mlp.trunk(td.constant(Tensor(x.data(), n, in)));
    Var yd = mlp.head(hd);
    td.backward(sum(mul(yd, td.constant(Tensor(w_up.data(), n, 3)))));
    for (size_t q = 0; q < rows_out.size(); ++q) BOOST_CHECK_CLOSE(rows_out[q] + 1.f, hd.value().data[q] + 1.f, 1e-4);
    for (size_t q = 0; q < size_t(n) * 3; ++q) BOOST_CHECK_CLOSE(ys.value().data[q] + 1.f, yd.value().data[q] + 1.f, 1e-4);
    for (size_t q = 0; q < g_sparse.size(); ++q) BOOST_CHECK_SMALL(g_sparse[q] - store.grads[q], 1e-5f);
    // trunk_sparse on the tape: the same values.
    Tape tt;
    Var ht = mlp.trunk_sparse(tt, cols.data(), 3, n);
    for (size_t q = 0; q < rows_out.size(); ++q) BOOST_CHECK_CLOSE(ht.value().data[q] + 1.f, rows_out[q] + 1.f, 1e-4);
}

BOOST_AUTO_TEST_CASE(tape_rewind_reuses_memory) {
    Tape t(1024);  // small: the pushes below span several blocks
    std::vector<float> a = {1, 2, 3}, big(64, 0.5f);
    Var keep = t.constant_copy(a.data(), 1, 3);
    const Tape::Mark m = t.mark();
    const size_t used = t.arena.used();
    for (int step = 0; step < 3; ++step) {
        t.rewind(m);
        BOOST_CHECK_EQUAL(t.nodes.size(), size_t(keep.id) + 1);
        BOOST_CHECK_EQUAL(t.arena.used(), used);
        for (int k = 0; k < 4; ++k) scale(t.constant_copy(big.data(), 64, 1), 2.f);
    }
    const size_t cap = t.arena.capacity();
    t.rewind(m);
    for (int k = 0; k < 4; ++k) scale(t.constant_copy(big.data(), 64, 1), 2.f);
    BOOST_CHECK_EQUAL(t.arena.capacity(), cap);  // the spare blocks served again
    BOOST_CHECK_EQUAL(keep.value().data[2], 3.f);
    Tape::Mark ahead = t.mark();
    t.rewind(m);
    BOOST_CHECK_THROW(t.rewind(ahead), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
