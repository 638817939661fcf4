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

// `parse` (one of the commands' parsers) fails with std::invalid_argument containing `needle`.
template <class F>
void expect_throw(F parse_fn, const std::string& needle) {
    try {
        parse_fn();
        BOOST_ERROR("no error; expected one containing: " + needle);
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

BOOST_AUTO_TEST_CASE(float_flags_are_checked_as_floats) {
    // Each is a valid double but overflows the float it is used as, or flushes to 0 / a subnormal.
    expect_error({"--lr", "1e39"}, "--lr");
    expect_error({"--lr", "1e-300"}, "--lr");
    expect_error({"--temperature", "1e-40"}, "--temperature");
    expect_error({"--beta", "1e300"}, "--beta");
    expect_error({"--loss-fn", "linex", "--linex-alpha", "1e-300"}, "--linex-alpha");
    expect_error({"--lambda", "1e-45"}, "--lambda");
    expect_error({"--init-logz", "-4e38"}, "--init-logz");
    // The largest and smallest normal floats still pass, and 0 where 0 is allowed.
    BOOST_TEST(parse({"--lr", "3.4e38"}).lr == 3.4e38);
    BOOST_TEST(parse({"--lr", "1.2e-38"}).lr == 1.2e-38);
    BOOST_TEST(parse({"--weight-decay", "0"}).weight_decay == 0.0);
    BOOST_TEST(std::isinf(parse({"--log-reward-clip-min", "-inf"}).log_reward_clip_min));
    // A Config built in code is held to the same rule.
    Config c;
    c.lr = 1e-300;
    try {
        validate_config(c);
        BOOST_ERROR("validate_config took --lr 1e-300");
    } catch (const std::invalid_argument& e) {
        BOOST_TEST(std::string(e.what()).find("--lr") != std::string::npos);
    }
    // log R is a float: a coupling or temperature that overflows it is refused.
    expect_error({"--env", "ising", "--J", "1e37"}, "--J");
    expect_error({"--env", "bitsequence", "--reward-temperature", "1e-38"}, "--reward-temperature");
}

BOOST_AUTO_TEST_CASE(numbers_are_strictly_decimal) {
    expect_error({"--batch-size", " 8"}, "--batch-size");
    expect_error({"--batch-size", "8 "}, "--batch-size");
    expect_error({"--batch-size", "0x10"}, "--batch-size");
    expect_error({"--lr", " 0.1"}, "--lr");
    expect_error({"--lr", "0x1p-3"}, "--lr");
    expect_error({"--lr", "nan"}, "--lr");
    expect_error({"--lr", "1e"}, "--lr");
    expect_error({"--lr", "."}, "--lr");
    expect_error({"--R0", "1e-320"}, "--R0");
    expect_error({"--seed", "0x5"}, "--seed");
    expect_error({"--seed", " 5"}, "--seed");
    BOOST_TEST(parse({"--lr", "+.5e-2"}).lr == 0.005);
    BOOST_TEST(parse({"--iterations", "+7"}).iterations == 7);
}

BOOST_AUTO_TEST_CASE(integers_are_range_checked_not_wrapped) {
    // 4294967297 = 2^32 + 1 wraps to 1 in an int.
    expect_error({"--validation-samples", "4294967297"}, "--validation-samples: must be in [1, ");
    expect_error({"--threads", "4294967297"}, "--threads: must be in [0, ");
    expect_error({"--iterations", "99999999999999999999"}, "--iterations: must be in [0, 2147483647]");
    expect_error({"--seed", "18446744073709551616"}, "--seed: must be in [0, 18446744073709551615]");
    expect_error({"--modes-seed", "-1"}, "--modes-seed");
    BOOST_TEST(parse({"--seed", "18446744073709551615"}).seed == 18446744073709551615ull);
    // Every integer flag of the table has a range: the smallest value below it is named.
    for (const char* f : {"ndim", "height", "L", "word-size", "seq-size", "n-modes", "prior-iterations", "hidden",
                          "layers", "batch-size", "iterations", "replay-buffer", "local-search", "threads",
                          "validation-interval", "validation-samples", "log-interval", "save-every"})
        expect_error({std::string("--") + f, "-2147483649"}, std::string("--") + f + ": must be in [");
}

BOOST_AUTO_TEST_CASE(sizes_have_upper_bounds) {
    expect_error({"--hidden", "65537"}, "--hidden: must be in [1, 65536]");
    expect_error({"--layers", "65"}, "--layers: must be in [1, 64]");
    expect_error({"--batch-size", "1048577"}, "--batch-size");
    expect_error({"--ndim", "1025"}, "--ndim");
    expect_error({"--height", "65537"}, "--height");
    expect_error({"--env", "ising", "--L", "65"}, "--L");
    expect_error({"--env", "bitsequence", "--seq-size", "4097"}, "--seq-size");
    expect_error({"--replay-buffer", "16777217"}, "--replay-buffer");
}

BOOST_AUTO_TEST_CASE(memory_estimate_names_the_flags) {
    // 2 networks of 64 layers of 65536² weights, 16 bytes each: 2·63·2^32·16 ≈ 8.7e12 bytes.
    Config big;
    big.hidden = 65536;
    big.layers = 64;
    BOOST_TEST(run_memory_estimate(big) >= 2.0 * 63 * 65536.0 * 65536.0 * 16);
    expect_error({"--hidden", "65536", "--layers", "64"}, "--hidden 65536, --layers 64");
    // HyperGrid 26-D of height 2: 2^26 states of 26 ints (>= 7 GiB); refused on a 4 GiB machine.
    Config grid;
    grid.ndim = 26;
    grid.height = 2;
    std::string parts;
    BOOST_TEST(run_memory_estimate(grid, &parts) >= double(1LL << 26) * 26 * 4);
    BOOST_TEST(parts.find("--height^--ndim = 67108864 states") != std::string::npos);
    expect_throw([&] { check_run_memory(grid, 4.0 * (1LL << 30)); }, "--height^--ndim");
    // The rollout: a million trajectories of 1024·7 + 1 steps.
    Config roll;
    roll.batch_size = 1 << 20;
    roll.ndim = 1024;
    expect_throw([&] { check_run_memory(roll, 1e12); }, "rollout of --batch-size 1048576");
    // The reference run is small.
    Config def;
    BOOST_TEST(run_memory_estimate(def) < 64.0 * (1 << 20));
    check_run_memory(def, 1.0 * (1LL << 30));
    BOOST_TEST(physical_memory_bytes() > 0.0);
}

// A checkpoint stores the flags as text (config_items) and a resumed run reads
// them back (set_flag): every double must come back exactly, not rounded to 6
// digits as "%g" did (--lr 0.00012345678 came back as 0.000123457).
BOOST_AUTO_TEST_CASE(double_flags_round_trip_exactly) {
    Config c = parse({"--lr", "0.00012345678", "--lr-logz", "0.1234567890123", "--beta", "1.0000001",
                      "--R0", "0.30000000000000004", "--log-reward-clip-min", "-123.456789012345"});
    Config back;
    for (const auto& kv : config_items(c)) set_flag(back, kv.first, kv.second);
    BOOST_TEST(back.lr == c.lr);
    BOOST_TEST(back.lr == 0.00012345678);
    BOOST_TEST(back.lr_logz == 0.1234567890123);
    BOOST_TEST(back.beta == 1.0000001);
    BOOST_TEST(back.R0 == 0.30000000000000004);
    BOOST_TEST(back.log_reward_clip_min == -123.456789012345);
    // Short values stay short in what a user reads.
    for (const auto& kv : config_items(parse({})))
        if (kv.first == "lr") BOOST_TEST(kv.second == "0.001");
}

BOOST_AUTO_TEST_CASE(sample_flags) {
    SampleFlags f = parse_sample_flags({"run.ckpt", "-n", "5", "--seed", "18446744073709551615", "--threads", "2"});
    BOOST_TEST(f.path == "run.ckpt");
    BOOST_TEST(f.n == 5);
    BOOST_TEST(f.seed == 18446744073709551615ull);
    BOOST_TEST(f.threads == 2);
    BOOST_TEST(parse_sample_flags({"--help"}).help);
    // strtoull saturated this to 2^64 − 1; strtol wrapped these.
    expect_throw([] { parse_sample_flags({"r", "--seed", "18446744073709551616"}); }, "--seed: must be in [0, ");
    expect_throw([] { parse_sample_flags({"r", "--seed", " -1"}); }, "--seed");
    expect_throw([] { parse_sample_flags({"r", "--threads", "4294967297"}); }, "--threads: must be in [0, 1024]");
    expect_throw([] { parse_sample_flags({"r", "-n", "0"}); }, "-n: must be in [1, ");
    expect_throw([] { parse_sample_flags({"r", "-n", "0x10"}); }, "-n");
    expect_throw([] { parse_sample_flags({"r", "-n"}); }, "-n needs a value");
    expect_throw([] { parse_sample_flags({"-n", "3"}); }, "give the checkpoint file");
    expect_throw([] { parse_sample_flags({"r", "--bogus"}); }, "unknown flag --bogus");
}

BOOST_AUTO_TEST_CASE(eval_flags) {
    EvalFlags f = parse_eval_flags({"run.ckpt", "--validation-samples", "1000", "--json"});
    BOOST_TEST(f.path == "run.ckpt");
    BOOST_TEST(f.validation_samples == 1000);
    BOOST_TEST(f.json);
    BOOST_TEST(parse_eval_flags({"r"}).validation_samples == 0);
    expect_throw([] { parse_eval_flags({"r", "--validation-samples", "4294967297"}); },
                 "--validation-samples: must be in [1, ");
    expect_throw([] { parse_eval_flags({"r", "--threads", "4294967297"}); }, "--threads: must be in [0, 1024]");
    expect_throw([] { parse_eval_flags({"r", "--validation-samples", " 5"}); }, "--validation-samples");
    expect_throw([] { parse_eval_flags({"r", "s"}); }, "unexpected argument 's'");
}

BOOST_AUTO_TEST_CASE(plot_flags) {
    PlotFlags f = parse_plot_flags({"m.csv"});
    BOOST_TEST(f.in == "m.csv");
    BOOST_TEST(f.out == "m.svg");
    BOOST_TEST(parse_plot_flags({"m.jsonl", "-o", "x.svg"}).out == "x.svg");
    expect_throw([] { parse_plot_flags({"m.csv", "-o", "a.svg", "-o", "b.svg"}); }, "-o: the output file is given twice");
    expect_throw([] { parse_plot_flags({"m.csv", "-o", "a.svg", "--out", "b.svg"}); }, "--out");
    expect_throw([] { parse_plot_flags({"m.svg"}); }, "overwrite");
    expect_throw([] { parse_plot_flags({"-o", "a.svg"}); }, "give the metrics file");
}

BOOST_AUTO_TEST_SUITE_END()
