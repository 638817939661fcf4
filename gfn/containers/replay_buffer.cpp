// replay_buffer.cpp — see replay_buffer.h.
#include "gfn/containers/replay_buffer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <stdexcept>

#include "gfn/samplers/sampler.h"

namespace gfn {

namespace {

// m distinct indices of [0, size), uniformly: the first m slots of a partial Fisher–Yates shuffle.
std::vector<int> uniform_without_replacement(Rng& rng, int size, int m) {
    std::vector<int> perm(static_cast<size_t>(size));
    std::iota(perm.begin(), perm.end(), 0);
    for (int k = 0; k < m; ++k) {
        const int j = k + int(rng.below(uint32_t(size - k)));
        std::swap(perm[size_t(k)], perm[size_t(j)]);
    }
    perm.resize(size_t(m));
    return perm;
}

// n indices drawn ∝ exp(log_r) (softmax of the log-rewards), without replacement when
// n ≤ size (successive draws over the items not yet drawn), with replacement otherwise.
// Items of weight 0 are drawn uniformly when no positive weight is left.
std::vector<int> softmax_draws(Rng& rng, const std::vector<float>& log_r, int n) {
    const int size = int(log_r.size());
    double mx = -INFINITY;
    for (float v : log_r) mx = std::max(mx, double(v));
    // w_j = exp(log R_j − max log R), in double.
    std::vector<double> w(static_cast<size_t>(size), 0.0);
    if (mx > -INFINITY)
        for (int j = 0; j < size; ++j) w[size_t(j)] = std::exp(double(log_r[size_t(j)]) - mx);
    std::vector<int> out;
    out.reserve(size_t(n));
    if (n > size) {
        std::vector<double> cum(static_cast<size_t>(size));
        std::partial_sum(w.begin(), w.end(), cum.begin());
        const double total = cum.back();
        for (int k = 0; k < n; ++k) {
            if (!(total > 0.0)) {
                out.push_back(int(rng.below(uint32_t(size))));
                continue;
            }
            const double u = rng.uniform_double() * total;
            int j = int(std::upper_bound(cum.begin(), cum.end(), u) - cum.begin());
            j = std::min(j, size - 1);
            while (j > 0 && w[size_t(j)] == 0.0) --j;  // rounding past the end lands on a positive weight
            out.push_back(j);
        }
        return out;
    }
    std::vector<int> left(static_cast<size_t>(size));
    std::iota(left.begin(), left.end(), 0);
    for (int k = 0; k < n; ++k) {
        double total = 0.0;
        for (int j : left) total += w[size_t(j)];
        size_t pick = 0;
        if (total > 0.0) {
            const double u = rng.uniform_double() * total;
            double acc = 0.0;
            size_t last = 0;
            for (pick = 0; pick < left.size(); ++pick) {
                const double wj = w[size_t(left[pick])];
                if (wj <= 0.0) continue;
                acc += wj;
                last = pick;
                if (u < acc) break;
            }
            if (pick == left.size()) pick = last;
        } else {
            pick = size_t(rng.below(uint32_t(left.size())));
        }
        out.push_back(left[pick]);
        left.erase(left.begin() + long(pick));
    }
    return out;
}

void check_prioritizable(const Trajectories& batch, const char* who) {
    for (int i = 0; i < batch.n; ++i) {
        const float v = batch.log_rewards[size_t(i)];
        if (std::isnan(v) || v == INFINITY)
            throw std::invalid_argument(std::string(who) + ": log-reward of trajectory " + std::to_string(i) +
                                        " is " + std::to_string(v) + " (a prioritized buffer needs log R < +inf)");
    }
}

// ‖a − b‖_p over dim coordinates (p = 0: number of differing coordinates; p = ∞: max).
double lp_distance(const double* a, const double* b, int dim, double p) {
    double acc = 0.0;
    for (int k = 0; k < dim; ++k) {
        const double d = std::fabs(a[k] - b[k]);
        if (p == 0.0) acc += d != 0.0;
        else if (std::isinf(p)) acc = std::max(acc, d);
        else if (p == 1.0) acc += d;
        else if (p == 2.0) acc += d * d;
        else acc += std::pow(d, p);
    }
    if (p == 0.0 || p == 1.0 || std::isinf(p)) return acc;
    if (p == 2.0) return std::sqrt(acc);
    return std::pow(acc, 1.0 / p);
}

// The terminal state of every trajectory as doubles, with its condition appended: (n, D + C).
std::vector<double> diversity_repr(const Trajectories& t) {
    const int D = t.state_dim, C = t.condition_dim, W = D + C;
    std::vector<double> r(size_t(t.n) * size_t(W));
    for (int i = 0; i < t.n; ++i) {
        const int* x = t.terminal_state(i);
        for (int k = 0; k < D; ++k) r[size_t(i) * W + k] = double(x[k]);
        for (int k = 0; k < C; ++k) r[size_t(i) * W + D + k] = double(t.condition(i)[k]);
    }
    return r;
}

}  // namespace

ReplayBuffer::ReplayBuffer(int capacity) : capacity_(capacity) {
    if (capacity <= 0)
        throw std::invalid_argument("replay buffer: capacity must be > 0, got " + std::to_string(capacity));
}

// ---------------------------------------------------------------- fifo / prioritized

TrajectoryReplayBuffer::TrajectoryReplayBuffer(int capacity, bool prioritized_capacity, bool prioritized_sampling)
    : ReplayBuffer(capacity), prioritized_capacity_(prioritized_capacity), prioritized_sampling_(prioritized_sampling) {}

std::string TrajectoryReplayBuffer::kind() const {
    if (prioritized_capacity_ && prioritized_sampling_) return "prioritized";
    if (prioritized_capacity_) return "prioritized_capacity";
    if (prioritized_sampling_) return "prioritized_sampling";
    return "fifo";
}

void TrajectoryReplayBuffer::add(const Trajectories& batch) { insert(batch); }

void TrajectoryReplayBuffer::insert(const Trajectories& batch) {
    if (batch.n == 0) return;
    if (contents_.n > 0 && (batch.state_dim != contents_.state_dim || batch.condition_dim != contents_.condition_dim))
        throw std::invalid_argument("replay buffer: a batch with state_dim " + std::to_string(batch.state_dim) +
                                    " and condition_dim " + std::to_string(batch.condition_dim) +
                                    " does not match the buffered ones (" + std::to_string(contents_.state_dim) +
                                    ", " + std::to_string(contents_.condition_dim) + ")");
    if (prioritized_capacity_ || prioritized_sampling_) check_prioritizable(batch, "replay buffer");
    Trajectories all = concatenate(contents_, batch);
    std::vector<int> order(static_cast<size_t>(all.n));
    std::iota(order.begin(), order.end(), 0);
    // Ascending log R, ties in insertion order; keep the last `capacity`.
    if (prioritized_capacity_)
        std::stable_sort(order.begin(), order.end(),
                         [&](int a, int b) { return all.log_rewards[size_t(a)] < all.log_rewards[size_t(b)]; });
    if (int(order.size()) > capacity_) order.erase(order.begin(), order.end() - capacity_);
    contents_ = select_trajectories(all, order);
}

void TrajectoryReplayBuffer::sample(int n, Rng& rng, Trajectories& out) {
    if (n <= 0) throw std::invalid_argument("replay buffer: sample size must be > 0, got " + std::to_string(n));
    if (contents_.n == 0) throw std::runtime_error("replay buffer (" + kind() + "): cannot sample, the buffer is empty");
    const std::vector<int> rows = prioritized_sampling_
                                      ? softmax_draws(rng, contents_.log_rewards, n)
                                      : uniform_without_replacement(rng, contents_.n, std::min(n, contents_.n));
    out = select_trajectories(contents_, rows);
}

// ---------------------------------------------------------------- diverse

DiverseReplayBuffer::DiverseReplayBuffer(int capacity, double cutoff_distance, double p_norm_distance)
    : TrajectoryReplayBuffer(capacity, true, false), cutoff_(cutoff_distance), p_(p_norm_distance) {
    if (std::isnan(cutoff_distance))
        throw std::invalid_argument("diverse replay buffer: cutoff_distance is NaN");
    if (!(p_norm_distance >= 0.0))
        throw std::invalid_argument("diverse replay buffer: p_norm_distance must be >= 0, got " +
                                    std::to_string(p_norm_distance));
}

void DiverseReplayBuffer::add(const Trajectories& batch) {
    if (batch.n == 0) return;
    if (size() < capacity_) {  // not full: no filter
        insert(batch);
        return;
    }
    check_prioritizable(batch, "diverse replay buffer");
    // Descending log R (stable), then drop what is below the buffer's lowest log R.
    std::vector<int> order(static_cast<size_t>(batch.n));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return batch.log_rewards[size_t(a)] > batch.log_rewards[size_t(b)]; });
    const float min_in_buffer = *std::min_element(contents_.log_rewards.begin(), contents_.log_rewards.end());
    std::vector<int> cand;
    for (int i : order)
        if (batch.log_rewards[size_t(i)] >= min_in_buffer) cand.push_back(i);
    if (cand.empty()) return;
    std::vector<int> keep = cand;
    if (cutoff_ >= 0.0) {
        const std::vector<double> rb = diversity_repr(batch), rs = diversity_repr(contents_);
        const int W = batch.state_dim + batch.condition_dim;
        // Within the batch: farther than the cutoff from every higher-ranked candidate.
        keep.clear();
        for (size_t k = 0; k < cand.size(); ++k) {
            double dmin = std::numeric_limits<double>::max();
            for (size_t j = 0; j < k; ++j)
                dmin = std::min(dmin, lp_distance(&rb[size_t(cand[k]) * W], &rb[size_t(cand[j]) * W], W, p_));
            if (dmin > cutoff_) keep.push_back(cand[k]);
        }
        // Against the buffer: farther than the cutoff from every buffered terminal state.
        std::vector<int> far;
        for (int i : keep) {
            double dmin = std::numeric_limits<double>::max();
            for (int s = 0; s < contents_.n; ++s)
                dmin = std::min(dmin, lp_distance(&rb[size_t(i) * W], &rs[size_t(s) * W], W, p_));
            if (dmin > cutoff_) far.push_back(i);
        }
        keep.swap(far);
    }
    if (!keep.empty()) insert(select_trajectories(batch, keep));
}

