// arena.h — the step arena: a bump allocator that resets without freeing.
//
// Every training step allocates its activations, gradients, index arrays and
// masks here, then calls reset(). reset() keeps the memory; when a step needed
// more than one block, reset() merges them into one block as large as the peak,
// so after the first steps the arena is a single block and its size stays flat.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace gfn {

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

    void reset();
    size_t used() const { return used_; }            // bytes handed out since reset
    size_t peak() const { return peak_; }            // largest used() ever seen
    size_t capacity() const;                         // bytes held from the system
    size_t n_blocks() const { return blocks_.size(); }

private:
    struct Block { char* data; size_t size; size_t offset; };
    std::vector<Block> blocks_;
    size_t used_ = 0;
    size_t peak_ = 0;
    void add_block(size_t bytes);
};

}  // namespace gfn
