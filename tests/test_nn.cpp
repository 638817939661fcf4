// test_nn.cpp — ParamStore, Linear, MLP: initialisation, structure, the
// reference HyperGrid network's parameter count, gradients through whole
// networks (tests/gradcheck.h), frozen stores and activation names.
//
// Gradient checks through relu/leaky_relu/elu networks draw inputs until no
// pre-activation lies within a margin of the kink at 0, so the central
// differences never straddle one (as tests/test_ops.cpp does for single ops).
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/nn.h"
#include "engine/ops.h"
#include "tests/gradcheck.h"

using namespace gfn;

namespace {

void expect_grads(const std::function<Var(Tape&)>& f, std::vector<GradTarget> targets,
                  const GradCheckOptions& opt = GradCheckOptions()) {
    GradCheckReport r = check_gradients(f, std::move(targets), opt);
    BOOST_CHECK_MESSAGE(r.ok, r.message());
    BOOST_TEST_MESSAGE(r.message());
}

// Every parameter of the store as one gradient-check target.
GradTarget store_target(ParamStore& s, const std::string& name = "store") {
    return GradTarget{name, s.values.data(), s.grads.data(), s.size()};
}

// Smallest |pre-activation| of the hidden layers of `mlp` on input x (n, in).
float min_abs_preactivation(const MLP& mlp, std::vector<float>& x, int n, int in) {
    Tape t;
    NoGrad ng(t);
    Var h = t.constant(Tensor(x.data(), n, in));
    float m = std::numeric_limits<float>::infinity();
    for (const Linear& l : mlp.hidden_layers) {
        Var z = l.forward(h);
        Tensor zv = z.value();
        for (size_t i = 0; i < zv.size(); ++i) m = std::min(m, std::fabs(zv.data[i]));
        h = activate(z, mlp.activation);
    }
    return m;
}

// A small MLP and an input, redrawn (seed by seed) until every hidden
// pre-activation is at least `margin` away from 0.
struct SmallNet {
    ParamStore store;
    std::unique_ptr<MLP> mlp;
    std::vector<float> x, x_grad;
    int n, in;

