// transitions.h — a batch of transitions s → s', the samples of DB and ModifiedDB.
//
// Layout: flat, one row per transition k = 0 … n−1.
//     states[k]       s                              (n, state_dim)
//     actions[k]      a, the action taken at s       (n)
//     is_exit[k]      1 when a is the exit, i.e. s' = s_f
//     next_states[k]  s' for non-exit transitions; −1 rows for exits (the sink is never stored)
// A transition made from trajectories (transitions_from) is forward step k of
// the batch, in the same time-major order (t ascending, then trajectory), so
// per-step values (saved log PF) are per-transition values. The non-exit
// transitions, in ascending k, are listed in `non_exit`; they correspond one to
// one and in order to the trajectories' backward steps (transition (t, i) ↔
// backward step (t+1, i)), so a saved log PB is one value per non-exit transition.
//
// Rewards:
//     log_rewards[k]        log R(s) of exit transitions: the terminal reward the
//                           trajectories carried (or custom values); NaN for non-exit ones.
//     can_exit[k]           1 when the exit is valid from s (s is terminating).
//     next_can_exit[k]      1 when the exit is valid from s' (0 for exits: s' = s_f).
//     state_log_rewards[k]  the environment's log R(s) where can_exit, else NaN.
//     next_log_rewards[k]   the environment's log R(s') where next_can_exit, else NaN.
// The state rewards are filled only on request (forward-looking DB, ModifiedDB:
// they need a reward at every state); otherwise those two arrays are empty.
// The reward of a non-terminating state is never asked of the environment:
// NaN marks it, and the objectives that need it refuse it with an error.
//
// next_index[k] is the transition whose s is this transition's s' (−1 for exits,
// or when the batch does not hold it, e.g. transitions drawn one by one from a
// replay buffer): an objective evaluating a network over every s then reads s'
// off the same evaluation.
//
// Saved log-probs are optional (Var on the tape of sampling time, invalid when absent):
//     saved_log_pf  (n, 1)                log PF(a | s) of the behaviour policy
//     saved_log_pb  (non_exit.size(), 1)  log PB(s | s'), from a tied PB head
#pragma once

#include <cstdint>
#include <vector>

#include "engine/tape.h"
#include "gfn/env/env.h"
#include "gfn/containers/trajectories.h"

namespace gfn {

struct Transitions {
    int n = 0;                          // number of transitions
    int state_dim = 0;
    int condition_dim = 0;
    std::vector<int> states;            // (n, state_dim): s
    std::vector<int> actions;           // (n)
    std::vector<uint8_t> is_exit;       // (n)
    std::vector<int> next_states;       // (n, state_dim): s', −1 rows where is_exit
    std::vector<float> conditions;      // (n, condition_dim), empty when unconditional
    std::vector<float> log_rewards;     // (n): log R(s) at exits, NaN elsewhere
    std::vector<uint8_t> can_exit;      // (n)
    std::vector<uint8_t> next_can_exit; // (n)
    std::vector<float> state_log_rewards;  // (n) or empty: log R(s) where can_exit, else NaN
    std::vector<float> next_log_rewards;   // (n) or empty: log R(s') where next_can_exit, else NaN
    std::vector<int> next_index;        // (n): row whose s is this s', or −1
    std::vector<int> non_exit;          // indices k of the non-exit transitions, ascending
    std::vector<int> traj_index;        // (n): source trajectory (transitions_from), or −1

    Var saved_log_pf;  // (n, 1)
    Var saved_log_pb;  // (non_exit.size(), 1)

    int n_non_exit() const { return int(non_exit.size()); }
    bool has_state_log_rewards() const { return !state_log_rewards.empty(); }
    const int* state(int k) const { return states.data() + size_t(k) * state_dim; }
    const int* next_state(int k) const { return next_states.data() + size_t(k) * state_dim; }
    const float* condition(int k) const {
        return conditions.empty() ? nullptr : conditions.data() + size_t(k) * condition_dim;
    }

    // Sizes the arrays for n transitions (states −1, rewards NaN, flags 0,
    // next_index and traj_index −1), without the state-reward arrays.
    void allocate(int n, int state_dim, int condition_dim);
    // Rebuilds `non_exit` from `is_exit`.
    void index_non_exit();
    // Fills can_exit, next_can_exit and, with state_rewards, the state-reward
    // arrays from the environment (see above). Transitions made by hand call
    // this after filling states, actions, is_exit and next_states.
    void compute_state_info(const DiscreteEnv& env, bool state_rewards);
    void drop_saved() { saved_log_pf = Var(); saved_log_pb = Var(); }
};

// Transition k = forward step k of `traj` (see trajectories.h), with the
// trajectories' saved log-probs carried over (same Vars, no copy). With
// state_rewards, the environment's log R is evaluated at every terminating s and s'.
Transitions transitions_from(const DiscreteEnv& env, const Trajectories& traj, bool state_rewards = true);

}  // namespace gfn
