// continuous_validation.cpp — see continuous_validation.h.
#include "gfn/validation/continuous_validation.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "gfn/estimators/log_probs.h"
#include "gfn/samplers/continuous_sampler.h"
#include "gfn/validation/enumeration.h"

namespace gfn {

std::vector<double> bin_frequencies(const float* xs, int n, int stride, double lo, double hi, int n_bins) {
    std::vector<double> f(size_t(n_bins) + 2, 0.0);
    for (int i = 0; i < n; ++i) {
        const double x = xs[size_t(i) * size_t(stride)];
        size_t cell;
        if (x < lo) cell = 0;
        else if (x >= hi) cell = size_t(n_bins) + 1;
        else cell = 1 + size_t(std::min(n_bins - 1, int((x - lo) / (hi - lo) * n_bins)));
        f[cell] += 1.0;
    }
    for (double& v : f) v /= std::max(1, n);
    return f;
}

double log_mean_exp(const std::vector<double>& v) {
    if (v.empty()) return -INFINITY;
    const double m = *std::max_element(v.begin(), v.end());
    if (!std::isfinite(m)) return m;
    double s = 0.0;
    for (double x : v) s += std::exp(x - m);
    return m + std::log(s / double(v.size()));
}

std::vector<double> log_importance_weights(const ContinuousPolicy& pf, const ContinuousPolicy* pb,
                                           const Trajectories& traj, Tape& tape) {
    StepLogProbs lp = evaluate_log_probs(tape, traj, pf, pb, true);
    // log w_i = log R(x_i) − Σ log PF + Σ log PB
    std::vector<double> w(traj.log_rewards.begin(), traj.log_rewards.end());
    const float* f = sum_per_trajectory(traj, lp.log_pf).value().data;
    for (int i = 0; i < traj.n; ++i) w[size_t(i)] -= f[i];
    if (lp.log_pb.valid()) {
        const float* b = sum_per_trajectory_backward(traj, lp.log_pb).value().data;
        for (int i = 0; i < traj.n; ++i) w[size_t(i)] += b[i];
    }
    return w;
}

ContinuousValidation validate_continuous(const ContinuousEnv& env, const ContinuousPolicy& pf,
                                         const ContinuousPolicy* pb, const std::vector<double>& target_masses,
                                         double lo, double hi, int n_samples, Rng& rng) {
    const int n_bins = int(target_masses.size()) - 2;
    if (n_bins < 1 || !(lo < hi) || n_samples < 1)
        throw std::invalid_argument("validate_continuous: need >= 1 bin, lo < hi and >= 1 sample");
    const int chunk = 8192;
    std::vector<float> xs;
    std::vector<double> log_w;
    xs.reserve(size_t(n_samples));
    log_w.reserve(size_t(n_samples));
    Tape tape;
    Trajectories traj;
    for (int done = 0; done < n_samples; done += chunk) {
        const int m = std::min(chunk, n_samples - done);
        tape.reset();
        NoGrad ng(tape);
        sample_continuous_trajectories(env, pf, m, 0.f, rng, tape, traj);
        std::vector<double> w = log_importance_weights(pf, pb, traj, tape);
        log_w.insert(log_w.end(), w.begin(), w.end());
        for (int i = 0; i < m; ++i) xs.push_back(traj.float_terminal_state(i)[0]);
    }
    ContinuousValidation v;
    v.n_samples = n_samples;
    std::vector<double> p = bin_frequencies(xs.data(), n_samples, 1, lo, hi, n_bins);
    v.binned_l1 = l1_distance(p, target_masses);
    v.binned_jsd = jensen_shannon(p, target_masses);
    v.logz_is = log_mean_exp(log_w);
    return v;
}

}  // namespace gfn
