// policy.h — what an objective knows about a policy: nothing but its kind.
//
// A GFlowNet has two kinds of actions and one design:
//   - discrete: an index among n_actions (the exit last), scored by a
//     PolicyEstimator (estimators.h) from masked logits (a Categorical);
//   - continuous: a vector of action_dim floats, or the exit, scored by a
//     ContinuousPolicy (continuous_policy.h) through a distribution object
//     (engine/distributions.h: DiagonalGaussian, BetaMixture, Bernoulli exit).
// Both produce one number per step of a batch of Trajectories: log PF(a_t | s_t)
// on each step, log PB(s_{t−1} | s_t) on each backward step
// (containers/trajectories.h). evaluate_log_probs (log_probs.h) is the one
// place that looks at the kind and dispatches; every objective of the
// trajectory-balance family holds `const Policy*` and never asks which kind
// it has. Objectives that need more than per-step log-probs (DB's and SubTB's
// shared trunks, flow matching's enumeration of parents) take a PolicyEstimator;
// DB and SubTB on continuous batches are the same SubTB kernel fed with per-step
// log-probs and a log F of float states (objectives/continuous_balance.h).
#pragma once

namespace gfn {

class ParamStore;

enum class ActionKind { Discrete, Continuous };

class Policy {
public:
    virtual ~Policy() = default;
    virtual ActionKind action_kind() const = 0;
    virtual bool is_backward() const = 0;
    // The store holding this policy's parameters (for a head tied to another
    // policy's trunk, the trunk's store); null when it has none (uniform PB).
    virtual const ParamStore* parameter_store() const = 0;
};

}  // namespace gfn
