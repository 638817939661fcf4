// continuous_env.h — the continuous environment interface, beside DiscreteEnv (env.h).
//
// Same design as the discrete one, with the other kind of action: a state is a
// row of state_dim floats, a batch of states an (n, state_dim) row-major float
// array; an action is either a move of action_dim floats or the exit, which
// moves a terminating state x to the sink s_f. Backward actions are moves too:
// PB(s_{t−1} | s_t) scores the move a_{t−1} that led into s_t, and
// backward_step undoes it. An environment may store a move in its own
// coordinates (BoxCartesian: the excess over the minimal move, which keeps the
// precision of small draws); step and backward_step read it. Calls are batched
// (virtual per batch, never per state).
//
// Forced steps. Where only one action is possible its probability is 1, so its
// log-probability is 0 and no density is evaluated:
//   - exit_forced(s): the exit is the only forward action at s (Line: k = n_steps);
//   - exit_allowed(s): the exit is one of several actions at s (scored by the
//     policy's exit probability); neither means the exit is impossible at s;
//   - backward_forced(s): s has exactly one parent, s_0, reached by the move
//     backward_forced_action(s) (Line: k = 1, the move x − init).
// Densities of moves are with respect to Lebesgue measure on the action; an
// environment whose step rescales a sampled value states that Jacobian in the
// policy that samples it (docs/continuous.md).
//
// The exact target, for tests and metrics: log Z = log ∫ R and a sampler of
// R/Z over terminal states, where the environment knows them.
#pragma once

#include <string>

#include "engine/random.h"

namespace gfn {

class ContinuousEnv {
public:
    virtual ~ContinuousEnv() = default;

    virtual std::string name() const = 0;
    virtual int state_dim() const = 0;
    virtual int action_dim() const = 0;
    // What an action holds when it is not the move s' − s itself ("" when it is);
    // --trace prints it under its header.
    virtual std::string action_meaning() const { return ""; }

    // s_0 into `out` (state_dim floats); is_initial compares exactly (backward_step
    // must land on s_0 exactly).
    virtual void initial_state(float* out) const = 0;
    bool is_initial(const float* s) const;
    // s' = step(s, a) for n states and moves (n, action_dim); out may alias states.
    virtual void step(const float* states, const float* actions, int n, float* out) const = 0;
    // The parent s = backward_step(s', a) that the move a leads from; out may alias states.
    virtual void backward_step(const float* states, const float* actions, int n, float* out) const = 0;

    virtual bool exit_forced(const float* s) const = 0;
    virtual bool exit_allowed(const float* s) const = 0;
    virtual bool backward_forced(const float* s) const = 0;
    // The move from s_0 into s, for a state with backward_forced(s); out (action_dim).
    virtual void backward_forced_action(const float* s, float* out) const = 0;

    // log R(x) of n terminating states (a density when R is one).
    virtual void log_reward(const float* states, int n, float* out) const = 0;
    // The longest trajectory, in actions, exit included (bounds rollouts).
    virtual int max_trajectory_length() const = 0;

    // log Z when known exactly; false otherwise.
    virtual bool exact_log_partition(double* log_z) const { (void)log_z; return false; }
    // n terminal states (n, state_dim) drawn exactly from R/Z; false when not available.
    virtual bool sample_target(Rng& rng, int n, float* out) const { (void)rng; (void)n; (void)out; return false; }
};

}  // namespace gfn
