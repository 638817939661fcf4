// diffusion_targets.h — unnormalised densities a diffusion sampler learns to sample
// (torchgfn's gym/diffusion_sampling.py targets; SPEC §9).
//
// A target is a log-density log R(x) on R^d (unnormalised in general), with its
// exact log Z = log ∫ R and an exact sampler of R/Z (for EUBO and for MLE data).
// Mixture targets also name their modes (means and weights) for the mode metrics.
//
//   gmm25       d = 2; 25 Gaussians, means {−10,−5,0,5,10}², variance 0.3 each
//               (std √0.3), equal weights 1/25; R is the normalised density, log Z = 0.
//               Modes listed row-major: (−10,−10), (−10,−5), …, (10,10).
//   posterior9  d = 2; 9 of gmm25's components (torchgfn's Posterior9of25GaussianMixture),
//               variance 0.3, weights /61 in this order:
//                 (−10,−5) 4, (−5,−10) 10, (−5,0) 4, (10,−5) 5, (0,0) 10,
//                 (0,5) 5, (5,−5) 4, (5,0) 15, (5,10) 4.
//               R is the NORMALISED posterior p_post9 itself, log Z = 0 (torchgfn's
//               log-reward is log p_post9 − log p_gmm25; as an RTB constraint over a
//               gmm25 prior, r = p_post9 / p_gmm25 — the runtime forms that ratio).
//   funnel      d = 10 = 1 + 9; x_0 ~ N(0, s²), x_i | x_0 ~ N(0, e^{x_0}) (variance
//               e^{x_0}) for i = 1..9; s = 1 ("funnel", easy) or s = 3 ("funnel_hard");
//               normalised, log Z = 0.
//   manywell    d = 32; 16 independent 2-D blocks (x_1, x_2) = (x_{2b}, x_{2b+1}),
//                 log R = Σ_b −x_1⁴ + 6x_1² + 0.5x_1 − 0.5x_2²;
//               log Z = 16·(log 11784.50927 + ½ log 2π) ≈ 164.6957
//               (11784.50927 = ∫ exp(−x⁴ + 6x² + 0.5x) dx, checked by quadrature).
//               Exact sampler: x_2 ~ N(0, 1); x_1 by rejection from a two-Gaussian
//               envelope at the two wells with a bound computed at construction.
//
// log R is computed in double and returned as float, floored at the lowest finite
// float (far out, e.g. in the funnel's neck, the density underflows any float).
// ∇_x log R is exact for every target here (log_density_gradient), computed in double
// and returned as float clamped to ±FLT_MAX.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/random.h"

namespace gfn {

class DiffusionTarget {
public:
    virtual ~DiffusionTarget() = default;
    virtual std::string name() const = 0;
    virtual int dim() const = 0;
    // log R(x) of n points xs (n, dim), row-major, into out (n). Computed in double
    // internally; finite (>= lowest float) for every finite x.
    virtual void log_density(const float* xs, int n, float* out) const = 0;
    // ∇_x log R(x) of n points xs (n, dim), row-major, into grad (n, dim). Computed in
    // double, returned as float clamped to ±FLT_MAX: finite for every finite x. Where
    // log_density is floored (far out), this is still the gradient of the unfloored
    // log R — huge, pointing back towards the mass — not the floor's slope 0.
    // Every target here overrides it exactly. The default is a fallback of low precision
    // for targets without an analytic gradient: central differences of the float
    // log_density,
    //     ∂_j log R(x) ≈ [log R(x + h e_j) − log R(x − h e_j)] / 2h,  h = 10⁻³·max(1, |x_j|)
    // (the divisor is the float difference of the two shifted points); the float rounding
    // of log R alone makes an absolute error up to ≈ 10⁻⁴·|log R| / max(1, |x_j|).
    virtual void log_density_gradient(const float* xs, int n, float* grad) const;
    // log ∫ R (exact); NaN where ∫ R is not known (a constraint, below).
    virtual double log_partition() const = 0;
    // n exact draws from R/Z into out (n, dim); only where can_sample().
    virtual void sample(Rng& rng, int n, float* out) const = 0;
    virtual bool can_sample() const { return true; }
    // Mixture targets: the component means (n_modes × m, row-major, over the m
    // coordinates a mode lives in) and weights (summing to 1); empty for targets
    // without named modes. mode_offsets: where those m coordinates start in x — {0}
    // for a mixture over the first m (gmm25, posterior9); one offset per block for a
    // product of independent blocks, whose modes are counted block by block
    // (manywell: the two wells of x_{2b}, offsets 0, 2, …, 30; diffusion_validation.h).
    virtual std::vector<float> mode_means() const { return {}; }
    virtual std::vector<double> mode_weights() const { return {}; }
    virtual std::vector<int> mode_offsets() const { return {0}; }
    // A square [−b, b]² that holds the 2-D targets' mass (for plots); 0 when d ≠ 2.
    virtual double plot_border() const { return 0.0; }
};

// The names make_diffusion_target knows, comma-separated (for --help and errors).
const char* diffusion_target_names();
// gmm25 | posterior9 | funnel | funnel_hard | manywell; throws std::invalid_argument
// naming --target and the known names otherwise.
std::unique_ptr<DiffusionTarget> make_diffusion_target(const std::string& name);
// Neal's funnel of any dimension d >= 2 (x_0 and d − 1 conditional coordinates),
// x_0 ~ N(0, s²); throws std::invalid_argument unless s > 0 and d >= 2. Named
// "funnel" / "funnel_hard" for the two presets (s = 1 / 3, d = 10), else
// "funnel(s=…, d=…)" (e.g. "funnel(s=2, d=5)").
std::unique_ptr<DiffusionTarget> make_funnel(double s, int dim);

// The constraint of RTB posterior sampling over a prior trained on `reference`:
//     log r(x) = log R_target(x) − log R_reference(x),
//     ∇ log r(x) = ∇ log R_target(x) − ∇ log R_reference(x)
// so that prior·r = R_target when the prior has learned R_reference (posterior9
// over a gmm25 prior: r = p_post9 / p_gmm25, torchgfn's gmm25_posterior9 reward).
// ∫ r need not be finite: log_partition() is NaN and there is no sampler
// (can_sample() false; sample throws std::logic_error). Named "target/reference";
// the modes are the target's. Throws std::invalid_argument on different dimensions.
std::unique_ptr<DiffusionTarget> make_constraint_target(std::shared_ptr<const DiffusionTarget> target,
                                                        std::shared_ptr<const DiffusionTarget> reference);

}  // namespace gfn
