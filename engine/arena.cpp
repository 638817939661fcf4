// arena.cpp — see arena.h.
#include "engine/arena.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace gfn {

static constexpr size_t kAlign = 64;
static size_t round_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

Arena::Arena(size_t initial_bytes) { add_block(round_up(initial_bytes > 0 ? initial_bytes : kAlign)); }

Arena::~Arena() {
    for (Block& b : blocks_) std::free(b.data);
}

void Arena::add_block(size_t bytes) {
    void* p = std::aligned_alloc(kAlign, round_up(bytes));
    if (!p) throw std::bad_alloc();
    blocks_.push_back({static_cast<char*>(p), round_up(bytes), 0});
}

void* Arena::alloc_bytes(size_t bytes) {
    size_t n = round_up(bytes > 0 ? bytes : 1);
    Block* b = &blocks_.back();
    if (b->offset + n > b->size) {
        add_block(n > 2 * b->size ? n : 2 * b->size);
        b = &blocks_.back();
    }
    void* p = b->data + b->offset;
    b->offset += n;
    used_ += n;
    if (used_ > peak_) peak_ = used_;
    return p;
}

float* Arena::zeros(size_t n) {
    float* p = floats(n);
    std::memset(p, 0, n * sizeof(float));
    return p;
}

void Arena::reset() {
    if (blocks_.size() > 1) {
        // Merge into one block that holds the whole peak and half as much
        // again, so the next steps fit without growing: every new block is
        // fresh memory the kernel must fault in and zero page by page (a
        // quarter of a batch-2048 step when trajectories lengthened a little
        // every step). Untouched headroom costs address space, not memory.
        size_t total = round_up(peak_ + peak_ / 2);
        for (Block& b : blocks_) std::free(b.data);
        blocks_.clear();
        add_block(total);
    }
    blocks_.back().offset = 0;
    used_ = 0;
}

size_t Arena::capacity() const {
    size_t c = 0;
    for (const Block& b : blocks_) c += b.size;
    return c;
}

}  // namespace gfn
