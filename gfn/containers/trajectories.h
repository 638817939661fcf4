// trajectories.h — a batch of complete trajectories s_0 → … → x → s_f.
//
// Layout: padded and time-major. Trajectory i has length L_i (actions, exit
// included) and visits states s_0 … s_{L_i−1} = x_i before the sink, so
//     state(t, i)  for t < L_i        row t·n + i of `states`
//     action(t, i) for t < L_i        the action taken at s_t (the exit at t = L_i − 1)
// Rows past the end hold −1 (the sink is never stored as a state).
//
// A "step" is a pair (t, i) with t < L_i; steps are listed time-major
// (t ascending, then i ascending), which is the order a batched rollout makes
// them in. log PF is evaluated per step. A "backward step" is a pair (t, i)
// with 1 <= t <= L_i − 1: PB(s_{t−1} | s_t) takes state s_t and the action
// a_{t−1} that led into it; the exit step has no backward step (log PB = 0).
//
// log-rewards are computed once, when the batch is made. Saved log-probs are
// optional (Var on the current tape, one value per step): the sampler records
// them with their gradient path for on-policy training (never from an ε-mixed
// rollout, whose mixture has no gradient path: see samplers/sampler.h).
//
// Continuous batches (action_dim > 0, gfn/env/continuous_env.h) use the same
// layout, steps and backward steps with float storage: float_states holds the
// states (padded with NaN) and float_actions the moves, one row of action_dim
// per step; the exit step's row is NaN (the exit is always the last action).
// `states` and `actions` are then empty. Objectives see the same n, lengths,
// step lists and log_rewards whatever the kind.
#pragma once

#include <vector>

#include "engine/tape.h"

namespace gfn {

struct Trajectories {
    int n = 0;                        // number of trajectories
    int max_length = 0;               // allocated length: >= max_i L_i
    int state_dim = 0;
    int condition_dim = 0;
    std::vector<int> states;          // ((max_length + 1)·n, state_dim)
    std::vector<int> actions;         // (max_length·n)
    std::vector<int> lengths;         // L_i (n)
    std::vector<float> log_rewards;   // log R(x_i) (n)
    std::vector<float> conditions;    // (n, condition_dim), empty when unconditional
    int action_dim = 0;               // > 0: a continuous batch
    std::vector<float> float_states;  // ((max_length + 1)·n, state_dim), continuous batches
    std::vector<float> float_actions; // (max_length·n, action_dim), continuous batches

    // The step lists (see above), built by index_steps().
    std::vector<int> step_traj, step_t;    // forward steps
    std::vector<int> bstep_traj, bstep_t;  // backward steps

    // Saved at sampling time, on the tape of that time (invalid when absent):
    Var saved_log_pf;   // (n_steps, 1): log PF(a_t | s_t) of the behaviour policy
    Var saved_log_pb;   // (n_bsteps, 1): log PB(s_{t−1} | s_t), from a tied PB head
    // Rows the sampler's recorded trunk evaluated (the distinct states when it
    // deduplicates); −1 when it recorded none.
    long long evaluated_states = -1;

    int n_steps() const { return int(step_traj.size()); }
    int n_bsteps() const { return int(bstep_traj.size()); }
    const int* state(int t, int i) const { return states.data() + (size_t(t) * n + i) * state_dim; }
    int* state(int t, int i) { return states.data() + (size_t(t) * n + i) * state_dim; }
    int action(int t, int i) const { return actions[size_t(t) * n + i]; }
    const int* terminal_state(int i) const { return state(lengths[size_t(i)] - 1, i); }
    bool is_continuous() const { return action_dim > 0; }
    const float* float_state(int t, int i) const { return float_states.data() + (size_t(t) * n + i) * state_dim; }
    float* float_state(int t, int i) { return float_states.data() + (size_t(t) * n + i) * state_dim; }
    const float* float_action(int t, int i) const { return float_actions.data() + (size_t(t) * n + i) * action_dim; }
    float* float_action(int t, int i) { return float_actions.data() + (size_t(t) * n + i) * action_dim; }
    const float* float_terminal_state(int i) const { return float_state(lengths[size_t(i)] - 1, i); }
    const float* condition(int i) const { return conditions.empty() ? nullptr : conditions.data() + size_t(i) * condition_dim; }

    // Sizes the arrays for n trajectories of at most max_length actions (filled with −1).
    void allocate(int n, int max_length, int state_dim, int condition_dim);
    // The same for a continuous batch (float storage filled with NaN, no conditions).
    void allocate_continuous(int n, int max_length, int state_dim, int action_dim);
    // Rebuilds the step lists from `lengths`.
    void index_steps();
    // Forgets saved log-probs (they belong to a tape that is being reset).
    void drop_saved() { saved_log_pf = Var(); saved_log_pb = Var(); }
};

// Trajectories `rows` of t in that order (repeats allowed): states, actions, lengths,
// log-rewards and conditions copied, step lists rebuilt, no saved log-probs;
// max_length is the longest selected length. Throws std::out_of_range on a bad row.
Trajectories select_trajectories(const Trajectories& t, const std::vector<int>& rows);

// a's trajectories, then b's (the replay-buffer mix of a fresh batch and a buffered
// sample). Same state_dim and condition_dim, or one side empty (n = 0); no saved
// log-probs; max_length the larger of the two. Throws std::invalid_argument.
Trajectories concatenate(const Trajectories& a, const Trajectories& b);
// The same for any number of parts, in order, into `out`, whose memory is reused (a
// training step's batch: a fresh allocation each step would be faulted in page by
// page). `out` must not be one of the parts.
void concatenate_into(const std::vector<const Trajectories*>& parts, Trajectories& out);

}  // namespace gfn
