// sub_trajectory_balance.cpp — see sub_trajectory_balance.h.
#include "gfn/objectives/sub_trajectory_balance.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "engine/ops.h"

namespace gfn {

static const RegressionLoss kSquared(LossKind::Squared);

SubTBWeighting subtb_weighting_from_string(const std::string& name) {
    // torchgfn's spellings, and the command line's lower-case ones.
    if (name == "DB" || name == "db") return SubTBWeighting::DB;
    if (name == "ModifiedDB" || name == "modified_db") return SubTBWeighting::ModifiedDB;
    if (name == "TB" || name == "tb") return SubTBWeighting::TB;
    if (name == "equal") return SubTBWeighting::Equal;
    if (name == "equal_within") return SubTBWeighting::EqualWithin;
    if (name == "geometric_within") return SubTBWeighting::GeometricWithin;
    if (name == "geometric") return SubTBWeighting::Geometric;
    throw std::invalid_argument("SubTB: unknown weighting '" + name +
                                "' (expected db, modified_db, tb, equal, equal_within, geometric_within or geometric; DB, ModifiedDB and TB also work)");
}

std::string subtb_weighting_name(SubTBWeighting w) {
    switch (w) {
    case SubTBWeighting::DB: return "DB";
    case SubTBWeighting::ModifiedDB: return "ModifiedDB";
    case SubTBWeighting::TB: return "TB";
    case SubTBWeighting::Equal: return "equal";
    case SubTBWeighting::EqualWithin: return "equal_within";
    case SubTBWeighting::GeometricWithin: return "geometric_within";
    case SubTBWeighting::Geometric: return "geometric";
    }
    return "?";
}

SubTBGFlowNet::SubTBGFlowNet(const PolicyEstimator* pf, const PolicyEstimator* pb, const StateFlowEstimator* lf,
                             float lam, SubTBWeighting w, bool fl, bool constant_pb, float clip,
                             std::optional<RegressionLoss> g)
    : TrajectoryBasedGFlowNet(pf, pb, constant_pb, clip, g.value_or(kSquared)), log_f(lf), lambda(lam),
      weighting(w), forward_looking(fl) {
    if (!lf) throw std::invalid_argument("SubTB: a log F estimator (log_f) is required");
    if (!(lam > 0.f && lam <= 1.f))
        throw std::invalid_argument("SubTB: lambda must be in (0, 1], got " + std::to_string(lam));
}

// ---- the weights ----------------------------------------------------------------

namespace {

// w(i, n) of a sub-trajectory of length i in a trajectory of length n, for one batch.
struct WeightTable {
    SubTBWeighting kind;
    int N = 0;
    long long n_transitions = 0, n_sub = 0;      // Σ n, Σ n(n+1)/2
    std::vector<double> lambda_pow;              // λ^k, k = 0..T
    std::vector<double> within_denom;            // Σ_{k=0}^{n−1} (n−k) λ^k, n = 0..T
    std::vector<long long> per_length;           // sub-trajectories of length i, i = 0..T
    double geometric_norm = 0.0;                 // Σ_{k=0}^{T−1} λ^k

    WeightTable(SubTBWeighting w, double lambda, const std::vector<int>& lengths) : kind(w) {
        N = int(lengths.size());
        int T = 0;
        for (int L : lengths) {
            T = std::max(T, L);
            n_transitions += L;
            n_sub += (long long)L * (L + 1) / 2;
        }
        lambda_pow.assign(size_t(T) + 1, 1.0);
        for (int k = 1; k <= T; ++k) lambda_pow[size_t(k)] = lambda_pow[size_t(k - 1)] * lambda;
        // D_n = D_{n−1} + Σ_{k<n} λ^k
        within_denom.assign(size_t(T) + 1, 0.0);
        double partial = 0.0;
        for (int n = 1; n <= T; ++n) {
            partial += lambda_pow[size_t(n - 1)];
            within_denom[size_t(n)] = within_denom[size_t(n - 1)] + partial;
        }
        geometric_norm = partial;
        // A trajectory of length L has L − i + 1 sub-trajectories of length i.
        per_length.assign(size_t(T) + 1, 0);
        for (int L : lengths)
            for (int i = 1; i <= L; ++i) per_length[size_t(i)] += L - i + 1;
    }

