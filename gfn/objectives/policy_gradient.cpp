// policy_gradient.cpp — see policy_gradient.h.
#include "gfn/objectives/policy_gradient.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "engine/ops.h"
#include "gfn/objectives/soft_rl.h"

namespace gfn {

static const RegressionLoss kSquared(LossKind::Squared);

// The importance log-ratio is clamped to ±kMaxLogRatio before exp().
constexpr float kMaxLogRatio = 20.f;
// log p below this counts as p log p = 0 in the KL (masked actions have log p = −∞).
constexpr float kLogProbFloor = -80.f;

Advantage advantage_from_string(const std::string& s) {
    if (s == "total") return Advantage::Total;
    if (s == "reward_to_go") return Advantage::RewardToGo;
    if (s == "baseline") return Advantage::Baseline;
    if (s == "gae") return Advantage::Gae;
    throw std::invalid_argument("--advantage: unknown advantage '" + s +
                                "' (choose total, reward_to_go, baseline or gae)");
}

const char* to_string(Advantage a) {
    switch (a) {
        case Advantage::Total: return "total";
        case Advantage::RewardToGo: return "reward_to_go";
        case Advantage::Baseline: return "baseline";
        case Advantage::Gae: return "gae";
    }
    return "?";
}

CriticLoss critic_loss_from_string(const std::string& s) {
    if (s == "mse") return CriticLoss::Mse;
    if (s == "sub_eb") return CriticLoss::SubEB;
    throw std::invalid_argument("--critic-loss: unknown critic loss '" + s + "' (choose mse or sub_eb)");
}

const char* to_string(CriticLoss c) { return c == CriticLoss::Mse ? "mse" : "sub_eb"; }

Var tlm_loss(Tape& tape, const Trajectories& traj, const PolicyEstimator& pb, Reduction r) {
    // −Σ_t log PB(s_t | s_{t+1})
    PackedSteps b = pack_steps(tape, traj, true);
    Var lpb = gather(pb.log_probs(tape, b.states, b.conditions, b.m), b.actions);
    return reduce(scale(sum_per_trajectory_backward(traj, lpb), -1.f), r);
}

namespace {

std::vector<float> copy_values(Var v) {
    Tensor t = v.value();
    return std::vector<float>(t.data, t.data + t.size());
}

Var column(Tape& tape, const std::vector<float>& v) { return tape.constant_copy(v.data(), int(v.size()), 1); }

}  // namespace

// ---- VPG ----------------------------------------------------------------------

PolicyGradientGFlowNet::PolicyGradientGFlowNet(const PolicyEstimator* pf, const PolicyEstimator* pb,
                                               const StateFlowEstimator* v, Advantage adv, float lambda,
                                               bool constant_pb, float clip, bool tlm_, float vw,
                                               std::optional<RegressionLoss> g, CriticLoss critic, float eb_lambda)
    : TrajectoryBasedGFlowNet(pf, pb, constant_pb, clip, g.value_or(kSquared)), log_v(v), advantage(adv),
      gae_lambda(lambda), tlm(tlm_), value_weight(vw), critic_loss(critic), sub_eb_lambda(eb_lambda) {
    const bool needs_v = adv == Advantage::Baseline || adv == Advantage::Gae;
    if (critic == CriticLoss::SubEB && !needs_v)
        throw std::invalid_argument(std::string("policy gradient: --critic-loss sub_eb trains a value V(s), which "
                                                "--advantage ") +
                                    to_string(adv) + " does not use (choose baseline or gae)");
    if (critic == CriticLoss::SubEB && !(eb_lambda > 0.f && eb_lambda <= 1.f))
        throw std::invalid_argument("policy gradient: the sub_eb critic's lambda (--lambda) must be in (0, 1]");
    if (needs_v && !v)
        throw std::invalid_argument(std::string("policy gradient: --advantage ") + to_string(adv) +
                                    " needs a learned value V(s) (a StateFlowEstimator)");
    if (!needs_v && v)
        throw std::invalid_argument(std::string("policy gradient: --advantage ") + to_string(adv) +
                                    " uses no value function; pass none (or choose baseline or gae)");
    if (!(lambda >= 0.f && lambda <= 1.f))
        throw std::invalid_argument("policy gradient: gae_lambda (--gae-lambda) must be in [0, 1]");
    if (!(std::isfinite(vw) && vw >= 0.f))
        throw std::invalid_argument("policy gradient: value_weight (--value-weight) must be >= 0");
    if (tlm && (!this->pb || this->pb->kind() == PolicyEstimator::Kind::Uniform))
        throw std::invalid_argument("TLM (--pb-loss tlm) trains a learned PB; this objective has none");
}

Var PolicyGradientGFlowNet::step_values(Tape& tape, const Trajectories& traj, const IndexedTrunk& trunk) const {
    if (trunk.valid() && value_shares_trunk()) return log_v->forward_from_trunk(trunk);
    PackedSteps s = pack_steps(tape, traj, false);
    return log_v->forward(tape, s.states, s.conditions, s.m);
}

FrozenRollout PolicyGradientGFlowNet::freeze(Tape& tape, const Trajectories& traj, bool recalc,
                                             const float* lr, bool all_actions) const {
    NoGrad ng(tape);
    FrozenRollout fr;
    const int m = traj.n_steps();
    PackedSteps s = pack_steps(tape, traj, false);
    if (all_actions) {
        Var lp_all = pf->log_probs(tape, s.states, s.conditions, m);
        fr.old_log_probs = copy_values(lp_all);
        fr.old_log_pf = copy_values(gather(lp_all, s.actions));
    } else if (!recalc && traj.saved_log_pf.valid()) {
        fr.old_log_pf = copy_values(traj.saved_log_pf);
    } else {
        fr.old_log_pf = copy_values(gather(pf->log_probs(tape, s.states, s.conditions, m), s.actions));
    }
    std::vector<float> log_pb;
    if (pb) {
        PackedSteps b = pack_steps(tape, traj, true);
        log_pb = copy_values(gather(pb->log_probs(tape, b.states, b.conditions, b.m), b.actions));
    }
    std::vector<float> log_r = copy_values(log_rewards_var(tape, traj, lr, log_reward_clip_min));

    // g_t = r_t − log PF(a_t | s_t)
    std::vector<double> g =
        soft_step_returns(soft_step_rewards(traj, pb ? log_pb.data() : nullptr, log_r.data()), fr.old_log_pf.data());
    std::vector<double> a, y;
    if (advantage == Advantage::Total) {
        // Ψ_t = Σ_k g_k, the same for every step of the trajectory
        std::vector<double> total(size_t(traj.n), 0.0);
        for (int k = 0; k < m; ++k) total[size_t(traj.step_traj[size_t(k)])] += g[size_t(k)];
        a.resize(size_t(m));
        for (int k = 0; k < m; ++k) a[size_t(k)] = total[size_t(traj.step_traj[size_t(k)])];
    } else if (advantage == Advantage::RewardToGo) {
        a = reward_to_go(traj, g);
    } else {
        std::vector<float> v = copy_values(log_v->forward(tape, s.states, s.conditions, m));
        if (advantage == Advantage::Baseline) {
            // Ψ_t = R̂_t − V(s_t), y_t = R̂_t
            y = reward_to_go(traj, g);
            a.resize(size_t(m));
            for (int k = 0; k < m; ++k) a[size_t(k)] = y[size_t(k)] - double(v[size_t(k)]);
        } else {
            // Ψ_t = GAE(λ), y_t = Ψ_t + V(s_t)
            a = gae_advantages(traj, g, v.data(), gae_lambda);
            y.resize(size_t(m));
            for (int k = 0; k < m; ++k) y[size_t(k)] = a[size_t(k)] + double(v[size_t(k)]);
        }
    }
    fr.advantages.assign(a.begin(), a.end());
    fr.value_targets.assign(y.begin(), y.end());
    if (critic_loss == CriticLoss::SubEB) fr.soft_returns.assign(g.begin(), g.end());
    return fr;
}

Var PolicyGradientGFlowNet::policy_loss(Tape& tape, const Trajectories& traj, const FrozenRollout& fr,
                                        bool recalc, Reduction r) const {
    // −Σ_t log PF(a_t | s_t) Ψ_t
    Var lp = evaluate_log_probs(tape, traj, *pf, nullptr, recalc).log_pf;
    Var per_traj = sum_per_trajectory(traj, mul(lp, column(tape, fr.advantages)));
    return reduce(scale(per_traj, -1.f), r);
}

Var PolicyGradientGFlowNet::value_loss(Tape& tape, const Trajectories& traj, const FrozenRollout& fr,
                                       const IndexedTrunk& trunk) const {
    return critic_loss == CriticLoss::SubEB ? sub_eb_loss(tape, traj, fr, trunk)
                                            : mse_value_loss(tape, traj, fr, trunk);
}

Var PolicyGradientGFlowNet::mse_value_loss(Tape& tape, const Trajectories& traj, const FrozenRollout& fr,
                                           const IndexedTrunk& trunk) const {
    // mean_t g(V(s_t) − y_t)
    if (!log_v) throw std::logic_error("policy gradient: value_loss without a value function");
    return reduce(loss_fn(sub(step_values(tape, traj, trunk), column(tape, fr.value_targets))), Reduction::Mean);
}

Var PolicyGradientGFlowNet::sub_eb_loss(Tape& tape, const Trajectories& traj, const FrozenRollout& fr,
                                        const IndexedTrunk& trunk) const {
    const int N = traj.n, m = traj.n_steps();
    if (!log_v) throw std::logic_error("policy gradient: sub_eb_loss without a value function");
    if (fr.soft_returns.size() != size_t(m))
        throw std::logic_error("policy gradient: the frozen rollout has no soft returns (freeze with the sub_eb critic)");
    // where[t·N + i]: the step (t, i)
    std::vector<int> where(size_t(traj.max_length) * size_t(N) + 1, -1);
    for (int k = 0; k < m; ++k)
        where[size_t(traj.step_t[size_t(k)]) * size_t(N) + size_t(traj.step_traj[size_t(k)])] = k;
    long long n_sub = 0;
    int T = 0;
    for (int i = 0; i < N; ++i) {
        const long long L = traj.lengths[size_t(i)];
        n_sub += L * (L + 1) / 2;
        T = std::max(T, int(L));
    }
    if (n_sub > (1LL << 30)) throw std::invalid_argument("sub_eb critic: too many sub-trajectories in the batch");
    // λ^u, and the geometric_within denominators D(L) = Σ_{u=0}^{L−1} (L − u) λ^u
    std::vector<double> pw(size_t(T) + 1, 1.0), denom(size_t(T) + 1, 0.0);
    for (int u = 1; u <= T; ++u) pw[size_t(u)] = pw[size_t(u - 1)] * double(sub_eb_lambda);
    for (int L = 1; L <= T; ++L)
        for (int u = 0; u < L; ++u) denom[size_t(L)] += double(L - u) * pw[size_t(u)];
    // ρ_jk = V(s_j) − [k < L] V(s_k) − Σ_{t=j}^{k−1} g_t; row m of Vz is 0 (k = L).
    const int R = int(n_sub);
    int* a = tape.arena.ints(size_t(R) + 1);
    int* b = tape.arena.ints(size_t(R) + 1);
    float* c = tape.arena.floats(size_t(R) + 1);
    float* w = tape.arena.floats(size_t(R) + 1);
    std::vector<double> prefix(size_t(T) + 1);  // Σ_{u<t} g_u along the trajectory
    int r = 0;
    for (int i = 0; i < N; ++i) {
        const int L = traj.lengths[size_t(i)];
        prefix[0] = 0.0;
        for (int t = 0; t < L; ++t)
            prefix[size_t(t) + 1] =
                prefix[size_t(t)] + double(fr.soft_returns[size_t(where[size_t(t) * size_t(N) + size_t(i)])]);
        for (int j = 0; j < L; ++j)
            for (int k = j + 1; k <= L; ++k, ++r) {
                a[r] = where[size_t(j) * size_t(N) + size_t(i)];
                b[r] = k < L ? where[size_t(k) * size_t(N) + size_t(i)] : m;
                c[r] = float(prefix[size_t(k)] - prefix[size_t(j)]);
                w[r] = float(pw[size_t(k - j - 1)] / (double(N) * denom[size_t(L)]));
            }
    }
    Var rows[2] = {step_values(tape, traj, trunk), tape.constant(Tensor(tape.arena.zeros(1), 1, 1))};
    Var vz = concat_rows(rows, 2);
    Var rho = sub(sub(index_rows(vz, a, R), index_rows(vz, b, R)), tape.constant(Tensor(c, R, 1)));
    // Σ w_jk g(ρ_jk)
    return sum(mul(loss_fn(rho), tape.constant(Tensor(w, R, 1))));
}

Var PolicyGradientGFlowNet::tlm_loss(Tape& tape, const Trajectories& traj, Reduction r) const {
    if (!pb) throw std::logic_error("TLM: no learned PB");
    return gfn::tlm_loss(tape, traj, *pb, r);
}

static void refuse_none(Reduction r, bool has_extra_terms) {
    if (r == Reduction::None && has_extra_terms)
        throw std::invalid_argument("policy gradient: reduction none is not defined with a critic or TLM "
                                    "(per-trajectory and per-step terms); call policy_loss / value_loss");
}

Var PolicyGradientGFlowNet::loss(Tape& tape, const Trajectories& traj, bool recalc, Reduction r,
                                 const float* lr) const {
    // L_pi + value_weight · L_V (+ L_TLM)
    refuse_none(r, log_v || tlm);
    FrozenRollout fr = freeze(tape, traj, recalc, lr);
    Var l = policy_loss(tape, traj, fr, recalc, r);
    if (log_v) l = add(l, scale(value_loss(tape, traj, fr), value_weight));
    if (tlm) l = add(l, tlm_loss(tape, traj, r));
    return l;
}

double PolicyGradientGFlowNet::log_z() const {
    if (!log_v) return std::nan("");
    return log_flow_at_s0(*log_v, pf->env(), false, log_reward_clip_min);
}

// ---- Entropic PPO -------------------------------------------------------------

EntPPOGFlowNet::EntPPOGFlowNet(const PolicyEstimator* pf, const PolicyEstimator* pb, const StateFlowEstimator* v,
                               PPOOptions o, float lambda, bool constant_pb, float clip, bool tlm_, float vw,
                               std::optional<RegressionLoss> g, CriticLoss critic, float eb_lambda)
    : PolicyGradientGFlowNet(pf, pb, v, Advantage::Gae, lambda, constant_pb, clip, tlm_, vw, g, critic, eb_lambda),
      opt(o) {
    if (!(std::isfinite(o.clip_eps) && o.clip_eps > 0.f && o.clip_eps < 1.f))
        throw std::invalid_argument("PPO: clip_eps (--ppo-clip) must be in (0, 1)");
    if (o.epochs < 1) throw std::invalid_argument("PPO: epochs (--ppo-epochs) must be >= 1");
    if (o.minibatches < 1) throw std::invalid_argument("PPO: minibatches (--ppo-minibatches) must be >= 1");
}

Var EntPPOGFlowNet::ppo_policy_loss(Tape& tape, const Trajectories& traj, const FrozenRollout& fr,
                                    Reduction r, const IndexedTrunk& trunk) const {
    const int m = traj.n_steps();
    if (fr.old_log_probs.empty()) throw std::logic_error("PPO: the frozen rollout has no rollout policy");
    PackedSteps s = pack_steps(tape, traj, false);
    Var lp_all = trunk.valid() ? pf->log_probs_from_trunk(trunk, tape) : pf->log_probs(tape, s.states, s.conditions, m);
    const int na = lp_all.cols();
    // ρ_t = exp(clamp(log π − log π_old, −20, 20))
    Var ratio = exp(clamp(sub(gather(lp_all, s.actions), column(tape, fr.old_log_pf)), -kMaxLogRatio, kMaxLogRatio));
    // min(ρ A, clip(ρ, 1 − ε, 1 + ε) A): the smaller branch, chosen on values (A is constant)
    const float lo = 1.f - opt.clip_eps, hi = 1.f + opt.clip_eps;
    const float* rv = ratio.value().data;
    float* w_raw = tape.arena.floats(size_t(m) + 1);
    float* w_clip = tape.arena.floats(size_t(m) + 1);
    for (int k = 0; k < m; ++k) {
        const float a = fr.advantages[size_t(k)], rho = rv[k];
        const bool raw_smaller = rho * a <= std::min(std::max(rho, lo), hi) * a;
        w_raw[k] = raw_smaller ? a : 0.f;
        w_clip[k] = raw_smaller ? 0.f : a;
    }
    Var surrogate = add(mul(ratio, tape.constant(Tensor(w_raw, m, 1))),
                        mul(clamp(ratio, lo, hi), tape.constant(Tensor(w_clip, m, 1))));
    // KL(π ‖ π_old) = Σ_{a valid} p_a (log p_a − log q_a); masked log q_a taken as 0 (p_a = 0 there)
    float* q = tape.arena.floats(size_t(m) * size_t(na));
    for (size_t j = 0; j < size_t(m) * size_t(na); ++j)
        q[j] = std::isfinite(fr.old_log_probs[j]) ? fr.old_log_probs[j] : 0.f;
    Var p = exp(lp_all);
    Var kl = row_sum(sub(mul(p, clamp_min(lp_all, kLogProbFloor)), mul(p, tape.constant(Tensor(q, m, na)))));
    Var per_traj = sum_per_trajectory(traj, sub(surrogate, kl));
    return reduce(scale(per_traj, -1.f), r);
}

Var EntPPOGFlowNet::update_loss(Tape& tape, const Trajectories& traj, const FrozenRollout& fr) const {
    // With V tied to PF (--tied), PF's trunk on the steps runs once for the policy and the critic.
    IndexedTrunk trunk;  // (over the steps' distinct states: both heads run there, then are indexed)
    if (value_shares_trunk()) {
        PackedSteps s = pack_steps(tape, traj, false);
        trunk = pf->trunk_indexed(tape, s.states, s.conditions, s.m);
    }
    Var l = ppo_policy_loss(tape, traj, fr, Reduction::Mean, trunk);
    if (log_v) l = add(l, scale(value_loss(tape, traj, fr, trunk), value_weight));
    if (tlm) l = add(l, tlm_loss(tape, traj, Reduction::Mean));
    return l;
}

Var EntPPOGFlowNet::loss(Tape& tape, const Trajectories& traj, bool recalc, Reduction r, const float* lr) const {
    refuse_none(r, true);
    FrozenRollout fr = freeze(tape, traj, recalc, lr, /*all_actions=*/true);
    Var l = ppo_policy_loss(tape, traj, fr, r);
    l = add(l, scale(value_loss(tape, traj, fr), value_weight));
    if (tlm) l = add(l, tlm_loss(tape, traj, r));
    return l;
}

std::vector<std::vector<int>> EntPPOGFlowNet::minibatch_rows(int n, Rng& rng) const {
    std::vector<std::vector<int>> out;
    const int S = std::min(opt.minibatches, std::max(n, 1));
    std::vector<int> perm(static_cast<size_t>(n));
    for (int e = 0; e < opt.epochs; ++e) {
        for (int i = 0; i < n; ++i) perm[size_t(i)] = i;
        for (int i = n - 1; i > 0; --i) std::swap(perm[size_t(i)], perm[size_t(rng.below(uint32_t(i + 1)))]);
        for (int s = 0; s < S; ++s) {
            const int b = int((long long)n * s / S), e2 = int((long long)n * (s + 1) / S);
            out.emplace_back(perm.begin() + b, perm.begin() + e2);
        }
    }
    return out;
}

FrozenRollout select_frozen(const Trajectories& traj, const FrozenRollout& fr, const std::vector<int>& rows) {
    // The selected batch's steps, time-major: (t, j) for t ascending, then j, with t < L_{rows[j]}.
    std::vector<int> where(size_t(traj.max_length) * size_t(traj.n) + 1, -1);
    for (int k = 0; k < traj.n_steps(); ++k)
        where[size_t(traj.step_t[size_t(k)]) * size_t(traj.n) + size_t(traj.step_traj[size_t(k)])] = k;
    const size_t na = fr.old_log_probs.empty() ? 0 : fr.old_log_probs.size() / fr.old_log_pf.size();
    FrozenRollout out;
    int max_len = 0;
    for (int i : rows) max_len = std::max(max_len, traj.lengths[size_t(i)]);
    for (int t = 0; t < max_len; ++t)
        for (int i : rows) {
            if (t >= traj.lengths[size_t(i)]) continue;
            const size_t k = size_t(where[size_t(t) * size_t(traj.n) + size_t(i)]);
            out.advantages.push_back(fr.advantages[k]);
            if (!fr.value_targets.empty()) out.value_targets.push_back(fr.value_targets[k]);
            if (!fr.soft_returns.empty()) out.soft_returns.push_back(fr.soft_returns[k]);
            out.old_log_pf.push_back(fr.old_log_pf[k]);
            for (size_t a = 0; a < na; ++a) out.old_log_probs.push_back(fr.old_log_probs[k * na + a]);
        }
    return out;
}

}  // namespace gfn
