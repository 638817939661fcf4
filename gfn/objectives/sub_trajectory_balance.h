// sub_trajectory_balance.h — the sub-trajectory balance objective (SubTB, Madan et al. 2023).
//
// Trajectory n visits s_0 … s_{L−1} = x and exits (L = L_n actions, exit included). Every
// sub-trajectory (j, k), 0 <= j < k <= L, of length i = k − j has the residual
//     logF(s_j) + Σ_{t=j}^{k−1} log pf[t] − target,
//     target = log R(x) + Σ_{t=j}^{k−1} log pb[t]      when k = L (it ends with the exit),
//              logF(s_k) + Σ_{t=j}^{k−1} log pb[t]     otherwise,
// with log pb = 0 on the exit step and log R clamped at log_reward_clip_min when that is
// finite. The loss is Σ w·g(residual) with the weights of the weighting (N trajectories,
// n = L of the residual's trajectory, T = max_n L_n):
//   DB                  i = 1 only, g reduced as usual (mean over the batch's transitions)
//   ModifiedDB          i = 1 only, w = 1/(nN)
//   TB                  (0, L) only, w = 1/N: TB with log Z = logF(s_0), g reduced as usual
//   equal               w = 1 / (number of sub-trajectories in the batch, Σ n(n+1)/2)
//   equal_within        w = 2 / (n(n+1)N)
//   geometric_within    w = λ^{i−1} / (N Σ_{k=0}^{n−1} (n−k) λ^k)        (the default)
//   geometric           w = λ^{i−1} / (Σ_{k=0}^{T−1} λ^k) / (number of sub-trajectories of
//                       length i in the batch): the λ-weighted mean over lengths 1..T of the
//                       per-length mean of g
// Every weighting but DB has weights summing to 1. λ = 1 is allowed (geometric_within is
// then equal_within, geometric the plain mean over lengths).
//
// Reductions. DB: mean, sum, or none = one value per transition (n_steps, 1), in step
// order (see trajectories.h). TB, as torchgfn (which computes it as TB itself): the
// reduction applies to the unweighted g of each trajectory, so mean = Σ w·g = Σ g / N,
// sum = Σ g (N times the mean), none = g per trajectory, (N, 1). Every other weighting:
// mean and sum both give Σ w·g (as torchgfn, whose "mean" means this weighted sum); none
// gives, per trajectory, the part of that sum coming from its own sub-trajectories, (N, 1),
// which adds up to the mean.
//
// forward_looking parameterises log F(s) = logF̃(s) + log R(s) at every visited state
// (Pan et al. 2023); log R(s) comes from the environment and must be finite. With a finite
// log_reward_clip_min, log R(s) is clamped like log R(x). torchgfn's SubTB adds log R(s)
// unclamped; we clamp on purpose: torchgfn's forward-looking DB clamps it, so SubTB's
// length-1 residuals stay DB's transitions, and an unclamped R(s) = 0 would give
// log F(s) = −∞, which torchgfn's SubTB then takes for a sink state (its sink mask is
// log F = −∞) and silently leaves out. Without a clip the two agree. Custom log_rewards
// replace log R(x) in the targets only.
//
// Conditional GFlowNets: log F(s | c) comes from a StateFlowEstimator tied to a
// conditional policy; each step's state is evaluated with its trajectory's condition.
//
// The O(Σ n²) residuals are differences of per-trajectory potentials
//     P[t] = logF(s_t) − C[t] (t < L),   P[L] = log R(x) − C[L],   C[t] = Σ_{u<t} (log pf − log pb)[u]
// (residual(j, k) = P[j] − P[k]), so PF, PB and log F are evaluated once per step and the
// sums cost O(steps) through range_sum.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "gfn/objectives/gflownet.h"

namespace gfn {

enum class SubTBWeighting { DB, ModifiedDB, TB, Equal, EqualWithin, GeometricWithin, Geometric };

// "DB", "ModifiedDB", "TB", "equal", "equal_within", "geometric_within", "geometric"
// (torchgfn's spellings); throws std::invalid_argument listing them for anything else.
SubTBWeighting subtb_weighting_from_string(const std::string& name);
std::string subtb_weighting_name(SubTBWeighting w);

// The residuals a weighting uses and their weights, one entry per sub-trajectory.
struct SubTrajectoryResiduals {
    Var residuals;                 // (m, 1)
    std::vector<int> traj;         // trajectory of each residual
    std::vector<int> start;        // j
    std::vector<int> length;       // i = k − j
    std::vector<double> weights;   // w (DB: 1 / number of transitions)
};

// The SubTB kernel on per-step pieces, for either kind of policy (policy.h): lp from
// evaluate_log_probs, log_f (n_steps, 1) = log F(s_t) of every step state in step order,
// log_r (n, 1) = log R(x) (already clamped). SubTBGFlowNet runs on it; so do the
// continuous DB and SubTB (continuous_balance.h), whose log F is a network of float states.
SubTrajectoryResiduals sub_trajectory_residuals(Tape& tape, const Trajectories& traj, const StepLogProbs& lp,
                                                Var log_f, Var log_r, SubTBWeighting weighting, float lambda);
// Σ w·g(residual), reduced as SubTBGFlowNet::loss reduces it.
Var sub_trajectory_balance_loss(Tape& tape, const Trajectories& traj, const StepLogProbs& lp, Var log_f, Var log_r,
                                SubTBWeighting weighting, float lambda, const RegressionLoss& loss_fn,
                                Reduction reduction);

class SubTBGFlowNet : public TrajectoryBasedGFlowNet {
public:
    // lambda in (0, 1]; log_f is required.
    SubTBGFlowNet(const PolicyEstimator* pf, const PolicyEstimator* pb, const StateFlowEstimator* log_f,
                  float lambda = 0.9f, SubTBWeighting weighting = SubTBWeighting::GeometricWithin,
                  bool forward_looking = false, bool constant_pb = false, float log_reward_clip_min = kNoClip,
                  std::optional<RegressionLoss> loss_fn = std::nullopt);

    Var loss(Tape& tape, const Trajectories& traj, bool recalculate_all_logprobs = true,
             Reduction reduction = Reduction::Mean, const float* log_rewards = nullptr) const override;
    std::string name() const override { return "subtb"; }
    // log F(s_0) (with log R(s_0) when forward-looking); NaN for conditional environments.
    double log_z() const override;

    // The residuals of the sub-trajectories the weighting uses: i = 1 for DB and ModifiedDB
    // (in step order), (0, L) for TB, all of them otherwise (trajectory by trajectory,
    // by length, then by start).
    SubTrajectoryResiduals residuals(Tape& tape, const Trajectories& traj, bool recalculate_all_logprobs = true,
                                     const float* log_rewards = nullptr) const;
    // log F(s_t) of every step state, (n_steps, 1) in step order; + log R(s_t) when forward-looking.
    Var log_state_flows(Tape& tape, const Trajectories& traj) const;

    const StateFlowEstimator* log_f;
    float lambda;
    SubTBWeighting weighting;
    bool forward_looking;
};

}  // namespace gfn
