// soft_rl.cpp — see soft_rl.h.
#include "gfn/objectives/soft_rl.h"

#include <stdexcept>
#include <string>

namespace gfn {

std::vector<int> next_step_index(const Trajectories& traj) {
    const int m = traj.n_steps();
    // where[t·n + i] = k for step k = (t, i)
    std::vector<int> where(size_t(traj.max_length) * size_t(traj.n) + 1, -1);
    for (int k = 0; k < m; ++k)
        where[size_t(traj.step_t[size_t(k)]) * size_t(traj.n) + size_t(traj.step_traj[size_t(k)])] = k;
    std::vector<int> next(size_t(m), -1);
    for (int k = 0; k < m; ++k) {
        const int t = traj.step_t[size_t(k)], i = traj.step_traj[size_t(k)];
        if (t + 1 < traj.lengths[size_t(i)]) next[size_t(k)] = where[size_t(t + 1) * size_t(traj.n) + size_t(i)];
    }
    return next;
}

std::vector<double> soft_step_rewards(const Trajectories& traj, const float* log_pb, const float* log_rewards) {
    const int m = traj.n_steps();
    std::vector<double> r(size_t(m), 0.0);
    std::vector<int> next = next_step_index(traj);
    for (int k = 0; k < m; ++k)
        if (next[size_t(k)] < 0) r[size_t(k)] = double(log_rewards[traj.step_traj[size_t(k)]]);
    if (log_pb) {
        // Backward step (t, i), t >= 1, is PB(s_{t−1} | s_t): the reward of forward step (t − 1, i).
        std::vector<int> where(size_t(traj.max_length) * size_t(traj.n) + 1, -1);
        for (int k = 0; k < m; ++k)
            where[size_t(traj.step_t[size_t(k)]) * size_t(traj.n) + size_t(traj.step_traj[size_t(k)])] = k;
        for (int b = 0; b < traj.n_bsteps(); ++b) {
            const int t = traj.bstep_t[size_t(b)], i = traj.bstep_traj[size_t(b)];
            r[size_t(where[size_t(t - 1) * size_t(traj.n) + size_t(i)])] = double(log_pb[b]);
        }
    }
    return r;
}

std::vector<double> soft_step_returns(const std::vector<double>& rewards, const float* log_pf) {
    std::vector<double> g(rewards.size());
    for (size_t k = 0; k < g.size(); ++k) g[k] = rewards[k] - double(log_pf[k]);
    return g;
}

std::vector<double> reward_to_go(const Trajectories& traj, const std::vector<double>& g) {
    // Steps are time-major, so walking them backwards visits (t + 1, i) before (t, i).
    std::vector<int> next = next_step_index(traj);
    std::vector<double> rtg(g.size());
    for (int k = int(g.size()) - 1; k >= 0; --k)
        rtg[size_t(k)] = g[size_t(k)] + (next[size_t(k)] >= 0 ? rtg[size_t(next[size_t(k)])] : 0.0);
    return rtg;
}

std::vector<double> soft_td_residuals(const Trajectories& traj, const std::vector<double>& g, const float* values) {
    std::vector<int> next = next_step_index(traj);
    std::vector<double> d(g.size());
    for (size_t k = 0; k < g.size(); ++k) {
        const double v_next = next[k] >= 0 ? double(values[next[k]]) : 0.0;
        d[k] = g[k] + v_next - double(values[k]);
    }
    return d;
}

std::vector<double> gae_advantages(const Trajectories& traj, const std::vector<double>& g, const float* values,
                                   double lambda) {
    if (!(lambda >= 0.0 && lambda <= 1.0))
        throw std::invalid_argument("GAE: lambda must be in [0, 1] (--gae-lambda), got " + std::to_string(lambda));
    std::vector<int> next = next_step_index(traj);
    std::vector<double> d = soft_td_residuals(traj, g, values);
    std::vector<double> a(g.size());
    for (int k = int(g.size()) - 1; k >= 0; --k)
        a[size_t(k)] = d[size_t(k)] + (next[size_t(k)] >= 0 ? lambda * a[size_t(next[size_t(k)])] : 0.0);
    return a;
}

}  // namespace gfn
