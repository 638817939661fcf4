// continuous_balance.cpp — see continuous_balance.h.
#include "gfn/objectives/continuous_balance.h"

#include <cstring>
#include <stdexcept>
#include <string>

namespace gfn {

static const RegressionLoss kSquared(LossKind::Squared);

ContinuousSubTBGFlowNet::ContinuousSubTBGFlowNet(const ContinuousPolicy* pf, const ContinuousPolicy* pb,
                                                 const ContinuousStateFlowEstimator* lf, float lam, SubTBWeighting w,
                                                 float clip, std::optional<RegressionLoss> g)
    : TrajectoryBasedGFlowNet(pf, pb, false, clip, g.value_or(kSquared)), log_f(lf), lambda(lam), weighting(w) {
    if (!pf || !pb) throw std::invalid_argument("continuous DB / SubTB: a forward and a backward policy are required");
    if (!lf) throw std::invalid_argument("continuous DB / SubTB: a log F estimator (log_f) is required");
    if (&lf->env() != &pf->env() || &pb->env() != &pf->env())
        throw std::invalid_argument("continuous DB / SubTB: PF, PB and log F must be of one environment");
    if (!(lam > 0.f && lam <= 1.f))
        throw std::invalid_argument("SubTB: lambda must be in (0, 1], got " + std::to_string(lam));
}

Var ContinuousSubTBGFlowNet::log_state_flows(Tape& tape, const Trajectories& traj) const {
    if (!traj.is_continuous()) throw std::invalid_argument("continuous DB / SubTB: the batch is not continuous");
    const int ms = traj.n_steps(), D = traj.state_dim;
    float* states = tape.arena.floats(size_t(ms) * D + 1);
    for (int k = 0; k < ms; ++k)
        std::memcpy(states + size_t(k) * D, traj.float_state(traj.step_t[size_t(k)], traj.step_traj[size_t(k)]),
                    sizeof(float) * size_t(D));
    return log_f->forward(tape, states, ms);
}

SubTrajectoryResiduals ContinuousSubTBGFlowNet::residuals(Tape& tape, const Trajectories& traj, bool recalc,
                                                          const float* log_rewards) const {
    Var lf = log_state_flows(tape, traj);
    const StepLogProbs lp = evaluate_log_probs(tape, traj, *forward_policy, backward_policy, recalc);
    return sub_trajectory_residuals(tape, traj, lp, lf, log_rewards_var(tape, traj, log_rewards, log_reward_clip_min),
                                    weighting, lambda);
}

Var ContinuousSubTBGFlowNet::loss(Tape& tape, const Trajectories& traj, bool recalc, Reduction reduction,
                                  const float* log_rewards) const {
    Var lf = log_state_flows(tape, traj);
    const StepLogProbs lp = evaluate_log_probs(tape, traj, *forward_policy, backward_policy, recalc);
    return sub_trajectory_balance_loss(tape, traj, lp, lf,
                                       log_rewards_var(tape, traj, log_rewards, log_reward_clip_min), weighting,
                                       lambda, loss_fn, reduction);
}

}  // namespace gfn
