// bitsequence.h — the BitSequence environments (Malkin et al., 2022, "Trajectory
// balance"): build an n-bit string from words of k bits.
//
// A state is W = n/k word slots, each holding a word value in [0, 2^k) or −1
// (empty); s_0 is all empty. Words are read most significant bit first, slot 0
// first, so slot j covers bits j·k … j·k + k − 1 of the string.
//
//   BitSequence     append-only: action w < 2^k writes w into the first empty
//                   slot; action 2^k (exit) is valid exactly when every slot is
//                   full, and then it is the only valid action. Backward action
//                   w removes the last word and is valid only when that word is
//                   w (the same index as the forward action that wrote it). The
//                   DAG is a tree: log PB ≡ 0 (constant_pb).
//   BitSequenceNAR  non-autoregressive: action p·2^k + w writes w into the empty
//                   slot p; exit (W·2^k) as above. Backward action p·2^k + w
//                   empties slot p and is valid where slot p holds w. A DAG.
//
// Reward: log R(x) = −d(x)/temperature, d(x) = min over the mode set of the bit
// Hamming distance (an empty slot counts as k mismatching bits, as torchgfn's
// −1 bits do). torchgfn's NonAutoregressiveBitSequence uses
// log R = −reward_exponent·d/n instead: temperature = n/reward_exponent gives it.
//
// The mode set: n_modes distinct n-bit strings drawn from Rng(seed):
//   "blocks"  (torchgfn's default, n a multiple of 8) each mode is n/8 blocks
//             drawn uniformly from the five 8-bit patterns 00000000, 11111111,
//             11110000, 00001111, 00111100; n_modes <= 5^{n/8}.
//   "random"  uniform n-bit strings; n_modes <= 2^n (torchgfn's examples pass
//             such random strings as H).
//   "auto"    blocks when n is a multiple of 8, else random.
// Or given explicitly (n_modes rows of n bits). The modes of true_distribution()
// are exactly the mode set (threshold log R >= −½/temperature).
//
// Enumeration. BitSequence: states by length, then by value (the words as a
// base-2^k number, slot 0 most significant): row = Σ_{l' < l} 2^{k·l'} + value.
// BitSequenceNAR: mixed radix with digits x_j + 1 ∈ [0, 2^k], slot 0 most
// significant. Both are topological (a child is longer / has a larger digit).
//
// Input: the raw slot values (W floats, −1 for empty), torchgfn's default for
// both; K-hot is available (coordinate_min −1, coordinate_count 2^k + 1).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gfn/env/env.h"

namespace gfn {

// State, reward and mode set shared by both action spaces.
class BitSequenceBase : public DiscreteEnv {
public:
    int state_dim() const override { return words_; }
    void initial_state(int* out) const override;

    void log_reward(const int* states, const float* conditions, int n, float* out) const override;
    // d(x): the minimal bit Hamming distance from the state to the mode set.
    int min_hamming_distance(const int* state) const;

    std::unique_ptr<Preprocessor> default_preprocessor() const override;
    int max_trajectory_length() const override { return words_ + 1; }
    double mode_log_reward_threshold() const override { return -0.5 / temperature_; }
    int coordinate_min() const override { return -1; }
    int coordinate_count() const override { return n_words_ + 1; }

    int word_size() const { return word_size_; }
    int seq_size() const { return seq_size_; }
    int words_per_seq() const { return words_; }
    int n_modes() const { return int(mode_words_.size()) / words_; }
    double temperature() const { return temperature_; }
    // (n_modes, seq_size) bits.
    const std::vector<uint8_t>& modes() const { return mode_bits_; }
    // (n_modes, words_per_seq): the modes as terminal states.
    const std::vector<int>& mode_states() const { return mode_words_; }

protected:
    BitSequenceBase(const char* who, int word_size, int seq_size, int n_modes, double temperature, uint64_t seed,
                    const std::string& mode_scheme);
    BitSequenceBase(const char* who, int word_size, int seq_size, std::vector<uint8_t> modes, double temperature);
    // True when every slot is in [−1, 2^k).
    bool in_range(const int* s) const;

    std::string who_;
    int word_size_, seq_size_, words_, n_words_;  // n_words_ = 2^k
    double temperature_;
    std::vector<uint8_t> mode_bits_;
    std::vector<int> mode_words_;

private:
    void check_shape(int word_size, int seq_size, double temperature) const;
    void set_modes(std::vector<uint8_t> bits);
};

class BitSequence : public BitSequenceBase {
public:
    // torchgfn's defaults. Throws std::invalid_argument when word_size is not in [1, 16],
    // seq_size < 1 or not a multiple of word_size, n_modes < 1 or more than the scheme
    // can make distinct, temperature is not finite and > 0, or the scheme is unknown.
    explicit BitSequence(int word_size = 4, int seq_size = 120, int n_modes = 60, double temperature = 1.0,
                         uint64_t seed = 0, const std::string& mode_scheme = "auto");
    // An explicit mode set: (n_modes, seq_size) bits, each 0 or 1, rows distinct.
    BitSequence(int word_size, int seq_size, std::vector<uint8_t> modes, double temperature = 1.0);

    std::string name() const override { return "bitsequence"; }
    bool is_tree() const override { return true; }  // append-only: one parent per state
    int n_actions() const override { return n_words_ + 1; }

    void forward_masks(const int* states, int n, uint8_t* mask) const override;
    void backward_masks(const int* states, int n, uint8_t* mask) const override;
    // Throw std::invalid_argument on an action that is not valid from its state.
    void step(const int* states, const int* actions, int n, int* out) const override;
    void backward_step(const int* states, const int* actions, int n, int* out) const override;

    // Enumerable when Σ_{l=0}^{W} 2^{k·l} <= 2^26.
    bool enumerable() const override { return n_states_ >= 0 && n_states_ <= (1LL << 26); }
    long long n_states() const override { return n_states_; }
    void all_states(int* out) const override;
    // −1 for anything that is not a prefix state (the sink, padding, holes).
    long long state_index(const int* s) const override;

    // The number of filled slots of a prefix state.
    int length(const int* s) const;

private:
    long long n_states_;
};

class BitSequenceNAR : public BitSequenceBase {
public:
    // Same arguments and errors as BitSequence.
    explicit BitSequenceNAR(int word_size = 4, int seq_size = 120, int n_modes = 60, double temperature = 1.0,
                            uint64_t seed = 0, const std::string& mode_scheme = "auto");
    BitSequenceNAR(int word_size, int seq_size, std::vector<uint8_t> modes, double temperature = 1.0);

    std::string name() const override { return "bitsequence_nar"; }
    int n_actions() const override { return words_ * n_words_ + 1; }

    void forward_masks(const int* states, int n, uint8_t* mask) const override;
    void backward_masks(const int* states, int n, uint8_t* mask) const override;
    void step(const int* states, const int* actions, int n, int* out) const override;
    void backward_step(const int* states, const int* actions, int n, int* out) const override;

    // Enumerable when (2^k + 1)^W <= 2^26.
    bool enumerable() const override { return n_states_ >= 0 && n_states_ <= (1LL << 26); }
    long long n_states() const override { return n_states_; }
    void all_states(int* out) const override;
    // Σ_j (x_j + 1)·(2^k + 1)^{W−1−j}; −1 for a value outside [−1, 2^k).
    long long state_index(const int* s) const override;

private:
    void check_action_space() const;
    long long n_states_;
};

}  // namespace gfn
