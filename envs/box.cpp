// box.cpp — see box.h.
#include "envs/box.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "gfn/env/env.h"

namespace gfn {

namespace {

// |[a, b] ∩ S| for S a union of the disjoint intervals [lo_i, hi_i].
double overlap(double a, double b, const double (*S)[2], int n) {
    double t = 0.0;
    for (int i = 0; i < n; ++i) t += std::max(0.0, std::min(b, S[i][1]) - std::max(a, S[i][0]));
    return t;
}
const double kS1[2][2] = {{0.0, 0.25}, {0.75, 1.0}};
const double kS2[2][2] = {{0.1, 0.2}, {0.8, 0.9}};

// A uniform draw from S (two intervals of equal length).
double uniform_in(Rng& rng, const double (*S)[2]) {
    const double len = S[0][1] - S[0][0];
    const double u = rng.uniform_double() * 2.0 * len;
    return u < len ? S[0][0] + u : S[1][0] + (u - len);
}

}  // namespace

BoxBase::BoxBase(double delta, double R0, double R1, double R2) : delta_(delta), R0_(R0), R1_(R1), R2_(R2) {
    if (!(std::isfinite(delta) && delta > 0.0 && delta <= 1.0))
        throw std::invalid_argument("Box: --delta must be in (0, 1] (got " + num_str(delta) + ")");
    if (!(std::isfinite(R0) && R0 > 0.0 && std::isfinite(R1) && R1 >= 0.0 && std::isfinite(R2) && R2 >= 0.0))
        throw std::invalid_argument("Box: need --R0 > 0 and --R1, --R2 >= 0 (finite)");
}

void BoxBase::initial_state(float* out) const { out[0] = out[1] = 0.f; }

void BoxBase::step(const float* states, const float* actions, int n, float* out) const {
    for (int i = 0; i < n; ++i) {
        if (!(std::isfinite(actions[2 * i]) && std::isfinite(actions[2 * i + 1])))
            throw std::invalid_argument(name() + ": a non-finite move (the exit is not a move)");
        out[2 * i] = states[2 * i] + actions[2 * i];
        out[2 * i + 1] = states[2 * i + 1] + actions[2 * i + 1];
    }
}

void BoxBase::backward_step(const float* states, const float* actions, int n, float* out) const {
    for (int i = 0; i < n; ++i) {
        if (is_initial(states + 2 * i)) throw std::invalid_argument(name() + ": a backward move from s_0");
        // x − x = 0 exactly, so the move back to s_0 lands on it.
        out[2 * i] = std::max(0.f, states[2 * i] - actions[2 * i]);
        out[2 * i + 1] = std::max(0.f, states[2 * i + 1] - actions[2 * i + 1]);
    }
}

void BoxBase::backward_forced_action(const float* s, float* out) const {
    out[0] = s[0];
    out[1] = s[1];
}

double BoxBase::reward(double x0, double x1) const {
    const double a0 = std::fabs(x0 - 0.5), a1 = std::fabs(x1 - 0.5);
    // R = R0 + R1·Π[|x^d − ½| > 0.25] + R2·Π[0.3 < |x^d − ½| < 0.4]
    double r = R0_;
    if (a0 > 0.25 && a1 > 0.25) r += R1_;
    if (a0 > 0.3 && a0 < 0.4 && a1 > 0.3 && a1 < 0.4) r += R2_;
    return r;
}

void BoxBase::log_reward(const float* states, int n, float* out) const {
    for (int i = 0; i < n; ++i) out[i] = float(std::log(reward(states[2 * i], states[2 * i + 1])));
}

bool BoxBase::exact_log_partition(double* log_z) const {
    *log_z = std::log(partition());
    return true;
}

bool BoxBase::sample_target(Rng& rng, int n, float* out) const {
    // A region by its mass (R0·1, R1·0.25, R2·0.04), then uniform inside it.
    const double w0 = R0_, w1 = 0.25 * R1_, total = partition();
    for (int i = 0; i < n; ++i) {
        const double u = rng.uniform_double() * total;
        for (int d = 0; d < 2; ++d) {
            double x;
            if (u < w0) x = rng.uniform_double();
            else if (u < w0 + w1) x = uniform_in(rng, kS1);
            else x = uniform_in(rng, kS2);
            out[2 * i + d] = float(x);
        }
    }
    return true;
}

std::vector<double> BoxBase::cell_masses(int G) const {
    if (G < 1) throw std::invalid_argument("Box::cell_masses: need G >= 1 cells per side");
    std::vector<double> out(size_t(G) * size_t(G));
    const double Z = partition();
    for (int i = 0; i < G; ++i) {
        const double a0 = double(i) / G, b0 = double(i + 1) / G;
        for (int j = 0; j < G; ++j) {
            const double a1 = double(j) / G, b1 = double(j + 1) / G;
            const double m = R0_ * (b0 - a0) * (b1 - a1) + R1_ * overlap(a0, b0, kS1, 2) * overlap(a1, b1, kS1, 2) +
                             R2_ * overlap(a0, b0, kS2, 2) * overlap(a1, b1, kS2, 2);
            out[size_t(i) * size_t(G) + size_t(j)] = m / Z;
        }
    }
    return out;
}

int BoxBase::cell_of(const float* x, int G) {
    int c[2];
    for (int d = 0; d < 2; ++d) {
        const double v = x[d];
        c[d] = v <= 0.0 ? 0 : std::min(G - 1, int(v * G));
    }
    return c[0] * G + c[1];
}

bool Box::exit_forced(const float* s) const {
    if (is_initial(s)) return false;
    const double d0 = 1.0 - s[0], d1 = 1.0 - s[1];
    return d0 * d0 + d1 * d1 <= delta_ * delta_ || s[0] >= 1.0 - kEpsilon || s[1] >= 1.0 - kEpsilon;
}

bool Box::backward_forced(const float* s) const {
    if (is_initial(s)) return false;
    const double x0 = s[0], x1 = s[1];
    return x0 * x0 + x1 * x1 < delta_ * delta_;
}

int Box::max_trajectory_length() const { return 1 + int(std::ceil(2.0 / delta_)) + 1; }

void BoxCartesian::step(const float* states, const float* actions, int n, float* out) const {
    for (int i = 0; i < n; ++i) {
        const float* s = states + 2 * i;
        const float* a = actions + 2 * i;
        if (!(std::isfinite(a[0]) && std::isfinite(a[1])))
            throw std::invalid_argument(name() + ": a non-finite move (the exit is not a move)");
        // x' = x + a at s_0 (m = 0), x + δ + e elsewhere
        const double m = is_initial(s) ? 0.0 : delta_;
        out[2 * i] = float(std::min(1.0, double(s[0]) + m + double(a[0])));
        out[2 * i + 1] = float(std::min(1.0, double(s[1]) + m + double(a[1])));
    }
}

void BoxCartesian::backward_step(const float* states, const float* actions, int n, float* out) const {
    for (int i = 0; i < n; ++i) {
        const float* s = states + 2 * i;
        const float* a = actions + 2 * i;
        if (is_initial(s)) throw std::invalid_argument(name() + ": a backward move from s_0");
        if (a[0] == s[0] && a[1] == s[1]) {  // the return to s_0
            out[2 * i] = out[2 * i + 1] = 0.f;
            continue;
        }
        // x = x' − δ − e
        out[2 * i] = float(std::max(0.0, double(s[0]) - delta_ - double(a[0])));
        out[2 * i + 1] = float(std::max(0.0, double(s[1]) - delta_ - double(a[1])));
    }
}

bool BoxCartesian::exit_forced(const float* s) const {
    if (is_initial(s)) return false;
    return s[0] >= 1.0 - delta_ || s[1] >= 1.0 - delta_;
}

bool BoxCartesian::backward_forced(const float* s) const {
    if (is_initial(s)) return false;
    return s[0] <= delta_ || s[1] <= delta_;
}

int BoxCartesian::max_trajectory_length() const { return 1 + int(std::ceil(1.0 / delta_)) + 1; }

}  // namespace gfn
