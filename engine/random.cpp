// random.cpp — see random.h.
#include "engine/random.h"

#include <stdexcept>
#include <string>
#include <vector>

namespace gfn {

double sample_log_gamma(Rng& rng, double alpha) {
    if (!(alpha > 0.0) || std::isinf(alpha))
        throw std::invalid_argument("sample_log_gamma: shape alpha = " + std::to_string(alpha) +
                                    " is not positive and finite");
    if (alpha < 1.0) {
        // G(α) = G(α + 1)·U^{1/α}, U ~ Uniform(0, 1]:  log G(α) = log G(α + 1) + log U / α
        const double u = 1.0 - rng.uniform_double();
        return sample_log_gamma(rng, alpha + 1.0) + std::log(u) / alpha;
    }
    // Marsaglia–Tsang: d = α − 1/3, c = 1/√(9d); x ~ N(0, 1), v = (1 + c x)³ > 0;
    // accept d·v when log U < x²/2 + d − d v + d log v (with a cheap squeeze first).
    const double d = alpha - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
    for (;;) {
        double x, v;
        do {
            x = rng.normal();
            v = 1.0 + c * x;
        } while (v <= 0.0);
        v = v * v * v;
        const double u = rng.uniform_double();
        if (u < 1.0 - 0.0331 * (x * x) * (x * x)) return std::log(d * v);
        if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return std::log(d * v);
    }
}

double sample_beta(Rng& rng, double alpha, double beta) {
    if (!(alpha > 0.0) || !(beta > 0.0) || std::isinf(alpha) || std::isinf(beta))
        throw std::invalid_argument("sample_beta: concentrations alpha = " + std::to_string(alpha) +
                                    ", beta = " + std::to_string(beta) + " must be positive and finite");
    // X / (X + Y) = 1 / (1 + e^{log Y − log X})
    const double lx = sample_log_gamma(rng, alpha), ly = sample_log_gamma(rng, beta);
    return 1.0 / (1.0 + std::exp(ly - lx));
}

void categorical_cumulative(const float* logp, int n, double* cum) {
    // p_j = exp(logp_j − max) / Σ_k exp(logp_k − max);  c_j = Σ_{k<=j} exp(logp_k − max)
    float mx = -INFINITY;
    for (int j = 0; j < n; ++j) {
        if (std::isnan(logp[j]) || logp[j] == INFINITY)
            throw std::invalid_argument("sample_categorical: log-probability " + std::to_string(j) + " is " +
                                        std::to_string(logp[j]));
        mx = logp[j] > mx ? logp[j] : mx;
    }
    if (!(mx > -INFINITY)) throw std::invalid_argument("sample_categorical: no entry with positive probability");
    double acc = 0.0;
    for (int j = 0; j < n; ++j) cum[j] = acc += logp[j] > -INFINITY ? std::exp(double(logp[j]) - double(mx)) : 0.0;
}

int sample_cumulative(Rng& rng, const double* cum, int n) {
    // the first j with u < c_j, u uniform on [0, c_{n−1})
    const double u = rng.uniform_double() * cum[n - 1];
    int last = 0;
    double prev = 0.0;
    for (int j = 0; j < n; ++j) {
        if (!(cum[j] > prev)) continue;  // weight 0
        prev = cum[j];
        last = j;
        if (u < cum[j]) return j;
    }
    return last;  // rounding: the last entry with positive probability
}

int sample_categorical(Rng& rng, const float* logp, int n) {
    double small[16];
    std::vector<double> big;
    double* cum = small;
    if (n > 16) {
        big.resize(size_t(n));
        cum = big.data();
    }
    categorical_cumulative(logp, n, cum);
    return sample_cumulative(rng, cum, n);
}

}  // namespace gfn
