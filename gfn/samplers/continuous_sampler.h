// continuous_sampler.h — rolling continuous policies out into Trajectories
// (float states and actions; containers/trajectories.h).
//
// Forward: every row starts at s_0; while any row runs, the policy samples an
// action for the running rows (a move, or the exit where the policy exits),
// the move is applied with env.step, and a row stops at its exit. The behaviour
// policy may be widened by exploration_std (continuous_policy.h). With
// save_log_pf (on-policy training) the rollout keeps log PF of each step under
// the UNEXPLORED policy at the sampled action, on the tape with its gradient
// path (ContinuousPolicy::sample_and_log_prob), in out.saved_log_pf (n_steps, 1),
// time-major like the steps (a forced exit scores 0); objectives then reuse it
// instead of re-evaluating PF. Exploration only widens the behaviour std, so the
// saved values are what a recomputation would give. Without it nothing is saved
// and objectives recompute log PF.
// Backward: from given terminal states, PB samples moves (the forced step back
// to s_0 included) until every row is at s_0; the result is stored as forward
// trajectories ending with the exit. Both compute log R of the terminal states.
//
// Constraints: off the tape's gradient (NoGrad inside) unless save_log_pf;
// tape.arena holds scratch (and the saved log PF's nodes) until the caller
// resets the tape, which must happen after the backward of a loss using them. A row still running after max_trajectory_length
// actions is an error (std::runtime_error).
#pragma once

#include "engine/random.h"
#include "engine/tape.h"
#include "gfn/containers/trajectories.h"
#include "gfn/env/continuous_env.h"
#include "gfn/estimators/continuous_policy.h"

namespace gfn {

void sample_continuous_trajectories(const ContinuousEnv& env, const ContinuousPolicy& pf, int n,
                                    float exploration_std, Rng& rng, Tape& tape, Trajectories& out,
                                    bool save_log_pf = false);

// terminal_states (n, state_dim).
void sample_continuous_backward_trajectories(const ContinuousEnv& env, const ContinuousPolicy& pb,
                                             const float* terminal_states, int n, Rng& rng, Tape& tape,
                                             Trajectories& out);

}  // namespace gfn
