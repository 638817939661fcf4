// test_replay_buffer.cpp — replay buffers (gfn/containers/replay_buffer.h) and the batch helpers
// concatenate / concatenate_into / select_trajectories (gfn/containers/trajectories.h): capacity and eviction order
// (FIFO keeps the newest, prioritized the highest log R with ties to the newer), the
// sampling distributions (uniform inclusion, softmax(log R) with and without replacement,
// checked within binomial bounds), the diverse buffer's cutoff rules, the terminating-state
// buffer's backward re-draws, reproducibility, and the errors.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "envs/hypergrid.h"
#include "gfn/estimators/estimators.h"
#include "gfn/containers/replay_buffer.h"
#include "gfn/samplers/sampler.h"
#include "gfn/containers/trajectories.h"
#include "tests/batches.h"

using namespace gfn;
using namespace gfn::testing;

namespace {

// Trajectories on a 2-D HyperGrid to the given terminal states (x0, x1 pairs): first
// along coordinate 0, then coordinate 1, then the exit. log R from the env unless given.
Trajectories grid_batch(const HyperGrid& env, const std::vector<int>& xs, const std::vector<float>& log_r = {}) {
    const int n = int(xs.size()) / 2;
    int lmax = 0;
    for (int i = 0; i < n; ++i) lmax = std::max(lmax, xs[size_t(2 * i)] + xs[size_t(2 * i + 1)] + 1);
    Trajectories t;
    t.allocate(n, lmax, 2, env.condition_dim());
    for (int i = 0; i < n; ++i) {
        int s[2] = {0, 0}, step = 0;
        for (int d = 0; d < 2; ++d)
            for (int k = 0; k < xs[size_t(2 * i + d)]; ++k) {
                t.state(step, i)[0] = s[0];
                t.state(step, i)[1] = s[1];
                t.actions[size_t(step) * n + i] = d;
                ++s[d];
                ++step;
            }
        t.state(step, i)[0] = s[0];
        t.state(step, i)[1] = s[1];
        t.actions[size_t(step) * n + i] = env.exit_action();
        t.lengths[size_t(i)] = step + 1;
    }
    t.index_steps();
    if (env.condition_dim() == 0) compute_log_rewards(env, t);
    if (!log_r.empty()) t.log_rewards = log_r;
    return t;
}

// Every structural property of complete trajectories of `env`, and log R unless told not to.
void check_valid(const DiscreteEnv& env, const Trajectories& tr, bool log_r_from_env = true) {
    CompleteTrajectoryChecks checks;
    checks.log_rewards = log_r_from_env;
    check_complete_trajectories(env, tr, checks);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(replay_buffer)

BOOST_AUTO_TEST_CASE(concatenate_and_select) {
    HyperGrid env(2, 4);
    Trajectories a = grid_batch(env, {1, 2, 0, 0}), b = grid_batch(env, {3, 3, 2, 0, 0, 1});
    Trajectories c = concatenate(a, b);
    BOOST_REQUIRE_EQUAL(c.n, 5);
    BOOST_CHECK_EQUAL(c.max_length, std::max(a.max_length, b.max_length));
    check_valid(env, c);
    for (int i = 0; i < 2; ++i) BOOST_CHECK(same_trajectory(c, i, a, i));
    for (int i = 0; i < 3; ++i) BOOST_CHECK(same_trajectory(c, 2 + i, b, i));
    // An empty side takes the other's shape.
    Trajectories empty;
    BOOST_CHECK_EQUAL(concatenate(empty, b).n, 3);
    BOOST_CHECK_EQUAL(concatenate(a, empty).n, 2);
    // Selection: order and repeats kept, max_length shrinks to the longest selected.
    Trajectories s = select_trajectories(c, {4, 1, 4});
    BOOST_REQUIRE_EQUAL(s.n, 3);
    BOOST_CHECK_EQUAL(s.max_length, 2);
    check_valid(env, s);
    BOOST_CHECK(same_trajectory(s, 0, c, 4) && same_trajectory(s, 1, c, 1) && same_trajectory(s, 2, c, 4));
    BOOST_CHECK_THROW(select_trajectories(c, {5}), std::out_of_range);
    BOOST_CHECK_THROW(select_trajectories(c, {-1}), std::out_of_range);
    Trajectories d;
    d.allocate(1, 1, 3, 0);
    BOOST_CHECK_THROW(concatenate(a, d), std::invalid_argument);
    // Three parts (one empty) into a batch that held something else: only the parts.
    Trajectories out = concatenate(c, c);
    concatenate_into({&b, &empty, &a, &b}, out);
    BOOST_REQUIRE_EQUAL(out.n, 8);
    BOOST_CHECK_EQUAL(out.max_length, std::max(a.max_length, b.max_length));
    check_valid(env, out);
    for (int i = 0; i < 3; ++i) BOOST_CHECK(same_trajectory(out, i, b, i) && same_trajectory(out, 5 + i, b, i));
    for (int i = 0; i < 2; ++i) BOOST_CHECK(same_trajectory(out, 3 + i, a, i));
    BOOST_CHECK_THROW(concatenate_into({&a, &out}, out), std::invalid_argument);
    BOOST_CHECK_THROW(concatenate_into({&a, &d}, out), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(capacity_and_kind_errors) {
    HyperGrid env(2, 4);
    auto pb = PolicyEstimator::uniform_pb(env);
    ReplayBufferOptions opt;
    opt.env = &env;
    opt.pb = pb.get();
    for (const std::string& kind : replay_buffer_kinds()) {
        for (int cap : {0, -3}) {
            try {
                make_replay_buffer(kind, cap, opt);
                BOOST_ERROR(kind << " accepted capacity " << cap);
            } catch (const std::invalid_argument& e) {
                BOOST_CHECK_MESSAGE(std::string(e.what()).find("capacity") != std::string::npos, e.what());
            }
        }
        auto buf = make_replay_buffer(kind, 3, opt);
        BOOST_CHECK_EQUAL(buf->kind(), kind);
        BOOST_CHECK_EQUAL(buf->capacity(), 3);
        BOOST_CHECK_EQUAL(buf->size(), 0);
        Trajectories out;
        Rng rng(1);
        BOOST_CHECK_THROW(buf->sample(2, rng, out), std::runtime_error);  // empty
        buf->add(grid_batch(env, {1, 1}));
        BOOST_CHECK_THROW(buf->sample(0, rng, out), std::invalid_argument);
    }
    try {
        make_replay_buffer("lifo", 10);
        BOOST_ERROR("unknown kind accepted");
    } catch (const std::invalid_argument& e) {
        const std::string msg = e.what();
        BOOST_CHECK_MESSAGE(msg.find("lifo") != std::string::npos && msg.find("fifo") != std::string::npos &&
                                msg.find("terminating_state") != std::string::npos,
                            msg);
    }
    BOOST_CHECK_THROW(make_replay_buffer("terminating_state", 10), std::invalid_argument);  // no env / PB
    BOOST_CHECK_THROW(make_replay_buffer("diverse", 10, [] { ReplayBufferOptions o; o.p_norm_distance = -1; return o; }()),
                      std::invalid_argument);
    auto pf = PolicyEstimator::uniform(env, false);
    BOOST_CHECK_THROW(TerminatingStateBuffer(5, env, *pf), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(fifo_keeps_the_most_recent) {
    // log R doubles as an id: trajectory k has log R = k.
    HyperGrid env(2, 8);
    TrajectoryReplayBuffer buf(5, false, false);
    BOOST_CHECK_EQUAL(buf.kind(), "fifo");
    auto ids = [&] {
        return std::vector<float>(buf.contents().log_rewards.begin(), buf.contents().log_rewards.end());
    };
    Trajectories b1 = grid_batch(env, {1, 0, 0, 2, 3, 3}, {0, 1, 2});
    buf.add(b1);
    BOOST_CHECK_EQUAL(buf.size(), 3);
    BOOST_CHECK(ids() == std::vector<float>({0, 1, 2}));
    Trajectories b2 = grid_batch(env, {4, 1, 0, 0, 7, 7, 2, 5}, {3, 4, 5, 6});
    buf.add(b2);
    BOOST_CHECK_EQUAL(buf.size(), 5);
    BOOST_CHECK(ids() == std::vector<float>({2, 3, 4, 5, 6}));  // 0 and 1 evicted, oldest first
    // The stored paths are copies of the added ones.
    BOOST_CHECK(same_trajectory(buf.contents(), 0, b1, 2));
    for (int i = 0; i < 4; ++i) BOOST_CHECK(same_trajectory(buf.contents(), 1 + i, b2, i));
    check_valid(env, buf.contents(), false);
    // A batch larger than the capacity leaves its last 5.
    std::vector<int> xs;
    std::vector<float> lr;
    for (int k = 0; k < 7; ++k) {
        xs.push_back(k);
        xs.push_back(1);
        lr.push_back(float(10 + k));
    }
    buf.add(grid_batch(env, xs, lr));
    BOOST_CHECK(ids() == std::vector<float>({12, 13, 14, 15, 16}));
}

BOOST_AUTO_TEST_CASE(saved_log_probs_are_not_kept) {
    HyperGrid env(2, 4);
    Rng rng(3);
    NetConfig cfg{8, 1, Activation::Relu};
    ParamStore store;
    auto pre = env.default_preprocessor();
    auto pf = PolicyEstimator::mlp(env, *pre, false, store, cfg, rng, "pf");
    Tape tape;
    SampleRequest req;
    req.n = 6;
    req.save_log_probs = true;
    Trajectories tr;
    sample_trajectories(env, *pf, nullptr, req, rng, tape, tr);
    BOOST_REQUIRE(tr.saved_log_pf.valid());
    TrajectoryReplayBuffer buf(10, false, false);
    buf.add(tr);
    BOOST_CHECK(!buf.contents().saved_log_pf.valid());
    Trajectories out;
    buf.sample(4, rng, out);
    BOOST_CHECK(!out.saved_log_pf.valid() && !out.saved_log_pb.valid());
    check_valid(env, out);
    // Mixing a fresh batch with a buffered sample.
    Trajectories mix = concatenate(tr, out);
    BOOST_CHECK_EQUAL(mix.n, 10);
    BOOST_CHECK(!mix.saved_log_pf.valid());
    check_valid(env, mix);
}

BOOST_AUTO_TEST_CASE(prioritized_keeps_the_highest_log_rewards) {
    HyperGrid env(2, 8);
    auto buf = make_replay_buffer("prioritized", 4);
    auto& pbuf = dynamic_cast<TrajectoryReplayBuffer&>(*buf);
    auto lr = [&] { return pbuf.contents().log_rewards; };
    buf->add(grid_batch(env, {1, 0, 2, 0, 3, 0}, {1, 5, 3}));
    BOOST_CHECK(lr() == std::vector<float>({1, 3, 5}));  // ascending
    buf->add(grid_batch(env, {4, 0, 5, 0, 6, 0, 7, 0}, {4, 2, 6, 0}));
    BOOST_CHECK(lr() == std::vector<float>({3, 4, 5, 6}));
    BOOST_CHECK_EQUAL(pbuf.contents().terminal_state(0)[0], 3);  // the log R 3 one is x = (3, 0)
    // A tie with the lowest kept log R: the newer trajectory stays.
    buf->add(grid_batch(env, {0, 7}, {3}));
    BOOST_CHECK(lr() == std::vector<float>({3, 4, 5, 6}));
    BOOST_CHECK(row(pbuf.contents().terminal_state(0), 2) == std::vector<int>({0, 7}));
    // Below everything kept: not stored.
    buf->add(grid_batch(env, {1, 1}, {-2}));
    BOOST_CHECK(lr() == std::vector<float>({3, 4, 5, 6}));
    // R = 0 is fine, NaN and +inf are refused.
    BOOST_CHECK_NO_THROW(buf->add(grid_batch(env, {1, 1}, {-INFINITY})));
    BOOST_CHECK_THROW(buf->add(grid_batch(env, {1, 1}, {NAN})), std::invalid_argument);
    BOOST_CHECK_THROW(buf->add(grid_batch(env, {1, 1}, {INFINITY})), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(uniform_sampling_frequencies) {
    // FIFO buffer of 10; samples of 3 distinct items: each item is in a sample with
    // probability 3/10. 20,000 samples.
    HyperGrid env(2, 8);
    TrajectoryReplayBuffer buf(10, false, false);
    std::vector<int> xs;
    std::vector<float> lr;
    for (int k = 0; k < 10; ++k) {
        xs.push_back(k % 8);
        xs.push_back(k / 8);
        lr.push_back(float(k));
    }
    buf.add(grid_batch(env, xs, lr));
    const int N = 20000;
    std::vector<int> count(10, 0);
    Rng rng(17);
    Trajectories out;
    for (int s = 0; s < N; ++s) {
        buf.sample(3, rng, out);
        BOOST_REQUIRE_EQUAL(out.n, 3);
        std::set<int> seen;
        for (int i = 0; i < 3; ++i) seen.insert(int(out.log_rewards[size_t(i)]));
        BOOST_REQUIRE_EQUAL(seen.size(), 3u);  // without replacement
        for (int k : seen) ++count[size_t(k)];
    }
    for (int k = 0; k < 10; ++k) expect_freq(double(count[size_t(k)]) / N, 0.3, N, "item " + std::to_string(k));
    // More than the buffer holds: every item once (torchgfn's randperm(size)[:n]).
    buf.sample(25, rng, out);
    BOOST_REQUIRE_EQUAL(out.n, 10);
    std::set<int> all;
    for (float v : out.log_rewards) all.insert(int(v));
    BOOST_CHECK_EQUAL(all.size(), 10u);
    check_valid(env, out, false);
}

BOOST_AUTO_TEST_CASE(prioritized_sampling_follows_softmax) {
    // R = (1, 2, 3, 4, 0) up to a common factor: p = (0.1, 0.2, 0.3, 0.4, 0).
    HyperGrid env(2, 8);
    const double p[5] = {0.1, 0.2, 0.3, 0.4, 0.0};
    const std::vector<float> lr = {float(std::log(1.0) + 7), float(std::log(2.0) + 7), float(std::log(3.0) + 7),
                                   float(std::log(4.0) + 7), -INFINITY};
    TrajectoryReplayBuffer buf(5, true, true);
    buf.add(grid_batch(env, {1, 0, 2, 0, 3, 0, 4, 0, 5, 0}, lr));
    auto item = [&](const Trajectories& t, int i) { return t.terminal_state(i)[0] - 1; };  // x0 − 1 = index
    Rng rng(23);
    Trajectories out;
    const int N = 40000;
    // One draw: frequency p_k.
    std::vector<int> c1(5, 0);
    for (int s = 0; s < N; ++s) {
        buf.sample(1, rng, out);
        ++c1[size_t(item(out, 0))];
    }
    for (int k = 0; k < 5; ++k) expect_freq(double(c1[size_t(k)]) / N, p[k], N, "one draw, item " + std::to_string(k));
    BOOST_CHECK_EQUAL(c1[4], 0);
    // Two draws without replacement (successive): P(k in sample) = p_k + Σ_{j≠k} p_j p_k / (1 − p_j).
    std::vector<int> c2(5, 0);
    for (int s = 0; s < N; ++s) {
        buf.sample(2, rng, out);
        BOOST_REQUIRE(item(out, 0) != item(out, 1));
        ++c2[size_t(item(out, 0))];
        ++c2[size_t(item(out, 1))];
    }
    for (int k = 0; k < 5; ++k) {
        double incl = p[k];
        for (int j = 0; j < 5; ++j)
            if (j != k) incl += p[j] * p[k] / (1.0 - p[j]);
        expect_freq(double(c2[size_t(k)]) / N, incl, N, "two draws, item " + std::to_string(k));
    }
    // Five of five: the R = 0 item comes last, once the others are used up.
    buf.sample(5, rng, out);
    BOOST_CHECK_EQUAL(item(out, 4), 4);
    // Twelve draws from five: with replacement, each ∝ R.
    std::vector<int> c3(5, 0);
    const int M = 4000;
    for (int s = 0; s < M; ++s) {
        buf.sample(12, rng, out);
        BOOST_REQUIRE_EQUAL(out.n, 12);
        for (int i = 0; i < 12; ++i) ++c3[size_t(item(out, i))];
    }
    for (int k = 0; k < 5; ++k)
        expect_freq(double(c3[size_t(k)]) / (12.0 * M), p[k], 12 * M, "with replacement, item " + std::to_string(k));
}

BOOST_AUTO_TEST_CASE(sampling_is_reproducible) {
    HyperGrid env(2, 8);
    for (const std::string kind : {"fifo", "prioritized", "diverse"}) {
        auto buf = make_replay_buffer(kind, 6);
        std::vector<int> xs;
        std::vector<float> lr;
        for (int k = 0; k < 6; ++k) {
            xs.push_back(k);
            xs.push_back(7 - k);
            lr.push_back(float(k) * 0.3f);
        }
        buf->add(grid_batch(env, xs, lr));
        Rng r1(5), r2(5);
        Trajectories a, b;
        for (int rep = 0; rep < 5; ++rep) {
            buf->sample(4, r1, a);
            buf->sample(4, r2, b);
            BOOST_CHECK(a.states == b.states && a.actions == b.actions && a.log_rewards == b.log_rewards);
        }
    }
}

BOOST_AUTO_TEST_CASE(rebuild_from_contents_and_clear) {
    // A fresh buffer given the saved contents is the same buffer (checkpoints rely on it).
    HyperGrid env(2, 8);
    auto pb = PolicyEstimator::uniform_pb(env);
    ReplayBufferOptions opt;
    opt.env = &env;
    opt.pb = pb.get();
    opt.cutoff_distance = 1.0;
    Rng fill(31);
    for (const std::string& kind : replay_buffer_kinds()) {
        auto buf = make_replay_buffer(kind, 7, opt);
        for (int rep = 0; rep < 4; ++rep) {
            std::vector<int> xs;
            std::vector<float> lr;
            for (int k = 0; k < 5; ++k) {
                xs.push_back(int(fill.below(8)));
                xs.push_back(int(fill.below(8)));
                lr.push_back(float(fill.below(4)));  // ties on purpose
            }
            buf->add(grid_batch(env, xs, lr));
        }
        auto copy = make_replay_buffer(kind, 7, opt);
        if (auto* t = dynamic_cast<TrajectoryReplayBuffer*>(buf.get())) {
            copy->add(t->contents());
            const Trajectories& a = t->contents();
            const Trajectories& b = dynamic_cast<TrajectoryReplayBuffer&>(*copy).contents();
            BOOST_REQUIRE_EQUAL(a.n, b.n);
            for (int i = 0; i < a.n; ++i) BOOST_CHECK(same_trajectory(a, i, b, i));
        } else {
            auto& src = dynamic_cast<TerminatingStateBuffer&>(*buf);
            auto& dst = dynamic_cast<TerminatingStateBuffer&>(*copy);
            dst.add_terminal_states(src.states().data(), src.log_rewards().data(), nullptr, src.size());
            BOOST_CHECK(dst.states() == src.states() && dst.log_rewards() == src.log_rewards());
        }
        Rng r1(9), r2(9);
        Trajectories s1, s2;
        buf->sample(4, r1, s1);
        copy->sample(4, r2, s2);
        BOOST_CHECK_MESSAGE(s1.states == s2.states && s1.log_rewards == s2.log_rewards, kind);
        buf->clear();
        BOOST_CHECK_EQUAL(buf->size(), 0);
        buf->add(grid_batch(env, {1, 2}, {0}));
        BOOST_CHECK_EQUAL(buf->size(), 1);
    }
}

BOOST_AUTO_TEST_CASE(diverse_cutoff) {
    // capacity 3, L1 cutoff 1.5 on terminal states. log R set by hand.
    HyperGrid env(2, 8);
    DiverseReplayBuffer buf(3, 1.5, 1.0);
    BOOST_CHECK_EQUAL(buf.kind(), "diverse");
    auto terminals = [&] {
        std::vector<std::vector<int>> v;
        for (int i = 0; i < buf.size(); ++i) v.push_back(row(buf.contents().terminal_state(i), 2));
        return v;
    };
    // Not full: everything goes in, duplicates included (no filter before the buffer is full).
    buf.add(grid_batch(env, {0, 0, 0, 0}, {1, 2}));
    BOOST_CHECK_EQUAL(buf.size(), 2);
    buf.add(grid_batch(env, {5, 5, 1, 1}, {3, 0.5f}));  // overfills: the lowest log R (0.5) goes
    BOOST_CHECK(buf.contents().log_rewards == std::vector<float>({1, 2, 3}));
    // Full. Buffer terminals: (0,0) log R 1, (0,0) log R 2, (5,5) log R 3. The batch,
    // ranked by log R: (2,0) 5, (2,1) 4.5, (5,7) 4.2, (1,0) 4, (7,7) 0.5.
    //   (7,7) is below the buffer's lowest log R (1): dropped.
    //   (2,1) and (1,0) are within L1 distance 1 of (2,0), ranked higher: dropped.
    //   (2,0) is 2 from (0,0), (5,7) is 2 from (5,5) and 9 from (2,1): both kept.
    buf.add(grid_batch(env, {7, 7, 1, 0, 2, 0, 2, 1, 5, 7}, {0.5f, 4, 5, 4.5f, 4.2f}));
    BOOST_CHECK(buf.contents().log_rewards == std::vector<float>({3, 4.2f, 5}));
    BOOST_CHECK((terminals() == std::vector<std::vector<int>>{{5, 5}, {5, 7}, {2, 0}}));
    // A higher-ranked batch item that is itself dropped still blocks its neighbours:
    // (5,6) 9 is 1 from (5,5): dropped; (4,6) 8 is 2 from the buffer but 1 from (5,6):
    // dropped; (3,7) 7 is 3 and 2 from those two and ≥ 2 from the buffer: kept.
    buf.add(grid_batch(env, {5, 6, 4, 6, 3, 7}, {9, 8, 7}));
    BOOST_CHECK(buf.contents().log_rewards == std::vector<float>({4.2f, 5, 7}));
    BOOST_CHECK((terminals() == std::vector<std::vector<int>>{{5, 7}, {2, 0}, {3, 7}}));
    buf.add(grid_batch(env, {6, 0, 5, 0}, {9, 8}));
    // (6,0) 9 is ≥ 4 from the buffer: kept; (5,0) 8 is 1 from (6,0), ranked lower: dropped.
    BOOST_CHECK(buf.contents().log_rewards == std::vector<float>({5, 7, 9}));
    BOOST_CHECK((terminals() == std::vector<std::vector<int>>{{2, 0}, {3, 7}, {6, 0}}));

    // p = ∞ against p = 1: (3, 1) is at L1 distance 2 but L∞ distance 1 from (2, 0).
    for (double p : {1.0, double(INFINITY)}) {
        DiverseReplayBuffer b(1, 1.5, p);
        b.add(grid_batch(env, {2, 0}, {0}));
        b.add(grid_batch(env, {3, 1}, {1}));
        const std::vector<int> kept = row(b.contents().terminal_state(0), 2);
        BOOST_CHECK_MESSAGE(kept == (p == 1.0 ? std::vector<int>({3, 1}) : std::vector<int>({2, 0})), "p = " << p);
    }
    // cutoff 0 (the default) drops exact duplicates only; a negative cutoff keeps them.
    for (double cutoff : {0.0, -1.0}) {
        DiverseReplayBuffer b(2, cutoff, 1.0);
        b.add(grid_batch(env, {2, 0, 4, 4}, {0, 0}));
        b.add(grid_batch(env, {2, 0, 2, 1}, {1, 0.5f}));
        // cutoff 0: (2,0) duplicates a buffered state; (2,1) goes in. cutoff < 0: both go in.
        std::vector<float> want = cutoff < 0 ? std::vector<float>({0.5f, 1}) : std::vector<float>({0, 0.5f});
        BOOST_CHECK_MESSAGE(b.contents().log_rewards == want, "cutoff " << cutoff);
    }
    // Conditions are part of the representation: same state, other condition, is distinct.
    ConditionalHyperGrid cenv(2, 8);
    DiverseReplayBuffer cb(1, 0.0, 1.0);
    Trajectories c1 = grid_batch(cenv, {3, 3}, {0}), c2 = grid_batch(cenv, {3, 3}, {1});
    c1.conditions = {0.25f};
    c2.conditions = {0.75f};
    cb.add(c1);
    cb.add(c2);
    BOOST_CHECK_EQUAL(cb.contents().conditions[0], 0.75f);
    c1.log_rewards = {2};
    cb.add(c1);
    BOOST_CHECK_EQUAL(cb.contents().conditions[0], 0.25f);
    c2.conditions = {0.25f};
    c2.log_rewards = {3};
    cb.add(c2);  // identical state and condition: a duplicate
    BOOST_CHECK_EQUAL(cb.contents().log_rewards[0], 2.f);
}

BOOST_AUTO_TEST_CASE(terminating_state_buffer_redraws_paths) {
    HyperGrid env(2, 4);
    Rng rng(7);
    NetConfig cfg{8, 2, Activation::Relu};
    ParamStore store;
    auto pre = env.default_preprocessor();
    auto pf = PolicyEstimator::mlp(env, *pre, false, store, cfg, rng, "pf");
    auto pb = PolicyEstimator::mlp(env, *pre, true, store, cfg, rng, "pb");
    ReplayBufferOptions opt;
    opt.env = &env;
    opt.pb = pb.get();
    auto buf = make_replay_buffer("terminating_state", 8, opt);
    auto& tbuf = dynamic_cast<TerminatingStateBuffer&>(*buf);
    Tape tape;
    SampleRequest req;
    req.n = 12;
    Trajectories fresh;
    sample_trajectories(env, *pf, nullptr, req, rng, tape, fresh);
    buf->add(fresh);
    // FIFO over terminal states: the last 8 of the 12.
    BOOST_REQUIRE_EQUAL(buf->size(), 8);
    for (int k = 0; k < 8; ++k) {
        BOOST_CHECK(row(&tbuf.states()[size_t(2 * k)], 2) == row(fresh.terminal_state(4 + k), 2));
        BOOST_CHECK_EQUAL(tbuf.log_rewards()[size_t(k)], fresh.log_rewards[size_t(4 + k)]);
    }
    std::set<std::vector<int>> stored;
    for (int k = 0; k < 8; ++k) stored.insert(row(&tbuf.states()[size_t(2 * k)], 2));
    // Re-drawn paths: valid, from s_0, ending at stored states, with their log R.
    Trajectories out;
    for (int rep = 0; rep < 20; ++rep) {
        buf->sample(5, rng, out);
        BOOST_REQUIRE_EQUAL(out.n, 5);
        check_valid(env, out);
        for (int i = 0; i < 5; ++i) BOOST_CHECK(stored.count(row(out.terminal_state(i), 2)) == 1);
        BOOST_CHECK(!out.saved_log_pf.valid());
    }
    // The paths to (1, 1)-like states vary: both first moves to a state with two parents occur.
    TerminatingStateBuffer one(1, env, *pb);
    const int x11[2] = {2, 2};
    const float lr = 0.f;
    one.add_terminal_states(x11, &lr, nullptr, 1);
    std::set<int> first_moves;
    for (int rep = 0; rep < 50; ++rep) {
        one.sample(1, rng, out);
        check_valid(env, out, false);
        BOOST_CHECK(row(out.terminal_state(0), 2) == std::vector<int>({2, 2}));
        BOOST_CHECK_EQUAL(out.lengths[0], 5);
        first_moves.insert(out.action(0, 0));
    }
    BOOST_CHECK_EQUAL(first_moves.size(), 2u);
    // Same seed, same re-draws.
    Rng r1(4), r2(4);
    Trajectories a, b;
    buf->sample(6, r1, a);
    buf->sample(6, r2, b);
    BOOST_CHECK(a.states == b.states && a.actions == b.actions);
}

BOOST_AUTO_TEST_CASE(terminating_state_buffer_conditions) {
    ConditionalHyperGrid env(2, 4);
    auto pf = PolicyEstimator::uniform(env, false);
    auto pb = PolicyEstimator::uniform_pb(env);
    TerminatingStateBuffer buf(16, env, *pb);
    Rng rng(8);
    Tape tape;
    SampleRequest req;
    req.n = 10;
    Trajectories fresh;
    sample_trajectories(env, *pf, nullptr, req, rng, tape, fresh);
    buf.add(fresh);
    Trajectories out;
    buf.sample(10, rng, out);
    BOOST_REQUIRE_EQUAL(out.n, 10);
    BOOST_REQUIRE_EQUAL(out.condition_dim, 1);
    check_valid(env, out);  // log R of each x under its own condition
    // Each re-drawn (x, condition) pair is one that was added.
    for (int i = 0; i < 10; ++i) {
        bool found = false;
        for (int j = 0; j < fresh.n; ++j)
            found |= row(out.terminal_state(i), 2) == row(fresh.terminal_state(j), 2) &&
                     out.condition(i)[0] == fresh.condition(j)[0] && out.log_rewards[size_t(i)] == fresh.log_rewards[size_t(j)];
        BOOST_CHECK(found);
    }
    BOOST_CHECK_THROW(buf.add_terminal_states(fresh.terminal_state(0), fresh.log_rewards.data(), nullptr, 1),
                      std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
