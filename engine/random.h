// random.h — seeded, reproducible random numbers (PCG32): uniform, normal, Gamma,
// Beta and categorical sampling.
//
// All sampling in gfn.cpp goes through Rng on one thread, so a seed gives the
// same run whatever the thread count. The state is two integers, so a
// checkpoint can save and restore it exactly.
#pragma once

#include <cmath>
#include <cstdint>

namespace gfn {

class Rng {
public:
    explicit Rng(uint64_t seed = 0x853c49e6748fea9bULL, uint64_t stream = 0xda3e39cb94b95bdbULL) { seed_with(seed, stream); }

    void seed_with(uint64_t seed, uint64_t stream = 0xda3e39cb94b95bdbULL) {
        state = 0;
        inc = (stream << 1u) | 1u;
        next_u32();
        state += seed;
        next_u32();
    }

    // PCG-XSH-RR: state' = state·6364136223846793005 + inc; output a rotated xorshift.
    uint32_t next_u32() {
        uint64_t old = state;
        state = old * 6364136223846793005ULL + inc;
        uint32_t xorshifted = uint32_t(((old >> 18u) ^ old) >> 27u);
        uint32_t rot = uint32_t(old >> 59u);
        return (xorshifted >> rot) | (xorshifted << ((32u - rot) & 31u));
    }
    // Uniform in [0, 1) with 24 random bits (exact in float).
    float uniform() { return float(next_u32() >> 8) * (1.0f / 16777216.0f); }
    // Uniform in [0, 1) with 53 random bits.
    double uniform_double() {
        uint64_t hi = next_u32() >> 5, lo = next_u32() >> 6;
        return double(hi * 67108864ULL + lo) * (1.0 / 9007199254740992.0);
    }
    float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
    // Uniform integer in [0, n), n > 0: reject the 2³² mod n lowest outputs, then reduce mod n.
    uint32_t below(uint32_t n) {
        uint32_t threshold = (0u - n) % n;
        for (;;) {
            uint32_t r = next_u32();
            if (r >= threshold) return r % n;
        }
    }
    // Standard normal (Box–Muller, one value per call).
    double normal() {
        double u1 = uniform_double(), u2 = uniform_double();
        if (u1 < 1e-300) u1 = 1e-300;
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    }

    uint64_t state = 0, inc = 0;
};

// Gamma(α, 1), α > 0 (density x^{α−1} e^{−x} / Γ(α)), returned as log x so that
// small α (whose samples underflow double) stays usable. Marsaglia–Tsang
// (2000) for α >= 1; for α < 1 the boost G(α) = G(α + 1)·U^{1/α}.
double sample_log_gamma(Rng& rng, double alpha);
inline double sample_gamma(Rng& rng, double alpha) { return std::exp(sample_log_gamma(rng, alpha)); }
// Beta(α, β), α, β > 0: X / (X + Y) with X ~ Gamma(α), Y ~ Gamma(β), computed as
// σ(log X − log Y). May return exactly 0 or 1 when α or β is tiny.
double sample_beta(Rng& rng, double alpha, double beta);

// Samples j with probability exp(logp_j) from n log-probabilities (−inf allowed;
// they need not be normalised: p_j ∝ exp(logp_j)). Inverse CDF in double.
int sample_categorical(Rng& rng, const float* logp, int n);
// The same in two halves, for a distribution drawn from many times: its
// cumulative weights c_j = Σ_{k<=j} exp(logp_k − max_k logp_k) (n doubles; the
// same checks), then a draw from them — the draw sample_categorical makes from
// the same uniform, bit for bit.
void categorical_cumulative(const float* logp, int n, double* cum);
int sample_cumulative(Rng& rng, const double* cum, int n);

}  // namespace gfn
