// random.cpp — see random.h.
#include "engine/random.h"

#include <stdexcept>
#include <string>

namespace gfn {

int sample_categorical(Rng& rng, const float* logp, int n) {
    // p_j = exp(logp_j − max) / Σ_k exp(logp_k − max)
    float mx = -INFINITY;
    for (int j = 0; j < n; ++j) {
        if (std::isnan(logp[j]) || logp[j] == INFINITY)
            throw std::invalid_argument("sample_categorical: log-probability " + std::to_string(j) + " is " +
                                        std::to_string(logp[j]));
        mx = logp[j] > mx ? logp[j] : mx;
    }
    if (!(mx > -INFINITY)) throw std::invalid_argument("sample_categorical: no entry with positive probability");
    double total = 0.0;
    for (int j = 0; j < n; ++j) total += std::exp(double(logp[j]) - double(mx));
    double u = rng.uniform_double() * total, acc = 0.0;
    int last = 0;
    for (int j = 0; j < n; ++j) {
        if (!(logp[j] > -INFINITY)) continue;
        acc += std::exp(double(logp[j]) - double(mx));
        last = j;
        if (u < acc) return j;
    }
    return last;  // rounding: the last entry with positive probability
}

}  // namespace gfn
