// diffusion_rtb.cpp — a diffusion sampler as a prior, and RTB posterior
// fine-tuning, with the library directly (no gfn::Run, no flags; docs/diffusion.md).
//
//   make build/examples/diffusion_rtb && build/examples/diffusion_rtb
//
//   1. Pretrain a diffusion prior by maximum likelihood on exact samples of gmm25
//      (25 Gaussians on a 5 × 5 grid): data x, taken back to s_0 by the Brownian
//      bridge PB, and PF fitted to those trajectories.
//   2. Freeze it. Copy its weights into a posterior PF and fine-tune the posterior
//      with relative trajectory balance toward prior(x)·r(x), the constraint
//      r = p_post9 / p_gmm25 keeping 9 of the 25 modes with unequal weights.
//   3. Compare the posterior's mode histogram with posterior9's weights, and the
//      learned log Z with an importance-sampling estimate of log ∫ p_prior r.
// Small budgets (a minute or two on one core); `gfn train` runs the full settings.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <vector>

#include "engine/optim.h"
#include "envs/diffusion_sampling.h"
#include "envs/diffusion_targets.h"
#include "gfn/estimators/diffusion_policy.h"
#include "gfn/estimators/log_probs.h"
#include "gfn/objectives/maximum_likelihood.h"
#include "gfn/objectives/trajectory_balance.h"
#include "gfn/samplers/continuous_sampler.h"
#include "gfn/validation/continuous_validation.h"
#include "gfn/validation/diffusion_validation.h"

using namespace gfn;

int main() {
    const int N = 32, batch = 200;
    DiffusionPolicyOptions opt;  // the PIS network, hidden 64
    opt.sigma = 2.f;

    // ---- 1. the prior: MLE on gmm25 samples -----------------------------------
    std::shared_ptr<const DiffusionTarget> gmm25 = make_diffusion_target("gmm25");
    DiffusionSampling prior_env(gmm25, N);
    ParamStore prior_store;
    Rng rng(0);
    PinnedBrownianForward prior(prior_env, prior_store, opt, rng, "pf");
    BrownianBridgeBackward bridge(prior_env, opt);
    MaximumLikelihoodGFlowNet mle(&prior);
    {
        Optimizer adam(prior_store, OptimizerKind::Adam, {ParamGroup{1e-3f, 0.f}});
        Tape tape;
        Trajectories data;
        std::vector<float> xs(size_t(batch) * size_t(prior_env.state_dim()));
        for (int it = 1; it <= 1000; ++it) {
            tape.reset();
            prior_env.sample_target(rng, batch, xs.data());  // x ~ gmm25, at t = 1
            sample_continuous_backward_trajectories(prior_env, bridge, xs.data(), batch, rng, tape, data);
            Var loss = mle.loss(tape, data);  // −(1/B) Σ_i Σ_t log PF
            adam.zero_grad();
            tape.backward(loss);
            adam.step();
            if (it % 250 == 0) std::printf("prior  iter %4d  -log-likelihood %.3f\n", it, loss.item());
        }
    }
    prior_store.frozen = true;  // on the tape as constants from now on

    // ---- 2. the posterior: RTB toward prior · r, r = p_post9 / p_gmm25 --------
    std::shared_ptr<const DiffusionTarget> post9 = make_diffusion_target("posterior9");
    DiffusionSampling env(make_constraint_target(post9, gmm25), N);  // log R = log r
    ParamStore store;
    PinnedBrownianForward posterior(env, store, opt, rng, "pf");
    store.values = prior_store.values;  // same architecture: start at the prior
    ScalarEstimator log_z(store, 0.f, /*group=*/1, "log_z");
    RelativeTrajectoryBalanceGFlowNet rtb(&posterior, &prior, &log_z, /*beta=*/1.f);
    Optimizer adam(store, OptimizerKind::Adam, {ParamGroup{1e-3f, 0.f}, ParamGroup{0.1f, 0.f}});
    Tape tape;
    Trajectories batch_traj;
    const int iterations = 600;
    for (int it = 1; it <= iterations; ++it) {
        tape.reset();
        // exploration: the behaviour std widened by s, linear from 0.5 to 0
        const float s = 0.5f * float(iterations - it) / float(iterations);
        sample_continuous_trajectories(env, posterior, batch, s, rng, tape, batch_traj, /*save_log_pf=*/true);
        // ½ (log Z + Σ log p_post − Σ log p_prior − log r(x))²: no PB (it cancels)
        Var loss = rtb.loss(tape, batch_traj, /*recalculate_all_logprobs=*/false);
        adam.zero_grad();
        tape.backward(loss);
        adam.step();
        if (it % 200 == 0) std::printf("RTB    iter %4d  loss %.4f  log Z %.4f\n", it, loss.item(), double(log_z.value()));
    }

    // ---- 3. how close: modes against posterior9, log Z against ∫ p_prior r ----
    const int n = 20000;
    tape.reset();
    NoGrad ng(tape);
    Trajectories fresh;
    sample_continuous_trajectories(env, posterior, n, 0.f, rng, tape, fresh);
    std::vector<float> xs(size_t(n) * size_t(env.state_dim()));
    for (int i = 0; i < n; ++i)
        std::copy(fresh.float_terminal_state(i), fresh.float_terminal_state(i) + env.state_dim(),
                  xs.begin() + long(i) * env.state_dim());
    ModeCoverage cov = mode_coverage(xs.data(), n, env.state_dim(), post9->mode_means(), post9->mode_weights());
    Var post_lp = sum_per_trajectory(fresh, evaluate_log_probs(tape, fresh, posterior, nullptr, true).log_pf);
    Var prior_lp = sum_per_trajectory(fresh, evaluate_log_probs(tape, fresh, prior, nullptr, true).log_pf);
    std::vector<double> log_w(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i)
        log_w[size_t(i)] = double(fresh.log_rewards[size_t(i)]) + prior_lp.value().data[i] - post_lp.value().data[i];
    std::printf("posterior: %d of 9 modes with >= 1%%, TV to posterior9's weights %.3f\n", cov.modes_found,
                cov.mode_tv);
    std::printf("learned log Z %.4f, importance-sampled log of the integral of p_prior r %.4f\n",
                double(log_z.value()), log_mean_exp(log_w));
    return 0;
}
