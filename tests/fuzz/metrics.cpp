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

std::string scratch_stem() {
    std::string dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
    return dir + "/gfn_fuzz_" + std::to_string(getpid());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    static const std::string stem = scratch_stem();
    const std::string path = stem + (data[0] % 2 == 0 ? ".csv" : ".jsonl");
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
