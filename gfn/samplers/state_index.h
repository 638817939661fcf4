// state_index.h — the distinct states of a rollout, each given a row number in
// the order first seen: an open-addressing hash table over int vectors.
//
// A discrete rollout visits the same states again and again (2-D HyperGrid
// H = 8 has 64 states; a batch of 2048 trajectories visits ~16,000), and the
// policy is a function of the state alone. The sampler's recorded path
// (sampler.cpp) evaluates the trunk once per distinct state and indexes the
// entries it needs: the same values and, through gather_at's scatter-add, the same
// gradients (summed per state before the GEMMs instead of inside them).
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

namespace gfn {

class StateIndex {
public:
    explicit StateIndex(int state_dim = 1) : D_(state_dim) {}

    void clear(int state_dim) {
        D_ = state_dim;
        keys_.clear();
        slots_.assign(slots_.empty() ? 64 : slots_.size(), -1);
    }
    int size() const { return int(keys_.size() / size_t(D_)); }
    const int* state(int row) const { return keys_.data() + size_t(row) * size_t(D_); }

    // The row of s; a new row (== size() before the call) when s is new.
    int find_or_insert(const int* s) {
        if (slots_.empty() || 2 * (size() + 1) > int(slots_.size())) grow();
        const size_t mask = slots_.size() - 1;
        for (size_t h = hash(s) & mask;; h = (h + 1) & mask) {
            const int r = slots_[h];
            if (r < 0) {
                slots_[h] = size();
                keys_.insert(keys_.end(), s, s + D_);
                return slots_[h];
            }
            if (std::memcmp(state(r), s, sizeof(int) * size_t(D_)) == 0) return r;
        }
    }

private:
    // FNV-1a over the ints, then a 64-bit finaliser (splitmix64's).
    uint64_t hash(const int* s) const {
        uint64_t h = 1469598103934665603ULL;
        for (int d = 0; d < D_; ++d) h = (h ^ uint64_t(uint32_t(s[d]))) * 1099511628211ULL;
        h ^= h >> 30;
        h *= 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 27;
        h *= 0x94d049bb133111ebULL;
        return h ^ (h >> 31);
    }
    void grow() {
        const size_t n = slots_.empty() ? 64 : slots_.size() * 2;
        slots_.assign(n, -1);
        const size_t mask = n - 1;
        for (int r = 0; r < size(); ++r) {
            size_t h = hash(state(r)) & mask;
            while (slots_[h] >= 0) h = (h + 1) & mask;
            slots_[h] = r;
        }
    }

    int D_;
    std::vector<int> keys_;   // (size, D): the distinct states, by row
    std::vector<int> slots_;  // power-of-two table of rows, −1 empty
};

}  // namespace gfn
