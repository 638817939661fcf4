// training.h — one training run: what it trains, one step, and the loop.
//
// A training step (train_step) is, in order:
//   1. sample    a batch of trajectories from PF (on-policy: log PF kept on the tape;
//                off-policy, with exploration: sampled without gradient)
//   2. loss      the objective on the batch (re-evaluating PF when off-policy)
//   3. backward  the tape's reverse sweep into the gradient slab; under
//                `mpirun -np K`, one all-reduce of the slab averages the
//                ranks' gradients (gfn/runtime/distributed.h)
//   4. optimize  gradient clipping (--clip-grad-norm, then per entry --gradient-clip-value),
//                then Adam (networks at --lr, log Z at --lr-logz)
// The step arena is reset at the start of every step.
// Threads: with --threads T >= 2 and at least kShardMinTrajectories trajectories per
// thread (continuous envs: kShardMinContinuousTrajectories), a step whose loss is a
// weighted mean over its items (TB, RTB, DB, modified DB, SubTB weighted
// geometric_within, db or tb — on discrete and continuous envs alike; no replay
// buffer, local search or TLM), or centred on the batch's mean score with a squared g
// (LPV, relative LPV: in two passes, the scores, then each thread's loss about the
// whole batch's mean), runs 1–3 data-parallel, as MPI ranks do: thread t
// samples its share of the batch from its own stream (drawn from the training
// stream), scores it and differentiates it on its own tape into its own gradient
// slab, each BLAS call on its own thread; the slabs are summed weighted by their
// items, and step 4 runs once.
// Every other step splits its BLAS calls and loops across the threads instead.
// An objective with updates_per_batch() > 1 (PPO, --loss ppo) replaces 2–4 by its own
// loop (ppo_updates in training.cpp): the rollout frozen once, then K epochs × S
// minibatches of loss → backward → optimize, each on a fresh tape.
// Soft DQN (--loss soft_dqn) also has its own update (soft_dqn_update in training.cpp):
// the batch split into transitions (with --replay-buffer N: added to a FIFO transition
// buffer, and as many transitions drawn from it uniformly), one loss → backward →
// optimize, then the target network's Polyak update every --target-update-every steps.
//
// Divergence: a step stops training (std::runtime_error "training diverged at
// iteration N: …, try a smaller --lr") when the loss or the gradient norm is
// NaN or inf — both checked every step before the update, so the state stays
// as it was — or when the batch cannot be sampled or scored because of
// parameters gone non-finite or astronomically large. The parameter and
// optimizer-moment slabs are checked in full (check_finite_state) at every
// logged step, at the end of train(), and before every checkpoint.
#pragma once

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/optim.h"
#include "gfn/containers/replay_buffer.h"
#include "gfn/env/continuous_env.h"
#include "gfn/estimators/continuous_policy.h"
#include "gfn/estimators/continuous_state_flow.h"
#include "gfn/runtime/config.h"
#include "gfn/validation/enumeration.h"
#include "gfn/objectives/trajectory_balance.h"
#include "gfn/validation/validation.h"

