// arena.cpp — see arena.h.
#include "engine/arena.h"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <new>

namespace gfn {

static constexpr size_t kAlign = 64;
static size_t round_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

void* page_alloc(size_t bytes) {
    if (bytes < kPageAllocMin) {
        void* p = std::aligned_alloc(kAlign, round_up(bytes > 0 ? bytes : 1));
        if (!p) throw std::bad_alloc();
        return p;
    }
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return p;
}

void page_free(void* p, size_t bytes) {
    if (!p) return;
    if (bytes < kPageAllocMin) std::free(p);
    else munmap(p, bytes);
}

Arena::Arena(size_t initial_bytes) { add_block(round_up(initial_bytes > 0 ? initial_bytes : kAlign)); }

Arena::~Arena() {
    for (Block& b : blocks_) page_free(b.data, b.size);
}

void Arena::add_block(size_t bytes) {
    const size_t size = round_up(bytes);
    blocks_.push_back({static_cast<char*>(page_alloc(size)), size, 0});
}

void* Arena::alloc_bytes(size_t bytes) {
    size_t n = round_up(bytes > 0 ? bytes : 1);
    while (blocks_[cur_].offset + n > blocks_[cur_].size) {
        if (cur_ + 1 == blocks_.size()) {
            const size_t last = blocks_.back().size;
            add_block(n > 2 * last ? n : 2 * last);
        }
        ++cur_;  // a spare block (after a rewind) or the new one
        blocks_[cur_].offset = 0;
    }
    Block* b = &blocks_[cur_];
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

void Arena::rewind(const Mark& m) {
    cur_ = m.block;
    blocks_[cur_].offset = m.offset;
    used_ = m.used;
}

void Arena::reset() {
    if (blocks_.size() > 1) {
        // Merge into one block that holds the whole peak and half as much
        // again, so the next steps fit without growing: every new block is
        // fresh memory the kernel must fault in and zero page by page (a
        // quarter of a batch-2048 step when trajectories lengthened a little
        // every step). Untouched headroom costs address space, not memory.
        size_t total = round_up(peak_ + peak_ / 2);
        for (Block& b : blocks_) page_free(b.data, b.size);
        blocks_.clear();
        add_block(total);
    }
    cur_ = 0;
    blocks_.back().offset = 0;
    used_ = 0;
}

size_t Arena::capacity() const {
    size_t c = 0;
    for (const Block& b : blocks_) c += b.size;
    return c;
}

}  // namespace gfn
