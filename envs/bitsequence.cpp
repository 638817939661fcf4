// bitsequence.cpp — see bitsequence.h.
#include "envs/bitsequence.h"

#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>
#include <stdexcept>
#include <utility>

#include "engine/parallel.h"
#include "engine/random.h"
#include "gfn/estimators/preprocessors.h"

namespace gfn {

namespace {

// base^exp, or −1 when it passes 2^62.
long long saturating_pow(long long base, long long exp) {
    long long r = 1;
    for (long long e = 0; e < exp; ++e) {
        if (r > (1LL << 62) / base) return -1;
        r *= base;
    }
    return r;
}

// Σ_{l=0}^{W} V^l (the prefix states of the append-only tree), or −1 past 2^62.
long long prefix_state_count(long long V, int W) {
    long long total = 0, p = 1;
    for (int l = 0; l <= W; ++l) {
        if (total > (1LL << 62) - p) return -1;
        total += p;
        if (l < W) {
            if (p > (1LL << 62) / V) return -1;
            p *= V;
        }
    }
    return total;
}

// torchgfn's five 8-bit block patterns (the TB paper's H).
constexpr uint8_t kBlocks[5][8] = {
    {0, 0, 0, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 0, 0, 0, 0},
    {0, 0, 0, 0, 1, 1, 1, 1}, {0, 0, 1, 1, 1, 1, 0, 0},
};

// n_modes distinct strings of seq_size bits, drawn by rejection from Rng(seed).
std::vector<uint8_t> draw_modes(const std::string& who, int seq_size, int n_modes, uint64_t seed,
                                const std::string& scheme_in) {
    if (n_modes < 1) throw std::invalid_argument(who + ": n_modes must be >= 1 (got " + std::to_string(n_modes) + ")");
    std::string scheme = scheme_in;
    if (scheme == "auto") scheme = seq_size % 8 == 0 ? "blocks" : "random";
    long long possible = 0;
    if (scheme == "blocks") {
        if (seq_size % 8 != 0)
            throw std::invalid_argument(who + ": mode scheme 'blocks' needs seq_size a multiple of 8 (got " +
                                        std::to_string(seq_size) + ")");
        possible = saturating_pow(5, seq_size / 8);
    } else if (scheme == "random") {
        possible = saturating_pow(2, seq_size);
    } else {
        throw std::invalid_argument(who + ": unknown mode scheme '" + scheme_in + "' (expected auto, blocks or random)");
    }
    if (possible >= 0 && n_modes > possible)
        throw std::invalid_argument(who + ": cannot draw " + std::to_string(n_modes) + " distinct modes, scheme '" +
                                    scheme + "' has only " + std::to_string(possible) + " strings of " +
                                    std::to_string(seq_size) + " bits");
    Rng rng(seed);
    std::set<std::vector<uint8_t>> seen;
    std::vector<uint8_t> bits;
    bits.reserve(size_t(n_modes) * seq_size);
    std::vector<uint8_t> cand(static_cast<size_t>(seq_size));
    while (int(seen.size()) < n_modes) {
        if (scheme == "blocks") {
            for (int b = 0; b < seq_size / 8; ++b) {
                const uint32_t pick = rng.below(5);
                for (int t = 0; t < 8; ++t) cand[size_t(b) * 8 + t] = kBlocks[pick][t];
            }
        } else {
            for (int t = 0; t < seq_size; ++t) cand[size_t(t)] = uint8_t(rng.below(2));
        }
        if (seen.insert(cand).second) bits.insert(bits.end(), cand.begin(), cand.end());
    }
    return bits;
}

}  // namespace

// ---- BitSequenceBase ----

void BitSequenceBase::check_shape(int word_size, int seq_size, double temperature) const {
    if (word_size < 1 || word_size > 16)
        throw std::invalid_argument(who_ + ": word_size must be in [1, 16] (got " + std::to_string(word_size) + ")");
    if (seq_size < 1) throw std::invalid_argument(who_ + ": seq_size must be >= 1 (got " + std::to_string(seq_size) + ")");
    if (seq_size % word_size != 0)
        throw std::invalid_argument(who_ + ": seq_size (" + std::to_string(seq_size) +
                                    ") must be a multiple of word_size (" + std::to_string(word_size) + ")");
    if (!(std::isfinite(temperature) && temperature > 0.0))
        throw std::invalid_argument(who_ + ": temperature must be finite and > 0 (got " + num_str(temperature) + ")");
}

BitSequenceBase::BitSequenceBase(const char* who, int word_size, int seq_size, int n_modes, double temperature,
                                 uint64_t seed, const std::string& mode_scheme)
    : who_(who), word_size_(word_size), seq_size_(seq_size), words_(0), n_words_(0), temperature_(temperature) {
    check_shape(word_size, seq_size, temperature);
    words_ = seq_size / word_size;
    n_words_ = 1 << word_size;
    set_modes(draw_modes(who_, seq_size, n_modes, seed, mode_scheme));
}

BitSequenceBase::BitSequenceBase(const char* who, int word_size, int seq_size, std::vector<uint8_t> modes,
                                 double temperature)
    : who_(who), word_size_(word_size), seq_size_(seq_size), words_(0), n_words_(0), temperature_(temperature) {
    check_shape(word_size, seq_size, temperature);
    words_ = seq_size / word_size;
    n_words_ = 1 << word_size;
    if (modes.empty() || modes.size() % size_t(seq_size) != 0)
        throw std::invalid_argument(who_ + ": the mode set must be n_modes >= 1 rows of seq_size = " +
                                    std::to_string(seq_size) + " bits (got " + std::to_string(modes.size()) + " values)");
    for (size_t t = 0; t < modes.size(); ++t)
        if (modes[t] > 1)
            throw std::invalid_argument(who_ + ": mode bits must be 0 or 1 (mode " + std::to_string(t / size_t(seq_size)) +
                                        ", bit " + std::to_string(t % size_t(seq_size)) + " is " +
                                        std::to_string(int(modes[t])) + ")");
    std::set<std::vector<uint8_t>> seen;
    for (size_t r = 0; r < modes.size() / size_t(seq_size); ++r)
        if (!seen.insert(std::vector<uint8_t>(modes.begin() + long(r * seq_size), modes.begin() + long((r + 1) * seq_size)))
                 .second)
            throw std::invalid_argument(who_ + ": mode " + std::to_string(r) + " repeats an earlier mode");
    set_modes(std::move(modes));
}

// Word j of a mode: its bits j·k … j·k + k − 1, most significant first.
void BitSequenceBase::set_modes(std::vector<uint8_t> bits) {
    mode_bits_ = std::move(bits);
    const size_t M = mode_bits_.size() / size_t(seq_size_);
    mode_words_.assign(M * size_t(words_), 0);
    for (size_t r = 0; r < M; ++r)
        for (int j = 0; j < words_; ++j) {
            int w = 0;
            for (int b = 0; b < word_size_; ++b) w = (w << 1) | mode_bits_[r * seq_size_ + size_t(j) * word_size_ + b];
            mode_words_[r * words_ + size_t(j)] = w;
        }
}

void BitSequenceBase::initial_state(int* out) const {
    for (int j = 0; j < words_; ++j) out[j] = -1;
}

bool BitSequenceBase::in_range(const int* s) const {
    for (int j = 0; j < words_; ++j)
        if (s[j] < -1 || s[j] >= n_words_) return false;
    return true;
}

// d(x) = min_m Σ_j popcount(x_j XOR m_j), an empty (or out-of-range) slot counting k
int BitSequenceBase::min_hamming_distance(const int* s) const {
    const int M = n_modes();
    int best = INT_MAX;
    for (int r = 0; r < M; ++r) {
        const int* m = mode_words_.data() + size_t(r) * words_;
        int d = 0;
        for (int j = 0; j < words_ && d < best; ++j)
            d += (s[j] >= 0 && s[j] < n_words_) ? __builtin_popcount(unsigned(s[j] ^ m[j])) : word_size_;
        if (d < best) best = d;
    }
    return best;
}

// log R(x) = −d(x)/temperature
void BitSequenceBase::log_reward(const int* states, const float*, int n, float* out) const {
    parallel_for(n, split_loop(n, 4096), [=](int i) {
        out[i] = float(-double(min_hamming_distance(states + size_t(i) * words_)) / temperature_);
    });
}

std::unique_ptr<Preprocessor> BitSequenceBase::default_preprocessor() const {
    // K-hot per slot (empty, then each word value): on the reference run (k = 1,
    // n = 4, TB) it reaches a ten times smaller error than the raw slot values
    // torchgfn feeds its MLP; --preprocessor identity gives those.
    return std::make_unique<KHotPreprocessor>(words_, (1 << word_size_) + 1, -1);
}

// ---- BitSequence (append-only) ----

BitSequence::BitSequence(int word_size, int seq_size, int n_modes, double temperature, uint64_t seed,
                         const std::string& mode_scheme)
    : BitSequenceBase("BitSequence", word_size, seq_size, n_modes, temperature, seed, mode_scheme),
      n_states_(prefix_state_count(n_words_, words_)) {}

BitSequence::BitSequence(int word_size, int seq_size, std::vector<uint8_t> modes, double temperature)
    : BitSequenceBase("BitSequence", word_size, seq_size, std::move(modes), temperature),
      n_states_(prefix_state_count(n_words_, words_)) {}

int BitSequence::length(const int* s) const {
    int l = 0;
    while (l < words_ && s[l] != -1) ++l;
    return l;
}

// full: only the exit; otherwise every word, no exit
void BitSequence::forward_masks(const int* states, int n, uint8_t* mask) const {
    const int A = n_words_ + 1;
    for (int i = 0; i < n; ++i) {
        const bool full = length(states + size_t(i) * words_) == words_;
        uint8_t* m = mask + size_t(i) * A;
        std::memset(m, full ? 0 : 1, size_t(n_words_));
        m[n_words_] = full;
    }
}

// only the last word w: mask[i, w] = 1
void BitSequence::backward_masks(const int* states, int n, uint8_t* mask) const {
    std::memset(mask, 0, size_t(n) * size_t(n_words_));
    for (int i = 0; i < n; ++i) {
        const int* s = states + size_t(i) * words_;
        const int l = length(s);
        if (l > 0 && s[l - 1] >= 0 && s[l - 1] < n_words_) mask[size_t(i) * n_words_ + size_t(s[l - 1])] = 1;
    }
}

void BitSequence::step(const int* states, const int* actions, int n, int* out) const {
    for (int i = 0; i < n; ++i) {
        const int* s = states + size_t(i) * words_;
        int* o = out + size_t(i) * words_;
        const int a = actions[i], l = length(s);
        if (a < 0 || a >= n_words_ || l == words_)
            throw std::invalid_argument("BitSequence::step: action " + std::to_string(a) +
                                        " is not a valid non-exit action of row " + std::to_string(i));
        for (int j = 0; j < words_; ++j) o[j] = s[j];
        o[l] = a;
    }
}

void BitSequence::backward_step(const int* states, const int* actions, int n, int* out) const {
    for (int i = 0; i < n; ++i) {
        const int* s = states + size_t(i) * words_;
        int* o = out + size_t(i) * words_;
        const int a = actions[i], l = length(s);
        if (a < 0 || a >= n_words_ || l == 0 || s[l - 1] != a)
            throw std::invalid_argument("BitSequence::backward_step: action " + std::to_string(a) +
                                        " is not a valid backward action of row " + std::to_string(i) +
                                        " (it must be the last word)");
        for (int j = 0; j < words_; ++j) o[j] = s[j];
        o[l - 1] = -1;
    }
}

void BitSequence::all_states(int* out) const {
    if (!enumerable())
        throw std::logic_error("bitsequence: all_states() needs at most 2^26 states (word_size " +
                               std::to_string(word_size_) + ", seq_size " + std::to_string(seq_size_) + ")");
    // Length l block: V^l rows, row r = r written in base V over slots 0..l−1.
    size_t row = 0;
    long long count = 1;
    for (int l = 0; l <= words_; ++l, count *= n_words_) {
        for (long long r = 0; r < count; ++r, ++row) {
            int* o = out + row * size_t(words_);
            long long v = r;
            for (int j = l - 1; j >= 0; --j) {
                o[j] = int(v % n_words_);
                v /= n_words_;
            }
            for (int j = l; j < words_; ++j) o[j] = -1;
        }
    }
}

long long BitSequence::state_index(const int* s) const {
    if (n_states_ < 0)
        throw std::logic_error("bitsequence: state_index() needs fewer than 2^62 states (word_size " +
                               std::to_string(word_size_) + ", seq_size " + std::to_string(seq_size_) + ")");
    const int l = length(s);
    long long offset = 0, count = 1, value = 0;
    for (int l2 = 0; l2 < l; ++l2, count *= n_words_) offset += count;
    for (int j = 0; j < words_; ++j) {
        if (j < l) {
            if (s[j] < 0 || s[j] >= n_words_) return -1;
            value = value * n_words_ + s[j];
        } else if (s[j] != -1) {
            return -1;
        }
    }
    return offset + value;
}

// ---- BitSequenceNAR ----

void BitSequenceNAR::check_action_space() const {
    if ((long long)words_ * n_words_ + 1 > INT_MAX)
        throw std::invalid_argument(who_ + ": (seq_size/word_size)·2^word_size + 1 actions must fit in an int");
}

BitSequenceNAR::BitSequenceNAR(int word_size, int seq_size, int n_modes, double temperature, uint64_t seed,
                               const std::string& mode_scheme)
    : BitSequenceBase("BitSequenceNAR", word_size, seq_size, n_modes, temperature, seed, mode_scheme),
      n_states_(saturating_pow(n_words_ + 1, words_)) {
    check_action_space();
}

BitSequenceNAR::BitSequenceNAR(int word_size, int seq_size, std::vector<uint8_t> modes, double temperature)
    : BitSequenceBase("BitSequenceNAR", word_size, seq_size, std::move(modes), temperature),
      n_states_(saturating_pow(n_words_ + 1, words_)) {
    check_action_space();
}

// mask[i, p·V + w] = (slot p empty);  mask[i, W·V] = no slot empty
void BitSequenceNAR::forward_masks(const int* states, int n, uint8_t* mask) const {
    const int V = n_words_, A = words_ * V + 1;
    for (int i = 0; i < n; ++i) {
        const int* s = states + size_t(i) * words_;
        uint8_t* m = mask + size_t(i) * A;
        bool full = true;
        for (int p = 0; p < words_; ++p) {
            const bool empty = s[p] == -1;
            std::memset(m + size_t(p) * V, empty ? 1 : 0, size_t(V));
            full = full && !empty;
        }
        m[A - 1] = full;
    }
}

// mask[i, p·V + w] = (slot p holds w)
void BitSequenceNAR::backward_masks(const int* states, int n, uint8_t* mask) const {
    const int V = n_words_, B = words_ * V;
    std::memset(mask, 0, size_t(n) * size_t(B));
    for (int i = 0; i < n; ++i) {
        const int* s = states + size_t(i) * words_;
        for (int p = 0; p < words_; ++p)
            if (s[p] >= 0 && s[p] < V) mask[size_t(i) * B + size_t(p) * V + size_t(s[p])] = 1;
    }
}

void BitSequenceNAR::step(const int* states, const int* actions, int n, int* out) const {
    const int V = n_words_;
    for (int i = 0; i < n; ++i) {
        const int* s = states + size_t(i) * words_;
        int* o = out + size_t(i) * words_;
        const int a = actions[i];
        if (a < 0 || a >= words_ * V || s[a / V] != -1)
            throw std::invalid_argument("BitSequenceNAR::step: action " + std::to_string(a) +
                                        " is not a valid non-exit action of row " + std::to_string(i));
        for (int j = 0; j < words_; ++j) o[j] = s[j];
        o[a / V] = a % V;
    }
}

void BitSequenceNAR::backward_step(const int* states, const int* actions, int n, int* out) const {
    const int V = n_words_;
    for (int i = 0; i < n; ++i) {
        const int* s = states + size_t(i) * words_;
        int* o = out + size_t(i) * words_;
        const int a = actions[i];
        if (a < 0 || a >= words_ * V || s[a / V] != a % V)
            throw std::invalid_argument("BitSequenceNAR::backward_step: action " + std::to_string(a) +
                                        " is not a valid backward action of row " + std::to_string(i));
        for (int j = 0; j < words_; ++j) o[j] = s[j];
        o[a / V] = -1;
    }
}

void BitSequenceNAR::all_states(int* out) const {
    if (!enumerable())
        throw std::logic_error("bitsequence_nar: all_states() needs (2^word_size + 1)^(seq_size/word_size) <= 2^26 "
                               "(word_size " + std::to_string(word_size_) + ", seq_size " + std::to_string(seq_size_) + ")");
    // Row k is k written in base V + 1, slot 0 most significant, digit − 1.
    const long long N = n_states_, base = n_words_ + 1;
    parallel_for(N, split_loop(N, 16384), [=](long long k) {
        long long r = k;
        int* o = out + size_t(k) * words_;
        for (int j = words_ - 1; j >= 0; --j) {
            o[j] = int(r % base) - 1;
            r /= base;
        }
    });
}

long long BitSequenceNAR::state_index(const int* s) const {
    if (n_states_ < 0)
        throw std::logic_error("bitsequence_nar: state_index() needs fewer than 2^62 states (word_size " +
                               std::to_string(word_size_) + ", seq_size " + std::to_string(seq_size_) + ")");
    if (!in_range(s)) return -1;
    long long k = 0;
    for (int j = 0; j < words_; ++j) k = k * (n_words_ + 1) + (s[j] + 1);
    return k;
}

}  // namespace gfn
