// maximum_likelihood.cpp — see maximum_likelihood.h.
#include "gfn/objectives/maximum_likelihood.h"

#include <stdexcept>

#include "engine/ops.h"

namespace gfn {

MaximumLikelihoodGFlowNet::MaximumLikelihoodGFlowNet(const Policy* pf)
    : TrajectoryBasedGFlowNet(pf, nullptr, true, kNoClip, RegressionLoss(LossKind::Squared)) {
    if (!pf || pf->is_backward()) throw std::invalid_argument("MLE: a forward policy is required");
}

Var MaximumLikelihoodGFlowNet::loss(Tape& tape, const Trajectories& traj, bool, Reduction r, const float*) const {
    // −Σ_t log PF(a_t | s_t) per trajectory, then the reduction (mean: −(1/n) Σ_i Σ_t)
    StepLogProbs lp = evaluate_log_probs(tape, traj, *forward_policy, nullptr, true);
    return reduce(scale(sum_per_trajectory(traj, lp.log_pf), -1.f), r);
}

}  // namespace gfn
