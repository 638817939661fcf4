// metrics.cpp — libFuzzer harness: the metrics readers and the training-curve
// plot, as `gfn plot FILE` runs them. The first byte picks the format (even:
// CSV, odd: JSONL); the rest is written to FILE.csv or FILE.jsonl in a tmpfs
// directory, read back with read_metrics and drawn with training_curves_svg.
// Thrown std::exceptions are the reader refusing a malformed file: an
// expected outcome. Crashes, sanitizer reports, leaks and timeouts are findings.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "gfn/runtime/metrics_log.h"
#include "gfn/runtime/plot.h"

namespace {

// A per-process name in /dev/shm (tmpfs) when there is one, else in $TMPDIR
// or /tmp; its .csv and .jsonl files are removed at exit.
const std::string& scratch_stem() {
    static const std::string stem = [] {
        std::string dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
        return dir + "/gfn_fuzz_" + std::to_string(getpid());
    }();
    // Registered after stem is built, so it runs before stem is destroyed.
    static const bool removed_at_exit = std::atexit([] {
        std::remove((scratch_stem() + ".csv").c_str());
        std::remove((scratch_stem() + ".jsonl").c_str());
    }) == 0;
    (void)removed_at_exit;
    return stem;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const std::string path = scratch_stem() + (data[0] % 2 == 0 ? ".csv" : ".jsonl");
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) std::abort();
    if (size > 1 && std::fwrite(data + 1, 1, size - 1, f) != size - 1) std::abort();
    if (std::fclose(f) != 0) std::abort();
    try {
        std::string svg = gfn::training_curves_svg(gfn::read_metrics(path));
        if (svg.compare(0, 4, "<svg") != 0 && svg.compare(0, 5, "<?xml") != 0) std::abort();
    } catch (const std::exception&) {
    }
    return 0;
}
