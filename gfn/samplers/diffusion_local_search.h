// diffusion_local_search.h — off-policy training of diffusion samplers (Sendera et al.
// 2024, "Improved off-policy training of diffusion samplers"): a reward-ranked buffer
// of terminal points, Langevin (MALA) local search on log R, and backward
// trajectories τ ~ PB(· | x) from buffer points as the training batch.
//
// TerminalBuffer: a FIFO of at most `capacity` points x ∈ R^d with their log R.
// Sampling is rank-prioritised, with replacement: with the points sorted by log R,
// rank 0 the largest, point i is drawn with probability
//     P(i) ∝ 1 / (k·M + rank_i),      M = size(), k = --rank-weight (kRankK = 0.01)
// (Sendera et al.'s rank-based replay, k their rank_weight; ties keep insertion order).
// A small k replays the best points almost only; a large k replays every point alike
// (k → ∞: uniform).
//
// Langevin local search: K steps of the Metropolis-adjusted Langevin algorithm on
// log R with step size η, for each point independently:
//     x' = x + η ∇log R(x) + √(2η) ξ,       ξ ~ N(0, I)
//     log q(x' | x) = −|x' − x − η ∇log R(x)|² / (4η)     (+ a constant that cancels)
//     accept with probability min(1, exp(log R(x') + log q(x | x') − log R(x) − log q(x' | x)))
// MALA leaves R/Z invariant, so the searched points stay samples of the target
// wherever they started, and a point in a mode's tail moves into its mode.
// ∇log R is the target's own DiffusionTarget::log_density_gradient (exact for every
// built-in target, central differences for one that has only log R); a chain's
// gradient at its current point is carried from the step that accepted it.
//
// DiffusionReplaySearch (the training hook, --terminal-buffer N): iterations
// alternate. Even iterations (0, 2, ...) roll PF out on-policy (with the run's
// exploration) and add their terminal points to the buffer. Odd iterations, once
// the buffer holds a batch, draw B points from it, run --langevin-steps MALA steps
// on them (adding the searched points to the buffer), and train on B backward
// trajectories τ ~ PB(· | x) — the Brownian bridge back to s_0 — stored as forward
// trajectories; the objective recomputes log PF and log PB on them (the run is
// off-policy: Config::off_policy()). Every iteration draws B trajectories, so the
// budget counted in trajectories is the on-policy run's. With backward_until > 0
// the iterations from backward_until on are all on-policy (the buffer stops).
#pragma once

#include <vector>

#include "engine/random.h"
#include "envs/diffusion_targets.h"

namespace gfn {

struct Run;

class TerminalBuffer {
public:
    static constexpr double kRankK = 0.01;
    // Throws std::invalid_argument unless dim >= 1, capacity >= 1 (naming --terminal-buffer)
    // and rank_weight is finite and > 0 (naming --rank-weight).
    TerminalBuffer(int dim, int capacity, double rank_weight = kRankK);
    // Appends n points xs (n, dim) with their log R; the oldest are dropped past capacity.
    void add(const float* xs, const float* log_r, int n);
    int size() const { return int(log_r_.size()); }
    int dim() const { return dim_; }
    double rank_weight() const { return rank_weight_; }
    int capacity() const { return capacity_; }
    const float* point(int i) const { return x_.data() + size_t(i) * size_t(dim_); }
    float log_reward(int i) const { return log_r_[size_t(i)]; }
    // The probabilities P(i) above, in storage order (for tests and the sampler).
    std::vector<double> probabilities() const;
    // n draws by P into xs (n, dim) and log_r (n); throws std::logic_error when empty.
    void sample(int n, Rng& rng, float* xs, float* log_r) const;

private:
    int dim_, capacity_;
    double rank_weight_;
    size_t next_ = 0;           // ring position of the next write once full
    std::vector<float> x_;      // (size, dim)
    std::vector<float> log_r_;  // (size)
};

// K MALA steps of size η on the n points xs (n, d), in place; log_r (n) holds log R of
// xs on entry and of the result on exit. Returns the fraction of proposals accepted.
// Throws std::invalid_argument unless η > 0 and K >= 0.
double langevin_local_search(const DiffusionTarget& target, float* xs, float* log_r, int n, int steps,
                             double step_size, Rng& rng);

class DiffusionReplaySearch {
public:
    DiffusionReplaySearch(int dim, int capacity, int langevin_steps, double step_size, int backward_until = 0,
                          double rank_weight = TerminalBuffer::kRankK)
        : buffer_(dim, capacity, rank_weight), langevin_steps_(langevin_steps), step_size_(step_size),
          backward_until_(backward_until) {}
    // An odd iteration (before backward_until, if set) with a full batch in the buffer: fills run.batch with n backward
    // trajectories from (searched) buffer points and returns true. Otherwise false.
    bool sample_backward(Run& run, int n);
    // After an on-policy rollout: its terminal points into the buffer.
    void record(const Run& run);
    const TerminalBuffer& buffer() const { return buffer_; }
    double last_acceptance() const { return acceptance_; }

private:
    TerminalBuffer buffer_;
    int langevin_steps_;
    double step_size_;
    int backward_until_;
    double acceptance_ = 0;
    std::vector<float> xs_, log_r_;
};

}  // namespace gfn
