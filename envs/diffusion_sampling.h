// diffusion_sampling.h — the diffusion sampler's environment (torchgfn's
// gym/diffusion_sampling.py DiffusionSampling; SPEC §9): a discretised path from
// 0 at time 0 to a point x at time 1 whose end should follow a target density.
//
// State (x ∈ R^d, t): state_dim d + 1, action_dim d; s_0 = (0, 0); dt = 1/N.
// A move a adds to x and advances t by dt. Time is stored as t = k/N computed
// from the integer step counter k = round(t·N), never by adding dt, so it does
// not drift and equal steps carry equal floats.
//   - the exit is forced at k = N (t = 1) and impossible before
//     (exit_allowed = exit_forced);
//   - backward, the move into (x, t) is undone; from k = 1 the only parent is
//     s_0, reached by the forced move x, and backward_step lands on s_0 exactly.
// Every trajectory therefore has exactly N moves and then the exit
// (max_trajectory_length N + 1). torchgfn's estimator exits once t + dt reaches
// 1, so its sampler stops one step early (N − 1 moves, terminal time 1 − dt);
// its MLE path simulates all N. We take the N real moves (SPEC §9).
//
// Reward: log R(x) = the target's log-density of x (envs/diffusion_targets.h);
// log Z and exact samples (with t = 1) come from the target.
#pragma once

#include <memory>
#include <string>

#include "envs/diffusion_targets.h"
#include "gfn/env/continuous_env.h"

namespace gfn {

class DiffusionSampling : public ContinuousEnv {
public:
    // Throws std::invalid_argument for a null target, a target of dimension < 1,
    // or n_steps < 1 (naming --n-steps).
    DiffusionSampling(std::shared_ptr<const DiffusionTarget> target, int n_steps);

    std::string name() const override { return "diffusion_sampling"; }
    int state_dim() const override { return dim_ + 1; }
    int action_dim() const override { return dim_; }

    void initial_state(float* out) const override;
    // x ← x + a, k ← k + 1 (t = k/N); throws for a move at k >= N.
    void step(const float* states, const float* actions, int n, float* out) const override;
    // x ← x − a, k ← k − 1; from k = 1 the result is s_0 exactly; throws at k = 0.
    void backward_step(const float* states, const float* actions, int n, float* out) const override;

    bool exit_forced(const float* s) const override { return step_index(s) >= n_steps_; }
    bool exit_allowed(const float* s) const override { return exit_forced(s); }
    bool backward_forced(const float* s) const override { return step_index(s) == 1; }
    // The move from s_0 into s: x itself.
    void backward_forced_action(const float* s, float* out) const override;

    // log R = target log-density of x (the first d floats of each state).
    void log_reward(const float* states, int n, float* out) const override;
    // The partial energy of n states (x, t), t > 0 (Zhang et al. 2023's DGFS, Sendera et
    // al.'s partial_energy): the log-density interpolated in time from the reference
    // process's marginal to the target,
    //     E_t(x) = (1 − t)·log N(x; 0, v·t·I) + t·log R(x),
    // v = σ²·t_scale the reference's variance per unit time, so E_1 = log R. A base for
    // log F(x, t) (--partial-energy): the flow network learns what E_t leaves out.
    // Throws std::invalid_argument for v <= 0 or a state with t <= 0 (s_0 has no E).
    void partial_energy(const float* states, int n, double v, float* out) const;
    int max_trajectory_length() const override { return n_steps_ + 1; }

    bool exact_log_partition(double* log_z) const override;
    // x from the target, t = 1.
    bool sample_target(Rng& rng, int n, float* out) const override;

    // k = round(t·N) of a state.
    int step_index(const float* s) const;
    // t = k/N as stored in a state.
    float time_of_step(int k) const { return float(double(k) / double(n_steps_)); }
    int dim() const { return dim_; }
    int n_steps() const { return n_steps_; }
    double dt() const { return 1.0 / double(n_steps_); }
    const DiffusionTarget& target() const { return *target_; }

private:
    std::shared_ptr<const DiffusionTarget> target_;
    int dim_;
    int n_steps_;
};

}  // namespace gfn
