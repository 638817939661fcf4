// line.h — the Line environment (torchgfn's gym/line.py): a walk on the real line
// whose end point should follow a mixture of Gaussians.
//
// State (x, k): position x and step counter k, both floats; s_0 = (init, 0).
// A move Δx adds to x and k += 1; after n_steps moves (k = n_steps) the exit is
// forced, so every trajectory has n_steps moves and one exit (n_steps + 1 actions).
// Backward, the move into (x, k) is undone; the step from k = 1 back to s_0 is
// forced (its move is x − init).
//
// Reward, a density of x (so Z = ∫ R = K, the number of components):
//     R(x) = Σ_i N(x; μ_i, σ_i²),   log Z = log K
// Defaults (torchgfn's train_line): μ = [2, 5], σ = [0.5, 0.5], init = 0,
// n_sd = 4.5, n_steps = 5. The plotting and binning range is
//     [min μ − n_sd·max σ, max μ + n_sd·max σ]
// and init must lie strictly inside it (as torchgfn asserts).
#pragma once

#include <string>
#include <vector>

#include "gfn/env/continuous_env.h"

namespace gfn {

class Line : public ContinuousEnv {
public:
    // Throws std::invalid_argument on mismatched or empty μ/σ, σ <= 0, non-finite
    // values, n_sd <= 0, n_steps < 1, or init outside the range.
    Line(std::vector<double> mus = {2.0, 5.0}, std::vector<double> sigmas = {0.5, 0.5}, double init = 0.0,
         double n_sd = 4.5, int n_steps = 5);

    std::string name() const override { return "line"; }
    int state_dim() const override { return 2; }
    int action_dim() const override { return 1; }

    void initial_state(float* out) const override;
    void step(const float* states, const float* actions, int n, float* out) const override;
    void backward_step(const float* states, const float* actions, int n, float* out) const override;

    bool exit_forced(const float* s) const override { return counter(s) >= n_steps_; }
    bool exit_allowed(const float* s) const override { return exit_forced(s); }
    bool backward_forced(const float* s) const override { return counter(s) == 1; }
    void backward_forced_action(const float* s, float* out) const override;

    // log R(x) = log Σ_i N(x; μ_i, σ_i²), from x = s[0].
    void log_reward(const float* states, int n, float* out) const override;
    int max_trajectory_length() const override { return n_steps_ + 1; }

    bool exact_log_partition(double* log_z) const override;
    // x ~ R/Z: a component uniformly, then N(μ_i, σ_i²); k = n_steps.
    bool sample_target(Rng& rng, int n, float* out) const override;

    // The exact mass of R/Z on each cell of n_bins equal cells over [lo, hi],
    // with the tails as two more cells: out (n_bins + 2) = [below lo, cells…, above hi].
    //     mass(a, b) = (1/K) Σ_i [Φ((b − μ_i)/σ_i) − Φ((a − μ_i)/σ_i)]
    std::vector<double> bin_masses(double lo, double hi, int n_bins) const;
    double range_lo() const;
    double range_hi() const;

    const std::vector<double>& mus() const { return mus_; }
    const std::vector<double>& sigmas() const { return sigmas_; }
    double init() const { return init_; }
    double n_sd() const { return n_sd_; }
    int n_steps() const { return n_steps_; }

private:
    static int counter(const float* s) { return int(s[1] + 0.5f); }
    std::vector<double> mus_, sigmas_;
    double init_, n_sd_;
    int n_steps_;
};

}  // namespace gfn
