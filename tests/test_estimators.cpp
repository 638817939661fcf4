// test_estimators.cpp — the networks once per distinct state
// (gfn/estimators/estimators.h, PolicyEstimator::trunk and StateFlowEstimator::forward):
// on a batch whose states repeat, the trunk runs over the distinct states only and
// the rows are indexed; values and gradients equal those of the network run on
// every row (a twin built from the same initialisation with
// NetConfig::distinct_states = false); batches with few repeats, small batches and
// the twin evaluate every row. Then the objectives on top: TB and DB with a PB and a
// log F of their own, gradient-checked on a sampled batch whose states repeat; and
// what a training step counts of the rows its networks ran on.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <vector>

#include "engine/blas.h"
#include "engine/ops.h"
#include "envs/hypergrid.h"
#include "gfn/estimators/estimators.h"
#include "gfn/estimators/log_probs.h"
#include "gfn/objectives/detailed_balance.h"
#include "gfn/objectives/trajectory_balance.h"
#include "gfn/runtime/config.h"
#include "gfn/runtime/training.h"
#include "gfn/samplers/sampler.h"
#include "tests/gradcheck.h"

using namespace gfn;

namespace {

// An estimator and its every-row twin: the same parameters, in two stores.
struct Twins {
    HyperGrid env;
    std::unique_ptr<Preprocessor> pre;
    ParamStore store, store_every;
    std::unique_ptr<PolicyEstimator> pf, pb, pf_every, pb_every, tied, tied_every;
    std::unique_ptr<StateFlowEstimator> f, f_every;

