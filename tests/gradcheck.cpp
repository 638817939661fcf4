// gradcheck.cpp — see gradcheck.h.
#include "tests/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <sstream>

#include "engine/ops.h"

namespace gfn {

std::string GradCheckReport::message() const {
    std::ostringstream s;
    s << (ok ? "gradients agree" : "gradient mismatch") << " (" << checked << " checked, max abs err "
      << max_abs_err << ")";
    if (!worst.empty()) s << "; worst " << worst;
    return s.str();
}

// L = Σ w ⊙ f, evaluated in double.
static double weighted_value(Tensor out, const std::vector<float>& w) {
    double acc = 0.0;
    for (size_t i = 0; i < out.size(); ++i) acc += double(w[i]) * double(out.data[i]);
    return acc;
}

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

    for (size_t ti = 0; ti < targets.size(); ++ti) {
        GradTarget& t = targets[ti];
        std::vector<size_t> ks(t.n);
        std::iota(ks.begin(), ks.end(), size_t(0));
        if (ks.size() > opt.max_checks) {
            std::shuffle(ks.begin(), ks.end(), rng);
            ks.resize(opt.max_checks);
        }
        for (size_t k : ks) {
            const float orig = t.value[k];
            double lv[2];
            for (int side = 0; side < 2; ++side) {
                t.value[k] = float(double(orig) + (side == 0 ? opt.step : -opt.step));
                Tape tp;
                NoGrad ng(tp);
                lv[side] = weighted_value(f(tp).value(), w);
            }
            t.value[k] = orig;
            // The step actually taken in float.
            double h = (double(float(double(orig) + opt.step)) - double(float(double(orig) - opt.step))) / 2.0;
            double numeric = (lv[0] - lv[1]) / (2.0 * h);
            double a = analytic[ti][k];
            double err = std::fabs(a - numeric);
            ++rep.checked;
            bool bad = !(err <= opt.abs_tol + opt.rel_tol * std::fabs(numeric));  // NaN is bad
            if (!std::isfinite(err) || err > rep.max_abs_err || rep.worst.empty()) {
                rep.max_abs_err = std::isfinite(err) ? err : INFINITY;
                std::ostringstream s;
                s << t.name << "[" << k << "]: analytic " << a << ", numeric " << numeric;
                rep.worst = s.str();
            }
            if (bad) rep.ok = false;
        }
    }
    return rep;
}

}  // namespace gfn
