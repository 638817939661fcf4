// test_sharded_step.cpp — data-parallel threads in a training step (training.h):
//   - which steps are split: TB, RTB, DB, modified DB, SubTB (geometric_within, db, tb
//     weightings) at >= kShardMinTrajectories trajectories per thread (continuous envs:
//     kShardMinContinuousTrajectories) on >= 2 threads, on discrete and continuous envs, and
//     LPV and relative LPV with a squared g (in two passes); not Trust-PCL, MLE, FM,
//     SubTB's batch-wide weightings, a replay buffer, local search, TLM, or one thread;
//   - equivalence: after one split step on 2 threads the gradient and the parameters
//     equal those of one thread computing the loss of the union of the threads'
//     batches, for TB, DB, modified DB and SubTB on HyperGrid, and for TB on Line
//     (with its exploration and gradient clamp), Box polar and Cartesian and diffusion
//     gmm25, DB and SubTB on Box, RTB over a saved Box prior (uneven shares: 129 = 65 + 64);
//   - determinism: the same seed and thread count give the same parameters (discrete
//     and every continuous env), and a checkpoint resumes a split run bit for bit.
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "engine/blas.h"
#include "engine/optim.h"
#include "gfn/runtime/checkpoint.h"
#include "gfn/runtime/config.h"
#include "gfn/runtime/continuous_training.h"
#include "gfn/runtime/training.h"

using namespace gfn;

namespace {

// Sets the thread count for its lifetime.
struct Threads {
    int prev;
    explicit Threads(int n) : prev(num_threads()) { set_num_threads(n); }
    ~Threads() { set_num_threads(prev); }
};

Config small(const std::vector<std::string>& extra) {
    // 4D H=8: 4,096 states, enough for a split step at batch 129 (kShardMinStatesPerTrajectory).
    std::vector<std::string> args = {"--hidden", "32", "--layers", "2", "--ndim", "4", "--height", "8", "--seed", "5",
                                     "--validation-interval", "0", "--batch-size", "129"};
    args.insert(args.end(), extra.begin(), extra.end());
    Config c;
    parse_train_flags(args, c);
    return c;
}

// A small continuous run of --env `env` (diffusion: gmm25 with 8 steps) at batch 129.
Config small_continuous(const std::string& env, const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"--env", env, "--hidden", "32", "--layers", "2", "--seed", "5",
                                     "--validation-interval", "0", "--batch-size", "129"};
    if (env == "diffusion") args.insert(args.end(), {"--target", "gmm25", "--steps", "8"});
    args.insert(args.end(), extra.begin(), extra.end());
    Config c;
    parse_train_flags(args, c);
    return c;
}

void check_split_step_equals_one_thread(const Config& cfg) {
    Threads two(2);
    Run run(cfg);
    BOOST_REQUIRE(sharded_steps(run, 2));
    const std::vector<float> start = run.store.values;
    train_step(run);
    BOOST_REQUIRE(run.shards.size() == 2u);
    BOOST_TEST(run.shards[0]->batch.n == 65);
    BOOST_TEST(run.shards[1]->batch.n == 64);
    BOOST_TEST(run.batch.n == 129);
    // The reference: one thread, one tape, the loss of the union of the two batches.
    Trajectories all = concatenate(run.shards[0]->batch, run.shards[1]->batch);
    Threads one(1);
    Run ref(cfg);
    BOOST_TEST(ref.store.values == start);
    ref.tape.reset();
    Var loss = ref.gflownet->loss(ref.tape, all, /*recalculate_all_logprobs=*/true);
    ref.store.zero_grad();
    ref.tape.backward(loss);
    clip_grad_norm(ref.store, cfg.clip_grad_norm);
    if (cfg.gradient_clip_value > 0) clamp_network_gradients(ref.store, float(cfg.gradient_clip_value));
    float largest = 0;
    for (float g : ref.store.grads) largest = std::max(largest, std::fabs(g));
    BOOST_TEST(largest > 0.f);
    for (size_t i = 0; i < ref.store.grads.size(); ++i) {
        BOOST_TEST_INFO("gradient entry " << i << ": " << run.store.grads[i] << " vs " << ref.store.grads[i]);
        BOOST_TEST(std::fabs(run.store.grads[i] - ref.store.grads[i]) <=
                   1e-4f * std::fabs(ref.store.grads[i]) + 1e-5f * largest);
    }
    ref.optimizer->step();
    // Adam's first step is lr·g/(|g| + ε): where |g| is near ε (1e-8) it magnifies the
    // rounding of g, so entries that small are checked by the gradient test above only.
    for (size_t i = 0; i < ref.store.values.size(); ++i) {
        if (std::fabs(ref.store.grads[i]) < 1e-6f) continue;
        BOOST_TEST_INFO("parameter " << i << ", gradient " << run.store.grads[i] << " vs " << ref.store.grads[i]);
        BOOST_TEST(std::fabs(run.store.values[i] - ref.store.values[i]) <= 1e-5f);
    }
}
void check_split_step_equals_one_thread(const std::vector<std::string>& flags) {
    check_split_step_equals_one_thread(small(flags));
}

