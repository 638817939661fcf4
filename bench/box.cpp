// box.cpp — the `box` benchmark: the training step `gfn train --env box` and
// `--env box_cartesian` run by default (MLP 128 × 4, elu, δ = 0.25, learned PB,
// TB, Adam lr 1e-3, log PF kept from the rollout; polar: 2 Beta components a move
// and 4 for the first move, concentrations in [0.1, 5.1], log Z lr 1e-3;
// Cartesian: 8 components a dimension, concentrations in [0.1, 20], log Z lr 1e-2),
// at batches 128 and 1024, beside the same setting in eager PyTorch
// (bench/torch_box_tb.py), at 1 and 2 threads.
//
// Each measurement is a child process of its own (its peak resident memory is
// its own): a fresh run from initialisation, 20 warm-up iterations, then
// --iters timed ones (100). gfn.cpp and PyTorch alternate, --reps times (3);
// medians reported. PyTorch runs with its own default thread wait policy.
//
// Flops as the HyperGrid rows count them (bench/train.cpp, `gfn train`'s
// report): every forward step of the batch (the exit included) counts one row
// through PF's and PB's networks, 2 flops per multiply-add forward, 4 backward:
//     flops/iter = 6 · states · macs_per_state,   macs_per_state = 2 · macs_per_row(MLP 2 → 128⁴ → out)
// (out = 1 + 3K for the polar PF, 3K for its PB, 1 + 6K for the Cartesian ones).
// Forced steps and the polar first move use no network, so this overstates the
// work a little, alike on both sides: PyTorch's rate is its own states per
// trajectory (the policies differ at initialisation) times the same count.
// "of GEMM" = GFLOP/s ÷ gemm_gflops(batch, 128), one 128 × 128 layer's three
// products at M = batch (a rollout step's size), measured in our child.
#include "bench/box.h"

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
    return p + "/bench/torch_box_tb.py";
}

// One gfn.cpp run in this process: prints one JSON line.
int run_one(const std::string& env, int batch, int threads, int iters, int seed) {
    gfn::set_num_threads(threads);
    gfn::Config cfg;
    gfn::parse_train_flags({"--env", env, "--batch-size", std::to_string(batch), "--threads",
                            std::to_string(threads), "--seed", std::to_string(seed)},
                           cfg);
    cfg.iterations = kWarmup + iters;
    gfn::Run run(cfg);
    for (int i = 0; i < kWarmup; ++i) gfn::train_step(run);
    gfn::PhaseTimes sum;
    long long states = 0;
    double last_loss = NAN;
    auto t0 = Clock::now();
    for (int i = 0; i < iters; ++i) {
        const gfn::StepStats st = gfn::train_step(run);
        sum.sample += st.times.sample;
        sum.loss += st.times.loss;
        sum.backward += st.times.backward;
        sum.optimize += st.times.optimize;
        states += st.n_states;
        last_loss = st.loss;
    }
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);  // before the GEMM reference's buffers
    // flops/iter = 6 · states · macs_per_state
    const double flops = 6.0 * double(states) / iters * double(run.macs_per_state());
    std::printf("{\"impl\": \"gfn.cpp\", \"env\": \"%s\", \"batch\": %d, \"hidden\": %d, \"layers\": %d, "
                "\"threads\": %d, \"iters\": %d, \"ms_per_iter\": %.4f, \"ms_sample\": %.4f, \"ms_loss\": %.4f, "
                "\"ms_backward\": %.4f, \"ms_optim\": %.4f, \"states_per_traj\": %.4f, \"macs_per_state\": %lld, "
                "\"flops_per_iter\": %.0f, \"gemm_gflops\": %.2f, \"peak_mb\": %.1f, \"loss\": %.6g}\n",
                env.c_str(), cfg.batch_size, cfg.hidden, cfg.layers, gfn::num_threads(), iters, 1e3 * dt / iters,
                1e3 * sum.sample / iters, 1e3 * sum.loss / iters, 1e3 * sum.backward / iters,
                1e3 * sum.optimize / iters, double(states) / (double(batch) * iters), run.macs_per_state(), flops,
                gemm_gflops(batch, cfg.hidden), double(ru.ru_maxrss) / 1024.0, last_loss);
    return 0;
}

void usage(FILE* f) {
    std::fprintf(f,
                 "usage: gfn_bench box [--env box|box_cartesian]... [--batch B]... [--threads T]...\n"
                 "                     [--reps R (3)] [--iters N (100)] [--quick] [--script PATH] [--python PATH]\n"
                 "       gfn_bench box --one --env E --batch B --threads T [--iters N] [--seed S]\n"
                 "The training step of `gfn train --env box` / `--env box_cartesian` (MLP 128 x 4 elu, TB, learned PB,\n"
                 "delta 0.25), beside eager PyTorch (PATH default: bench/torch_box_tb.py). Defaults: both envs,\n"
                 "batches 128 and 1024, threads 1 and 2; --quick: 30 iterations, 1 rep.\n");
}

// Medians over the repetitions of one implementation's JSON lines.
struct Summary {
    double ms = NAN, sample = NAN, loss = NAN, backward = NAN, optim = NAN, peak_mb = NAN, gemm = NAN,
           states = NAN, macs = NAN;
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
    s.states = med("states_per_traj");
    s.macs = med("macs_per_state");
    return s;
}

bool known_env(const std::string& e) { return e == "box" || e == "box_cartesian"; }

}  // namespace

