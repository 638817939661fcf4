// diffusion_local_search.cpp — see diffusion_local_search.h.
#include "gfn/samplers/diffusion_local_search.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

#include "envs/diffusion_sampling.h"
#include "gfn/runtime/training.h"
#include "gfn/samplers/continuous_sampler.h"

namespace gfn {

TerminalBuffer::TerminalBuffer(int dim, int capacity, double rank_weight)
    : dim_(dim), capacity_(capacity), rank_weight_(rank_weight) {
    if (dim < 1) throw std::invalid_argument("TerminalBuffer: dimension must be >= 1, got " + std::to_string(dim));
    if (capacity < 1)
        throw std::invalid_argument("--terminal-buffer: capacity must be >= 1, got " + std::to_string(capacity));
    if (!(rank_weight > 0) || !std::isfinite(rank_weight))
        throw std::invalid_argument("--rank-weight: must be finite and > 0, got " + std::to_string(rank_weight));
}

void TerminalBuffer::add(const float* xs, const float* log_r, int n) {
    for (int i = 0; i < n; ++i) {
        const float* x = xs + size_t(i) * size_t(dim_);
        if (size() < capacity_) {
            x_.insert(x_.end(), x, x + dim_);
            log_r_.push_back(log_r[i]);
        } else {  // full: overwrite the oldest
            std::copy(x, x + dim_, x_.begin() + std::ptrdiff_t(next_ * size_t(dim_)));
            log_r_[next_] = log_r[i];
            next_ = (next_ + 1) % size_t(capacity_);
        }
    }
}

std::vector<double> TerminalBuffer::probabilities() const {
    // P(i) ∝ 1 / (k·M + rank_i), rank 0 the largest log R (stable: ties by storage order).
    const int M = size();
    std::vector<int> order(static_cast<size_t>(M));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return log_r_[size_t(a)] > log_r_[size_t(b)]; });
    std::vector<double> p(static_cast<size_t>(M));
    double total = 0;
    for (int r = 0; r < M; ++r) total += p[size_t(order[size_t(r)])] = 1.0 / (rank_weight_ * M + r);
    for (double& v : p) v /= total;
    return p;
}

void TerminalBuffer::sample(int n, Rng& rng, float* xs, float* log_r) const {
    if (size() == 0) throw std::logic_error("TerminalBuffer::sample: the buffer is empty");
    const std::vector<double> p = probabilities();
    std::vector<double> cdf(p.size());
    std::partial_sum(p.begin(), p.end(), cdf.begin());
    for (int k = 0; k < n; ++k) {
        const double u = rng.uniform_double() * cdf.back();
        const size_t i = std::min(size_t(std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin()), p.size() - 1);
        std::copy(point(int(i)), point(int(i)) + dim_, xs + size_t(k) * size_t(dim_));
        log_r[k] = log_r_[i];
    }
}

double langevin_local_search(const DiffusionTarget& target, float* xs, float* log_r, int n, int steps,
                             double step_size, Rng& rng) {
    if (!(step_size > 0) || !std::isfinite(step_size))
        throw std::invalid_argument("--langevin-step-size: must be > 0, got " + std::to_string(step_size));
    if (steps < 0) throw std::invalid_argument("--langevin-steps: must be >= 0, got " + std::to_string(steps));
    const int d = target.dim();
    const size_t nd = size_t(n) * size_t(d);
    const double eta = step_size, noise = std::sqrt(2 * eta);
    std::vector<float> g(nd), prop(nd), gp(nd), lrp(static_cast<size_t>(n));
    long accepted = 0;
    if (steps > 0) target.log_density_gradient(xs, n, g.data());
    for (int s = 0; s < steps; ++s) {
        // x' = x + η ∇log R(x) + √(2η) ξ
        for (size_t k = 0; k < nd; ++k) prop[k] = float(xs[k] + eta * g[k] + noise * rng.normal());
        target.log_density(prop.data(), n, lrp.data());
        target.log_density_gradient(prop.data(), n, gp.data());
        for (int i = 0; i < n; ++i) {
            // log q(x'|x) = −|x' − x − η∇(x)|²/(4η), log q(x|x') = −|x − x' − η∇(x')|²/(4η)
            double fwd = 0, bwd = 0;
            for (int j = 0; j < d; ++j) {
                const size_t k = size_t(i) * size_t(d) + size_t(j);
                const double a = double(prop[k]) - xs[k] - eta * g[k], b = double(xs[k]) - prop[k] - eta * gp[k];
                fwd += a * a;
                bwd += b * b;
            }
            const double log_alpha = double(lrp[size_t(i)]) - double(log_r[i]) + (fwd - bwd) / (4 * eta);
            if (std::isfinite(log_alpha) && std::log(std::max(1e-300, rng.uniform_double())) < log_alpha) {
                std::copy(prop.begin() + std::ptrdiff_t(size_t(i) * size_t(d)),
                          prop.begin() + std::ptrdiff_t(size_t(i + 1) * size_t(d)), xs + size_t(i) * size_t(d));
                std::copy(gp.begin() + std::ptrdiff_t(size_t(i) * size_t(d)),
                          gp.begin() + std::ptrdiff_t(size_t(i + 1) * size_t(d)), g.begin() + std::ptrdiff_t(size_t(i) * size_t(d)));
                log_r[i] = lrp[size_t(i)];
                ++accepted;
            }
        }
    }
    return steps > 0 && n > 0 ? double(accepted) / (double(steps) * n) : 0.0;
}

bool DiffusionReplaySearch::sample_backward(Run& run, int n) {
    if (run.iteration % 2 == 0 || buffer_.size() < n) return false;
    if (backward_until_ > 0 && run.iteration >= backward_until_) return false;
    const auto& env = dynamic_cast<const DiffusionSampling&>(*run.continuous_env);
    const int d = env.dim();
    xs_.resize(size_t(n) * size_t(d));
    log_r_.resize(size_t(n));
    buffer_.sample(n, run.rng, xs_.data(), log_r_.data());
    if (langevin_steps_ > 0) {
        acceptance_ = langevin_local_search(env.target(), xs_.data(), log_r_.data(), n, langevin_steps_, step_size_,
                                            run.rng);
        buffer_.add(xs_.data(), log_r_.data(), n);
    }
    // Terminal states (x, t = 1), then τ ~ PB(· | x) back to s_0.
    float* states = run.tape.arena.floats(size_t(n) * size_t(d + 1));
    for (int i = 0; i < n; ++i) {
        std::copy(xs_.begin() + std::ptrdiff_t(size_t(i) * size_t(d)),
                  xs_.begin() + std::ptrdiff_t(size_t(i + 1) * size_t(d)), states + size_t(i) * size_t(d + 1));
        states[size_t(i) * size_t(d + 1) + size_t(d)] = env.time_of_step(env.n_steps());
    }
    sample_continuous_backward_trajectories(env, *run.continuous_pb, states, n, run.rng, run.tape, run.batch);
    return true;
}

void DiffusionReplaySearch::record(const Run& run) {
    if (backward_until_ > 0 && run.iteration >= backward_until_) return;  // no longer read
    const Trajectories& b = run.batch;
    const int d = buffer_.dim(), n = int(b.log_rewards.size());
    xs_.resize(size_t(n) * size_t(d));
    for (int i = 0; i < n; ++i) {
        const float* s = b.float_terminal_state(i);
        std::copy(s, s + d, xs_.begin() + std::ptrdiff_t(size_t(i) * size_t(d)));
    }
    buffer_.add(xs_.data(), b.log_rewards.data(), n);
}

}  // namespace gfn
