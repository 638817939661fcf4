// soft_dqn.h — Soft DQN and Munchausen DQN for GFlowNets (Tiapkin et al. 2024,
// "Generative Flow Networks as Entropy-Regularized RL"), on the soft-RL view of
// soft_rl.h: with a fixed PB, GFlowNet training is soft RL at α = γ = 1.
//
// Q(s, ·) is PF's network: its masked logits (PolicyEstimator head over its trunk,
// invalid actions −∞), so the soft-greedy policy π(a|s) ∝ exp Q(s, a) over valid a
// is PF itself and sampling is unchanged. For a transition (s, a, s'):
//     g(s, a, s') = log PB(s | s')               a not the exit (PB fixed: uniform, or
//                                                log PB = 0 on a tree)
//                   log R(s)                     a the exit (s' = s_f), clipped below
//                                                at log_reward_clip_min
//     V̄(s')       = logsumexp_{a' valid at s'} Q̄(s', a'),   V̄(s_f) = 0
//     y            = g + V̄(s')                   (+ Munchausen bonus, below)
//     L            = mean over transitions of ℓ(Q(s, a) − y)
// Q̄ is the target network: a copy of PF's parameters in a frozen store of its own;
// y carries no gradient (the target network is a constant, and g is fixed), so the
// gradient reaches only Q(s, a). ℓ is Huber with δ = 1 (as gfnx):
//     ℓ(x) = x²/2 for |x| <= 1,  |x| − 1/2 otherwise
// or a RegressionLoss (--loss-fn squared, ...).
//
// Munchausen (Vieillard et al. 2020, M-DQN), with the target's log-policy
//     log π̄(a|s) = Q̄(s, a) − logsumexp_{a' valid at s} Q̄(s, a'),
// adds to g the bonus
//     b = α · clip(log π̄(a|s), l0, 0)             (α = --munchausen-alpha, l0 = --munchausen-clip)
// Unclipped, its fixed point (1 − α) Q(s, a) + α V(s) = g + V(s') is the soft optimum
// of the rewards g / (1 − α): it samples ∝ (R · ΠPB)^{1/(1−α)}, not ∝ R, so α trades
// exactness for the implicit KL regularisation (see docs/objectives/soft-dqn.md).
//
// Target update, after every `update_every`-th optimizer step (Polyak averaging):
//     θ̄ ← (1 − τ) θ̄ + τ θ          τ = 1: a periodic copy
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/nn.h"
#include "gfn/containers/transitions.h"
#include "gfn/objectives/gflownet.h"

namespace gfn {

struct SoftDQNOptions {
    float target_tau = 0.25f;   // τ (gfnx: 0.25)
    int target_update_every = 1;  // K (gfnx: 1)
    bool munchausen = false;
    float munchausen_alpha = 0.9f;  // α (M-DQN: 0.9)
    float munchausen_clip = -1.f;   // l0 (M-DQN: −1)
};

// The frozen per-transition quantities of one update (no gradient).
struct SoftDQNTargets {
    std::vector<double> g;       // log PB(s | s'), or log R(s) at exits
    std::vector<double> bonus;   // Munchausen α·clip(log π̄(a|s), l0, 0); zeros without
    std::vector<double> v_next;  // V̄(s'), 0 at exits
    std::vector<float> y;        // g + bonus + v_next
};

class SoftDQNGFlowNet : public GFlowNet {
public:
    // q: PF (an Mlp or Conditional PolicyEstimator); q_target: a network of the same
    // architecture in a frozen store; pb: the fixed PB (null: log PB = 0, a tree).
    // loss_fn: nullopt for Huber. std::invalid_argument on bad options (naming the flags).
    SoftDQNGFlowNet(const PolicyEstimator* q, const PolicyEstimator* q_target, const PolicyEstimator* pb,
                    SoftDQNOptions opt = SoftDQNOptions(), float log_reward_clip_min = kNoClip,
                    std::optional<RegressionLoss> loss_fn = std::nullopt);

    // Raw (unmasked) logits of a network, (n, n_actions).
    static Var q_logits(Tape& tape, const PolicyEstimator& net, const int* states, const float* conditions, int n);
    // y and its parts for every transition, from the target network (no gradient).
    SoftDQNTargets targets(Tape& tape, const Transitions& tr) const;
    // ℓ(Q(s, a) − y) per transition (n, 1), reduced.
    Var transition_loss(Tape& tape, const Transitions& tr, const SoftDQNTargets& t, Reduction reduction) const;
    // targets + transition_loss.
    Var loss(Tape& tape, const Transitions& tr, Reduction reduction = Reduction::Mean) const;
    // The loss on the transitions of a batch of trajectories (custom log_rewards: per trajectory).
    Var loss(Tape& tape, const Trajectories& traj, bool recalculate_all_logprobs = true,
             Reduction reduction = Reduction::Mean, const float* log_rewards = nullptr) const override;
    std::string name() const override { return opt.munchausen ? "munchausen_dqn" : "soft_dqn"; }
    // V(s_0) = logsumexp of Q(s_0, ·) over valid actions (log Z at the soft optimum);
    // NaN for conditional environments.
    double log_z() const override;
    // Whether the target network is updated after optimizer step `step` (1, 2, …).
    bool target_update_due(int step) const { return step % opt.target_update_every == 0; }

    const PolicyEstimator* q;
    const PolicyEstimator* q_target;
    const PolicyEstimator* pb;
    SoftDQNOptions opt;
    float log_reward_clip_min;
    std::optional<RegressionLoss> loss_fn;  // nullopt: Huber (δ = 1)
};

// ℓ(x) = x²/2 for |x| <= δ, δ(|x| − δ/2) otherwise, element-wise, as
// c·(x − c/2) with c = clamp(x, −δ, δ) (its gradient is c).
Var huber(Var x, float delta = 1.f);

// θ̄ ← (1 − τ) θ̄ + τ θ for every parameter of `target`, θ the parameter of the same
// name and shape in `online` (τ = 1 copies exactly). std::invalid_argument when one
// is missing or of another shape, or τ is not in (0, 1].
void polyak_update(ParamStore& target, const ParamStore& online, float tau);

}  // namespace gfn
