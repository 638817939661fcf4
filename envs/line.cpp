// line.cpp — see line.h.
#include "envs/line.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "gfn/env/env.h"

namespace gfn {

Line::Line(std::vector<double> mus, std::vector<double> sigmas, double init, double n_sd, int n_steps)
    : mus_(std::move(mus)), sigmas_(std::move(sigmas)), init_(init), n_sd_(n_sd), n_steps_(n_steps) {
    if (mus_.empty() || mus_.size() != sigmas_.size())
        throw std::invalid_argument("Line: --mus and --sigmas need the same number (>= 1) of values (got " +
                                    std::to_string(mus_.size()) + " and " + std::to_string(sigmas_.size()) + ")");
    for (size_t i = 0; i < mus_.size(); ++i) {
        if (!std::isfinite(mus_[i])) throw std::invalid_argument("Line: --mus values must be finite");
        if (!(std::isfinite(sigmas_[i]) && sigmas_[i] > 0.0))
            throw std::invalid_argument("Line: --sigmas values must be finite and > 0 (got " + num_str(sigmas_[i]) +
                                        ")");
    }
    if (!(std::isfinite(n_sd) && n_sd > 0.0))
        throw std::invalid_argument("Line: --n-sd must be finite and > 0 (got " + num_str(n_sd) + ")");
    if (n_steps < 1) throw std::invalid_argument("Line: --n-steps must be >= 1 (got " + std::to_string(n_steps) + ")");
    if (!(std::isfinite(init) && init > range_lo() && init < range_hi()))
        throw std::invalid_argument("Line: --init-value " + num_str(init) + " must lie inside (" +
                                    num_str(range_lo()) + ", " + num_str(range_hi()) + ")");
}

double Line::range_lo() const {
    return *std::min_element(mus_.begin(), mus_.end()) - n_sd_ * *std::max_element(sigmas_.begin(), sigmas_.end());
}

double Line::range_hi() const {
    return *std::max_element(mus_.begin(), mus_.end()) + n_sd_ * *std::max_element(sigmas_.begin(), sigmas_.end());
}

void Line::initial_state(float* out) const {
    out[0] = float(init_);
    out[1] = 0.f;
}

void Line::step(const float* states, const float* actions, int n, float* out) const {
    for (int i = 0; i < n; ++i) {
        if (exit_forced(states + 2 * i))
            throw std::invalid_argument("Line: a move from a state with k = n_steps (only the exit is possible)");
        out[2 * i] = states[2 * i] + actions[i];
        out[2 * i + 1] = states[2 * i + 1] + 1.f;
    }
}

void Line::backward_step(const float* states, const float* actions, int n, float* out) const {
    for (int i = 0; i < n; ++i) {
        if (counter(states + 2 * i) < 1) throw std::invalid_argument("Line: a backward move from s_0");
        // The step back from k = 1 lands on s_0 exactly (x − (x − init) may round).
        const bool to_s0 = counter(states + 2 * i) == 1;
        out[2 * i] = to_s0 ? float(init_) : states[2 * i] - actions[i];
        out[2 * i + 1] = states[2 * i + 1] - 1.f;
    }
}

void Line::backward_forced_action(const float* s, float* out) const { out[0] = s[0] - float(init_); }

void Line::log_reward(const float* states, int n, float* out) const {
    const double log_sqrt_2pi = 0.5 * std::log(2.0 * M_PI);
    const size_t K = mus_.size();
    std::vector<double> terms(K);
    for (int i = 0; i < n; ++i) {
        const double x = states[2 * i];
        // log R = logsumexp_j [−½((x − μ_j)/σ_j)² − log σ_j − ½ log 2π]
        double m = -INFINITY;
        for (size_t j = 0; j < K; ++j) {
            const double z = (x - mus_[j]) / sigmas_[j];
            terms[j] = -0.5 * z * z - std::log(sigmas_[j]) - log_sqrt_2pi;
            m = std::max(m, terms[j]);
        }
        double s = 0.0;
        for (size_t j = 0; j < K; ++j) s += std::exp(terms[j] - m);
        out[i] = float(m + std::log(s));
    }
}

bool Line::exact_log_partition(double* log_z) const {
    *log_z = std::log(double(mus_.size()));
    return true;
}

bool Line::sample_target(Rng& rng, int n, float* out) const {
    const int K = int(mus_.size());
    for (int i = 0; i < n; ++i) {
        const int j = std::min(K - 1, int(rng.uniform_double() * K));
        out[2 * i] = float(mus_[size_t(j)] + sigmas_[size_t(j)] * rng.normal());
        out[2 * i + 1] = float(n_steps_);
    }
    return true;
}

std::vector<double> Line::bin_masses(double lo, double hi, int n_bins) const {
    if (!(lo < hi) || n_bins < 1) throw std::invalid_argument("Line::bin_masses: need lo < hi and n_bins >= 1");
    const double K = double(mus_.size());
    // Φ(z) = ½ erfc(−z/√2), averaged over the components
    auto cdf = [&](double x) {
        if (x == -INFINITY) return 0.0;
        if (x == INFINITY) return 1.0;
        double c = 0.0;
        for (size_t j = 0; j < mus_.size(); ++j) c += 0.5 * std::erfc(-(x - mus_[j]) / (sigmas_[j] * M_SQRT2));
        return c / K;
    };
    std::vector<double> out(size_t(n_bins) + 2);
    out[0] = cdf(lo);
    for (int b = 0; b < n_bins; ++b)
        out[size_t(b) + 1] = cdf(lo + (hi - lo) * (b + 1) / n_bins) - cdf(lo + (hi - lo) * b / n_bins);
    out[size_t(n_bins) + 1] = 1.0 - cdf(hi);
    return out;
}

}  // namespace gfn