// ---------------------------------------------------------------- terminating states

TerminatingStateBuffer::TerminatingStateBuffer(int capacity, const DiscreteEnv& env, const PolicyEstimator& pb)
    : ReplayBuffer(capacity), env_(env), pb_(pb) {
    if (!pb.is_backward()) throw std::invalid_argument("terminating-state buffer: pb is a forward policy");
}

void TerminatingStateBuffer::add(const Trajectories& batch) {
    if (batch.n == 0) return;
    if (batch.state_dim != env_.state_dim() || batch.condition_dim != env_.condition_dim())
        throw std::invalid_argument("terminating-state buffer: a batch with state_dim " +
                                    std::to_string(batch.state_dim) + " and condition_dim " +
                                    std::to_string(batch.condition_dim) + " does not belong to " + env_.name());
    const int D = batch.state_dim;
    std::vector<int> x(size_t(batch.n) * size_t(D));
    for (int i = 0; i < batch.n; ++i) std::memcpy(&x[size_t(i) * D], batch.terminal_state(i), sizeof(int) * size_t(D));
    add_terminal_states(x.data(), batch.log_rewards.data(), batch.conditions.empty() ? nullptr : batch.conditions.data(),
                        batch.n);
}

void TerminatingStateBuffer::add_terminal_states(const int* states, const float* log_rewards, const float* conditions,
                                                 int n) {
    const int D = env_.state_dim(), C = env_.condition_dim();
    if (n <= 0) return;
    if (C > 0 && !conditions)
        throw std::invalid_argument("terminating-state buffer: " + env_.name() + " needs the conditions of the states");
    states_.insert(states_.end(), states, states + size_t(n) * D);
    log_rewards_.insert(log_rewards_.end(), log_rewards, log_rewards + n);
    if (C > 0) conditions_.insert(conditions_.end(), conditions, conditions + size_t(n) * C);
    // FIFO: drop the oldest beyond capacity.
    const int excess = int(log_rewards_.size()) - capacity_;
    if (excess > 0) {
        states_.erase(states_.begin(), states_.begin() + long(excess) * D);
        log_rewards_.erase(log_rewards_.begin(), log_rewards_.begin() + excess);
        if (C > 0) conditions_.erase(conditions_.begin(), conditions_.begin() + long(excess) * C);
    }
}

