// preprocessors.h — states (ints) to network inputs (floats).
//
// identity: the state's integers as floats; one-hot: a 1 at the state's
// enumeration index (small spaces only); K-hot: a one-hot vector per
// coordinate, concatenated (HyperGrid's input: ndim·height values). One-hot and
// K-hot also give their output as the columns of its ones (active_columns), which
// the networks' first layer takes without materialising it (linear_sparse).
#pragma once

#include <memory>
#include <string>

namespace gfn {

class DiscreteEnv;

class Preprocessor {
public:
    virtual ~Preprocessor() = default;
    virtual int output_dim() const = 0;
    // (n, state_dim) ints -> (n, output_dim()) floats.
    virtual void apply(const int* states, int n, float* out) const = 0;
    // An output that is a sum of unit vectors (one-hot, K-hot) can also be given
    // by the columns of its ones: active_per_row() columns per row (0: dense
    // only), written by active_columns as (n, active_per_row()) ints, −1 for
    // none, so that apply's row i is Σ_k e_{out[i, k]} (engine/nn.h, linear_sparse).
    virtual int active_per_row() const { return 0; }
    virtual void active_columns(const int* states, int n, int* out) const;
};

class IdentityPreprocessor : public Preprocessor {
public:
    explicit IdentityPreprocessor(int state_dim) : dim_(state_dim) {}
    int output_dim() const override { return dim_; }
    void apply(const int* states, int n, float* out) const override;
private:
    int dim_;
};

class OneHotPreprocessor : public Preprocessor {
public:
    explicit OneHotPreprocessor(const DiscreteEnv& env);  // env must be enumerable
    int output_dim() const override;
    void apply(const int* states, int n, float* out) const override;
    int active_per_row() const override { return 1; }
    void active_columns(const int* states, int n, int* out) const override;
private:
    const DiscreteEnv& env_;
};

// Coordinate j of a state takes values in [min_value, min_value + height); a value
// outside that range (the sink s_f, padding) leaves its block all zeros.
class KHotPreprocessor : public Preprocessor {
public:
    KHotPreprocessor(int ndim, int height, int min_value = 0);
    int output_dim() const override { return ndim_ * height_; }
    void apply(const int* states, int n, float* out) const override;
    int active_per_row() const override { return ndim_; }
    void active_columns(const int* states, int n, int* out) const override;
private:
    int ndim_, height_, min_value_;
};

std::unique_ptr<Preprocessor> make_preprocessor(const std::string& name, const DiscreteEnv& env);

}  // namespace gfn
