// diffusion_validation.h — the diffusion sampler's metrics (SPEC §9): how close the
// forward policy's terminal distribution is to R/Z, from importance weights.
//
// With log w = log R(x) + Σ log PB − Σ log PF over a trajectory (the shared
// log_importance_weights of continuous_validation.h):
//   elbo      = (1/B) Σ_i log w_i over B fresh forward trajectories (PF, no
//               exploration); <= log Z in expectation (Jensen)
//   iw_elbo   = log (1/B) Σ_i exp(log w_i) = logsumexp(log w) − log B;
//               E[iw_elbo] <= log Z, tighter than the ELBO
//   eubo      = (1/B) Σ_i log w_i over B trajectories drawn backward by PB from
//               exact target samples x ~ R/Z; >= log Z in expectation
//   ess       = 1 / Σ_i softmax(log w)_i², as a fraction of B (1 when all weights
//               are equal, 1/B when one dominates)
//   modes     each point goes to its nearest mean (Euclidean, on the `dim`
//               coordinates of the terminal state from offset o, dim = means /
//               weights); modes_found = #{k : freq_k >= 1 %},
//               mode_tv = ½ Σ_k |freq_k − w_k|.
//               A product of G independent blocks (manywell) names one block's
//               modes and G offsets: each block is assigned on its own, a mode is a
//               (block, mean) pair (n_modes = G·K, freq_gk the fraction of points
//               whose block g is nearest mean k), modes_found = #{(g, k) : freq_gk
//               >= 1 %} and mode_tv = (1/G) Σ_g ½ Σ_k |freq_gk − w_k|, the mean of the
//               blocks' TVs. One offset {0}: the mixture case above.
// Trajectories are made and scored in chunks of kDiffusionValidationChunk under a
// NoGrad tape that is reset between chunks; the forward chunks draw from rng first,
// then the target sampler and the backward chunks.
#pragma once

#include <vector>

#include "engine/random.h"
#include "gfn/env/continuous_env.h"
#include "gfn/estimators/continuous_policy.h"

namespace gfn {

constexpr int kDiffusionValidationChunk = 2000;

// (1/B) Σ log w_i; NaN for no values.
double elbo(const std::vector<double>& log_w);
// logsumexp(log w) − log B (log_mean_exp); −inf for no values.
double iw_elbo(const std::vector<double>& log_w);
// (1 / Σ softmax(log w)²) / B; NaN for no values or when every weight is 0.
double ess_fraction(const std::vector<double>& log_w);

struct ModeCoverage {
    int modes_found = 0;
    double mode_tv = 0.0;
    std::vector<double> frequencies;  // freq_gk, block-major (g·K + k)
    double mean_distance = 0.0;       // mean Euclidean distance of a block to its nearest mean
};
// n points of `stride` floats; block g is the dim floats from offsets[g] (default: one
// block, the first dim), against means (K × dim, row-major) and weights (K, summing
// to 1). Throws std::invalid_argument when means is not K × dim for an integer
// dim >= 1, offsets is empty or a block does not fit in [0, stride), or n < 1.
ModeCoverage mode_coverage(const float* points, int n, int stride, const std::vector<float>& means,
                           const std::vector<double>& weights, const std::vector<int>& offsets = {0});

struct DiffusionValidation {
    int n_samples = 0;
    double elbo = 0, iw_elbo = 0, eubo = 0, ess = 0;
    int modes_found = 0, n_modes = 0;        // n_modes = blocks × means
    double mode_tv = 0;
    double mode_distance = 0;               // NaN without modes
    std::vector<double> mode_frequencies;   // empty without modes; block-major
};

// Empty mode_means/mode_weights: n_modes = 0, modes_found = 0, mode_tv NaN.
// mode_offsets: the blocks the modes are counted in (mode_coverage).
// env.sample_target returning false: eubo NaN. Throws std::invalid_argument for
// n_samples < 1 or modes that mode_coverage refuses.
DiffusionValidation validate_diffusion(const ContinuousEnv& env, const ContinuousPolicy& pf,
                                       const ContinuousPolicy& pb, const std::vector<float>& mode_means,
                                       const std::vector<double>& mode_weights, int n_samples, Rng& rng,
                                       const std::vector<int>& mode_offsets = {0});

}  // namespace gfn
