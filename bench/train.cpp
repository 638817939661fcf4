// train.cpp — the `train` benchmark: ms per training iteration, phase by phase,
// achieved GFLOP/s against the machine's single-GEMM rate, trajectories per
// second and peak memory, for the scenarios of torchgfn's benchmark folder.
//
// Each (scenario, batch, threads) runs in a child process of its own (so its
// peak resident memory is its own): a fresh Run from initialisation, 20 warm-up
// iterations, then `iters` timed iterations; five repetitions, medians
// reported. The reference run uses the same counts (batch 16: 1,000
// iterations, 128: 250, 2048: 40), since trajectories lengthen as the policy
// learns. Flops: 2 per multiply-add of the networks forward, 4 backward.
#include "bench/train.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/child.h"
#include "engine/blas.h"
#include "gfn/runtime/training.h"

namespace gfn_bench {

namespace {

using Clock = std::chrono::steady_clock;

struct Scenario {
    const char* name;
    std::vector<std::string> flags;  // gfn train flags
    int iter_divisor;                // iterations = reference count / divisor
};

const std::vector<Scenario>& scenarios() {
    static const std::vector<Scenario> s = {
        {"hypergrid_2d_h8", {"--ndim", "2", "--height", "8", "--tied"}, 1},
        // `gfn train`'s own default: PB a network of its own, run in the loss on the
        // backward steps' distinct states (estimators.h, PolicyEstimator::trunk).
        {"hypergrid_2d_h8_untied", {"--ndim", "2", "--height", "8"}, 1},
        // The same with the network run on every visited state (no per-rollout deduplication):
        // the GEMM-bound step, whose GFLOP/s compare with the single-GEMM rate.
        {"hypergrid_2d_h8_every_state", {"--ndim", "2", "--height", "8", "--tied", "--no-state-dedup"}, 1},
        // Entropic PPO, K = 4 update epochs per rollout: compare its ms/iter with 4 × hypergrid_2d_h8's.
        {"hypergrid_2d_h8_ppo", {"--ndim", "2", "--height", "8", "--tied", "--loss", "ppo", "--ppo-epochs", "4"}, 4},
        // Off-policy: an ε-greedy rollout (it saves no log-probabilities), and the loss
        // recomputing PF and the tied PB on the batch.
        {"hypergrid_2d_h8_epsilon", {"--ndim", "2", "--height", "8", "--tied", "--epsilon", "0.1"}, 1},
        {"hypergrid_4d_h16", {"--ndim", "4", "--height", "16", "--tied"}, 1},
        {"hypergrid_4d_h32", {"--ndim", "4", "--height", "32", "--tied"}, 1},
        {"ising_6x6", {"--env", "ising", "--L", "6", "--tied"}, 4},
        {"bitsequence_k4_n32", {"--env", "bitsequence", "--word-size", "4", "--seq-size", "32", "--n-modes", "4"}, 1},
    };
    return s;
}

int reference_iterations(int batch) {
    if (batch <= 16) return 1000;
    if (batch <= 128) return 250;
    if (batch <= 512) return 100;
    return 40;
}

struct Result {
    std::string scenario;
    int batch = 0, threads = 0, iters = 0, reps = 0;
    double ms = 0, ms_sample = 0, ms_loss = 0, ms_backward = 0, ms_optimize = 0;
    double gflops = 0, gemm_gflops = 0, traj_per_s = 0, peak_mb = 0, states_per_traj = 0;
};

std::string to_json(const Result& r) {
    char buf[1024];
    std::snprintf(buf, sizeof buf,
                  "{\"scenario\": \"%s\", \"batch\": %d, \"threads\": %d, \"iters\": %d, \"reps\": %d, "
                  "\"ms_per_iter\": %.4f, \"ms_sample\": %.4f, \"ms_loss\": %.4f, \"ms_backward\": %.4f, "
                  "\"ms_optimizer\": %.4f, \"gflops\": %.2f, \"gemm_gflops\": %.2f, \"traj_per_s\": %.0f, "
                  "\"states_per_traj\": %.2f, \"peak_mb\": %.1f}",
                  r.scenario.c_str(), r.batch, r.threads, r.iters, r.reps, r.ms, r.ms_sample, r.ms_loss,
                  r.ms_backward, r.ms_optimize, r.gflops, r.gemm_gflops, r.traj_per_s, r.states_per_traj,
                  r.peak_mb);
    return buf;
}

const Scenario* find_scenario(const std::string& name) {
    for (const Scenario& s : scenarios())
        if (name == s.name) return &s;
    return nullptr;
}

// One scenario in this process.
int run_one(const Scenario& sc, int batch, int threads, int reps, int iters_override) {
    gfn::set_num_threads(threads);
    gfn::Config cfg;
    std::vector<std::string> flags = sc.flags;
    flags.insert(flags.end(), {"--batch-size", std::to_string(batch), "--threads", std::to_string(threads)});
    gfn::parse_train_flags(flags, cfg);
    const int iters = iters_override > 0 ? iters_override : std::max(10, reference_iterations(batch) / sc.iter_divisor);
    const int warmup = std::max(5, 20 / sc.iter_divisor);
    std::vector<double> ms, s, l, b, o, gf, tps, spt;
    for (int r = 0; r < reps; ++r) {
        cfg.iterations = warmup + iters;
        gfn::Run run(cfg);
        for (int i = 0; i < warmup; ++i) gfn::train_step(run);
        gfn::PhaseTimes sum;
        long long states = 0, evaluated = 0;
        auto t0 = Clock::now();
        for (int i = 0; i < iters; ++i) {
            gfn::StepStats st = gfn::train_step(run);
            sum.sample += st.times.sample;
            sum.loss += st.times.loss;
            sum.backward += st.times.backward;
            sum.optimize += st.times.optimize;
            states += st.n_states;
            evaluated = st.n_evaluated < 0 || evaluated < 0 ? -1 : evaluated + st.n_evaluated;
        }
        const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
        ms.push_back(1e3 * dt / iters);
        s.push_back(1e3 * sum.sample / iters);
        l.push_back(1e3 * sum.loss / iters);
        b.push_back(1e3 * sum.backward / iters);
        o.push_back(1e3 * sum.optimize / iters);
        // flops on the rows the network evaluated (each distinct state of a rollout once);
        // −1 where the step does not count them (PPO: StepStats::n_evaluated)
        gf.push_back(evaluated < 0 ? -1.0 : 6.0 * double(run.macs_per_state()) * double(evaluated) / dt * 1e-9);
        tps.push_back(double(batch) * iters / dt);
        spt.push_back(double(states) / (double(batch) * iters));
    }
    Result res;
    res.scenario = sc.name;
    res.batch = batch;
    res.threads = gfn::num_threads();
    res.iters = iters;
    res.reps = reps;
    res.ms = median(ms);
    res.ms_sample = median(s);
    res.ms_loss = median(l);
    res.ms_backward = median(b);
    res.ms_optimize = median(o);
    res.gflops = median(gf);
    res.traj_per_s = median(tps);
    res.states_per_traj = median(spt);
    res.gemm_gflops = gemm_gflops(batch, cfg.hidden);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    res.peak_mb = double(ru.ru_maxrss) / 1024.0;
    std::printf("%s\n", to_json(res).c_str());
    return 0;
}

void usage(FILE* f) {
    std::fprintf(f,
                 "usage: gfn_bench train [--scenario S] [--batch B] [--threads T] [--reps R] [--iters N]\n"
                 "                       [--out FILE] [--quick]\n"
                 "       gfn_bench train --one --scenario S --batch B --threads T [--reps R] [--iters N]\n"
                 "scenarios:");
    for (const Scenario& s : scenarios()) std::fprintf(f, " %s", s.name);
    std::fprintf(f, "\n--quick: batches 16 and 128 only. Default: every scenario, batches 16 128 512 2048,\n"
                    "threads 1 and 2, 5 repetitions; results also go to FILE (default build/bench_train.jsonl).\n");
}

}  // namespace

// See train.h.
double gemm_gflops(int M, int H) {
    std::vector<float> A(size_t(M) * H, 0.5f), W(size_t(H) * H, 0.25f), C(size_t(M) * H, 0.f), G(size_t(H) * H);
    auto once = [&]() {
        gfn::gemm(false, true, M, H, H, 1.f, A.data(), H, W.data(), H, 0.f, C.data(), H);   // Y = X Wᵀ
        gfn::gemm(false, false, M, H, H, 1.f, C.data(), H, W.data(), H, 1.f, A.data(), H);  // dX += dY W
        gfn::gemm(true, false, H, H, M, 1.f, C.data(), H, A.data(), H, 1.f, G.data(), H);   // dW += dYᵀ X
    };
    for (int i = 0; i < 3; ++i) once();
    std::vector<double> rates;
    for (int r = 0; r < 5; ++r) {
        int n = 0;
        auto t0 = Clock::now();
        double dt = 0;
        do {
            once();
            ++n;
            dt = std::chrono::duration<double>(Clock::now() - t0).count();
        } while (dt < 0.05);
        rates.push_back(3.0 * 2.0 * M * double(H) * H * n / dt * 1e-9);
    }
    return median(rates);
}

int run_train(int argc, char** argv) {
    std::vector<std::string> names;
    std::vector<int> batches, thread_counts;
    int reps = 5, iters = 0;
    bool one = false, quick = false;
    std::string out = "build/bench_train.jsonl";
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&](const char* flag) -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "gfn_bench train: %s needs a value\n", flag);
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--scenario") names.push_back(value("--scenario"));
        else if (a == "--batch") batches.push_back(std::atoi(value("--batch").c_str()));
        else if (a == "--threads") thread_counts.push_back(std::atoi(value("--threads").c_str()));
        else if (a == "--reps") reps = std::atoi(value("--reps").c_str());
        else if (a == "--iters") iters = std::atoi(value("--iters").c_str());
        else if (a == "--out") out = value("--out");
        else if (a == "--one") one = true;
        else if (a == "--quick") quick = true;
        else if (a == "--json") {}  // results are JSON lines already (one per run, and in --out)
        else if (a == "-h" || a == "--help") { usage(stdout); return 0; }
        else {
            std::fprintf(stderr, "gfn_bench train: unknown option '%s'\n", a.c_str());
            usage(stderr);
            return 2;
        }
    }
    if (reps < 1) { std::fprintf(stderr, "gfn_bench train: --reps must be >= 1\n"); return 2; }
    for (const std::string& n : names)
        if (!find_scenario(n)) { std::fprintf(stderr, "gfn_bench train: unknown scenario '%s'\n", n.c_str()); usage(stderr); return 2; }
    for (int b : batches) if (b < 1) { std::fprintf(stderr, "gfn_bench train: --batch must be >= 1\n"); return 2; }
    for (int t : thread_counts) if (t < 0) { std::fprintf(stderr, "gfn_bench train: --threads must be >= 0 (0: the default, all cores)\n"); return 2; }

    if (one) {
        if (names.size() != 1 || batches.size() != 1 || thread_counts.size() != 1) {
            std::fprintf(stderr, "gfn_bench train --one: give exactly one --scenario, --batch and --threads\n");
            return 2;
        }
        return run_one(*find_scenario(names[0]), batches[0], thread_counts[0], reps, iters);
    }
    if (names.empty()) for (const Scenario& s : scenarios()) names.push_back(s.name);
    if (batches.empty()) batches = quick ? std::vector<int>{16, 128} : std::vector<int>{16, 128, 512, 2048};
    if (thread_counts.empty()) thread_counts = {1, 2};

    const std::string self = self_path();
    FILE* jf = std::fopen(out.c_str(), "w");
    if (!jf) std::fprintf(stderr, "gfn_bench train: cannot write %s; results go to stdout only\n", out.c_str());
    std::printf("\n### Training step: HyperGrid / Ising / BitSequence with TB (hypergrid_2d_h8_ppo: Entropic PPO, K = 4), MLP 256 x 2 (tied PB where a PB exists)\n\n"
                "BLAS: %s\n\n"
                "| scenario | batch | threads | iters | ms/iter | sample | loss | backward | optimizer | GFLOP/s | "
                "GEMM GFLOP/s | of GEMM | traj/s | states/traj | peak MB |\n"
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
                gfn::blas_info().c_str());
    std::fflush(stdout);
    int rc = 0;
    for (const std::string& n : names)
        for (int b : batches)
            for (int t : thread_counts) {
                std::string cmd = self + " train --one --scenario " + n + " --batch " + std::to_string(b) +
                                  " --threads " + std::to_string(t) + " --reps " + std::to_string(reps) +
                                  (iters > 0 ? " --iters " + std::to_string(iters) : "");
                const std::string line = run_json(cmd);
                if (line.empty()) {
                    std::printf("| %s | %d | %d | failed | | | | | | | | | | | |\n", n.c_str(), b, t);
                    rc = 1;
                    continue;
                }
                if (jf) std::fprintf(jf, "%s\n", line.c_str());
                auto v = [&](const char* k) { return json_number(line, k); };
                char rate[64];  // GFLOP/s, GEMM GFLOP/s and "of GEMM"; dashes where not counted
                if (v("gflops") >= 0)
                    std::snprintf(rate, sizeof rate, "%.1f | %.1f | %.2f", v("gflops"), v("gemm_gflops"),
                                  v("gflops") / v("gemm_gflops"));
                else
                    std::snprintf(rate, sizeof rate, "— | %.1f | —", v("gemm_gflops"));
                std::printf("| %s | %d | %d | %d | %.3f | %.3f | %.3f | %.3f | %.3f | %s | %.0f | %.1f | %.0f |\n",
                            n.c_str(), b, t, int(v("iters")), v("ms_per_iter"), v("ms_sample"), v("ms_loss"),
                            v("ms_backward"), v("ms_optimizer"), rate, v("traj_per_s"), v("states_per_traj"),
                            v("peak_mb"));
                std::fflush(stdout);
            }
    if (jf) std::fclose(jf);
    return rc;
}

}  // namespace gfn_bench
