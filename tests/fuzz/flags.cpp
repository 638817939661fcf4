// flags.cpp — libFuzzer harness: the flag parsers of every command. The input
// is split on NUL and newline bytes into arguments; a first argument "sample",
// "eval" or "plot" sends the rest to that command's parser, anything else goes
// to parse_train_flags, whose result validate_config checks again. A configuration that parses must also
// survive the trip a checkpoint makes: config_items written out and read back
// with set_flag gives the same items (an exception or a difference there is
// a finding: that checkpoint could not be resumed as written).
// Thrown std::exceptions are the parser refusing bad flags: an expected
// outcome. Crashes, sanitizer reports, leaks and timeouts are findings.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "gfn/runtime/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::vector<std::string> args(1);
    for (size_t i = 0; i < size; ++i) {
        if (data[i] == '\0' || data[i] == '\n') args.emplace_back();
        else args.back() += char(data[i]);
    }
    if (size == 0) args.clear();
    if (!args.empty() && (args[0] == "sample" || args[0] == "eval" || args[0] == "plot")) {
        const std::vector<std::string> rest(args.begin() + 1, args.end());
        try {
            if (args[0] == "sample") gfn::parse_sample_flags(rest);
            else if (args[0] == "eval") gfn::parse_eval_flags(rest);
            else gfn::parse_plot_flags(rest);
        } catch (const std::exception&) {
        }
        return 0;
    }
    gfn::Config cfg;
    try {
        gfn::parse_train_flags(args, cfg);
        gfn::validate_config(cfg);
    } catch (const std::exception&) {
        return 0;
    }
    const auto items = gfn::config_items(cfg);
    gfn::Config back;
    for (const auto& kv : items) gfn::set_flag(back, kv.first, kv.second);
    if (gfn::config_items(back) != items) std::abort();
    return 0;
}
