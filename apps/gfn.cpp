// gfn.cpp — the command-line program: train, sample, eval.
//
// One training step, from here to the Adam update: cmd_train calls
// train_command (gfn/runtime/train_command.cpp), which builds a Run
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
#include "gfn/runtime/distributed.h"
#include "gfn/samplers/continuous_sampler.h"
#include "gfn/samplers/sampler.h"
#include "gfn/runtime/metrics_log.h"
#include "gfn/runtime/plot.h"
#include "gfn/runtime/trace.h"
#include "gfn/runtime/train_command.h"
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
                 "                                training curves of a metrics file (gfn train --log) as SVG\n"
                 "  plot FILE... -o OUT.svg [--metric NAME] [--label A,B,...] [--batch-size B] [--logy] [--title T]\n"
                 "                                one metric (default exact_l1) of several files on one chart\n\n"
                 "`gfn train --help` lists every training flag with its default.\n");
}

static void print_validation(const Metrics& m) { gfn::print_validation(stdout, m); }

static void print_json(const Metrics& m, int iterations, double seconds) {
    gfn::print_json(stdout, m, iterations, seconds);
}

static int cmd_train(const std::vector<std::string>& args) { return train_command(args, stdout, stderr); }

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
    if (run->continuous_env) {  // real vectors: the terminal state (x and the env's counter) and log R
        const ContinuousEnv& env = run->validation_env ? *run->validation_env : *run->continuous_env;
        const int D = env.state_dim();
        std::printf("# state (%d reals)  log_reward\n", D);
        for (long long done = 0; done < n;) {
            const int m = int(std::min<long long>(4096, n - done));
            tape.reset();
            sample_continuous_trajectories(env, *run->continuous_pf, m, 0.f, rng, tape, traj);
            for (int i = 0; i < m; ++i) {
                const float* x = traj.float_terminal_state(i);
                for (int d = 0; d < D; ++d) std::printf("%s%.9g", d ? " " : "", x[d]);
                std::printf("  %.9g\n", traj.log_rewards[size_t(i)]);
            }
            done += m;
        }
        return 0;
    }
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
        throw std::runtime_error("environment " + (run->env ? run->env->name() : run->continuous_env->name()) +
                                 " has no exact target to validate against");
    Metrics m = validate_run(*run);
    print_validation(m);
    if (f.json) print_json(m, run->iteration, NAN);
    return 0;
}

static int cmd_plot(const std::vector<std::string>& args) {
    const OverlayFlags o = parse_overlay_flags(args);
    if (o.help) {
        std::printf("usage: gfn plot FILE.csv|FILE.jsonl [-o OUT.svg]\n"
                    "       gfn plot FILE... [-o OUT.svg] [--metric NAME] [--label A,B,...] [--batch-size B[,B...]] [--logy] [--title TEXT]\n"
                    "the first writes the training curves of a metrics file (gfn train --log) as SVG\n"
                    "(default OUT: FILE with the extension .svg); the second draws one metric of\n"
                    "several files on one chart, a line per file (several files need -o):\n"
                    "  --metric NAME        a column of the files (default exact_l1, else l1):\n"
                    "                       loss, logz, logz_true, l1, exact_l1, jsd, modes_found, ...\n"
                    "  --label A,B,...      legend labels, one per file (default: the file names' stems)\n"
                    "  --batch-size B[,..]  x = iteration x B, trajectories seen (one B for all files or\n"
                    "                       one per file); without it x is the iteration\n"
                    "  --logy               log-scale y axis (values <= 0 are not drawn)\n"
                    "  --title TEXT         the chart's title (default: METRIC against trajectories seen)\n");
        return 0;
    }
    if (o.overlay) {
        write_file_atomically(o.out, overlay_files_svg(o));
        std::printf("%s\n", o.out.c_str());
        return 0;
    }
    const PlotFlags f = parse_plot_flags(args);
    write_file_atomically(f.out, training_curves_svg(read_metrics(f.in)));
    std::printf("%s\n", f.out.c_str());
    return 0;
}

static int run_command(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        usage(args.empty() ? stderr : stdout);
        return args.empty() ? 2 : 0;
    }
    const std::string cmd = args[0];
    args.erase(args.begin());
    // Errors: dist::report_error prints (under mpirun: once) and, mid-run in a
    // job of several ranks, ends the whole job.
    try {
        if (cmd == "train") return cmd_train(args);
        if (cmd == "sample") return cmd_sample(args);
        if (cmd == "eval") return cmd_eval(args);
        if (cmd == "plot") return cmd_plot(args);
        if (dist::root()) std::fprintf(stderr, "gfn: unknown command '%s' (see gfn --help)\n", cmd.c_str());
        return 2;
    } catch (const dist::PeerFailed& e) {
        return e.code;  // another rank failed its setup and said why
    } catch (const std::invalid_argument& e) {
        return dist::report_error("gfn " + cmd + ": error: " + e.what(), 2);
    } catch (const std::exception& e) {
        return dist::report_error("gfn " + cmd + ": error: " + e.what(), 1);
    }
}

int main(int argc, char** argv) {
    // Buffers of 1 MiB and more are mapped and unmapped on their own, so memory
    // a run frees goes back to the system (glibc would otherwise raise this
    // threshold after the first large free and keep such buffers in its heap).
    gfn::adopt_thread_wait_policy(argv);  // before any OpenMP or OpenBLAS call
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    // MPI_Init_thread (FUNNELED) in a build with MPI=1; nothing otherwise.
    dist::init(&argc, &argv);
    const int code = run_command(argc, argv);
    dist::finalize();
    return code;
}