// Two runs of cfg on 2 threads take split steps and end bit-identical; the
// threads sampled different trajectories.
void check_same_seed_same_run(const Config& cfg) {
    Threads two(2);
    Run a(cfg), b(cfg);
    BOOST_REQUIRE(sharded_steps(a, 2));
    for (int i = 0; i < 3; ++i) train_step(a), train_step(b);
    BOOST_TEST(a.store.values == b.store.values);
    BOOST_TEST(a.rng.state == b.rng.state);
    BOOST_REQUIRE(a.shards.size() == 2u);
    const Trajectories &s0 = a.shards[0]->batch, &s1 = a.shards[1]->batch;
    BOOST_REQUIRE(s0.n >= 64 && s1.n >= 64);
    bool differ = false;
    for (int i = 0; i < 64 && !differ; ++i)
        for (int d = 0; d < s0.state_dim; ++d)
            differ = differ || s0.float_terminal_state(i)[d] != s1.float_terminal_state(i)[d];
    BOOST_TEST(differ);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sharded_step)

BOOST_AUTO_TEST_CASE(which_steps_are_split) {
    auto split = [](const std::vector<std::string>& flags, int threads) {
        Run run(small(flags));
        return sharded_steps(run, threads);
    };
    BOOST_TEST(split({"--loss", "tb"}, 2));
    BOOST_TEST(split({"--loss", "db"}, 2));
    BOOST_TEST(split({"--loss", "modified_db"}, 2));
    BOOST_TEST(split({"--loss", "subtb"}, 2));  // geometric_within
    BOOST_TEST(split({"--loss", "subtb", "--subtb-weighting", "db"}, 2));
    BOOST_TEST(!split({"--loss", "tb"}, 1));
    BOOST_TEST(!split({"--loss", "tb", "--batch-size", "127"}, 2));  // < 64 per thread
    // Fewer than 16 states per trajectory of the batch (4,096 states: batches up to 256 split):
    // the threads would evaluate the same distinct states twice, unless every state is evaluated anyway.
    BOOST_TEST(split({"--loss", "tb", "--batch-size", "256"}, 2));
    BOOST_TEST(!split({"--loss", "tb", "--batch-size", "257"}, 2));
    BOOST_TEST(split({"--loss", "tb", "--batch-size", "257", "--no-state-dedup"}, 2));
    BOOST_TEST(!split({"--loss", "tb", "--ndim", "2", "--height", "8", "--batch-size", "2048"}, 2));
    BOOST_TEST(split({"--loss", "tb", "--ndim", "2", "--height", "8", "--batch-size", "2048", "--no-state-dedup"}, 2));
    BOOST_TEST(split({"--loss", "lpv"}, 2));  // in two passes: the scores, then about their mean
    BOOST_TEST(split({"--loss", "lpv", "--loss-fn", "half_squared"}, 2));
    BOOST_TEST(!split({"--loss", "lpv", "--loss-fn", "shifted_cosh"}, 2));  // Σ g'(s_i − c) ≠ 0
    BOOST_TEST(!split({"--loss", "fm"}, 2));
    BOOST_TEST(!split({"--loss", "subtb", "--subtb-weighting", "geometric"}, 2));
    BOOST_TEST(!split({"--loss", "tb", "--replay-buffer", "256"}, 2));
    BOOST_TEST(!split({"--loss", "tb", "--local-search", "1"}, 2));
    BOOST_TEST(!split({"--loss", "ppo", "--uniform-pb"}, 2));
    BOOST_TEST(!split({"--loss", "soft_dqn"}, 2));
    auto split_continuous = [](const std::string& env, const std::vector<std::string>& flags, int threads) {
        Run run(small_continuous(env, flags));
        return sharded_steps(run, threads);
    };
    for (const char* env : {"line", "box", "box_cartesian", "diffusion"}) {
        BOOST_TEST_INFO("--env " << env);
        BOOST_TEST(split_continuous(env, {"--loss", "tb"}, 2));
        BOOST_TEST_INFO("--env " << env);
        BOOST_TEST(!split_continuous(env, {"--loss", "tb"}, 1));
        BOOST_TEST_INFO("--env " << env);
        BOOST_TEST(split_continuous(env, {"--loss", "tb", "--batch-size", "64"}, 2));
        BOOST_TEST_INFO("--env " << env);
        BOOST_TEST(!split_continuous(env, {"--loss", "tb", "--batch-size", "63"}, 2));  // < 32 per thread
        BOOST_TEST_INFO("--env " << env);
        BOOST_TEST(split_continuous(env, {"--loss", "lpv"}, 2));
    }
    BOOST_TEST(split_continuous("box", {"--loss", "db"}, 2));
    BOOST_TEST(split_continuous("box", {"--loss", "subtb"}, 2));
    BOOST_TEST(!split_continuous("box", {"--loss", "subtb", "--subtb-weighting", "geometric"}, 2));
    BOOST_TEST(!split_continuous("diffusion", {"--loss", "mle"}, 2));
}

