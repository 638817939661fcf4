// tensor.h — a 2-D, row-major, float view over memory someone else owns.
//
// A Tensor never allocates: its data lives in the step arena (activations,
// gradients of intermediate nodes) or in a parameter slab (weights, their
// gradients, optimizer moments). Shapes read as (rows, cols) = (batch, features).
// Integer indices and masks travel as plain arrays beside it, not as tensors.
#pragma once

#include <cstddef>
#include <string>

namespace gfn {

struct Tensor {
    float* data = nullptr;  // (rows, cols), row-major
    int rows = 0;
    int cols = 0;

    Tensor() = default;
    Tensor(float* d, int r, int c) : data(d), rows(r), cols(c) {}

    size_t size() const { return size_t(rows) * size_t(cols); }
    float& operator()(int r, int c) const { return data[size_t(r) * cols + c]; }
    float* row(int r) const { return data + size_t(r) * cols; }
};

// "(rows, cols)" for error messages.
inline std::string shape_str(int rows, int cols) {
    return "(" + std::to_string(rows) + ", " + std::to_string(cols) + ")";
}
inline std::string shape_str(const Tensor& t) { return shape_str(t.rows, t.cols); }

}  // namespace gfn
