// train_command.cpp — see train_command.h.
#include "gfn/runtime/train_command.h"

#include <algorithm>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <stdexcept>

#include "engine/blas.h"
#include "gfn/runtime/checkpoint.h"
#include "gfn/runtime/continuous_training.h"
#include "gfn/runtime/distributed.h"
#include "gfn/runtime/metrics_log.h"
#include "gfn/runtime/output_paths.h"
#include "gfn/runtime/plot.h"
#include "gfn/runtime/trace.h"
#include "gfn/runtime/training.h"
#include "gfn/validation/validation.h"

namespace gfn {

namespace {

// Numbers at full precision (round-trip), JSON null for NaN/inf.
std::string num(double v) {
    if (!std::isfinite(v)) return "null";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

std::string short_num(double v) {
    if (!std::isfinite(v)) return "n/a";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4f", v);
    return buf;
}

std::string clock_str(double s) {
    if (!std::isfinite(s) || s < 0) return "--:--";
    char buf[32];
    int t = int(s + 0.5);
    if (t >= 3600) std::snprintf(buf, sizeof buf, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
    else std::snprintf(buf, sizeof buf, "%02d:%02d", t / 60, t % 60);
    return buf;
}

bool file_has_content(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return false;
    const bool any = std::fgetc(f) != EOF;
    std::fclose(f);
    return any;
}

}  // namespace

void print_validation(FILE* out, const Metrics& m) {
    if (!std::isnan(m.elbo)) {  // a diffusion sampler: the bounds on log Z, ESS and the modes
        std::fprintf(out,
                     "validation iter %d: ELBO %s  IW-ELBO %s  EUBO %s  ESS %s  logZ %s (exact %s)  logZ_IS %s",
                     m.iteration, short_num(m.elbo).c_str(), short_num(m.iw_elbo).c_str(), short_num(m.eubo).c_str(),
                     short_num(m.ess).c_str(), short_num(m.logz).c_str(), short_num(m.logz_true).c_str(),
                     short_num(m.logz_is).c_str());
        if (m.n_modes > 0)
            std::fprintf(out, "  modes %d/%d  mode TV %s", m.modes_found, m.n_modes, short_num(m.mode_tv).c_str());
        std::fprintf(out, "\n");
        std::fflush(out);
        return;
    }
    if (!std::isnan(m.binned_l1)) {  // a continuous env: binned metrics and two log Z estimates
        std::fprintf(out, "validation iter %d: binned_l1 %.5f  binned_jsd %.5f  logZ %s  logZ_IS %s  (exact %.5f)%s%s\n",
                     m.iteration, m.binned_l1, m.binned_jsd, short_num(m.logz).c_str(), short_num(m.logz_is).c_str(),
                     m.logz_true, std::isnan(m.kde_jsd) ? "" : "  kde_jsd ", std::isnan(m.kde_jsd) ? "" : short_num(m.kde_jsd).c_str());
        std::fflush(out);
        return;
    }
    for (size_t k = 0; k < m.validation.size(); ++k) {
        const ValidationResult& v = m.validation[k];
        std::string cond = m.conditions.empty() ? "" : " c=" + short_num(m.conditions[k]);
        if (std::isnan(v.l1)) {  // no enumeration: log Z and E[log R] against their exact values
            std::fprintf(out, "validation iter %d: logZ %s (exact %.5f)  mean log R of %d samples %.5f (exact %.5f)\n",
                         m.iteration, short_num(v.logz).c_str(), v.logz_true, v.n_samples, v.mean_log_reward,
                         v.mean_log_reward_true);
            continue;
        }
        std::fprintf(out, "validation iter %d%s: l1 %.5f  exact_l1 %.5f  jsd %.5f  |logZ - logZ_true| %s  modes %d/%d\n",
                     m.iteration, cond.c_str(), v.l1, v.exact_l1, v.jsd,
                     std::isfinite(v.logz) ? short_num(std::fabs(v.logz - v.logz_true)).c_str() : "n/a",
                     m.modes_found, m.n_modes);
    }
    std::fflush(out);
}

void print_json(FILE* out, const Metrics& m, int iterations, double seconds) {
    std::fprintf(out,
                 "{\"l1\": %s, \"exact_l1\": %s, \"jsd\": %s, \"logz\": %s, \"logz_true\": %s, "
                 "\"modes_found\": %d, \"n_modes\": %d, \"iterations\": %d, \"seconds\": %s, "
                 "\"mean_abs_error\": %s, \"mean_log_reward\": %s, \"mean_log_reward_true\": %s",
                 num(m.l1).c_str(), num(m.exact_l1).c_str(), num(m.jsd).c_str(), num(m.logz).c_str(),
                 num(m.logz_true).c_str(), m.modes_found, m.n_modes, iterations, num(seconds).c_str(),
                 num(m.mean_abs_error).c_str(), num(m.mean_log_reward).c_str(), num(m.mean_log_reward_true).c_str());
    if (!std::isnan(m.elbo))
        std::fprintf(out,
                     ", \"elbo\": %s, \"iw_elbo\": %s, \"eubo\": %s, \"ess\": %s, \"mode_tv\": %s, "
                     "\"mode_distance\": %s, \"logz_is\": %s, \"delta_logz_elbo\": %s, \"delta_logz_iw_elbo\": %s",
                     num(m.elbo).c_str(), num(m.iw_elbo).c_str(), num(m.eubo).c_str(), num(m.ess).c_str(),
                     num(m.mode_tv).c_str(), num(m.mode_distance).c_str(), num(m.logz_is).c_str(),
                     num(m.logz_true - m.elbo).c_str(), num(m.logz_true - m.iw_elbo).c_str());
    if (!m.mode_frequencies.empty()) {
        std::fprintf(out, ", \"mode_frequencies\": [");
        for (size_t k = 0; k < m.mode_frequencies.size(); ++k)
            std::fprintf(out, "%s%s", k ? ", " : "", num(m.mode_frequencies[k]).c_str());
        std::fprintf(out, "]");
    }
    if (!std::isnan(m.binned_l1))
        std::fprintf(out, ", \"binned_l1\": %s, \"binned_jsd\": %s, \"logz_is\": %s, \"kde_jsd\": %s",
                     num(m.binned_l1).c_str(), num(m.binned_jsd).c_str(), num(m.logz_is).c_str(),
                     num(m.kde_jsd).c_str());
    if (m.validation.size() > 1) {
        std::fprintf(out, ", \"per_condition\": [");
        for (size_t k = 0; k < m.validation.size(); ++k)
            std::fprintf(out, "%s{\"c\": %s, \"l1\": %s, \"exact_l1\": %s, \"logz\": %s, \"logz_true\": %s}",
                         k ? ", " : "", num(m.conditions[k]).c_str(), num(m.validation[k].l1).c_str(),
                         num(m.validation[k].exact_l1).c_str(), num(m.validation[k].logz).c_str(),
                         num(m.validation[k].logz_true).c_str());
        std::fprintf(out, "]");
    }
    std::fprintf(out, "}\n");
    std::fflush(out);
}

Config resumed_config(const Config& given_cfg, const std::vector<std::string>& given) {
    int at = 0;
    Config cfg = checkpoint_config(given_cfg.resume, &at);
    // What this invocation writes and prints comes from its own command line only.
    for (const auto& kv : config_items(Config()))
        if (output_flag(kv.first)) set_flag(cfg, kv.first, kv.second);
    auto mine = config_items(given_cfg);
    bool iterations_given = false;
    for (const std::string& name : given) {
        std::string value;
        for (const auto& kv : mine)
            if (kv.first == name) value = kv.second;
        if (name == "iterations") iterations_given = true;
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
    if (cfg.iterations <= at) {
        const std::string it = std::to_string(at);
        if (iterations_given)
            throw std::invalid_argument("--iterations " + std::to_string(cfg.iterations) + ": the checkpoint " +
                                        given_cfg.resume + " is at iteration " + it +
                                        " already; --iterations counts the total, so give more than " + it);
        throw std::invalid_argument("the checkpoint " + given_cfg.resume + " is at iteration " + it +
                                    ", the end of its run (--iterations " + std::to_string(cfg.iterations) +
                                    "); give a larger --iterations to train on");
    }
    return cfg;
}

void inherit_prior_config(Config& cfg, const std::vector<std::string>& given) {
    const Config pc = checkpoint_config(cfg.prior);
    if (pc.env != cfg.env)
        throw std::invalid_argument("--prior " + cfg.prior + ": the saved run is --env " + pc.env +
                                    "; this run is --env " + cfg.env);
    static const char* shape[] = {"ndim", "height", "L", "word-size", "seq-size", "n-steps-per-trajectory", "init-value",
                                  "steps", "sigma", "t-scale", "learn-variance", "hidden", "layers", "activation",
                                  "preprocessor", "delta", "n-components", "n-components-s0", "min-concentration",
                                  "max-concentration"};
    const auto theirs = config_items(pc);
    auto mine = config_items(cfg);
    for (const char* name : shape) {
        std::string prior_value, value;
        for (const auto& kv : theirs)
            if (kv.first == name) prior_value = kv.second;
        for (const auto& kv : mine)
            if (kv.first == name) value = kv.second;
        if (value == prior_value) continue;
        if (std::find(given.begin(), given.end(), name) != given.end())
            throw std::invalid_argument("--" + std::string(name) + " " + value + " differs from the prior's --" + name +
                                        " " + prior_value + " (--prior " + cfg.prior +
                                        "); the posterior starts from the prior's weights: drop the flag");
        set_flag(cfg, name, prior_value);
    }
    validate_config(cfg);
}

int train_command(const std::vector<std::string>& args, FILE* out, FILE* err) {
    for (const std::string& a : args)
        if (a == "--help" || a == "-h") {
            if (dist::root())
                std::fprintf(out,
                             "usage: gfn train [flags]\n"
                             "       mpirun -np K gfn train [flags]   (a build with make MPI=1)\n\n"
                             "Under mpirun every rank samples its share of the global --batch-size B\n"
                             "(B/K, one more for the first B mod K ranks; B must be at least K) and the\n"
                             "ranks' gradients are averaged by one all-reduce per step; --threads is per\n"
                             "rank, each rank keeps its own replay buffer, rank 0 prints and writes.\n\n"
                             "flags:\n%s",
                             train_flags_help().c_str());
            return 0;
        }
    Config cfg;
    // [distributed] The setup on every rank, agreed on: a bad flag is reported once and every rank exits alike.
    dist::agree([&]() {
        std::vector<std::string> given = parse_train_flags(args, cfg);
        if (cfg.relative() && cfg.prior_from_file() && cfg.resume.empty()) inherit_prior_config(cfg, given);
        if (!cfg.resume.empty()) {
            cfg = resumed_config(cfg, given);
            int world = 1;
            checkpoint_config(cfg.resume, nullptr, &world);
            if (world != dist::size())
                throw std::invalid_argument("--resume " + cfg.resume + ": the checkpoint was written by " +
                                            std::to_string(world) + (world == 1 ? " process" : " ranks") +
                                            " and holds each one's random stream; resume it with mpirun -np " +
                                            std::to_string(world) + " (this job has " +
                                            std::to_string(dist::size()) + ")");
        }
        if (cfg.batch_size < dist::size())
            throw std::invalid_argument("--batch-size " + std::to_string(cfg.batch_size) + ": fewer trajectories than the " +
                                        std::to_string(dist::size()) + " ranks; give at least one per rank");
        if (cfg.loss == "lpv" && cfg.batch_size < 2 * dist::size())
            throw std::invalid_argument("--batch-size: LPV needs at least 2 trajectories per rank");
        if (dist::root()) {
            check_output_paths({{"log", cfg.log, false}, {"plot", cfg.plot, true}, {"save", cfg.save, true}},
                               cfg.resume);
            for (const std::string& target : {cfg.save, cfg.plot})
                if (!target.empty()) remove_stale_temp_files(target);
        }
    });
    // [distributed] Rank 0 prints and writes the log and plot (checkpoints are collective, rank 0 writes).
    std::unique_ptr<FILE, int (*)(FILE*)> devnull(nullptr, &std::fclose);
    if (!dist::root()) {
        devnull.reset(std::fopen("/dev/null", "w"));
        if (!devnull) throw std::runtime_error("cannot open /dev/null");
        out = err = devnull.get();
        cfg.log.clear();
        cfg.plot.clear();
    }

    set_num_threads(cfg.threads);
    std::string warn = blas_check_threading();
    if (!warn.empty()) std::fprintf(err, "%s\n", warn.c_str());
    const bool tty = isatty(fileno(out)) && !cfg.quiet;
    if (!cfg.quiet) {
        std::fprintf(out, "gfn train: seed=%llu threads=%d blas=\"%s\"\n  %s\n", cfg.seed, num_threads(),
                     blas_info().c_str(), describe(cfg).c_str());
        if (dist::size() > 1)
            std::fprintf(out, "data-parallel: %d ranks (MPI), %d to %d trajectories each, %d threads per rank\n",
                         dist::size(), dist::share(cfg.batch_size, dist::size() - 1, dist::size()),
                         dist::share(cfg.batch_size, 0, dist::size()), num_threads());
        if (cfg.relative() && cfg.prior == "tb" && cfg.resume.empty())
            std::fprintf(out, "training the prior: TB on reward '%s' for %d iterations\n", cfg.prior_reward.c_str(),
                         cfg.prior_iterations);
        std::fflush(out);
    }

    Run run(cfg, /*train_prior=*/cfg.resume.empty());
    if (!cfg.resume.empty()) {
        load_checkpoint(run, cfg.resume);
        if (!cfg.quiet) std::fprintf(out, "resumed from %s at iteration %d\n", cfg.resume.c_str(), run.iteration);
    }
    if (!cfg.quiet) std::fprintf(out, "parameters: %zu trained\n", run.store.size());

    TrainCallbacks cb;
    const int start_iteration = run.iteration;
    // Metrics: a file row per logged iteration and per validation (--log), kept for --plot.
    // A resumed run appends to an existing file; its earlier rows up to the
    // checkpoint's iteration go into the plot as well.
    std::unique_ptr<MetricsLogger> logger;
    std::vector<MetricsRow> rows;
    if (!cfg.log.empty()) {
        const bool append = !cfg.resume.empty();
        const bool earlier = append && file_has_content(cfg.log);
        logger = std::make_unique<MetricsLogger>(cfg.log, append);
        if (earlier)
            for (const MetricsRow& r : read_metrics(cfg.log))
                if (r.iteration <= start_iteration) rows.push_back(r);
    }
    const auto wall_start = std::chrono::steady_clock::now();
    auto wall = [&]() { return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count(); };
    auto record = [&](const std::vector<MetricsRow>& rs) {
        rows.insert(rows.end(), rs.begin(), rs.end());
        if (logger) logger->write(rs);
    };
    cb.on_step = [&](Run& r, const StepStats&) {
        if (!r.cfg.save.empty() && r.cfg.save_every > 0 && r.iteration % r.cfg.save_every == 0) {
            check_finite_state(r);
            save_checkpoint(r, r.cfg.save);
        }
    };
    cb.on_log = [&](const Run& r, const StepStats& st, double elapsed) {
        record({train_row(r.iteration, st, wall())});
        if (cfg.quiet) return;
        const int done = r.iteration - start_iteration, total = r.cfg.iterations - start_iteration;
        const double tps = elapsed > 0 ? double(done) * r.cfg.batch_size / elapsed : 0.0;
        const double remaining = done > 0 ? elapsed / done * (total - done) : NAN;
        if (tty) {  // one line, redrawn
            const int width = 24, filled = total > 0 ? width * done / total : width;
            std::fprintf(out, "\r[%s%s] %3d%% iter %d/%d  %s<%s  loss %.4g  logZ %s  %.0f traj/s \033[K",
                         std::string(size_t(filled), '#').c_str(), std::string(size_t(width - filled), '.').c_str(),
                         total > 0 ? 100 * done / total : 100, r.iteration, r.cfg.iterations,
                         clock_str(elapsed).c_str(), clock_str(remaining).c_str(), st.loss,
                         short_num(st.log_z).c_str(), tps);
            if (r.iteration == r.cfg.iterations) std::fprintf(out, "\n");
        } else {
            std::fprintf(out, "iter %6d/%d  loss %.5f  logZ %s  traj/s %.0f  elapsed %s  remaining %s\n", r.iteration,
                         r.cfg.iterations, st.loss, short_num(st.log_z).c_str(), tps, clock_str(elapsed).c_str(),
                         clock_str(remaining).c_str());
        }
        std::fflush(out);
    };
    cb.on_validation = [&](const Run&, const Metrics& m) {
        record(validation_rows(m, wall()));
        if (cfg.quiet) return;
        if (tty) std::fprintf(out, "\r\033[K");
        print_validation(out, m);
    };
    if (cfg.trace) print_trace(run, out);  // at initialisation…
    TrainResult res = train(run, cb);
    if (!cfg.save.empty()) {
        check_finite_state(run);
        save_checkpoint(run, cfg.save);
    }
    if (cfg.trace) print_trace(run, out);  // …and trained
    if (!cfg.plot.empty()) {
        std::string svg = training_curves_svg(rows);
        if (cfg.env == "hypergrid" && cfg.ndim == 2 && !run.targets.empty()) {
            const TargetDistribution& t = run.targets.back();
            std::vector<double> learned = exact_terminating_distribution(*run.env, t, policy_fn(*run.pf));
            svg = combine_svg(svg, heatmaps_svg(cfg.height, t.prob, learned));
        }
        std::vector<double> target_cells, learned_cells;
        std::string title;
        if (dist::root() && diffusion_heatmaps(run, 60, 50000, &target_cells, &learned_cells, &title))
            svg = combine_svg(svg, heatmaps_svg(60, target_cells, learned_cells, title));
        write_file_atomically(cfg.plot, svg);
        if (!cfg.quiet) std::fprintf(out, "plot: %s\n", cfg.plot.c_str());
    }
    if (logger && !cfg.quiet) std::fprintf(out, "metrics: %s\n", cfg.log.c_str());

    // Network flops: 2 per multiply-add forward, twice that backward (input and weight gradients),
    // on the rows the networks evaluated (each distinct state of a rollout once: sampler.h);
    // not shown where they were not counted (StepStats::n_evaluated).
    const double gflop = 6.0 * double(run.macs_per_state()) * double(res.states_evaluated) * 1e-9;
    if (!cfg.quiet) {
        char evaluated[96] = "";
        if (res.states_evaluated < 0)
            std::snprintf(evaluated, sizeof evaluated, " (network rows not counted on this path)");
        else if (res.states_evaluated != res.states_visited)
            std::snprintf(evaluated, sizeof evaluated, " (network on %lld: each rollout's distinct states)",
                          res.states_evaluated);
        char rate[32] = "";
        if (res.states_evaluated >= 0)
            std::snprintf(rate, sizeof rate, ", %.1f GFLOP/s", res.train_seconds > 0 ? gflop / res.train_seconds : 0.0);
        std::fprintf(out,
                     "trained %d iterations in %.3f s (sample %.3f, loss %.3f, backward %.3f, optimizer %.3f); "
                     "%lld states%s%s\n",
                     run.iteration - start_iteration, res.train_seconds, res.phase_seconds.sample,
                     res.phase_seconds.loss, res.phase_seconds.backward, res.phase_seconds.optimize,
                     res.states_visited, evaluated, rate);
        if (dist::size() > 1) {
            const int steps = run.iteration - start_iteration;
            std::fprintf(out, "all-reduce: %.3f s on rank 0 (%.3f ms per step, %zu bytes of gradient)\n",
                         dist::allreduce_seconds(), steps > 0 ? 1e3 * dist::allreduce_seconds() / steps : 0.0,
                         run.store.grads.size() * sizeof(float));
        }
        if (!cfg.save.empty()) std::fprintf(out, "checkpoint: %s\n", cfg.save.c_str());
    } else if (!cfg.json) {
        print_validation(out, res.final_metrics);
    }
    if (cfg.json) print_json(out, res.final_metrics, run.iteration, res.train_seconds);
    std::fflush(out);
    return 0;
}

}  // namespace gfn
