// gfn.cpp — the command-line program: train, sample, eval.
//
// One training step, from here to the Adam update: cmd_train builds a Run
// (gfn/runtime/training.cpp) and calls train(), whose loop calls train_step():
// sample_trajectories (gfn/samplers/sampler.cpp) → the objective's loss
// (gfn/objectives/trajectory_balance.cpp, …) → Tape::backward (engine/tape.cpp, kernels
// in engine/ops.cpp) → clip_grad_norm and Optimizer::step (engine/optim.cpp).
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/blas.h"
#include "gfn/runtime/checkpoint.h"
#include "gfn/runtime/config.h"
#include "gfn/samplers/sampler.h"
#include "gfn/runtime/metrics_log.h"
#include "gfn/runtime/plot.h"
#include "gfn/runtime/trace.h"
#include "gfn/validation/validation.h"
#include "gfn/runtime/training.h"

using namespace gfn;

static void usage(FILE* out) {
    std::fprintf(out,
                 "gfn.cpp — Generative Flow Networks on the CPU\n\n"
                 "usage: gfn <command> [arguments]\n\n"
                 "commands:\n"
                 "  train [flags]                 train a GFlowNet and validate it against the exact target\n"
                 "  sample FILE [-n N] [--seed S]  print N terminal states (and log R) drawn from a checkpoint's PF\n"
                 "  eval FILE [--validation-samples N] [--json]\n"
                 "                                validation metrics of a checkpoint\n"
                 "  plot FILE.csv|FILE.jsonl [-o OUT.svg]\n"
                 "                                training curves of a metrics file (gfn train --log) as SVG\n\n"
                 "`gfn train --help` lists every training flag with its default.\n");
}

