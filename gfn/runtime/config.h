// config.h — every option of a run, its default, and the command-line parser.
//
// Flags are kebab-case (--batch-size 128 or --batch-size=128); switches take
// no value (--tied), and --no-NAME turns one off (--no-learn-variance). Unknown flags, malformed numbers and impossible values
// are errors (std::invalid_argument) that name the flag and say what fits.
//
// Numbers are read strictly, by the same parsers for every command: decimal
// only (no spaces, no hex, no trailing characters), integers within the flag's
// range (never wrapped or saturated), and a value the code uses as a float
// must be finite as a float and, when non-zero, at least FLT_MIN in size.
// Sizes have upper bounds, and validate_config checks a memory estimate of the
// run (parameters, the rollout of a batch, the exact enumeration) against the
// machine's physical memory.
#pragma once

#include <cmath>
#include <string>
#include <utility>
#include <vector>

namespace gfn {

struct Config {
    // environment
    std::string env = "hypergrid";        // hypergrid | conditional_hypergrid | discrete_ebm | ising
                                          // | bitsequence | bitsequence_nar | line | box | box_cartesian
    int ndim = 2;
    int height = 8;
    std::string reward = "original";      // original | cosine | sparse | deceptive
    double R0 = 0.1, R1 = 0.5, R2 = 2.0;
    int L = 6;                            // Ising: L x L periodic lattice
    double J = 0.44;                      // Ising coupling
    int word_size = 1;                    // BitSequence: bits per word
    int seq_size = 4;                     // BitSequence: bits per sequence
    int n_modes = 2;                      // BitSequence: size of the mode set
    double reward_temperature = 1.0;      // BitSequence: log R = −distance / temperature
    unsigned long long modes_seed = 0;    // BitSequence: seed of the mode set
    std::string preprocessor = "default"; // default | identity | one_hot | k_hot
    // Line (--env line, torchgfn's gym/line.py; flags named as train_line.py names them).
    // Given without the flag, --env line takes train_line's settings: --batch-size 256,
    // --iterations 5000 (1.28e6 trajectories), --hidden 64, --activation elu,
    // --exploration-var-starting-val 2, --gradient-clip-value 5 (lr 1e-3, log Z lr 0.1 as everywhere).
    std::string mus = "2,5";
    std::string sigmas = "0.5,0.5";
    double init_value = 0.0;
    double n_sd = 4.5;
    int n_steps_per_trajectory = 5;
    double exploration_var_starting_val = 0.0;  // continuous envs: extra std s, linear to 0 over --iterations
    double gradient_clip_value = 0.0;           // clamp each network gradient entry to ±this (0: off)
    int validation_bins = 100;                  // continuous envs: cells of the binned l1 / JSD grid
                                                // (box: G×G cells over [0, 1]², default G = 50)
    // Exploration schedule of the continuous envs: s_i = s_0 up to iteration
    // start, then linear to 0 at iteration end (0: the last iteration).
    int exploration_warm_down_start = 0;
    int exploration_warm_down_end = 0;
    // Diffusion sampling (--env diffusion, SPEC §9, torchgfn's gym/diffusion_sampling.py).
    // Given without the flag, each target takes the settings of its target run
    // (apply_env_defaults in config.cpp): batch 200, 4,000 iterations, hidden 64,
    // --steps 32, --sigma 5 (gmm25) or 1 (funnel, manywell; funnel with --learn-variance,
    // and the easy funnel with --loss lpv);
    // posterior9 and --loss mle: --steps 100, --sigma 2 (mle: batch 256, 3,000 iterations).
    std::string target = "gmm25";         // gmm25 | posterior9 | funnel | funnel_hard | manywell
    int diffusion_steps = 32;             // --steps N: moves of dt = 1/N
    double sigma = 1.0;                   // PF std σ·√(dt·t_scale)
    double t_scale = 1.0;
    bool learn_variance = false;          // PF's learned log-std correction
    // the PIS network's last layer (and λ_θ's with --lp) starts at 0 — drift 0, the
    // reference process; off (manywell's default): PyTorch's default init, a random drift
    bool zero_init = true;
    bool variance_per_dimension = false;  // ... one per coordinate (else one per state)
    // Langevin parametrization: PF's drift += λ_θ(t) ⊙ clip(∇log R(x), ±lp_clip)
    bool lp = false;
    int lp_layers = 3;                    // hidden layers of λ_θ(t)
    double lp_clip = 100.0;
    // diffusion, off-policy (gfn/samplers/diffusion_local_search.h): a rank-prioritised
    // buffer of terminal points; odd iterations train on PB trajectories from it.
    int terminal_buffer = 0;              // capacity (0: none)
    int langevin_steps = 0;               // MALA steps on log R per replayed batch
    double langevin_step_size = 0.01;     // MALA step size eta
    int backward_until = 0;               // backward (buffer) iterations stop here (0: never)
    double rank_weight = 0.01;            // k of the rank priority P(i) ∝ 1/(k·M + rank_i)
    // diffusion, --loss db / subtb: log F(x, t) = MLP(x, t) + the partial energy E_t(x)
    bool partial_energy = false;
    // Box (--env box: polar, --env box_cartesian; torchgfn's gym/box.py, flags named as
    // train_box.py names them). Given without the flag, both take the settings of the issue's
    // target: --hidden 128, --layers 4, --activation elu, --batch-size 128, --lr 1e-3,
    // --lr-logz 1e-3, --iterations 10000, --validation-bins 50 (learned PB, δ = 0.25);
    // box_cartesian then --n-components 8, --max-concentration 20, --lr-logz 1e-2.
    double delta = 0.25;                        // step size δ in (0, 1]
    int n_components = 2;                       // Beta mixture components of a move
    int n_components_s0 = 4;                    // box (polar): components of the first move from s_0
    double min_concentration = 0.1;             // Beta concentrations in [min, max]
    double max_concentration = 5.1;
    // objective
    std::string loss = "tb";              // tb | lpv | rtb | relative_lpv | trust_pcl | db | modified_db
                                          // | subtb | fm | vpg | ppo | soft_dqn | mle
    bool forward_looking = false;         // DB / SubTB: log F(s) = log F~(s) + log R(s)
    std::string subtb_weighting = "geometric_within";
    double lambda = 0.9;                  // SubTB
    double fm_alpha = 1.0;                // FM: weight of the reward-matching term
    // policy gradient (vpg, ppo)
    std::string advantage = "gae";        // vpg: total | reward_to_go | baseline | gae (ppo: gae)
    double gae_lambda = 0.7;
    double value_weight = 1.0;            // weight of the critic loss
    std::string pb_loss = "none";         // none | tlm (train a learned PB by TLM; vpg, ppo, tb, db, subtb)
    std::string critic_loss = "mse";      // mse | sub_eb (vpg with baseline / gae, ppo)
    int ppo_epochs = 4;                   // K
    int ppo_minibatches = 1;              // S
    double ppo_clip = 0.2;                // ε
    // Soft DQN (soft_dqn; objectives/soft_dqn.h)
    double target_tau = 0.25;             // Polyak τ of the target network (gfnx: 0.25; 1: a copy)
    int target_update_every = 1;          // update the target every K optimizer steps
    bool munchausen = false;              // add the Munchausen bonus α·clip(λ·log π̄(a|s), l0, 0), λ = 1/(1 − α)
    double munchausen_alpha = 0.9;        // α (M-DQN)
    double munchausen_clip = -100.0;      // l0 (Tiapkin et al. 2024 on HyperGrid)
    std::string loss_fn = "default";      // default | squared | half_squared | shifted_cosh | linex
    double linex_alpha = 1.0;
    double log_reward_clip_min = -INFINITY;
    double beta = 1.0;                    // relative objectives
    double alpha = NAN;                   // DiscreteEBM/Ising: energy scale (default 1);
                                          // Trust-PCL: α = 1/β (when set, overrides --beta)
    double init_logz = 0.0;               // TB/RTB log Z, Trust-PCL v_soft(s_0) = α·log Z
    std::string prior = "tb";             // uniform | tb | FILE (a checkpoint; relative objectives)
    std::string prior_reward = "original";
    int prior_iterations = 250;
    bool recalculate_all_logprobs = false;  // force re-evaluating PF even on-policy
    // estimators
    int hidden = 256;
    int layers = 2;
    std::string activation = "relu";
    bool tied = false;
    bool uniform_pb = false;
    bool no_state_dedup = false;  // the rollout evaluates every visited state, not each distinct one once
    // optimisation
    int batch_size = 128;
    int iterations = 250;
    std::string optimizer = "adam";       // adam | adamw | sgd
    double lr = 1e-3;
    double lr_logz = 0.1;
    double lr_logf = 1e-3;                // log F networks (DB, SubTB); box: 1e-2 (torchgfn)
    std::string lr_schedule = "constant"; // constant | cosine (every group's rate decays to 0 over --iterations)
                                          // | step (every group's rate × --gamma-scheduler every
                                          // --scheduler-milestone steps; box: step, 2500, 0.5)
    int scheduler_milestone = 0;          // step schedule: steps between decays (0: max(1, --iterations / 3))
    double gamma_scheduler = 0.5;         // step schedule: the factor per milestone, in (0, 1]
    double weight_decay = 0.0;
    double clip_grad_norm = 0.0;          // 0: no clipping
    // exploration (off-policy when any differs from its default)
    double epsilon = 0.0;
    double temperature = 1.0;
    double sf_bias = 0.0;
    // off-policy training
    int replay_buffer = 0;                // capacity; 0: no replay buffer
    std::string buffer = "fifo";          // fifo | prioritized | diverse | terminating_state
    double cutoff_distance = 0.0;         // diverse buffer
    double p_norm_distance = 1.0;         // diverse buffer
    int local_search = 0;                 // local-search loops per iteration; 0: none
    double back_ratio = 0.5;
    bool local_search_mh = false;         // Metropolis–Hastings acceptance (default: greedy)
    // run
    unsigned long long seed = 0;
    int threads = 0;                      // 0: OMP_NUM_THREADS or all cores
    int validation_interval = 0;          // 0: once, at the end
    int validation_samples = 200000;
    std::string validation_conditions = "0,0.5,1";  // conditional envs: validate at these c
    int log_interval = 25;
    bool json = false;
    bool quiet = false;                   // only the final metrics
    bool trace = false;                   // print one trajectory and its loss terms, step by step
    std::string save;                     // checkpoint file, written at the end (and every --save-every)
    int save_every = 0;
    std::string resume;                   // continue from this checkpoint
    std::string log;                      // metrics file: .csv or .jsonl
    std::string plot;                     // SVG file of the training curves (and 2-D HyperGrid heatmaps)

