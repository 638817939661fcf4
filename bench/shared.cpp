// shared.cpp — the `shared` benchmark: how much of its idle speed does a
// training run keep on a shared machine?
//
// HyperGrid 2D H=8, TB, tied PB, at the default thread count (all cores), for
// batch 16, 128 and 2048, three ways, each in fresh child processes:
//   idle        the run alone;
//   competitor  beside one CPU-bound process this benchmark starts and stops
//               (a spinning arithmetic loop: a compile, another user's job);
//   pair        two identical runs started together.
// Kept = idle ms/iter ÷ shared ms/iter (1 = no loss; with 2 cores and one
// competitor, fair sharing of a 2-thread run gives about 2/3 on paper, a
// 1-thread run 1). Iteration counts as in `train`; medians over --reps.
#include "bench/shared.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/child.h"
#include "engine/blas.h"

namespace gfn_bench {

int run_shared(int argc, char** argv) {
    std::vector<int> batches;
    int reps = 3, threads = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> int {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "gfn_bench shared: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return std::atoi(argv[++i]);
        };
        if (a == "--batch") batches.push_back(value());
        else if (a == "--reps") reps = value();
        else if (a == "--threads") threads = value();
        else if (a == "--quick") batches = {16, 128};
        else if (a == "--json") {}
        else if (a == "-h" || a == "--help") {
            std::printf("usage: gfn_bench shared [--batch B]... [--reps R (3)] [--threads T (0: default)] [--quick]\n");
            return 0;
        } else {
            std::fprintf(stderr, "gfn_bench shared: unknown option '%s'\n", a.c_str());
            return 2;
        }
    }
    if (batches.empty()) batches = {16, 128, 2048};
    if (reps < 1 || threads < 0) {
        std::fprintf(stderr, "gfn_bench shared: --reps must be >= 1 and --threads >= 0\n");
        return 2;
    }
    gfn::set_num_threads(threads);
    std::printf("\n### Shared machine: HyperGrid 2D H=8 TB (tied PB), %d threads (the default: all cores)\n\n"
                "| batch | idle ms/iter | + 1 busy process | kept | 2 runs side by side (each) | kept |\n"
                "|---:|---:|---:|---:|---:|---:|\n",
                gfn::num_threads());
    std::fflush(stdout);
    int rc = 0;
    for (int b : batches) {
        const std::string cmd = self_path() + " train --one --scenario hypergrid_2d_h8 --batch " + std::to_string(b) +
                                " --threads " + std::to_string(threads) + " --reps " + std::to_string(reps);
        const double idle = json_number(run_json(cmd), "ms_per_iter");
        const pid_t busy = start_competitor();
        const double beside = json_number(run_json(cmd), "ms_per_iter");
        stop_competitor(busy);
        std::vector<std::string> two = run_json_together({cmd, cmd});
        const double pair = std::max(json_number(two[0], "ms_per_iter"), json_number(two[1], "ms_per_iter"));
        if (!(idle > 0 && beside > 0 && pair > 0)) rc = 1;
        std::printf("| %d | %.3f | %.3f | %.2f | %.3f | %.2f |\n", b, idle, beside, idle / beside, pair, idle / pair);
        std::fflush(stdout);
    }
    return rc;
}

}  // namespace gfn_bench
