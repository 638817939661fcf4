// detailed_balance.h — the detailed-balance objectives, defined on transitions.
//
// On a transition s → s' (transitions.h) with a regression loss g:
//   DB           (Bengio et al. 2023, §3.2)  residual
//                  logF(s) + log PF(a|s) − log PB(s|s') − target,
//                  target = log R(s) when s' = s_f (log PB = 0 there), else logF(s').
//                Mean over all transitions, exits included.
//   forward-looking DB (Pan et al. 2023)   log F is parameterised as
//                  logF(s) = logF̃(s) + log R(s)
//                at every state, s and s' alike (the estimator gives logF̃), so the
//                residual of a non-exit transition is
//                  logF̃(s) + log R(s) + log PF − log PB − logF̃(s') − log R(s'),
//                and that of an exit logF̃(x) + log PF(exit|x) (the log R cancel).
//                Needs a reward at every visited state: every state terminating.
//   ModifiedDB   (Deleu et al. 2022, §3.2)  only transitions with s' ≠ s_f, every
//                state terminating; no log F:
//                  [log R(s) + log PF(a|s) + log PF(exit|s')] − [log R(s') + log PB(s|s') + log PF(exit|s)]
//                Mean over the non-exit transitions.
// g defaults to squared. log_reward_clip_min (DB only, not ModifiedDB) clamps every
// log R DB reads from below: the terminal ones and, forward-looking, the state ones.
//
// loss() reads the transitions off a batch of trajectories (transitions_from) and
// calls loss_on_transitions(), which a transition replay buffer can feed directly.
// recalculate_all_logprobs = false reuses the saved log PF(a|s) when present; a
// saved log PB from a tied head is always reused (as in gflownet.h). ModifiedDB
// evaluates PF at s and s' regardless, for the exit terms.
//
// Custom log-rewards (loss: n values, one per trajectory; loss_on_transitions: one
// per transition, read at exits) replace the terminal log R, i.e. the DB target of
// the exit transitions. The forward-looking parameterisation keeps the environment's
// log R(s). ModifiedDB uses the reward of every state and refuses custom values.
#pragma once

#include <optional>

#include "gfn/objectives/gflownet.h"
#include "gfn/containers/transitions.h"

namespace gfn {

class DBGFlowNet : public TrajectoryBasedGFlowNet {
public:
    // logF is required: a standalone MLP or a head on a policy's trunk (a head on
    // pf's trunk shares one trunk evaluation with PF, and with a tied PB).
    DBGFlowNet(const PolicyEstimator* pf, const PolicyEstimator* pb, const StateFlowEstimator* logF,
               bool forward_looking = false, bool constant_pb = false, float log_reward_clip_min = kNoClip,
               std::optional<RegressionLoss> loss_fn = std::nullopt);

    // Reduction none: one value per transition, in transition (= forward step) order.
    Var loss(Tape& tape, const Trajectories& traj, bool recalculate_all_logprobs = true,
             Reduction reduction = Reduction::Mean, const float* log_rewards = nullptr) const override;
    // log_rewards: null, or one value per transition (read at exits).
    Var loss_on_transitions(Tape& tape, const Transitions& tr, bool recalculate_all_logprobs = true,
                            Reduction reduction = Reduction::Mean, const float* log_rewards = nullptr) const;
    // The residuals (n_transitions, 1) before g.
    Var transition_scores(Tape& tape, const Transitions& tr, bool recalculate_all_logprobs = true,
                          const float* log_rewards = nullptr) const;
    std::string name() const override { return "db"; }
    // log F(s_0) (+ log R(s_0) when forward-looking), DB's estimate of log Z; NaN when conditional.
    double log_z() const override;

    const StateFlowEstimator* logF;
    bool forward_looking;
};

class ModifiedDBGFlowNet : public TrajectoryBasedGFlowNet {
public:
    ModifiedDBGFlowNet(const PolicyEstimator* pf, const PolicyEstimator* pb, bool constant_pb = false,
                       std::optional<RegressionLoss> loss_fn = std::nullopt);

    // Reduction none: one value per non-exit transition, in transition order
    // (Transitions::non_exit). A batch with no non-exit transition has loss 0.
    // Throws std::invalid_argument naming ModifiedDB and the environment when a
    // visited state is not terminating, or when custom log_rewards are given.
    Var loss(Tape& tape, const Trajectories& traj, bool recalculate_all_logprobs = true,
             Reduction reduction = Reduction::Mean, const float* log_rewards = nullptr) const override;
    // tr must carry the state rewards (transitions_from(env, traj, true)).
    Var loss_on_transitions(Tape& tape, const Transitions& tr, bool recalculate_all_logprobs = true,
                            Reduction reduction = Reduction::Mean) const;
    // The residuals (n_non_exit, 1) before g.
    Var transition_scores(Tape& tape, const Transitions& tr, bool recalculate_all_logprobs = true) const;
    std::string name() const override { return "modified_db"; }
};

}  // namespace gfn
