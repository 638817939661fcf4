// test_local_search.cpp — back-and-forth local search (gfn/samplers/local_search.h): K from
// back_ratio by hand; the greedy rule (a candidate of higher or equal reward is always
// accepted, a lower one never); Metropolis–Hastings on a 1-D grid where the acceptance
// probability is worked out by hand (and the empirical rate checked within a binomial
// bound); log α against an independent segment-only computation with MLP policies; the
// results are valid trajectories with correct log R; loops chain; reproducibility.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "envs/hypergrid.h"
#include "gfn/estimators/estimators.h"
#include "gfn/samplers/local_search.h"
#include "gfn/samplers/sampler.h"
#include "gfn/containers/trajectories.h"
#include "tests/batches.h"

using namespace gfn;
using namespace gfn::testing;

namespace {

// Every structural property of complete trajectories of `env`, the padding states, and log R from the env.
void check_valid(const DiscreteEnv& env, const Trajectories& tr) {
    CompleteTrajectoryChecks checks;
    checks.condition_dim = false;
    checks.padding_states = true;
    check_complete_trajectories(env, tr, checks);
}

// n copies of the 1-D HyperGrid path 0 → 1 → … → x, then the exit.
Trajectories line_batch(const HyperGrid& env, int x, int n) {
    Trajectories t;
    t.allocate(n, x + 1, 1, 0);
    for (int i = 0; i < n; ++i) {
        for (int k = 0; k <= x; ++k) {
            t.state(k, i)[0] = k;
            t.actions[size_t(k) * n + i] = k < x ? 0 : env.exit_action();
        }
        t.lengths[size_t(i)] = x + 1;
    }
    t.index_steps();
    compute_log_rewards(env, t);
    return t;
}

float log_prob_of(const PolicyEstimator& p, const int* s, int a) {
    Tape tape;
    return p.log_probs(tape, s, nullptr, 1).value().data[a];
}

// HyperGrid(2, 4) with small random MLP policies.
struct Setup {
    HyperGrid env{2, 4};
    std::unique_ptr<Preprocessor> pre;
    ParamStore store;
    std::unique_ptr<PolicyEstimator> pf, pb;
    Setup() {
        pre = env.default_preprocessor();
        Rng rng(33);
        NetConfig cfg{8, 2, Activation::Relu};
        pf = PolicyEstimator::mlp(env, *pre, false, store, cfg, rng, "pf");
        pb = PolicyEstimator::mlp(env, *pre, true, store, cfg, rng, "pb");
    }
    Trajectories sample(int n, unsigned seed) {
        Rng rng(seed);
        Tape tape;
        SampleRequest req;
        req.n = n;
        Trajectories t;
        sample_trajectories(env, *pf, nullptr, req, rng, tape, t);
        return t;
    }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(local_search)

BOOST_AUTO_TEST_CASE(back_steps_by_hand) {
    // K = ceil(back_ratio·(L − 1)).
    BOOST_CHECK_EQUAL(local_search_back_steps(1, 0.5), 0);    // x = s_0: re-roll from x itself
    BOOST_CHECK_EQUAL(local_search_back_steps(2, 0.5), 1);    // ceil(0.5)
    BOOST_CHECK_EQUAL(local_search_back_steps(3, 0.5), 1);    // ceil(1.0)
    BOOST_CHECK_EQUAL(local_search_back_steps(6, 0.5), 3);    // ceil(2.5)
    BOOST_CHECK_EQUAL(local_search_back_steps(11, 0.3), 3);   // 0.3·10 is 3.0000000000000004 in double
    BOOST_CHECK_EQUAL(local_search_back_steps(11, 0.31), 4);  // ceil(3.1)
    BOOST_CHECK_EQUAL(local_search_back_steps(11, 0.1), 1);
    BOOST_CHECK_EQUAL(local_search_back_steps(9, 0.25), 2);
    BOOST_CHECK_EQUAL(local_search_back_steps(4, 0.01), 1);   // ceil(0.03)
    BOOST_CHECK_EQUAL(local_search_back_steps(15, 1.0), 14);  // back to s_0
    BOOST_CHECK_THROW(local_search_back_steps(5, 0.0), std::invalid_argument);
    BOOST_CHECK_THROW(local_search_back_steps(5, 1.5), std::invalid_argument);
    BOOST_CHECK_THROW(local_search_back_steps(5, std::nan("")), std::invalid_argument);
    BOOST_CHECK_THROW(local_search_back_steps(0, 0.5), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(greedy_rule_known_answer) {
    // HyperGrid(1, 3): states 0, 1, 2; R(0) = R(2) = 0.6, R(1) = 0.1. Uniform PF and PB.
    // From x = 2 (L = 3), K = ceil(0.5·2) = 1: the junction is 1, and PF re-rolls to
    // x' = 1 (exit, ½) or x' = 2 (step then exit, ½). Greedy accepts x' = 2 (equal R)
    // always, x' = 1 (lower R) never.
    HyperGrid env(1, 3);
    auto pf = PolicyEstimator::uniform(env, false);
    auto pb = PolicyEstimator::uniform_pb(env);
    LocalSearchOptions opt;
    opt.back_ratio = 0.5;
    const int N = 2000;
    Rng rng(1);
    Tape tape;
    Trajectories cand;
    std::vector<uint8_t> acc;
    Trajectories start = line_batch(env, 2, N);
    local_search_step(env, *pf, *pb, start, opt, rng, tape, cand, acc);
    check_valid(env, cand);
    int to1 = 0;
    for (int i = 0; i < N; ++i) {
        const int xp = cand.terminal_state(i)[0];
        BOOST_REQUIRE(xp == 1 || xp == 2);
        to1 += xp == 1;
        BOOST_CHECK_EQUAL(int(acc[size_t(i)]), xp == 2 ? 1 : 0);
        BOOST_CHECK_EQUAL(int(acc[size_t(i)]), cand.log_rewards[size_t(i)] >= start.log_rewards[size_t(i)] ? 1 : 0);
        // The prefix s_0 → 1 is kept.
        BOOST_CHECK_EQUAL(cand.state(1, i)[0], 1);
    }
    expect_freq(double(to1) / N, 0.5, N, "re-roll to x' = 1");
    // From x = 1 (L = 2), K = 1: re-roll from s_0 to 0, 1 or 2, never a lower reward.
    Trajectories start1 = line_batch(env, 1, N);
    local_search_step(env, *pf, *pb, start1, opt, rng, tape, cand, acc);
    check_valid(env, cand);
    for (int i = 0; i < N; ++i) BOOST_CHECK_EQUAL(int(acc[size_t(i)]), 1);
    // The chain only improves: after local_search, log R never dropped.
    LocalSearchResult res = gfn::local_search(env, *pf, *pb, start1, opt, rng, tape);
    for (int i = 0; i < N; ++i) BOOST_CHECK(res.current.log_rewards[size_t(i)] >= start1.log_rewards[size_t(i)]);
    // No gradient was recorded.
    for (const Node& nd : tape.nodes) BOOST_CHECK(!nd.requires_grad);
}

BOOST_AUTO_TEST_CASE(metropolis_hastings_known_answer) {
    // Same grid. PB has one parent everywhere (log PB = 0), so
    //   log α = log R(x') + log PF(s' → x') − log R(x) − log PF(s' → x).
    // From x = 2 (junction 1): x' = 2 gives α = 1; x' = 1 gives
    //   α = R(1)·PF(exit | 1) / (R(2)·PF(step | 1)·PF(exit | 2)) = 0.1·½ / (0.6·½·1) = 1/6,
    // so P(accept) = ½·1 + ½·(1/6) = 7/12.
    HyperGrid env(1, 3);
    auto pf = PolicyEstimator::uniform(env, false);
    auto pb = PolicyEstimator::uniform_pb(env);
    LocalSearchOptions opt;
    opt.back_ratio = 0.5;
    opt.use_metropolis_hastings = true;
    const int N = 40000;
    Rng rng(2);
    Tape tape;
    Trajectories cand;
    std::vector<uint8_t> acc;
    std::vector<double> log_alpha;
    Trajectories start = line_batch(env, 2, N);
    local_search_step(env, *pf, *pb, start, opt, rng, tape, cand, acc, &log_alpha);
    int accepted = 0, accepted1 = 0, n1 = 0;
    for (int i = 0; i < N; ++i) {
        const int xp = cand.terminal_state(i)[0];
        accepted += acc[size_t(i)];
        if (xp == 1) {
            ++n1;
            accepted1 += acc[size_t(i)];
            BOOST_CHECK_SMALL(log_alpha[size_t(i)] - std::log(1.0 / 6.0), 1e-5);
        } else {
            BOOST_CHECK_SMALL(log_alpha[size_t(i)], 1e-6);
            BOOST_CHECK_EQUAL(int(acc[size_t(i)]), 1);
        }
    }
    expect_freq(double(accepted) / N, 7.0 / 12.0, N, "MH acceptance from x = 2");
    expect_freq(double(accepted1) / n1, 1.0 / 6.0, n1, "MH acceptance of x' = 1");

    // From x = 1 (junction s_0, τ = s_0 → 1 → exit, PF(τ) = ¼):
    //   x' = 0: α = 0.6·½ / (0.1·¼) = 12;  x' = 1: α = 1;  x' = 2: α = 0.6·¼ / (0.1·¼) = 6.
    // All accepted.
    const int M = 3000;
    Trajectories start1 = line_batch(env, 1, M);
    local_search_step(env, *pf, *pb, start1, opt, rng, tape, cand, acc, &log_alpha);
    const double want[3] = {std::log(12.0), 0.0, std::log(6.0)};
    for (int i = 0; i < M; ++i) {
        BOOST_CHECK_EQUAL(int(acc[size_t(i)]), 1);
        BOOST_CHECK_SMALL(log_alpha[size_t(i)] - want[cand.terminal_state(i)[0]], 1e-5);
    }
}

BOOST_AUTO_TEST_CASE(metropolis_hastings_ratio_matches_segments) {
    // MLP PF and PB on HyperGrid(2, 4). The backward path τ_b is the first use of the Rng,
    // so a copy of the Rng reproduces it. Then log α, recomputed on the changed segments
    // only with single-state evaluations, must match:
    //   log R(x') − log R(x) + Σ_{s'→x on τ_b} (log PB − log PF) + Σ_{s'→x'} (log PF − log PB).
    Setup m;
    Trajectories start = m.sample(48, 5);
    LocalSearchOptions opt;
    opt.back_ratio = 0.6;
    opt.use_metropolis_hastings = true;
    Rng rng(77), copy = rng;
    Tape tape;
    Trajectories cand, back;
    std::vector<uint8_t> acc;
    std::vector<double> log_alpha;
    local_search_step(m.env, *m.pf, *m.pb, start, opt, rng, tape, cand, acc, &log_alpha);
    check_valid(m.env, cand);
    std::vector<int> x(size_t(start.n) * 2);
    for (int i = 0; i < start.n; ++i) std::copy(start.terminal_state(i), start.terminal_state(i) + 2, &x[size_t(2 * i)]);
    sample_backward_trajectories(m.env, *m.pb, x.data(), start.n, nullptr, copy, tape, back);
    int n_changed = 0;
    for (int i = 0; i < start.n; ++i) {
        const int L = start.lengths[size_t(i)], Lb = back.lengths[size_t(i)];
        BOOST_REQUIRE_EQUAL(Lb, L);  // HyperGrid: the length is fixed by x
        const int K = local_search_back_steps(L, opt.back_ratio), j = Lb - 1 - K;
        // The candidate keeps τ_b up to the junction.
        for (int t = 0; t <= j; ++t) BOOST_CHECK(row(cand.state(t, i), 2) == row(back.state(t, i), 2));
        double la = double(cand.log_rewards[size_t(i)]) - double(start.log_rewards[size_t(i)]);
        // Old segment s_j → … → x → s_f along τ_b: PF forward, PB backward (no PB for the exit).
        for (int t = j; t < Lb; ++t) {
            la -= log_prob_of(*m.pf, back.state(t, i), back.action(t, i));
            if (t > j) la += log_prob_of(*m.pb, back.state(t, i), back.action(t - 1, i));
        }
        const int Lc = cand.lengths[size_t(i)];
        for (int t = j; t < Lc; ++t) {
            la += log_prob_of(*m.pf, cand.state(t, i), cand.action(t, i));
            if (t > j) la -= log_prob_of(*m.pb, cand.state(t, i), cand.action(t - 1, i));
        }
        BOOST_CHECK_SMALL(log_alpha[size_t(i)] - la, 2e-4);
        if (la >= 0) BOOST_CHECK_EQUAL(int(acc[size_t(i)]), 1);
        n_changed += !same_trajectory(cand, i, start, i);
    }
    BOOST_CHECK(n_changed > 0);
}

BOOST_AUTO_TEST_CASE(loops_give_valid_chained_batches) {
    Setup m;
    Trajectories start = m.sample(64, 9);
    for (bool mh : {false, true}) {
        LocalSearchOptions opt;
        opt.back_ratio = 0.5;
        opt.n_loops = 3;
        opt.use_metropolis_hastings = mh;
        Rng rng(11);
        Tape tape;
        LocalSearchResult res = gfn::local_search(m.env, *m.pf, *m.pb, start, opt, rng, tape);
        BOOST_REQUIRE_EQUAL(res.current.n, 64);
        BOOST_REQUIRE_EQUAL(res.all.n, 64 * 4);
        check_valid(m.env, res.current);
        check_valid(m.env, res.all);
        BOOST_CHECK(!res.current.saved_log_pf.valid() && !res.all.saved_log_pf.valid());
        for (int i = 0; i < 64; ++i) BOOST_CHECK(same_trajectory(res.all, i, start, i));  // the input comes first
        // Each chain ends at its start or at one of its own candidates.
        for (int i = 0; i < 64; ++i) {
            bool found = same_trajectory(res.current, i, start, i);
            for (int loop = 0; loop < 3; ++loop) found |= same_trajectory(res.current, i, res.all, 64 * (1 + loop) + i);
            BOOST_CHECK(found);
            if (!mh) BOOST_CHECK(res.current.log_rewards[size_t(i)] >= start.log_rewards[size_t(i)]);
        }
        BOOST_CHECK_EQUAL(res.n_proposed, 3 * 64);
        BOOST_CHECK(res.n_accepted > 0 && res.n_accepted < res.n_proposed);
        BOOST_CHECK_CLOSE(res.acceptance_rate(), double(res.n_accepted) / (3 * 64), 1e-9);
        BOOST_TEST_MESSAGE((mh ? "MH" : "greedy") << " acceptance rate " << res.acceptance_rate());

        // Same seed, same result.
        Rng rng2(11);
        LocalSearchResult again = gfn::local_search(m.env, *m.pf, *m.pb, start, opt, rng2, tape);
        BOOST_CHECK(again.all.states == res.all.states && again.all.actions == res.all.actions);
        BOOST_CHECK_EQUAL(again.n_accepted, res.n_accepted);
    }
    // Zero loops: the input itself.
    LocalSearchOptions opt;
    opt.n_loops = 0;
    Rng rng(1);
    Tape tape;
    LocalSearchResult res = gfn::local_search(m.env, *m.pf, *m.pb, start, opt, rng, tape);
    BOOST_CHECK_EQUAL(res.all.n, 64);
    BOOST_CHECK_EQUAL(res.acceptance_rate(), 0.0);
    for (int i = 0; i < 64; ++i) BOOST_CHECK(same_trajectory(res.current, i, start, i));
}

BOOST_AUTO_TEST_CASE(back_ratio_one_resamples_whole_paths) {
    // back_ratio = 1: the junction is s_0 and the candidate is a fresh PF rollout.
    Setup m;
    Trajectories start = m.sample(32, 4);
    LocalSearchOptions opt;
    opt.back_ratio = 1.0;
    Rng rng(6);
    Tape tape;
    Trajectories cand;
    std::vector<uint8_t> acc;
    local_search_step(m.env, *m.pf, *m.pb, start, opt, rng, tape, cand, acc);
    check_valid(m.env, cand);
    int different_x = 0;
    for (int i = 0; i < 32; ++i) different_x += row(cand.terminal_state(i), 2) != row(start.terminal_state(i), 2);
    BOOST_CHECK(different_x > 0);
}

BOOST_AUTO_TEST_CASE(conditions_are_carried) {
    ConditionalHyperGrid env(2, 4);
    auto pf = PolicyEstimator::uniform(env, false);
    auto pb = PolicyEstimator::uniform_pb(env);
    Rng rng(12);
    Tape tape;
    SampleRequest req;
    req.n = 40;
    Trajectories start;
    sample_trajectories(env, *pf, nullptr, req, rng, tape, start);
    LocalSearchOptions opt;
    opt.n_loops = 2;
    opt.use_metropolis_hastings = true;
    LocalSearchResult res = gfn::local_search(env, *pf, *pb, start, opt, rng, tape);
    check_valid(env, res.all);  // log R under each trajectory's own condition
    check_valid(env, res.current);
    for (int loop = 0; loop <= 2; ++loop)
        for (int i = 0; i < 40; ++i) BOOST_CHECK_EQUAL(res.all.condition(40 * loop + i)[0], start.condition(i)[0]);
}

BOOST_AUTO_TEST_CASE(errors) {
    Setup m;
    Trajectories start = m.sample(4, 1);
    LocalSearchOptions opt;
    Rng rng(1);
    Tape tape;
    BOOST_CHECK_THROW(gfn::local_search(m.env, *m.pb, *m.pb, start, opt, rng, tape), std::invalid_argument);
    BOOST_CHECK_THROW(gfn::local_search(m.env, *m.pf, *m.pf, start, opt, rng, tape), std::invalid_argument);
    opt.back_ratio = 0.0;
    BOOST_CHECK_THROW(gfn::local_search(m.env, *m.pf, *m.pb, start, opt, rng, tape), std::invalid_argument);
    opt.back_ratio = 0.5;
    opt.n_loops = -1;
    BOOST_CHECK_THROW(gfn::local_search(m.env, *m.pf, *m.pb, start, opt, rng, tape), std::invalid_argument);
    HyperGrid other(3, 4);
    opt.n_loops = 1;
    BOOST_CHECK_THROW(gfn::local_search(other, *m.pf, *m.pb, start, opt, rng, tape), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
