// optim.cpp — see optim.h. The update rules follow torch.optim's definitions.
#include "engine/optim.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "engine/blas.h"

namespace gfn {

// The per-element Adam update of one parameter record, with every constant of
// the step folded in. A plain function over restrict pointers, so the loop
// vectorises (it needs -fno-math-errno, set by the Makefile: with errno
// semantics the compiler must keep a scalar sqrtf call for negative inputs).
//   g ← g + λθ  (Adam's L2; 0 for AdamW)
//   m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²
//   θ ← s·θ − (lr/(1−β1ᵗ)) · m / (√v / √(1−β2ᵗ) + ε)   (s = 1 − lr·λ for AdamW, else 1)
struct AdamStep {
    float step_size, inv_sqrt_bc2, l2, shrink, b1, b2, eps;
};
static void adam_kernel(const AdamStep& a, float* __restrict th, float* __restrict mm, float* __restrict vv,
                        const float* __restrict gr, size_t n) {
    const float step_size = a.step_size, inv_sqrt_bc2 = a.inv_sqrt_bc2, l2 = a.l2, shrink = a.shrink;
    const float b1 = a.b1, b2 = a.b2, e = a.eps, c1 = 1.f - a.b1, c2 = 1.f - a.b2;
    for (size_t i = 0; i < n; ++i) {
        const float gi = gr[i] + l2 * th[i];
        const float mi = b1 * mm[i] + c1 * gi;
        const float vi = b2 * vv[i] + c2 * gi * gi;
        mm[i] = mi;
        vv[i] = vi;
        th[i] = shrink * th[i] - step_size * mi / (std::sqrt(vi) * inv_sqrt_bc2 + e);
    }
}

Optimizer::Optimizer(ParamStore& store, OptimizerKind k, std::vector<ParamGroup> g, float b1, float b2, float e,
                     float mom)
    : kind(k), groups(std::move(g)), beta1(b1), beta2(b2), eps(e), momentum(mom), store_(store) {
    for (const Param& p : store.params)
        if (p.group < 0 || size_t(p.group) >= groups.size())
            throw std::invalid_argument("optimizer: parameter " + p.name + " is in group " + std::to_string(p.group) +
                                        " but only " + std::to_string(groups.size()) + " groups are configured");
    m.assign(store.size(), 0.f);
    v.assign(kind == OptimizerKind::SGD ? 0 : store.size(), 0.f);
}

void Optimizer::step() {
    if (m.size() != store_.size())
        throw std::logic_error("optimizer: the parameter store grew after the optimizer was built; "
                               "build the optimizer after the whole model");
    ++t;
    float* theta = store_.values.data();
    const float* grad = store_.grads.data();
    const double bc1 = 1.0 - std::pow(double(beta1), double(t));
    const double bc2 = 1.0 - std::pow(double(beta2), double(t));
    for (const Param& p : store_.params) {
        const ParamGroup& g = groups[size_t(p.group)];
        const size_t lo = p.offset, hi = p.offset + p.size();
        switch (kind) {
            case OptimizerKind::Adam:
            case OptimizerKind::AdamW: {
                // Adam:  g ← g + λθ;            AdamW: θ ← θ − lr·λ·θ
                // m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²
                // θ ← θ − lr · (m / (1−β1ᵗ)) / (√(v / (1−β2ᵗ)) + ε)
                const bool decoupled = kind == OptimizerKind::AdamW;
                AdamStep a;
                a.step_size = float(g.lr / bc1);
                a.inv_sqrt_bc2 = float(1.0 / std::sqrt(bc2));
                a.l2 = decoupled ? 0.f : g.weight_decay;                  // into the gradient
                a.shrink = decoupled ? 1.f - g.lr * g.weight_decay : 1.f;  // decoupled decay
                a.b1 = beta1;
                a.b2 = beta2;
                a.eps = eps;
                const size_t n = hi - lo;
                // Large records in chunks across threads; small ones (most of them) inline.
                constexpr size_t kChunk = size_t(1) << 15;
                if (n > 2 * kChunk && num_threads() > 1) {
                    const long n_chunks = long((n + kChunk - 1) / kChunk);
#pragma omp parallel for schedule(static)
                    for (long c = 0; c < n_chunks; ++c) {
                        const size_t b = lo + size_t(c) * kChunk, e = std::min(hi, b + kChunk);
                        adam_kernel(a, theta + b, m.data() + b, v.data() + b, grad + b, e - b);
                    }
                } else {
                    adam_kernel(a, theta + lo, m.data() + lo, v.data() + lo, grad + lo, n);
                }
                break;
            }
            case OptimizerKind::SGD: {
                // g ← g + λθ;  b ← μ b + g (b = g at the first step);  θ ← θ − lr · b
                for (size_t i = lo; i < hi; ++i) {
                    float gi = grad[i] + g.weight_decay * theta[i];
                    if (momentum != 0.f) {
                        m[i] = t == 1 ? gi : momentum * m[i] + gi;
                        gi = m[i];
                    }
                    theta[i] -= g.lr * gi;
                }
                break;
            }
        }
    }
}

double clip_grad_norm(ParamStore& store, double max_norm) {
    // ‖g‖ = √(Σ g²), accumulated in double over 8 interleaved partial sums
    // (acc[i mod 8]) so the loop vectorises with a fixed order on every CPU;
    // g ← g · max_norm / (‖g‖ + 1e-6) when ‖g‖ > max_norm
    const float* __restrict g = store.grads.data();
    const size_t n = store.grads.size();
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; ++k) acc[k] += double(g[i + size_t(k)]) * double(g[i + size_t(k)]);
    for (int k = 0; i < n; ++i, ++k) acc[k] += double(g[i]) * double(g[i]);
    const double ss = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    const double norm = std::sqrt(ss);
    if (max_norm > 0.0 && norm > max_norm) {
        const float c = float(max_norm / (norm + 1e-6));
        for (float& x : store.grads) x *= c;
    }
    return norm;
}

}  // namespace gfn
