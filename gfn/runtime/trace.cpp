// trace.cpp — see trace.h.
#include "gfn/runtime/trace.h"

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "gfn/estimators/log_probs.h"
#include "gfn/samplers/continuous_sampler.h"
#include "gfn/samplers/sampler.h"
#include "gfn/runtime/training.h"

namespace gfn {

static std::string state_str(const int* s, int D) {
    std::string r = "(";
    for (int d = 0; d < D; ++d) r += (d ? ", " : "") + std::to_string(s[d]);
    return r + ")";
}

static std::string vec_str(const float* v, int D) {
    std::string r = "(";
    char buf[32];
    for (int d = 0; d < D; ++d) {
        std::snprintf(buf, sizeof buf, "%.6g", double(v[d]));
        r += (d ? ", " : "") + std::string(buf);
    }
    return r + ")";
}

// The loss terms of the objective on one trajectory (reduction none), or why there are none.
static void print_loss_terms(Run& run, const Trajectories& traj, FILE* out) {
    try {
        Tape lt;
        NoGrad lng(lt);
        Var terms = run.gflownet->loss(lt, traj, true, Reduction::None);
        std::fprintf(out, "  %s loss terms on this trajectory (reduction none):", run.gflownet->name().c_str());
        for (size_t k = 0; k < terms.value().size(); ++k) std::fprintf(out, " %.6g", terms.value().data[k]);
        std::fprintf(out, "\n");
    } catch (const std::exception& e) {
        std::fprintf(out, "  (no per-trajectory loss: %s)\n", e.what());
    }
}

// A continuous run (--env box, box_cartesian): each step's state, the move taken
// (a vector) or the exit with its log PF — a log-density for a move, log σ(l) for
// a chosen exit, 0 for a forced one — and log PB of the step back (0 when forced
// back to s_0); then the sums, the score and the loss terms as for a discrete run.
static void print_continuous_trace(Run& run, FILE* out) {
    const ContinuousEnv& env = *run.continuous_env;
    const int D = env.state_dim(), A = env.action_dim();
    Rng rng(run.cfg.seed ^ 0x7ace7ace7aceULL, 0x7ace);
    Tape tape;
    NoGrad ng(tape);
    Trajectories drawn;
    sample_continuous_trajectories(env, *run.continuous_pf, 8, 0.f, rng, tape, drawn);
    int longest = 0;
    for (int i = 1; i < drawn.n; ++i)
        if (drawn.lengths[size_t(i)] > drawn.lengths[size_t(longest)]) longest = i;
    Trajectories traj = select_trajectories(drawn, {longest});
    const int L = traj.lengths[0];
    const ContinuousPolicy* pb = run.continuous_pb.get();
    StepLogProbs lp = evaluate_log_probs(tape, traj, *run.continuous_pf, pb, true);
    std::fprintf(out, "trace: one trajectory of %s from the current PF (%d move%s and the exit; log-densities of "
                 "the moves)\n", env.name().c_str(), L - 1, L == 2 ? "" : "s");
    if (!env.action_meaning().empty()) std::fprintf(out, "  (%s)\n", env.action_meaning().c_str());
    double sum_pf = 0, sum_pb = 0;
    for (int t = 0; t < L; ++t) {
        // One trajectory: step t is row t of log_pf; the backward step into s_{t+1} is row t of log_pb.
        const float* s = traj.float_state(t, 0);
        const double lpf = lp.log_pf.value().data[t];
        sum_pf += lpf;
        std::fprintf(out, "  t=%d  s=%s  ", t, vec_str(s, D).c_str());
        if (t == L - 1) {
            std::fprintf(out, "exit%s (log PF %.4f)\n", env.exit_forced(s) ? ", forced" : "", lpf);
            continue;
        }
        const float* next = traj.float_state(t + 1, 0);
        std::fprintf(out, "move a=%s (log PF %.4f) -> %s", vec_str(traj.float_action(t, 0), A).c_str(), lpf,
                     vec_str(next, D).c_str());
        if (lp.log_pb.valid()) {
            const double lpb = lp.log_pb.value().data[t];
            sum_pb += lpb;
            std::fprintf(out, ", log PB(s_t | s_t+1) %.4f%s", lpb,
                         env.backward_forced(next) ? " (forced back to s_0)" : t == 0 ? " (back to s_0)" : "");
        }
        std::fprintf(out, "\n");
    }
    const double log_r = traj.log_rewards[0];
    if (lp.log_pb.valid()) {
        std::fprintf(out, "  log R(x) %.4f   sum log PF %.4f   sum log PB %.4f   score s = %.4f\n", log_r, sum_pf,
                     sum_pb, sum_pf - sum_pb - log_r);
        const double log_z = run.gflownet->log_z();
        if (std::isfinite(log_z))
            std::fprintf(out, "  log Z %.4f   s + log Z = %.4f\n", log_z, sum_pf - sum_pb - log_r + log_z);
    } else {  // a relative objective: no PB; its score needs the prior's log PF (the loss terms below)
        std::fprintf(out, "  log R(x) %.4f   sum log PF %.4f   (no PB: --loss %s)\n", log_r, sum_pf,
                     run.cfg.loss.c_str());
    }
    print_loss_terms(run, traj, out);
}

void print_trace(Run& run, FILE* out) {
    if (run.continuous_env) {
        print_continuous_trace(run, out);
        return;
    }
    const DiscreteEnv& env = *run.env;
    const int D = env.state_dim(), A = env.n_actions();
    Rng rng(run.cfg.seed ^ 0x7ace7ace7aceULL, 0x7ace);
    Tape tape;
    NoGrad ng(tape);
    // The longest of eight draws, so that there are steps to show.
    SampleRequest req;
    req.n = 8;
    Trajectories drawn;
    sample_trajectories(env, *run.pf, nullptr, req, rng, tape, drawn);
    int longest = 0;
    for (int i = 1; i < drawn.n; ++i)
        if (drawn.lengths[size_t(i)] > drawn.lengths[size_t(longest)]) longest = i;
    Trajectories traj = select_trajectories(drawn, {longest});
    const int L = traj.lengths[0];
    std::fprintf(out, "trace: one trajectory of %s from the current PF (%d actions, exit = action %d)\n",
                 env.name().c_str(), L, A - 1);
    if (env.condition_dim() > 0) std::fprintf(out, "  condition c = %g\n", traj.condition(0)[0]);
    double sum_pf = 0, sum_pb = 0;
    for (int t = 0; t < L; ++t) {
        const int* s = traj.state(t, 0);
        const int a = traj.action(t, 0);
        Var lp = run.pf->log_probs(tape, s, traj.condition(0), 1);
        std::fprintf(out, "  t=%d  s=%s  valid actions (log PF):", t, state_str(s, D).c_str());
        for (int j = 0; j < A; ++j)
            if (std::isfinite(lp.value().data[j]))
                std::fprintf(out, " %s%d:%.4f", j == A - 1 ? "exit=" : "", j, lp.value().data[j]);
        const double lpf = lp.value().data[a];
        sum_pf += lpf;
        std::fprintf(out, "\n        take %s (log PF %.4f)", a == A - 1 ? "exit" : std::to_string(a).c_str(), lpf);
        if (a != A - 1 && run.pb) {
            // PB(s_t | s_{t+1}) with the same action index.
            const int* next = traj.state(t + 1, 0);
            Var lb = run.pb->log_probs(tape, next, traj.condition(0), 1);
            sum_pb += lb.value().data[a];
            std::fprintf(out, " -> %s, log PB(s_t | s_t+1) %.4f", state_str(next, D).c_str(), lb.value().data[a]);
        } else if (a != A - 1) {
            std::fprintf(out, " -> %s, log PB 0 (constant PB)", state_str(traj.state(t + 1, 0), D).c_str());
        }
        std::fprintf(out, "\n");
    }
    const double log_r = traj.log_rewards[0];
    std::fprintf(out, "  log R(x) %.4f   sum log PF %.4f   sum log PB %.4f   score s = %.4f\n", log_r, sum_pf, sum_pb,
                 sum_pf - sum_pb - log_r);
    const double log_z = run.gflownet->log_z();
    if (std::isfinite(log_z)) std::fprintf(out, "  log Z %.4f   s + log Z = %.4f\n", log_z, sum_pf - sum_pb - log_r + log_z);
    print_loss_terms(run, traj, out);
}

}  // namespace gfn
