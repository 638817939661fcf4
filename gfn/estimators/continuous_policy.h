// continuous_policy.h — policies over continuous actions (the continuous kind of Policy, policy.h).
//
// A ContinuousPolicy turns network outputs into a distribution object
// (engine/distributions.h) per state, and answers two questions for a batch of
// n states (n, state_dim):
//     log_prob  (n, 1) log p of given actions, with gradients to the parameters:
//               a forward policy scores the move actions[k] (or the exit, where
//               is_exit[k]) at states[k]; a backward policy scores the move
//               that led into states[k] (PB(s_{t−1} | s_t) with a_{t−1});
//     sample    one action per state, off the tape, from the behaviour policy;
//     sample_and_log_prob  both at once: the action drawn as by sample (the same
//               draws from rng) and log p of it under the UNEXPLORED policy, on
//               the tape with gradients to the parameters (the action a
//               constant). The default calls sample then log_prob; policies
//               whose network gives both override it to run the network once.
// Forced steps (continuous_env.h: exit_forced, backward_forced) have probability
// 1: log p = 0 and no network output is used for them. Move densities are with
// respect to Lebesgue measure on the action as the environment applies it.
//
// Exploration (sampling only): the behaviour policy widens each move's std,
//     std_b = √(std² + s²),
// with s annealed to 0 by the trainer. The behaviour policy's log-probs are never
// saved: what an on-policy rollout keeps (sample_and_log_prob) is log PF of the
// unexplored policy at the sampled actions, which is what the objectives want.
//
// GaussianStepPolicy is the Line policy (torchgfn's train_line): an MLP on the
// raw state → (μ, raw σ) per action dimension, σ = σ_min + (σ_max − σ_min)·sigmoid(raw),
// the move a ~ N(μ, diag σ²); the exit only where it is forced.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/nn.h"
#include "engine/random.h"
#include "gfn/env/continuous_env.h"
#include "gfn/estimators/estimators.h"
#include "gfn/estimators/policy.h"

namespace gfn {

class ContinuousPolicy : public Policy {
public:
    ActionKind action_kind() const override { return ActionKind::Continuous; }
    virtual const ContinuousEnv& env() const = 0;
    // states (n, state_dim), actions (n, action_dim; ignored where exit or forced),
    // is_exit (n) or null (no exits; backward policies take null) -> (n, 1).
    // Throws std::invalid_argument for an exit where the environment allows none,
    // or a move where the exit is forced.
    virtual Var log_prob(Tape& tape, const float* states, const float* actions, const uint8_t* is_exit,
                         int n) const = 0;
    // actions (n, action_dim), is_exit (n; backward policies never exit). For a
    // backward policy the forced step back to s_0 is env().backward_forced_action.
    virtual void sample(Tape& tape, const float* states, int n, float exploration_std, Rng& rng, float* actions,
                        uint8_t* is_exit) const = 0;
    // sample(), then log_prob() of the sampled actions (is_exit null for a
    // backward policy) -> (n, 1) on the tape, recorded with gradients unless
    // the tape is under NoGrad. Draws exactly what sample() draws. states must
    // not change before the caller is done with the result's tape.
    virtual Var sample_and_log_prob(Tape& tape, const float* states, int n, float exploration_std, Rng& rng,
                                    float* actions, uint8_t* is_exit) const;
    // Multiply-adds of the network for one state.
    virtual long long macs_per_row() const = 0;
};

// log p of the packed rows `moving` (lp, (m, 1), in that order) spread to n
// rows, every other row (a forced step) 0. lp is ignored when moving is empty.
Var spread_log_probs(Tape& tape, Var lp, const std::vector<int>& moving, int n);

// Refuses (std::invalid_argument, "<env>: ... (step k)") a step a policy cannot
// score at state s: for a backward policy an exit or a move into s_0; for a
// forward one an exit where the environment allows none, or a move where the exit
// is forced. Every ContinuousPolicy::log_prob calls it per row.
void check_scored_step(const ContinuousEnv& env, bool backward, const float* s, bool exit, int k);

// The Gaussian moves of the packed rows `moving` of an n-row batch, mean and std
// (m, A) on the tape: drawn from the behaviour policy, std_b = √(std² + s²)
// (s = exploration_std), into the moving rows of actions (n, A); with
// with_log_prob, log N(draw; mean, std²) under the unexplored policy, spread to
// the n rows by spread_log_probs (else an invalid Var). Sampling is off the tape.
Var draw_gaussian_moves(Tape& tape, Var mean, Var std, float exploration_std, Rng& rng,
                        const std::vector<int>& moving, int n, float* actions, bool with_log_prob);

class GaussianStepPolicy : public ContinuousPolicy {
public:
    GaussianStepPolicy(const ContinuousEnv& env, bool backward, ParamStore& store, const NetConfig& cfg, Rng& rng,
                       const std::string& name, float std_min = 0.1f, float std_max = 1.f);

    const ContinuousEnv& env() const override { return env_; }
    bool is_backward() const override { return backward_; }
    const ParamStore* parameter_store() const override { return store_; }
    Var log_prob(Tape& tape, const float* states, const float* actions, const uint8_t* is_exit,
                 int n) const override;
    void sample(Tape& tape, const float* states, int n, float exploration_std, Rng& rng, float* actions,
                uint8_t* is_exit) const override;
    // One network pass: μ, σ on the tape; the draw from N(μ, σ_b²) off it.
    Var sample_and_log_prob(Tape& tape, const float* states, int n, float exploration_std, Rng& rng,
                            float* actions, uint8_t* is_exit) const override;

    long long macs_per_row() const override { return net_.macs_per_row(); }
    // μ and σ (each (n, action_dim)) of n states, on the tape.
    void mean_std(Tape& tape, const float* states, int n, Var* mean, Var* std) const;
    float std_min() const { return std_min_; }
    float std_max() const { return std_max_; }

private:
    bool forced(const float* s) const { return backward_ ? env_.backward_forced(s) : env_.exit_forced(s); }
    // sample(), and with with_log_prob log p of the draw (else an invalid Var).
    Var draw(Tape& tape, const float* states, int n, float exploration_std, Rng& rng, float* actions,
             uint8_t* is_exit, bool with_log_prob) const;
    const ContinuousEnv& env_;
    bool backward_;
    ParamStore* store_;
    MLP net_;
    float std_min_, std_max_;
};

}  // namespace gfn
