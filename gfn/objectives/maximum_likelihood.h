// maximum_likelihood.h — MLE pretraining of a sequential (diffusion) model from data
// (torchgfn's gflownet/mle.py, MLEDiffusion; SPEC §9).
//
// Data x_i (exact target samples) are turned into trajectories by the backward
// policy — for a diffusion sampler the Brownian bridge from (x_i, 1) back to
// (0, 0) — and PF is fitted to them by maximum likelihood:
//     loss = −(1/n) Σ_i Σ_t log PF(a_t | s_t)      over the steps of τ_i ~ PB(· | x_i)
// Minimising it minimises E_x KL(PB(τ | x) ‖ PF(τ | x))-style divergences up to a
// constant: a PF that matches the bridge's time reversal generates the data
// distribution (the maximum-likelihood view of the diffusion ELBO). log R and log Z
// play no part; PB is fixed (not trained). The trainer draws the batch backward
// from the data (gfn/runtime/continuous_training.cpp); the loss reads only PF.
//
// Forced steps (the exit at t = 1) score 0 and add nothing. The gradient reaches
// PF only.
#pragma once

#include "gfn/objectives/gflownet.h"

namespace gfn {

class MaximumLikelihoodGFlowNet : public TrajectoryBasedGFlowNet {
public:
    explicit MaximumLikelihoodGFlowNet(const Policy* pf);
    // Mean: (1, 1); Sum: (1, 1); None: (n, 1) of −Σ_t log PF per trajectory.
    // log_rewards is ignored (the data carry no reward in this objective).
    Var loss(Tape& tape, const Trajectories& traj, bool recalculate_all_logprobs = true,
             Reduction reduction = Reduction::Mean, const float* log_rewards = nullptr) const override;
    std::string name() const override { return "mle"; }
};

}  // namespace gfn