void TerminatingStateBuffer::sample(int n, Rng& rng, Trajectories& out) {
    if (n <= 0) throw std::invalid_argument("replay buffer: sample size must be > 0, got " + std::to_string(n));
    if (size() == 0) throw std::runtime_error("replay buffer (terminating_state): cannot sample, the buffer is empty");
    const int D = env_.state_dim(), C = env_.condition_dim();
    const std::vector<int> rows = uniform_without_replacement(rng, size(), std::min(n, size()));
    const int m = int(rows.size());
    std::vector<int> x(size_t(m) * size_t(D));
    std::vector<float> cond(size_t(m) * size_t(C)), lr(static_cast<size_t>(m));
    for (int k = 0; k < m; ++k) {
        const int r = rows[size_t(k)];
        std::memcpy(&x[size_t(k) * D], &states_[size_t(r) * D], sizeof(int) * size_t(D));
        if (C > 0) std::memcpy(&cond[size_t(k) * C], &conditions_[size_t(r) * C], sizeof(float) * size_t(C));
        lr[size_t(k)] = log_rewards_[size_t(r)];
    }
    tape_.reset();
    sample_backward_trajectories(env_, pb_, x.data(), m, C > 0 ? cond.data() : nullptr, rng, tape_, out);
    tape_.reset();
    out.log_rewards = lr;  // computed once, when the trajectory was first made
}

