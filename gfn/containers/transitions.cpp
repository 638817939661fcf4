// transitions.cpp — see transitions.h.
#include "gfn/containers/transitions.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

namespace gfn {

static const float kNaN = std::numeric_limits<float>::quiet_NaN();

void Transitions::allocate(int n_, int state_dim_, int condition_dim_) {
    n = n_;
    state_dim = state_dim_;
    condition_dim = condition_dim_;
    const size_t N = size_t(n), D = size_t(state_dim);
    states.assign(N * D, -1);
    actions.assign(N, -1);
    is_exit.assign(N, 0);
    next_states.assign(N * D, -1);
    conditions.assign(N * size_t(condition_dim), 0.f);
    log_rewards.assign(N, kNaN);
    can_exit.assign(N, 0);
    next_can_exit.assign(N, 0);
    state_log_rewards.clear();
    next_log_rewards.clear();
    next_index.assign(N, -1);
    non_exit.clear();
    traj_index.assign(N, -1);
    drop_saved();
}

void Transitions::index_non_exit() {
    non_exit.clear();
    for (int k = 0; k < n; ++k)
        if (!is_exit[size_t(k)]) non_exit.push_back(k);
}

// The environment's log R at the rows `rows` of `src` (all terminating) into out[rows[j]].
static void log_rewards_at(const DiscreteEnv& env, const std::vector<int>& src, const std::vector<float>& cond,
                           int D, int C, const std::vector<int>& rows, std::vector<float>& out) {
    if (rows.empty()) return;
    const size_t m = rows.size();
    std::vector<int> s(m * size_t(D));
    std::vector<float> c(m * size_t(C));
    for (size_t j = 0; j < m; ++j) {
        std::memcpy(s.data() + j * D, src.data() + size_t(rows[j]) * D, sizeof(int) * size_t(D));
        if (C > 0) std::memcpy(c.data() + j * C, cond.data() + size_t(rows[j]) * C, sizeof(float) * size_t(C));
    }
    std::vector<float> r(m);
    env.log_reward(s.data(), C > 0 ? c.data() : nullptr, int(m), r.data());
    for (size_t j = 0; j < m; ++j) out[size_t(rows[j])] = r[j];
}

void Transitions::compute_state_info(const DiscreteEnv& env, bool state_rewards) {
    if (env.state_dim() != state_dim)
        throw std::invalid_argument("transitions: state_dim " + std::to_string(state_dim) + " does not match " +
                                    env.name() + "'s " + std::to_string(env.state_dim()));
    const int A = env.n_actions(), ex = env.exit_action(), D = state_dim, C = condition_dim;
    index_non_exit();
    // can_exit from the forward masks of every s; next_can_exit from those of the non-exit s'.
    std::vector<uint8_t> mask(size_t(n) * size_t(A) + 1);
    if (n > 0) env.forward_masks(states.data(), n, mask.data());
    can_exit.assign(size_t(n), 0);
    for (int k = 0; k < n; ++k) can_exit[size_t(k)] = mask[size_t(k) * A + ex];
    next_can_exit.assign(size_t(n), 0);
    std::vector<int> lookup;  // non-exit rows whose s' is not another row's s
    for (int k : non_exit) {
        const int j = next_index[size_t(k)];
        if (j >= 0) next_can_exit[size_t(k)] = can_exit[size_t(j)];
        else lookup.push_back(k);
    }
    if (!lookup.empty()) {
        std::vector<int> s(lookup.size() * size_t(D));
        for (size_t j = 0; j < lookup.size(); ++j)
            std::memcpy(s.data() + j * D, next_state(lookup[j]), sizeof(int) * size_t(D));
        std::vector<uint8_t> m(lookup.size() * size_t(A));
        env.forward_masks(s.data(), int(lookup.size()), m.data());
        for (size_t j = 0; j < lookup.size(); ++j) next_can_exit[size_t(lookup[j])] = m[j * A + ex];
    }
    state_log_rewards.clear();
    next_log_rewards.clear();
    if (!state_rewards) return;

    // log R where the state is terminating; NaN elsewhere (never asked of the environment).
    state_log_rewards.assign(size_t(n), kNaN);
    next_log_rewards.assign(size_t(n), kNaN);
    std::vector<int> rows;
    for (int k = 0; k < n; ++k)
        if (can_exit[size_t(k)]) rows.push_back(k);
    log_rewards_at(env, states, conditions, D, C, rows, state_log_rewards);
    rows.clear();
    for (int k : non_exit) {
        if (!next_can_exit[size_t(k)]) continue;
        const int j = next_index[size_t(k)];
        if (j >= 0) next_log_rewards[size_t(k)] = state_log_rewards[size_t(j)];
        else rows.push_back(k);
    }
    log_rewards_at(env, next_states, conditions, D, C, rows, next_log_rewards);
}

Transitions transitions_from(const DiscreteEnv& env, const Trajectories& traj, bool state_rewards) {
    const int m = traj.n_steps(), D = traj.state_dim, C = traj.condition_dim, N = traj.n;
    Transitions tr;
    tr.allocate(m, D, C);
    // step_of[t·N + i]: the step index of (t, i)
    std::vector<int> step_of(size_t(traj.max_length) * size_t(N) + 1, -1);
    for (int k = 0; k < m; ++k)
        step_of[size_t(traj.step_t[size_t(k)]) * N + size_t(traj.step_traj[size_t(k)])] = k;
    for (int k = 0; k < m; ++k) {
        const int t = traj.step_t[size_t(k)], i = traj.step_traj[size_t(k)];
        const bool exit = t == traj.lengths[size_t(i)] - 1;
        std::memcpy(tr.states.data() + size_t(k) * D, traj.state(t, i), sizeof(int) * size_t(D));
        tr.actions[size_t(k)] = traj.action(t, i);
        tr.is_exit[size_t(k)] = exit;
        tr.traj_index[size_t(k)] = i;
        if (C > 0) std::memcpy(tr.conditions.data() + size_t(k) * C, traj.condition(i), sizeof(float) * size_t(C));
        if (exit) {
            tr.log_rewards[size_t(k)] = traj.log_rewards[size_t(i)];
        } else {
            std::memcpy(tr.next_states.data() + size_t(k) * D, traj.state(t + 1, i), sizeof(int) * size_t(D));
            tr.next_index[size_t(k)] = step_of[size_t(t + 1) * N + size_t(i)];
        }
    }
    tr.compute_state_info(env, state_rewards);
    if (tr.n_non_exit() != traj.n_bsteps())
        throw std::logic_error("transitions_from: " + std::to_string(tr.n_non_exit()) +
                               " non-exit transitions but " + std::to_string(traj.n_bsteps()) + " backward steps");
    if (traj.saved_log_pf.valid()) {
        if (traj.saved_log_pf.rows() != m)
            throw std::invalid_argument("transitions_from: saved log PF has " + std::to_string(traj.saved_log_pf.rows()) +
                                        " rows for " + std::to_string(m) + " steps");
        tr.saved_log_pf = traj.saved_log_pf;
    }
    if (traj.saved_log_pb.valid()) {
        if (traj.saved_log_pb.rows() != tr.n_non_exit())
            throw std::invalid_argument("transitions_from: saved log PB has " + std::to_string(traj.saved_log_pb.rows()) +
                                        " rows for " + std::to_string(tr.n_non_exit()) + " backward steps");
        tr.saved_log_pb = traj.saved_log_pb;
    }
    return tr;
}

}  // namespace gfn