    double operator()(int i, int n) const {
        switch (kind) {
        case SubTBWeighting::DB: return 1.0 / double(n_transitions);
        case SubTBWeighting::ModifiedDB: return 1.0 / (double(n) * N);
        case SubTBWeighting::TB: return 1.0 / N;
        case SubTBWeighting::Equal: return 1.0 / double(n_sub);
        case SubTBWeighting::EqualWithin: return 2.0 / (double(n) * (n + 1) * N);
        case SubTBWeighting::GeometricWithin: return lambda_pow[size_t(i - 1)] / (N * within_denom[size_t(n)]);
        case SubTBWeighting::Geometric:
            return lambda_pow[size_t(i - 1)] / geometric_norm / double(per_length[size_t(i)]);
        }
        return 0.0;
    }
};

// The residuals on the tape with their arena-held trajectory ids and weights.
struct Built {
    Var residuals;
    int m = 0;
    const int* a = nullptr;       // node of s_j
    const int* b = nullptr;       // node of s_k
    const int* traj = nullptr;
    const float* weights = nullptr;
    std::vector<int> node_base;   // first node of each trajectory
};

// The longest trajectory; throws for an empty batch or a trajectory without its exit.
int check_batch(const Trajectories& traj) {
    const int N = traj.n;
    if (N <= 0) throw std::invalid_argument("SubTB: empty batch");
    int T = 0;
    for (int i = 0; i < N; ++i) {
        const int L = traj.lengths[size_t(i)];
        if (L < 1)
            throw std::invalid_argument("SubTB: trajectory " + std::to_string(i) + " has length " +
                                        std::to_string(L) + " (every trajectory ends with its exit action)");
        T = std::max(T, L);
    }
    if ((long long)traj.n_steps() + N > INT_MAX / 2) throw std::invalid_argument("SubTB: batch too large");
    return T;
}

// The kernel: residuals from the per-step log-probabilities lp, log F of every step
// state (n_steps, 1) and log R (N, 1); any kind of policy (discrete or continuous).
Built build_from_steps(Tape& tape, const Trajectories& traj, const StepLogProbs& lp, Var log_f, Var log_r,
                       SubTBWeighting weighting, float lambda) {
    const int N = traj.n, ms = traj.n_steps(), mb = traj.n_bsteps(), T = check_batch(traj);

    // step_of[t·N + i]: the step index of (t, i).
    std::vector<int> step_of(size_t(T) * size_t(N), -1);
    for (int k = 0; k < ms; ++k) step_of[size_t(traj.step_t[size_t(k)]) * N + size_t(traj.step_traj[size_t(k)])] = k;

    // d[t] = log pf[t] − log pb[t] per step; PB of backward step (t, i) belongs to step (t − 1, i).
    Var d = lp.log_pf;
    if (lp.log_pb.valid()) {
        int* to = tape.arena.ints(size_t(mb) + 1);
        for (int k = 0; k < mb; ++k)
            to[k] = step_of[size_t(traj.bstep_t[size_t(k)] - 1) * N + size_t(traj.bstep_traj[size_t(k)])];
        d = sub(d, segment_sum(lp.log_pb, to, ms));
    }

    // Nodes (i, t), t = 0..L_i, trajectory by trajectory; steps re-ordered the same way.
    Built out;
    out.node_base.resize(size_t(N) + 1);
    std::vector<int> step_base(size_t(N) + 1);
    out.node_base[0] = step_base[0] = 0;
    for (int i = 0; i < N; ++i) {
        step_base[size_t(i) + 1] = step_base[size_t(i)] + traj.lengths[size_t(i)];
        out.node_base[size_t(i) + 1] = out.node_base[size_t(i)] + traj.lengths[size_t(i)] + 1;
    }
    const int n_nodes = ms + N;
    int* perm = tape.arena.ints(size_t(ms) + 1);
    int* ranges = tape.arena.ints(2 * size_t(n_nodes) + 1);
    int* gidx = tape.arena.ints(size_t(n_nodes) + 1);
    for (int i = 0; i < N; ++i) {
        const int L = traj.lengths[size_t(i)], sb = step_base[size_t(i)], nb = out.node_base[size_t(i)];
        for (int t = 0; t <= L; ++t) {
            const int k = t < L ? step_of[size_t(t) * N + size_t(i)] : -1;
            if (t < L) perm[sb + t] = k;
            ranges[2 * (nb + t)] = sb;
            ranges[2 * (nb + t) + 1] = sb + t;
            gidx[nb + t] = t < L ? k : ms + i;
        }
    }
    // C[t] = Σ_{u<t} d[u];  P[t] = logF(s_t) − C[t] (t < L),  P[L] = log R − C[L]
    Var cum = range_sum(index_rows(d, perm, ms), ranges, n_nodes);
    Var heads[2] = {log_f, log_r};
    Var potential = sub(index_rows(concat_rows(heads, 2), gidx, n_nodes), cum);

    // The sub-trajectories (j, k) the weighting uses: residual = P[j] − P[k].
    const WeightTable w(weighting, double(lambda), traj.lengths);
    long long m = 0;
    switch (weighting) {
    case SubTBWeighting::DB:
    case SubTBWeighting::ModifiedDB: m = ms; break;
    case SubTBWeighting::TB: m = N; break;
    default: m = w.n_sub; break;
    }
    if (m > INT_MAX / 2) throw std::invalid_argument("SubTB: too many sub-trajectories in the batch");
    int* a = tape.arena.ints(size_t(m) + 1);
    int* b = tape.arena.ints(size_t(m) + 1);
    int* owner = tape.arena.ints(size_t(m) + 1);
    float* wt = tape.arena.floats(size_t(m) + 1);
    long long r = 0;
    auto emit = [&](int i, int j, int len) {
        const int nb = out.node_base[size_t(i)];
        a[r] = nb + j;
        b[r] = nb + j + len;
        owner[r] = i;
        wt[r] = float(w(len, traj.lengths[size_t(i)]));
        ++r;
    };
    switch (weighting) {
    case SubTBWeighting::DB:
    case SubTBWeighting::ModifiedDB:
        for (int k = 0; k < ms; ++k) emit(traj.step_traj[size_t(k)], traj.step_t[size_t(k)], 1);
        break;
    case SubTBWeighting::TB:
        for (int i = 0; i < N; ++i) emit(i, 0, traj.lengths[size_t(i)]);
        break;
    default:
        for (int i = 0; i < N; ++i) {
            const int L = traj.lengths[size_t(i)];
            for (int len = 1; len <= L; ++len)
                for (int j = 0; j + len <= L; ++j) emit(i, j, len);
        }
        break;
    }
    out.m = int(m);
    out.a = a;
    out.b = b;
    out.traj = owner;
    out.weights = wt;
    out.residuals = sub(index_rows(potential, a, out.m), index_rows(potential, b, out.m));
    return out;
}

Built build(const SubTBGFlowNet& g, Tape& tape, const Trajectories& traj, bool recalc, const float* log_rewards) {
    check_batch(traj);
    const StepLogProbs lp = evaluate_log_probs(tape, traj, *g.pf, g.pb, recalc);
    Var log_f = g.log_state_flows(tape, traj);
    Var log_r = log_rewards_var(tape, traj, log_rewards, g.log_reward_clip_min);
    return build_from_steps(tape, traj, lp, log_f, log_r, g.weighting, g.lambda);
}

SubTrajectoryResiduals to_residuals(const Built& bt, const Trajectories& traj, SubTBWeighting weighting,
                                    float lambda) {
    const WeightTable w(weighting, double(lambda), traj.lengths);
    SubTrajectoryResiduals out;
    out.residuals = bt.residuals;
    out.traj.assign(bt.traj, bt.traj + bt.m);
    out.start.resize(size_t(bt.m));
    out.length.resize(size_t(bt.m));
    out.weights.resize(size_t(bt.m));
    for (int r = 0; r < bt.m; ++r) {
        const int i = bt.traj[r];
        out.start[size_t(r)] = bt.a[r] - bt.node_base[size_t(i)];
        out.length[size_t(r)] = bt.b[r] - bt.a[r];
        out.weights[size_t(r)] = w(out.length[size_t(r)], traj.lengths[size_t(i)]);
    }
    return out;
}

Var weighted_loss(Tape& tape, const Built& bt, const Trajectories& traj, SubTBWeighting weighting,
                  const RegressionLoss& loss_fn, Reduction reduction) {
    Var g = loss_fn(bt.residuals);
    // DB and TB: g reduced as usual (TB: one residual per trajectory, in trajectory order).
    if (weighting == SubTBWeighting::DB || weighting == SubTBWeighting::TB) return reduce(g, reduction);
    // Σ w·g; none: per trajectory.
    Var wg = mul(g, tape.constant(Tensor(const_cast<float*>(bt.weights), bt.m, 1)));
    if (reduction == Reduction::None) return segment_sum(wg, bt.traj, traj.n);
    return sum(wg);
}

}  // namespace

// ---- the objective ---------------------------------------------------------------

Var SubTBGFlowNet::log_state_flows(Tape& tape, const Trajectories& traj) const {
    const int ms = traj.n_steps(), D = traj.state_dim, C = traj.condition_dim;
    int* states = tape.arena.ints(size_t(ms) * size_t(D) + 1);
    float* conditions = C > 0 ? tape.arena.floats(size_t(ms) * size_t(C)) : nullptr;
    for (int k = 0; k < ms; ++k) {
        const int t = traj.step_t[size_t(k)], i = traj.step_traj[size_t(k)];
        std::memcpy(states + size_t(k) * D, traj.state(t, i), sizeof(int) * size_t(D));
        if (C > 0) std::memcpy(conditions + size_t(k) * C, traj.condition(i), sizeof(float) * size_t(C));
    }
    Var f = log_f->forward(tape, states, conditions, ms);
    if (!forward_looking) return f;
    // log F(s) = logF̃(s) + log R(s)
    float* lr = tape.arena.floats(size_t(ms) + 1);
    pf->env().log_reward(states, conditions, ms, lr);
    const bool clip = std::isfinite(log_reward_clip_min);
    for (int k = 0; k < ms; ++k) {
        if (clip && lr[k] < log_reward_clip_min) lr[k] = log_reward_clip_min;
        if (!std::isfinite(lr[k]))
            throw std::domain_error("SubTB forward-looking: log-reward " + std::to_string(lr[k]) +
                                    " at an intermediate state of trajectory " +
                                    std::to_string(traj.step_traj[size_t(k)]) +
                                    ": forward-looking needs a finite reward at every state (set "
                                    "log_reward_clip_min for R = 0)");
    }
    return add(f, tape.constant(Tensor(lr, ms, 1)));
}

SubTrajectoryResiduals SubTBGFlowNet::residuals(Tape& tape, const Trajectories& traj, bool recalc,
                                                const float* log_rewards) const {
    return to_residuals(build(*this, tape, traj, recalc, log_rewards), traj, weighting, lambda);
}

Var SubTBGFlowNet::loss(Tape& tape, const Trajectories& traj, bool recalc, Reduction reduction,
                        const float* log_rewards) const {
    return weighted_loss(tape, build(*this, tape, traj, recalc, log_rewards), traj, weighting, loss_fn, reduction);
}

SubTrajectoryResiduals sub_trajectory_residuals(Tape& tape, const Trajectories& traj, const StepLogProbs& lp,
                                                Var log_f, Var log_r, SubTBWeighting weighting, float lambda) {
    return to_residuals(build_from_steps(tape, traj, lp, log_f, log_r, weighting, lambda), traj, weighting, lambda);
}

Var sub_trajectory_balance_loss(Tape& tape, const Trajectories& traj, const StepLogProbs& lp, Var log_f, Var log_r,
                                SubTBWeighting weighting, float lambda, const RegressionLoss& loss_fn,
                                Reduction reduction) {
    return weighted_loss(tape, build_from_steps(tape, traj, lp, log_f, log_r, weighting, lambda), traj, weighting,
                         loss_fn, reduction);
}

double SubTBGFlowNet::log_z() const { return log_flow_at_s0(*log_f, pf->env(), forward_looking, log_reward_clip_min); }

}  // namespace gfn
