// reference.cpp — the `reference` benchmark: HyperGrid 2D H=8 TB with a tied
// PB, gfn.cpp and the eager-PyTorch baseline side by side, same iterations
// (batch 16: 1,000; 128: 250; 2048: 40; 20 warm-up iterations each), same
// network (K-hot input, MLP 256 × 2, Adam lr 1e-3, log Z lr 0.1), same thread
// count, alternating runs, medians over --reps. Our step runs the network once
// per distinct state of a rollout (the default); the "every state" columns run
// it on every visited state, as the baseline does (--no-state-dedup).
//
// The baseline is ../shared/reference/torch_hypergrid_tb.py beside the
// repository (or --script PATH), run with Debian's python3-torch (`make bench`
// installs it). Without it, the table says so and shows our column only.
#include "bench/reference.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/child.h"
#include "engine/blas.h"

namespace gfn_bench {

namespace {

struct Row {
    int batch, threads, iters;
    double target;  // the speed-up the performance issue asks for
};

std::string default_script() {
    // build/gfn_bench → the repository → ../shared/reference/
    std::string p = self_path();
    for (int up = 0; up < 2; ++up) p = p.substr(0, p.find_last_of('/'));
    return p + "/../shared/reference/torch_hypergrid_tb.py";
}

}  // namespace

int run_reference(int argc, char** argv) {
    std::string script = default_script(), python = "/usr/bin/python3";
    int reps = 3;
    bool quick = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "gfn_bench reference: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--script") script = value();
        else if (a == "--python") python = value();
        else if (a == "--reps") reps = std::atoi(value().c_str());
        else if (a == "--quick") quick = true;
        else if (a == "--json") {}
        else if (a == "-h" || a == "--help") {
            std::printf("usage: gfn_bench reference [--script PATH] [--python PATH] [--reps R (3)] [--quick]\n");
            return 0;
        } else {
            std::fprintf(stderr, "gfn_bench reference: unknown option '%s'\n", a.c_str());
            return 2;
        }
    }
    if (reps < 1) {
        std::fprintf(stderr, "gfn_bench reference: --reps must be >= 1\n");
        return 2;
    }
    const bool have_torch = access(script.c_str(), R_OK) == 0 &&
                            std::system((python + " -c 'import torch' >/dev/null 2>&1").c_str()) == 0;
    std::vector<Row> rows = {{16, 1, 1000, 6.0}, {128, 1, 250, 0}, {128, 2, 250, 4.0}, {2048, 1, 40, 0},
                             {2048, 2, 40, 1.5}};
    if (quick) rows = {{16, 1, 1000, 6.0}, {128, 2, 250, 4.0}};
    std::printf("\n### Beside eager PyTorch: HyperGrid 2D H=8 TB, tied PB, MLP 256 x 2\n\n");
    if (!have_torch)
        std::printf("(PyTorch reference not available: %s with %s; `apt-get install python3-torch`)\n\n",
                    script.c_str(), python.c_str());
    std::printf("| batch | threads | gfn.cpp ms/iter | PyTorch ms/iter | speed-up | asked | gfn.cpp every state "
                "| speed-up every state |\n"
                "|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    std::fflush(stdout);
    int rc = 0;
    for (const Row& r : rows) {
        std::vector<double> ours, every, theirs;
        for (int k = 0; k < reps; ++k) {
            for (const bool every_state : {false, true}) {
                const std::string scenario = every_state ? "hypergrid_2d_h8_every_state" : "hypergrid_2d_h8";
                const std::string mine = self_path() + " train --one --scenario " + scenario + " --batch " +
                                         std::to_string(r.batch) + " --threads " + std::to_string(r.threads) +
                                         " --reps 1 --iters " + std::to_string(r.iters);
                (every_state ? every : ours).push_back(json_number(run_json(mine), "ms_per_iter"));
            }
            if (have_torch) {
                // PyTorch runs with its own default thread policy, not the one we chose for ourselves.
                const std::string env = std::getenv(gfn::kWaitPolicyMarker) ? "env -u OMP_WAIT_POLICY " : "";
                const std::string ref = env + python + " " + script + " --ndim 2 --height 8 --batch " +
                                        std::to_string(r.batch) + " --iters " + std::to_string(r.iters) +
                                        " --threads " + std::to_string(r.threads) + " --seed " + std::to_string(k);
                theirs.push_back(json_number(run_json(ref), "ms_per_iter"));
            }
        }
        const double a = median(ours), e = median(every), b = have_torch ? median(theirs) : std::nan("");
        if (!(a > 0) || !(e > 0)) rc = 1;
        char asked[32] = "";
        if (r.target > 0) std::snprintf(asked, sizeof asked, ">= %.1fx", r.target);
        std::printf("| %d | %d | %.3f | %.3f | %.2fx | %s | %.3f | %.2fx |\n", r.batch, r.threads, a, b, b / a, asked,
                    e, b / e);
        std::fflush(stdout);
    }
    return rc;
}

}  // namespace gfn_bench