int run_box(int argc, char** argv) {
    std::string script = default_script(), python = "/usr/bin/python3";
    std::vector<std::string> envs;
    std::vector<int> batches, thread_counts;
    int reps = 3, iters = 100, seed = 0;
    bool one = false, quick = false, reps_given = false, iters_given = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "gfn_bench box: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--env") envs.push_back(value());
        else if (a == "--batch") batches.push_back(std::atoi(value().c_str()));
        else if (a == "--threads") thread_counts.push_back(std::atoi(value().c_str()));
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
            std::fprintf(stderr, "gfn_bench box: unknown option '%s'\n", a.c_str());
            usage(stderr);
            return 2;
        }
    }
    if (quick && !reps_given) reps = 1;
    if (quick && !iters_given) iters = 30;
    if (reps < 1 || iters < 1) {
        std::fprintf(stderr, "gfn_bench box: --reps and --iters must be >= 1\n");
        return 2;
    }
    for (const std::string& e : envs)
        if (!known_env(e)) {
            std::fprintf(stderr, "gfn_bench box: --env must be box or box_cartesian (got '%s')\n", e.c_str());
            return 2;
        }
    for (int b : batches)
        if (b < 1) {
            std::fprintf(stderr, "gfn_bench box: --batch must be >= 1\n");
            return 2;
        }
    for (int t : thread_counts)
        if (t < 0) {
            std::fprintf(stderr, "gfn_bench box: --threads must be >= 0 (0: the default, all cores)\n");
            return 2;
        }
    if (one) {
        if (envs.size() != 1 || batches.size() != 1 || thread_counts.size() != 1) {
            std::fprintf(stderr, "gfn_bench box --one: give exactly one --env, --batch and --threads\n");
            return 2;
        }
        return run_one(envs[0], batches[0], thread_counts[0], iters, seed);
    }
    if (envs.empty()) envs = {"box", "box_cartesian"};
    if (batches.empty()) batches = {128, 1024};
    if (thread_counts.empty()) thread_counts = {1, 2};

    const bool have_torch = access(script.c_str(), R_OK) == 0 &&
                            std::system((python + " -c 'import torch' >/dev/null 2>&1").c_str()) == 0;
    std::printf("\n### Box: polar (box) and Cartesian (box_cartesian), MLP 128 x 4 elu, TB with the learned PB, "
                "delta 0.25, beside eager PyTorch\n\n"
                "BLAS: %s. %d iterations after %d warm-up per run, medians over %d run(s) each; flops: 6 x states x "
                "(PF + PB multiply-adds per row); \"of GEMM\": GFLOP/s over one 128 x 128 layer's three products at "
                "M = batch (gfn::gemm, same threads).\n\n",
                gfn::blas_info().c_str(), iters, kWarmup, reps);
    if (!have_torch)
        std::printf("(PyTorch reference not available: %s with %s; `apt-get install python3-torch`)\n\n",
                    script.c_str(), python.c_str());
    std::printf("| env | impl | batch | threads | ms/iter | sample | loss | backward | optimizer | GFLOP/s | of GEMM "
                "| traj/s | states/traj | peak MB | PyTorch / gfn.cpp |\n"
                "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    std::fflush(stdout);
    int rc = 0;
    for (const std::string& e : envs)
        for (int b : batches)
            for (int t : thread_counts) {
                std::vector<std::string> ours, theirs;
                for (int k = 0; k < reps; ++k) {
                    const std::string mine = self_path() + " box --one --env " + e + " --batch " + std::to_string(b) +
                                             " --threads " + std::to_string(t) + " --iters " + std::to_string(iters) +
                                             " --seed " + std::to_string(k);
                    const std::string line = run_json(mine);
                    if (!line.empty()) ours.push_back(line);
                    if (have_torch) {
                        const std::string env = std::getenv(gfn::kWaitPolicyMarker) ? "env -u OMP_WAIT_POLICY " : "";
                        const std::string ref = env + python + " " + script + " --env " + e + " --batch " +
                                                std::to_string(b) + " --iters " + std::to_string(iters) +
                                                " --warmup " + std::to_string(kWarmup) + " --threads " +
                                                std::to_string(t) + " --seed " + std::to_string(k);
                        const std::string tl = run_json(ref);
                        if (!tl.empty()) theirs.push_back(tl);
                    }
                }
                const Summary a = summarize(ours), p = summarize(theirs);
                if (!(a.ms > 0)) {
                    std::printf("| %s | gfn.cpp | %d | %d | failed | | | | | | | | | | |\n", e.c_str(), b, t);
                    rc = 1;
                    continue;
                }
                // flops/iter = 6 · batch · states/traj · macs_per_state (our network shapes on both sides)
                const double gf_a = 6.0 * b * a.states * a.macs / a.ms * 1e-6;
                std::printf("| %s | gfn.cpp | %d | %d | %.3f | %.3f | %.3f | %.3f | %.3f | %.1f | %.2f | %.0f | %.2f "
                            "| %.0f | |\n",
                            e.c_str(), b, t, a.ms, a.sample, a.loss, a.backward, a.optim, gf_a, gf_a / a.gemm,
                            1e3 * b / a.ms, a.states, a.peak_mb);
                if (have_torch && p.ms > 0) {
                    const double gf_p = 6.0 * b * p.states * a.macs / p.ms * 1e-6;
                    std::printf("| %s | PyTorch | %d | %d | %.3f | %.3f | %.3f | %.3f | %.3f | %.1f | %.2f | %.0f "
                                "| %.2f | %.0f | %.2fx |\n",
                                e.c_str(), b, t, p.ms, p.sample, p.loss, p.backward, p.optim, gf_p, gf_p / a.gemm,
                                1e3 * b / p.ms, p.states, p.peak_mb, p.ms / a.ms);
                } else if (have_torch) {
                    std::printf("| %s | PyTorch | %d | %d | failed | | | | | | | | | | |\n", e.c_str(), b, t);
                    rc = 1;
                }
                std::fflush(stdout);
            }
    return rc;
}

}  // namespace gfn_bench
