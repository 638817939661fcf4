// policy_gradient.h — GFlowNets trained as entropy-regularised RL agents
// (Zykova-Myzina et al. 2026, "Proximal Policy Optimization for Amortized
// Discrete Sampling"), on the soft-RL view of soft_rl.h.
//
// VPG (their Algorithm 1). Per trajectory, with advantages Ψ_t frozen per rollout:
//     L_pi = −Σ_t log PF(a_t | s_t) · Ψ_t
// and Ψ_t one of
//     total          Σ_k g_k = −(TB score) = −(Σ log PF − Σ log PB − log R)
//     reward_to_go   R̂_t
//     baseline       R̂_t − V(s_t)                  critic target y_t = R̂_t
//     gae            GAE(λ) A_t (the default, λ = 0.7)   critic target y_t = A_t + V(s_t)
// V(s) is a StateFlowEstimator (at the soft optimum V = log F). The critic loss is
// value_weight times one of
//   mse     mean over the batch's steps of g(V(s_t) − y_t), g the regression loss
//           (squared by default)
//   sub_eb  Sub-EB (their Eqs. 14–15): SubTB's residual with V in place of log F and
//           the policies frozen at the rollout, for every sub-trajectory (j, k),
//           0 <= j < k <= L, of each trajectory (L steps, the exit at t = L − 1):
//               V(s_j) + Σ_{t=j}^{k−1} log PF[t] − V(s_k) − Σ_{t=j}^{k−1} log PB[t]
//           with V(s_L) := log R(x) and log PB = 0 on the exit step, which is
//               ρ_jk = V(s_j) − Σ_{t=j}^{k−1} g_t − [k < L] V(s_k)
//           (g_t the frozen soft returns of soft_rl.h), weighted geometric_within
//           as SubTB's default:
//               L_V = Σ_i Σ_{(j,k)} w_jk g(ρ_jk),  w_jk = λ^{k−j−1} / (N Σ_{u=0}^{L−1} (L − u) λ^u)
//           (N trajectories; the weights sum to 1). Only V receives gradient.
// and the objective's loss is L_pi (reduced over trajectories) + value_weight · critic.
//
// PB defines the MDP reward, so the policy update holds it fixed (PB is read
// without gradient). TLM (Trajectory Likelihood Maximisation, their Eq. 24)
// trains a learned PB as a separate term whose gradient reaches only PB:
//     L_TLM = −Σ_t log PB(s_t | s_{t+1})   per trajectory, mean over the batch
// (∇ L_TLM = ∇ KL(PF ‖ PB) over trajectories). With a PB tied to PF's trunk, the
// TLM gradient also reaches that shared trunk. Beside TB, DB and SubTB, TLM is the
// only source of PB's gradient (the balance loss sees PB detached; see
// gfn/runtime/training.cpp, backward_step).
//
// Entropic PPO (their Algorithm 2, Eq. 20): GAE advantages and the rollout policy
// π_old frozen once per rollout (freeze()), then K epochs over S minibatches of
// trajectories, each an optimizer step on
//     L = −Σ_t [ min(ρ_t A_t, clip(ρ_t, 1 − ε, 1 + ε) A_t) − KL(π_θ(·|s_t) ‖ π_old(·|s_t)) ]
//     ρ_t = exp(clamp(log π_θ(a_t|s_t) − log π_old(a_t|s_t), −20, 20))
// (per trajectory, mean over the minibatch) + value_weight · critic loss. The clamp
// keeps exp() finite (a ratio of e^20 is far outside any trust region: the clip has
// already flattened it). The KL is analytic over each state's valid actions:
//     KL = Σ_{a valid} p_a (log p_a − log q_a)
// and masked actions (log p = log q = −∞) contribute exactly 0, with finite gradients.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/random.h"
#include "gfn/objectives/gflownet.h"

namespace gfn {

enum class Advantage { Total, RewardToGo, Baseline, Gae };
Advantage advantage_from_string(const std::string& s);  // std::invalid_argument names --advantage
const char* to_string(Advantage a);

enum class CriticLoss { Mse, SubEB };
CriticLoss critic_loss_from_string(const std::string& s);  // "mse" | "sub_eb"; std::invalid_argument names --critic-loss
const char* to_string(CriticLoss c);

// L_TLM = −Σ_t log PB(s_t | s_{t+1}) per trajectory, reduced: the gradient reaches PB only.
Var tlm_loss(Tape& tape, const Trajectories& traj, const PolicyEstimator& pb, Reduction reduction);

// The per-rollout quantities an update holds fixed (per step, step order).
struct FrozenRollout {
    std::vector<float> advantages;      // Ψ_t
    std::vector<float> value_targets;   // y_t (empty without a critic)
    std::vector<float> old_log_pf;      // log π_old(a_t | s_t)
    std::vector<float> old_log_probs;   // PPO: log π_old(· | s_t), (n_steps, n_actions)
    std::vector<float> soft_returns;    // g_t at the rollout (the sub_eb critic's residuals)
};

class PolicyGradientGFlowNet : public TrajectoryBasedGFlowNet {
public:
    // log_v: required for baseline and gae, refused otherwise. tlm: add the TLM term
    // (needs a learned PB). critic: mse or sub_eb (needs log_v); sub_eb_lambda in (0, 1].
    PolicyGradientGFlowNet(const PolicyEstimator* pf, const PolicyEstimator* pb, const StateFlowEstimator* log_v,
                           Advantage advantage = Advantage::Gae, float gae_lambda = 0.7f, bool constant_pb = false,
                           float log_reward_clip_min = kNoClip, bool tlm = false, float value_weight = 1.f,
                           std::optional<RegressionLoss> loss_fn = std::nullopt, CriticLoss critic = CriticLoss::Mse,
                           float sub_eb_lambda = 0.9f);

