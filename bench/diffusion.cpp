// diffusion.cpp — the `diffusion` benchmark: the diffusion sampler's training
// step, plain TB on gmm25 as the PyTorch setting has it (batch 200, N = 32
// steps, PIS network with hidden 64, TB with the Brownian-bridge PB, σ = 5, Adam
// lr 1e-3, log Z lr 0.1, fixed variance, no Langevin parametrization — gmm25's
// `gfn train` defaults add those two, see --no-lp / --no-learn-variance below —
// log-probs kept from the rollout),
// beside the same setting in eager PyTorch (bench/torch_diffusion_tb.py), at
// 1 and 2 threads.
//
// Each measurement is a child process of its own (its peak resident memory is
// its own): a fresh run from initialisation, 20 warm-up iterations, then
// --iters timed ones (100). gfn.cpp and PyTorch alternate, --reps times (3);
// medians reported. PyTorch runs with its own default thread wait policy.
//
// Flops: the network runs on batch·N rows per iteration (the exit at t = 1 is
// forced and evaluates nothing), 2 flops per multiply-add forward and 4
// backward:
//     flops/iter = 6 · batch · N · macs_per_row,   macs_per_row = 2·64 + 64·64·2 + 64·2
// (the time embedding, once per step on one row, is not counted, as in
// PISNet::macs_per_row). "of GEMM" = GFLOP/s ÷ gemm_gflops(batch·N, 64) — the
// three products of one 64 × 64 layer at M = batch·N rows (what the backward
// pass of one joint layer runs), measured in our child at the same thread count.
#include "bench/diffusion.h"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/child.h"
#include "bench/train.h"
#include "engine/blas.h"
#include "gfn/runtime/training.h"

namespace gfn_bench {

namespace {

using Clock = std::chrono::steady_clock;

const int kWarmup = 20;

std::string default_script() {
    // build/gfn_bench → the repository → bench/
    std::string p = self_path();
    for (int up = 0; up < 2; ++up) p = p.substr(0, p.find_last_of('/'));
    return p + "/bench/torch_diffusion_tb.py";
}

// One gfn.cpp run in this process: prints one JSON line.
int run_one(int threads, int iters, int seed) {
    gfn::set_num_threads(threads);
    gfn::Config cfg;
    gfn::parse_train_flags({"--env", "diffusion", "--target", "gmm25", "--no-lp", "--no-learn-variance", "--threads",
                            std::to_string(threads), "--seed", std::to_string(seed)},
                           cfg);
    cfg.iterations = kWarmup + iters;
    gfn::Run run(cfg);
    for (int i = 0; i < kWarmup; ++i) gfn::train_step(run);
    gfn::PhaseTimes sum;
    auto t0 = Clock::now();
    for (int i = 0; i < iters; ++i) {
        const gfn::PhaseTimes t = gfn::train_step(run).times;
        sum.sample += t.sample;
        sum.loss += t.loss;
        sum.backward += t.backward;
        sum.optimize += t.optimize;
    }
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);  // before the GEMM reference's buffers
    const int rows = cfg.batch_size * cfg.diffusion_steps;
    // flops/iter = 6 · batch · N · macs_per_row
    const double flops = 6.0 * double(rows) * double(run.macs_per_state());
    std::printf("{\"impl\": \"gfn.cpp\", \"target\": \"%s\", \"batch\": %d, \"steps\": %d, \"hidden\": %d, "
                "\"threads\": %d, \"iters\": %d, \"ms_per_iter\": %.4f, \"ms_sample\": %.4f, \"ms_loss\": %.4f, "
                "\"ms_backward\": %.4f, \"ms_optim\": %.4f, \"flops_per_iter\": %.0f, \"gemm_gflops\": %.2f, "
                "\"peak_mb\": %.1f}\n",
                cfg.target.c_str(), cfg.batch_size, cfg.diffusion_steps, cfg.hidden, gfn::num_threads(), iters,
                1e3 * dt / iters, 1e3 * sum.sample / iters, 1e3 * sum.loss / iters, 1e3 * sum.backward / iters,
                1e3 * sum.optimize / iters, flops, gemm_gflops(rows, cfg.hidden), double(ru.ru_maxrss) / 1024.0);
    return 0;
}

void usage(FILE* f) {
    std::fprintf(f,
                 "usage: gfn_bench diffusion [--threads T]... [--reps R (3)] [--iters N (100)] [--quick]\n"
                 "                           [--script PATH] [--python PATH]\n"
                 "       gfn_bench diffusion --one --threads T [--iters N] [--seed S]\n"
                 "gmm25, batch 200, N = 32, hidden 64, TB with the Brownian-bridge PB, beside eager PyTorch\n"
                 "(PATH default: bench/torch_diffusion_tb.py). Threads default 1 and 2; --quick: 30 iterations, 1 rep.\n");
}

// Medians over the repetitions of one implementation's JSON lines.
struct Summary {
    double ms = NAN, sample = NAN, loss = NAN, backward = NAN, optim = NAN, peak_mb = NAN, gemm = NAN, flops = NAN;
};

Summary summarize(const std::vector<std::string>& lines) {
    auto med = [&](const char* key) { return median_field(lines, key); };
    Summary s;
    s.ms = med("ms_per_iter");
    s.sample = med("ms_sample");
    s.loss = med("ms_loss");
    s.backward = med("ms_backward");
    s.optim = med("ms_optim");
    s.peak_mb = med("peak_mb");
    s.gemm = med("gemm_gflops");
    s.flops = med("flops_per_iter");
    return s;
}

}  // namespace

