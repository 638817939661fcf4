// continuous_sampler.cpp — see continuous_sampler.h.
#include "gfn/samplers/continuous_sampler.h"

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/ops.h"

namespace gfn {

void sample_continuous_trajectories(const ContinuousEnv& env, const ContinuousPolicy& pf, int n,
                                    float exploration_std, Rng& rng, Tape& tape, Trajectories& out,
                                    bool save_log_pf) {
    if (pf.is_backward()) throw std::invalid_argument("sample_continuous_trajectories: pf is a backward policy");
    const int D = env.state_dim(), A = env.action_dim(), T = env.max_trajectory_length();
    GradMode gm(tape, save_log_pf);
    out.allocate_continuous(n, T, D, A);
    out.drop_saved();
    std::vector<int> running(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) running[size_t(i)] = i;
    // cur holds the running rows' states (row k: trajectory running[k]).
    std::vector<float> cur(size_t(n) * D), act(size_t(n) * A), next(size_t(n) * D);
    std::vector<float> moved_states, moved_actions;
    std::vector<uint8_t> is_exit(static_cast<size_t>(n));
    std::vector<Var> step_log_pf;  // per t: (m_t, 1) over the running rows, in order = the steps at t
    for (int i = 0; i < n; ++i) env.initial_state(cur.data() + size_t(i) * D);
    for (int t = 0; !running.empty(); ++t) {
        if (t == T)
            throw std::runtime_error(env.name() + ": a trajectory ran past max_trajectory_length (" +
                                     std::to_string(T) + ") without exiting");
        const int m = int(running.size());
        const float* a_rows = act.data();
        if (save_log_pf) {
            // States and actions in the arena: they must outlive the tape's use of them.
            float* st = tape.arena.floats(size_t(m) * D + 1);
            std::memcpy(st, cur.data(), sizeof(float) * size_t(m) * D);
            float* ac = tape.arena.floats(size_t(m) * A + 1);
            step_log_pf.push_back(pf.sample_and_log_prob(tape, st, m, exploration_std, rng, ac, is_exit.data()));
            a_rows = ac;
        } else {
            pf.sample(tape, cur.data(), m, exploration_std, rng, act.data(), is_exit.data());
        }
        int n_exit = 0;
        for (int k = 0; k < m; ++k) {
            const int i = running[size_t(k)];
            std::memcpy(out.float_state(t, i), cur.data() + size_t(k) * D, sizeof(float) * size_t(D));
            if (is_exit[size_t(k)]) {
                out.lengths[size_t(i)] = t + 1;
                ++n_exit;
                continue;
            }
            std::memcpy(out.float_action(t, i), a_rows + size_t(k) * A, sizeof(float) * size_t(A));
        }
        if (n_exit == m) break;
        const float* from = cur.data();
        if (n_exit > 0) {  // keep the rows that moved, in order
            std::vector<int> still;
            moved_states.clear();
            moved_actions.clear();
            for (int k = 0; k < m; ++k) {
                if (is_exit[size_t(k)]) continue;
                still.push_back(running[size_t(k)]);
                moved_states.insert(moved_states.end(), cur.begin() + size_t(k) * D, cur.begin() + size_t(k + 1) * D);
                moved_actions.insert(moved_actions.end(), a_rows + size_t(k) * A, a_rows + size_t(k + 1) * A);
            }
            running.swap(still);
            from = moved_states.data();
            a_rows = moved_actions.data();
        }
        env.step(from, a_rows, int(running.size()), next.data());
        cur.swap(next);
    }
    std::vector<float> x(size_t(n) * D);
    for (int i = 0; i < n; ++i)
        std::memcpy(x.data() + size_t(i) * D, out.float_terminal_state(i), sizeof(float) * size_t(D));
    env.log_reward(x.data(), n, out.log_rewards.data());
    out.index_steps();
    if (save_log_pf)
        out.saved_log_pf = step_log_pf.size() == 1 ? step_log_pf[0]
                                                   : concat_rows(step_log_pf.data(), int(step_log_pf.size()));
}

void sample_continuous_backward_trajectories(const ContinuousEnv& env, const ContinuousPolicy& pb,
                                             const float* terminal_states, int n, Rng& rng, Tape& tape,
                                             Trajectories& out) {
    if (!pb.is_backward()) throw std::invalid_argument("sample_continuous_backward_trajectories: pb is a forward policy");
    const int D = env.state_dim(), A = env.action_dim(), T = env.max_trajectory_length();
    NoGrad ng(tape);
    // Walk back, keeping each row's states x = u_0, u_1, …, s_0 and moves b_0, b_1, …
    std::vector<std::vector<float>> path_states(static_cast<size_t>(n)), path_moves(static_cast<size_t>(n));
    std::vector<int> running;
    for (int i = 0; i < n; ++i) {
        const float* x = terminal_states + size_t(i) * D;
        path_states[size_t(i)].assign(x, x + D);
        if (!env.exit_allowed(x))
            throw std::invalid_argument(env.name() + ": backward sampling from a state that cannot exit (row " +
                                        std::to_string(i) + ")");
        if (!env.is_initial(x)) running.push_back(i);
    }
    std::vector<float> cur(size_t(n) * D), act(size_t(n) * A), prev(size_t(n) * D);
    std::vector<uint8_t> is_exit(static_cast<size_t>(n));
    for (int steps = 0; !running.empty(); ++steps) {
        if (steps == T)
            throw std::runtime_error(env.name() + ": a backward trajectory did not reach s_0 within " +
                                     std::to_string(T) + " actions");
        const int m = int(running.size());
        for (int k = 0; k < m; ++k) {
            const std::vector<float>& ps = path_states[size_t(running[size_t(k)])];
            std::memcpy(cur.data() + size_t(k) * D, ps.data() + ps.size() - size_t(D), sizeof(float) * size_t(D));
        }
        pb.sample(tape, cur.data(), m, 0.f, rng, act.data(), is_exit.data());
        env.backward_step(cur.data(), act.data(), m, prev.data());
        std::vector<int> still;
        for (int k = 0; k < m; ++k) {
            const int i = running[size_t(k)];
            const float* p = prev.data() + size_t(k) * D;
            path_states[size_t(i)].insert(path_states[size_t(i)].end(), p, p + D);
            path_moves[size_t(i)].insert(path_moves[size_t(i)].end(), act.begin() + size_t(k) * A,
                                         act.begin() + size_t(k + 1) * A);
            if (!env.is_initial(p)) still.push_back(i);
        }
        running.swap(still);
    }
    // Reversed: s_t = u_{M−t}, a_t = b_{M−1−t} (the move undone there), exit at t = M.
    out.allocate_continuous(n, T, D, A);
    for (int i = 0; i < n; ++i) {
        const int M = int(path_moves[size_t(i)].size()) / A;
        for (int t = 0; t <= M; ++t)
            std::memcpy(out.float_state(t, i), path_states[size_t(i)].data() + size_t(M - t) * D,
                        sizeof(float) * size_t(D));
        for (int t = 0; t < M; ++t)
            std::memcpy(out.float_action(t, i), path_moves[size_t(i)].data() + size_t(M - 1 - t) * A,
                        sizeof(float) * size_t(A));
        out.lengths[size_t(i)] = M + 1;
    }
    env.log_reward(terminal_states, n, out.log_rewards.data());
    out.index_steps();
}

}  // namespace gfn
