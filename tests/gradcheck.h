// gradcheck.h — the one gradient-check helper every differentiable thing uses.
//
// check_gradients() compares the tape's gradients with central differences
//     dL/dθ_k ≈ (L(θ + h e_k) − L(θ − h e_k)) / 2h
// where L = Σ_ij w_ij f(θ)_ij reduces a non-scalar output with fixed random
// weights w (a plain sum would hide errors: a softmax row sums to a constant).
// The forward is evaluated in float; the differences are taken in double.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "engine/tape.h"

namespace gfn {

// One differentiable input: `value` is perturbed in place (and restored);
// the analytic gradient is accumulated into `grad` (same length).
struct GradTarget {
    std::string name;
    float* value;
    float* grad;
    size_t n;
};

struct GradCheckOptions {
    double step = 1e-3;        // h
    double abs_tol = 2e-3;     // |analytic − numeric| <= abs_tol + rel_tol·|numeric|
    double rel_tol = 2e-2;
    size_t max_checks = 64;    // per target; a seeded random subset when larger
    unsigned seed = 1234;
};

struct GradCheckReport {
    bool ok = true;
    size_t checked = 0;
    double max_abs_err = 0.0;
    std::string worst;         // "target[k]: analytic a, numeric b"
    std::string message() const;
};

// f builds the graph on the given tape, reading the targets' current values
// (typically through tape.parameter(Tensor(value, ...), grad)), and returns
// the output. f must be deterministic.
GradCheckReport check_gradients(const std::function<Var(Tape&)>& f, std::vector<GradTarget> targets,
                                const GradCheckOptions& opt = GradCheckOptions());

}  // namespace gfn
