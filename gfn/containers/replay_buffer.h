// replay_buffer.h — replay buffers of complete trajectories (torchgfn's
// ReplayBuffer, NormBasedDiversePrioritizedReplayBuffer, TerminatingStateBuffer).
//
// A buffer copies states, actions, lengths, log-rewards and conditions, never
// saved log-probs: a buffered trajectory is always re-evaluated by the loss.
// Mix a fresh batch with a buffered sample with concatenate() (trajectories.h).
//
//   kind                keeps                                   samples
//   fifo                the `capacity` most recent              uniformly
//   prioritized         the `capacity` highest log R            ∝ softmax(log R)
//   diverse             highest log R, diverse terminal states  uniformly
//   terminating_state   the `capacity` most recent x (+ log R)  uniformly, then a
//                                                                path to x through PB
//
// Ordering. Contents are kept oldest first; a prioritized buffer keeps them in
// ascending log R, stable in insertion order, and truncates from the front, so
// among equal log-rewards the newer trajectory stays.
//
// Sampling (n > 0, non-empty buffer; std::runtime_error when empty):
//   uniform      min(n, size) distinct trajectories (torchgfn: randperm(size)[:n]),
//                a partial Fisher–Yates shuffle.
//   prioritized  n ≤ size: n distinct draws, each ∝ exp(log R) over those not yet
//                drawn (torch.multinomial without replacement); once only R = 0
//                items remain they are drawn uniformly. n > size: n draws with
//                replacement (all R = 0: uniform).
// Only the Rng passed in is used, so a seed reproduces every draw.
//
// Saving and restoring (checkpoints): the state of a buffer is its contents. Adding
// the saved contents() (or states(), log_rewards(), conditions() through
// add_terminal_states) to a fresh buffer of the same kind and capacity rebuilds it
// exactly: the saved order is already the kept order, and sorting is stable.
//
// Diverse (NormBasedDiversePrioritizedReplayBuffer). While size < capacity a batch
// is added as by the prioritized buffer, without any filter. Once full, the batch is
// sorted by descending log R, items below the buffer's lowest log R are dropped,
// and when cutoff_distance ≥ 0:
//   - an item is dropped unless its distance to every *earlier* (higher-log-R)
//     item of the batch exceeds the cutoff (earlier items count even when they were
//     themselves dropped — torchgfn's triangular min over the whole batch);
//   - then unless its distance to every buffered item exceeds the cutoff.
// The rest is inserted (sort, truncate). Distance: the p-norm (p = p_norm_distance:
// p > 0, ∞ for max, 0 for the count of differing coordinates, as torch.cdist) of the
// terminal state as doubles, with the condition appended for conditional envs.
// cutoff < 0 turns the filter off.
//
// Terminating-state buffer. add() keeps the terminal state, log R and condition of
// each trajectory (FIFO); sample() draws stored states uniformly, then a path to each
// through the given PB (sample_backward_trajectories, no gradient, on a scratch tape
// of the buffer's own), with the stored log R. The PB is held by reference, so a
// learned PB's latest parameters are used; pass PolicyEstimator::uniform_pb for a
// constant PB.
//
// Transition buffer (Soft DQN, objectives/soft_dqn.h). add() splits trajectories into
// their transitions (transitions_from) and keeps the `capacity` most recent (FIFO);
// sample_transitions() draws min(n, size) distinct ones uniformly (the partial
// Fisher–Yates shuffle above). It stores s, a, the exit flag, s', the log R of exits
// and the condition; sampled rows have next_index −1 and no saved log-probs.
// sample() (trajectories) is refused: a transition has no trajectory to return.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/random.h"
#include "engine/tape.h"
#include "gfn/env/env.h"
#include "gfn/estimators/estimators.h"
#include "gfn/containers/trajectories.h"
#include "gfn/containers/transitions.h"

namespace gfn {

class ReplayBuffer {
public:
    virtual ~ReplayBuffer() = default;

    virtual std::string kind() const = 0;
    int capacity() const { return capacity_; }
    virtual int size() const = 0;
    // Copies the trajectories of `batch` in.
    virtual void add(const Trajectories& batch) = 0;
    // A sample into `out` (resized, step lists built, no saved log-probs).
    virtual void sample(int n, Rng& rng, Trajectories& out) = 0;
    // Forgets every stored trajectory.
    virtual void clear() = 0;

protected:
    // Throws std::invalid_argument unless capacity > 0.
    explicit ReplayBuffer(int capacity);
    int capacity_;
};

// fifo (keep recent, uniform) and prioritized (keep high log R, softmax sampling);
// the two torchgfn switches may also be mixed.
class TrajectoryReplayBuffer : public ReplayBuffer {
public:
    TrajectoryReplayBuffer(int capacity, bool prioritized_capacity, bool prioritized_sampling);