    bool conditional() const { return env == "conditional_hypergrid"; }
    bool continuous() const { return env == "line" || box() || diffusion(); }
    bool box() const { return env == "box" || env == "box_cartesian"; }
    bool diffusion() const { return env == "diffusion"; }
    // --prior names a checkpoint file (not uniform or tb).
    bool prior_from_file() const { return prior != "uniform" && prior != "tb"; }
    bool hypergrid() const { return env == "hypergrid" || env == "conditional_hypergrid"; }
    bool ebm() const { return env == "discrete_ebm" || env == "ising"; }
    bool relative() const { return loss == "rtb" || loss == "relative_lpv" || loss == "trust_pcl"; }
    bool off_policy() const {
        return epsilon != 0.0 || temperature != 1.0 || sf_bias != 0.0 || replay_buffer > 0 || local_search > 0 ||
               terminal_buffer > 0;
    }
    bool policy_gradient() const { return loss == "vpg" || loss == "ppo"; }
    // DB, SubTB: log F; vpg with a baseline or GAE, ppo: the soft value V(s) (the same estimator).
    bool uses_log_f() const {
        return loss == "db" || loss == "subtb" || loss == "ppo" ||
               (loss == "vpg" && (advantage == "baseline" || advantage == "gae"));
    }
    bool uses_pb() const { return !relative() && loss != "fm"; }
};

// Parses the flags of `gfn train` (argv excludes the program and command
// names) into cfg and validates the result.
// Returns the names of the flags given (without "--").
std::vector<std::string> parse_train_flags(const std::vector<std::string>& args, Config& cfg);
// (name, value) of every flag, in table order; set_flag reads a value back
// (switches take "true" or "false"). Used to store a Config in a checkpoint.
std::vector<std::pair<std::string, std::string>> config_items(const Config& cfg);
void set_flag(Config& cfg, const std::string& name, const std::string& value);
// "0,0.5,1" -> {0, 0.5, 1}; throws std::invalid_argument naming --validation-conditions.
std::vector<float> parse_conditions(const std::string& list);
// Checks values and combinations; throws std::invalid_argument naming the flag.
void validate_config(const Config& cfg);
// The strict number parsers (see the top of this file). `flag` is the name in
// messages, with its dashes ("--lr", "-n"). parse_int: a decimal integer in
// [lo, hi]. parse_seed: a decimal integer in [0, 2^64 − 1]. parse_double: a
// decimal number, or inf / -inf. parse_float: parse_double, then check_float.
long long parse_int(const std::string& flag, const std::string& text, long long lo, long long hi);
unsigned long long parse_seed(const std::string& flag, const std::string& text);
double parse_double(const std::string& flag, const std::string& text);
double parse_float(const std::string& flag, const std::string& text);
// Throws unless a finite v is within ±FLT_MAX and v = 0 or |v| >= FLT_MIN
// (infinities and NaN pass: the flag's own check decides about them).
void check_float(const std::string& flag, double v);

// Bytes a run needs at least (parameters with their gradients and Adam
// moments, one batch's rollout on the tape, the exact enumeration of an
// enumerable environment), with a one-line breakdown naming the flags.
double run_memory_estimate(const Config& cfg, std::string* breakdown = nullptr);
// Throws std::invalid_argument when run_memory_estimate exceeds available_bytes.
void check_run_memory(const Config& cfg, double available_bytes);
// Physical memory of the machine (sysconf), or +inf when unknown.
double physical_memory_bytes();

// `gfn sample FILE [-n N] [--seed S] [--threads T]`
struct SampleFlags {
    std::string path;
    long long n = 10;
    unsigned long long seed = 0;
    int threads = 0;
    bool help = false;
};
SampleFlags parse_sample_flags(const std::vector<std::string>& args);

// `gfn eval FILE [--validation-samples N] [--threads T] [--json]`
struct EvalFlags {
    std::string path;
    int validation_samples = 0;  // 0: the checkpoint's
    int threads = 0;
    bool json = false;
    bool help = false;
};
EvalFlags parse_eval_flags(const std::vector<std::string>& args);

// `gfn plot FILE.csv|FILE.jsonl [-o OUT.svg]`; out defaults to FILE with .svg.
struct PlotFlags {
    std::string in, out;
    bool help = false;
};
PlotFlags parse_plot_flags(const std::vector<std::string>& args);

// --mus / --sigmas: "2,5" -> {2, 5}; throws std::invalid_argument naming the flag.
std::vector<double> parse_number_list(const std::string& flag, const std::string& list);

// Every flag with its default and help, for --help.
std::string train_flags_help();
// "key=value ..." of the whole configuration, for the start-up echo.
std::string describe(const Config& cfg);

}  // namespace gfn