    explicit Twins(int height) : env(2, height) {
        pre = env.default_preprocessor();
        for (const bool distinct : {true, false}) {
            Rng rng(5);
            NetConfig cfg{8, 2, Activation::Tanh, distinct};
            ParamStore& s = distinct ? store : store_every;
            (distinct ? pf : pf_every) = PolicyEstimator::mlp(env, *pre, false, s, cfg, rng, "pf");
            (distinct ? pb : pb_every) = PolicyEstimator::mlp(env, *pre, true, s, cfg, rng, "pb");
            (distinct ? tied : tied_every) = PolicyEstimator::tied(distinct ? *pf : *pf_every, s, rng, "tied");
            (distinct ? f : f_every) = StateFlowEstimator::mlp(env, *pre, s, cfg, rng, "f");
        }
    }
};

// n states of HyperGrid(2, H) cycling through the first `distinct` ones of the grid
// (row-major), all non-initial (so every one has a parent for PB).
std::vector<int> states_cycling(int n, int distinct, int H) {
    std::vector<int> s;
    for (int i = 0; i < n; ++i) {
        const int k = 1 + (i * 13) % distinct;  // 13 is prime to the counts used
        s.push_back(k / H);
        s.push_back(k % H);
    }
    return s;
}

// The op of the node a trunk returned, and how many rows its network evaluated.
struct Evaluated {
    Op op;
    int rows;
};
Evaluated evaluated(Var h) {
    const Node& n = h.node();
    if (n.op != Op::IndexRows) return {n.op, n.rows};
    return {n.op, h.tape->nodes[size_t(n.a)].rows};
}

// Σ_k w_k y[row_k, col_k] over the finite entries of y (masked log-probs are −∞),
// with fixed weights, so that every entry reaches the gradient differently.
Var weighted_sum(Var y) {
    Tape& t = *y.tape;
    const int n = y.rows(), c = y.cols();
    const float* v = y.value().data;
    std::vector<int> at;
    for (int q = 0; q < n * c; ++q)
        if (std::isfinite(v[q])) at.insert(at.end(), {q / c, q % c});
    const int m = int(at.size() / 2);
    int* idx = t.arena.ints(at.size());
    std::copy(at.begin(), at.end(), idx);
    float* w = t.arena.floats(size_t(m));
    for (int k = 0; k < m; ++k) w[k] = 0.3f + 0.1f * float((k * 5) % 7);
    return sum(mul(gather_at(y, idx, m), t.constant(Tensor(w, m, 1))));
}

// y1 (the distinct-state evaluation, on tw.store) against y2 (its every-row twin, on
// tw.store_every): the same values (−∞ where masked), and, after backward of the same
// weighted sum, the same parameter gradients (to float rounding; zeroed before by the caller).
void expect_same_values_and_gradients(Twins& tw, Var y1, Var y2) {
    BOOST_REQUIRE_EQUAL(y1.rows(), y2.rows());
    BOOST_REQUIRE_EQUAL(y1.cols(), y2.cols());
    for (int q = 0; q < y1.rows() * y1.cols(); ++q) {
        const float a = y1.value().data[q], b = y2.value().data[q];
        if (std::isinf(b)) BOOST_CHECK_EQUAL(a, b);
        else BOOST_CHECK_SMALL(a - b, 1e-6f);
    }
    y1.tape->backward(weighted_sum(y1));
    y2.tape->backward(weighted_sum(y2));
    double scale = 0;
    for (float g : tw.store_every.grads) scale = std::max(scale, double(std::fabs(g)));
    BOOST_REQUIRE_GT(scale, 0.0);
    for (size_t k = 0; k < tw.store.grads.size(); ++k)
        BOOST_CHECK_SMALL(double(tw.store.grads[k] - tw.store_every.grads[k]), 1e-5 * scale);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(estimators_distinct_states)

// Values, gradients and the rows evaluated, for PF, an untied PB, a PB tied to PF's
// trunk and a standalone log F, against their every-row twins.
BOOST_AUTO_TEST_CASE(trunk_runs_once_per_distinct_state) {
    Twins tw(4);
    const int n = 48, distinct = 7;
    const std::vector<int> s = states_cycling(n, distinct, 4);
    struct Case {
        const char* name;
        std::function<Var(Twins&, bool, Tape&, Evaluated&)> run;
    };
    auto policy = [&](const PolicyEstimator& p, Tape& t, Evaluated& e) {
        Var h = p.trunk(t, s.data(), nullptr, n);
        e = evaluated(h);
        return p.log_probs_from_trunk(h, t, s.data(), n);
    };
    const std::vector<Case> cases = {
        {"pf", [&](Twins& w, bool d, Tape& t, Evaluated& e) { return policy(d ? *w.pf : *w.pf_every, t, e); }},
        {"untied pb", [&](Twins& w, bool d, Tape& t, Evaluated& e) { return policy(d ? *w.pb : *w.pb_every, t, e); }},
        {"tied pb", [&](Twins& w, bool d, Tape& t, Evaluated& e) { return policy(d ? *w.tied : *w.tied_every, t, e); }},
        {"log F", [&](Twins& w, bool d, Tape& t, Evaluated& e) {
             Var y = (d ? *w.f : *w.f_every).forward(t, s.data(), nullptr, n);
             const Node& nd = y.node();  // the head's Linear over the indexed trunk, or the every-row MLP
             e = nd.op == Op::IndexRows ? evaluated(y) : Evaluated{nd.op, nd.rows};
             return y;
         }},
    };
    for (const Case& c : cases) {
        BOOST_TEST_CONTEXT(c.name) {
            tw.store.zero_grad();
            tw.store_every.zero_grad();
            Tape t1, t2;
            Evaluated e1{}, e2{};
            Var y1 = c.run(tw, true, t1, e1), y2 = c.run(tw, false, t2, e2);
            BOOST_CHECK(e1.op == Op::IndexRows);
            BOOST_CHECK_EQUAL(e1.rows, distinct);
            BOOST_CHECK(e2.op != Op::IndexRows);
            BOOST_CHECK_EQUAL(e2.rows, n);
            BOOST_REQUIRE_EQUAL(y1.rows(), n);
            expect_same_values_and_gradients(tw, y1, y2);
        }
    }
}

// log_probs_of: the whole network (trunk, head, masks) over the distinct states, each
// (state, action) pair's entry picked by gather_at; against gather(log_probs) of the twin.
BOOST_AUTO_TEST_CASE(log_probs_of_runs_the_network_once_per_distinct_state) {
    Twins tw(4);
    const int n = 48, distinct = 7;
    const std::vector<int> s = states_cycling(n, distinct, 4);
    for (const bool backward : {false, true}) {
        BOOST_TEST_CONTEXT((backward ? "pb" : "pf")) {
            const PolicyEstimator& p = backward ? *tw.pb : *tw.pf;
            const PolicyEstimator& q = backward ? *tw.pb_every : *tw.pf_every;
            // A valid action of each state: the first unmasked one after (k mod outputs).
            std::vector<uint8_t> mask(size_t(n) * size_t(p.n_outputs()));
            if (backward) tw.env.backward_masks(s.data(), n, mask.data());
            else tw.env.forward_masks(s.data(), n, mask.data());
            std::vector<int> a(static_cast<size_t>(n));
            for (int k = 0; k < n; ++k) {
                const int A = p.n_outputs();
                int j = k % A;
                while (!mask[size_t(k) * A + size_t(j)]) j = (j + 1) % A;
                a[size_t(k)] = j;
            }
            tw.store.zero_grad();
            tw.store_every.zero_grad();
            Tape t1, t2;
            Var y1 = p.log_probs_of(t1, s.data(), nullptr, a.data(), n);
            Var y2 = q.log_probs_of(t2, s.data(), nullptr, a.data(), n);
            BOOST_CHECK(y1.node().op == Op::GatherAt);
            BOOST_CHECK_EQUAL(t1.nodes[size_t(y1.node().a)].rows, distinct);
            BOOST_CHECK(y2.node().op == Op::Gather);
            BOOST_REQUIRE_EQUAL(y1.rows(), n);
            BOOST_REQUIRE_EQUAL(y2.rows(), n);
            expect_same_values_and_gradients(tw, y1, y2);
        }
    }
}

// When it does not pay: every state distinct (or nearly: more than 4 in 5), a batch
// of fewer than 32 rows, or distinct_states = false.
BOOST_AUTO_TEST_CASE(every_row_when_states_do_not_repeat) {
    Twins tw(8);
    Tape t;
    // 40 rows, 40 distinct states; then 40 rows of which 33 distinct (> 4/5).
    for (const int distinct : {40, 33}) {
        const std::vector<int> s = states_cycling(40, distinct, 8);
        const Evaluated e = evaluated(tw.pb->trunk(t, s.data(), nullptr, 40));
        BOOST_CHECK(e.op != Op::IndexRows);
        BOOST_CHECK_EQUAL(e.rows, 40);
    }
    // 40 rows, 32 distinct: exactly 4 in 5, indexed.
    const std::vector<int> s32 = states_cycling(40, 32, 8);
    BOOST_CHECK(evaluated(tw.pb->trunk(t, s32.data(), nullptr, 40)).op == Op::IndexRows);
    // 31 rows of 3 states: too small to gain.
    const std::vector<int> small = states_cycling(31, 3, 8);
    BOOST_CHECK(evaluated(tw.pb->trunk(t, small.data(), nullptr, 31)).op != Op::IndexRows);
    // The twin never indexes.
    const std::vector<int> s3 = states_cycling(64, 3, 8);
    BOOST_CHECK(evaluated(tw.pb_every->trunk(t, s3.data(), nullptr, 64)).op != Op::IndexRows);
    BOOST_CHECK(evaluated(tw.pb->trunk(t, s3.data(), nullptr, 64)).op == Op::IndexRows);
}

// TB and DB with a PB and a log F of their own, on a sampled batch of 24 trajectories
// of HyperGrid(2, 4) (states repeat: 4 × 4 grid), log-probs recalculated: the
// gradient of every parameter against central differences.
BOOST_AUTO_TEST_CASE(objectives_gradcheck_through_indexed_trunks) {
    HyperGrid env(2, 4);
    auto pre = env.default_preprocessor();
    ParamStore store;
    Rng init(9);
    NetConfig cfg{8, 2, Activation::Tanh};
    auto pf = PolicyEstimator::mlp(env, *pre, false, store, cfg, init, "pf");
    auto pb = PolicyEstimator::mlp(env, *pre, true, store, cfg, init, "pb");
    auto f = StateFlowEstimator::mlp(env, *pre, store, cfg, init, "f", 1);
    ScalarEstimator log_z(store, 0.3f, 1, "log_z");
    TBGFlowNet tb(pf.get(), pb.get(), &log_z);
    DBGFlowNet db(pf.get(), pb.get(), f.get());
    Trajectories batch;
    {
        Tape t;
        Rng rng(3);
        SampleRequest req;
        req.n = 24;
        sample_trajectories(env, *pf, nullptr, req, rng, t, batch);
    }
    BOOST_REQUIRE_GE(batch.n_bsteps(), 32);
    for (const GFlowNet* g : {static_cast<const GFlowNet*>(&tb), static_cast<const GFlowNet*>(&db)}) {
        BOOST_TEST_CONTEXT((g == &tb ? "TB" : "DB")) {
            int indexed = 0;
            auto loss = [&](Tape& t) {
                Var l = g->loss(t, batch, true);
                if (t.grad_enabled)
                    for (const Node& nd : t.nodes) indexed += nd.op == Op::IndexRows || nd.op == Op::GatherAt;
                return l;
            };
            GradCheckOptions opt;
            opt.max_checks = 100000;  // every parameter
            GradCheckReport r = check_gradients(
                loss, {GradTarget{"params", store.values.data(), store.grads.data(), store.size()}}, opt);
            BOOST_CHECK_MESSAGE(r.ok, r.message());
            BOOST_CHECK_EQUAL(r.checked, store.size());
            BOOST_CHECK_GE(indexed, 2);  // PF's and PB's log-probs (and log F, for DB) were indexed
        }
    }
}

// A PF and a PB tied to its trunk, recomputed (off-policy: an exploring rollout, a
// replay buffer): the trunk once per distinct state and both heads on those rows —
// PB on all but s_0 — each step's entry picked by gather_at; against the twin, which
// runs trunk and heads on every step. Then TB with the tied PB gradient-checked on
// that path, and a batch too small to index takes the every-step path.
BOOST_AUTO_TEST_CASE(tied_heads_run_once_per_distinct_state_when_recomputed) {
    Twins tw(4);
    auto sampled = [&](int n, uint64_t seed) {  // n trajectories of PF (nothing saved)
        Trajectories b;
        Tape t;
        Rng rng(seed);
        SampleRequest req;
        req.n = n;
        sample_trajectories(tw.env, *tw.pf, nullptr, req, rng, t, b);
        return b;
    };
    const Trajectories batch = sampled(48, 3);
    BOOST_REQUIRE_GE(batch.n_bsteps(), 32);
    // PF's and PB's log-probs of the steps, one column: (n_steps + n_bsteps, 1)
    auto both = [&](bool distinct, Tape& t, int* gathers_at) {
        StepLogProbs lp = evaluate_log_probs(t, batch, distinct ? *tw.pf : *tw.pf_every,
                                             distinct ? tw.tied.get() : tw.tied_every.get(), true);
        *gathers_at = 0;
        for (const Node& nd : t.nodes) *gathers_at += nd.op == Op::GatherAt;
        Var parts[2] = {lp.log_pf, lp.log_pb};
        return concat_rows(parts, 2);
    };
    tw.store.zero_grad();
    tw.store_every.zero_grad();
    Tape t1, t2;
    int g1 = 0, g2 = 0;
    Var y1 = both(true, t1, &g1), y2 = both(false, t2, &g2);
    BOOST_CHECK_EQUAL(g1, 2);  // PF's and PB's entries picked from the distinct rows
    BOOST_CHECK_EQUAL(g2, 0);
    expect_same_values_and_gradients(tw, y1, y2);

    ScalarEstimator log_z(tw.store, 0.3f, 1, "log_z");
    TBGFlowNet tb(tw.pf.get(), tw.tied.get(), &log_z);
    GradCheckOptions opt;
    opt.max_checks = 100000;  // every parameter
    GradCheckReport r = check_gradients([&](Tape& t) { return tb.loss(t, batch, true); },
                                        {GradTarget{"params", tw.store.values.data(), tw.store.grads.data(),
                                                    tw.store.size()}},
                                        opt);
    BOOST_CHECK_MESSAGE(r.ok, r.message());

    const Trajectories small = sampled(2, 4);  // fewer than 32 steps: every step evaluated
    BOOST_REQUIRE_LT(small.n_steps(), 32);
    Tape t3;
    StepLogProbs lp = evaluate_log_probs(t3, small, *tw.pf, tw.tied.get(), true);
    int gathers_at = 0;
    for (const Node& nd : t3.nodes) gathers_at += nd.op == Op::GatherAt;
    BOOST_CHECK_EQUAL(gathers_at, 0);
    BOOST_CHECK_EQUAL(lp.log_pb.rows(), small.n_bsteps());
}

// A training step counts the rows its networks ran on (the GFLOP/s of `gfn train` and
// `make bench`) only where it knows them: the recorded rollout's distinct states;
// every step with --no-state-dedup; not counted (−1) where the loss indexes repeated
// states itself (PPO, an exploring rollout).
BOOST_AUTO_TEST_CASE(a_step_counts_network_rows_only_where_known) {
    struct Case {
        std::vector<std::string> flags;
        int expect;  // 1: distinct states (< visited), 0: every visited state, −1: not counted
    };
    const std::vector<Case> cases = {
        {{}, 1},
        {{"--loss", "db"}, 1},
        {{"--no-state-dedup"}, 0},
        {{"--loss", "ppo"}, -1},
        {{"--loss", "ppo", "--no-state-dedup"}, 0},
        {{"--epsilon", "0.1"}, -1},
    };
    for (const Case& c : cases) {
        std::string name;
        for (const std::string& f : c.flags) name += f + " ";
        BOOST_TEST_CONTEXT(name) {
            Config cfg;
            std::vector<std::string> args = {"--height", "4", "--hidden", "8", "--batch-size", "32",
                                             "--threads", "1", "--iterations", "3"};
            args.insert(args.end(), c.flags.begin(), c.flags.end());
            parse_train_flags(args, cfg);
            Run run(cfg);
            const StepStats st = train_step(run);
            if (c.expect < 0) {
                BOOST_CHECK_EQUAL(st.n_evaluated, -1);
            } else if (c.expect == 0) {
                BOOST_CHECK_EQUAL(st.n_evaluated, st.n_states);
            } else {
                BOOST_CHECK_GT(st.n_evaluated, 0);
                BOOST_CHECK_LE(st.n_evaluated, 16);  // a 4 × 4 grid
                BOOST_CHECK_LT(st.n_evaluated, st.n_states);
            }
        }
    }
}

// On few states (2D H=4, batch 32: under kShardMinStatesPerTrajectory per trajectory) a
// step is not split, and runs whole on one thread (OneThread): with --threads 2 it is the
// one-thread step, bit for bit — for TB, PPO and Soft DQN — and the thread count is back
// at 2 after it; on many states the step keeps its threads.
BOOST_AUTO_TEST_CASE(a_step_on_few_states_runs_on_one_thread) {
    const int prev = num_threads();
    for (const char* loss : {"tb", "ppo", "soft_dqn"}) {
        BOOST_TEST_CONTEXT(loss) {
            std::vector<float> after[2];
            for (const int threads : {1, 2}) {
                set_num_threads(threads);
                Config cfg;
                parse_train_flags({"--height", "4", "--hidden", "32", "--batch-size", "32", "--threads",
                                   std::to_string(threads), "--iterations", "4", "--loss", loss},
                                  cfg);
                Run run(cfg);
                BOOST_REQUIRE(!sharded_steps(run, threads));
                for (int i = 0; i < 4; ++i) BOOST_CHECK_EQUAL(train_step(run).threads, 1);
                BOOST_CHECK_EQUAL(num_threads(), threads);
                after[threads - 1] = run.store.values;
            }
            BOOST_REQUIRE_EQUAL(after[0].size(), after[1].size());
            BOOST_CHECK(after[0] == after[1]);
        }
    }
    // Many states (2D H=64: 4,096 states, 128 per trajectory of the batch): two threads.
    set_num_threads(2);
    Config cfg;
    parse_train_flags({"--height", "64", "--hidden", "32", "--batch-size", "32", "--threads", "2", "--loss", "ppo"},
                      cfg);
    Run run(cfg);
    BOOST_CHECK_EQUAL(train_step(run).threads, 2);
    set_num_threads(prev);
}

BOOST_AUTO_TEST_SUITE_END()
