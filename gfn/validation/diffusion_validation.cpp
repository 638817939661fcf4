// diffusion_validation.cpp — see diffusion_validation.h.
#include "gfn/validation/diffusion_validation.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "gfn/runtime/distributed.h"
#include "gfn/samplers/continuous_sampler.h"
#include "gfn/validation/continuous_validation.h"

namespace gfn {

double elbo(const std::vector<double>& log_w) {
    if (log_w.empty()) return NAN;
    double s = 0.0;
    for (double v : log_w) s += v;
    return s / double(log_w.size());
}

double iw_elbo(const std::vector<double>& log_w) { return log_mean_exp(log_w); }

double ess_fraction(const std::vector<double>& log_w) {
    if (log_w.empty()) return NAN;
    const double m = *std::max_element(log_w.begin(), log_w.end());
    if (!std::isfinite(m)) return NAN;
    // p_i = e^{v_i − m} / Σ_j e^{v_j − m};  ESS/B = (Σ e^{v_i − m})² / Σ e^{2(v_i − m)} / B
    double s1 = 0.0, s2 = 0.0;
    for (double v : log_w) {
        const double e = std::exp(v - m);
        s1 += e;
        s2 += e * e;
    }
    return s1 * s1 / s2 / double(log_w.size());
}

ModeCoverage mode_coverage(const float* points, int n, int stride, const std::vector<float>& means,
                           const std::vector<double>& weights, const std::vector<int>& offsets) {
    const size_t K = weights.size();
    if (K == 0 || means.size() % K != 0 || means.empty())
        throw std::invalid_argument("mode_coverage: " + std::to_string(means.size()) + " mean coordinates for " +
                                    std::to_string(K) + " mode weights (need n_modes × dim, dim >= 1)");
    const int dim = int(means.size() / K);
    if (n < 1) throw std::invalid_argument("mode_coverage: need n >= 1 points");
    if (offsets.empty()) throw std::invalid_argument("mode_coverage: need >= 1 block offset");
    for (int o : offsets)
        if (o < 0 || o + dim > stride)
            throw std::invalid_argument("mode_coverage: a block of dim " + std::to_string(dim) + " at offset " +
                                        std::to_string(o) + " does not fit in points of stride " +
                                        std::to_string(stride));
    const size_t G = offsets.size();
    std::vector<long> count(G * K, 0);
    double distance = 0.0;
    for (int i = 0; i < n; ++i)
        for (size_t g = 0; g < G; ++g) {
            const float* x = points + size_t(i) * size_t(stride) + size_t(offsets[g]);
            size_t best = 0;
            double best_d = INFINITY;
            for (size_t k = 0; k < K; ++k) {
                double d = 0.0;
                for (int j = 0; j < dim; ++j) {
                    const double e = double(x[j]) - means[k * size_t(dim) + size_t(j)];
                    d += e * e;
                }
                if (d < best_d) best_d = d, best = k;
            }
            ++count[g * K + best];
            distance += std::sqrt(best_d);
        }
    ModeCoverage c;
    c.mean_distance = distance / (double(n) * double(G));
    // freq_gk = count_gk / n; found when freq_gk >= 0.01; TV = (1/G) Σ_g ½ Σ_k |freq_gk − w_k|
    for (size_t g = 0; g < G; ++g)
        for (size_t k = 0; k < K; ++k) {
            const double freq = double(count[g * K + k]) / n;
            c.modes_found += freq >= 0.01;
            c.frequencies.push_back(freq);
            c.mode_tv += 0.5 * std::fabs(freq - weights[k]) / double(G);
        }
    return c;
}

DiffusionValidation validate_diffusion(const ContinuousEnv& env, const ContinuousPolicy& pf,
                                       const ContinuousPolicy& pb, const std::vector<float>& mode_means,
                                       const std::vector<double>& mode_weights, int n_samples, Rng& rng,
                                       const std::vector<int>& mode_offsets) {
    if (n_samples < 1) throw std::invalid_argument("validate_diffusion: need >= 1 sample");
    const bool with_modes = !mode_weights.empty() || !mode_means.empty();
    const int sd = env.state_dim();
    std::vector<double> log_w, log_w_back;
    std::vector<float> points;  // terminal states (n_samples, state_dim), for the modes
    log_w.reserve(size_t(n_samples));
    if (with_modes) points.reserve(size_t(n_samples) * size_t(sd));
    Tape tape;
    Trajectories traj;
    // [distributed] Each rank draws its share of the samples from its own `rng`;
    // log w and the terminal states are gathered, so every rank holds all of them.
    const int mine = dist::my_share(n_samples);
    // Forward: x ~ PF, log w of each trajectory.
    for (int done = 0; done < mine; done += kDiffusionValidationChunk) {
        const int m = std::min(kDiffusionValidationChunk, mine - done);
        tape.reset();
        NoGrad ng(tape);
        sample_continuous_trajectories(env, pf, m, 0.f, rng, tape, traj);
        std::vector<double> w = log_importance_weights(pf, &pb, traj, tape);
        log_w.insert(log_w.end(), w.begin(), w.end());
        if (with_modes)
            for (int i = 0; i < m; ++i) points.insert(points.end(), traj.float_terminal_state(i), traj.float_terminal_state(i) + sd);
    }
    log_w = dist::allgather(log_w);
    points = dist::allgather(points);
    // Backward: x ~ R/Z, the trajectory by PB from x, log w of each.
    bool have_target = true;
    std::vector<float> xs;
    for (int done = 0; done < mine && have_target; done += kDiffusionValidationChunk) {
        const int m = std::min(kDiffusionValidationChunk, mine - done);
        xs.assign(size_t(m) * size_t(sd), 0.f);
        if (!env.sample_target(rng, m, xs.data())) {
            have_target = false;
            break;
        }
        tape.reset();
        NoGrad ng(tape);
        sample_continuous_backward_trajectories(env, pb, xs.data(), m, rng, tape, traj);
        std::vector<double> w = log_importance_weights(pf, &pb, traj, tape);
        log_w_back.insert(log_w_back.end(), w.begin(), w.end());
    }
    tape.reset();
    // [distributed] Every rank's verdict on the exact sampler (a rank with no share drew nothing).
    double cannot = have_target ? 0.0 : 1.0;
    dist::allreduce_sum(&cannot, 1);
    have_target = cannot == 0.0;
    log_w_back = dist::allgather(log_w_back);

    DiffusionValidation v;
    v.n_samples = n_samples;
    v.elbo = elbo(log_w);
    v.iw_elbo = iw_elbo(log_w);
    v.ess = ess_fraction(log_w);
    v.eubo = have_target ? elbo(log_w_back) : NAN;
    v.mode_tv = NAN;
    v.mode_distance = NAN;
    if (with_modes) {
        ModeCoverage c = mode_coverage(points.data(), n_samples, sd, mode_means, mode_weights, mode_offsets);
        v.modes_found = c.modes_found;
        v.n_modes = int(c.frequencies.size());  // one per (block, mean)
        v.mode_tv = c.mode_tv;
        v.mode_distance = c.mean_distance;
        v.mode_frequencies = c.frequencies;
    }
    return v;
}

}  // namespace gfn