BOOST_AUTO_TEST_CASE(tb_split_step_equals_one_thread) { check_split_step_equals_one_thread({"--loss", "tb"}); }
BOOST_AUTO_TEST_CASE(db_split_step_equals_one_thread) { check_split_step_equals_one_thread({"--loss", "db"}); }
// LPV in two passes: each thread's scores, then its loss about the whole batch's mean.
BOOST_AUTO_TEST_CASE(lpv_split_step_equals_one_thread) {
    check_split_step_equals_one_thread({"--loss", "lpv"});
    check_split_step_equals_one_thread({"--loss", "lpv", "--loss-fn", "half_squared", "--epsilon", "0.1"});
    check_split_step_equals_one_thread(small_continuous("diffusion", {"--loss", "lpv", "--learn-variance"}));
}
BOOST_AUTO_TEST_CASE(modified_db_split_step_equals_one_thread) {
    check_split_step_equals_one_thread({"--loss", "modified_db"});
}
BOOST_AUTO_TEST_CASE(subtb_split_step_equals_one_thread) { check_split_step_equals_one_thread({"--loss", "subtb"}); }
BOOST_AUTO_TEST_CASE(off_policy_split_step_equals_one_thread) {
    check_split_step_equals_one_thread({"--loss", "tb", "--epsilon", "0.2"});
}

