// regression_loss.h — the function g applied to each balance residual t, and reductions.
//
//   squared        g(t) = t²
//   half_squared   g(t) = t²/2
//   shifted_cosh   g(t) = eᵗ + e⁻ᵗ − 2,             t clamped to ±80
//   linex(α)       g(t) = (e^{αt} − αt − 1)/α²,    αt clamped to ±80; α ≠ 0
// Reductions: mean (default), sum, none (one value per trajectory/transition).
#pragma once

#include <string>

#include "engine/tape.h"

namespace gfn {

enum class LossKind { Squared, HalfSquared, ShiftedCosh, Linex };

struct RegressionLoss {
    LossKind kind = LossKind::Squared;
    float alpha = 1.f;  // linex only

    RegressionLoss() = default;
    RegressionLoss(LossKind k, float a = 1.f);
    // "squared", "half_squared", "shifted_cosh", "linex" (with alpha).
    static RegressionLoss from_string(const std::string& name, float alpha = 1.f);
    std::string name() const;
    // g applied element-wise.
    Var operator()(Var t) const;
    // g in double, for hand checks and reporting.
    double eval(double t) const;
};

enum class Reduction { Mean, Sum, None };
Reduction reduction_from_string(const std::string& name);
// mean → (1,1) mean; sum → (1,1) sum; none → unchanged.
Var reduce(Var per_item, Reduction r);

}  // namespace gfn
