// sampler.h — rolling policies out into trajectories.
//
// Forward sampling starts every row at s_0 and, while any row is running,
// evaluates the policy on the running rows only (finished rows are compacted
// away), samples an action for each, records it, and steps the environment;
// a row stops at its exit action. With save_log_probs the log PF of each
// sampled action is kept on the tape with its gradient path, and a tied PB
// head is evaluated on the same trunk activations (each visited state goes
// through the trunk exactly once). Saved log-probs are the behaviour policy's:
// tempered and sf-biased ones keep their gradient path. An ε-mixed rollout cannot
// save them (std::invalid_argument before sampling): the ε mixture is computed off
// the tape, so a loss reusing them (recalculate_all_logprobs = false) would train PF
// with a zero gradient. torchgfn likewise refuses to reuse detached saved log-probs;
// sample ε-mixed batches without save_log_probs and train with recalculation.
//
// Backward sampling starts from given terminating states and runs PB until
// every row reaches s_0; the result is stored as forward trajectories.
#pragma once

#include "engine/random.h"
#include "engine/tape.h"
#include "gfn/estimators/estimators.h"
#include "gfn/containers/trajectories.h"

namespace gfn {

struct SampleRequest {
    int n = 0;                        // trajectories
    PolicyOptions exploration;        // shapes the behaviour policy
    bool save_log_probs = false;      // keep log PF (and tied log PB) on the tape
    const float* conditions = nullptr;  // (n, condition_dim) for conditional envs; drawn when null
    // With save_log_probs and an Mlp PF: the rollout runs the trunk outside the
    // tape into this recording, then records it on the tape as one node per
    // layer over all visited states (same values, same gradients; the backward
    // becomes one large GEMM per layer). Must outlive the step. Null: per-step nodes.
    TrunkRecording* recording = nullptr;
    // On that recorded path: run the trunk once per distinct state and index its
    // rows (state_index.h); false evaluates every visited state (--no-state-dedup).
    // Without save_log_probs (an exploring or off-policy rollout, unconditioned
    // states, a network PF): PF — exploration included — once per distinct state
    // of the rollout, off the tape, each step reading its state's row; false: the
    // policy evaluated on each step's states (on the tape, under NoGrad).
    bool dedup_states = true;
};

// Samples into `out` (resized). `tied_pb` may be null; it is used only with
// save_log_probs, and only when it is a head on pf's trunk.
void sample_trajectories(const DiscreteEnv& env, const PolicyEstimator& pf, const PolicyEstimator* tied_pb,
                         const SampleRequest& req, Rng& rng, Tape& tape, Trajectories& out);

// Backward trajectories from n terminating states (n, state_dim) through PB.
void sample_backward_trajectories(const DiscreteEnv& env, const PolicyEstimator& pb, const int* terminal_states,
                                  int n, const float* conditions, Rng& rng, Tape& tape, Trajectories& out);

// Computes log R for every trajectory of `out` from its terminal state.
void compute_log_rewards(const DiscreteEnv& env, Trajectories& out);

}  // namespace gfn
