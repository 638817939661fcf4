// sampler.cpp — see sampler.h.
#include "gfn/samplers/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "gfn/samplers/state_index.h"

namespace gfn {

void compute_log_rewards(const DiscreteEnv& env, Trajectories& out) {
    const int D = out.state_dim;
    std::vector<int> x(size_t(out.n) * size_t(D));
    for (int i = 0; i < out.n; ++i) std::memcpy(&x[size_t(i) * D], out.terminal_state(i), sizeof(int) * size_t(D));
    env.log_reward(x.data(), out.conditions.empty() ? nullptr : out.conditions.data(), out.n, out.log_rewards.data());
}

// log p_j = z_j − log Σ_k∈valid e^{z_k}, masked entries −∞ (one row of k).
static void masked_log_softmax_row(float* lp, const float* z, const uint8_t* mask, int k) {
    float mx = -INFINITY;
    for (int j = 0; j < k; ++j)
        if (mask[j] && z[j] > mx) mx = z[j];
    double s = 0.0;
    for (int j = 0; j < k; ++j)
        if (mask[j]) s += std::exp(double(z[j]) - double(mx));
    const float lse = float(double(mx) + std::log(s));
    for (int j = 0; j < k; ++j) lp[j] = mask[j] ? z[j] - lse : -INFINITY;
}

// The recorded path's per-state tables (see sample_trajectories).
struct DistinctTables {
    StateIndex distinct;
    std::vector<float> log_pf;
    std::vector<double> cumulative;
    std::vector<int> cum_at, draws, step_row, row_of;
    void clear(int state_dim) {  // forgets the contents, keeps the memory
        distinct.clear(state_dim);
        log_pf.clear();
        cumulative.clear();
        cum_at.clear();
        draws.clear();
        step_row.clear();
        row_of.clear();
    }
};

void sample_trajectories(const DiscreteEnv& env, const PolicyEstimator& pf, const PolicyEstimator* tied_pb,
                         const SampleRequest& req, Rng& rng, Tape& tape, Trajectories& out) {
    const int n = req.n, D = env.state_dim(), C = env.condition_dim(), A = env.n_actions();
    if (n <= 0) throw std::invalid_argument("sample_trajectories: n must be > 0");
    if (pf.is_backward()) throw std::invalid_argument("sample_trajectories: pf is a backward policy");
    if (req.save_log_probs && req.exploration.epsilon > 0.f)
        throw std::invalid_argument("sample_trajectories: save_log_probs with epsilon = " +
                                    std::to_string(req.exploration.epsilon) +
                                    ": the epsilon-mixed log-probs carry no gradient, so reusing them "
                                    "(recalculate_all_logprobs = false) would train nothing; sample without "
                                    "save_log_probs and compute the loss with recalculate_all_logprobs = true");
    const bool use_tied = req.save_log_probs && tied_pb && tied_pb->kind() == PolicyEstimator::Kind::Tied &&
                          &tied_pb->trunk_owner() == &pf;
    const int T = env.max_trajectory_length();
    out.allocate(n, T, D, C);
    if (C > 0) {
        if (req.conditions) std::memcpy(out.conditions.data(), req.conditions, sizeof(float) * size_t(n) * size_t(C));
        else env.sample_conditions(rng, n, out.conditions.data());
    }

    // The running rows, their current states, conditions and previous actions.
    std::vector<int> rows(static_cast<size_t>(n)), prev(static_cast<size_t>(n), -1), next_rows, next_prev;
    for (int i = 0; i < n; ++i) rows[size_t(i)] = i;
    std::vector<int> cur(size_t(n) * size_t(D)), nxt;
    env.initial_state(cur.data());
    for (int i = 1; i < n; ++i) std::memcpy(&cur[size_t(i) * D], cur.data(), sizeof(int) * size_t(D));
    std::vector<float> cond;
    std::vector<Var> lpf_steps, lpb_steps;
    std::vector<int> acts;
    // The fast path: trunk rows recorded outside the tape, the tape built once at the end.
    const bool record = req.save_log_probs && tape.grad_enabled && req.recording && pf.records_trunk() &&
                        req.exploration.is_default() && C == 0;
    std::vector<float> scratch, logits, lps;
    std::vector<uint8_t> masks;
    if (record) req.recording->clear();
    // The recorded path with req.dedup_states: the trunk runs once per distinct
    // state (the rows of `distinct`, in the order first seen; their log PF in
    // `distinct_lp`), and `step_row` maps each step (in Trajectories' step order)
    // to its state's row.
    // Without saved log-probs (an exploring or off-policy rollout) the same table, with
    // each new state's log PF — exploration included — from a no-grad pass over the
    // step's new states; nothing is recorded.
    const bool unrecorded_dedup = !req.save_log_probs && req.dedup_states && C == 0 &&
                                  pf.kind() != PolicyEstimator::Kind::Uniform;
    const bool dedup = (record && req.dedup_states) || unrecorded_dedup;
    // The tables live on between rollouts (per thread): freed, their memory would go back
    // to the system at the end of each rollout and be faulted in again page by page at the
    // next (Ising 6×6, batch 16: 35,000 page faults in 300 steps instead of 2,800, 4 % of
    // the step).
    thread_local DistinctTables tables;
    StateIndex& distinct = tables.distinct;
    std::vector<float>& distinct_lp = tables.log_pf;
    // A state's first draw reads its log PF (sample_categorical); from its second on,
    // its cumulative weights (categorical_cumulative, computed then, once: the same
    // draws, without an exp per action per visit). Only states drawn twice get them,
    // so an env whose states rarely repeat (Ising) pays nothing for them.
    std::vector<double>& distinct_cum = tables.cumulative;
    std::vector<int>& cum_at = tables.cum_at;  // per distinct row: its offset in distinct_cum (−1: none)
    std::vector<int>& draws = tables.draws;    // per distinct row: draws so far
    std::vector<int>& step_row = tables.step_row;
    std::vector<int>& row_of = tables.row_of;
    if (dedup) tables.clear(D);
    // Without saved log-probs nothing a step puts on the tape outlives it.
    const Tape::Mark step_mark = tape.mark();

    for (int t = 0; !rows.empty(); ++t) {
        if (!req.save_log_probs) tape.rewind(step_mark);
        const int m = int(rows.size());
        if (t >= T)
            throw std::runtime_error("sample_trajectories: a trajectory in " + env.name() + " exceeded " +
                                     std::to_string(T) + " actions (max_trajectory_length)");
        for (int r = 0; r < m; ++r)
            std::memcpy(out.state(t, rows[size_t(r)]), &cur[size_t(r) * D], sizeof(int) * size_t(D));
        const float* cnd = nullptr;
        if (C > 0) {
            cond.resize(size_t(m) * size_t(C));
            for (int r = 0; r < m; ++r)
                std::memcpy(&cond[size_t(r) * C], out.condition(rows[size_t(r)]), sizeof(float) * size_t(C));
            cnd = cond.data();
        }
        // log PF(· | s_t) for the running rows (on the tape only when saving).
        Var lp;
        const float* lpv = nullptr;
        if (dedup) {
            // New states get a row (appended in order), their trunk and log PF; every
            // running row then reads its state's log PF.
            const int u0 = distinct.size();
            row_of.resize(size_t(m));
            for (int r = 0; r < m; ++r) row_of[size_t(r)] = distinct.find_or_insert(&cur[size_t(r) * D]);
            const int fresh = distinct.size() - u0;
            if (fresh > 0) {
                distinct_lp.resize(size_t(distinct.size()) * size_t(A));
                cum_at.resize(size_t(distinct.size()), -1);
                draws.resize(size_t(distinct.size()), 0);
                if (record) {
                    logits.resize(size_t(fresh) * size_t(A));
                    masks.resize(size_t(fresh) * size_t(A));
                    pf.logits_rows(distinct.state(u0), fresh, *req.recording, scratch, logits.data());
                    env.forward_masks(distinct.state(u0), fresh, masks.data());
                    for (int j = 0; j < fresh; ++j)
                        masked_log_softmax_row(&distinct_lp[size_t(u0 + j) * A], &logits[size_t(j) * A],
                                               &masks[size_t(j) * A], A);
                } else {
                    NoGrad ng(tape);
                    const Var lpf = pf.log_probs(tape, distinct.state(u0), nullptr, fresh, req.exploration);
                    std::memcpy(&distinct_lp[size_t(u0) * A], lpf.value().data,
                                sizeof(float) * size_t(fresh) * size_t(A));
                }
            }
            if (record) step_row.insert(step_row.end(), row_of.begin(), row_of.end());
        } else if (record) {
            logits.resize(size_t(m) * size_t(A));
            lps.resize(size_t(m) * size_t(A));
            masks.resize(size_t(m) * size_t(A));
            pf.logits_rows(cur.data(), m, *req.recording, scratch, logits.data());
            env.forward_masks(cur.data(), m, masks.data());
            for (int r = 0; r < m; ++r)
                masked_log_softmax_row(&lps[size_t(r) * A], &logits[size_t(r) * A], &masks[size_t(r) * A], A);
            lpv = lps.data();
        } else {
            GradMode mode(tape, req.save_log_probs);
            Var h = pf.kind() == PolicyEstimator::Kind::Uniform ? Var() : pf.trunk(tape, cur.data(), cnd, m);
            lp = pf.log_probs_from_trunk(h, tape, cur.data(), m, req.exploration);
            if (use_tied && t >= 1) {
                // log PB(s_{t−1} | s_t) on the same trunk activations, action a_{t−1}.
                Var lpb = tied_pb->log_probs_from_trunk(h, tape, cur.data(), m);
                int* a = tape.arena.ints(size_t(m));
                std::memcpy(a, prev.data(), sizeof(int) * size_t(m));
                lpb_steps.push_back(gather(lpb, a));
            }
            lpv = lp.value().data;
        }
        // Sample a_t ~ PF(· | s_t).
        acts.resize(size_t(m));
        if (dedup) {  // the same draws as from each step's own log PF
            for (int r = 0; r < m; ++r) {
                const size_t u = size_t(row_of[size_t(r)]);
                if (draws[u]++ == 0) {
                    acts[size_t(r)] = sample_categorical(rng, &distinct_lp[u * A], A);
                    continue;
                }
                if (cum_at[u] < 0) {
                    cum_at[u] = int(distinct_cum.size() / size_t(A));
                    distinct_cum.resize(distinct_cum.size() + size_t(A));
                    categorical_cumulative(&distinct_lp[u * A], A, &distinct_cum[size_t(cum_at[u]) * A]);
                }
                acts[size_t(r)] = sample_cumulative(rng, &distinct_cum[size_t(cum_at[u]) * A], A);
            }
        } else {
            for (int r = 0; r < m; ++r) acts[size_t(r)] = sample_categorical(rng, lpv + size_t(r) * A, A);
        }
        if (req.save_log_probs && !record) {
            int* a = tape.arena.ints(size_t(m));
            std::memcpy(a, acts.data(), sizeof(int) * size_t(m));
            lpf_steps.push_back(gather(lp, a));
        }
        // Record, stop the exits, step the others.
        next_rows.clear();
        next_prev.clear();
        nxt.clear();
        for (int r = 0; r < m; ++r) {
            const int i = rows[size_t(r)], a = acts[size_t(r)];
            out.actions[size_t(t) * n + i] = a;
            if (a == A - 1) {
                out.lengths[size_t(i)] = t + 1;
            } else {
                next_rows.push_back(i);
                next_prev.push_back(a);
                nxt.insert(nxt.end(), cur.begin() + long(r) * D, cur.begin() + long(r + 1) * D);
            }
        }
        if (!next_rows.empty()) env.step(nxt.data(), next_prev.data(), int(next_rows.size()), nxt.data());
        rows.swap(next_rows);
        prev.swap(next_prev);
        cur.swap(nxt);
    }
    out.index_steps();
    compute_log_rewards(env, out);
    if (record) {
        // The whole rollout on the tape: trunk over every visited state (recorded
        // values), then PF's head and the sampled actions' log-probabilities.
        const int ms = out.n_steps(), mb = out.n_bsteps();
        int* states = tape.arena.ints(size_t(ms) * size_t(D) + 1);
        int* actions = tape.arena.ints(size_t(ms) + 1);
        int* prev_actions = tape.arena.ints(size_t(mb) + 1);
        for (int k = 0; k < ms; ++k) {
            const int t = out.step_t[size_t(k)], i = out.step_traj[size_t(k)];
            std::memcpy(states + size_t(k) * D, out.state(t, i), sizeof(int) * size_t(D));
            actions[k] = out.action(t, i);
        }
        for (int k = 0; k < mb; ++k) prev_actions[k] = out.action(out.bstep_t[size_t(k)] - 1, out.bstep_traj[size_t(k)]);
        Var h = pf.trunk_from_recording(tape, *req.recording);
        out.evaluated_states = req.recording->rows;
        if (dedup) {
            // PF's head over the distinct states, then each step's entry:
            //     log PF(a_k | s_k) = log_softmax(head(h))[row(k), a_k]
            // (gather_at's backward adds the steps' gradients into their state's row).
            const int U = distinct.size();
            int* pf_at = tape.arena.ints(2 * size_t(ms) + 1);  // (row(k), a_k)
            for (int k = 0; k < ms; ++k) pf_at[2 * k] = step_row[size_t(k)], pf_at[2 * k + 1] = actions[k];
            out.saved_log_pf = gather_at(pf.log_probs_from_trunk(h, tape, distinct.state(0), U), pf_at, ms);
            if (use_tied && mb > 0) {
                // Backward steps are the forward steps with t >= 1. s_0, row 0 (every
                // trajectory starts there, and no later state is s_0), has no parent:
                // PB's head runs over rows 1 … U−1.
                int* pb_at = tape.arena.ints(2 * size_t(mb) + 1);
                for (int k = 0; k < mb; ++k) pb_at[2 * k] = step_row[size_t(n + k)] - 1, pb_at[2 * k + 1] = prev_actions[k];
                Var lpb = tied_pb->log_probs_from_trunk(slice_rows(h, 1, U), tape, distinct.state(1), U - 1);
                out.saved_log_pb = gather_at(lpb, pb_at, mb);
            } else if (use_tied) {
                out.saved_log_pb = tape.push(Op::Leaf, 0, 1);  // every trajectory exited at s_0
            }
            return;
        }
        out.saved_log_pf = gather(pf.log_probs_from_trunk(h, tape, states, ms), actions);
        if (use_tied) {
            // Backward steps are the forward steps with t >= 1: rows n … n_steps−1.
            Var hb = slice_rows(h, n, n + mb);
            out.saved_log_pb = gather(tied_pb->log_probs_from_trunk(hb, tape, states + size_t(n) * D, mb), prev_actions);
        }
    } else if (req.save_log_probs) {
        out.saved_log_pf = concat_rows(lpf_steps.data(), int(lpf_steps.size()));
        if (use_tied) {
            if (lpb_steps.empty()) {
                out.saved_log_pb = tape.push(Op::Leaf, 0, 1);  // every trajectory exited at s_0
            } else {
                out.saved_log_pb = concat_rows(lpb_steps.data(), int(lpb_steps.size()));
            }
        }
    }
}

void sample_backward_trajectories(const DiscreteEnv& env, const PolicyEstimator& pb, const int* terminal_states,
                                  int n, const float* conditions, Rng& rng, Tape& tape, Trajectories& out) {
    const int D = env.state_dim(), C = env.condition_dim(), B = env.n_backward_actions();
    if (!pb.is_backward()) throw std::invalid_argument("sample_backward_trajectories: pb is a forward policy");
    if (C > 0 && !conditions)
        throw std::invalid_argument("sample_backward_trajectories: " + env.name() + " needs the conditions of the states");
    const int T = env.max_trajectory_length();
    NoGrad ng(tape);
    // Walk x → … → s_0, remembering the states and the backward actions.
    std::vector<std::vector<int>> path_states(static_cast<size_t>(n)), path_actions(static_cast<size_t>(n));
    std::vector<int> rows, cur, acts;
    for (int i = 0; i < n; ++i) {
        path_states[size_t(i)].assign(terminal_states + size_t(i) * D, terminal_states + size_t(i + 1) * D);
        if (!env.is_initial(terminal_states + size_t(i) * D)) {
            rows.push_back(i);
            cur.insert(cur.end(), terminal_states + size_t(i) * D, terminal_states + size_t(i + 1) * D);
        }
    }
    std::vector<float> cond;
    for (int steps = 0; !rows.empty(); ++steps) {
        if (steps >= T) throw std::runtime_error("sample_backward_trajectories: s_0 not reached within " + std::to_string(T) + " steps");
        const int m = int(rows.size());
        const float* cnd = nullptr;
        if (C > 0 && conditions) {
            cond.resize(size_t(m) * C);
            for (int r = 0; r < m; ++r)
                std::memcpy(&cond[size_t(r) * C], conditions + size_t(rows[size_t(r)]) * C, sizeof(float) * size_t(C));
            cnd = cond.data();
        }
        Var lp = pb.log_probs(tape, cur.data(), cnd, m);
        acts.resize(size_t(m));
        for (int r = 0; r < m; ++r) acts[size_t(r)] = sample_categorical(rng, lp.value().data + size_t(r) * B, B);
        env.backward_step(cur.data(), acts.data(), m, cur.data());
        std::vector<int> keep_rows, keep_cur;
        for (int r = 0; r < m; ++r) {
            const int i = rows[size_t(r)];
            const int* s = &cur[size_t(r) * D];
            path_actions[size_t(i)].push_back(acts[size_t(r)]);
            path_states[size_t(i)].insert(path_states[size_t(i)].end(), s, s + D);
            if (!env.is_initial(s)) {
                keep_rows.push_back(i);
                keep_cur.insert(keep_cur.end(), s, s + D);
            }
        }
        rows.swap(keep_rows);
        cur.swap(keep_cur);
    }
    // Reverse into forward trajectories: s_0 … x, actions then exit.
    int lmax = 0;
    for (int i = 0; i < n; ++i) lmax = std::max(lmax, int(path_actions[size_t(i)].size()) + 1);
    out.allocate(n, lmax, D, C);
    if (C > 0 && conditions) std::memcpy(out.conditions.data(), conditions, sizeof(float) * size_t(n) * size_t(C));
    for (int i = 0; i < n; ++i) {
        const auto& ps = path_states[size_t(i)];
        const auto& pa = path_actions[size_t(i)];
        const int L = int(pa.size()) + 1;
        out.lengths[size_t(i)] = L;
        for (int t = 0; t < L; ++t) {
            const int back = L - 1 - t;  // s_t is the back-th state of the backward walk
            std::memcpy(out.state(t, i), &ps[size_t(back) * D], sizeof(int) * size_t(D));
            out.actions[size_t(t) * n + i] = t == L - 1 ? env.exit_action() : pa[size_t(back - 1)];
        }
    }
    out.index_steps();
    compute_log_rewards(env, out);
}

}  // namespace gfn
