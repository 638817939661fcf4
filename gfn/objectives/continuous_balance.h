// continuous_balance.h — detailed balance (DB) and sub-trajectory balance (SubTB) on
// continuous environments (--env line, box, box_cartesian, diffusion; SPEC §3, §8).
//
// The formulas are the discrete ones (detailed_balance.h, sub_trajectory_balance.h) with
// densities for probabilities. Trajectory i visits s_0 … s_{L−1} = x and exits (L actions,
// the exit included); log pf[t] = log PF(a_t | s_t), log pb[t] = log PB(s_t | s_{t+1}) with
// a_t (0 for the exit step, and 0 for any step the environment forces, continuous_env.h).
//   DB      every transition t = 0 … L−1, exits included, mean of g over the batch's transitions:
//               logF(s_t) + log pf[t] − log pb[t] − logF(s_{t+1})   (t < L − 1)
//               logF(x) + log PF(exit | x) − log R(x)               (t = L − 1, the exit)
//           — a forced exit (Line, diffusion: every trajectory; Box: where no step fits) has
//           log PF = 0, so its residual is logF(x) − log R(x).
//   SubTB   every sub-trajectory (j, k), j < k <= L, weighted by --subtb-weighting / --lambda:
//               logF(s_j) + Σ_{t=j}^{k−1} (log pf[t] − log pb[t]) − (k = L ? log R(x) : logF(s_k))
// Both run on the one SubTB kernel (sub_trajectory_balance_loss, DB being its i = 1
// weighting), fed with per-step log-probabilities from evaluate_log_probs (the saved
// on-policy log PF when recalculate_all_logprobs is false) and log F from a
// ContinuousStateFlowEstimator, whose log F(s_0) is the learned log Z that log_z() reports.
// log R is clamped at log_reward_clip_min when finite; custom log_rewards replace it.
// No forward-looking variant (log F = log F~ + log R(s)): it needs a reward at every
// state, and a continuous environment's intermediate states are not terminating (Line,
// diffusion) or have a density only at the exit. The diffusion sampler's flow can take
// the partial energy as its base instead (--partial-energy, continuous_state_flow.h).
#pragma once

#include <optional>

#include "gfn/estimators/continuous_policy.h"
#include "gfn/estimators/continuous_state_flow.h"
#include "gfn/objectives/gflownet.h"
#include "gfn/objectives/sub_trajectory_balance.h"

namespace gfn {

class ContinuousSubTBGFlowNet : public TrajectoryBasedGFlowNet {
public:
    // pf forward, pb backward, log_f required; lambda in (0, 1].
    ContinuousSubTBGFlowNet(const ContinuousPolicy* pf, const ContinuousPolicy* pb,
                            const ContinuousStateFlowEstimator* log_f, float lambda = 0.9f,
                            SubTBWeighting weighting = SubTBWeighting::GeometricWithin,
                            float log_reward_clip_min = kNoClip, std::optional<RegressionLoss> loss_fn = std::nullopt);

    // Reductions as SubTBGFlowNet::loss (DB weighting, none: one value per transition in step order).
    Var loss(Tape& tape, const Trajectories& traj, bool recalculate_all_logprobs = true,
             Reduction reduction = Reduction::Mean, const float* log_rewards = nullptr) const override;
    // The residuals the weighting uses, with their weights.
    SubTrajectoryResiduals residuals(Tape& tape, const Trajectories& traj, bool recalculate_all_logprobs = true,
                                     const float* log_rewards = nullptr) const;
    // log F(s_t) of every step state, (n_steps, 1) in step order.
    Var log_state_flows(Tape& tape, const Trajectories& traj) const;
    std::string name() const override { return "subtb"; }
    double log_z() const override { return log_f->log_z(); }

    const ContinuousStateFlowEstimator* log_f;
    float lambda;
    SubTBWeighting weighting;
};

// DB: SubTB's DB weighting (the length-1 residuals, mean over transitions).
class ContinuousDBGFlowNet : public ContinuousSubTBGFlowNet {
public:
    ContinuousDBGFlowNet(const ContinuousPolicy* pf, const ContinuousPolicy* pb,
                         const ContinuousStateFlowEstimator* log_f, float log_reward_clip_min = kNoClip,
                         std::optional<RegressionLoss> loss_fn = std::nullopt)
        : ContinuousSubTBGFlowNet(pf, pb, log_f, 1.f, SubTBWeighting::DB, log_reward_clip_min, loss_fn) {}
    std::string name() const override { return "db"; }
};

}  // namespace gfn
