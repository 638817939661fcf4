// arena.h — the step arena: a bump allocator that resets without freeing.
//
// Every training step allocates its activations, gradients, index arrays and
// masks here, then calls reset(). reset() keeps the memory; when a step needed
// more than one block, reset() merges them into one block as large as the peak,
// so after the first steps the arena is a single block and its size stays flat.
// mark() / rewind() hand back everything allocated since the mark (a rollout
// that keeps no tape reuses one step's memory for the next step).
//
// Blocks of kPageAllocMin bytes or more are mapped straight from the system
// (page_alloc) and unmapped when freed: they never sit in malloc's heaps, where
// a freed block leaves a hole that stays resident (measured: 67 MB of the
// 2-thread 4D H=32 batch-2048 run; docs/engine.md, "Memory").
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace gfn {

// Allocations of at least this many bytes go to page_alloc.
constexpr size_t kPageAllocMin = size_t(1) << 18;

// Uninitialised memory (callers may not rely on zeros): page-aligned from the
// system (mmap) for kPageAllocMin bytes or more, else 64-byte aligned from
// malloc. Throws std::bad_alloc. page_free takes the same byte count.
void* page_alloc(size_t bytes);
void page_free(void* p, size_t bytes);

class Arena {
public:
    explicit Arena(size_t initial_bytes = size_t(1) << 20);
    ~Arena();
    Arena(const Arena&) = delete;
    Arena& operator=(const Arena&) = delete;

    // 64-byte aligned, uninitialised.
    void* alloc_bytes(size_t bytes);
    float* floats(size_t n) { return static_cast<float*>(alloc_bytes(n * sizeof(float))); }
    float* zeros(size_t n);
    int* ints(size_t n) { return static_cast<int*>(alloc_bytes(n * sizeof(int))); }
    uint8_t* bytes(size_t n) { return static_cast<uint8_t*>(alloc_bytes(n)); }

    // A position in the arena; rewind(m) frees everything allocated after it
    // (keeping the memory for the next allocations).
    struct Mark { size_t block = 0, offset = 0, used = 0; };
    Mark mark() const { return Mark{cur_, blocks_[cur_].offset, used_}; }
    void rewind(const Mark& m);

    void reset();
    size_t used() const { return used_; }            // bytes handed out since reset
    size_t peak() const { return peak_; }            // largest used() ever seen
    size_t capacity() const;                         // bytes held from the system
    size_t n_blocks() const { return blocks_.size(); }

private:
    struct Block { char* data; size_t size; size_t offset; };
    std::vector<Block> blocks_;
    size_t cur_ = 0;  // the block allocations come from; later blocks are spare
    size_t used_ = 0;
    size_t peak_ = 0;
    void add_block(size_t bytes);
};

}  // namespace gfn
