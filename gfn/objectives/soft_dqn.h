// soft_dqn.h — Soft DQN and Munchausen DQN for GFlowNets (Tiapkin et al. 2024,
// "Generative Flow Networks as Entropy-Regularized RL"), on the soft-RL view of
// soft_rl.h: with a fixed PB, GFlowNet training is soft RL at entropy coefficient 1, γ = 1.
//
// PF's network outputs the logits ℓ(s, ·) (PolicyEstimator head over its trunk,
// invalid actions −∞); the policy is PF, π(a|s) ∝ exp ℓ(s, a) over valid a, so
// sampling, validation, `gfn sample` and `gfn eval` are unchanged. The Q-function
// is Q = λ·ℓ with the entropy coefficient
//     λ = 1                 plain soft DQN
//     λ = 1 / (1 − α)       Munchausen (α = --munchausen-alpha)
// so that π = softmax(Q/λ), the soft-greedy policy of M-DQN's temperature λ. For a
// transition (s, a, s'):
//     g(s, a, s') = log PB(s | s')               a not the exit (PB fixed: uniform, or
//                                                log PB = 0 on a tree)
//                   log R(s)                     a the exit (s' = s_f), clipped below
//                                                at log_reward_clip_min
//     V̄(s')       = λ · logsumexp_{a' valid at s'} ℓ̄(s', a'),   V̄(s_f) = 0
//     y            = g + V̄(s')                   (+ Munchausen bonus, below)
//     L            = mean over transitions of ℓ_loss(λ·ℓ(s, a) − y)
// ℓ̄ is the target network: a copy of PF's parameters in a frozen store of its own;
// y carries no gradient (the target network is a constant, and g is fixed), so the
// gradient reaches only ℓ(s, a). ℓ_loss is Huber with δ = 1 (as gfnx):
//     ℓ_loss(x) = x²/2 for |x| <= 1,  |x| − 1/2 otherwise
// or a RegressionLoss (--loss-fn squared, ...).
//
// Munchausen (Vieillard et al. 2020, M-DQN, at entropy temperature λ), with the
// target's log-policy
//     log π̄(a|s) = ℓ̄(s, a) − logsumexp_{a' valid at s} ℓ̄(s, a'),
// adds to g the bonus
//     b = α · clip(λ · log π̄(a|s), l0, 0)        (l0 = --munchausen-clip)
// Unclipped, the fixed point Q(s, a) − αλ log π(a|s) = g + V(s') with V(s) = λ·LSE ℓ(s, ·)
// gives (1 − α)λ · log π(a|s) = g + V(s') − V(s): the soft optimum at entropy
// coefficient (1 − α)λ = 1, which is the GFlowNet's PF (samples ∝ R), with V = log F
// and V(s_0) = log Z. λ = 1/(1 − α) is Tiapkin et al.'s choice (their HyperGrid and
// molecule code rescales the entropy coefficient by 1/(1 − α) and samples from
// softmax(Q/λ)). The clip bounds the bonus at l0 (default −100, as their HyperGrid
// runs); where it binds, the fixed point is no longer exact (docs/objectives/soft-dqn.md).
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
    float munchausen_alpha = 0.9f;   // α (M-DQN: 0.9; Tiapkin et al. on HyperGrid: 0.15)
    float munchausen_clip = -100.f;  // l0 (Tiapkin et al. on HyperGrid: −100; M-DQN on Atari: −1)
};

// The frozen per-transition quantities of one update (no gradient), in Q's units.
struct SoftDQNTargets {
    std::vector<double> g;       // log PB(s | s'), or log R(s) at exits
    std::vector<double> bonus;   // Munchausen α·clip(λ·log π̄(a|s), l0, 0); zeros without
    std::vector<double> v_next;  // V̄(s') = λ·logsumexp ℓ̄(s', ·), 0 at exits
    std::vector<float> y;        // g + bonus + v_next
};

class SoftDQNGFlowNet : public GFlowNet {
public:
    // q: PF (an Mlp or Conditional PolicyEstimator), whose logits are Q/λ; q_target: a network of the same
    // architecture in a frozen store; pb: the fixed PB (null: log PB = 0, a tree).
    // loss_fn: nullopt for Huber. std::invalid_argument on bad options (naming the flags).
    SoftDQNGFlowNet(const PolicyEstimator* q, const PolicyEstimator* q_target, const PolicyEstimator* pb,
                    SoftDQNOptions opt = SoftDQNOptions(), float log_reward_clip_min = kNoClip,
                    std::optional<RegressionLoss> loss_fn = std::nullopt);

    // Raw (unmasked) logits ℓ = Q/λ of a network, (n, n_actions).
    static Var q_logits(Tape& tape, const PolicyEstimator& net, const int* states, const float* conditions, int n);
    // y and its parts for every transition, from the target network (no gradient).
    SoftDQNTargets targets(Tape& tape, const Transitions& tr) const;
    // ℓ_loss(λ·ℓ(s, a) − y) per transition (n, 1), reduced.
    Var transition_loss(Tape& tape, const Transitions& tr, const SoftDQNTargets& t, Reduction reduction) const;
    // targets + transition_loss.
    Var loss(Tape& tape, const Transitions& tr, Reduction reduction = Reduction::Mean) const;
    // The loss on the transitions of a batch of trajectories (custom log_rewards: per trajectory).
    Var loss(Tape& tape, const Trajectories& traj, bool recalculate_all_logprobs = true,
             Reduction reduction = Reduction::Mean, const float* log_rewards = nullptr) const override;
    std::string name() const override { return opt.munchausen ? "munchausen_dqn" : "soft_dqn"; }
    // V(s_0) = λ · logsumexp of ℓ(s_0, ·) over valid actions (log Z at the soft
    // optimum); NaN for conditional environments.
    double log_z() const override;
    // Whether the target network is updated after optimizer step `step` (1, 2, …).
    bool target_update_due(int step) const { return step % opt.target_update_every == 0; }
    // λ = 1/(1 − α) with Munchausen, 1 without: Q = λ·(PF's logits).
    double entropy_coeff() const { return opt.munchausen ? 1.0 / (1.0 - double(opt.munchausen_alpha)) : 1.0; }

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
