// hypergrid.cpp — see hypergrid.h.
#include "envs/hypergrid.h"

#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <utility>

#include "engine/parallel.h"
#include "gfn/estimators/preprocessors.h"

namespace gfn {

HyperGrid::HyperGrid(int ndim, int height, std::string reward, double R0, double R1, double R2, double mode_gamma)
    : ndim_(ndim), height_(height), reward_name_(std::move(reward)), kind_(RewardKind::original), R0_(R0), R1_(R1),
      R2_(R2), mode_gamma_(mode_gamma), n_states_(-1) {
    if (ndim < 1) throw std::invalid_argument("HyperGrid: ndim must be >= 1 (got " + std::to_string(ndim) + ")");
    if (height < 2) throw std::invalid_argument("HyperGrid: height must be >= 2 (got " + std::to_string(height) + ")");
    if ((long long)ndim * (height - 1) + 1 > INT_MAX)
        throw std::invalid_argument("HyperGrid: ndim·(height − 1) + 1 must fit in an int (ndim " + std::to_string(ndim) +
                                    ", height " + std::to_string(height) + ")");
    if (reward_name_ == "original") kind_ = RewardKind::original;
    else if (reward_name_ == "cosine") kind_ = RewardKind::cosine;
    else if (reward_name_ == "sparse") kind_ = RewardKind::sparse;
    else if (reward_name_ == "deceptive") kind_ = RewardKind::deceptive;
    else
        throw std::invalid_argument("HyperGrid: unknown reward '" + reward_name_ +
                                    "' (expected original, cosine, sparse or deceptive)");
    if (!(std::isfinite(R0) && R0 >= 0.0)) throw std::invalid_argument("HyperGrid: R0 must be finite and >= 0 (got " + num_str(R0) + "); with R0 = 0 some rewards are 0, which needs --log-reward-clip-min");
    if (!(std::isfinite(R1) && R1 >= 0.0)) throw std::invalid_argument("HyperGrid: R1 must be finite and >= 0 (got " + num_str(R1) + ")");
    if (!(std::isfinite(R2) && R2 >= 0.0)) throw std::invalid_argument("HyperGrid: R2 must be finite and >= 0 (got " + num_str(R2) + ")");
    if (!(std::isfinite(mode_gamma) && mode_gamma > 0.0))
        throw std::invalid_argument("HyperGrid: mode_gamma must be finite and > 0 (got " + num_str(mode_gamma) + ")");
    // H^D, saturating to −1 past 2^62.
    long long count = 1;
    for (int j = 0; j < ndim; ++j) {
        if (count > (1LL << 62) / height) { count = -1; break; }
        count *= height;
    }
    n_states_ = count;
}

void HyperGrid::initial_state(int* out) const {
    for (int j = 0; j < ndim_; ++j) out[j] = 0;
}

// mask[i, j] = x_ij < H−1 for j < D; mask[i, D] = 1 (exit)
void HyperGrid::forward_masks(const int* states, int n, uint8_t* mask) const {
    const int D = ndim_, A = D + 1, top = height_ - 1;
    for (int i = 0; i < n; ++i) {
        const int* s = states + size_t(i) * D;
        uint8_t* m = mask + size_t(i) * A;
        for (int j = 0; j < D; ++j) m[j] = s[j] < top;
        m[D] = 1;
    }
}

// mask[i, j] = x_ij > 0
void HyperGrid::backward_masks(const int* states, int n, uint8_t* mask) const {
    const int D = ndim_;
    for (int i = 0; i < n; ++i) {
        const int* s = states + size_t(i) * D;
        uint8_t* m = mask + size_t(i) * D;
        for (int j = 0; j < D; ++j) m[j] = s[j] > 0;
    }
}

void HyperGrid::step(const int* states, const int* actions, int n, int* out) const {
    const int D = ndim_;
    for (int i = 0; i < n; ++i) {
        const int* s = states + size_t(i) * D;
        int* o = out + size_t(i) * D;
        const int a = actions[i];
        if (a < 0 || a >= D || s[a] < 0 || s[a] >= height_ - 1)
            throw std::invalid_argument("HyperGrid::step: action " + std::to_string(a) + " is not a valid non-exit action of row " +
                                        std::to_string(i));
        for (int j = 0; j < D; ++j) o[j] = s[j];
        o[a] += 1;
    }
}

void HyperGrid::backward_step(const int* states, const int* actions, int n, int* out) const {
    const int D = ndim_;
    for (int i = 0; i < n; ++i) {
        const int* s = states + size_t(i) * D;
        int* o = out + size_t(i) * D;
        const int a = actions[i];
        if (a < 0 || a >= D || s[a] <= 0 || s[a] > height_ - 1)
            throw std::invalid_argument("HyperGrid::backward_step: action " + std::to_string(a) +
                                        " is not a valid backward action of row " + std::to_string(i));
        for (int j = 0; j < D; ++j) o[j] = s[j];
        o[a] -= 1;
    }
}

// With m = H−1 and d = |2x − m|, a = d/(2m), and
//   a > 0.25 ⇔ 2d > m,   a > 0.1 ⇔ 5d > m,   0.3 < a < 0.4 ⇔ 3m < 5d < 4m.
double HyperGrid::reward_of(const int* x) const {
    const long long m = height_ - 1;
    switch (kind_) {
    case RewardKind::original:
    case RewardKind::deceptive: {
        bool outer = true, outer_deceptive = true, band = true;
        for (int j = 0; j < ndim_; ++j) {
            const long long d = std::llabs(2LL * x[j] - m);
            outer = outer && (2 * d > m);
            outer_deceptive = outer_deceptive && (5 * d > m);
            band = band && (3 * m < 5 * d) && (5 * d < 4 * m);
        }
        if (kind_ == RewardKind::original) return R0_ + (outer ? R1_ : 0.0) + (band ? R2_ : 0.0);
        return R0_ + R1_ - (outer_deceptive ? R1_ : 0.0) + (band ? R2_ : 0.0);
    }
    case RewardKind::cosine: {
        // Π_j (cos(50 a_j) + 1)·φ(5 a_j),  φ(z) = exp(−z²/2)/√(2π)
        const double inv_sqrt_2pi = 0.3989422804014327;
        double prod = 1.0;
        for (int j = 0; j < ndim_; ++j) {
            const double a = double(std::llabs(2LL * x[j] - m)) / double(2 * m);
            const double z = 5.0 * a;
            prod *= (std::cos(50.0 * a) + 1.0) * inv_sqrt_2pi * std::exp(-0.5 * z * z);
        }
        return R0_ + R1_ * prod;
    }
    case RewardKind::sparse: {
        const int lo = 1, hi = height_ - 2;
        bool all_in = true, any_hi = false;
        for (int j = 0; j < ndim_; ++j) {
            all_in = all_in && (x[j] == lo || x[j] == hi);
            any_hi = any_hi || x[j] == hi;
        }
        return (all_in && any_hi ? 1.0 : 0.0) + 1e-12;
    }
    }
    return 0.0;  // unreachable
}

void HyperGrid::reward(const int* states, int n, double* out) const {
    parallel_for(n, split_loop(n, 16384), [=](int i) { out[i] = reward_of(states + size_t(i) * ndim_); });
}

void HyperGrid::log_reward(const int* states, const float*, int n, float* out) const {
    parallel_for(n, split_loop(n, 16384), [=](int i) {
        out[i] = float(std::log(reward_of(states + size_t(i) * ndim_)));
    });
}

std::unique_ptr<Preprocessor> HyperGrid::default_preprocessor() const {
    return std::make_unique<KHotPreprocessor>(ndim_, height_, 0);
}

void HyperGrid::all_states(int* out) const {
    if (!enumerable())
        throw std::logic_error("hypergrid: all_states() needs height^ndim <= 2^26 (ndim " + std::to_string(ndim_) +
                               ", height " + std::to_string(height_) + ")");
    // Row k is k written in base H, coordinate 0 most significant.
    const long long N = n_states_;
    parallel_for(N, split_loop(N, 16384), [=](long long k) {
        long long r = k;
        int* o = out + size_t(k) * ndim_;
        for (int j = ndim_ - 1; j >= 0; --j) {
            o[j] = int(r % height_);
            r /= height_;
        }
    });
}

long long HyperGrid::state_index(const int* s) const {
    if (n_states_ < 0)
        throw std::logic_error("hypergrid: state_index() needs height^ndim < 2^62 (ndim " + std::to_string(ndim_) +
                               ", height " + std::to_string(height_) + ")");
    long long k = 0;
    for (int j = 0; j < ndim_; ++j) {
        if (s[j] < 0 || s[j] >= height_) return -1;
        k = k * height_ + s[j];
    }
    return k;
}

double HyperGrid::mode_log_reward_threshold() const {
    double thr = 0.0;
    switch (kind_) {
    case RewardKind::original: thr = R0_ + R1_ + R2_; break;
    case RewardKind::deceptive: thr = R0_ + R2_; break;
    case RewardKind::cosine: thr = R0_ + std::pow(mode_gamma_ * 2.0 * 0.3989422804014327, ndim_) * R1_; break;
    case RewardKind::sparse: thr = 0.5; break;
    }
    const double log_thr = std::log(thr);
    return log_thr - 1e-6 * (1.0 + std::fabs(log_thr));
}

void ConditionalHyperGrid::sample_conditions(Rng& rng, int n, float* out) const {
    for (int i = 0; i < n; ++i) out[i] = rng.uniform();
}

// log R_c(x) = log((1 − c)·(R0+R1+R2) + c·R(x))
void ConditionalHyperGrid::log_reward(const int* states, const float* conditions, int n, float* out) const {
    if (conditions == nullptr && n > 0)
        throw std::invalid_argument("conditional_hypergrid: log_reward needs the conditions (one float per state)");
    const double uniform = R0_ + R1_ + R2_;
    parallel_for(n, split_loop(n, 16384), [=](int i) {
        const double c = conditions[i];
        out[i] = float(std::log((1.0 - c) * uniform + c * reward_of(states + size_t(i) * ndim_)));
    });
}

}  // namespace gfn
