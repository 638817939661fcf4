// validation.cpp — see validation.h.
#include "gfn/validation/validation.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>

#include "gfn/runtime/distributed.h"
#include "gfn/samplers/sampler.h"

namespace gfn {

PolicyFn policy_fn(const PolicyEstimator& pf, const float* condition) {
    // One tape for every call, reset each time: a fresh tape per chunk would map and unmap
    // its arena each time and fault its pages in again (4D H=32: 768 times per validation).
    auto kept = std::make_shared<Tape>();
    return [&pf, condition, kept](const int* states, int n, float* out) {
        Tape& tape = *kept;
        tape.reset();
        NoGrad ng(tape);
        const int C = pf.env().condition_dim();
        std::vector<float> cond;
        if (C > 0) {
            if (!condition) throw std::invalid_argument("policy_fn: a conditional policy needs a condition");
            cond.resize(size_t(n) * C);
            for (int i = 0; i < n; ++i) std::copy(condition, condition + C, cond.begin() + long(i) * C);
        }
        Var lp = pf.log_probs(tape, states, C > 0 ? cond.data() : nullptr, n);
        std::copy(lp.value().data, lp.value().data + lp.value().size(), out);
    };
}

ValidationResult validate(const DiscreteEnv& env, const PolicyEstimator& pf, const TargetDistribution& target,
                          int n_samples, Rng& rng, const float* condition) {
    if (n_samples <= 0) throw std::invalid_argument("validate: the number of validation samples must be > 0");
    ValidationResult res;
    res.n_samples = n_samples;
    res.logz_true = target.log_z;
    std::vector<double> counts(size_t(target.n_terminal()), 0.0);
    const int C = env.condition_dim();
    const int chunk = 4096;
    Tape tape;
    Trajectories traj;
    std::vector<float> cond;
    // [distributed] This rank draws its share of the samples; the histogram is summed over the ranks.
    const int mine = dist::my_share(n_samples);
    for (int done = 0; done < mine; done += chunk) {
        const int m = std::min(chunk, mine - done);
        tape.reset();
        NoGrad ng(tape);
        SampleRequest req;
        req.n = m;
        if (C > 0) {
            if (!condition) throw std::invalid_argument("validate: a conditional environment needs a condition");
            cond.resize(size_t(m) * C);
            for (int i = 0; i < m; ++i) std::copy(condition, condition + C, cond.begin() + long(i) * C);
            req.conditions = cond.data();
        }
        sample_trajectories(env, pf, nullptr, req, rng, tape, traj);
        for (int i = 0; i < m; ++i) {
            long long k = target.terminal_of[size_t(env.state_index(traj.terminal_state(i)))];
            if (k < 0) throw std::logic_error("validate: a sampled terminal state is not terminating");
            counts[size_t(k)] += 1.0;
        }
    }
    dist::allreduce_sum(counts.data(), counts.size());
    for (double& c : counts) c /= double(n_samples);
    res.l1 = l1_distance(counts, target.prob);
    res.jsd = jensen_shannon(counts, target.prob);
    // [distributed] The exact metric once, on rank 0 (NaN elsewhere).
    res.exact_l1 = dist::root() ? l1_distance(exact_terminating_distribution(env, target, policy_fn(pf, condition)),
                                              target.prob)
                                : std::nan("");
    res.logz = std::nan("");
    res.n_terminal = target.n_terminal();
    // E[log R] of the samples and of the target, over states with R > 0.
    double ms = 0, mt = 0;
    for (int k = 0; k < target.n_terminal(); ++k)
        if (std::isfinite(target.log_reward[size_t(k)])) {
            ms += counts[size_t(k)] * target.log_reward[size_t(k)];
            mt += target.prob[size_t(k)] * target.log_reward[size_t(k)];
        }
    res.mean_log_reward = ms;
    res.mean_log_reward_true = mt;
    return res;
}

double sample_mean_log_reward(const DiscreteEnv& env, const PolicyEstimator& pf, int n_samples, Rng& rng) {
    if (env.condition_dim() > 0) throw std::invalid_argument("sample_mean_log_reward: conditional environment");
    const int chunk = 4096;
    Tape tape;
    Trajectories traj;
    double total = 0;
    const int mine = dist::my_share(n_samples);  // [distributed] as in validate()
    for (int done = 0; done < mine; done += chunk) {
        const int m = std::min(chunk, mine - done);
        tape.reset();
        NoGrad ng(tape);
        SampleRequest req;
        req.n = m;
        sample_trajectories(env, pf, nullptr, req, rng, tape, traj);
        for (int i = 0; i < m; ++i) total += traj.log_rewards[size_t(i)];
    }
    dist::allreduce_sum(&total, 1);
    return total / double(n_samples);
}

TargetDistribution relative_target(const DiscreteEnv& env, const PolicyEstimator& prior, float beta) {
    TargetDistribution t = true_distribution(env);
    std::vector<double> p_prior = exact_terminating_distribution(env, t, policy_fn(prior));
    // log p(x) = log P_prior(x) + β log r(x) − log Z,  Z = Σ_x P_prior(x) r(x)^β
    std::vector<double> lw(p_prior.size());
    double mx = -INFINITY;
    for (size_t k = 0; k < lw.size(); ++k) {
        lw[k] = (p_prior[k] > 0 ? std::log(p_prior[k]) : -INFINITY) + double(beta) * t.log_reward[k];
        mx = std::max(mx, lw[k]);
    }
    double z = 0;
    for (double v : lw) z += std::exp(v - mx);
    t.log_z = mx + std::log(z);
    for (size_t k = 0; k < lw.size(); ++k) t.prob[k] = std::exp(lw[k] - t.log_z);
    return t;
}

}  // namespace gfn
