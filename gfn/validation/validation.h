// validation.h — how close a trained forward policy is to its target.
//
//   l1        = Σ_x |p̂(x) − p(x)|, p̂ the empirical distribution of fresh samples
//   exact_l1  = Σ_x |P_T(x) − p(x)|, P_T the policy's exact terminating distribution
//   jsd       = JSD(p̂, p) in nats
//   logz_err  = |log Z − log Z_true| (when the objective learns an unconditional log Z)
//   modes     = how many of the target's modes the training samples have visited
// The samples come from the policy without exploration, on their own random
// stream, so validating never changes the training run.
// Under `mpirun -np K` (gfn/runtime/distributed.h) every rank draws its share
// of the samples from its own `rng` and the histogram (or the sum of log R) is
// summed over the ranks: every rank gets l1, jsd and E[log R]; exact_l1 is
// computed once, on rank 0 (NaN on the other ranks).
#pragma once

#include <cmath>
#include <vector>

#include "gfn/validation/enumeration.h"
#include "gfn/estimators/estimators.h"

namespace gfn {

struct ValidationResult {
    double l1 = 0, exact_l1 = 0, jsd = 0;
    double logz = 0, logz_true = 0;  // logz is NaN where nothing is learned
    double mean_log_reward = NAN, mean_log_reward_true = NAN;  // E[log R] of samples / of R/Z
    int n_samples = 0;
    int n_terminal = 0;
};

// Draws n_samples fresh terminal states from pf (conditions: one condition for
// every sample, or null) and compares with `target`.
ValidationResult validate(const DiscreteEnv& env, const PolicyEstimator& pf, const TargetDistribution& target,
                          int n_samples, Rng& rng, const float* condition = nullptr);

// The mean log R(x) over n_samples fresh terminal states of pf.
double sample_mean_log_reward(const DiscreteEnv& env, const PolicyEstimator& pf, int n_samples, Rng& rng);

// The policy as a PolicyFn for enumeration (no exploration; fixed condition or null).
PolicyFn policy_fn(const PolicyEstimator& pf, const float* condition = nullptr);

// The target of a relative objective: p(x) ∝ P_prior(x) · r(x)^β, with P_prior
// the prior's exact terminating distribution and r the environment's reward.
TargetDistribution relative_target(const DiscreteEnv& env, const PolicyEstimator& prior, float beta);

}  // namespace gfn
