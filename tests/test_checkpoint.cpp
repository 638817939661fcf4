// test_checkpoint.cpp — resuming equals never stopping; bad checkpoints are refused.
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gfn/runtime/checkpoint.h"
#include "gfn/runtime/config.h"
#include "gfn/runtime/training.h"

using namespace gfn;

namespace {

Config small_config(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"--hidden", "16", "--batch-size", "16", "--height", "5",
                                     "--validation-samples", "2000", "--seed", "3"};
    args.insert(args.end(), extra.begin(), extra.end());
    Config c;
    parse_train_flags(args, c);
    return c;
}

std::string temp_path(const std::string& name) {
    return "/tmp/gfn_test_" + std::to_string(::getpid()) + "_" + name;
}

std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void spit(const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << bytes;
}

// Trains `total` iterations straight, and `half` + resume to `total`; both must agree bit for bit.
void check_resume_equals_uninterrupted(const std::vector<std::string>& extra, int half, int total) {
    Config cfg = small_config(extra);
    cfg.iterations = total;
    Run straight(cfg);
    Metrics m_straight = train(straight).final_metrics;

    const std::string path = temp_path("resume.ckpt");
    Config first = cfg;
    first.iterations = half;
    {
        Run a(first);
        train(a);
        save_checkpoint(a, path);
    }
    Run b(cfg, /*train_prior=*/false);
    load_checkpoint(b, path);
    BOOST_TEST(b.iteration == half);
    Metrics m_resumed = train(b).final_metrics;
    std::remove(path.c_str());

    BOOST_TEST(b.iteration == total);
    BOOST_TEST(b.store.values == straight.store.values);  // bit for bit
    BOOST_TEST(b.optimizer->m == straight.optimizer->m);
    BOOST_TEST(b.optimizer->v == straight.optimizer->v);
    BOOST_TEST(b.optimizer->t == straight.optimizer->t);
    BOOST_TEST(b.rng.state == straight.rng.state);
    BOOST_TEST(m_resumed.l1 == m_straight.l1);
    BOOST_TEST(m_resumed.exact_l1 == m_straight.exact_l1);
    BOOST_TEST(m_resumed.logz == m_straight.logz);
    BOOST_TEST(m_resumed.modes_found == m_straight.modes_found);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(checkpoint)

BOOST_AUTO_TEST_CASE(resume_equals_uninterrupted_tb) { check_resume_equals_uninterrupted({}, 30, 60); }

BOOST_AUTO_TEST_CASE(resume_equals_uninterrupted_subtb_tied) {
    check_resume_equals_uninterrupted({"--loss", "subtb", "--tied"}, 7, 15);
}

BOOST_AUTO_TEST_CASE(resume_equals_uninterrupted_with_replay_buffer) {
    check_resume_equals_uninterrupted({"--replay-buffer", "40"}, 6, 12);
}

BOOST_AUTO_TEST_CASE(resume_equals_uninterrupted_with_a_terminating_state_buffer_and_local_search) {
    check_resume_equals_uninterrupted({"--replay-buffer", "30", "--buffer", "terminating_state", "--local-search", "1"},
                                      5, 10);
}

BOOST_AUTO_TEST_CASE(resume_equals_uninterrupted_rtb_with_a_trained_prior) {
    check_resume_equals_uninterrupted({"--loss", "rtb", "--prior-iterations", "5", "--reward", "deceptive"}, 5, 10);
}

BOOST_AUTO_TEST_CASE(config_round_trips_through_the_file) {
    Config cfg = small_config({"--loss", "lpv", "--tied", "--log-reward-clip-min", "-30", "--epsilon", "0.05"});
    Run run(cfg);
    const std::string path = temp_path("config.ckpt");
    save_checkpoint(run, path);
    Config back = checkpoint_config(path);
    std::remove(path.c_str());
    BOOST_TEST(describe(back) == describe(cfg));
}

BOOST_AUTO_TEST_CASE(truncated_corrupted_and_foreign_files_are_refused) {
    Config cfg = small_config();
    cfg.iterations = 3;
    Run run(cfg);
    train(run);
    const std::string good = temp_path("good.ckpt"), bad = temp_path("bad.ckpt");
    save_checkpoint(run, good);
    const std::string bytes = slurp(good);

    auto refused = [&](const std::string& content, const std::string& needle) {
        spit(bad, content);
        Run other(cfg);
        const std::vector<float> before = other.store.values;
        try {
            load_checkpoint(other, bad);
            BOOST_ERROR("accepted a bad checkpoint (" + needle + ")");
        } catch (const std::runtime_error& e) {
            BOOST_TEST_INFO("message: " << e.what());
            BOOST_TEST(std::string(e.what()).find(needle) != std::string::npos);
        }
        BOOST_TEST(other.store.values == before);  // nothing changed
    };
    refused(bytes.substr(0, bytes.size() / 2), "truncated");
    refused(bytes.substr(0, 10), "truncated");
    std::string flipped = bytes;
    flipped[flipped.size() - 5] ^= 0x5a;
    refused(flipped, "corrupted");
    refused("hello, world", "not a gfn.cpp checkpoint");
    std::string version = bytes;
    version[8] = 99;
    refused(version, "version");

    // Another architecture or environment.
    for (const std::vector<std::string>& other_flags :
         {std::vector<std::string>{"--hidden", "32"}, {"--height", "6"}, {"--loss", "lpv"}}) {
        Config oc = small_config(other_flags);
        Run other(oc);
        try {
            load_checkpoint(other, good);
            BOOST_ERROR("accepted a checkpoint of another run: " + other_flags[0]);
        } catch (const std::runtime_error& e) {
            BOOST_TEST(std::string(e.what()).find(other_flags[0]) != std::string::npos);
        }
    }
    BOOST_TEST(slurp(good) == bytes);  // the good file is untouched throughout
    std::remove(good.c_str());
    std::remove(bad.c_str());
}

BOOST_AUTO_TEST_CASE(a_failed_save_keeps_the_previous_file) {
    Config cfg = small_config();
    Run run(cfg);
    const std::string dir = temp_path("dir");
    // A directory in the way of the rename: the save fails, leaving no temporary file behind.
    BOOST_REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
    BOOST_CHECK_THROW(save_checkpoint(run, dir), std::runtime_error);
    const std::string tmp = dir + ".tmp." + std::to_string(::getpid());
    BOOST_TEST(::access(tmp.c_str(), F_OK) != 0);
    ::rmdir(dir.c_str());

    const std::string path = temp_path("keep.ckpt");
    save_checkpoint(run, path);
    const std::string before = slurp(path);
    BOOST_CHECK_THROW(save_checkpoint(run, "/nonexistent-dir/x.ckpt"), std::runtime_error);
    BOOST_TEST(slurp(path) == before);
    std::remove(path.c_str());
}

BOOST_AUTO_TEST_CASE(a_non_finite_state_is_never_saved) {
    Config cfg = small_config();
    const std::string path = temp_path("nan.ckpt");
    for (int slab = 0; slab < 3; ++slab) {
        Run run(cfg);
        train_step(run);
        (slab == 0 ? run.store.values : slab == 1 ? run.optimizer->m : run.optimizer->v)[7] = slab == 1 ? NAN : INFINITY;
        try {
            save_checkpoint(run, path);
            BOOST_ERROR("saved a checkpoint holding NaN or inf (slab " << slab << ")");
        } catch (const std::runtime_error& e) {
            BOOST_TEST_INFO("message: " << e.what());
            BOOST_TEST(std::string(e.what()).find("NaN or inf") != std::string::npos);
            BOOST_TEST(std::string(e.what()).find("--lr") != std::string::npos);
        }
        BOOST_TEST(::access(path.c_str(), F_OK) != 0);
    }
}

BOOST_AUTO_TEST_CASE(a_checkpoint_holding_a_nan_weight_is_refused) {
    Config cfg = small_config();
    Run run(cfg);
    train_step(run);
    // A weight with a value found nowhere else in the file, then made NaN in
    // the bytes, with the checksum recomputed: a well-formed file of a diverged run.
    const float marker = 1234.5678f;
    run.store.values[5] = marker;
    const std::string path = temp_path("nanweight.ckpt");
    save_checkpoint(run, path);
    std::string bytes = slurp(path);
    const std::string needle(reinterpret_cast<const char*>(&marker), sizeof marker);
    const size_t at = bytes.find(needle);
    BOOST_REQUIRE(at != std::string::npos);
    BOOST_REQUIRE(bytes.find(needle, at + 1) == std::string::npos);
    const float nan = NAN;
    bytes.replace(at, sizeof nan, reinterpret_cast<const char*>(&nan), sizeof nan);
    // Header: magic (8), version (4), payload size (8), FNV-1a-64 of the payload (8).
    uint64_t h = 14695981039346656037ULL;
    for (size_t k = 28; k < bytes.size(); ++k) {
        h ^= static_cast<unsigned char>(bytes[k]);
        h *= 1099511628211ULL;
    }
    std::memcpy(&bytes[20], &h, sizeof h);
    spit(path, bytes);

    Run other(cfg);
    const std::vector<float> before = other.store.values;
    try {
        load_checkpoint(other, path);
        BOOST_ERROR("loaded a checkpoint holding a NaN weight");
    } catch (const std::runtime_error& e) {
        BOOST_TEST_INFO("message: " << e.what());
        BOOST_TEST(std::string(e.what()).find(path) != std::string::npos);
        BOOST_TEST(std::string(e.what()).find("NaN or inf") != std::string::npos);
    }
    BOOST_TEST(other.store.values == before);
    std::remove(path.c_str());
}

BOOST_AUTO_TEST_CASE(errors_name_the_target_and_never_replace_a_link) {
    Config cfg = small_config();
    Run run(cfg);
    try {
        save_checkpoint(run, "/nonexistent-dir/x.ckpt");
        BOOST_ERROR("no error for a missing directory");
    } catch (const std::runtime_error& e) {
        BOOST_TEST_INFO("message: " << e.what());
        BOOST_TEST(std::string(e.what()).find("/nonexistent-dir/x.ckpt") != std::string::npos);
        BOOST_TEST(std::string(e.what()).find(".tmp.") == std::string::npos);  // not the temporary file
    }
    const std::string target = temp_path("target.ckpt"), link = temp_path("link.ckpt");
    spit(target, "keep");
    BOOST_REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
    BOOST_CHECK_THROW(save_checkpoint(run, link), std::runtime_error);
    struct stat st;
    BOOST_REQUIRE(::lstat(link.c_str(), &st) == 0);
    BOOST_TEST(S_ISLNK(st.st_mode));
    BOOST_TEST(slurp(target) == "keep");
    std::remove(link.c_str());
    std::remove(target.c_str());
}

BOOST_AUTO_TEST_SUITE_END()
