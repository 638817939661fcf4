// preprocessors.cpp — states (ints) to network inputs (floats); see preprocessors.h.
#include "gfn/estimators/preprocessors.h"

#include <climits>
#include <cstring>
#include <stdexcept>

#include "gfn/env/env.h"

namespace gfn {

void Preprocessor::active_columns(const int*, int, int*) const {
    throw std::logic_error("active_columns: this preprocessor's output is dense (active_per_row() is 0)");
}

void IdentityPreprocessor::apply(const int* states, int n, float* out) const {
    const size_t total = size_t(n) * size_t(dim_);
    for (size_t k = 0; k < total; ++k) out[k] = float(states[k]);
}

OneHotPreprocessor::OneHotPreprocessor(const DiscreteEnv& env) : env_(env) {
    if (!env.enumerable())
        throw std::invalid_argument("one_hot preprocessor: environment " + env.name() + " is not enumerable");
    if (env.n_states() <= 0 || env.n_states() > INT_MAX)
        throw std::invalid_argument("one_hot preprocessor: environment " + env.name() + " has " +
                                    std::to_string(env.n_states()) + " states, too many for a one-hot input");
}

int OneHotPreprocessor::output_dim() const { return int(env_.n_states()); }

// A state the environment cannot index (state_index < 0, e.g. the sink) gives a zero row.
void OneHotPreprocessor::apply(const int* states, int n, float* out) const {
    const int dim = output_dim(), sd = env_.state_dim();
    std::memset(out, 0, sizeof(float) * size_t(n) * size_t(dim));
    for (int i = 0; i < n; ++i) {
        long long k = env_.state_index(states + size_t(i) * sd);
        if (k >= 0 && k < dim) out[size_t(i) * dim + size_t(k)] = 1.0f;
    }
}

// out[i] = the state's enumeration index, or −1 when it has none (apply's zero row).
void OneHotPreprocessor::active_columns(const int* states, int n, int* out) const {
    const int dim = output_dim(), sd = env_.state_dim();
    for (int i = 0; i < n; ++i) {
        long long k = env_.state_index(states + size_t(i) * sd);
        out[i] = k >= 0 && k < dim ? int(k) : -1;
    }
}

KHotPreprocessor::KHotPreprocessor(int ndim, int height, int min_value)
    : ndim_(ndim), height_(height), min_value_(min_value) {
    if (ndim < 1 || height < 1)
        throw std::invalid_argument("k_hot preprocessor: needs ndim >= 1 and height >= 1 (got ndim " +
                                    std::to_string(ndim) + ", height " + std::to_string(height) + ")");
}

// out[i, j·height + (x_ij − min_value)] = 1
void KHotPreprocessor::apply(const int* states, int n, float* out) const {
    const int dim = output_dim();
    std::memset(out, 0, sizeof(float) * size_t(n) * size_t(dim));
    for (int i = 0; i < n; ++i) {
        const int* s = states + size_t(i) * ndim_;
        float* o = out + size_t(i) * dim;
        for (int j = 0; j < ndim_; ++j) {
            long long v = (long long)s[j] - min_value_;
            if (v >= 0 && v < height_) o[size_t(j) * height_ + size_t(v)] = 1.0f;
        }
    }
}

// out[i, j] = j·height + (x_ij − min_value), or −1 outside the range (apply's zero block).
void KHotPreprocessor::active_columns(const int* states, int n, int* out) const {
    for (int i = 0; i < n; ++i) {
        const int* s = states + size_t(i) * ndim_;
        int* o = out + size_t(i) * ndim_;
        for (int j = 0; j < ndim_; ++j) {
            long long v = (long long)s[j] - min_value_;
            o[j] = v >= 0 && v < height_ ? j * height_ + int(v) : -1;
        }
    }
}

std::unique_ptr<Preprocessor> make_preprocessor(const std::string& name, const DiscreteEnv& env) {
    if (name == "default") return env.default_preprocessor();
    if (name == "identity") return std::make_unique<IdentityPreprocessor>(env.state_dim());
    if (name == "one_hot") return std::make_unique<OneHotPreprocessor>(env);
    if (name == "k_hot") {
        if (env.coordinate_count() <= 0)
            throw std::invalid_argument("preprocessor k_hot: environment " + env.name() +
                                        " has no bounded integer coordinates (coordinate_count() <= 0)");
        return std::make_unique<KHotPreprocessor>(env.state_dim(), env.coordinate_count(), env.coordinate_min());
    }
    throw std::invalid_argument("unknown preprocessor '" + name + "' (expected identity, one_hot, k_hot or default)");
}

}  // namespace gfn
