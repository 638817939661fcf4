// test_config.cpp — the `gfn train` flags: parsing, defaults, and clear errors for bad input.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "gfn/runtime/config.h"
#include "gfn/runtime/training.h"

using namespace gfn;

namespace {

Config parse(const std::vector<std::string>& args) {
    Config c;
    parse_train_flags(args, c);
    return c;
}

// The parse fails with std::invalid_argument whose message contains `needle`.
void expect_error(const std::vector<std::string>& args, const std::string& needle) {
    try {
        parse(args);
        BOOST_ERROR("no error for: " + args[0]);
    } catch (const std::invalid_argument& e) {
        BOOST_TEST_INFO("message: " << e.what());
        BOOST_TEST(std::string(e.what()).find(needle) != std::string::npos);
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(config)

BOOST_AUTO_TEST_CASE(defaults_are_the_reference_run) {
    Config c = parse({});
    BOOST_TEST(c.env == "hypergrid");
    BOOST_TEST(c.ndim == 2);
    BOOST_TEST(c.height == 8);
    BOOST_TEST(c.loss == "tb");
    BOOST_TEST(c.batch_size == 128);
    BOOST_TEST(c.iterations == 250);
    BOOST_TEST(c.hidden == 256);
    BOOST_TEST(c.layers == 2);
    BOOST_TEST(c.lr == 1e-3);
    BOOST_TEST(c.lr_logz == 0.1);
    BOOST_TEST(c.validation_samples == 200000);
    BOOST_TEST(std::isinf(c.log_reward_clip_min));
    BOOST_TEST(!c.off_policy());
}

BOOST_AUTO_TEST_CASE(values_and_switches_parse) {
    Config c = parse({"--ndim", "4", "--height=16", "--loss", "lpv", "--tied", "--lr", "2e-3",
                      "--log-reward-clip-min", "-50", "--seed", "7", "--json", "--epsilon", "0.1"});
    BOOST_TEST(c.ndim == 4);
    BOOST_TEST(c.height == 16);
    BOOST_TEST(c.loss == "lpv");
    BOOST_TEST(c.tied);
    BOOST_TEST(c.lr == 2e-3);
    BOOST_TEST(c.log_reward_clip_min == -50.0);
    BOOST_TEST(c.seed == 7u);
    BOOST_TEST(c.json);
    BOOST_TEST(c.off_policy());
}

BOOST_AUTO_TEST_CASE(unknown_and_malformed_flags_are_named) {
    expect_error({"--batchsize", "3"}, "--batchsize");
    expect_error({"--batch-size", "abc"}, "--batch-size");
    expect_error({"--batch-size", "12x"}, "--batch-size");
    expect_error({"--lr"}, "--lr needs a value");
    expect_error({"--tied=yes"}, "--tied takes no value");
    expect_error({"train"}, "unexpected argument");
    expect_error({"--seed", "-1"}, "--seed");
}

BOOST_AUTO_TEST_CASE(unknown_values_are_named) {
    expect_error({"--env", "grid"}, "--env");
    expect_error({"--loss", "tbb"}, "--loss");
    expect_error({"--loss-fn", "abs"}, "--loss-fn");
    expect_error({"--activation", "gelu"}, "--activation");
    expect_error({"--reward", "nope"}, "reward");
    expect_error({"--prior", "magic", "--loss", "rtb"}, "--prior");
    expect_error({"--optimizer", "lion"}, "--optimizer");
}

BOOST_AUTO_TEST_CASE(non_positive_sizes_are_refused) {
    expect_error({"--batch-size", "0"}, "--batch-size");
    expect_error({"--hidden", "0"}, "--hidden");
    expect_error({"--layers", "0"}, "--layers");
    expect_error({"--ndim", "0"}, "--ndim");
    expect_error({"--height", "1"}, "--height");
    expect_error({"--iterations", "-5"}, "--iterations");
    expect_error({"--validation-samples", "0"}, "--validation-samples");
    expect_error({"--lr", "0"}, "--lr");
    expect_error({"--lr-logz", "-1"}, "--lr-logz");
    expect_error({"--temperature", "0"}, "--temperature");
    expect_error({"--epsilon", "1.5"}, "--epsilon");
    expect_error({"--beta", "0"}, "--beta");
    expect_error({"--alpha", "-2"}, "--alpha");
    expect_error({"--loss-fn", "linex", "--linex-alpha", "0"}, "--linex-alpha");
}

BOOST_AUTO_TEST_CASE(toolbox_flags_are_checked) {
    expect_error({"--loss", "subtb", "--lambda", "0"}, "--lambda");
    expect_error({"--loss", "subtb", "--lambda", "1.5"}, "--lambda");
    expect_error({"--loss", "subtb", "--subtb-weighting", "fancy"}, "--subtb-weighting");
    expect_error({"--replay-buffer", "-1"}, "--replay-buffer");
    expect_error({"--replay-buffer", "10", "--buffer", "lifo"}, "--buffer");
    expect_error({"--loss", "modified_db", "--env", "discrete_ebm"}, "terminating");
    expect_error({"--loss", "db", "--forward-looking", "--env", "ising"}, "terminating");
    expect_error({"--forward-looking"}, "--forward-looking");
    expect_error({"--back-ratio", "0", "--local-search", "1"}, "--back-ratio");
    expect_error({"--loss", "fm", "--tied"}, "FM");
    expect_error({"--save-every", "5"}, "--save");
    expect_error({"--env", "bitsequence", "--word-size", "2", "--seq-size", "5"}, "--seq-size");
    Config c = parse({"--loss", "subtb", "--lambda", "1", "--subtb-weighting", "equal", "--replay-buffer", "100",
                      "--buffer", "prioritized", "--local-search", "2", "--back-ratio", "0.3"});
    BOOST_TEST(c.lambda == 1.0);
    BOOST_TEST(c.replay_buffer == 100);
    BOOST_TEST(c.off_policy());
}

BOOST_AUTO_TEST_CASE(impossible_combinations_are_refused) {
    expect_error({"--tied", "--uniform-pb"}, "--tied and --uniform-pb");
    expect_error({"--loss", "rtb", "--tied"}, "no PB");
    expect_error({"--loss", "rtb", "--env", "conditional_hypergrid"}, "unconditional");
    expect_error({"--loss", "lpv", "--batch-size", "1"}, "LPV");
}

BOOST_AUTO_TEST_CASE(a_zero_reward_asks_for_the_clip) {
    // R0 = 0 makes every state off the outer ring reward 0 (log R = −inf).
    Config c = parse({"--R0", "0", "--iterations", "1", "--hidden", "8", "--validation-samples", "100"});
    Run run(c);
    try {
        train_step(run);
        BOOST_ERROR("a zero reward went through without --log-reward-clip-min");
    } catch (const std::domain_error& e) {
        BOOST_TEST(std::string(e.what()).find("log_reward_clip_min") != std::string::npos);
        BOOST_TEST(std::string(e.what()).find("--log-reward-clip-min") != std::string::npos);
    }
    Config ok = parse({"--R0", "0", "--log-reward-clip-min", "-20", "--hidden", "8"});
    Run run_ok(ok);
    StepStats st = train_step(run_ok);
    BOOST_TEST(std::isfinite(st.loss));
}

BOOST_AUTO_TEST_CASE(cosine_schedule_decays_every_group) {
    // lr_t = lr · (1 + cos(π t / T)) / 2 with t the steps taken before the step.
    Config c = parse({"--lr-schedule", "cosine", "--iterations", "4", "--hidden", "8", "--batch-size", "4",
                      "--lr", "0.01", "--lr-logz", "0.2"});
    Run run(c);
    train_step(run);
    BOOST_TEST(run.optimizer->groups[0].lr == 0.01f);
    train_step(run);
    const double f = 0.5 * (1.0 + std::cos(3.141592653589793 / 4.0));
    BOOST_TEST(run.optimizer->groups[0].lr == float(0.01 * f));
    BOOST_TEST(run.optimizer->groups[1].lr == float(0.2 * f));
    Config k = parse({"--iterations", "4", "--hidden", "8", "--batch-size", "4", "--lr", "0.01"});
    Run constant(k);
    train_step(constant);
    train_step(constant);
    BOOST_TEST(constant.optimizer->groups[0].lr == 0.01f);
    expect_error({"--lr-schedule", "linear"}, "--lr-schedule");
}

BOOST_AUTO_TEST_CASE(help_lists_every_flag_with_its_default) {
    std::string h = train_flags_help();
    for (const char* f : {"--env", "--ndim", "--height", "--reward", "--R0", "--R1", "--R2", "--loss", "--batch-size",
                          "--iterations", "--hidden", "--layers", "--activation", "--tied", "--uniform-pb", "--lr",
                          "--lr-logz", "--weight-decay", "--clip-grad-norm", "--epsilon", "--temperature",
                          "--log-reward-clip-min", "--loss-fn", "--beta", "--alpha", "--prior", "--seed", "--threads",
                          "--validation-interval", "--validation-samples", "--json"})
        BOOST_TEST(h.find(std::string(f) + " ") != std::string::npos, f);
    BOOST_TEST(h.find("[default: 128]") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
