// continuous_sampler.h — rolling continuous policies out into Trajectories
// (float states and actions; containers/trajectories.h).
//
// Forward: every row starts at s_0; while any row runs, the policy samples an
// action for the running rows (a move, or the exit where the policy exits),
// the move is applied with env.step, and a row stops at its exit. The behaviour
// policy may be widened by exploration_std (continuous_policy.h); no log-probs
// are saved, so objectives recompute them under the unexplored policy.
// Backward: from given terminal states, PB samples moves (the forced step back
// to s_0 included) until every row is at s_0; the result is stored as forward
// trajectories ending with the exit. Both compute log R of the terminal states.
//
// Constraints: off the tape's gradient (NoGrad inside); tape.arena holds scratch
// until the caller resets it. A row still running after max_trajectory_length
// actions is an error (std::runtime_error).
#pragma once

#include "engine/random.h"
#include "engine/tape.h"
#include "gfn/containers/trajectories.h"
#include "gfn/env/continuous_env.h"
#include "gfn/estimators/continuous_policy.h"

namespace gfn {

void sample_continuous_trajectories(const ContinuousEnv& env, const ContinuousPolicy& pf, int n,
                                    float exploration_std, Rng& rng, Tape& tape, Trajectories& out);

// terminal_states (n, state_dim).
void sample_continuous_backward_trajectories(const ContinuousEnv& env, const ContinuousPolicy& pb,
                                             const float* terminal_states, int n, Rng& rng, Tape& tape,
                                             Trajectories& out);

}  // namespace gfn
