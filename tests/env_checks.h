// env_checks.h — checks shared by the environment suites (test_bitsequence,
// test_discrete_ebm, test_enumeration, test_hypergrid).
//
// A fixed, non-uniform forward policy (hashed_policy), the terminating distribution
// P_T(x) of a policy by brute force (the probability of every complete trajectory,
// summed per terminal state), and the check of exact_terminating_distribution()
// against that sum. Only for small enumerable environments: the brute force visits
// every trajectory.
#pragma once

#include <map>
#include <vector>

#include "gfn/validation/enumeration.h"
#include "gfn/env/env.h"

namespace gfn::testing {

// log R(x) of one state, unconditional or under the condition c.
float log_reward_at(const DiscreteEnv& env, std::vector<int> x);
float log_reward_at(const DiscreteEnv& env, std::vector<int> x, float c);

// A fixed, non-uniform policy: logits in [−2, 2] hashed from (state, action),
// invalid actions −inf, log-softmax in double. Keeps a reference to env.
PolicyFn hashed_policy(const DiscreteEnv& env);

// P_T(x) of pf by brute force: the probability of every trajectory from s_0, summed
// per terminal state (keyed by env.state_index of x).
std::map<long long, double> terminating_distribution_by_brute_force(const DiscreteEnv& env, const PolicyFn& pf);

// exact_terminating_distribution() of hashed_policy(env) against the brute-force sum:
// one value per terminal state (within 1e-9), total 1, and not the target itself.
void check_exact_terminating_distribution(const DiscreteEnv& env);

}  // namespace gfn::testing
