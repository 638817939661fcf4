// flow_matching.cpp — see flow_matching.h.
//
// One network evaluation per loss: the rows are
//   [ valid parents of the flow-matching states (P rows) ;
//     the flow-matching states themselves (m rows) ;
//     the s_0 of trajectories that only exit (n0 rows) ]
// Parent rows are listed per state (state k's parents are contiguous), so the
// in-flow is a per-state segment sum of exp(log F), shifted by each state's
// largest parent flow for stability. The terminal state of a trajectory with
// L_i >= 2 is its last flow-matching state, so its exit flow reuses that row.
#include "gfn/objectives/flow_matching.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/ops.h"

namespace gfn {

static const RegressionLoss kSquared(LossKind::Squared);

FMGFlowNet::FMGFlowNet(const PolicyEstimator* logF_edges, float a, std::optional<RegressionLoss> g)
    : logF(logF_edges), alpha(a), loss_fn(g.value_or(kSquared)) {
    if (!logF) throw std::invalid_argument("FM: an edge-flow estimator (log F(s→a)) is required");
    if (logF->is_backward())
        throw std::invalid_argument("FM: the edge-flow estimator must be a forward estimator (n_actions outputs)");
    if (!(std::isfinite(a) && a >= 0.f)) throw std::invalid_argument("FM: alpha must be finite and >= 0");
    if (!logF->env().parents_enumerable())
        throw std::invalid_argument("FM: flow matching needs every parent of a state, and environment " +
                                    logF->env().name() + " cannot enumerate parents; use another objective");
}

Var FMGFlowNet::edge_log_flows(Tape& tape, const int* states, const float* conditions, int n) const {
    if (logF->kind() == PolicyEstimator::Kind::Uniform) {
        const int A = logF->n_outputs();
        return tape.constant(Tensor(tape.arena.zeros(size_t(n) * size_t(A)), n, A));  // log F ≡ 0
    }
    return logF->head(logF->trunk(tape, states, conditions, n));
}

// log R of every trajectory, checked: FM never clips.
static Var checked_log_rewards(Tape& tape, const Trajectories& traj, const float* custom) {
    const float* src = custom ? custom : traj.log_rewards.data();
    float* v = tape.arena.floats(size_t(traj.n) + 1);
    for (int i = 0; i < traj.n; ++i) {
        const float r = src[i];
        if (!std::isfinite(r))
            throw std::domain_error("FM: log-reward of trajectory " + std::to_string(i) + " is " + std::to_string(r) +
                                    ": flow matching needs finite log-rewards (R > 0); FM does not clip "
                                    "(log_reward_clip_min does not apply to FM)");
        v[i] = r;
    }
    return tape.constant(Tensor(v, traj.n, 1));
}

Var FMGFlowNet::loss(Tape& tape, const Trajectories& traj, bool, Reduction reduction,
                     const float* custom_log_rewards) const {
    const DiscreteEnv& env = logF->env();
    const int N = traj.n, D = traj.state_dim, C = traj.condition_dim;
    const int A = env.n_actions(), B = env.n_backward_actions();
    if (N <= 0) throw std::invalid_argument("FM: empty batch");
    if (D != env.state_dim())
        throw std::invalid_argument("FM: batch states have " + std::to_string(D) + " values, environment " +
                                    env.name() + " has " + std::to_string(env.state_dim()));
    if (C != env.condition_dim() || (C > 0 && traj.conditions.size() != size_t(N) * size_t(C)))
        throw std::invalid_argument("FM: batch conditions do not match environment " + env.name());
    if (!custom_log_rewards && traj.log_rewards.size() != size_t(N))
        throw std::invalid_argument("FM: the batch has no log-rewards");
    Var log_r = checked_log_rewards(tape, traj, custom_log_rewards);

    // The flow-matching states are the backward steps (t, i), 1 <= t <= L_i − 1.
    const int m = traj.n_bsteps();
    int* fm_states = tape.arena.ints(size_t(m) * size_t(D) + 1);
    for (int k = 0; k < m; ++k)
        std::memcpy(fm_states + size_t(k) * D, traj.state(traj.bstep_t[size_t(k)], traj.bstep_traj[size_t(k)]),
                    sizeof(int) * size_t(D));
    uint8_t* bmask = tape.arena.bytes(size_t(m) * size_t(B) + 1);
    if (m > 0) env.backward_masks(fm_states, m, bmask);
    int P = 0;
    for (int k = 0; k < m; ++k) {
        int valid = 0;
        for (int b = 0; b < B; ++b) valid += bmask[size_t(k) * B + b];
        if (valid == 0)
            throw std::invalid_argument("FM: state at step " + std::to_string(traj.bstep_t[size_t(k)]) +
                                        " of trajectory " + std::to_string(traj.bstep_traj[size_t(k)]) +
                                        " has no parent (is it s_0 in the middle of a trajectory?)");
        P += valid;
    }

    // Where each trajectory's terminal state sits among the rows.
    int n0 = 0;
    for (int i = 0; i < N; ++i) n0 += traj.lengths[size_t(i)] == 1;
    const int R = P + m + n0;
    int* term_row = tape.arena.ints(size_t(N));
    for (int k = 0; k < m; ++k) {
        const int i = traj.bstep_traj[size_t(k)];
        if (traj.bstep_t[size_t(k)] == traj.lengths[size_t(i)] - 1) term_row[i] = P + k;
    }

    // The rows: parents, then the states, then the s_0 terminals; the column read
    // off each row (parent: the action into its child; otherwise the exit).
    int* rows = tape.arena.ints(size_t(R) * size_t(D));
    int* col = tape.arena.ints(size_t(R));
    int* seg = tape.arena.ints(size_t(P) + 1);  // parent row -> its state k
    float* cond = C > 0 ? tape.arena.floats(size_t(R) * size_t(C)) : nullptr;
    auto put_condition = [&](int row, int i) {
        if (C > 0) std::memcpy(cond + size_t(row) * C, traj.condition(i), sizeof(float) * size_t(C));
    };
    int* par_action = tape.arena.ints(size_t(P) + 1);
    int p = 0;
    for (int k = 0; k < m; ++k)
        for (int b = 0; b < B; ++b) {
            if (!bmask[size_t(k) * B + b]) continue;
            std::memcpy(rows + size_t(p) * D, fm_states + size_t(k) * D, sizeof(int) * size_t(D));
            par_action[p] = b;
            col[p] = b;
            seg[p] = k;
            put_condition(p, traj.bstep_traj[size_t(k)]);
            ++p;
        }
    if (P > 0) env.backward_step(rows, par_action, P, rows);  // children -> parents, in place
    if (m > 0) std::memcpy(rows + size_t(P) * D, fm_states, sizeof(int) * size_t(m) * size_t(D));
    for (int k = 0; k < m; ++k) {
        col[P + k] = A - 1;
        put_condition(P + k, traj.bstep_traj[size_t(k)]);
    }
    int r0 = P + m;
    for (int i = 0; i < N; ++i) {
        if (traj.lengths[size_t(i)] != 1) continue;
        std::memcpy(rows + size_t(r0) * D, traj.state(0, i), sizeof(int) * size_t(D));
        col[r0] = A - 1;
        put_condition(r0, i);
        term_row[i] = r0++;
    }

    Var logits = edge_log_flows(tape, rows, cond, R);  // (R, A)
    Var picked = gather(logits, col);                   // (R, 1)

    // Reward matching: log F(x_i → exit) − log R(x_i)
    Var reward_terms = scale(loss_fn(sub(index_rows(picked, term_row, N), log_r)), alpha);  // (N, 1)
    if (m == 0) return reduce(reward_terms, reduction);

    // in(s_k) = c_k + log Σ_{parents p} exp(log F(p → s_k) − c_k),  c_k = max_p log F(p → s_k) (no gradient)
    int* par_rows = tape.arena.ints(size_t(P));
    for (int q = 0; q < P; ++q) par_rows[q] = q;
    Var par = index_rows(picked, par_rows, P);  // (P, 1)
    float* c = tape.arena.floats(size_t(m));
    std::fill(c, c + m, -INFINITY);
    const float* pv = par.value().data;
    for (int q = 0; q < P; ++q) c[seg[q]] = std::max(c[seg[q]], pv[q]);
    for (int k = 0; k < m; ++k)
        if (!std::isfinite(c[k])) c[k] = 0.f;  // NaN/inf flows: let them propagate, unshifted
    float* c_par = tape.arena.floats(size_t(P));
    for (int q = 0; q < P; ++q) c_par[q] = c[seg[q]];
    Var shifted = sub(par, tape.constant(Tensor(c_par, P, 1)));
    Var in_flow = add(log(segment_sum(exp(shifted), seg, m)), tape.constant(Tensor(c, m, 1)));  // (m, 1)

    // out(s_k) = log Σ_{a valid} F(s_k → a), exit included
    int* state_rows = tape.arena.ints(size_t(m));
    for (int k = 0; k < m; ++k) state_rows[k] = P + k;
    uint8_t* fmask = tape.arena.bytes(size_t(m) * size_t(A));
    env.forward_masks(fm_states, m, fmask);
    Var out_flow = logsumexp(index_rows(logits, state_rows, m), fmask);  // (m, 1)

    Var flow_terms = loss_fn(sub(in_flow, out_flow));  // (m, 1)
    switch (reduction) {
        case Reduction::Mean: return add(mean(flow_terms), mean(reward_terms));
        case Reduction::Sum: return add(sum(flow_terms), sum(reward_terms));
        case Reduction::None: {
            const Var parts[2] = {flow_terms, reward_terms};
            return concat_rows(parts, 2);
        }
    }
    return flow_terms;
}

double FMGFlowNet::log_z() const {
    const DiscreteEnv& env = logF->env();
    if (env.condition_dim() > 0) return std::nan("");
    Tape tape(size_t(1) << 16);
    NoGrad ng(tape);
    std::vector<int> s0(size_t(env.state_dim()));
    env.initial_state(s0.data());
    std::vector<uint8_t> mask(size_t(env.n_actions()));
    env.forward_masks(s0.data(), 1, mask.data());
    return double(logsumexp(edge_log_flows(tape, s0.data(), nullptr, 1), mask.data()).item());
}

}  // namespace gfn
