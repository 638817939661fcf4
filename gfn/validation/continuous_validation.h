// continuous_validation.h — how close a continuous forward policy is to R/Z.
//
// From n fresh trajectories of PF (no exploration, their own random stream):
//   binned_l1   = Σ_b |p̂_b − p_b| over the cells of a 1-D grid on the first state
//                 coordinate, n_bins equal cells over [lo, hi] plus the two tails,
//                 p̂ the sample frequencies, p the exact cell masses of R/Z
//                 (the environment's, e.g. Line::bin_masses from the normal CDF)
//   binned_jsd  = JSD(p̂, p) in nats on the same cells
//   logz_is     = log (1/n) Σ_i exp(log R(x_i) + Σ log PB − Σ log PF)
//                 an importance-sampling estimate of log Z with PF as proposal
//                 (unbiased in Z, a lower bound on log Z in expectation; PB's
//                 forced steps and the forced exit contribute 0)
// With pb null (constant PB) Σ log PB = 0.
// Two-dimensional states (Box): validate_continuous_grid bins the terminal
// (x^0, x^1) on G×G equal cells of [0, 1]² (row-major by the cell of x^0,
// BoxBase::cell_of; coordinates outside go to the edge cells) against the
// environment's exact cell masses (BoxBase::cell_masses); same l1, JSD and log Z.
// kde_jsd (torchgfn's Box metric): the JSD between kernel density estimates of two
// point sets on the G×G cell centres c of [0, 1]², exponential kernel, bandwidth h:
//     f(c) ∝ Σ_i exp(−‖c − x_i‖ / h),  normalised over the centres;  JSD(f_a, f_b) in nats.
#pragma once

#include <cmath>
#include <vector>

#include "engine/random.h"
#include "engine/tape.h"
#include "gfn/containers/trajectories.h"
#include "gfn/env/continuous_env.h"
#include "gfn/estimators/continuous_policy.h"

namespace gfn {

struct ContinuousValidation {
    int n_samples = 0;
    double binned_l1 = 0, binned_jsd = 0, logz_is = 0;
    double kde_jsd = NAN;  // validate_continuous_grid: kde_jsd of (up to) 10,000 samples against exact ones
};

// Counts of xs (n values, stride floats apart) in the cells [below lo, n_bins cells, above hi],
// as frequencies (n_bins + 2 values summing to 1).
std::vector<double> bin_frequencies(const float* xs, int n, int stride, double lo, double hi, int n_bins);

// log (1/n) Σ exp(v_i), stable; −inf for no values.
double log_mean_exp(const std::vector<double>& v);

// The log importance weight of each trajectory of a continuous batch (n values),
//     log w_i = log R(x_i) + Σ_t log PB(s_{t−1} | s_t) − Σ_t log PF(a_t | s_t),
// Σ log PB = 0 when pb is null; forced steps contribute 0. Σ log PF is the batch's
// saved log PF when it carries one (the policy's score of its own draws: a polar Box
// move on a restricted arc keeps its draw u only to ~1e-7 in the float move, so scoring
// the move would underrate a draw below that and overrate its weight), else the policy's
// log_prob of the stored moves. Evaluated on `tape` (the caller picks NoGrad and resets
// the tape).
std::vector<double> log_importance_weights(const ContinuousPolicy& pf, const ContinuousPolicy* pb,
                                           const Trajectories& traj, Tape& tape);

// target_masses: n_bins + 2 cell masses over [lo, hi] as bin_frequencies lays them out.
// Frequencies of n points (x^0, x^1 at xy[i·stride], xy[i·stride + 1]) on the G×G grid of [0, 1]².
std::vector<double> grid_frequencies(const float* xy, int n, int stride, int G);

// target_masses: G·G cell masses as grid_frequencies lays them out.
ContinuousValidation validate_continuous_grid(const ContinuousEnv& env, const ContinuousPolicy& pf,
                                              const ContinuousPolicy* pb, const std::vector<double>& target_masses,
                                              int G, int n_samples, Rng& rng);

// a (n_a, 2), b (n_b, 2) points; G cells per side; bandwidth h > 0.
double kde_jsd(const float* a, int n_a, const float* b, int n_b, int G = 50, double bandwidth = 0.1);

ContinuousValidation validate_continuous(const ContinuousEnv& env, const ContinuousPolicy& pf,
                                         const ContinuousPolicy* pb, const std::vector<double>& target_masses,
                                         double lo, double hi, int n_samples, Rng& rng);

}  // namespace gfn
