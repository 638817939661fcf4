// detailed_balance.cpp — see detailed_balance.h.
#include "gfn/objectives/detailed_balance.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/ops.h"

namespace gfn {

static const RegressionLoss kSquared(LossKind::Squared);

// ---- shared: the network rows of a batch of transitions -------------------------------
//
// Networks run once over the rows P = [s_0 … s_{n−1}; the s' that no transition holds as
// its s]. With transitions made from trajectories every s' is some s_{k'} (next_index),
// so P is just the n states and log F / PF at s' are rows of the same evaluation.
// Every array lives in the tape's arena: the ops keep pointers to them until backward.
struct Rows {
    int n_rows = 0;
    int* states = nullptr;         // (n_rows, D)
    float* conditions = nullptr;   // (n_rows, C), null when unconditional
    int* actions = nullptr;        // (n): a of every transition
    int* s_rows = nullptr;         // (n): 0 … n−1
    int* non_exit = nullptr;       // (m): the non-exit transitions k
    int* next_rows = nullptr;      // (m): the row of P holding s' of non_exit[j]
    int* next_states = nullptr;    // (m, D): s' of the non-exit transitions
    float* next_conditions = nullptr;  // (m, C)
    int* next_actions = nullptr;   // (m): a of the non-exit transitions (PB's action at s')
    std::vector<int> extra;        // the transition k whose s' is row n + e
};

static Rows pack_rows(Tape& tape, const Transitions& tr) {
    const int n = tr.n, m = tr.n_non_exit(), D = tr.state_dim, C = tr.condition_dim;
    Rows P;
    for (int k : tr.non_exit)
        if (tr.next_index[size_t(k)] < 0) P.extra.push_back(k);
    P.n_rows = n + int(P.extra.size());
    const size_t R = size_t(P.n_rows);
    P.states = tape.arena.ints(R * size_t(D) + 1);
    P.actions = tape.arena.ints(size_t(n) + 1);
    P.s_rows = tape.arena.ints(size_t(n) + 1);
    P.non_exit = tape.arena.ints(size_t(m) + 1);
    P.next_rows = tape.arena.ints(size_t(m) + 1);
    P.next_states = tape.arena.ints(size_t(m) * size_t(D) + 1);
    P.next_actions = tape.arena.ints(size_t(m) + 1);
    if (C > 0) {
        P.conditions = tape.arena.floats(R * size_t(C));
        P.next_conditions = tape.arena.floats(size_t(m) * size_t(C) + 1);
    }
    std::memcpy(P.states, tr.states.data(), sizeof(int) * size_t(n) * size_t(D));
    if (C > 0) std::memcpy(P.conditions, tr.conditions.data(), sizeof(float) * size_t(n) * size_t(C));
    for (size_t e = 0; e < P.extra.size(); ++e) {
        const int k = P.extra[e];
        std::memcpy(P.states + (size_t(n) + e) * D, tr.next_state(k), sizeof(int) * size_t(D));
        if (C > 0) std::memcpy(P.conditions + (size_t(n) + e) * C, tr.condition(k), sizeof(float) * size_t(C));
    }
    for (int k = 0; k < n; ++k) {
        P.actions[k] = tr.actions[size_t(k)];
        P.s_rows[k] = k;
    }
    int e = 0;
    for (int j = 0; j < m; ++j) {
        const int k = tr.non_exit[size_t(j)], next = tr.next_index[size_t(k)];
        P.non_exit[j] = k;
        P.next_rows[j] = next >= 0 ? next : n + e++;
        P.next_actions[j] = tr.actions[size_t(k)];
        std::memcpy(P.next_states + size_t(j) * D, tr.next_state(k), sizeof(int) * size_t(D));
        if (C > 0) std::memcpy(P.next_conditions + size_t(j) * C, tr.condition(k), sizeof(float) * size_t(C));
    }
    return P;
}

// The rows of v (over P) that belong to the n states s.
static Var s_part(Var v, const Rows& P, int n) { return P.n_rows == n ? v : index_rows(v, P.s_rows, n); }

static std::string state_str(const int* s, int D) {
    std::string out = "(";
    for (int d = 0; d < D; ++d) out += (d ? ", " : "") + std::to_string(s[d]);
    return out + ")";
}

static bool owns_trunk(const PolicyEstimator& p) {
    return p.kind() == PolicyEstimator::Kind::Mlp || p.kind() == PolicyEstimator::Kind::Conditional;
}

static void check_transitions(const char* who, const Transitions& tr, const PolicyEstimator& pf) {
    if (tr.n <= 0) throw std::invalid_argument(std::string(who) + ": the batch has no transitions");
    if (tr.state_dim != pf.env().state_dim())
        throw std::invalid_argument(std::string(who) + ": transitions of state_dim " + std::to_string(tr.state_dim) +
                                    " for environment " + pf.env().name());
    if (tr.saved_log_pf.valid() && tr.saved_log_pf.rows() != tr.n)
        throw std::invalid_argument(std::string(who) + ": saved log PF has " +
                                    std::to_string(tr.saved_log_pf.rows()) + " rows for " + std::to_string(tr.n) +
                                    " transitions");
    if (tr.saved_log_pb.valid() && tr.saved_log_pb.rows() != tr.n_non_exit())
        throw std::invalid_argument(std::string(who) + ": saved log PB has " +
                                    std::to_string(tr.saved_log_pb.rows()) + " rows for " +
                                    std::to_string(tr.n_non_exit()) + " non-exit transitions");
}

// log PB(s | s') of the non-exit transitions, (m, 1). h: PF's trunk over P, or invalid.
static Var non_exit_log_pb(Tape& tape, const Transitions& tr, const Rows& P, const PolicyEstimator& pf,
                           const PolicyEstimator& pb, Var h) {
    const int m = tr.n_non_exit();
    if (tr.saved_log_pb.valid() && pb.kind() == PolicyEstimator::Kind::Tied) return tr.saved_log_pb;
    if (h.valid() && pb.kind() == PolicyEstimator::Kind::Tied && &pb.trunk_owner() == &pf)
        return gather(pb.log_probs_from_trunk(index_rows(h, P.next_rows, m), tape, P.next_states, m), P.next_actions);
    return pb.log_probs_of(tape, P.next_states, P.next_conditions, P.next_actions, m);
}

// A log-reward that the objective is about to use: finite after the clip, or an error.
static float checked_log_reward(float r, float clip_min, const std::string& what) {
    if (std::isnan(r) || r == INFINITY)
        throw std::domain_error(what + " is " + std::to_string(r) + ": rewards must be finite and >= 0");
    if (std::isfinite(clip_min) && r < clip_min) r = clip_min;
    if (!std::isfinite(r))
        throw std::domain_error(what + " is -inf (reward 0): set log_reward_clip_min (--log-reward-clip-min) to a "
                                "finite value, e.g. -100");
    return r;
}

// ---- DB ----------------------------------------------------------------------------

DBGFlowNet::DBGFlowNet(const PolicyEstimator* pf, const PolicyEstimator* pb, const StateFlowEstimator* logF_,
                       bool forward_looking_, bool constant_pb, float clip, std::optional<RegressionLoss> g)
    : TrajectoryBasedGFlowNet(pf, pb, constant_pb, clip, g.value_or(kSquared)), logF(logF_),
      forward_looking(forward_looking_) {
    if (!logF) throw std::invalid_argument("DB: a log F estimator (logF) is required");
}

Var DBGFlowNet::transition_scores(Tape& tape, const Transitions& tr, bool recalc, const float* custom) const {
    // logF(s) + log PF(a|s) − [log PB(s|s') + logF(s')]   (non-exit)
    // logF(s) + log PF(a|s) − log R(s)                    (exit)
    check_transitions("DB", tr, *pf);
    const int n = tr.n, m = tr.n_non_exit();
    const std::string env_name = pf->env().name();
    Rows P = pack_rows(tape, tr);

    const bool reuse_pf = !recalc && tr.saved_log_pf.valid();
    const bool reuse_pb = pb && tr.saved_log_pb.valid() && pb->kind() == PolicyEstimator::Kind::Tied;
    const bool pb_shares = pb && m > 0 && !reuse_pb && pb->kind() == PolicyEstimator::Kind::Tied &&
                           &pb->trunk_owner() == pf;
    const bool f_shares = logF->is_tied() && logF->tied_to() == pf;
    Var h;  // PF's trunk over P, computed once for PF, a tied PB and a tied log F
    if (owns_trunk(*pf) && (!reuse_pf || pb_shares || f_shares)) h = pf->trunk(tape, P.states, P.conditions, P.n_rows);

    Var log_pf = reuse_pf ? tr.saved_log_pf
                          : gather(pf->log_probs_from_trunk(h.valid() ? s_part(h, P, n) : Var(), tape, P.states, n),
                                   P.actions);

    Var F = f_shares ? logF->forward_from_trunk(h) : logF->forward(tape, P.states, P.conditions, P.n_rows);
    if (forward_looking) {
        // logF(s) = logF̃(s) + log R(s) at every row of P.
        if (!tr.has_state_log_rewards())
            throw std::invalid_argument("DB (forward-looking): the transitions carry no state rewards; build them "
                                        "with transitions_from(env, trajectories, true)");
        float* lr = tape.arena.floats(size_t(P.n_rows));
        for (int row = 0; row < P.n_rows; ++row) {
            const bool is_s = row < n;
            const int k = is_s ? row : P.extra[size_t(row - n)];
            const bool term = is_s ? tr.can_exit[size_t(k)] : tr.next_can_exit[size_t(k)];
            if (!term)
                throw std::invalid_argument(
                    "DB (forward-looking): state " + state_str(is_s ? tr.state(k) : tr.next_state(k), tr.state_dim) +
                    " of environment " + env_name +
                    " is not terminating (its exit is invalid), and forward-looking DB needs a reward at every "
                    "state; use DB without forward_looking");
            lr[row] = checked_log_reward(is_s ? tr.state_log_rewards[size_t(k)] : tr.next_log_rewards[size_t(k)],
                                         log_reward_clip_min, "forward-looking DB: log-reward of state " +
                                             state_str(is_s ? tr.state(k) : tr.next_state(k), tr.state_dim));
        }
        F = add(F, tape.constant(Tensor(lr, P.n_rows, 1)));
    }

    // log R at the exits, 0 elsewhere.
    float* target = tape.arena.zeros(size_t(n));
    for (int k = 0; k < n; ++k)
        if (tr.is_exit[size_t(k)])
            target[k] = checked_log_reward(custom ? custom[k] : tr.log_rewards[size_t(k)], log_reward_clip_min,
                                           "log-reward of transition " + std::to_string(k));

    Var r = add(s_part(F, P, n), log_pf);
    if (m > 0) {
        // log PB(s|s') + logF(s'), scattered onto the non-exit rows.
        Var back = index_rows(F, P.next_rows, m);
        if (pb) back = add(back, non_exit_log_pb(tape, tr, P, *pf, *pb, h));
        r = sub(r, segment_sum(back, P.non_exit, n));
    }
    return sub(r, tape.constant(Tensor(target, n, 1)));
}

Var DBGFlowNet::loss_on_transitions(Tape& tape, const Transitions& tr, bool recalc, Reduction red,
                                    const float* log_rewards) const {
    return reduce(loss_fn(transition_scores(tape, tr, recalc, log_rewards)), red);
}

Var DBGFlowNet::loss(Tape& tape, const Trajectories& traj, bool recalc, Reduction red, const float* lr) const {
    Transitions tr = transitions_from(pf->env(), traj, forward_looking);
    std::vector<float> custom;
    if (lr) {
        // One value per trajectory → the exit transition of that trajectory.
        custom.assign(size_t(tr.n), std::numeric_limits<float>::quiet_NaN());
        for (int k = 0; k < tr.n; ++k)
            if (tr.is_exit[size_t(k)]) custom[size_t(k)] = lr[tr.traj_index[size_t(k)]];
    }
    return loss_on_transitions(tape, tr, recalc, red, lr ? custom.data() : nullptr);
}

// ---- ModifiedDB ----------------------------------------------------------------------

ModifiedDBGFlowNet::ModifiedDBGFlowNet(const PolicyEstimator* pf, const PolicyEstimator* pb, bool constant_pb,
                                       std::optional<RegressionLoss> g)
    : TrajectoryBasedGFlowNet(pf, pb, constant_pb, kNoClip, g.value_or(kSquared)) {}

Var ModifiedDBGFlowNet::transition_scores(Tape& tape, const Transitions& tr, bool recalc) const {
    // [log R(s) + log PF(a|s) + log PF(exit|s')] − [log R(s') + log PB(s|s') + log PF(exit|s)]
    check_transitions("ModifiedDB", tr, *pf);
    const int m = tr.n_non_exit(), D = tr.state_dim;
    const std::string env_name = pf->env().name();
    if (!tr.has_state_log_rewards())
        throw std::invalid_argument("ModifiedDB: the transitions carry no state rewards; build them with "
                                    "transitions_from(env, trajectories, true)");
    // Every state must be terminating: s and s' of every non-exit transition have a valid exit.
    float* dr = tape.arena.floats(size_t(m) + 1);  // log R(s) − log R(s')
    for (int j = 0; j < m; ++j) {
        const int k = tr.non_exit[size_t(j)];
        for (int side = 0; side < 2; ++side) {
            const bool term = side == 0 ? tr.can_exit[size_t(k)] : tr.next_can_exit[size_t(k)];
            if (!term)
                throw std::invalid_argument(
                    "ModifiedDB: environment " + env_name + " has states that are not terminating (state " +
                    state_str(side == 0 ? tr.state(k) : tr.next_state(k), D) +
                    " has no exit action); ModifiedDB needs every state to be terminating");
        }
        // ModifiedDB does not clip: −inf and NaN are errors.
        const float a = tr.state_log_rewards[size_t(k)], b = tr.next_log_rewards[size_t(k)];
        if (!std::isfinite(a) || !std::isfinite(b))
            throw std::domain_error("ModifiedDB: log-reward " + std::to_string(std::isfinite(a) ? b : a) +
                                    " of state " + state_str(std::isfinite(a) ? tr.next_state(k) : tr.state(k), D) +
                                    " is not finite; ModifiedDB needs R > 0 at every state (it does not clip)");
        dr[j] = a - b;
    }
    if (m == 0) return tape.constant(Tensor(dr, 0, 1));

    Rows P = pack_rows(tape, tr);
    const bool reuse_pf = !recalc && tr.saved_log_pf.valid();
    Var h = owns_trunk(*pf) ? pf->trunk(tape, P.states, P.conditions, P.n_rows) : Var();
    // PF over every row of P: the action at s, and the exit at s and at s'.
    Var lp = pf->log_probs_from_trunk(h, tape, P.states, P.n_rows);
    int* exit_idx = tape.arena.ints(size_t(P.n_rows));
    for (int row = 0; row < P.n_rows; ++row) exit_idx[row] = pf->env().exit_action();
    Var log_pf_exit = gather(lp, exit_idx);
    Var log_pf_a = reuse_pf ? index_rows(tr.saved_log_pf, P.non_exit, m)
                            : gather(index_rows(lp, P.non_exit, m), P.next_actions);
    Var r = add(add(log_pf_a, index_rows(log_pf_exit, P.next_rows, m)), tape.constant(Tensor(dr, m, 1)));
    r = sub(r, index_rows(log_pf_exit, P.non_exit, m));
    if (pb) r = sub(r, non_exit_log_pb(tape, tr, P, *pf, *pb, h));
    return r;
}

Var ModifiedDBGFlowNet::loss_on_transitions(Tape& tape, const Transitions& tr, bool recalc, Reduction red) const {
    Var s = transition_scores(tape, tr, recalc);
    if (s.rows() == 0 && red != Reduction::None) return tape.constant(Tensor(tape.arena.zeros(1), 1, 1));
    return reduce(loss_fn(s), red);
}

Var ModifiedDBGFlowNet::loss(Tape& tape, const Trajectories& traj, bool recalc, Reduction red,
                             const float* lr) const {
    if (lr)
        throw std::invalid_argument("ModifiedDB: custom log_rewards are not supported (it uses the reward of "
                                    "every state, not only the terminal one)");
    return loss_on_transitions(tape, transitions_from(pf->env(), traj, true), recalc, red);
}

double DBGFlowNet::log_z() const { return log_flow_at_s0(*logF, pf->env(), forward_looking, log_reward_clip_min); }

}  // namespace gfn
