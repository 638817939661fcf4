// trace.cpp — see trace.h.
#include "gfn/runtime/trace.h"

#include <cmath>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "gfn/samplers/sampler.h"
#include "gfn/runtime/training.h"

namespace gfn {

static std::string state_str(const int* s, int D) {
    std::string r = "(";
    for (int d = 0; d < D; ++d) r += (d ? ", " : "") + std::to_string(s[d]);
    return r + ")";
}

void print_trace(Run& run, FILE* out) {
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

}  // namespace gfn
