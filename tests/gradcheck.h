// gradcheck.h — the one gradient-check helper every differentiable thing uses.
//
// check_gradients() compares the tape's gradients with central differences
//     dL/dθ_k ≈ n_h = (L(θ + h e_k) − L(θ − h e_k)) / 2h
// where L = Σ_ij w_ij f(θ)_ij reduces a non-scalar output with fixed random
// weights w (a plain sum would hide errors: a softmax row sums to a constant).
// The forward is evaluated in float; the differences are taken in double.
//
// Acceptance is per entry and relative to that entry, so that a 20 % error fails
// at any gradient scale (2, 1e-2, 1e-3, or one small entry beside large ones):
//     |a_k − n_h| <= rel_tol·|n_h| + e_k + abs_tol
//     e_k = max(|n_h − n_2h|, rounding floor)
// e_k is the numeric derivative's own uncertainty, measured rather than assumed:
//  - truncation: n_h − n_2h ≈ −3·(h² f'''/6), three times n_h's truncation error;
//  - rounding: the forward runs in float. The floor allows 4 roundings
//    (4·ε_f·|w_i f_i|) of each output that moved between the ±h, ±2h evaluations,
//    over 2h (outputs that did not move cancel exactly); when none moved, of every
//    output over 4h (each may have moved by less than its rounding). Rounding inside
//    the forward beyond that (a small loss of large terms) shows in |n_h − n_2h|,
//    whose two rounding errors are independent (different inputs).
// A fixed absolute tolerance would not do: abs 2e-3 accepts a 50 % error in a
// gradient of size 2e-3; one relative to the target's norm accepts a 20 % error
// in a small entry beside large ones. rel_tol = 0.05 leaves 0.15·|n_h| for e_k.
// Where e_k exceeds that, float rounding hides a 20 % error: the entry is counted
// as unresolved in the report (its analytic value is non-zero); a smooth f can
// then take a larger step (the rounding term falls as 1/h, and |n_h − n_2h| keeps
// the truncation honest). abs_tol is 0: extra slack a caller must justify.
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
    double step = 1e-3;        // h (2h must not reach a kink of f)
    double rel_tol = 0.05;     // |a − n_h| <= rel_tol·|n_h| + e_k + abs_tol (see above)
    double abs_tol = 0.0;
    size_t max_checks = 64;    // per target; a seeded random subset when larger
    unsigned seed = 1234;
};

struct GradCheckReport {
    bool ok = true;
    size_t checked = 0;
    // Entries with e_k >= (0.2 − rel_tol)·|n_h|: a 20 % error there would pass
    // (every entry whose true gradient is 0 or drowns in rounding noise).
    size_t unresolved = 0;
    double max_abs_err = 0.0;
    double worst_ratio = 0.0;  // max over entries of |a − n_h| / tolerance (> 1 fails)
    std::string worst;         // "target[k]: analytic a, numeric b, tolerance t"
    std::string message() const;
};

// f builds the graph on the given tape, reading the targets' current values
// (typically through tape.parameter(Tensor(value, ...), grad)), and returns
// the output. f must be deterministic.
GradCheckReport check_gradients(const std::function<Var(Tape&)>& f, std::vector<GradTarget> targets,
                                const GradCheckOptions& opt = GradCheckOptions());

}  // namespace gfn
