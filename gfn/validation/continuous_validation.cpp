// continuous_validation.cpp — see continuous_validation.h.
#include "gfn/validation/continuous_validation.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "envs/box.h"
#include "gfn/estimators/log_probs.h"
#include "gfn/runtime/distributed.h"
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
    StepLogProbs lp = evaluate_log_probs(tape, traj, pf, pb, false);  // the saved log PF if there is one
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

namespace {

// n fresh PF trajectories (no exploration): their terminal states (n, state_dim)
// and log w_i = log R(x_i) + Σ log PB − Σ log PF.
// [distributed] Each rank draws its share of the n from its own `rng`; the
// samples are then gathered in rank order, so every rank holds all n.
void sample_weighted(const ContinuousEnv& env, const ContinuousPolicy& pf, const ContinuousPolicy* pb, int n_samples,
                     Rng& rng, std::vector<float>* xs, std::vector<double>* log_w) {
    const int chunk = 8192, D = env.state_dim(), mine = dist::my_share(n_samples);
    xs->clear();
    log_w->clear();
    xs->reserve(size_t(mine) * size_t(D));
    log_w->reserve(size_t(mine));
    Tape tape;
    Trajectories traj;
    for (int done = 0; done < mine; done += chunk) {
        const int m = std::min(chunk, mine - done);
        tape.reset();
        NoGrad ng(tape);
        // log PF of each draw as drawn (values only, under NoGrad); the same random numbers and moves
        sample_continuous_trajectories(env, pf, m, 0.f, rng, tape, traj, /*save_log_pf=*/true);
        std::vector<double> w = log_importance_weights(pf, pb, traj, tape);
        log_w->insert(log_w->end(), w.begin(), w.end());
        for (int i = 0; i < m; ++i) {
            const float* x = traj.float_terminal_state(i);
            xs->insert(xs->end(), x, x + D);
        }
    }
    *xs = dist::allgather(*xs);
    *log_w = dist::allgather(*log_w);
}

}  // namespace

ContinuousValidation validate_continuous(const ContinuousEnv& env, const ContinuousPolicy& pf,
                                         const ContinuousPolicy* pb, const std::vector<double>& target_masses,
                                         double lo, double hi, int n_samples, Rng& rng) {
    const int n_bins = int(target_masses.size()) - 2;
    if (n_bins < 1 || !(lo < hi) || n_samples < 1)
        throw std::invalid_argument("validate_continuous: need >= 1 bin, lo < hi and >= 1 sample");
    std::vector<float> xs;
    std::vector<double> log_w;
    sample_weighted(env, pf, pb, n_samples, rng, &xs, &log_w);
    ContinuousValidation v;
    v.n_samples = n_samples;
    std::vector<double> p = bin_frequencies(xs.data(), n_samples, env.state_dim(), lo, hi, n_bins);
    v.binned_l1 = l1_distance(p, target_masses);
    v.binned_jsd = jensen_shannon(p, target_masses);
    v.logz_is = log_mean_exp(log_w);
    return v;
}

std::vector<double> grid_frequencies(const float* xy, int n, int stride, int G) {
    if (G < 1) throw std::invalid_argument("grid_frequencies: need G >= 1 cells per side");
    std::vector<double> f(size_t(G) * size_t(G), 0.0);
    for (int i = 0; i < n; ++i) f[size_t(BoxBase::cell_of(xy + size_t(i) * size_t(stride), G))] += 1.0;
    for (double& v : f) v /= std::max(1, n);
    return f;
}

ContinuousValidation validate_continuous_grid(const ContinuousEnv& env, const ContinuousPolicy& pf,
                                              const ContinuousPolicy* pb, const std::vector<double>& target_masses,
                                              int G, int n_samples, Rng& rng) {
    if (G < 1 || target_masses.size() != size_t(G) * size_t(G) || n_samples < 1 || env.state_dim() < 2)
        throw std::invalid_argument("validate_continuous_grid: need G >= 1, G·G target masses, >= 1 sample and a "
                                    "state of >= 2 coordinates");
    std::vector<float> xs;
    std::vector<double> log_w;
    sample_weighted(env, pf, pb, n_samples, rng, &xs, &log_w);
    ContinuousValidation v;
    v.n_samples = n_samples;
    std::vector<double> p = grid_frequencies(xs.data(), n_samples, env.state_dim(), G);
    v.binned_l1 = l1_distance(p, target_masses);
    v.binned_jsd = jensen_shannon(p, target_masses);
    v.logz_is = log_mean_exp(log_w);
    // torchgfn's KDE JSD: the first (up to) 10,000 samples against as many exact draws of R/Z
    // ([distributed] each rank draws its share of those, gathered as the samples were).
    const int k = std::min(n_samples, 10000), D = env.state_dim(), mine = dist::my_share(k);
    std::vector<float> exact(size_t(mine) * size_t(D)), a(size_t(k) * 2), b(size_t(k) * 2);
    double cannot = env.sample_target(rng, mine, exact.data()) ? 0.0 : 1.0;
    dist::allreduce_sum(&cannot, 1);
    exact = dist::allgather(exact);
    if (cannot == 0.0) {
        for (int i = 0; i < k; ++i)
            for (int j = 0; j < 2; ++j) {
                a[size_t(i) * 2 + j] = xs[size_t(i) * D + j];
                b[size_t(i) * 2 + j] = exact[size_t(i) * D + j];
            }
        v.kde_jsd = kde_jsd(a.data(), k, b.data(), k);
    }
    return v;
}

double kde_jsd(const float* a, int n_a, const float* b, int n_b, int G, double bandwidth) {
    if (n_a < 1 || n_b < 1 || G < 1 || !(bandwidth > 0))
        throw std::invalid_argument("kde_jsd: need points in both sets, G >= 1 and a bandwidth > 0");
    auto density = [&](const float* x, int n) {
        std::vector<double> f(size_t(G) * size_t(G), 0.0);
        double total = 0.0;
        for (int i = 0; i < G; ++i)
            for (int j = 0; j < G; ++j) {
                const double c0 = (i + 0.5) / G, c1 = (j + 0.5) / G;
                double s = 0.0;
                // f(c) ∝ Σ_i exp(−‖c − x_i‖ / h)
                for (int k = 0; k < n; ++k) s += std::exp(-std::hypot(c0 - x[2 * k], c1 - x[2 * k + 1]) / bandwidth);
                f[size_t(i) * size_t(G) + size_t(j)] = s;
                total += s;
            }
        for (double& v : f) v /= total;
        return f;
    };
    return jensen_shannon(density(a, n_a), density(b, n_b));
}

}  // namespace gfn