int run_diffusion(int argc, char** argv) {
    std::string script = default_script(), python = "/usr/bin/python3";
    std::vector<int> thread_counts;
    int reps = 3, iters = 100, seed = 0;
    bool one = false, quick = false, reps_given = false, iters_given = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "gfn_bench diffusion: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--threads") thread_counts.push_back(std::atoi(value().c_str()));
        else if (a == "--reps") { reps = std::atoi(value().c_str()); reps_given = true; }
        else if (a == "--iters") { iters = std::atoi(value().c_str()); iters_given = true; }
        else if (a == "--seed") seed = std::atoi(value().c_str());
        else if (a == "--script") script = value();
        else if (a == "--python") python = value();
        else if (a == "--one") one = true;
        else if (a == "--quick") quick = true;
        else if (a == "--json") {}
        else if (a == "-h" || a == "--help") { usage(stdout); return 0; }
        else {
            std::fprintf(stderr, "gfn_bench diffusion: unknown option '%s'\n", a.c_str());
            usage(stderr);
            return 2;
        }
    }
    if (quick && !reps_given) reps = 1;
    if (quick && !iters_given) iters = 30;
    if (reps < 1 || iters < 1) {
        std::fprintf(stderr, "gfn_bench diffusion: --reps and --iters must be >= 1\n");
        return 2;
    }
    for (int t : thread_counts)
        if (t < 0) {
            std::fprintf(stderr, "gfn_bench diffusion: --threads must be >= 0 (0: the default, all cores)\n");
            return 2;
        }
    if (one) {
        if (thread_counts.size() != 1) {
            std::fprintf(stderr, "gfn_bench diffusion --one: give exactly one --threads\n");
            return 2;
        }
        return run_one(thread_counts[0], iters, seed);
    }
    if (thread_counts.empty()) thread_counts = {1, 2};

    const bool have_torch = access(script.c_str(), R_OK) == 0 &&
                            std::system((python + " -c 'import torch' >/dev/null 2>&1").c_str()) == 0;
    std::printf("\n### Diffusion sampler: gmm25, batch 200, N = 32, PIS network hidden 64, TB with the Brownian-bridge PB, "
                "beside eager PyTorch\n\n"
                "BLAS: %s. %d iterations after %d warm-up per run, medians over %d run(s) each; \"of GEMM\": GFLOP/s over one 64 x 64 "
                "layer's three products at M = 200 x 32 (gfn::gemm, same threads).\n\n",
                gfn::blas_info().c_str(), iters, kWarmup, reps);
    if (!have_torch)
        std::printf("(PyTorch reference not available: %s with %s; `apt-get install python3-torch`)\n\n",
                    script.c_str(), python.c_str());
    std::printf("| impl | threads | ms/iter | sample | loss | backward | optimizer | GFLOP/s | GEMM GFLOP/s | of GEMM "
                "| peak MB | PyTorch / gfn.cpp |\n"
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    std::fflush(stdout);
    int rc = 0;
    for (int t : thread_counts) {
        std::vector<std::string> ours, theirs;
        for (int k = 0; k < reps; ++k) {
            const std::string mine = self_path() + " diffusion --one --threads " + std::to_string(t) + " --iters " +
                                     std::to_string(iters) + " --seed " + std::to_string(k);
            const std::string line = run_json(mine);
            if (!line.empty()) ours.push_back(line);
            if (have_torch) {
                const std::string env = std::getenv(gfn::kWaitPolicyMarker) ? "env -u OMP_WAIT_POLICY " : "";
                const std::string ref = env + python + " " + script + " --iters " + std::to_string(iters) +
                                        " --warmup " + std::to_string(kWarmup) + " --threads " + std::to_string(t) +
                                        " --seed " + std::to_string(k);
                const std::string tl = run_json(ref);
                if (!tl.empty()) theirs.push_back(tl);
            }
        }
        const Summary a = summarize(ours), b = summarize(theirs);
        if (!(a.ms > 0)) rc = 1;
        // The same work on both sides: flops/iter and the GEMM rate from our runs.
        const double gf_a = a.flops / a.ms * 1e-6, gf_b = a.flops / b.ms * 1e-6;
        std::printf("| gfn.cpp | %d | %.3f | %.3f | %.3f | %.3f | %.3f | %.1f | %.1f | %.2f | %.0f | |\n", t, a.ms,
                    a.sample, a.loss, a.backward, a.optim, gf_a, a.gemm, gf_a / a.gemm, a.peak_mb);
        if (have_torch)
            std::printf("| PyTorch | %d | %.3f | %.3f | %.3f | %.3f | %.3f | %.1f | %.1f | %.2f | %.0f | %.2fx |\n", t,
                        b.ms, b.sample, b.loss, b.backward, b.optim, gf_b, a.gemm, gf_b / a.gemm, b.peak_mb,
                        b.ms / a.ms);
        std::fflush(stdout);
    }
    return rc;
}

}  // namespace gfn_bench
