// gflownet.h — what every trajectory-based objective shares.
//
// Per-step log-probabilities of a batch (see trajectories.h for steps):
//     log_pf[k] = log PF(a_t | s_t)                  for every step k = (t, i)
//     log_pb[k] = log PB(s_{t−1} | s_t), action a_{t−1}   for every backward step
// and the trajectory score
//     s_i = Σ_t log_pf − Σ_t log_pb − log R(x_i)
// with log R clamped from below at log_reward_clip_min when that is finite.
//
// recalculate_all_logprobs = true re-evaluates PF on the stored states; false
// reuses the log PF saved at sampling time (with its gradient path) when
// present. PB is always evaluated (a tied PB head evaluated during an on-policy
// rollout counts: it is the current PB on the same states).
#pragma once

#include <limits>
#include <string>

#include "gfn/estimators/estimators.h"
#include "gfn/estimators/log_probs.h"
#include "gfn/objectives/regression_loss.h"
#include "gfn/containers/trajectories.h"

namespace gfn {

// log R as a (n, 1) constant: custom values (n) when given, else the batch's;
// clamped at clip_min when finite. Throws std::domain_error for a non-finite
// value that the clip does not fix, naming log_reward_clip_min.
Var log_rewards_var(Tape& tape, const Trajectories& traj, const float* custom_log_rewards, float clip_min);

// log F(s_0) (+ log R(s_0), clipped, when forward-looking): the log Z estimate of
// the objectives that learn a state flow (DB, SubTB). NaN for conditional envs.
double log_flow_at_s0(const StateFlowEstimator& log_f, const DiscreteEnv& env, bool forward_looking, float clip_min);

constexpr float kNoClip = -std::numeric_limits<float>::infinity();

// Every objective: a loss on a batch of trajectories. Objectives defined on
// transitions (DB) or states (FM) read them off the trajectories.
class GFlowNet {
public:
    virtual ~GFlowNet() = default;
    // The objective: (1, 1) for mean and sum, one value per trajectory (or per
    // transition / state, as the objective defines) for none.
    virtual Var loss(Tape& tape, const Trajectories& traj, bool recalculate_all_logprobs = true,
                     Reduction reduction = Reduction::Mean, const float* log_rewards = nullptr) const = 0;
    virtual std::string name() const = 0;
    // The learned log Z of an unconditional objective, or NaN where there is none.
    virtual double log_z() const { return std::numeric_limits<double>::quiet_NaN(); }
    // Optimizer steps taken on one sampled batch: 1, or K·S for PPO, whose training
    // step freezes the rollout once and runs its own minibatch updates.
    virtual int updates_per_batch() const { return 1; }
};

// The policies are held twice: forward_policy / backward_policy of either kind
// (policy.h), which get_scores uses, so the TB family runs on discrete and
// continuous batches alike; and pf / pb, the same policies as discrete
// PolicyEstimators (null when continuous), for the discrete-only objectives
// (DB, SubTB) that reach into their trunks.
class TrajectoryBasedGFlowNet : public GFlowNet {
public:
    // pb may be null only with constant_pb = true (log PB ≡ 0, the DAG is a tree).
    TrajectoryBasedGFlowNet(const Policy* pf, const Policy* pb, bool constant_pb, float log_reward_clip_min,
                            RegressionLoss loss_fn);
    virtual ~TrajectoryBasedGFlowNet() = default;

    // s_i = Σ log pf − Σ log pb − log R(x_i), (n, 1).
    virtual Var get_scores(Tape& tape, const Trajectories& traj, bool recalculate_all_logprobs = true,
                           const float* log_rewards = nullptr) const;
    // Objectives centred on their batch's mean score (LPV, relative LPV: g(s_i − mean(s))).
    // centred_loss is g(s_i − c) about a given constant c, reduced. With c the mean of a
    // whole batch's scores and g squared (or half squared), the batch's gradient is the
    // sum over any split of it of the parts' centred_loss gradients weighted by their
    // trajectories: Σ_i g'(s_i − c) = 0 cancels the centre's own dependence on θ. The
    // data-parallel step uses this (training.h, sharded_steps).
    virtual bool centred() const { return false; }
    // Centred with a squared (or half squared) g: what a split about a shared centre needs.
    bool splits_about_a_centre() const {
        return centred() && (loss_fn.kind == LossKind::Squared || loss_fn.kind == LossKind::HalfSquared);
    }
    Var centred_loss(Var scores, float centre, Reduction r) const;
    const Policy* forward_policy;
    const Policy* backward_policy;  // null when constant_pb
    const PolicyEstimator* pf;      // discrete policies only (else null)
    const PolicyEstimator* pb;      // null when constant_pb or continuous
    bool constant_pb;
    float log_reward_clip_min;
    RegressionLoss loss_fn;
};

}  // namespace gfn
