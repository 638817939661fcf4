// soft_dqn.cpp — see soft_dqn.h.
#include "gfn/objectives/soft_dqn.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "engine/ops.h"

namespace gfn {

namespace {

// log R of an exit transition: finite after the clip, or an error naming the flag.
double checked_log_reward(float r, float clip_min) {
    if (std::isnan(r) || r == INFINITY)
        throw std::domain_error("soft DQN: log R = " + std::to_string(r) + ": rewards must be finite and >= 0");
    if (std::isfinite(clip_min) && r < clip_min) r = clip_min;
    if (!std::isfinite(r))
        throw std::domain_error("soft DQN: log R is -inf (reward 0): set --log-reward-clip-min to a finite value, "
                                "e.g. -100");
    return double(r);
}

// logsumexp of row[a] over the actions with mask[a] = 1 (at least one).
double masked_logsumexp(const float* row, const uint8_t* mask, int na) {
    double m = -INFINITY;
    for (int a = 0; a < na; ++a)
        if (mask[a]) m = std::max(m, double(row[a]));
    double s = 0;
    for (int a = 0; a < na; ++a)
        if (mask[a]) s += std::exp(double(row[a]) - m);
    return m + std::log(s);
}

}  // namespace

Var huber(Var x, float delta) {
    // c·(x − c/2), c = clamp(x, −δ, δ)
    Var c = clamp(x, -delta, delta);
    return mul(c, sub(x, scale(c, 0.5f)));
}

void polyak_update(ParamStore& target, const ParamStore& online, float tau) {
    if (!(tau > 0.f && tau <= 1.f))
        throw std::invalid_argument("target network: tau (--target-tau) must be in (0, 1]");
    for (const Param& p : target.params) {
        const Param* q = nullptr;
        for (const Param& c : online.params)
            if (c.name == p.name) q = &c;
        if (!q || q->rows != p.rows || q->cols != p.cols)
            throw std::invalid_argument("target network: the online network has no parameter " + p.name + " of shape " +
                                        std::to_string(p.rows) + "x" + std::to_string(p.cols));
        float* t = target.values.data() + p.offset;
        const float* o = online.values.data() + q->offset;
        // θ̄ ← (1 − τ) θ̄ + τ θ
        if (tau == 1.f) std::memcpy(t, o, sizeof(float) * p.size());
        else
            for (size_t i = 0; i < p.size(); ++i) t[i] = (1.f - tau) * t[i] + tau * o[i];
    }
}

SoftDQNGFlowNet::SoftDQNGFlowNet(const PolicyEstimator* q_, const PolicyEstimator* q_target_,
                                 const PolicyEstimator* pb_, SoftDQNOptions o, float clip,
                                 std::optional<RegressionLoss> g)
    : q(q_), q_target(q_target_), pb(pb_), opt(o), log_reward_clip_min(clip), loss_fn(g) {
    if (!q || !q_target) throw std::invalid_argument("soft DQN: needs the Q network (PF) and its target network");
    if (q->is_backward() || q_target->is_backward())
        throw std::invalid_argument("soft DQN: Q is a forward policy's network");
    const auto kind = q->kind();
    if (kind != PolicyEstimator::Kind::Mlp && kind != PolicyEstimator::Kind::Conditional)
        throw std::invalid_argument("soft DQN: Q must be PF's own network (an MLP or conditional MLP)");
    if (q_target->kind() != kind || q_target->n_outputs() != q->n_outputs())
        throw std::invalid_argument("soft DQN: the target network's architecture differs from Q's");
    if (pb && !pb->is_backward()) throw std::invalid_argument("soft DQN: pb must be a backward policy");
    if (!(o.target_tau > 0.f && o.target_tau <= 1.f))
        throw std::invalid_argument("soft DQN: target_tau (--target-tau) must be in (0, 1]");
    if (o.target_update_every < 1)
        throw std::invalid_argument("soft DQN: target_update_every (--target-update-every) must be >= 1");
    if (!(o.munchausen_alpha >= 0.f && o.munchausen_alpha < 1.f))
        throw std::invalid_argument("Munchausen: alpha (--munchausen-alpha) must be in [0, 1)");
    if (!(std::isfinite(o.munchausen_clip) && o.munchausen_clip < 0.f))
        throw std::invalid_argument("Munchausen: the clip l0 (--munchausen-clip) must be finite and < 0");
}

Var SoftDQNGFlowNet::q_logits(Tape& tape, const PolicyEstimator& net, const int* states, const float* conditions,
                              int n) {
    return net.head(net.trunk(tape, states, conditions, n));
}

SoftDQNTargets SoftDQNGFlowNet::targets(Tape& tape, const Transitions& tr) const {
    NoGrad ng(tape);
    const DiscreteEnv& env = q->env();
    const int n = tr.n, D = tr.state_dim, C = tr.condition_dim, na = env.n_actions();
    const double lambda = entropy_coeff();
    SoftDQNTargets t;
    t.g.assign(size_t(n), 0.0);
    t.bonus.assign(size_t(n), 0.0);
    t.v_next.assign(size_t(n), 0.0);

    // The non-exit rows: s', its condition and the action a (= PB's backward action at s').
    const int m = tr.n_non_exit();
    std::vector<int> next_states(size_t(m) * size_t(D) + 1), actions(size_t(m) + 1);
    std::vector<float> next_cond(size_t(m) * size_t(C) + 1);
    for (int j = 0; j < m; ++j) {
        const int k = tr.non_exit[size_t(j)];
        std::memcpy(next_states.data() + size_t(j) * D, tr.next_state(k), sizeof(int) * size_t(D));
        if (C > 0) std::memcpy(next_cond.data() + size_t(j) * C, tr.condition(k), sizeof(float) * size_t(C));
        actions[size_t(j)] = tr.actions[size_t(k)];
    }
    const float* nc = C > 0 ? next_cond.data() : nullptr;

    // g = log R(s) at exits, log PB(s | s') elsewhere
    for (int k = 0; k < n; ++k)
        if (tr.is_exit[size_t(k)]) t.g[size_t(k)] = checked_log_reward(tr.log_rewards[size_t(k)], log_reward_clip_min);
    if (pb && m > 0) {
        Tensor lpb = gather(pb->log_probs(tape, next_states.data(), nc, m), actions.data()).value();
        for (int j = 0; j < m; ++j) t.g[size_t(tr.non_exit[size_t(j)])] = double(lpb.data[j]);
    }

    // V̄(s') = λ · logsumexp over valid a' of ℓ̄(s', a')
    if (m > 0) {
        Tensor qn = q_logits(tape, *q_target, next_states.data(), nc, m).value();
        std::vector<uint8_t> mask(size_t(m) * size_t(na));
        env.forward_masks(next_states.data(), m, mask.data());
        for (int j = 0; j < m; ++j)
            t.v_next[size_t(tr.non_exit[size_t(j)])] =
                lambda * masked_logsumexp(qn.data + size_t(j) * na, mask.data() + size_t(j) * na, na);
    }

    // b = α · clip(λ · log π̄(a|s), l0, 0), log π̄(a|s) = ℓ̄(s, a) − logsumexp over valid a' of ℓ̄(s, a')
    if (opt.munchausen && n > 0) {
        Tensor qs = q_logits(tape, *q_target, tr.states.data(), C > 0 ? tr.conditions.data() : nullptr, n).value();
        std::vector<uint8_t> mask(size_t(n) * size_t(na));
        env.forward_masks(tr.states.data(), n, mask.data());
        for (int k = 0; k < n; ++k) {
            const float* row = qs.data + size_t(k) * na;
            const double log_pi = double(row[tr.actions[size_t(k)]]) - masked_logsumexp(row, mask.data() + size_t(k) * na, na);
            t.bonus[size_t(k)] =
                double(opt.munchausen_alpha) * std::min(0.0, std::max(double(opt.munchausen_clip), lambda * log_pi));
        }
    }

    // y = g + b + V̄(s')
    t.y.resize(size_t(n));
    for (int k = 0; k < n; ++k) t.y[size_t(k)] = float(t.g[size_t(k)] + t.bonus[size_t(k)] + t.v_next[size_t(k)]);
    return t;
}

Var SoftDQNGFlowNet::transition_loss(Tape& tape, const Transitions& tr, const SoftDQNTargets& t,
                                     Reduction r) const {
    if (int(t.y.size()) != tr.n) throw std::invalid_argument("soft DQN: targets of another batch");
    // ℓ_loss(Q(s, a) − y), Q(s, a) = λ · ℓ(s, a)
    Var qa = gather(q_logits(tape, *q, tr.states.data(), tr.condition_dim > 0 ? tr.conditions.data() : nullptr, tr.n),
                    tr.actions.data());
    const double lambda = entropy_coeff();
    if (lambda != 1.0) qa = scale(qa, float(lambda));
    Var resid = sub(qa, tape.constant_copy(t.y.data(), tr.n, 1));
    return reduce(loss_fn ? (*loss_fn)(resid) : huber(resid), r);
}

Var SoftDQNGFlowNet::loss(Tape& tape, const Transitions& tr, Reduction r) const {
    if (tr.n == 0) throw std::invalid_argument("soft DQN: an empty batch of transitions");
    SoftDQNTargets t = targets(tape, tr);
    return transition_loss(tape, tr, t, r);
}

Var SoftDQNGFlowNet::loss(Tape& tape, const Trajectories& traj, bool, Reduction r, const float* log_rewards) const {
    Transitions tr = transitions_from(q->env(), traj, false);
    tr.drop_saved();
    if (log_rewards)
        for (int k = 0; k < tr.n; ++k)
            if (tr.is_exit[size_t(k)]) tr.log_rewards[size_t(k)] = log_rewards[tr.traj_index[size_t(k)]];
    return loss(tape, tr, r);
}

double SoftDQNGFlowNet::log_z() const {
    const DiscreteEnv& env = q->env();
    if (env.condition_dim() > 0) return std::nan("");
    // V(s_0) = λ · logsumexp over valid a of ℓ(s_0, a)
    std::vector<int> s0(size_t(env.state_dim()));
    env.initial_state(s0.data());
    std::vector<uint8_t> mask(size_t(env.n_actions()));
    env.forward_masks(s0.data(), 1, mask.data());
    Tape tape;
    NoGrad ng(tape);
    Tensor q0 = q_logits(tape, *q, s0.data(), nullptr, 1).value();
    return entropy_coeff() * masked_logsumexp(q0.data, mask.data(), env.n_actions());
}

}  // namespace gfn
