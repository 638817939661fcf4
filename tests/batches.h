// batches.h — batches of trajectories written by hand, and checks on batches, shared by
// the suites that build or inspect Trajectories (test_flow_matching, the objective
// fixtures, test_local_search, test_replay_buffer, test_sampler).
#pragma once

#include <string>
#include <vector>

#include "gfn/env/env.h"
#include "gfn/containers/trajectories.h"

namespace gfn::testing {

// One state (d coordinates) as a vector, for comparisons.
std::vector<int> row(const int* s, int d);

// Trajectories written out by hand: states[i] is s_0 … x_i flattened, actions[i] the
// actions (the last one the exit); log R from env. Unconditional.
Trajectories make_batch(const DiscreteEnv& env, const std::vector<std::vector<int>>& states,
                        const std::vector<std::vector<int>>& actions);

// Which of the optional properties check_complete_trajectories asserts.
struct CompleteTrajectoryChecks {
    bool condition_dim = true;    // tr.condition_dim == env.condition_dim()
    bool padding_states = false;  // states past x_i are all −1
    bool log_rewards = true;      // tr.log_rewards equal log R from env (under each condition)
};

// Every structural property of complete trajectories of `env`: s_0 first, valid
// actions, steps that follow env.step, the exit last, −1 actions past the end, the
// step counts; plus the optional properties of `checks`.
void check_complete_trajectories(const DiscreteEnv& env, const Trajectories& tr,
                                 const CompleteTrajectoryChecks& checks);

// Trajectory i of a equals trajectory j of b (path, log R, condition).
bool same_trajectory(const Trajectories& a, int i, const Trajectories& b, int j);

// |p̂ − p| within 5 binomial standard errors of N trials.
void expect_freq(double got, double p, int N, const std::string& what);

}  // namespace gfn::testing
