// env.h — the discrete environment interface.
//
// A state is a fixed-length row of ints (state_dim of them); a batch of states
// is an (n, state_dim) row-major int array. Actions are 0..n_actions−1 and the
// last one, exit_action(), moves a terminating state x to the sink s_f.
// Backward actions use the same index as the forward action that led into
// the state, so there are n_actions − 1 of them (exit has no backward action).
//
// Environments are batched: every call handles n states at once. They are
// small classes with virtual calls per batch, never per state.
//
// Small environments also enumerate their state space (enumerable() true):
// all_states() lists every state in a topological order of the DAG (every
// parent before its children), state_index() maps a state to its row there.
// gfn/validation/enumeration.h builds the true distribution and the exact terminating
// distribution of a policy from these hooks.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/random.h"

namespace gfn {

class Preprocessor;

// A number as "%g" prints it, for error messages about environment arguments.
std::string num_str(double v);

class DiscreteEnv {
public:
    virtual ~DiscreteEnv() = default;

    virtual std::string name() const = 0;
    virtual int state_dim() const = 0;
    virtual int n_actions() const = 0;  // the exit action included, last
    int exit_action() const { return n_actions() - 1; }
    int n_backward_actions() const { return n_actions() - 1; }

    // s_0 into `out` (state_dim ints).
    virtual void initial_state(int* out) const = 0;
    bool is_initial(const int* s) const;

    // (n, n_actions): 1 where the action is valid from the state.
    virtual void forward_masks(const int* states, int n, uint8_t* mask) const = 0;
    // (n, n_actions − 1): 1 where backward action a is valid (a parent exists).
    virtual void backward_masks(const int* states, int n, uint8_t* mask) const = 0;
    // The children of states under valid non-exit actions; out may alias states.
    virtual void step(const int* states, const int* actions, int n, int* out) const = 0;
    // The parents of states under valid backward actions; out may alias states.
    virtual void backward_step(const int* states, const int* actions, int n, int* out) const = 0;

    // log R(x) of terminating states (n values). `conditions` is (n, condition_dim())
    // for conditional environments and ignored (may be null) otherwise.
    // May return −inf (R = 0) or non-finite values; the caller checks.
    virtual void log_reward(const int* states, const float* conditions, int n, float* out) const = 0;

    // Conditional environments: the size of a condition and how to draw one.
    virtual int condition_dim() const { return 0; }
    virtual void sample_conditions(Rng& rng, int n, float* out) const;

    // Whether backward_masks/backward_step list every parent of a state, so an
    // objective may sum over all parents (flow matching needs it).
    virtual bool parents_enumerable() const { return true; }

    // The network input for states, when the user picks none.
    virtual std::unique_ptr<Preprocessor> default_preprocessor() const = 0;

    // Enumeration of small state spaces.
    virtual bool enumerable() const { return false; }
    virtual long long n_states() const { return -1; }
    virtual void all_states(int* out) const;        // (n_states, state_dim), topological order
    virtual long long state_index(const int* s) const;  // row in all_states()
    // The longest trajectory, in actions, exit included (bounds rollouts).
    virtual int max_trajectory_length() const = 0;

    // Terminating states with log R >= this are modes. Default: +inf, meaning
    // "the states of maximal reward" (enumeration finds them).
    virtual double mode_log_reward_threshold() const;
    // Every coordinate takes values in [coordinate_min(), coordinate_min() + coordinate_count());
    // coordinate_count() <= 0 when the state is not such a vector (no K-hot input then).
    virtual int coordinate_min() const { return 0; }
    // True when every non-initial state has exactly one parent (the DAG is a
    // tree): then log PB ≡ 0 and objectives run with constant_pb.
    virtual bool is_tree() const { return false; }
    // log Z = log Σ_x R(x) and E_{x∼R/Z}[log R(x)] when known without enumeration
    // (the Ising model, by transfer matrix); false when unknown.
    virtual bool exact_log_partition(double* log_z, double* mean_log_reward) const {
        (void)log_z; (void)mean_log_reward;
        return false;
    }
    virtual int coordinate_count() const { return 0; }
};

}  // namespace gfn
