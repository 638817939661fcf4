// flow_matching.h — the flow-matching objective (Bengio et al., "GFlowNet Foundations", §3.2).
//
// FM learns the edge flows log F(s→a) of every forward action a, the exit included,
// as the raw logits of a forward PolicyEstimator. Its sampling policy is that
// estimator's policy, PF(a|s) = F(s→a) / Σ_{a' valid} F(s→a'), so the sampler
// and validation use the estimator unchanged.
//
// On a batch of trajectories, with g the regression loss (squared by default):
//   flow matching, on every visited non-initial state s (every (t, i) with
//   1 <= t <= L_i − 1, repeats kept, the terminal state x_i included):
//       in(s)  = log Σ_{b: valid backward action of s}  F(parent_b(s) → s),
//                the edge parent_b(s) → s having forward action index b
//       out(s) = log Σ_{a: valid forward action of s}    F(s → a),   exit included
//       term   = g(in(s) − out(s))
//   reward matching, on the last state x_i of every trajectory (s_0 too, when a
//   trajectory only exits):
//       term   = α · g(log F(x_i → exit) − log R(x_i))
// Reductions (torchgfn's loss is mean(flow terms) + α·mean(reward terms)):
//   mean   mean_k g(in − out) + α · mean_i g(log F(x_i → exit) − log R(x_i))
//          (the flow part is 0 when no state has t >= 1)
//   sum    Σ_k g(in − out) + α · Σ_i g(…)
//   none   (n_bsteps + n, 1): the flow terms in backward-step order (time-major),
//          then the α-weighted reward terms in trajectory order; their sum is `sum`.
// log R is never clipped (log_reward_clip_min does not apply to FM): a non-finite
// log R is an error. FM always evaluates the network (recalculate_all_logprobs is
// ignored). It needs an environment whose parents can be enumerated
// (DiscreteEnv::parents_enumerable()).
#pragma once

#include <optional>

#include "gfn/objectives/gflownet.h"

namespace gfn {

class FMGFlowNet : public GFlowNet {
public:
    // logF_edges: a forward PolicyEstimator (Mlp or Conditional; Uniform means log F ≡ 0).
    // Throws std::invalid_argument on a null or backward estimator, α < 0 or non-finite,
    // or an environment whose parents cannot be enumerated.
    explicit FMGFlowNet(const PolicyEstimator* logF_edges, float alpha = 1.f,
                        std::optional<RegressionLoss> loss_fn = std::nullopt);

    // See above. Throws std::domain_error on a non-finite log R (batch or custom values),
    // std::invalid_argument on a batch that does not fit the environment.
    Var loss(Tape& tape, const Trajectories& traj, bool recalculate_all_logprobs = true,
             Reduction reduction = Reduction::Mean, const float* log_rewards = nullptr) const override;
    std::string name() const override { return "fm"; }
    // log F(s_0) = log Σ_a F(s_0 → a), the flow's estimate of log Z (NaN for conditional envs).
    double log_z() const override;

    // (n, n_actions) raw log edge flows log F(s → a) of n states (invalid actions included).
    Var edge_log_flows(Tape& tape, const int* states, const float* conditions, int n) const;

    const PolicyEstimator* logF;  // also the forward policy to sample with
    float alpha;
    RegressionLoss loss_fn;
};

}  // namespace gfn