namespace gfn {

class DiffusionTarget;
class DiffusionReplaySearch;

// Parameter groups: networks train at --lr, log Z (and log Z(c)) at --lr-logz,
// log F (DB, SubTB) at --lr-logf.
enum ParamGroupId { kNetworkGroup = 0, kLogZGroup = 1, kLogFGroup = 2 };

struct PhaseTimes {
    double sample = 0, loss = 0, backward = 0, optimize = 0;  // seconds
    double total() const { return sample + loss + backward + optimize; }
};

struct StepStats {
    double loss = 0;
    double grad_norm = 0;     // global L2 norm of the gradient, before clipping
    double log_z = NAN;       // filled by train() at logged steps; NaN where the objective learns none
    int n_states = 0;         // states visited by the training batch (forward steps)
    // Rows the networks evaluated: the distinct states when the rollout deduplicates
    // (sampler.h), n_states when nothing does, −1 where the loss indexes repeated
    // states on its own (not counted: finish_step). Flops are counted on these.
    long long n_evaluated = 0;
    double local_search_acceptance = 0;  // with --local-search
    int threads = 1;          // the threads the step ran on (1 on few states: training.cpp)
    PhaseTimes times;
};

struct Metrics {
    int iteration = 0;
    std::vector<ValidationResult> validation;  // one per target (per condition when conditional)
    std::vector<float> conditions;            // the condition of each validation (conditional envs)
    double l1 = 0, exact_l1 = 0, jsd = 0, logz = 0, logz_true = 0;  // the reported target's
    double mean_abs_error = 0;  // exact_l1 / number of terminating states
    double mean_log_reward = 0, mean_log_reward_true = 0;
    int modes_found = 0, n_modes = 0;
    // Continuous envs (continuous_validation.h); NaN otherwise.
    double binned_l1 = NAN, binned_jsd = NAN, logz_is = NAN;
    double kde_jsd = NAN;  // Box: torchgfn's KDE JSD
    // Diffusion samplers (diffusion_validation.h); NaN otherwise. mode_tv and
    // mode_distance (mean distance of a sample to its nearest mode) for mixture
    // targets. Relative objectives: logz_is is the importance-sampling estimate of
    // log ∫ p_prior r^β that the learned log Z should match.
    double elbo = NAN, iw_elbo = NAN, eubo = NAN, ess = NAN, mode_tv = NAN, mode_distance = NAN;
    std::vector<double> mode_frequencies;  // the fraction of samples nearest each mode
};

// Everything a run trains and measures, built from a Config.
struct Run {
    // train_prior = false skips training a tb prior (its parameters are about
    // to be loaded from a checkpoint; call build_targets() after loading).
    explicit Run(const Config& cfg, bool train_prior = true);
    Run(const Run&) = delete;
    Run& operator=(const Run&) = delete;

    Config cfg;
    std::unique_ptr<DiscreteEnv> env;
    std::unique_ptr<Preprocessor> preprocessor;
    ParamStore store;                                // everything trained
    std::unique_ptr<PolicyEstimator> pf, pb;         // pb null when constant PB
    std::unique_ptr<ScalarEstimator> log_z;          // TB, RTB, Trust-PCL
    std::unique_ptr<StateFlowEstimator> log_f;       // DB, SubTB
    std::unique_ptr<ReplayBuffer> buffer;            // --replay-buffer (soft_dqn: a TransitionReplayBuffer)
    std::shared_ptr<DiffusionReplaySearch> diffusion_search;  // --terminal-buffer (diffusion_local_search.h)
    std::unique_ptr<PolicyEstimator> uniform_pb;     // local search's PB when the objective has none
    std::unique_ptr<Run> prior_run;                  // the tb prior of a relative objective
    std::unique_ptr<PolicyEstimator> uniform_prior;  // the uniform prior
    const PolicyEstimator* prior_pf = nullptr;
    std::unique_ptr<GFlowNet> gflownet;
    // --loss soft_dqn: the target network Q̄, PF's architecture in a frozen store of its own.
    ParamStore target_store;
    std::unique_ptr<PolicyEstimator> target_pf;
    std::unique_ptr<Optimizer> optimizer;
    Rng rng;                                         // the training stream
    Tape tape;
    Trajectories batch;                              // this iteration's fresh samples
    Trajectories replayed, mixed;                    // buffer sample; fresh + replayed
    TrunkRecording recording;                        // the rollout's trunk activations (on-policy)
    int iteration = 0;                               // steps taken
    // Data-parallel threads (sharded_step in training.cpp): thread t's own tape,
    // share of the batch, rollout recording and gradient slab.
    struct Shard {
        Tape tape;
        Trajectories batch;
        TrunkRecording recording;
        std::vector<float> grads;
    };
    std::vector<std::unique_ptr<Shard>> shards;

    // Continuous environments (--env line; continuous_training.h): these hold
    // the env and policies, and env, preprocessor, pf, pb above stay null.
    std::unique_ptr<ContinuousEnv> continuous_env;
    std::unique_ptr<ContinuousPolicy> continuous_pf, continuous_pb;
    std::unique_ptr<ContinuousStateFlowEstimator> continuous_log_f;  // DB, SubTB
    std::vector<double> continuous_target;           // exact cell masses of R/Z (validation)
    double continuous_lo = 0, continuous_hi = 0;     // the binned range
    // Diffusion samplers: the target density; with a relative objective the env's
    // reward is the constraint r, and validation_env samples the target itself.
    std::shared_ptr<const DiffusionTarget> diffusion_target;
    std::unique_ptr<ContinuousEnv> validation_env;