    std::string kind() const override;
    int size() const override { return contents_.n; }
    void add(const Trajectories& batch) override;
    void sample(int n, Rng& rng, Trajectories& out) override;
    void clear() override { contents_ = Trajectories(); }
    // The stored trajectories, in the order described above.
    const Trajectories& contents() const { return contents_; }

protected:
    // Appends, sorts (prioritized capacity) and truncates to capacity.
    void insert(const Trajectories& batch);
    Trajectories contents_;
    bool prioritized_capacity_, prioritized_sampling_;
};

class DiverseReplayBuffer : public TrajectoryReplayBuffer {
public:
    // Throws std::invalid_argument on p_norm_distance < 0 or NaN, or a NaN cutoff.
    DiverseReplayBuffer(int capacity, double cutoff_distance = 0.0, double p_norm_distance = 1.0);

    std::string kind() const override { return "diverse"; }
    void add(const Trajectories& batch) override;
    double cutoff_distance() const { return cutoff_; }
    double p_norm_distance() const { return p_; }

private:
    double cutoff_, p_;
};

class TerminatingStateBuffer : public ReplayBuffer {
public:
    // `pb` must be a backward policy of `env`; both must outlive the buffer.
    TerminatingStateBuffer(int capacity, const DiscreteEnv& env, const PolicyEstimator& pb);

    std::string kind() const override { return "terminating_state"; }
    int size() const override { return int(log_rewards_.size()); }
    void add(const Trajectories& batch) override;
    // n terminating states x (n, state_dim), their log R and conditions ((n, condition_dim), or
    // null when unconditional): e.g. known good objects.
    void add_terminal_states(const int* states, const float* log_rewards, const float* conditions, int n);
    void sample(int n, Rng& rng, Trajectories& out) override;
    void clear() override { states_.clear(); log_rewards_.clear(); conditions_.clear(); }

    const std::vector<int>& states() const { return states_; }            // (size, state_dim), oldest first
    const std::vector<float>& log_rewards() const { return log_rewards_; }  // (size)
    const std::vector<float>& conditions() const { return conditions_; }    // (size, condition_dim); empty if none

private:
    const DiscreteEnv& env_;
    const PolicyEstimator& pb_;
    Tape tape_;
    std::vector<int> states_;
    std::vector<float> log_rewards_, conditions_;
};

class TransitionReplayBuffer : public ReplayBuffer {
public:
    // `env` must outlive the buffer.
    TransitionReplayBuffer(int capacity, const DiscreteEnv& env);

    std::string kind() const override { return "transition"; }
    int size() const override { return contents_.n; }
    void add(const Trajectories& batch) override;
    // Appends the rows (s, a, exit, s', log R, condition) of `tr`, then keeps the newest `capacity`.
    void add_transitions(const Transitions& tr);
    // Throws std::logic_error: use sample_transitions.
    void sample(int n, Rng& rng, Trajectories& out) override;
    // min(n, size) distinct stored transitions, uniformly (std::runtime_error when empty).
    void sample_transitions(int n, Rng& rng, Transitions& out) const;
    void clear() override { contents_.allocate(0, env_.state_dim(), env_.condition_dim()); }
    // The stored transitions, oldest first.
    const Transitions& contents() const { return contents_; }

private:
    const DiscreteEnv& env_;
    Transitions contents_;
};

struct ReplayBufferOptions {
    double cutoff_distance = 0.0;   // diverse
    double p_norm_distance = 1.0;   // diverse
    const DiscreteEnv* env = nullptr;        // terminating_state
    const PolicyEstimator* pb = nullptr;     // terminating_state
};

// kind: "fifo", "prioritized", "diverse" or "terminating_state" (which needs
// options.env and options.pb). Throws std::invalid_argument on an unknown kind
// (naming the known ones), capacity <= 0, or missing options.
std::unique_ptr<ReplayBuffer> make_replay_buffer(const std::string& kind, int capacity,
                                                 const ReplayBufferOptions& options = ReplayBufferOptions());

// The replay-buffer kinds make_replay_buffer knows.
const std::vector<std::string>& replay_buffer_kinds();

}  // namespace gfn