BOOST_AUTO_TEST_CASE(line_tb_split_step_equals_one_thread) {
    // (Line's defaults: exploration std 2 and the gradient clamp at 5.)
    check_split_step_equals_one_thread(small_continuous("line", {"--loss", "tb"}));
}
BOOST_AUTO_TEST_CASE(box_tb_split_step_equals_one_thread) {
    check_split_step_equals_one_thread(small_continuous("box", {"--loss", "tb"}));
}
BOOST_AUTO_TEST_CASE(box_cartesian_tb_split_step_equals_one_thread) {
    check_split_step_equals_one_thread(small_continuous("box_cartesian", {"--loss", "tb"}));
}
BOOST_AUTO_TEST_CASE(diffusion_tb_split_step_equals_one_thread) {
    check_split_step_equals_one_thread(small_continuous("diffusion", {"--loss", "tb"}));
}
BOOST_AUTO_TEST_CASE(box_db_and_subtb_split_step_equals_one_thread) {
    check_split_step_equals_one_thread(small_continuous("box", {"--loss", "db"}));
    check_split_step_equals_one_thread(small_continuous("box", {"--loss", "subtb"}));
}
BOOST_AUTO_TEST_CASE(box_rtb_over_a_saved_prior_split_step_equals_one_thread) {
    const std::string prior = "/tmp/gfn_test_sharded_prior_" + std::to_string(getpid()) + ".ckpt";
    {
        Threads one(1);
        Run p(small_continuous("box", {"--loss", "tb"}));
        for (int i = 0; i < 2; ++i) train_step(p);
        save_checkpoint(p, prior);
    }
    check_split_step_equals_one_thread(small_continuous("box", {"--loss", "rtb", "--prior", prior, "--R0", "0.3"}));
    check_split_step_equals_one_thread(
        small_continuous("box", {"--loss", "relative_lpv", "--prior", prior, "--R0", "0.3"}));
    std::remove(prior.c_str());
}

// Thread t's share is the one-thread sampler's draw (sample_continuous_batch, with
// the step's exploration std: Line's is 2) on thread t's stream, the pair of 32-bit
// words drawn from the training stream with stream id t + 1 (training.cpp).
BOOST_AUTO_TEST_CASE(line_shards_are_the_one_thread_draw_on_their_streams) {
    const Config cfg = small_continuous("line", {"--loss", "tb"});
    Rng training(0);
    {
        Threads two(2);
        Run run(cfg);
        training = run.rng;
        train_step(run);
        Threads one(1);
        Run ref(cfg);
        for (int t = 0; t < 2; ++t) {
            const uint64_t hi = training.next_u32(), lo = training.next_u32();
            Rng stream((hi << 32) | lo, uint64_t(t) + 1);
            const Trajectories& shard = run.shards[size_t(t)]->batch;
            Trajectories mine;
            ref.tape.reset();
            sample_continuous_batch(ref, shard.n, stream, ref.tape, mine);
            BOOST_REQUIRE(mine.n == shard.n);
            BOOST_TEST(mine.lengths == shard.lengths);
            for (int i = 0; i < shard.n; ++i) {
                BOOST_TEST_INFO("thread " << t << ", trajectory " << i);
                BOOST_TEST(std::fabs(mine.float_terminal_state(i)[0] - shard.float_terminal_state(i)[0]) <= 1e-5f);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(continuous_same_seed_same_threads_same_run) {
    for (const char* env : {"line", "box", "box_cartesian", "diffusion"}) {
        BOOST_TEST_CONTEXT("--env " << env) { check_same_seed_same_run(small_continuous(env, {"--loss", "tb"})); }
    }
}

BOOST_AUTO_TEST_CASE(same_seed_same_threads_same_run_and_resume) {
    Threads two(2);
    const Config cfg = small({"--loss", "tb"});
    Run a(cfg), b(cfg);
    for (int i = 0; i < 4; ++i) train_step(a), train_step(b);
    BOOST_TEST(a.store.values == b.store.values);
    // the threads sampled different trajectories (their own streams)
    BOOST_TEST(a.shards[0]->batch.states != a.shards[1]->batch.states);
    const std::string path = "/tmp/gfn_test_sharded_" + std::to_string(getpid()) + ".ckpt";
    save_checkpoint(a, path);
    for (int i = 0; i < 3; ++i) train_step(a);
    Run resumed(cfg, false);
    load_checkpoint(resumed, path);
    for (int i = 0; i < 3; ++i) train_step(resumed);
    BOOST_TEST(resumed.store.values == a.store.values);
    BOOST_TEST(resumed.rng.state == a.rng.state);
    std::remove(path.c_str());
}

BOOST_AUTO_TEST_SUITE_END()
