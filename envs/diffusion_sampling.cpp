// diffusion_sampling.cpp — see diffusion_sampling.h.
#include "envs/diffusion_sampling.h"

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace gfn {

DiffusionSampling::DiffusionSampling(std::shared_ptr<const DiffusionTarget> target, int n_steps)
    : target_(std::move(target)), dim_(0), n_steps_(n_steps) {
    if (!target_) throw std::invalid_argument("DiffusionSampling: the target is null");
    dim_ = target_->dim();
    if (dim_ < 1)
        throw std::invalid_argument("DiffusionSampling: target " + target_->name() + " has dimension " +
                                    std::to_string(dim_) + " (need >= 1)");
    if (n_steps < 1)
        throw std::invalid_argument("DiffusionSampling: --n-steps must be >= 1 (got " + std::to_string(n_steps) +
                                    ")");
}

int DiffusionSampling::step_index(const float* s) const {
    // k = round(t·N)
    return int(std::lround(double(s[dim_]) * double(n_steps_)));
}

void DiffusionSampling::initial_state(float* out) const {
    for (int j = 0; j <= dim_; ++j) out[j] = 0.f;
}

void DiffusionSampling::step(const float* states, const float* actions, int n, float* out) const {
    const int D = dim_ + 1;
    for (int i = 0; i < n; ++i) {
        const float* s = states + size_t(i) * D;
        const int k = step_index(s);
        if (k >= n_steps_)
            throw std::invalid_argument("DiffusionSampling: a move from a state with t = 1 (only the exit is possible)");
        float* o = out + size_t(i) * D;
        const float* a = actions + size_t(i) * dim_;
        for (int j = 0; j < dim_; ++j) o[j] = s[j] + a[j];
        o[dim_] = time_of_step(k + 1);
    }
}

void DiffusionSampling::backward_step(const float* states, const float* actions, int n, float* out) const {
    const int D = dim_ + 1;
    for (int i = 0; i < n; ++i) {
        const float* s = states + size_t(i) * D;
        const int k = step_index(s);
        if (k < 1) throw std::invalid_argument("DiffusionSampling: a backward move from s_0 (t = 0)");
        float* o = out + size_t(i) * D;
        const float* a = actions + size_t(i) * dim_;
        // The step back from k = 1 lands on s_0 exactly (x − x may round for a given a).
        for (int j = 0; j < dim_; ++j) o[j] = k == 1 ? 0.f : s[j] - a[j];
        o[dim_] = time_of_step(k - 1);
    }
}

void DiffusionSampling::backward_forced_action(const float* s, float* out) const {
    std::memcpy(out, s, sizeof(float) * size_t(dim_));
}

void DiffusionSampling::log_reward(const float* states, int n, float* out) const {
    std::vector<float> x(size_t(n) * dim_);
    for (int i = 0; i < n; ++i)
        std::memcpy(x.data() + size_t(i) * dim_, states + size_t(i) * (dim_ + 1), sizeof(float) * size_t(dim_));
    target_->log_density(x.data(), n, out);
}

void DiffusionSampling::partial_energy(const float* states, int n, double v, float* out) const {
    if (!(v > 0) || !std::isfinite(v))
        throw std::invalid_argument("DiffusionSampling::partial_energy: the reference variance must be > 0");
    for (int i = 0; i < n; ++i)  // checked before out is written
        if (!(states[size_t(i) * size_t(dim_ + 1) + size_t(dim_)] > 0))
            throw std::invalid_argument("DiffusionSampling::partial_energy: a state at t <= 0 (s_0)");
    constexpr double kLog2Pi = 1.83787706640934548356;  // log 2π
    log_reward(states, n, out);
    for (int i = 0; i < n; ++i) {
        const float* s = states + size_t(i) * size_t(dim_ + 1);
        const double t = s[dim_];
        // log N(x; 0, v·t·I) = −½ Σ_j (log 2π v t + x_j² / (v t))
        double sq = 0;
        for (int j = 0; j < dim_; ++j) sq += double(s[j]) * double(s[j]);
        const double vt = v * t, log_ref = -0.5 * (double(dim_) * (kLog2Pi + std::log(vt)) + sq / vt);
        out[i] = float((1 - t) * log_ref + t * double(out[i]));
    }
}

bool DiffusionSampling::exact_log_partition(double* log_z) const {
    const double z = target_->log_partition();  // NaN for a constraint r (not normalisable)
    if (std::isnan(z)) return false;
    *log_z = z;
    return true;
}

bool DiffusionSampling::sample_target(Rng& rng, int n, float* out) const {
    if (!target_->can_sample()) return false;
    std::vector<float> x(size_t(n) * dim_);
    target_->sample(rng, n, x.data());
    for (int i = 0; i < n; ++i) {
        float* o = out + size_t(i) * (dim_ + 1);
        std::memcpy(o, x.data() + size_t(i) * dim_, sizeof(float) * size_t(dim_));
        o[dim_] = 1.f;
    }
    return true;
}

}  // namespace gfn
