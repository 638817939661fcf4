// optim.cpp — see optim.h. The update rules follow torch.optim's definitions.
#include "engine/optim.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace gfn {

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
                const float step_size = float(g.lr / bc1);
                const float inv_sqrt_bc2 = float(1.0 / std::sqrt(bc2));
                const float l2 = decoupled ? 0.f : g.weight_decay;                 // into the gradient
                const float shrink = decoupled ? 1.f - g.lr * g.weight_decay : 1.f;  // decoupled decay
                const float b1 = beta1, b2 = beta2, e = eps;
                float* __restrict th = theta;
                float* __restrict mm = m.data();
                float* __restrict vv = v.data();
                const float* __restrict gr = grad;
                // One branch-free loop the compiler vectorises.
#pragma omp parallel for simd if (hi - lo > (1u << 15)) schedule(static)
                for (size_t i = lo; i < hi; ++i) {
                    const float gi = gr[i] + l2 * th[i];
                    mm[i] = b1 * mm[i] + (1.f - b1) * gi;
                    vv[i] = b2 * vv[i] + (1.f - b2) * gi * gi;
                    th[i] = shrink * th[i] - step_size * mm[i] / (std::sqrt(vv[i]) * inv_sqrt_bc2 + e);
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
    // ‖g‖ = √(Σ g²), accumulated in double; g ← g · max_norm / (‖g‖ + 1e-6) when ‖g‖ > max_norm
    double ss = 0.0;
    for (float x : store.grads) ss += double(x) * double(x);
    const double norm = std::sqrt(ss);
    if (max_norm > 0.0 && norm > max_norm) {
        const float c = float(max_norm / (norm + 1e-6));
        for (float& x : store.grads) x *= c;
    }
    return norm;
}

}  // namespace gfn
