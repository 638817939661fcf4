// fuzz_checkpoint.h — what the two checkpoint harnesses share: writing the
// fuzzer's bytes to a file in a tmpfs directory, and restoring a run from it
// the way `gfn sample` and `gfn eval` do (checkpoint_config, a Run built from
// that configuration, load_checkpoint).
//
// Thrown std::exceptions are the loader refusing a bad file: an expected
// outcome. Crashes, sanitizer reports, leaks, timeouts and running out of
// memory are findings.
//
// A checkpoint's configuration may ask for any run the flags allow, up to
// 2^26 enumerated states and networks of any width; building such a run is
// slow by design, not a parser bug. restore_run therefore skips
// configurations beyond a small budget (small_run) so that the fuzzer spends
// its time in the parser.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "gfn/runtime/checkpoint.h"
#include "gfn/runtime/config.h"
#include "gfn/runtime/training.h"

namespace gfn_fuzz {

// A per-process file in /dev/shm (tmpfs) when there is one, else in $TMPDIR
// or /tmp; removed at exit.
inline const std::string& scratch_path() {
    static const std::string path = [] {
        std::string dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm"
                          : std::getenv("TMPDIR")      ? std::getenv("TMPDIR")
                                                        : "/tmp";
        return dir + "/gfn_fuzz_" + std::to_string(getpid()) + ".ckpt";
    }();
    // Registered after path is built, so it runs before path is destroyed.
    static const bool removed_at_exit = std::atexit([] { std::remove(scratch_path().c_str()); }) == 0;
    (void)removed_at_exit;
    return path;
}

inline void write_bytes(const std::string& path, const uint8_t* data, size_t size) {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) std::abort();
    if (size && std::fwrite(data, 1, size, f) != size) std::abort();
    if (std::fclose(f) != 0) std::abort();
}

// At most 4096 enumerated states, narrow networks, short condition lists.
inline bool small_run(const gfn::Config& c) {
    if (c.hidden > 64 || c.layers > 4 || c.batch_size > 1024 || c.replay_buffer > 4096) return false;
    if (c.validation_conditions.size() > 64) return false;
    if (c.hypergrid()) {
        long long states = 1;
        for (int d = 0; d < c.ndim; ++d)
            if ((states *= c.height) > 4096) return false;
        return c.ndim <= 12;
    }
    if (c.env == "ising") return c.L <= 3;
    if (c.ebm()) return c.ndim <= 6;
    return c.seq_size <= 12 && c.word_size <= 4;  // the BitSequences
}

// checkpoint_config, Run, load_checkpoint — as apps/gfn.cpp's restore().
inline void restore_run(const std::string& path) {
    try {
        gfn::Config cfg = gfn::checkpoint_config(path);
        cfg.threads = 1;
        if (!small_run(cfg)) return;
        gfn::Run run(cfg, /*train_prior=*/false);
        gfn::load_checkpoint(run, path);
    } catch (const std::exception&) {
    }
}

}  // namespace gfn_fuzz
