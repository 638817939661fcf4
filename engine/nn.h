// nn.h — parameters in one slab, Linear layers and MLPs.
//
// ParamStore owns every trainable number of a model in one contiguous slab,
// their gradients in a second and (through the optimizer) Adam's moments in
// two more, so zero_grad, clipping and Adam are single loops. A parameter is
// an (offset, rows, cols, group) record; `group` selects the optimizer's
// learning rate (e.g. log Z trains at 0.1 while the networks train at 1e-3).
//
// Layers hold parameter ids, not pointers, so the slab may grow while a model
// is being built. A frozen store (a prior policy) is put on the tape as
// constants: no gradient flows into it.
//
// linear_sparse is the Linear of a one-hot / K-hot input given by the columns
// of its ones: a gather of weight columns forward, a scatter-add backward.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/arena.h"
#include "engine/random.h"
#include "engine/tape.h"

namespace gfn {

struct Param {
    std::string name;
    size_t offset = 0;
    int rows = 0, cols = 0;
    int group = 0;
    size_t size() const { return size_t(rows) * size_t(cols); }
};

class ParamStore {
public:
    std::vector<float> values;  // the parameter slab
    std::vector<float> grads;   // the gradient slab, same layout
    std::vector<Param> params;
    bool frozen = false;        // true: on the tape as constants, never trained

    int add(const std::string& name, int rows, int cols, int group = 0);
    Tensor value(int id) { const Param& p = params[size_t(id)]; return Tensor(values.data() + p.offset, p.rows, p.cols); }
    float* grad(int id) { return grads.data() + params[size_t(id)].offset; }
    // The parameter as a tape leaf (a constant when frozen or under NoGrad).
    Var var(Tape& tape, int id);
    void zero_grad();
    size_t size() const { return values.size(); }
    // Number of values in the given group.
    size_t group_size(int group) const;
};

enum class Activation { Relu, LeakyRelu, Tanh, Elu };
Activation activation_from_string(const std::string& s);  // throws on unknown names
const char* activation_name(Activation a);
Var activate(Var x, Activation a);

// y = x Wᵀ + b, W (out, in), b (1, out); PyTorch's default initialisation:
// W, b ~ U(−1/√in, 1/√in).
struct Linear {
    ParamStore* store = nullptr;
    int W = -1, b = -1;
    int in = 0, out = 0;