// ---------------------------------------------------------------- transitions

TransitionReplayBuffer::TransitionReplayBuffer(int capacity, const DiscreteEnv& env)
    : ReplayBuffer(capacity), env_(env) {
    clear();
}

void TransitionReplayBuffer::add(const Trajectories& batch) { add_transitions(transitions_from(env_, batch, false)); }

// Rows [b, e) of `src` appended to `dst` (the stored fields only).
static void append_rows(Transitions& dst, const Transitions& src, int b, int e) {
    if (dst.state_dim != src.state_dim || dst.condition_dim != src.condition_dim)
        throw std::logic_error("transition buffer: rows of another shape");
    const size_t D = size_t(src.state_dim), C = size_t(src.condition_dim);
    dst.states.insert(dst.states.end(), src.states.begin() + long(b * D), src.states.begin() + long(e * D));
    dst.next_states.insert(dst.next_states.end(), src.next_states.begin() + long(b * D),
                           src.next_states.begin() + long(e * D));
    dst.actions.insert(dst.actions.end(), src.actions.begin() + b, src.actions.begin() + e);
    dst.is_exit.insert(dst.is_exit.end(), src.is_exit.begin() + b, src.is_exit.begin() + e);
    dst.log_rewards.insert(dst.log_rewards.end(), src.log_rewards.begin() + b, src.log_rewards.begin() + e);
    if (C > 0)
        dst.conditions.insert(dst.conditions.end(), src.conditions.begin() + long(b * C),
                              src.conditions.begin() + long(e * C));
    dst.n += e - b;
}

void TransitionReplayBuffer::add_transitions(const Transitions& tr) {
    if (tr.state_dim != env_.state_dim() || tr.condition_dim != env_.condition_dim())
        throw std::invalid_argument("transition buffer: transitions of another environment");
    // Only the newest `capacity` of the batch can stay.
    append_rows(contents_, tr, std::max(0, tr.n - capacity_), tr.n);
    const int drop = contents_.n - capacity_;
    if (drop > 0) {
        Transitions kept;
        kept.allocate(0, contents_.state_dim, contents_.condition_dim);
        append_rows(kept, contents_, drop, contents_.n);
        contents_ = std::move(kept);
    }
}

void TransitionReplayBuffer::sample(int, Rng&, Trajectories&) {
    throw std::logic_error("transition buffer: it stores transitions, not trajectories; call sample_transitions");
}

void TransitionReplayBuffer::sample_transitions(int n, Rng& rng, Transitions& out) const {
    if (contents_.n == 0) throw std::runtime_error("transition buffer: sampling from an empty buffer");
    const int m = std::min(n, contents_.n);
    const std::vector<int> rows = uniform_without_replacement(rng, contents_.n, m);
    out.allocate(0, contents_.state_dim, contents_.condition_dim);
    for (int k : rows) append_rows(out, contents_, k, k + 1);
    const size_t N = size_t(out.n);
    out.can_exit.assign(N, 0);
    out.next_can_exit.assign(N, 0);
    out.next_index.assign(N, -1);
    out.traj_index.assign(N, -1);
    out.index_non_exit();
}

// ---------------------------------------------------------------- factory

const std::vector<std::string>& replay_buffer_kinds() {
    static const std::vector<std::string> kinds = {"fifo", "prioritized", "diverse", "terminating_state"};
    return kinds;
}

std::unique_ptr<ReplayBuffer> make_replay_buffer(const std::string& kind, int capacity,
                                                 const ReplayBufferOptions& options) {
    if (kind == "fifo") return std::make_unique<TrajectoryReplayBuffer>(capacity, false, false);
    if (kind == "prioritized") return std::make_unique<TrajectoryReplayBuffer>(capacity, true, true);
    if (kind == "diverse")
        return std::make_unique<DiverseReplayBuffer>(capacity, options.cutoff_distance, options.p_norm_distance);
    if (kind == "terminating_state") {
        if (!options.env || !options.pb)
            throw std::invalid_argument("replay buffer 'terminating_state' needs the environment and a PB "
                                        "(use PolicyEstimator::uniform_pb for a constant PB)");
        return std::make_unique<TerminatingStateBuffer>(capacity, *options.env, *options.pb);
    }
    std::string known;
    for (const std::string& k : replay_buffer_kinds()) known += (known.empty() ? "" : ", ") + k;
    throw std::invalid_argument("unknown replay buffer kind '" + kind + "' (known: " + known + ")");
}

}  // namespace gfn
