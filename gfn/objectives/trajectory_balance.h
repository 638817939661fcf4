// trajectory_balance.h — the trajectory-balance family of objectives.
//
// With the score s_i = Σ log pf − Σ log pb − log R(x_i) and g a regression loss:
//   TB        (Malkin et al. 2022)      g(s_i + log Z)                 log Z learned (or log Z(c))
//   LPV       (Zhang et al. 2023, §3.2) g(s_i − mean_batch(s))         no log Z
// The relative family fine-tunes a posterior PF toward a frozen prior PF with
// a constraint r and β, with no PB:
//   s_rtb,i = Σ log pf_post − Σ log pf_prior − β · log r(x_i)
//   RTB       (Venkatraman et al. 2024) g(log Z + s_rtb,i)             g = half_squared by default
//   Relative LPV                        g(s_rtb,i − mean_batch(s_rtb)) (RTB at the batch-optimal log Z)
//   Trust-PCL (Deleu et al. 2025)       α² · RTB loss, α = 1/β, v_soft(s_0) = α · log Z
// TB and LPV default to squared, the relative family to half_squared.
// The prior's parameters must live in a frozen ParamStore: no gradient reaches
// them and no optimizer sees them.
#pragma once

#include <optional>

#include "gfn/objectives/gflownet.h"

namespace gfn {

class TBGFlowNet : public TrajectoryBasedGFlowNet {
public:
    // log_z: a learnable scalar or a conditional ScalarEstimator.
    TBGFlowNet(const Policy* pf, const Policy* pb, const ScalarEstimator* log_z,
               bool constant_pb = false, float log_reward_clip_min = kNoClip,
               std::optional<RegressionLoss> loss_fn = std::nullopt);
    Var loss(Tape& tape, const Trajectories& traj, bool recalculate_all_logprobs = true,
             Reduction reduction = Reduction::Mean, const float* log_rewards = nullptr) const override;
    std::string name() const override { return "tb"; }
    double log_z() const override;
    const ScalarEstimator* log_z_estimator;
};

class LogPartitionVarianceGFlowNet : public TrajectoryBasedGFlowNet {
public:
    LogPartitionVarianceGFlowNet(const Policy* pf, const Policy* pb, bool constant_pb = false,
                                 float log_reward_clip_min = kNoClip,
                                 std::optional<RegressionLoss> loss_fn = std::nullopt);
    Var loss(Tape& tape, const Trajectories& traj, bool recalculate_all_logprobs = true,
             Reduction reduction = Reduction::Mean, const float* log_rewards = nullptr) const override;
    std::string name() const override { return "lpv"; }
    bool centred() const override { return true; }
};

class RelativeTBBase : public TrajectoryBasedGFlowNet {
public:
    RelativeTBBase(const Policy* pf, const Policy* prior_pf, float beta,
                   float log_reward_clip_min, std::optional<RegressionLoss> loss_fn);
    // s_rtb = Σ log pf_post − Σ log pf_prior − β log r, (n, 1).
    Var get_scores(Tape& tape, const Trajectories& traj, bool recalculate_all_logprobs = true,
                   const float* log_rewards = nullptr) const override;
    const Policy* prior_pf;
    float beta;
};

class RelativeTrajectoryBalanceGFlowNet : public RelativeTBBase {
public:
    RelativeTrajectoryBalanceGFlowNet(const Policy* pf, const Policy* prior_pf,
                                      const ScalarEstimator* log_z, float beta = 1.f,
                                      float log_reward_clip_min = kNoClip,
                                      std::optional<RegressionLoss> loss_fn = std::nullopt);
    Var loss(Tape& tape, const Trajectories& traj, bool recalculate_all_logprobs = true,
             Reduction reduction = Reduction::Mean, const float* log_rewards = nullptr) const override;
    std::string name() const override { return "rtb"; }
    double log_z() const override;
    const ScalarEstimator* log_z_estimator;
};

class RelativeLogPartitionVarianceGFlowNet : public RelativeTBBase {
public:
    RelativeLogPartitionVarianceGFlowNet(const Policy* pf, const Policy* prior_pf,
                                         float beta = 1.f, float log_reward_clip_min = kNoClip,
                                         std::optional<RegressionLoss> loss_fn = std::nullopt);
    Var loss(Tape& tape, const Trajectories& traj, bool recalculate_all_logprobs = true,
             Reduction reduction = Reduction::Mean, const float* log_rewards = nullptr) const override;
    std::string name() const override { return "relative_lpv"; }
    bool centred() const override { return true; }
};

// Trust-PCL in RL words: policy = pf, reference_policy = prior_pf, α = 1/β,
// the learned scalar is v_soft(s_0) = α · log Z. log_z must be a scalar
// (unconditional) estimator. As torchgfn, log Z and init_v_soft_s0 are two
// exclusive ways to start: without init_v_soft_s0 the caller's log Z keeps its
// value; with it, log Z is set to init_v_soft_s0 / α, and log_z must then be an
// empty slot (value 0, ScalarEstimator's neutral start). A log_z already holding
// another value together with init_v_soft_s0 is refused (std::invalid_argument):
// log_z is always passed here, as it holds the parameter, so its value is what
// says whether the caller supplied a log Z.
class TrustPCLGFlowNet : public RelativeTrajectoryBalanceGFlowNet {
public:
    TrustPCLGFlowNet(const Policy* policy, const Policy* reference_policy,
                     ScalarEstimator* log_z, float alpha = 1.f, std::optional<float> init_v_soft_s0 = std::nullopt,
                     float log_reward_clip_min = kNoClip, std::optional<RegressionLoss> loss_fn = std::nullopt);
    // α² · RTB loss
    Var loss(Tape& tape, const Trajectories& traj, bool recalculate_all_logprobs = true,
             Reduction reduction = Reduction::Mean, const float* log_rewards = nullptr) const override;
    std::string name() const override { return "trust_pcl"; }
    float alpha() const { return 1.f / beta; }
    double v_soft_s0() const { return double(alpha()) * log_z(); }
};

}  // namespace gfn
