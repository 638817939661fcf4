// continuous_training.cpp — see continuous_training.h.
#include "gfn/runtime/continuous_training.h"

#include <algorithm>
#include <stdexcept>

#include "envs/box.h"
#include "envs/line.h"
#include "gfn/estimators/box_policy.h"
#include "gfn/runtime/training.h"
#include "gfn/samplers/continuous_sampler.h"
#include "gfn/validation/continuous_validation.h"

namespace gfn {

namespace {

// --env box (polar) / box_cartesian: the environment, its learned PF and PB
// (gfn/estimators/box_policy.h) and the exact G×G cell masses of R/Z.
void build_box_pieces(Run& run, const NetConfig& net) {
    const Config& cfg = run.cfg;
    const BoxPolicyConfig bc{cfg.n_components, cfg.n_components_s0, float(cfg.min_concentration),
                             float(cfg.max_concentration)};
    std::unique_ptr<BoxBase> env;
    if (cfg.env == "box") {
        auto box = std::make_unique<Box>(cfg.delta, cfg.R0, cfg.R1, cfg.R2);
        run.continuous_pf = std::make_unique<BoxPolarPolicy>(*box, false, run.store, net, bc, run.rng, "pf");
        run.continuous_pb = std::make_unique<BoxPolarPolicy>(*box, true, run.store, net, bc, run.rng, "pb");
        env = std::move(box);
    } else {
        auto box = std::make_unique<BoxCartesian>(cfg.delta, cfg.R0, cfg.R1, cfg.R2);
        run.continuous_pf = std::make_unique<BoxCartesianPolicy>(*box, false, run.store, net, bc, run.rng, "pf");
        run.continuous_pb = std::make_unique<BoxCartesianPolicy>(*box, true, run.store, net, bc, run.rng, "pb");
        env = std::move(box);
    }
    run.continuous_lo = 0.0;
    run.continuous_hi = 1.0;
    run.continuous_target = env->cell_masses(cfg.validation_bins);
    run.continuous_env = std::move(env);
}

}  // namespace

void build_continuous_run(Run& run) {
    const Config& cfg = run.cfg;
    const NetConfig net{cfg.hidden, cfg.layers, activation_from_string(cfg.activation)};
    if (cfg.box()) {
        build_box_pieces(run, net);
    } else {
        if (cfg.env != "line") throw std::invalid_argument("--env: unknown continuous environment '" + cfg.env + "'");
        auto line = std::make_unique<Line>(parse_number_list("--mus", cfg.mus),
                                           parse_number_list("--sigmas", cfg.sigmas), cfg.init_value, cfg.n_sd,
                                           cfg.n_steps_per_trajectory);
        run.continuous_lo = line->range_lo();
        run.continuous_hi = line->range_hi();
        run.continuous_target = line->bin_masses(run.continuous_lo, run.continuous_hi, cfg.validation_bins);
        run.continuous_env = std::move(line);
        run.continuous_pf =
            std::make_unique<GaussianStepPolicy>(*run.continuous_env, false, run.store, net, run.rng, "pf");
        run.continuous_pb =
            std::make_unique<GaussianStepPolicy>(*run.continuous_env, true, run.store, net, run.rng, "pb");
    }
    const float clip = float(cfg.log_reward_clip_min);
    std::optional<RegressionLoss> g;
    if (cfg.loss_fn != "default") g = RegressionLoss::from_string(cfg.loss_fn, float(cfg.linex_alpha));
    if (cfg.loss == "tb") {
        run.log_z = std::make_unique<ScalarEstimator>(run.store, float(cfg.init_logz), kLogZGroup, "log_z");
        run.gflownet = std::make_unique<TBGFlowNet>(run.continuous_pf.get(), run.continuous_pb.get(), run.log_z.get(),
                                                    false, clip, g);
    } else if (cfg.loss == "lpv") {
        run.gflownet = std::make_unique<LogPartitionVarianceGFlowNet>(run.continuous_pf.get(), run.continuous_pb.get(),
                                                                      false, clip, g);
    } else {
        throw std::invalid_argument("--loss " + cfg.loss + ": --env " + cfg.env + " trains with tb or lpv");
    }
    const OptimizerKind kind = cfg.optimizer == "sgd"     ? OptimizerKind::SGD
                               : cfg.optimizer == "adamw" ? OptimizerKind::AdamW
                                                          : OptimizerKind::Adam;
    run.optimizer = std::make_unique<Optimizer>(
        run.store, kind,
        std::vector<ParamGroup>{{float(cfg.lr), float(cfg.weight_decay)}, {float(cfg.lr_logz), 0.f},
                                {float(cfg.lr_logf), float(cfg.weight_decay)}});
    run.have_exact_log_partition = run.continuous_env->exact_log_partition(&run.exact_log_z);
}

double exploration_std(const Run& run, int i) {
    // s_i = s_0 · (1 − i / (T − 1)), s_0 = --exploration-var-starting-val, T = --iterations
    const int T = run.cfg.iterations;
    const double s0 = run.cfg.exploration_var_starting_val;
    if (T <= 1) return i == 0 ? s0 : 0.0;
    return s0 * std::max(0.0, 1.0 - double(i) / double(T - 1));
}

void sample_continuous_batch(Run& run) {
    sample_continuous_trajectories(*run.continuous_env, *run.continuous_pf, run.cfg.batch_size,
                                   float(exploration_std(run, run.iteration)), run.rng, run.tape, run.batch);
}

Metrics validate_continuous_run(Run& run) {
    Metrics m;
    m.iteration = run.iteration;
    // Fresh samples on their own stream, so validation never perturbs training.
    Rng vrng(run.cfg.seed ^ 0x9e3779b97f4a7c15ULL, 0x51ed270b27ULL + uint64_t(run.iteration) * 2 + 1);
    ContinuousValidation cv =
        run.cfg.box()
            ? validate_continuous_grid(*run.continuous_env, *run.continuous_pf, run.continuous_pb.get(),
                                       run.continuous_target, run.cfg.validation_bins, run.cfg.validation_samples, vrng)
            : validate_continuous(*run.continuous_env, *run.continuous_pf, run.continuous_pb.get(),
                                  run.continuous_target, run.continuous_lo, run.continuous_hi,
                                  run.cfg.validation_samples, vrng);
    m.binned_l1 = cv.binned_l1;
    m.binned_jsd = cv.binned_jsd;
    m.logz_is = cv.logz_is;
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

void clamp_network_gradients(ParamStore& store, float value) {
    for (const Param& p : store.params) {
        if (p.group == kLogZGroup) continue;
        float* g = store.grads.data() + p.offset;
        for (size_t k = 0; k < p.size(); ++k) g[k] = std::min(value, std::max(-value, g[k]));
    }
}

}  // namespace gfn
