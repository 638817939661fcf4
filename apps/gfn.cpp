// gfn.cpp — the command-line program: `gfn train` (and `gfn --help`).
//
// main → parse flags (gfn/config) → build the run (gfn/training: Run) →
// train (gfn/training: train → train_step: sample, loss, backward, Adam) →
// validate (gfn/validation) → print the metrics (and --json).
#include <cmath>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/blas.h"
#include "gfn/config.h"
#include "gfn/training.h"

using namespace gfn;

static void usage(FILE* out) {
    std::fprintf(out,
                 "gfn.cpp — Generative Flow Networks on the CPU\n\n"
                 "usage: gfn <command> [flags]\n\n"
                 "commands:\n"
                 "  train      train a GFlowNet and validate it against the exact target\n\n"
                 "`gfn train --help` lists every training flag with its default.\n");
}

// Numbers at full precision (round-trip), JSON null for NaN/inf.
static std::string num(double v) {
    if (!std::isfinite(v)) return "null";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

static void print_validation(const Run& run, const Metrics& m) {
    for (size_t k = 0; k < m.validation.size(); ++k) {
        const ValidationResult& v = m.validation[k];
        std::string cond = m.conditions.empty() ? "" : " c=" + num(m.conditions[k]);
        if (std::isnan(v.l1)) {  // no enumeration: log Z and E[log R] against their exact values
            std::printf("validation iter %d: logZ %.5f (exact %.5f)  mean log R of %d samples %.5f (exact %.5f)\n",
                        m.iteration, v.logz, v.logz_true, v.n_samples, v.mean_log_reward, v.mean_log_reward_true);
            continue;
        }
        std::printf("validation iter %d%s: l1 %.5f  exact_l1 %.5f  jsd %.5f  |logZ - logZ_true| %s  modes %d/%d\n",
                    m.iteration, cond.c_str(), v.l1, v.exact_l1, v.jsd,
                    std::isfinite(v.logz) ? num(std::fabs(v.logz - v.logz_true)).c_str() : "n/a", m.modes_found,
                    m.n_modes);
    }
    (void)run;
    std::fflush(stdout);
}

static int cmd_train(const std::vector<std::string>& args) {
    for (const std::string& a : args)
        if (a == "--help" || a == "-h") {
            std::printf("usage: gfn train [flags]\n\nflags:\n%s", train_flags_help().c_str());
            return 0;
        }
    Config cfg;
    parse_train_flags(args, cfg);
    set_num_threads(cfg.threads);
    std::string warn = blas_check_threading();
    if (!warn.empty()) std::fprintf(stderr, "%s\n", warn.c_str());
    std::printf("gfn train: threads=%d blas=\"%s\"\n  %s\n", num_threads(), blas_info().c_str(),
                describe(cfg).c_str());
    if (cfg.relative() && cfg.prior == "tb")
        std::printf("training the prior: TB on reward '%s' for %d iterations\n", cfg.prior_reward.c_str(),
                    cfg.prior_iterations);
    std::fflush(stdout);

    Run run(cfg);
    std::printf("parameters: %zu trained\n", run.store.size());
    TrainCallbacks cb;
    cb.on_log = [](const Run& r, const StepStats& st, double elapsed) {
        double tps = elapsed > 0 ? double(r.iteration) * r.cfg.batch_size / elapsed : 0.0;
        std::printf("iter %6d/%d  loss %.5f  logZ %s  traj/s %.0f\n", r.iteration, r.cfg.iterations, st.loss,
                    std::isfinite(st.log_z) ? num(st.log_z).substr(0, 8).c_str() : "n/a", tps);
        std::fflush(stdout);
    };
    cb.on_validation = print_validation;
    TrainResult res = train(run, cb);
    // Network flops: 2 per multiply-add forward, twice that backward (input and weight gradients).
    const double gflop = 6.0 * double(run.macs_per_state()) * double(res.states_visited) * 1e-9;
    std::printf("trained %d iterations in %.3f s (sample %.3f, loss %.3f, backward %.3f, optimizer %.3f); "
                "%lld states, %.1f GFLOP/s\n",
                run.iteration, res.train_seconds, res.phase_seconds.sample, res.phase_seconds.loss,
                res.phase_seconds.backward, res.phase_seconds.optimize, res.states_visited,
                res.train_seconds > 0 ? gflop / res.train_seconds : 0.0);
    if (cfg.json) {
        const Metrics& m = res.final_metrics;
        std::printf("{\"l1\": %s, \"exact_l1\": %s, \"jsd\": %s, \"logz\": %s, \"logz_true\": %s, "
                    "\"modes_found\": %d, \"n_modes\": %d, \"iterations\": %d, \"seconds\": %s, "
                    "\"mean_abs_error\": %s, \"mean_log_reward\": %s, \"mean_log_reward_true\": %s",
                    num(m.l1).c_str(), num(m.exact_l1).c_str(), num(m.jsd).c_str(), num(m.logz).c_str(),
                    num(m.logz_true).c_str(), m.modes_found, m.n_modes, run.iteration,
                    num(res.train_seconds).c_str(), num(m.mean_abs_error).c_str(), num(m.mean_log_reward).c_str(),
                    num(m.mean_log_reward_true).c_str());
        if (m.validation.size() > 1) {
            std::printf(", \"per_condition\": [");
            for (size_t k = 0; k < m.validation.size(); ++k)
                std::printf("%s{\"c\": %s, \"l1\": %s, \"exact_l1\": %s, \"logz\": %s, \"logz_true\": %s}",
                            k ? ", " : "", num(m.conditions[k]).c_str(), num(m.validation[k].l1).c_str(),
                            num(m.validation[k].exact_l1).c_str(), num(m.validation[k].logz).c_str(),
                            num(m.validation[k].logz_true).c_str());
            std::printf("]");
        }
        std::printf("}\n");
    }
    return 0;
}

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        usage(args.empty() ? stderr : stdout);
        return args.empty() ? 2 : 0;
    }
    const std::string cmd = args[0];
    args.erase(args.begin());
    try {
        if (cmd == "train") return cmd_train(args);
        std::fprintf(stderr, "gfn: unknown command '%s' (see gfn --help)\n", cmd.c_str());
        return 2;
    } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "gfn %s: error: %s\n", cmd.c_str(), e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "gfn %s: error: %s\n", cmd.c_str(), e.what());
        return 1;
    }
}
