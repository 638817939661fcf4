// log_probs.h — the per-step log-probabilities of a batch of trajectories under
// a forward and a backward policy (see containers/trajectories.h for steps):
//     log_pf[k] = log PF(a_t | s_t)                      for every step k = (t, i)
//     log_pb[k] = log PB(s_{t−1} | s_t), action a_{t−1}  for every backward step
// Objectives build their scores from these; local search and replay buffers
// use them to score re-drawn trajectories.
//
// The two kinds of policies (policy.h) meet here: a discrete batch goes to
// PolicyEstimators (with the tied-trunk fast path), a continuous batch to
// ContinuousPolicies (forced steps score 0). Callers never ask which kind.
#pragma once

#include "engine/tape.h"
#include "gfn/containers/trajectories.h"
#include "gfn/estimators/estimators.h"

namespace gfn {

// The states, conditions and actions of the forward steps — or of the backward
// steps, with the action a_{t−1} that led into s_t — packed into arena rows.
struct PackedSteps {
    int* states = nullptr;      // (m, state_dim)
    float* conditions = nullptr;  // (m, condition_dim), null when unconditional
    int* actions = nullptr;     // (m)
    int m = 0;
};
PackedSteps pack_steps(Tape& tape, const Trajectories& traj, bool backward);

struct StepLogProbs {
    Var log_pf;  // (n_steps, 1)
    Var log_pb;  // (n_bsteps, 1); invalid when PB is constant
};

// Evaluates PF on every step and PB (when given) on every backward step.
// With a PB tied to PF and recalculation, the trunk runs once over all states —
// once per distinct state when they repeat (PolicyEstimator::trunk_indexed), and then
// both heads run on those rows too (PB on all but s_0), each step's entry gathered.
// Throws std::invalid_argument when a policy's kind is not the batch's.
StepLogProbs evaluate_log_probs(Tape& tape, const Trajectories& traj, const Policy& pf, const Policy* pb,
                                bool recalculate_all_logprobs);

// Σ over each trajectory's steps: (n_steps, 1) -> (n, 1).
Var sum_per_trajectory(const Trajectories& traj, Var step_values);
// Σ over each trajectory's backward steps: (n_bsteps, 1) -> (n, 1).
Var sum_per_trajectory_backward(const Trajectories& traj, Var bstep_values);

}  // namespace gfn
