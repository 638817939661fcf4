// gradcheck.cpp — see gradcheck.h.
#include "tests/gradcheck.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <numeric>
#include <random>
#include <sstream>

#include "engine/ops.h"

namespace gfn {

std::string GradCheckReport::message() const {
    std::ostringstream s;
    s << (ok ? "gradients agree" : "gradient mismatch") << " (" << checked << " checked, " << unresolved
      << " unresolved, max abs err " << max_abs_err << ", worst err/tolerance " << worst_ratio << ")";
    if (!worst.empty()) s << "; worst " << worst;
    return s.str();
}

namespace {

// Rounding assumed per evaluation of each output, in units of ε_f·|f| (a few
// roundings along the forward, not just the last one).
constexpr double kRoundingsPerOutput = 4.0;

// f's output with x set to v (x restored afterwards), on a no-grad tape.
std::vector<float> output_at(const std::function<Var(Tape&)>& f, float* x, float v) {
    const float orig = *x;
    *x = v;
    Tape tp;
    NoGrad ng(tp);
    Tensor y = f(tp).value();
    std::vector<float> out(y.data, y.data + y.size());
    *x = orig;
    return out;
}

// The central difference at step h (the step actually taken in float), and the
// outputs it evaluated.
struct CentralDifference {
    double value = 0.0;
    std::vector<float> plus, minus;
};
CentralDifference central_difference(const std::function<Var(Tape&)>& f, float* x, double h,
                                     const std::vector<float>& w) {
    CentralDifference cd;
    const float hi = float(double(*x) + h), lo = float(double(*x) - h);
    cd.plus = output_at(f, x, hi);
    cd.minus = output_at(f, x, lo);
    double diff = 0.0;
    for (size_t i = 0; i < w.size(); ++i) diff += double(w[i]) * (double(cd.plus[i]) - double(cd.minus[i]));
    cd.value = diff / (double(hi) - double(lo));
    return cd;
}

// The rounding floor of n_h, with m_i = max(|f_i(θ±h)|, |f_i(θ±2h)|):
//     kRoundingsPerOutput · ε_f · Σ_{i moved} |w_i| m_i / 2h
// over the outputs that moved at either step (the others cancel exactly). When
// none moved, any output may have moved by less than its rounding over ±2h:
//     kRoundingsPerOutput · ε_f · Σ_i |w_i| m_i / 4h
double rounding_floor(const CentralDifference& c1, const CentralDifference& c2, const std::vector<float>& w,
                      double h) {
    double moved = 0.0, all = 0.0;
    for (size_t i = 0; i < w.size(); ++i) {
        const double m = std::max({std::fabs(double(c1.plus[i])), std::fabs(double(c1.minus[i])),
                                   std::fabs(double(c2.plus[i])), std::fabs(double(c2.minus[i]))});
        const double term = std::fabs(double(w[i])) * m;
        all += term;
        if (c1.plus[i] != c1.minus[i] || c2.plus[i] != c2.minus[i] || c1.plus[i] != c2.plus[i]) moved += term;
    }
    return kRoundingsPerOutput * double(FLT_EPSILON) * (moved > 0.0 ? moved / (2.0 * h) : all / (4.0 * h));
}

}  // namespace

GradCheckReport check_gradients(const std::function<Var(Tape&)>& f, std::vector<GradTarget> targets,
                                const GradCheckOptions& opt) {
    GradCheckReport rep;
    std::mt19937 rng(opt.seed);
    std::uniform_real_distribution<float> uw(0.5f, 1.5f);
    std::bernoulli_distribution sign(0.5);

    // Analytic gradient of L = Σ w ⊙ f.
    Tape tape;
    for (GradTarget& t : targets) std::fill(t.grad, t.grad + t.n, 0.f);
    Var out = f(tape);
    std::vector<float> w(out.value().size());
    for (float& x : w) x = sign(rng) ? uw(rng) : -uw(rng);
    Var wv = tape.constant_copy(w.data(), out.rows(), out.cols());
    tape.backward(sum(mul(out, wv)));
    std::vector<std::vector<float>> analytic;
    for (GradTarget& t : targets) analytic.emplace_back(t.grad, t.grad + t.n);

    const double resolve = 0.2 - opt.rel_tol;  // e_k below resolve·|n_h| resolves a 20 % error
    for (size_t ti = 0; ti < targets.size(); ++ti) {
        GradTarget& t = targets[ti];
        std::vector<size_t> ks(t.n);
        std::iota(ks.begin(), ks.end(), size_t(0));
        if (ks.size() > opt.max_checks) {
            std::shuffle(ks.begin(), ks.end(), rng);
            ks.resize(opt.max_checks);
        }
        for (size_t k : ks) {
            const CentralDifference c1 = central_difference(f, t.value + k, opt.step, w);
            const CentralDifference c2 = central_difference(f, t.value + k, 2.0 * opt.step, w);
            const double numeric = c1.value, a = analytic[ti][k];
            // e_k = max(|n_h − n_2h|, rounding floor)
            const double e_k = std::max(std::fabs(c1.value - c2.value), rounding_floor(c1, c2, w, opt.step));
            const double err = std::fabs(a - numeric);
            const double tol = opt.rel_tol * std::fabs(numeric) + e_k + opt.abs_tol;
            ++rep.checked;
            if (a != 0.0 && !(e_k < resolve * std::fabs(numeric))) ++rep.unresolved;
            const bool bad = !(err <= tol);  // NaN is bad
            const double ratio = !std::isfinite(err) ? INFINITY : tol > 0.0 ? err / tol : err > 0.0 ? INFINITY : 0.0;
            rep.max_abs_err = std::max(rep.max_abs_err, std::isfinite(err) ? err : INFINITY);
            if (ratio > rep.worst_ratio || rep.worst.empty()) {
                rep.worst_ratio = ratio;
                std::ostringstream s;
                s << t.name << "[" << k << "]: analytic " << a << ", numeric " << numeric << ", tolerance " << tol;
                rep.worst = s.str();
            }
            if (bad) rep.ok = false;
        }
    }
    return rep;
}

}  // namespace gfn
