// log_probs.cpp — see log_probs.h.
#include "gfn/estimators/log_probs.h"

#include <cstring>
#include <vector>

#include <stdexcept>

#include "engine/ops.h"
#include "gfn/estimators/continuous_policy.h"

namespace gfn {

// See log_probs.h.
PackedSteps pack_steps(Tape& tape, const Trajectories& traj, bool backward) {
    const std::vector<int>& ts = backward ? traj.bstep_t : traj.step_t;
    const std::vector<int>& is = backward ? traj.bstep_traj : traj.step_traj;
    const int m = int(ts.size()), D = traj.state_dim, C = traj.condition_dim;
    PackedSteps p;
    p.m = m;
    p.states = tape.arena.ints(size_t(m) * size_t(D) + 1);
    p.actions = tape.arena.ints(size_t(m) + 1);
    if (C > 0) p.conditions = tape.arena.floats(size_t(m) * size_t(C));
    for (int k = 0; k < m; ++k) {
        const int t = ts[size_t(k)], i = is[size_t(k)];
        std::memcpy(p.states + size_t(k) * D, traj.state(t, i), sizeof(int) * size_t(D));
        p.actions[k] = traj.action(backward ? t - 1 : t, i);
        if (C > 0) std::memcpy(p.conditions + size_t(k) * C, traj.condition(i), sizeof(float) * size_t(C));
    }
    return p;
}

// Whether a tied PF and PB can run their heads on a batch's distinct states (t:
// the trunk over the forward steps' states, indexed): s_0 is the distinct state 0
// (the n forward steps at t = 0 are the first ones) and no backward step — forward
// step n + k for k < mb — is at it, so PB's rows are the distinct states 1 … U − 1,
// each with a parent.
static bool heads_on_distinct_rows(const IndexedTrunk& t, int n, int mb) {
    if (t.rows < 2) return false;
    for (int k = 0; k < n; ++k)
        if (t.row_of[k] != 0) return false;
    for (int k = 0; k < mb; ++k)
        if (t.row_of[n + k] < 1) return false;
    return true;
}

// gather_at's (row, column) pairs: (row_of[k] − shift, actions[k]), k < m, in the arena.
static const int* row_action_pairs(Tape& tape, const int* row_of, int shift, const int* actions, int m) {
    int* at = tape.arena.ints(2 * size_t(m) + 1);
    for (int k = 0; k < m; ++k) at[2 * k] = row_of[k] - shift, at[2 * k + 1] = actions[k];
    return at;
}

static StepLogProbs evaluate_discrete(Tape& tape, const Trajectories& traj, const PolicyEstimator& pf,
                                      const PolicyEstimator* pb, bool recalculate_all_logprobs) {
    StepLogProbs out;
    const bool reuse_pf = !recalculate_all_logprobs && traj.saved_log_pf.valid();
    const bool reuse_pb = pb && traj.saved_log_pb.valid() && pb->kind() == PolicyEstimator::Kind::Tied;
    const bool share_trunk = pb && !reuse_pf && !reuse_pb && pb->kind() == PolicyEstimator::Kind::Tied &&
                             &pb->trunk_owner() == &pf;
    const int ms = traj.n_steps(), mb = traj.n_bsteps();

    Var h_all;         // trunk over every step's state, when PF and PB share it
    IndexedTrunk rows;  // ... or over the distinct states, with both heads on those rows
    if (reuse_pf) {
        out.log_pf = traj.saved_log_pf;
    } else if (share_trunk) {
        PackedSteps s = pack_steps(tape, traj, false);
        rows = pf.trunk_indexed(tape, s.states, s.conditions, ms);
        if (rows.row_of && heads_on_distinct_rows(rows, traj.n, mb)) {
            // log PF(a_k | s_k) = log_probs(u)[row(k), a_k] over the distinct states u
            out.log_pf = gather_at(pf.log_probs_from_trunk(rows.h, tape, rows.states, rows.rows),
                                   row_action_pairs(tape, rows.row_of, 0, s.actions, ms), ms);
        } else {
            h_all = rows.index(rows.h);
            rows = IndexedTrunk();
            out.log_pf = gather(pf.log_probs_from_trunk(h_all, tape, s.states, ms), s.actions);
        }
    } else {
        // Each policy on its own: its whole network once per distinct state (log_probs_of).
        PackedSteps s = pack_steps(tape, traj, false);
        out.log_pf = pf.log_probs_of(tape, s.states, s.conditions, s.actions, ms);
    }
    if (!pb) return out;
    if (reuse_pb) {
        out.log_pb = traj.saved_log_pb;
        return out;
    }
    // Backward step (t, i) takes state s_t and action a_{t−1}.
    PackedSteps b = pack_steps(tape, traj, true);
    if (share_trunk && rows.valid()) {
        // PB on the distinct states but s_0 (row 0, which has no parent): rows 1 … U − 1.
        // Backward step k is forward step n + k (below).
        const int D = traj.state_dim;
        Var lp = pb->log_probs_from_trunk(slice_rows(rows.h, 1, rows.rows), tape, rows.states + size_t(D),
                                          rows.rows - 1);
        out.log_pb = gather_at(lp, row_action_pairs(tape, rows.row_of + traj.n, 1, b.actions, mb), mb);
    } else if (share_trunk) {
        // Backward steps are the forward steps with t >= 1, in the same order:
        // the first n forward steps are the t = 0 ones.
        Var h = slice_rows(h_all, traj.n, traj.n + mb);
        out.log_pb = gather(pb->log_probs_from_trunk(h, tape, b.states, mb), b.actions);
    } else {
        out.log_pb = pb->log_probs_of(tape, b.states, b.conditions, b.actions, mb);
    }
    return out;
}

// log p of a continuous batch's steps (forward: state s_t, action a_t, exit
// at t = L_i − 1) or backward steps (state s_t, action a_{t−1}, never an exit).
static Var continuous_log_probs(Tape& tape, const Trajectories& traj, const ContinuousPolicy& p) {
    const bool bw = p.is_backward();
    const std::vector<int>& ts = bw ? traj.bstep_t : traj.step_t;
    const std::vector<int>& is = bw ? traj.bstep_traj : traj.step_traj;
    const int m = int(ts.size()), D = traj.state_dim, A = traj.action_dim;
    float* states = tape.arena.floats(size_t(m) * D + 1);
    float* actions = tape.arena.floats(size_t(m) * A + 1);
    uint8_t* is_exit = tape.arena.bytes(size_t(m) + 1);
    for (int k = 0; k < m; ++k) {
        const int t = ts[size_t(k)], i = is[size_t(k)];
        std::memcpy(states + size_t(k) * D, traj.float_state(t, i), sizeof(float) * size_t(D));
        std::memcpy(actions + size_t(k) * A, traj.float_action(bw ? t - 1 : t, i), sizeof(float) * size_t(A));
        is_exit[k] = !bw && t == traj.lengths[size_t(i)] - 1;
    }
    return p.log_prob(tape, states, actions, bw ? nullptr : is_exit, m);
}

StepLogProbs evaluate_log_probs(Tape& tape, const Trajectories& traj, const Policy& pf, const Policy* pb,
                                bool recalculate_all_logprobs) {
    const ActionKind kind = traj.is_continuous() ? ActionKind::Continuous : ActionKind::Discrete;
    if (pf.action_kind() != kind || (pb && pb->action_kind() != kind))
        throw std::invalid_argument(std::string("evaluate_log_probs: a ") +
                                    (kind == ActionKind::Continuous ? "continuous" : "discrete") +
                                    " batch needs policies of the same kind");
    if (kind == ActionKind::Discrete)
        return evaluate_discrete(tape, traj, static_cast<const PolicyEstimator&>(pf),
                                 static_cast<const PolicyEstimator*>(pb), recalculate_all_logprobs);
    StepLogProbs out;
    out.log_pf = !recalculate_all_logprobs && traj.saved_log_pf.valid()
                     ? traj.saved_log_pf
                     : continuous_log_probs(tape, traj, static_cast<const ContinuousPolicy&>(pf));
    if (pb) out.log_pb = continuous_log_probs(tape, traj, static_cast<const ContinuousPolicy&>(*pb));
    return out;
}

Var sum_per_trajectory(const Trajectories& traj, Var step_values) {
    return segment_sum(step_values, traj.step_traj.data(), traj.n);
}

Var sum_per_trajectory_backward(const Trajectories& traj, Var bstep_values) {
    return segment_sum(bstep_values, traj.bstep_traj.data(), traj.n);
}

}  // namespace gfn