    Linear() = default;
    Linear(ParamStore& store, const std::string& name, int in, int out, Rng& rng, int group = 0);
    Var forward(Var x) const;
};

// y = x Wᵀ + b for an input x (n, in) whose row i is a sum of unit rows,
// Σ_k e_{cols[i·per_row + k]} (a one-hot or K-hot input; cols < 0: none), given
// by the columns of its ones and never materialised:
//     y_i = b + Σ_k W[:, cols_ik]                 (a gather of weight columns, no GEMM)
//     dW[:, c] += Σ_{(i,k): cols_ik = c} dy_i,    db += Σ_i dy_i   (a scatter-add)
// x has no gradient. W (out, in), b (1, out) or an invalid Var (no bias). cols
// (n, per_row) must outlive the step; y, when given, holds the output already
// (computed by linear_sparse_rows during a rollout). Throws std::invalid_argument
// on a column >= in or bad shapes.
Var linear_sparse(Var W, Var b, const int* cols, int n, int per_row, float* y = nullptr);
// Its backward (Tape::backward dispatches Op::LinearSparse here).
void linear_sparse_backward(Tape& t, const Node& n);
// The forward on raw arrays: y (n, out) = b + Σ_k wt[cols_ik] with wt = Wᵀ (in, out),
// b (out) or null. The sum runs over k in order, then adds b, as a GEMM with
// beta = 1 on the materialised x does.
void linear_sparse_rows(float* y, const float* wt, const float* b, const int* cols, int n, int per_row, int out);

// A growable float buffer that never zero-fills: resize() keeps the contents
// and leaves new elements uninitialised (the trunk writes every one of them),
// and the memory is kept across rollouts. std::vector would memset every
// recorded row again each step (measured: a tenth of a batch-2048 step).
// Its memory comes from page_alloc (arena.h): a large buffer is mapped from the
// system and given back when freed, never left as a resident hole in malloc's heap.
class FloatBuffer {
public:
    FloatBuffer() = default;
    ~FloatBuffer() { page_free(data_, capacity_ * sizeof(float)); }
    FloatBuffer(const FloatBuffer&) = delete;
    FloatBuffer& operator=(const FloatBuffer&) = delete;
    FloatBuffer(FloatBuffer&& o) noexcept : data_(o.data_), size_(o.size_), capacity_(o.capacity_) {
        o.data_ = nullptr;
        o.size_ = o.capacity_ = 0;
    }
    FloatBuffer& operator=(FloatBuffer&& o) noexcept {
        if (this != &o) {
            page_free(data_, capacity_ * sizeof(float));
            data_ = o.data_;
            size_ = o.size_;
            capacity_ = o.capacity_;
            o.data_ = nullptr;
            o.size_ = o.capacity_ = 0;
        }
        return *this;
    }
    float* data() { return data_; }
    const float* data() const { return data_; }
    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    size_t capacity() const { return capacity_; }
    void resize(size_t n);           // doubles the capacity (copying) when needed
    void clear() { size_ = 0; }      // keeps the memory
    void reserve_empty(size_t n);    // while empty: frees, then allocates n (never both at once)

private:
    float* data_ = nullptr;
    size_t size_ = 0, capacity_ = 0;
};

// The activations of an MLP trunk computed row block by row block outside the
// tape (during a rollout), to be recorded on the tape afterwards in one node
// per layer over all rows (MLP::trunk_from_recording): the rollout evaluates
// each state once, and the backward runs one large GEMM per layer.
struct TrunkRecording {
    int rows = 0;                               // rows recorded since clear()
    FloatBuffer input;                          // (rows, in), a dense input
    // A sparse input (trunk_rows_sparse): (rows, per_row) columns of its ones, and
    // the first layer's Wᵀ (in, H), taken at the rollout's first rows.
    std::vector<int> cols;
    int per_row = 0;
    std::vector<float> w0t;
    // Per hidden layer, (rows, H): before and after the activation. relu and
    // leaky relu run in place (their backward needs only the output's sign): post unused.
    std::vector<FloatBuffer> pre, post;
    // Forgets the rows, keeping (and growing) the memory: each buffer gets room
    // for twice the last rollout while it is empty, so that a rollout rarely
    // reallocates (and copies) mid-way — the copy would briefly hold both
    // buffers, and fresh memory is faulted in page by page. Room not written
    // is address space, not resident memory.
    void clear();
};

// input → H → … → H → output with n_hidden_layers Linear layers before the
// output layer (n_hidden_layers counts the input projection: 2 means
// input→H→H→output, three Linear layers), the activation after each hidden one.
struct MLP {
    std::vector<Linear> hidden_layers;
    Linear output_layer;
    Activation activation = Activation::Relu;

    MLP() = default;
    MLP(ParamStore& store, const std::string& name, int in, int out, int hidden, int n_hidden_layers,
        Activation act, Rng& rng, int group = 0);
    Var trunk(Var x) const;             // the activated last hidden layer (or x itself with no hidden layers)
    // trunk() of an input given by the columns of its ones (linear_sparse); needs a hidden layer.
    Var trunk_sparse(Tape& tape, const int* cols, int per_row, int n) const;
    // Appends n rows of x (n, in) to rec, computing the trunk with plain GEMMs (no
    // tape); returns the n new rows of the trunk output (valid until the next call).
    const float* trunk_rows(const float* x, int n, TrunkRecording& rec) const;
    // The same for an input given by the columns of its ones, (n, per_row) (see
    // linear_sparse); needs a hidden layer. The first layer is a gather of weight
    // columns; rec keeps the columns, not the input.
    const float* trunk_rows_sparse(const int* cols, int per_row, int n, TrunkRecording& rec) const;
    // The trunk over all recorded rows, on the tape, with the recorded values.
    // rec must outlive the step's backward.
    Var trunk_from_recording(Tape& tape, TrunkRecording& rec) const;
    Var head(Var h) const { return output_layer.forward(h); }
    Var forward(Var x) const { return head(trunk(x)); }
    int hidden_dim() const { return hidden_layers.empty() ? output_layer.in : hidden_layers.back().out; }
    // Multiply-adds of one forward pass for one input row.
    long long macs_per_row() const;
};

}  // namespace gfn