    // Advantages, critic targets and rollout log-probs, without gradient. recalc = false
    // reads log PF off the batch's saved (on-policy) log-probs when present.
    FrozenRollout freeze(Tape& tape, const Trajectories& traj, bool recalculate_all_logprobs = true,
                         const float* log_rewards = nullptr, bool all_actions = false) const;
    // −Σ_t log PF(a_t | s_t) Ψ_t per trajectory (n, 1), reduced.
    Var policy_loss(Tape& tape, const Trajectories& traj, const FrozenRollout& fr, bool recalculate_all_logprobs,
                    Reduction reduction) const;
    // The critic, (1, 1): mse_value_loss or sub_eb_loss, as critic_loss says. `trunk`
    // (optional): PF's trunk on the batch's steps (pack_steps order, indexed: heads run
    // once per distinct state), reused when V is a head on PF's trunk (--tied), so the
    // trunk runs once for both.
    Var value_loss(Tape& tape, const Trajectories& traj, const FrozenRollout& fr,
                   const IndexedTrunk& trunk = IndexedTrunk()) const;
    // mean over steps of g(V(s_t) − y_t), (1, 1).
    Var mse_value_loss(Tape& tape, const Trajectories& traj, const FrozenRollout& fr,
                       const IndexedTrunk& trunk = IndexedTrunk()) const;
    // Σ w_jk g(ρ_jk) over every sub-trajectory, ρ from fr.soft_returns, (1, 1).
    Var sub_eb_loss(Tape& tape, const Trajectories& traj, const FrozenRollout& fr,
                    const IndexedTrunk& trunk = IndexedTrunk()) const;
    // −Σ_t log PB per trajectory, reduced (needs a learned PB).
    Var tlm_loss(Tape& tape, const Trajectories& traj, Reduction reduction) const;

    // freeze + L_pi + value_weight · critic (+ TLM). Reduction::None is refused with a
    // critic or TLM (per-trajectory and per-step terms do not add up elementwise).
    Var loss(Tape& tape, const Trajectories& traj, bool recalculate_all_logprobs = true,
             Reduction reduction = Reduction::Mean, const float* log_rewards = nullptr) const override;
    std::string name() const override { return "vpg"; }
    // V(s_0) (≈ log Z at the soft optimum), NaN without a critic or when conditional.
    double log_z() const override;

    const StateFlowEstimator* log_v;
    Advantage advantage;
    float gae_lambda;
    bool tlm;
    float value_weight;
    CriticLoss critic_loss;
    float sub_eb_lambda;

protected:
    // V(s_t) per step (n_steps, 1); from `trunk` (PF's, on the same steps) when V is
    // tied to PF and it is given.
    Var step_values(Tape& tape, const Trajectories& traj, const IndexedTrunk& trunk = IndexedTrunk()) const;
    // Whether V is a head on PF's own trunk.
    bool value_shares_trunk() const { return log_v && log_v->is_tied() && log_v->tied_to() == pf; }
};

struct PPOOptions {
    float clip_eps = 0.2f;  // ε
    int epochs = 4;         // K
    int minibatches = 1;    // S
};

class EntPPOGFlowNet : public PolicyGradientGFlowNet {
public:
    EntPPOGFlowNet(const PolicyEstimator* pf, const PolicyEstimator* pb, const StateFlowEstimator* log_v,
                   PPOOptions opt = PPOOptions(), float gae_lambda = 0.7f, bool constant_pb = false,
                   float log_reward_clip_min = kNoClip, bool tlm = false, float value_weight = 1.f,
                   std::optional<RegressionLoss> loss_fn = std::nullopt, CriticLoss critic = CriticLoss::Mse,
                   float sub_eb_lambda = 0.9f);

    // The clipped surrogate minus the analytic KL, negated, per trajectory (n, 1), reduced.
    // `trunk` (optional): PF's trunk on the batch's steps, to reuse.
    Var ppo_policy_loss(Tape& tape, const Trajectories& traj, const FrozenRollout& fr, Reduction reduction,
                        const IndexedTrunk& trunk = IndexedTrunk()) const;
    // One update's loss on a (mini)batch: ppo_policy_loss + value_weight · critic (+ TLM).
    Var update_loss(Tape& tape, const Trajectories& traj, const FrozenRollout& fr) const;
    // The first update of a rollout: freeze + update_loss (at θ = θ_old, ρ = 1 and KL = 0).
    Var loss(Tape& tape, const Trajectories& traj, bool recalculate_all_logprobs = true,
             Reduction reduction = Reduction::Mean, const float* log_rewards = nullptr) const override;
    std::string name() const override { return "ppo"; }
    int updates_per_batch() const override { return opt.epochs * opt.minibatches; }

    // The trajectory rows of each of the S minibatches of every epoch: a fresh
    // permutation of 0..n−1 per epoch, cut into S near-equal parts.
    std::vector<std::vector<int>> minibatch_rows(int n, Rng& rng) const;

    PPOOptions opt;
};

// Rows `rows` of a frozen rollout, to go with select_trajectories(traj, rows).
FrozenRollout select_frozen(const Trajectories& traj, const FrozenRollout& fr, const std::vector<int>& rows);

}  // namespace gfn