// Numbers at full precision (round-trip), JSON null for NaN/inf.
static std::string num(double v) {
    if (!std::isfinite(v)) return "null";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

static std::string short_num(double v) {
    if (!std::isfinite(v)) return "n/a";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4f", v);
    return buf;
}

static void print_validation(const Metrics& m) {
    for (size_t k = 0; k < m.validation.size(); ++k) {
        const ValidationResult& v = m.validation[k];
        std::string cond = m.conditions.empty() ? "" : " c=" + short_num(m.conditions[k]);
        if (std::isnan(v.l1)) {  // no enumeration: log Z and E[log R] against their exact values
            std::printf("validation iter %d: logZ %s (exact %.5f)  mean log R of %d samples %.5f (exact %.5f)\n",
                        m.iteration, short_num(v.logz).c_str(), v.logz_true, v.n_samples, v.mean_log_reward,
                        v.mean_log_reward_true);
            continue;
        }
        std::printf("validation iter %d%s: l1 %.5f  exact_l1 %.5f  jsd %.5f  |logZ - logZ_true| %s  modes %d/%d\n",
                    m.iteration, cond.c_str(), v.l1, v.exact_l1, v.jsd,
                    std::isfinite(v.logz) ? short_num(std::fabs(v.logz - v.logz_true)).c_str() : "n/a",
                    m.modes_found, m.n_modes);
    }
    std::fflush(stdout);
}

static void print_json(const Metrics& m, int iterations, double seconds) {
    std::printf("{\"l1\": %s, \"exact_l1\": %s, \"jsd\": %s, \"logz\": %s, \"logz_true\": %s, "
                "\"modes_found\": %d, \"n_modes\": %d, \"iterations\": %d, \"seconds\": %s, "
                "\"mean_abs_error\": %s, \"mean_log_reward\": %s, \"mean_log_reward_true\": %s",
                num(m.l1).c_str(), num(m.exact_l1).c_str(), num(m.jsd).c_str(), num(m.logz).c_str(),
                num(m.logz_true).c_str(), m.modes_found, m.n_modes, iterations, num(seconds).c_str(),
                num(m.mean_abs_error).c_str(), num(m.mean_log_reward).c_str(), num(m.mean_log_reward_true).c_str());
    if (m.validation.size() > 1) {
        std::printf(", \"per_condition\": [");
        for (size_t k = 0; k < m.validation.size(); ++k)
            std::printf("%s{\"c\": %s, \"l1\": %s, \"exact_l1\": %s, \"logz\": %s, \"logz_true\": %s}", k ? ", " : "",
                        num(m.conditions[k]).c_str(), num(m.validation[k].l1).c_str(),
                        num(m.validation[k].exact_l1).c_str(), num(m.validation[k].logz).c_str(),
                        num(m.validation[k].logz_true).c_str());
        std::printf("]");
    }
    std::printf("}\n");
}

static std::string clock_str(double s) {
    if (!std::isfinite(s) || s < 0) return "--:--";
    char buf[32];
    int t = int(s + 0.5);
    if (t >= 3600) std::snprintf(buf, sizeof buf, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
    else std::snprintf(buf, sizeof buf, "%02d:%02d", t / 60, t % 60);
    return buf;
}

// The configuration of a resumed run: the checkpoint's, with the flags that
// may change (iterations, validation, output) taken from the command line.
static Config resumed_config(const Config& given_cfg, const std::vector<std::string>& given) {
    Config cfg = checkpoint_config(given_cfg.resume);
    auto mine = config_items(given_cfg);
    for (const std::string& name : given) {
        std::string value;
        for (const auto& kv : mine)
            if (kv.first == name) value = kv.second;
        if (resumable_override(name)) {
            set_flag(cfg, name, value);
            continue;
        }
        for (const auto& kv : config_items(cfg))
            if (kv.first == name && kv.second != value)
                throw std::invalid_argument("--" + name + " " + value + " differs from the checkpoint's --" + name + " " +
                                            kv.second + "; a resumed run keeps its environment, objective and "
                                            "architecture (drop the flag)");
    }
    validate_config(cfg);
    return cfg;
}

static int cmd_train(const std::vector<std::string>& args) {
    for (const std::string& a : args)
        if (a == "--help" || a == "-h") {
            std::printf("usage: gfn train [flags]\n\nflags:\n%s", train_flags_help().c_str());
            return 0;
        }
    Config cfg;
    std::vector<std::string> given = parse_train_flags(args, cfg);
    if (!cfg.resume.empty()) cfg = resumed_config(cfg, given);
    set_num_threads(cfg.threads);
    std::string warn = blas_check_threading();
    if (!warn.empty()) std::fprintf(stderr, "%s\n", warn.c_str());
    const bool tty = isatty(fileno(stdout)) && !cfg.quiet;
    if (!cfg.quiet) {
        std::printf("gfn train: seed=%llu threads=%d blas=\"%s\"\n  %s\n", cfg.seed, num_threads(),
                    blas_info().c_str(), describe(cfg).c_str());
        if (cfg.relative() && cfg.prior == "tb" && cfg.resume.empty())
            std::printf("training the prior: TB on reward '%s' for %d iterations\n", cfg.prior_reward.c_str(),
                        cfg.prior_iterations);
        std::fflush(stdout);
    }

    Run run(cfg, /*train_prior=*/cfg.resume.empty());
    if (!cfg.resume.empty()) {
        load_checkpoint(run, cfg.resume);
        if (!cfg.quiet) std::printf("resumed from %s at iteration %d\n", cfg.resume.c_str(), run.iteration);
    }
    if (!cfg.quiet) std::printf("parameters: %zu trained\n", run.store.size());

    TrainCallbacks cb;
    const int start_iteration = run.iteration;
    // Metrics: a file row per logged iteration and per validation (--log), kept for --plot.
    std::unique_ptr<MetricsLogger> logger;
    if (!cfg.log.empty()) logger = std::make_unique<MetricsLogger>(cfg.log);
    std::vector<MetricsRow> rows;
    const auto wall_start = std::chrono::steady_clock::now();
    auto wall = [&]() { return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count(); };
    auto record = [&](const std::vector<MetricsRow>& rs) {
        rows.insert(rows.end(), rs.begin(), rs.end());
        if (logger) logger->write(rs);
    };
    cb.on_step = [&](Run& r, const StepStats&) {
        if (!r.cfg.save.empty() && r.cfg.save_every > 0 && r.iteration % r.cfg.save_every == 0)
            save_checkpoint(r, r.cfg.save);
    };
    cb.on_log = [&](const Run& r, const StepStats& st, double elapsed) {
        record({train_row(r.iteration, st, wall())});
        if (cfg.quiet) return;
        const int done = r.iteration - start_iteration, total = r.cfg.iterations - start_iteration;
        const double tps = elapsed > 0 ? double(done) * r.cfg.batch_size / elapsed : 0.0;
        const double remaining = done > 0 ? elapsed / done * (total - done) : NAN;
        if (tty) {  // one line, redrawn
            const int width = 24, filled = total > 0 ? width * done / total : width;
            std::printf("\r[%s%s] %3d%% iter %d/%d  %s<%s  loss %.4g  logZ %s  %.0f traj/s \033[K",
                        std::string(size_t(filled), '#').c_str(), std::string(size_t(width - filled), '.').c_str(),
                        total > 0 ? 100 * done / total : 100, r.iteration, r.cfg.iterations,
                        clock_str(elapsed).c_str(), clock_str(remaining).c_str(), st.loss, short_num(st.log_z).c_str(),
                        tps);
            if (r.iteration == r.cfg.iterations) std::printf("\n");
        } else {
            std::printf("iter %6d/%d  loss %.5f  logZ %s  traj/s %.0f  elapsed %s  remaining %s\n", r.iteration,
                        r.cfg.iterations, st.loss, short_num(st.log_z).c_str(), tps, clock_str(elapsed).c_str(),
                        clock_str(remaining).c_str());
        }
        std::fflush(stdout);
    };
    cb.on_validation = [&](const Run&, const Metrics& m) {
        record(validation_rows(m, wall()));
        if (cfg.quiet) return;
        if (tty) std::printf("\r\033[K");
        print_validation(m);
    };
    if (cfg.trace) print_trace(run, stdout);  // at initialisation…
    TrainResult res = train(run, cb);
    if (!cfg.save.empty()) save_checkpoint(run, cfg.save);
    if (cfg.trace) print_trace(run, stdout);  // …and trained
    if (!cfg.plot.empty()) {
        std::string svg = training_curves_svg(rows);
        if (cfg.env == "hypergrid" && cfg.ndim == 2 && !run.targets.empty()) {
            const TargetDistribution& t = run.targets.back();
            std::vector<double> learned = exact_terminating_distribution(*run.env, t, policy_fn(*run.pf));
            svg = combine_svg(svg, heatmaps_svg(cfg.height, t.prob, learned));
        }
        write_file_atomically(cfg.plot, svg);
        if (!cfg.quiet) std::printf("plot: %s\n", cfg.plot.c_str());
    }
    if (logger && !cfg.quiet) std::printf("metrics: %s\n", cfg.log.c_str());

    // Network flops: 2 per multiply-add forward, twice that backward (input and weight gradients).
    const double gflop = 6.0 * double(run.macs_per_state()) * double(res.states_visited) * 1e-9;
    if (!cfg.quiet) {
        std::printf("trained %d iterations in %.3f s (sample %.3f, loss %.3f, backward %.3f, optimizer %.3f); "
                    "%lld states, %.1f GFLOP/s\n",
                    run.iteration - start_iteration, res.train_seconds, res.phase_seconds.sample,
                    res.phase_seconds.loss, res.phase_seconds.backward, res.phase_seconds.optimize,
                    res.states_visited, res.train_seconds > 0 ? gflop / res.train_seconds : 0.0);
        if (!cfg.save.empty()) std::printf("checkpoint: %s\n", cfg.save.c_str());
    } else if (!cfg.json) {
        print_validation(res.final_metrics);
    }
    if (cfg.json) print_json(res.final_metrics, run.iteration, res.train_seconds);
    return 0;
}

// A run restored from a checkpoint, ready to sample or validate.
static std::unique_ptr<Run> restore(const std::string& path, int threads) {
    Config cfg = checkpoint_config(path);
    cfg.threads = threads;
    set_num_threads(cfg.threads);
    auto run = std::make_unique<Run>(cfg, /*train_prior=*/false);
    load_checkpoint(*run, path);
    return run;
}

static int cmd_sample(const std::vector<std::string>& args) {
    const SampleFlags f = parse_sample_flags(args);
    if (f.help) {
        std::printf("usage: gfn sample FILE [-n N (10)] [--seed S (0)] [--threads T]\n"
                    "prints N terminal states drawn from the checkpoint's forward policy, one per line,\n"
                    "with their log-rewards (conditional environments: a condition drawn per sample)\n");
        return 0;
    }
    const long long n = f.n;
    std::unique_ptr<Run> run = restore(f.path, f.threads);
    Rng rng(f.seed, 0x5a3f1e);
    Tape tape;
    Trajectories traj;
    const int D = run->env->state_dim(), C = run->env->condition_dim();
    std::printf("# state (%d values)%s  log_reward\n", D, C > 0 ? "  condition" : "");
    for (long long done = 0; done < n;) {
        const int m = int(std::min<long long>(4096, n - done));
        tape.reset();
        NoGrad ng(tape);
        SampleRequest req;
        req.n = m;
        sample_trajectories(*run->env, *run->pf, nullptr, req, rng, tape, traj);
        for (int i = 0; i < m; ++i) {
            const int* x = traj.terminal_state(i);
            for (int d = 0; d < D; ++d) std::printf("%s%d", d ? " " : "", x[d]);
            if (C > 0)
                for (int c = 0; c < C; ++c) std::printf("  %.6g", traj.condition(i)[c]);
            std::printf("  %.9g\n", traj.log_rewards[size_t(i)]);
        }
        done += m;
    }
    return 0;
}

static int cmd_eval(const std::vector<std::string>& args) {
    const EvalFlags f = parse_eval_flags(args);
    if (f.help) {
        std::printf("usage: gfn eval FILE [--validation-samples N] [--threads T] [--json]\n"
                    "validates the checkpoint's forward policy against the exact target\n");
        return 0;
    }
    std::unique_ptr<Run> run = restore(f.path, f.threads);
    if (f.validation_samples > 0) run->cfg.validation_samples = f.validation_samples;
    if (run->targets.empty() && !run->have_exact_log_partition)
        throw std::runtime_error("environment " + run->env->name() + " has no exact target to validate against");
    Metrics m = validate_run(*run);
    print_validation(m);
    if (f.json) print_json(m, run->iteration, NAN);
    return 0;
}

static int cmd_plot(const std::vector<std::string>& args) {
    const PlotFlags f = parse_plot_flags(args);
    if (f.help) {
        std::printf("usage: gfn plot FILE.csv|FILE.jsonl [-o OUT.svg]\n"
                    "writes the training curves of a metrics file (gfn train --log) as SVG\n"
                    "(default OUT: FILE with the extension .svg)\n");
        return 0;
    }
    write_file_atomically(f.out, training_curves_svg(read_metrics(f.in)));
    std::printf("%s\n", f.out.c_str());
    return 0;
}

int main(int argc, char** argv) {
    // Buffers of 1 MiB and more are mapped and unmapped on their own, so memory
    // a run frees goes back to the system (glibc would otherwise raise this
    // threshold after the first large free and keep such buffers in its heap).
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        usage(args.empty() ? stderr : stdout);
        return args.empty() ? 2 : 0;
    }
    const std::string cmd = args[0];
    args.erase(args.begin());
    try {
        if (cmd == "train") return cmd_train(args);
        if (cmd == "sample") return cmd_sample(args);
        if (cmd == "eval") return cmd_eval(args);
        if (cmd == "plot") return cmd_plot(args);
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
