// main.cpp — gfn_bench: the benchmark program's subcommand dispatcher.
//
//   gfn_bench                       every benchmark, in table order
//   gfn_bench [options]             every benchmark, each given the options
//   gfn_bench <name> [options]      one benchmark
//
// A benchmark is one row of kBenchmarks: a name, a one-line summary and a
// function taking (argc, argv) with argv[0] = its name, returning an exit code.
#include <malloc.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench/box.h"
#include "bench/densities.h"
#include "bench/diffusion.h"
#include "bench/mlp.h"
#include "engine/blas.h"
#include "bench/reference.h"
#include "bench/shared.h"
#include "bench/train.h"

namespace {

struct Benchmark {
    const char* name;
    const char* summary;
    int (*run)(int argc, char** argv);
};

const Benchmark kBenchmarks[] = {
    {"mlp", "MLP forward+backward (16-256-256-3, relu) vs bare GEMM  [--threads N] [--reps R] [--json]",
     gfn_bench::run_mlp},
    {"train", "training steps of the reference scenarios, phase by phase  [--quick] [--scenario S] [--batch B] ...",
     gfn_bench::run_train},
    {"reference", "HyperGrid 2D H=8 TB beside the eager-PyTorch baseline, same run  [--reps R] [--quick]",
     gfn_bench::run_reference},
    {"diffusion", "diffusion sampler (gmm25, TB, bridge PB) phase by phase, beside eager PyTorch  [--threads T] [--reps R] [--quick]",
     gfn_bench::run_diffusion},
    {"box", "Box polar and Cartesian (TB, learned PB) phase by phase, beside eager PyTorch  [--env E] [--batch B] [--quick]",
     gfn_bench::run_box},
    {"shared", "training speed beside a busy process and beside a second run  [--batch B] [--reps R]",
     gfn_bench::run_shared},
    {"densities", "fused log-density ops (Gaussian, Beta) vs their compositions, fwd+bwd  [--reps R]",
     gfn_bench::run_densities},
};

void usage(FILE* f) {
    std::fprintf(f, "usage: gfn_bench [<benchmark>] [options]\n\nbenchmarks (none given: all of them):\n");
    for (const Benchmark& b : kBenchmarks) std::fprintf(f, "  %-10s %s\n", b.name, b.summary);
}

}  // namespace

int main(int argc, char** argv) {
    // Buffers of 1 MiB and more are mapped and unmapped on their own, so memory
    // a run frees goes back to the system (glibc would otherwise raise this
    // threshold after the first large free and keep such buffers in its heap).
    gfn::adopt_thread_wait_policy(argv);  // before any OpenMP or OpenBLAS call
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    if (argc > 1 && (std::strcmp(argv[1], "-h") == 0 || std::strcmp(argv[1], "--help") == 0 ||
                     std::strcmp(argv[1], "help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc > 1 && argv[1][0] != '-') {
        for (const Benchmark& b : kBenchmarks)
            if (std::strcmp(argv[1], b.name) == 0) return b.run(argc - 1, argv + 1);
        std::fprintf(stderr, "gfn_bench: unknown benchmark '%s'\n\n", argv[1]);
        usage(stderr);
        return 2;
    }
    // No subcommand: run them all, each with the same options.
    int rc = 0;
    for (const Benchmark& b : kBenchmarks) {
        std::vector<char*> args;
        args.push_back(const_cast<char*>(b.name));
        for (int i = 1; i < argc; ++i) args.push_back(argv[i]);
        int r = b.run(int(args.size()), args.data());
        if (r != 0) rc = r;
    }
    return rc;
}
