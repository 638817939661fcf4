// test_sharded_step.cpp — data-parallel threads in a training step (training.h):
//   - which steps are split: TB, RTB, DB, modified DB, SubTB (geometric_within, db, tb
//     weightings) at >= kShardMinTrajectories trajectories per thread on >= 2 threads;
//     not LPV, FM, SubTB's batch-wide weightings, a replay buffer, local search, TLM,
//     continuous envs, or one thread;
//   - equivalence: after one split step on 2 threads the gradient and the parameters
//     equal those of one thread computing the loss of the union of the threads'
//     batches, for TB, DB, modified DB and SubTB (uneven shares: 129 = 65 + 64);
//   - determinism: the same seed and thread count give the same parameters, and a
//     checkpoint resumes a split run bit for bit.
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
    std::vector<std::string> args = {"--hidden", "32", "--layers", "2", "--height", "6", "--seed", "5",
                                     "--validation-interval", "0", "--batch-size", "129"};
    args.insert(args.end(), extra.begin(), extra.end());
    Config c;
    parse_train_flags(args, c);
    return c;
}

void check_split_step_equals_one_thread(const std::vector<std::string>& flags) {
    Threads two(2);
    const Config cfg = small(flags);
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
    float largest = 0;
    for (float g : ref.store.grads) largest = std::max(largest, std::fabs(g));
    BOOST_TEST(largest > 0.f);
    for (size_t i = 0; i < ref.store.grads.size(); ++i) {
        BOOST_TEST_INFO("gradient entry " << i << ": " << run.store.grads[i] << " vs " << ref.store.grads[i]);
        BOOST_TEST(std::fabs(run.store.grads[i] - ref.store.grads[i]) <=
                   1e-4f * std::fabs(ref.store.grads[i]) + 1e-5f * largest);
    }
    ref.optimizer->step();
    for (size_t i = 0; i < ref.store.values.size(); ++i) {
        BOOST_TEST_INFO("parameter " << i);
        BOOST_TEST(std::fabs(run.store.values[i] - ref.store.values[i]) <= 1e-5f);
    }
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
    BOOST_TEST(!split({"--loss", "lpv"}, 2));
    BOOST_TEST(!split({"--loss", "fm"}, 2));
    BOOST_TEST(!split({"--loss", "subtb", "--subtb-weighting", "geometric"}, 2));
    BOOST_TEST(!split({"--loss", "tb", "--replay-buffer", "256"}, 2));
    BOOST_TEST(!split({"--loss", "tb", "--local-search", "1"}, 2));
    BOOST_TEST(!split({"--loss", "ppo", "--uniform-pb"}, 2));
    BOOST_TEST(!split({"--loss", "soft_dqn"}, 2));
}

BOOST_AUTO_TEST_CASE(tb_split_step_equals_one_thread) { check_split_step_equals_one_thread({"--loss", "tb"}); }
BOOST_AUTO_TEST_CASE(db_split_step_equals_one_thread) { check_split_step_equals_one_thread({"--loss", "db"}); }
BOOST_AUTO_TEST_CASE(modified_db_split_step_equals_one_thread) {
    check_split_step_equals_one_thread({"--loss", "modified_db"});
}
BOOST_AUTO_TEST_CASE(subtb_split_step_equals_one_thread) { check_split_step_equals_one_thread({"--loss", "subtb"}); }
BOOST_AUTO_TEST_CASE(off_policy_split_step_equals_one_thread) {
    check_split_step_equals_one_thread({"--loss", "tb", "--epsilon", "0.2"});
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
