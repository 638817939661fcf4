// regression_loss.cpp — see regression_loss.h.
#include "gfn/objectives/regression_loss.h"

#include <cmath>
#include <stdexcept>

#include "engine/ops.h"

namespace gfn {

RegressionLoss::RegressionLoss(LossKind k, float a) : kind(k), alpha(a) {
    if (kind == LossKind::Linex && !(alpha != 0.f && std::isfinite(alpha)))
        throw std::invalid_argument("linex loss: alpha must be finite and non-zero (got " + std::to_string(alpha) + ")");
}

RegressionLoss RegressionLoss::from_string(const std::string& name, float alpha) {
    if (name == "squared") return RegressionLoss(LossKind::Squared);
    if (name == "half_squared") return RegressionLoss(LossKind::HalfSquared);
    if (name == "shifted_cosh") return RegressionLoss(LossKind::ShiftedCosh);
    if (name == "linex") return RegressionLoss(LossKind::Linex, alpha);
    throw std::invalid_argument("unknown loss function '" + name +
                                "' (choose squared, half_squared, shifted_cosh or linex)");
}

std::string RegressionLoss::name() const {
    switch (kind) {
        case LossKind::Squared: return "squared";
        case LossKind::HalfSquared: return "half_squared";
        case LossKind::ShiftedCosh: return "shifted_cosh";
        case LossKind::Linex: return "linex(" + std::to_string(alpha) + ")";
    }
    return "?";
}

Var RegressionLoss::operator()(Var t) const {
    switch (kind) {
        case LossKind::Squared:
            return square(t);  // t²
        case LossKind::HalfSquared:
            return scale(square(t), 0.5f);  // t²/2
        case LossKind::ShiftedCosh: {
            // eᵗ + e⁻ᵗ − 2, t ∈ [−80, 80]
            Var c = clamp(t, -80.f, 80.f);
            return add_scalar(add(exp(c), exp(scale(c, -1.f))), -2.f);
        }
        case LossKind::Linex: {
            // (e^{αt} − αt − 1)/α², αt ∈ [−80, 80]
            Var at = clamp(scale(t, alpha), -80.f, 80.f);
            return scale(add_scalar(sub(exp(at), at), -1.f), 1.f / (alpha * alpha));
        }
    }
    throw std::logic_error("RegressionLoss: unknown kind");
}

double RegressionLoss::eval(double t) const {
    switch (kind) {
        case LossKind::Squared: return t * t;
        case LossKind::HalfSquared: return 0.5 * t * t;
        case LossKind::ShiftedCosh: {
            double c = std::fmax(-80.0, std::fmin(80.0, t));
            return std::exp(c) + std::exp(-c) - 2.0;
        }
        case LossKind::Linex: {
            double at = std::fmax(-80.0, std::fmin(80.0, double(alpha) * t));
            return (std::exp(at) - at - 1.0) / (double(alpha) * double(alpha));
        }
    }
    return 0.0;
}

Reduction reduction_from_string(const std::string& name) {
    if (name == "mean") return Reduction::Mean;
    if (name == "sum") return Reduction::Sum;
    if (name == "none") return Reduction::None;
    throw std::invalid_argument("unknown reduction '" + name + "' (choose mean, sum or none)");
}

Var reduce(Var x, Reduction r) {
    switch (r) {
        case Reduction::Mean: return mean(x);
        case Reduction::Sum: return sum(x);
        case Reduction::None: return x;
    }
    return x;
}

}  // namespace gfn
