// continuous_training.cpp — see continuous_training.h.
#include "gfn/runtime/continuous_training.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <stdexcept>

#include "envs/box.h"
#include "envs/diffusion_sampling.h"
#include "envs/diffusion_targets.h"
#include "envs/line.h"
#include "gfn/estimators/box_policy.h"
#include "gfn/estimators/diffusion_policy.h"
#include "gfn/objectives/continuous_balance.h"
#include "gfn/objectives/maximum_likelihood.h"
#include "gfn/runtime/checkpoint.h"
#include "gfn/runtime/distributed.h"
#include "gfn/runtime/training.h"
#include "gfn/validation/diffusion_validation.h"
#include "gfn/samplers/continuous_sampler.h"
#include "gfn/samplers/diffusion_local_search.h"
#include "gfn/validation/continuous_validation.h"

namespace gfn {

namespace {

// Line: torchgfn's train_line (Gaussian step policies, learned PB).
void build_line(Run& run) {
    const Config& cfg = run.cfg;
    auto line = std::make_unique<Line>(parse_number_list("--mus", cfg.mus), parse_number_list("--sigmas", cfg.sigmas),
                                       cfg.init_value, cfg.n_sd, cfg.n_steps_per_trajectory);
    run.continuous_lo = line->range_lo();
    run.continuous_hi = line->range_hi();
    run.continuous_target = line->bin_masses(run.continuous_lo, run.continuous_hi, cfg.validation_bins);
    run.continuous_env = std::move(line);
    const NetConfig net{cfg.hidden, cfg.layers, activation_from_string(cfg.activation)};
    run.continuous_pf = std::make_unique<GaussianStepPolicy>(*run.continuous_env, false, run.store, net, run.rng, "pf");
    run.continuous_pb = std::make_unique<GaussianStepPolicy>(*run.continuous_env, true, run.store, net, run.rng, "pb");
}

DiffusionPolicyOptions diffusion_options(const Config& cfg) {
    DiffusionPolicyOptions o;
    o.sigma = float(cfg.sigma);
    o.t_scale = float(cfg.t_scale);
    o.hidden_dim = o.t_emb_dim = o.s_emb_dim = cfg.hidden;
    o.joint_layers = cfg.layers;
    o.learn_variance = cfg.learn_variance;
    o.variance_per_dimension = cfg.variance_per_dimension;
    o.lp = cfg.lp;
    o.zero_init = cfg.zero_init;
    o.lp_layers = cfg.lp_layers;
    o.lp_clip = float(cfg.lp_clip);
    return o;
}

// Diffusion sampling: the pinned-Brownian PF (PIS network) and the Brownian-bridge PB.
// A relative objective's reward is the constraint r = p_target / p_reference, the
// reference being the density the prior was trained on (its checkpoint's --target).
void build_diffusion(Run& run) {
    const Config& cfg = run.cfg;
    std::shared_ptr<const DiffusionTarget> target = make_diffusion_target(cfg.target);
    run.diffusion_target = target;
    std::shared_ptr<const DiffusionTarget> reward = target;
    if (cfg.relative()) {
        const Config pc = checkpoint_config(cfg.prior);
        if (pc.lp)
            throw std::invalid_argument("--prior " + cfg.prior + ": the saved run has --lp; a relative objective "
                                        "over a Langevin-parametrized prior is not supported");
        if (pc.target != cfg.target)
            reward = make_constraint_target(target, make_diffusion_target(pc.target));
    }
    auto env = std::make_unique<DiffusionSampling>(reward, cfg.diffusion_steps);
    const DiffusionPolicyOptions opt = diffusion_options(cfg);
    run.continuous_pf = std::make_unique<PinnedBrownianForward>(*env, run.store, opt, run.rng, "pf");
    run.continuous_pb = std::make_unique<BrownianBridgeBackward>(*env, opt);
    if (reward != target) run.validation_env = std::make_unique<DiffusionSampling>(target, cfg.diffusion_steps);
    if (cfg.terminal_buffer > 0)
        run.diffusion_search = std::make_shared<DiffusionReplaySearch>(env->dim(), cfg.terminal_buffer,
                                                                       cfg.langevin_steps, cfg.langevin_step_size,
                                                                       cfg.backward_until, cfg.rank_weight);
    run.continuous_env = std::move(env);
}

// The reward of a Box configuration on its three regions, nested S2² ⊂ S1² ⊂ [0, 1]²
// (envs/box.h): v = (R0, R0 + R1, R0 + R1 + R2) outside S1², on S1² \ S2², on S2².
std::array<double, 3> box_region_rewards(const Config& c) { return {c.R0, c.R0 + c.R1, c.R0 + c.R1 + c.R2}; }

// The reference of a relative Box run: the posterior of a prior that samples its
// own target exactly, p_prior = R_p/Z_p (R_p the prior run's Box reward):
//     p*(x) ∝ R_p(x)·R(x)^β,
// piecewise constant on the same three regions, w_k = u_k·v_k^β (u, v the prior's
// and this run's region rewards, both nondecreasing inward). As a Box reward,
//     R0' = w_0,  R1' = w_1 − w_0,  R2' = w_2 − w_1,
// whose cell masses are p*'s, and whose partition gives the exact relative log Z
//     log ∫ p_prior R^β = log Z' − log Z_p,   Z' = R0' + 0.25·R1' + 0.04·R2'.
// Returned as an env of the run's kind and moves (--env, --delta) with that reward.
std::unique_ptr<BoxBase> relative_box_reference(const Config& cfg, const Config& prior) {
    const std::array<double, 3> u = box_region_rewards(prior), v = box_region_rewards(cfg);
    double w[3];
    for (int k = 0; k < 3; ++k) w[k] = u[size_t(k)] * std::pow(v[size_t(k)], cfg.beta);
    const double R0 = w[0], R1 = std::max(0.0, w[1] - w[0]), R2 = std::max(0.0, w[2] - w[1]);
    if (cfg.env == "box") return std::make_unique<Box>(cfg.delta, R0, R1, R2);
    return std::make_unique<BoxCartesian>(cfg.delta, R0, R1, R2);
}

// --env box (polar) / box_cartesian: the environment, its learned PF and PB
// (gfn/estimators/box_policy.h) and the exact G×G cell masses of R/Z.
// A relative objective (--loss rtb | relative_lpv | trust_pcl --prior FILE.ckpt):
// the reward r is this run's Box reward R(x) (--R0 / --R1 / --R2), the prior the
// saved run's PF, which must have this run's moves (--delta) and policy shape;
// no PB is built (the relative objectives use none), and the validation target
// is relative_box_reference's p* instead of R/Z.
void build_box_pieces(Run& run, const NetConfig& net) {
    const Config& cfg = run.cfg;
    const BoxPolicyConfig bc{cfg.n_components, cfg.n_components_s0, float(cfg.min_concentration),
                             float(cfg.max_concentration)};
    const bool relative = cfg.relative();
    std::unique_ptr<BoxBase> env;
    if (cfg.env == "box") {
        auto box = std::make_unique<Box>(cfg.delta, cfg.R0, cfg.R1, cfg.R2);
        run.continuous_pf = std::make_unique<BoxPolarPolicy>(*box, false, run.store, net, bc, run.rng, "pf");
        if (!relative) run.continuous_pb = std::make_unique<BoxPolarPolicy>(*box, true, run.store, net, bc, run.rng, "pb");
        env = std::move(box);
    } else {
        auto box = std::make_unique<BoxCartesian>(cfg.delta, cfg.R0, cfg.R1, cfg.R2);
        run.continuous_pf = std::make_unique<BoxCartesianPolicy>(*box, false, run.store, net, bc, run.rng, "pf");
        if (!relative)
            run.continuous_pb = std::make_unique<BoxCartesianPolicy>(*box, true, run.store, net, bc, run.rng, "pb");
        env = std::move(box);
    }
    run.continuous_lo = 0.0;
    run.continuous_hi = 1.0;
    run.continuous_target = env->cell_masses(cfg.validation_bins);
    if (relative) {
        const Config pc = checkpoint_config(cfg.prior);
        // The prior must move as this run does: the same step size and Beta mixtures.
        const auto theirs = config_items(pc), mine = config_items(cfg);
        for (size_t k = 0; k < mine.size(); ++k)
            for (const char* flag : {"delta", "n-components", "n-components-s0", "min-concentration",
                                     "max-concentration"})
                if (mine[k].first == flag && mine[k].second != theirs[k].second)
                    throw std::invalid_argument("--prior " + cfg.prior + ": the saved run has --" + flag + " " +
                                                theirs[k].second + ", this one --" + flag + " " + mine[k].second +
                                                " (a " + cfg.env + " prior must have the posterior's moves)");
        run.continuous_target = relative_box_reference(cfg, pc)->cell_masses(cfg.validation_bins);
    }
    run.continuous_env = std::move(env);
}

// --loss db / subtb: log F (an MLP on the state at --lr-logf, log F(s_0) = log Z at
// --lr-logz from --init-logz; gfn/estimators/continuous_state_flow.h) and the objective
// (gfn/objectives/continuous_balance.h).
void build_continuous_flow_objective(Run& run, float clip, const std::optional<RegressionLoss>& g) {
    const Config& cfg = run.cfg;
    const NetConfig net{cfg.hidden, cfg.layers, activation_from_string(cfg.activation)};
    run.continuous_log_f = std::make_unique<ContinuousStateFlowEstimator>(
        *run.continuous_env, run.store, net, run.rng, "log_f", kLogFGroup, kLogZGroup, float(cfg.init_logz));
    if (cfg.partial_energy) {  // log F(x, t) = MLP(x, t) + E_t(x), v = σ²·t_scale
        const auto* env = static_cast<const DiffusionSampling*>(run.continuous_env.get());
        const double v = cfg.sigma * cfg.sigma * cfg.t_scale;
        run.continuous_log_f->set_base([env, v](const float* s, int n, float* out) { env->partial_energy(s, n, v, out); });
    }
    const ContinuousPolicy* pf = run.continuous_pf.get();
    const ContinuousPolicy* pb = run.continuous_pb.get();
    if (cfg.loss == "db")
        run.gflownet = std::make_unique<ContinuousDBGFlowNet>(pf, pb, run.continuous_log_f.get(), clip, g);
    else
        run.gflownet = std::make_unique<ContinuousSubTBGFlowNet>(pf, pb, run.continuous_log_f.get(), float(cfg.lambda),
                                                                 subtb_weighting_from_string(cfg.subtb_weighting),
                                                                 clip, g);
}

}  // namespace

void build_continuous_run(Run& run) {
    const Config& cfg = run.cfg;
    if (cfg.env == "line") build_line(run);
    else if (cfg.diffusion()) build_diffusion(run);
    else if (cfg.box()) build_box_pieces(run, NetConfig{cfg.hidden, cfg.layers, activation_from_string(cfg.activation)});
    else throw std::invalid_argument("--env: unknown continuous environment '" + cfg.env + "'");

    const float clip = float(cfg.log_reward_clip_min);
    std::optional<RegressionLoss> g;
    if (cfg.loss_fn != "default") g = RegressionLoss::from_string(cfg.loss_fn, float(cfg.linex_alpha));
    const Policy* pf = run.continuous_pf.get();
    if (cfg.relative()) {  // the frozen prior: a saved run's PF; the posterior starts at its weights
        run.prior_run = load_prior_run(cfg);
        if (!run.prior_run->continuous_pf)
            throw std::invalid_argument("--prior " + cfg.prior + ": the saved run has no continuous PF");
        start_from_prior(run.store, run.prior_run->store, "pf", cfg.prior);
    }
    const Policy* prior = run.prior_run ? static_cast<const Policy*>(run.prior_run->continuous_pf.get()) : nullptr;
    if (cfg.loss == "tb" || cfg.loss == "rtb" || cfg.loss == "trust_pcl")
        run.log_z = std::make_unique<ScalarEstimator>(run.store, cfg.loss == "trust_pcl" ? 0.f : float(cfg.init_logz),
                                                      kLogZGroup, "log_z");
    if (cfg.loss == "tb") {
        run.gflownet = std::make_unique<TBGFlowNet>(pf, run.continuous_pb.get(), run.log_z.get(), false, clip, g);
    } else if (cfg.loss == "lpv") {
        run.gflownet = std::make_unique<LogPartitionVarianceGFlowNet>(pf, run.continuous_pb.get(), false, clip, g);
    } else if (cfg.loss == "mle") {
        run.gflownet = std::make_unique<MaximumLikelihoodGFlowNet>(pf);
    } else if (cfg.loss == "rtb") {
        run.gflownet = std::make_unique<RelativeTrajectoryBalanceGFlowNet>(pf, prior, run.log_z.get(), float(cfg.beta),
                                                                           clip, g);
    } else if (cfg.loss == "relative_lpv") {
        run.gflownet = std::make_unique<RelativeLogPartitionVarianceGFlowNet>(pf, prior, float(cfg.beta), clip, g);
    } else if (cfg.loss == "db" || cfg.loss == "subtb") {
        build_continuous_flow_objective(run, clip, g);
    } else if (cfg.loss == "trust_pcl") {
        const float alpha = std::isnan(cfg.alpha) ? float(1.0 / cfg.beta) : float(cfg.alpha);
        run.gflownet = std::make_unique<TrustPCLGFlowNet>(pf, prior, run.log_z.get(), alpha, float(cfg.init_logz),
                                                          clip, g);
    } else {
        throw std::invalid_argument("--loss " + cfg.loss + ": not available with --env " + cfg.env);
    }
    const OptimizerKind kind = cfg.optimizer == "sgd"     ? OptimizerKind::SGD
                               : cfg.optimizer == "adamw" ? OptimizerKind::AdamW
                                                          : OptimizerKind::Adam;
    run.optimizer = std::make_unique<Optimizer>(
        run.store, kind,
        std::vector<ParamGroup>{{float(cfg.lr), float(cfg.weight_decay)}, {float(cfg.lr_logz), 0.f},
                                {float(cfg.lr_logf), float(cfg.weight_decay)}});
    const ContinuousEnv& scored = run.validation_env ? *run.validation_env : *run.continuous_env;
    run.have_exact_log_partition = scored.exact_log_partition(&run.exact_log_z);
    if (cfg.box() && run.prior_run) {  // log ∫ p_prior R^β for a prior exact on its own target
        const Config& pc = run.prior_run->cfg;
        run.exact_log_z = std::log(relative_box_reference(cfg, pc)->partition()) -
                          std::log(pc.R0 + 0.25 * pc.R1 + 0.04 * pc.R2);
    }
}

double exploration_std(const Run& run, int i) {
    // s_i = s_0                                     for i <= start
    //     = s_0 · max(0, 1 − (i − start)/(end − start))   after,
    // s_0 = --exploration-var-starting-val, start = --exploration-warm-down-start,
    // end = --exploration-warm-down-end (0: T − 1, the last iteration of T = --iterations).
    // With start = 0 and end = T − 1: s_0 · (1 − i/(T − 1)), torchgfn's train_line.
    const double s0 = run.cfg.exploration_var_starting_val;
    const int start = run.cfg.exploration_warm_down_start;
    const int end = run.cfg.exploration_warm_down_end > 0 ? run.cfg.exploration_warm_down_end : run.cfg.iterations - 1;
    if (i <= start) return s0;
    if (end <= start) return 0.0;
    return s0 * std::max(0.0, 1.0 - double(i - start) / double(end - start));
}

void sample_continuous_batch(Run& run) {
    const int n = dist::my_share(run.cfg.batch_size);  // [distributed] this rank's share
    // --terminal-buffer: odd iterations train on PB trajectories from buffered points,
    // the others add their rollout's terminal points to the buffer (never split
    // across threads: sharded_steps).
    if (run.diffusion_search && run.diffusion_search->sample_backward(run, n)) return;
    sample_continuous_batch(run, n, run.rng, run.tape, run.batch);
    if (run.diffusion_search) run.diffusion_search->record(run);
}

void sample_continuous_batch(const Run& run, int n, Rng& rng, Tape& tape, Trajectories& batch) {
    if (run.cfg.loss == "mle") {
        // MLE: data x ~ R/Z (exact target samples), taken back to s_0 by PB (the Brownian bridge).
        const ContinuousEnv& env = *run.continuous_env;
        float* xs = tape.arena.floats(size_t(n) * size_t(env.state_dim()));
        if (!env.sample_target(rng, n, xs))
            throw std::invalid_argument("--loss mle: --env " + run.cfg.env + " has no exact sampler of its target");
        sample_continuous_backward_trajectories(env, *run.continuous_pb, xs, n, rng, tape, batch);
        return;
    }
    // On-policy: log PF stays on the tape for the loss (train_step resets the tape
    // before the next rollout, after this step's backward).
    sample_continuous_trajectories(*run.continuous_env, *run.continuous_pf, n,
                                   float(exploration_std(run, run.iteration)), rng, tape, batch, run.on_policy());
}

namespace {

// log ∫ p_prior r^β, estimated with the posterior PF as proposal:
//     log (1/n) Σ_i exp(β log r(x_i) + Σ_t log p_prior(a_t|s_t) − Σ_t log p_post(a_t|s_t))
// over n fresh posterior trajectories (the value RTB's learned log Z should reach).
double relative_log_partition_is(Run& run, int n, Rng& rng) {
    std::vector<double> log_w;
    const int chunk = 2000, mine = dist::my_share(n);  // [distributed] this rank's share, gathered below
    for (int done = 0; done < mine; done += chunk) {
        const int m = std::min(chunk, mine - done);
        run.tape.reset();
        NoGrad ng(run.tape);
        Trajectories traj;
        // the posterior scores its draws as drawn (as in training); the prior scores the moves
        sample_continuous_trajectories(*run.continuous_env, *run.continuous_pf, m, 0.f, rng, run.tape, traj,
                                       /*save_log_pf=*/true);
        Var post = sum_per_trajectory(traj, evaluate_log_probs(run.tape, traj, *run.continuous_pf, nullptr, false).log_pf);
        Var prior = sum_per_trajectory(
            traj, evaluate_log_probs(run.tape, traj, *run.prior_run->continuous_pf, nullptr, true).log_pf);
        for (int i = 0; i < m; ++i)
            log_w.push_back(run.cfg.beta * double(traj.log_rewards[size_t(i)]) + double(prior.value().data[i]) -
                            double(post.value().data[i]));
    }
    run.tape.reset();
    return log_mean_exp(dist::allgather(log_w));
}

Metrics validate_diffusion_run(Run& run, Rng& vrng) {
    Metrics m;
    m.iteration = run.iteration;
    const DiffusionTarget& target = *run.diffusion_target;
    const ContinuousEnv& env = run.validation_env ? *run.validation_env : *run.continuous_env;
    run.tape.reset();
    const DiffusionValidation dv = validate_diffusion(env, *run.continuous_pf, *run.continuous_pb, target.mode_means(),
                                                      target.mode_weights(), run.cfg.validation_samples, vrng,
                                                      target.mode_offsets());
    run.tape.reset();
    m.elbo = dv.elbo;
    m.iw_elbo = dv.iw_elbo;
    m.eubo = dv.eubo;
    m.ess = dv.ess;
    m.modes_found = dv.modes_found;
    m.n_modes = dv.n_modes;
    m.mode_tv = dv.mode_tv;
    m.mode_distance = dv.mode_distance;
    m.mode_frequencies = dv.mode_frequencies;
    m.logz = run.gflownet->log_z();
    m.logz_true = target.log_partition();
    if (run.prior_run) m.logz_is = relative_log_partition_is(run, run.cfg.validation_samples, vrng);
    m.l1 = m.exact_l1 = m.jsd = m.mean_abs_error = m.mean_log_reward = m.mean_log_reward_true = NAN;
    // One validation row for logs and plots: the mode TV in the l1 column where the target has modes.
    ValidationResult v;
    v.l1 = dv.n_modes > 0 ? dv.mode_tv : NAN;
    v.exact_l1 = NAN;
    v.jsd = NAN;
    v.logz = m.logz;
    v.logz_true = m.logz_true;
    v.n_samples = dv.n_samples;
    m.validation.push_back(v);
    return m;
}

}  // namespace

Metrics validate_continuous_run(Run& run) {
    // Fresh samples on their own stream, so validation never perturbs training.
    // [distributed] Rank r's share comes from its own stream (rank 0's is the single process's).
    const uint64_t rank_offset = uint64_t(dist::rank()) << 40;
    Rng vrng(run.cfg.seed ^ 0x9e3779b97f4a7c15ULL, 0x51ed270b27ULL + uint64_t(run.iteration) * 2 + 1 + rank_offset);
    if (run.diffusion_target) return validate_diffusion_run(run, vrng);
    Metrics m;
    m.iteration = run.iteration;
    // Box with a relative objective: the rollouts in an env of the same moves whose
    // reward is the reference p* (relative_box_reference), so kde_jsd compares with exact p* samples.
    std::unique_ptr<BoxBase> reference;
    if (run.cfg.box() && run.prior_run) reference = relative_box_reference(run.cfg, run.prior_run->cfg);
    const ContinuousEnv& grid_env = reference ? *reference : *run.continuous_env;
    ContinuousValidation cv =
        run.cfg.box()
            ? validate_continuous_grid(grid_env, *run.continuous_pf, run.continuous_pb.get(),
                                       run.continuous_target, run.cfg.validation_bins, run.cfg.validation_samples, vrng)
            : validate_continuous(*run.continuous_env, *run.continuous_pf, run.continuous_pb.get(),
                                  run.continuous_target, run.continuous_lo, run.continuous_hi,
                                  run.cfg.validation_samples, vrng);
    m.binned_l1 = cv.binned_l1;
    m.binned_jsd = cv.binned_jsd;
    m.logz_is = cv.logz_is;
    // Box with a relative objective: the estimate of log ∫ p_prior r^β its log Z should reach.
    if (run.cfg.box() && run.prior_run) m.logz_is = relative_log_partition_is(run, run.cfg.validation_samples, vrng);
    m.kde_jsd = cv.kde_jsd;
    m.logz = run.gflownet->log_z();
    m.logz_true = run.exact_log_z;
    m.l1 = m.exact_l1 = m.jsd = m.mean_abs_error = m.mean_log_reward = m.mean_log_reward_true = NAN;
    // One validation row for logs and plots: the binned l1 / JSD in the l1 / jsd columns.
    ValidationResult v;
    v.l1 = cv.binned_l1;
    v.exact_l1 = NAN;
    v.jsd = cv.binned_jsd;
    v.logz = m.logz;
    v.logz_true = m.logz_true;
    v.n_samples = cv.n_samples;
    m.validation.push_back(v);
    return m;
}

bool diffusion_heatmaps(Run& run, int G, int n, std::vector<double>* target, std::vector<double>* learned,
                        std::string* title) {
    if (!run.diffusion_target || run.diffusion_target->dim() != 2 || !(run.diffusion_target->plot_border() > 0))
        return false;
    const DiffusionTarget& tg = *run.diffusion_target;
    const double b = tg.plot_border(), cell = 2 * b / G;
    // target: p(centre)·cell², normalised over the grid
    std::vector<float> centres(size_t(G) * G * 2), logp(size_t(G) * G);
    for (int i = 0; i < G; ++i)
        for (int j = 0; j < G; ++j) {
            centres[(size_t(i) * G + j) * 2] = float(-b + (i + 0.5) * cell);
            centres[(size_t(i) * G + j) * 2 + 1] = float(-b + (j + 0.5) * cell);
        }
    tg.log_density(centres.data(), G * G, logp.data());
    target->assign(size_t(G) * G, 0.0);
    double total = 0;
    for (size_t k = 0; k < target->size(); ++k) total += (*target)[k] = std::exp(double(logp[k]));
    for (double& v : *target) v = total > 0 ? v / total : 0.0;
    // learned: frequencies of fresh samples on their own stream
    const ContinuousEnv& env = run.validation_env ? *run.validation_env : *run.continuous_env;
    Rng rng(run.cfg.seed ^ 0x7f4a7c159e3779b9ULL, 0x2545f4914f6cdd1dULL);
    learned->assign(size_t(G) * G, 0.0);
    for (int done = 0; done < n; done += 4096) {
        const int m = std::min(4096, n - done);
        run.tape.reset();
        Trajectories traj;
        sample_continuous_trajectories(env, *run.continuous_pf, m, 0.f, rng, run.tape, traj);
        for (int k = 0; k < m; ++k) {
            const float* x = traj.float_terminal_state(k);
            const int i = int(std::floor((double(x[0]) + b) / cell)), j = int(std::floor((double(x[1]) + b) / cell));
            if (i >= 0 && i < G && j >= 0 && j < G) (*learned)[size_t(i) * G + j] += 1.0 / n;
        }
    }
    run.tape.reset();
    *title = "diffusion " + tg.name() + " on [-" + num_str(b) + ", " + num_str(b) + "]\u00b2, " + std::to_string(G) +
             "\u00d7" + std::to_string(G) + " cells";
    return true;
}

void clamp_network_gradients(ParamStore& store, float value) {
    for (const Param& p : store.params) {
        if (p.group == kLogZGroup) continue;
        float* g = store.grads.data() + p.offset;
        for (size_t k = 0; k < p.size(); ++k) g[k] = std::min(value, std::max(-value, g[k]));
    }
}

}  // namespace gfn