    // Targets for validation (enumerable envs): one, or one per condition.
    std::vector<TargetDistribution> targets;
    std::vector<float> target_conditions;
    std::vector<uint8_t> mode_seen;                  // per terminal state of targets.back()
    // Without enumeration, exact log Z and E[log R] when the env knows them (Ising).
    bool have_exact_log_partition = false;
    double exact_log_z = 0, exact_mean_log_reward = 0;

    // The validation targets (and, for relative objectives, from the prior).
    void build_targets();

    // On-policy: the rollout's log-probs (with their tape) are the loss's.
    // (PPO re-evaluates the policy in every update: its rollout keeps no tape.
    // Continuous rollouts keep log PF of the unexplored policy, so exploration
    // does not make them off-policy; --loss mle samples backward, from PB.)
    bool on_policy() const {
        return !cfg.off_policy() && !cfg.recalculate_all_logprobs && cfg.loss != "fm" && cfg.loss != "ppo" &&
               cfg.loss != "soft_dqn" && !(cfg.continuous() && cfg.loss == "mle");
    }
    // Multiply-adds per visited state of one forward pass of the networks.
    long long macs_per_state() const;
};

// --prior FILE: the saved run rebuilt from its configuration, loaded, and frozen
// (not validated, writing nothing). Throws std::invalid_argument when its
// environment is not cfg's, std::runtime_error for a bad file.
std::unique_ptr<Run> load_prior_run(const Config& cfg);
// Copies every parameter of `posterior` whose name starts with prefix from the
// parameter of the same name in `prior` (the posterior starts at the prior, as
// torchgfn's RTB fine-tuning); throws std::invalid_argument naming the first that
// is missing or of another shape.
void start_from_prior(ParamStore& posterior, const ParamStore& prior, const std::string& prefix,
                      const std::string& path);

// [distributed] The training stream of rank r > 0 (rank 0 keeps Rng(seed)).
Rng rank_stream(uint64_t seed, int rank);

// Trajectories per thread below which a step is not split across threads: discrete
// envs, and continuous ones (--env line, box, box_cartesian, diffusion; measured in
// docs/engine.md "Threads").
constexpr int kShardMinTrajectories = 64;
constexpr int kShardMinContinuousTrajectories = 32;
// A discrete step that runs the network once per distinct state (the default) is split
// only when the env has at least this many states per trajectory of the batch, or
// more than it can count: each thread evaluates its own shard's distinct states, so on
// a small state space the threads evaluate the same states twice and the split step
// is no faster than one thread (docs/engine.md, "Threads").
constexpr long long kShardMinStatesPerTrajectory = 16;
// Whether train_step runs `run`'s steps data-parallel on T threads (see above).
bool sharded_steps(const Run& run, int threads);

StepStats train_step(Run& run);
// --pb-loss tlm beside --loss tb, db or subtb: PB learns from TLM alone.
bool balance_tlm(const Config& cfg);
// Step 3 into run.store.grads (zeroed first): ∇ loss, or, with tlm valid (balance_tlm),
// ∇ loss with PB detached + ∇ L_TLM (PB's own gradient is TLM's alone).
void backward_step(Run& run, Var loss, Var tlm = Var());
Metrics validate_run(Run& run);

// What of the run's trained state (parameters, optimizer moments) holds NaN
// or inf, with the learning-rate flags of those parameter groups, e.g.
// "NaN or inf in the parameters of log Z (try a smaller --lr-logz)"; "" when
// everything is finite.
std::string non_finite_state(const Run& run);
// Throws std::runtime_error "training diverged at iteration N: <non_finite_state>"
// unless the state is finite.
void check_finite_state(const Run& run);

struct TrainCallbacks {
    std::function<void(Run&, const StepStats&)> on_step;  // after every step (checkpoints)
    std::function<void(const Run&, const StepStats&, double elapsed)> on_log;  // every --log-interval steps
    std::function<void(const Run&, const Metrics&)> on_validation;
};

struct TrainResult {
    Metrics final_metrics;
    double train_seconds = 0;   // without validation
    PhaseTimes phase_seconds;   // summed over the steps
    long long states_visited = 0;
    long long states_evaluated = 0;  // StepStats::n_evaluated, summed; −1 if a step's was not counted
    double last_loss = 0;
};

// Runs cfg.iterations steps (from run.iteration on), validating every
// cfg.validation_interval steps and at the end; check_finite_state at every
// --log-interval step and at the end.
TrainResult train(Run& run, const TrainCallbacks& cb = TrainCallbacks());

}  // namespace gfn
