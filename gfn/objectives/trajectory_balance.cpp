// trajectory_balance.cpp — see trajectory_balance.h.
#include "gfn/objectives/trajectory_balance.h"

#include <cmath>
#include <stdexcept>

#include "engine/ops.h"

namespace gfn {

static const RegressionLoss kSquared(LossKind::Squared);
static const RegressionLoss kHalfSquared(LossKind::HalfSquared);

// ---- TB ---------------------------------------------------------------------

TBGFlowNet::TBGFlowNet(const Policy* pf, const Policy* pb, const ScalarEstimator* log_z,
                       bool constant_pb, float clip, std::optional<RegressionLoss> g)
    : TrajectoryBasedGFlowNet(pf, pb, constant_pb, clip, g.value_or(kSquared)), log_z_estimator(log_z) {
    if (!log_z) throw std::invalid_argument("TB: a log Z estimator is required");
}

Var TBGFlowNet::loss(Tape& tape, const Trajectories& traj, bool recalc, Reduction r, const float* lr) const {
    // g(s_i + log Z(c_i))
    Var s = get_scores(tape, traj, recalc, lr);
    Var log_z = log_z_estimator->forward(tape, traj.conditions.empty() ? nullptr : traj.conditions.data(), traj.n);
    return reduce(loss_fn(add(s, log_z)), r);
}

double TBGFlowNet::log_z() const {
    return log_z_estimator->conditional() ? std::nan("") : double(log_z_estimator->value());
}

// ---- LPV --------------------------------------------------------------------

LogPartitionVarianceGFlowNet::LogPartitionVarianceGFlowNet(const Policy* pf, const Policy* pb,
                                                           bool constant_pb, float clip,
                                                           std::optional<RegressionLoss> g)
    : TrajectoryBasedGFlowNet(pf, pb, constant_pb, clip, g.value_or(kSquared)) {}

Var LogPartitionVarianceGFlowNet::loss(Tape& tape, const Trajectories& traj, bool recalc, Reduction r,
                                       const float* lr) const {
    // g(s_i − mean_batch(s))
    Var s = get_scores(tape, traj, recalc, lr);
    return reduce(loss_fn(sub(s, mean(s))), r);
}

// ---- the relative family ------------------------------------------------------

RelativeTBBase::RelativeTBBase(const Policy* pf, const Policy* prior, float b, float clip,
                               std::optional<RegressionLoss> g)
    : TrajectoryBasedGFlowNet(pf, nullptr, true, clip, g.value_or(kHalfSquared)), prior_pf(prior), beta(b) {
    if (!prior)
        throw std::invalid_argument("relative objective: a prior forward policy (prior_pf, --prior) is required");
    if (prior->is_backward()) throw std::invalid_argument("relative objective: prior_pf is a backward policy");
    if (prior == pf) throw std::invalid_argument("relative objective: prior_pf must be a separate, frozen policy");
    const ParamStore* ps = prior->parameter_store();
    if (ps && !ps->frozen)
        throw std::invalid_argument("relative objective: the prior's parameters must be frozen (ParamStore::frozen)");
    if (ps && ps == pf->parameter_store())
        throw std::invalid_argument("relative objective: the prior must not share parameters with the posterior");
    if (!(std::isfinite(b) && b > 0.f)) throw std::invalid_argument("relative objective: beta must be > 0");
}

Var RelativeTBBase::get_scores(Tape& tape, const Trajectories& traj, bool recalc, const float* lr) const {
    // s_rtb = Σ log pf_post − Σ log pf_prior − β log r
    StepLogProbs post = evaluate_log_probs(tape, traj, *forward_policy, nullptr, recalc);
    Var prior_sum;
    {
        NoGrad ng(tape);
        StepLogProbs prior = evaluate_log_probs(tape, traj, *prior_pf, nullptr, true);
        prior_sum = sum_per_trajectory(traj, prior.log_pf);
    }
    Var s = sub(sum_per_trajectory(traj, post.log_pf), prior_sum);
    return sub(s, scale(log_rewards_var(tape, traj, lr, log_reward_clip_min), beta));
}

RelativeTrajectoryBalanceGFlowNet::RelativeTrajectoryBalanceGFlowNet(const Policy* pf,
                                                                     const Policy* prior,
                                                                     const ScalarEstimator* log_z, float b,
                                                                     float clip, std::optional<RegressionLoss> g)
    : RelativeTBBase(pf, prior, b, clip, g), log_z_estimator(log_z) {
    if (!log_z) throw std::invalid_argument("RTB: a log Z estimator is required");
}

Var RelativeTrajectoryBalanceGFlowNet::loss(Tape& tape, const Trajectories& traj, bool recalc, Reduction r,
                                            const float* lr) const {
    // g(log Z + s_rtb)
    Var s = get_scores(tape, traj, recalc, lr);
    Var log_z = log_z_estimator->forward(tape, traj.conditions.empty() ? nullptr : traj.conditions.data(), traj.n);
    return reduce(loss_fn(add(s, log_z)), r);
}

double RelativeTrajectoryBalanceGFlowNet::log_z() const {
    return log_z_estimator->conditional() ? std::nan("") : double(log_z_estimator->value());
}

RelativeLogPartitionVarianceGFlowNet::RelativeLogPartitionVarianceGFlowNet(const Policy* pf,
                                                                           const Policy* prior, float b,
                                                                           float clip,
                                                                           std::optional<RegressionLoss> g)
    : RelativeTBBase(pf, prior, b, clip, g) {}

Var RelativeLogPartitionVarianceGFlowNet::loss(Tape& tape, const Trajectories& traj, bool recalc, Reduction r,
                                               const float* lr) const {
    // g(s_rtb − mean_batch(s_rtb))
    Var s = get_scores(tape, traj, recalc, lr);
    return reduce(loss_fn(sub(s, mean(s))), r);
}

static float checked_alpha(float alpha) {
    if (!(std::isfinite(alpha) && alpha > 0.f)) throw std::invalid_argument("Trust-PCL: alpha must be > 0");
    return alpha;
}

TrustPCLGFlowNet::TrustPCLGFlowNet(const Policy* policy, const Policy* reference,
                                   ScalarEstimator* log_z, float alpha, std::optional<float> init_v_soft_s0,
                                   float clip, std::optional<RegressionLoss> g)
    : RelativeTrajectoryBalanceGFlowNet(policy, reference, log_z, 1.f / checked_alpha(alpha), clip, g) {
    if (log_z->conditional()) throw std::invalid_argument("Trust-PCL: v_soft(s_0) needs an unconditional log Z");
    if (!init_v_soft_s0) return;  // the caller's log Z, kept
    if (!std::isfinite(*init_v_soft_s0))
        throw std::invalid_argument("Trust-PCL: init_v_soft_s0 (--init-logz) must be finite");
    if (log_z->value() != 0.f)
        throw std::invalid_argument("Trust-PCL: log Z and init_v_soft_s0 are mutually exclusive: log_z already holds " +
                                    std::to_string(log_z->value()) + " and init_v_soft_s0 = " +
                                    std::to_string(*init_v_soft_s0) +
                                    " was also given; pass log_z with its value and no init_v_soft_s0, or an "
                                    "empty log_z (value 0) with init_v_soft_s0");
    log_z->set_value(*init_v_soft_s0 / alpha);  // v_soft(s_0) = α log Z
}

Var TrustPCLGFlowNet::loss(Tape& tape, const Trajectories& traj, bool recalc, Reduction r,
                           const float* lr) const {
    // α² · L_RTB
    const float a = alpha();
    return scale(RelativeTrajectoryBalanceGFlowNet::loss(tape, traj, recalc, r, lr), a * a);
}

}  // namespace gfn