    SmallNet(int n_, int in_, int out, int hidden, int n_hidden, Activation act, float margin = 0.02f)
        : n(n_), in(in_) {
        for (uint64_t seed = 1; seed < 10000; ++seed) {
            store = ParamStore();
            Rng rng(seed);
            mlp = std::make_unique<MLP>(store, "net", in, out, hidden, n_hidden, act, rng);
            x.assign(size_t(n) * size_t(in), 0.f);
            for (float& v : x) v = rng.uniform(-1.5f, 1.5f);
            if (min_abs_preactivation(*mlp, x, n, in) >= margin) break;
        }
        const float m = min_abs_preactivation(*mlp, x, n, in);
        BOOST_REQUIRE_MESSAGE(m >= margin, "no seed kept the pre-activations away from the kink");
        BOOST_TEST_MESSAGE(activation_name(act) << " net: smallest |pre-activation| " << m);
        x_grad.assign(x.size(), 0.f);
    }
    Var input(Tape& t) { return t.parameter(Tensor(x.data(), n, in), x_grad.data()); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(nn)

// ---------------------------------------------------------------------------
// ParamStore and Linear

BOOST_AUTO_TEST_CASE(param_store_layout) {
    ParamStore s;
    int a = s.add("a", 2, 3);
    int b = s.add("b", 1, 4, 1);
    BOOST_CHECK_EQUAL(a, 0);
    BOOST_CHECK_EQUAL(b, 1);
    BOOST_CHECK_EQUAL(s.size(), 10u);
    BOOST_CHECK_EQUAL(s.grads.size(), 10u);
    BOOST_CHECK_EQUAL(s.params[1].offset, 6u);
    BOOST_CHECK(s.value(b).data == s.values.data() + 6);
    BOOST_CHECK(s.grad(b) == s.grads.data() + 6);
    BOOST_CHECK_EQUAL(s.value(a).rows, 2);
    BOOST_CHECK_EQUAL(s.value(a).cols, 3);
    BOOST_CHECK_EQUAL(s.group_size(0), 6u);
    BOOST_CHECK_EQUAL(s.group_size(1), 4u);
    BOOST_CHECK_EQUAL(s.group_size(2), 0u);
    BOOST_CHECK_THROW(s.add("bad", 0, 3), std::invalid_argument);
    BOOST_CHECK_THROW(s.add("bad", 2, -1), std::invalid_argument);
    BOOST_CHECK_EQUAL(s.size(), 10u);
    std::fill(s.grads.begin(), s.grads.end(), 3.f);
    s.zero_grad();
    for (float g : s.grads) BOOST_CHECK_EQUAL(g, 0.f);
}

BOOST_AUTO_TEST_CASE(linear_init_bounds_and_uniformity) {
    // PyTorch's default: W, b ~ U(−1/√in, 1/√in). A 256x256 layer: bound 1/16.
    ParamStore s;
    Rng rng(3);
    Linear l(s, "fc", 256, 256, rng);
    BOOST_CHECK_EQUAL(l.in, 256);
    BOOST_CHECK_EQUAL(l.out, 256);
    Tensor W = s.value(l.W), b = s.value(l.b);
    BOOST_CHECK_EQUAL(W.rows, 256);
    BOOST_CHECK_EQUAL(W.cols, 256);
    BOOST_CHECK_EQUAL(b.rows, 1);
    BOOST_CHECK_EQUAL(b.cols, 256);
    const double bound = 1.0 / 16.0;
    for (Tensor t : {W, b})
        for (size_t i = 0; i < t.size(); ++i) BOOST_REQUIRE_LE(std::fabs(t.data[i]), bound);

    // Moments of the 65536 weights: U(−c, c) has mean 0, variance c²/3.
    // sd(mean) = c/√3/256 = 1.4e-4; sd(mean of w²) = c²·√(4/45)/256 = 0.35% of c²/3.
    const size_t n = W.size();
    double s1 = 0.0, s2 = 0.0, lo = 1.0, hi = -1.0;
    std::vector<int> hist(10, 0);
    for (size_t i = 0; i < n; ++i) {
        double w = W.data[i];
        s1 += w;
        s2 += w * w;
        lo = std::min(lo, w);
        hi = std::max(hi, w);
        ++hist[std::min(9, int((w + bound) / (2 * bound) * 10))];
    }
    const double mean = s1 / double(n), var = s2 / double(n) - mean * mean;
    BOOST_CHECK_LE(std::fabs(mean), 5 * bound / std::sqrt(3.0) / 256.0);
    BOOST_CHECK_CLOSE(var, bound * bound / 3.0, 2.0);  // within 2%
    // The whole interval is covered...
    BOOST_CHECK_LT(lo, -0.999 * bound);
    BOOST_CHECK_GT(hi, 0.999 * bound);
    // ...evenly: 10 bins of 6553.6 expected, sd √(n·0.1·0.9) = 76.8.
    for (int c : hist) BOOST_CHECK_LE(std::fabs(c - n / 10.0), 5 * std::sqrt(n * 0.09));

    // Bound follows fan_in, not fan_out: a 7 → 300 layer uses 1/√7.
    Linear narrow(s, "narrow", 7, 300, rng);
    const double b7 = 1.0 / std::sqrt(7.0);
    double m7 = 0.0;
    for (int id : {narrow.W, narrow.b}) {
        Tensor t = s.value(id);
        for (size_t i = 0; i < t.size(); ++i) {
            BOOST_REQUIRE_LE(std::fabs(t.data[i]), b7);
            m7 = std::max(m7, double(std::fabs(t.data[i])));
        }
    }
    BOOST_CHECK_GT(m7, 0.99 * b7);
}

BOOST_AUTO_TEST_CASE(linear_init_is_seeded) {
    ParamStore a, b, c;
    Rng ra(10), rb(10), rc(11);
    Linear(a, "fc", 5, 4, ra);
    Linear(b, "fc", 5, 4, rb);
    Linear(c, "fc", 5, 4, rc);
    BOOST_CHECK(a.values == b.values);
    BOOST_CHECK(a.values != c.values);
}

// ---------------------------------------------------------------------------
// MLP structure

BOOST_AUTO_TEST_CASE(mlp_structure) {
    // n_hidden_layers counts the input projection: 2 → in→H→H→out, three Linear layers.
    ParamStore s;
    Rng rng(1);
    MLP m(s, "pf", 16, 3, 32, 2, Activation::Tanh, rng);
    BOOST_REQUIRE_EQUAL(m.hidden_layers.size(), 2u);
    BOOST_CHECK_EQUAL(s.params.size(), 6u);  // three (weight, bias) pairs
    BOOST_CHECK_EQUAL(m.hidden_layers[0].in, 16);
    BOOST_CHECK_EQUAL(m.hidden_layers[0].out, 32);
    BOOST_CHECK_EQUAL(m.hidden_layers[1].in, 32);
    BOOST_CHECK_EQUAL(m.hidden_layers[1].out, 32);
    BOOST_CHECK_EQUAL(m.output_layer.in, 32);
    BOOST_CHECK_EQUAL(m.output_layer.out, 3);
    BOOST_CHECK_EQUAL(s.value(m.hidden_layers[0].W).rows, 32);  // W is (out, in)
    BOOST_CHECK_EQUAL(s.value(m.hidden_layers[0].W).cols, 16);
    BOOST_CHECK_EQUAL(s.value(m.output_layer.b).cols, 3);
    BOOST_CHECK_EQUAL(m.hidden_dim(), 32);
    BOOST_CHECK(m.activation == Activation::Tanh);
    BOOST_CHECK_EQUAL(m.macs_per_row(), 16 * 32 + 32 * 32 + 32 * 3);
    BOOST_CHECK_EQUAL(s.size(), size_t(16 * 32 + 32 + 32 * 32 + 32 + 32 * 3 + 3));
    BOOST_CHECK_EQUAL(s.params[0].name, "pf.hidden0.weight");
    BOOST_CHECK_EQUAL(s.params[5].name, "pf.out.bias");

    // Shapes on the tape.
    Tape t;
    std::vector<float> x(5 * 16, 0.25f);
    Var X = t.constant(Tensor(x.data(), 5, 16));
    Var h = m.trunk(X);
    BOOST_CHECK_EQUAL(h.rows(), 5);
    BOOST_CHECK_EQUAL(h.cols(), 32);
    Var y = m.forward(X);
    BOOST_CHECK_EQUAL(y.rows(), 5);
    BOOST_CHECK_EQUAL(y.cols(), 3);
    // forward = head(trunk)
    Var y2 = m.head(h);
    for (int i = 0; i < 15; ++i) BOOST_CHECK_EQUAL(y.value().data[i], y2.value().data[i]);

    // No hidden layers: a single Linear, trunk is the identity.
    ParamStore s0;
    MLP lin(s0, "lin", 4, 2, 99, 0, Activation::Relu, rng);
    BOOST_CHECK(lin.hidden_layers.empty());
    BOOST_CHECK_EQUAL(lin.output_layer.in, 4);
    BOOST_CHECK_EQUAL(lin.hidden_dim(), 4);
    BOOST_CHECK_EQUAL(s0.size(), 4u * 2u + 2u);
    Var x4 = t.constant_copy(x.data(), 5, 4);
    BOOST_CHECK_EQUAL(lin.trunk(x4).id, x4.id);

    // One hidden layer: in→H→out.
    ParamStore s1;
    MLP one(s1, "one", 4, 2, 8, 1, Activation::Relu, rng);
    BOOST_CHECK_EQUAL(one.hidden_layers.size(), 1u);
    BOOST_CHECK_EQUAL(s1.size(), size_t(4 * 8 + 8 + 8 * 2 + 2));

    ParamStore bad;
    BOOST_CHECK_THROW(MLP(bad, "bad", 4, 2, 8, -1, Activation::Relu, rng), std::invalid_argument);
    BOOST_CHECK_THROW(MLP(bad, "bad", 4, 2, 0, 2, Activation::Relu, rng), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(reference_hypergrid_network_parameter_count) {
    // HyperGrid 2D H=8: 16 inputs (one-hot), a 256-wide trunk of 2 hidden layers,
    // a 3-output PF head (2 moves + exit) and a 2-output PB head, plus log Z.
    //   trunk:   16·256 + 256 + 256·256 + 256 = 70,144
    //   PF head: 256·3 + 3 = 771
    //   PB head: 256·2 + 2 = 514
    //   log Z:   1
    //   total:   71,430
    ParamStore s;
    Rng rng(0);
    MLP pf(s, "pf", 16, 3, 256, 2, Activation::Relu, rng);
    Linear pb(s, "pb", pf.hidden_dim(), 2, rng);
    int log_z = s.add("log_z", 1, 1, 1);
    BOOST_CHECK_EQUAL(s.size(), 71430u);
    BOOST_CHECK_EQUAL(s.grads.size(), 71430u);
    BOOST_CHECK_EQUAL(s.group_size(0), 71429u);
    BOOST_CHECK_EQUAL(s.group_size(1), 1u);
    BOOST_CHECK_EQUAL(s.params.size(), 9u);
    BOOST_CHECK_EQUAL(s.params[size_t(log_z)].offset, 71429u);

    // Both heads on the same trunk.
    Tape t;
    std::vector<float> x(4 * 16, 0.f);
    for (int i = 0; i < 4; ++i) x[size_t(i * 16 + i)] = 1.f;
    Var h = pf.trunk(t.constant(Tensor(x.data(), 4, 16)));
    Var logits_pf = pf.head(h), logits_pb = pb.forward(h);
    BOOST_CHECK_EQUAL(logits_pf.rows(), 4);
    BOOST_CHECK_EQUAL(logits_pf.cols(), 3);
    BOOST_CHECK_EQUAL(logits_pb.rows(), 4);
    BOOST_CHECK_EQUAL(logits_pb.cols(), 2);
    // Every trunk parameter receives gradient from both heads: d/dθ of the PB
    // loss alone already reaches hidden0.
    t.backward(add(sum(logits_pb), s.var(t, log_z)));
    const Param& h0 = s.params[0];
    double g = 0.0;
    for (size_t i = h0.offset; i < h0.offset + h0.size(); ++i) g += std::fabs(s.grads[i]);
    BOOST_CHECK_GT(g, 0.0);
    BOOST_CHECK_EQUAL(s.grads[71429], 1.f);
    // The PF head took no part in that loss.
    const Param& pf_out = s.params[4];
    BOOST_CHECK_EQUAL(pf_out.name, "pf.out.weight");
    for (size_t i = pf_out.offset; i < pf_out.offset + pf_out.size(); ++i) BOOST_REQUIRE_EQUAL(s.grads[i], 0.f);
}

// ---------------------------------------------------------------------------
// Gradients through whole networks

BOOST_AUTO_TEST_CASE(mlp_grad_each_activation) {
    for (Activation act : {Activation::Relu, Activation::LeakyRelu, Activation::Tanh, Activation::Elu}) {
        BOOST_TEST_CONTEXT(activation_name(act)) {
            SmallNet net(5, 4, 3, 6, 2, act);
            GradCheckOptions opt;
            opt.max_checks = 1000;  // every parameter (4·6+6 + 6·6+6 + 6·3+3 = 93) and input
            expect_grads([&](Tape& t) { return net.mlp->forward(net.input(t)); },
                         {store_target(net.store), GradTarget{"x", net.x.data(), net.x_grad.data(), net.x.size()}},
                         opt);
        }
    }
}

// The recorded-rollout path (what `gfn train` runs by default): the trunk runs
// outside the tape row block by row block (MLP::trunk_rows: plain GEMMs, relu and
// leaky relu in place), then is recorded once (trunk_from_recording:
// linear_precomputed + activation_precomputed). Its gradients, from the recorded
// nodes, against central differences of the forward recomputed on the tape.
BOOST_AUTO_TEST_CASE(recorded_trunk_grad_each_activation) {
    for (Activation act : {Activation::Relu, Activation::LeakyRelu, Activation::Elu, Activation::Tanh}) {
        BOOST_TEST_CONTEXT(activation_name(act)) {
            SmallNet net(7, 4, 3, 6, 2, act);
            TrunkRecording rec;
            int recorded_calls = 0;
            auto f = [&](Tape& t) {
                if (!t.grad_enabled) return net.mlp->forward(t.constant(Tensor(net.x.data(), net.n, net.in)));
                // Two row blocks, as two rollout steps would give.
                rec.clear();
                net.mlp->trunk_rows(net.x.data(), 3, rec);
                net.mlp->trunk_rows(net.x.data() + 3 * net.in, net.n - 3, rec);
                ++recorded_calls;
                return net.mlp->head(net.mlp->trunk_from_recording(t, rec));
            };
            GradCheckOptions opt;
            opt.max_checks = 1000;  // every parameter: 4·6+6 + 6·6+6 + 6·3+3 = 93
            GradCheckReport r = check_gradients(f, {store_target(net.store)}, opt);
            BOOST_CHECK_MESSAGE(r.ok, r.message());
            BOOST_CHECK_EQUAL(r.checked, 93u);
            // The analytic pass went through the recording, over all rows.
            BOOST_CHECK_EQUAL(recorded_calls, 1);
            BOOST_CHECK_EQUAL(rec.rows, net.n);
            // relu and leaky relu ran in place: the recorded pre buffer holds the activations.
            const bool in_place = act == Activation::Relu || act == Activation::LeakyRelu;
            BOOST_CHECK_EQUAL(rec.post[0].empty(), in_place);
            // The recorded output is the recomputed one.
            Tape t1, t2;
            Tensor a = f(t1).value();
            NoGrad ng(t2);
            Tensor b = f(t2).value();
            for (size_t i = 0; i < a.size(); ++i) BOOST_CHECK_CLOSE(a.data[i], b.data[i], 1e-3);
        }
    }
}

BOOST_AUTO_TEST_CASE(composed_objective_grad) {
    // A trajectory-balance-shaped loss over 3 trajectories of 6 transitions:
    //   logits = MLP(x)                       (6, 4)
    //   log_pf = log_softmax(logits, mask)    masked actions -inf
    //   lp     = gather(log_pf, actions)      (6, 1)
    //   s      = segment_sum(lp, traj)        (3, 1)
    //   loss   = mean((log Z + s − log R)²)
    // checked w.r.t. every parameter of the store, log Z included.
    SmallNet net(6, 5, 4, 8, 2, Activation::Relu);
    const int log_z = net.store.add("log_z", 1, 1, 1);
    net.store.value(log_z).data[0] = 0.7f;
    std::vector<uint8_t> mask = {1, 1, 0, 1,  //
                                 0, 1, 1, 1,  //
                                 1, 0, 0, 0,  // one valid action
                                 1, 1, 1, 1,  //
                                 0, 0, 1, 1,  //
                                 1, 1, 1, 0};
    std::vector<int> actions = {3, 2, 0, 1, 3, 0};
    std::vector<int> traj = {0, 0, 1, 1, 1, 2};
    std::vector<float> log_reward = {-1.f, 0.5f, -2.f};
    GradCheckOptions opt;
    opt.max_checks = 1000;  // all 5·8+8 + 8·8+8 + 8·4+4 + 1 = 157
    expect_grads(
        [&](Tape& t) {
            Var logits = net.mlp->forward(t.constant(Tensor(net.x.data(), net.n, net.in)));
            Var lp = gather(log_softmax(logits, mask.data()), actions.data());
            Var s = segment_sum(lp, traj.data(), 3);
            Var r = sub(add(s, net.store.var(t, log_z)), t.constant(Tensor(log_reward.data(), 3, 1)));
            return mean(square(r));
        },
        {store_target(net.store)}, opt);
}

// ---------------------------------------------------------------------------
// Frozen stores and no-grad scopes

BOOST_AUTO_TEST_CASE(frozen_store_gets_no_gradient) {
    // A frozen prior policy next to a trainable one: loss = Σ (prior(x) · trainable(x)).
    ParamStore prior, trainable;
    Rng rng(4);
    MLP p(prior, "prior", 3, 2, 5, 2, Activation::Tanh, rng);
    MLP q(trainable, "pf", 3, 2, 5, 2, Activation::Tanh, rng);
    prior.frozen = true;
    std::vector<float> x = {0.1f, -0.4f, 0.9f, 1.2f, 0.3f, -0.7f};
    Tape t;
    Var X = t.constant(Tensor(x.data(), 2, 3));
    Var yp = p.forward(X);
    BOOST_CHECK(!yp.node().requires_grad);
    // The frozen parameters are constants on the tape.
    Var w = prior.var(t, 0);
    BOOST_CHECK(!w.node().requires_grad);
    BOOST_CHECK(w.node().grad == nullptr);
    t.backward(sum(mul(q.forward(X), yp)));
    for (float g : prior.grads) BOOST_REQUIRE_EQUAL(g, 0.f);
    double gq = 0.0;
    for (float g : trainable.grads) gq += std::fabs(g);
    BOOST_CHECK_GT(gq, 0.0);

    // A loss of the frozen network alone: nothing to differentiate.
    Tape t2;
    Var only = sum(p.forward(t2.constant(Tensor(x.data(), 2, 3))));
    BOOST_CHECK(!only.node().requires_grad);
    t2.backward(only);
    for (float g : prior.grads) BOOST_REQUIRE_EQUAL(g, 0.f);

    // Unfrozen, the same store trains.
    prior.frozen = false;
    Tape t3;
    t3.backward(sum(p.forward(t3.constant(Tensor(x.data(), 2, 3)))));
    double gp = 0.0;
    for (float g : prior.grads) gp += std::fabs(g);
    BOOST_CHECK_GT(gp, 0.0);
}

BOOST_AUTO_TEST_CASE(no_grad_scope_records_no_gradient) {
    ParamStore s;
    Rng rng(6);
    MLP m(s, "pf", 3, 2, 4, 1, Activation::Relu, rng);
    std::vector<float> x = {0.5f, -0.5f, 1.f};
    Tape t;
    {
        NoGrad ng(t);
        Var y = m.forward(t.constant(Tensor(x.data(), 1, 3)));
        BOOST_CHECK(!y.node().requires_grad);
        t.backward(sum(y));
    }
    for (float g : s.grads) BOOST_REQUIRE_EQUAL(g, 0.f);
}

// ---------------------------------------------------------------------------
// Activation names

BOOST_AUTO_TEST_CASE(activation_names_round_trip) {
    for (Activation a : {Activation::Relu, Activation::LeakyRelu, Activation::Tanh, Activation::Elu})
        BOOST_CHECK(activation_from_string(activation_name(a)) == a);
    BOOST_CHECK(activation_from_string("relu") == Activation::Relu);
    BOOST_CHECK(activation_from_string("leaky_relu") == Activation::LeakyRelu);
    BOOST_CHECK(activation_from_string("tanh") == Activation::Tanh);
    BOOST_CHECK(activation_from_string("elu") == Activation::Elu);
}

BOOST_AUTO_TEST_CASE(activation_from_string_errors) {
    for (const char* bad : {"", "sigmoid", "RELU", "relu ", "leaky-relu", "Tanh"}) {
        try {
            activation_from_string(bad);
            BOOST_ERROR("expected std::invalid_argument for '" << bad << "'");
        } catch (const std::invalid_argument& e) {
            const std::string msg = e.what();
            BOOST_CHECK_MESSAGE(msg.find("'" + std::string(bad) + "'") != std::string::npos,
                                "message does not name the input: " << msg);
            BOOST_CHECK_MESSAGE(msg.find("relu") != std::string::npos, "message does not list the choices: " << msg);
        }
    }
}

BOOST_AUTO_TEST_CASE(activate_matches_the_ops) {
    // leaky_relu uses slope 0.01 and elu alpha 1, as torch's defaults.
    Tape t;
    float a[] = {-2.f, 0.5f};
    Var A = t.constant(Tensor(a, 1, 2));
    BOOST_CHECK_CLOSE(activate(A, Activation::LeakyRelu).value().data[0], -0.02f, 1e-4);
    BOOST_CHECK_CLOSE(activate(A, Activation::Elu).value().data[0], std::exp(-2.f) - 1.f, 1e-4);
    BOOST_CHECK_EQUAL(activate(A, Activation::Relu).value().data[0], 0.f);
    BOOST_CHECK_CLOSE(activate(A, Activation::Tanh).value().data[1], std::tanh(0.5f), 1e-4);
}

BOOST_AUTO_TEST_SUITE_END()
