// diffusion_targets.cpp — see diffusion_targets.h.
#include "envs/diffusion_targets.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "gfn/env/env.h"  // num_str

namespace gfn {

namespace {

const double kLog2Pi = std::log(2.0 * M_PI);

float floored(double v) {
    const double lowest = double(std::numeric_limits<float>::lowest());
    return float(v < lowest ? lowest : v);
}

// v as a float within ±FLT_MAX (±inf becomes ±FLT_MAX).
float clamped(double v) {
    const double big = double(std::numeric_limits<float>::max());
    return float(v > big ? big : (v < -big ? -big : v));
}

}  // namespace

// Central differences of the float log_density, one call per point on its 2·dim shifted
// copies: row 2j is x + h e_j, row 2j + 1 is x − h e_j, h = 10⁻³·max(1, |x_j|) (kept
// within ±FLT_MAX); the divisor is the float difference of the two shifted x_j.
void DiffusionTarget::log_density_gradient(const float* xs, int n, float* grad) const {
    const int d = dim();
    const double big = double(std::numeric_limits<float>::max());
    std::vector<float> shifted(size_t(2 * d) * size_t(d)), lp(size_t(2 * d));
    for (int i = 0; i < n; ++i) {
        const float* x = xs + size_t(i) * size_t(d);
        for (int j = 0; j < d; ++j) {
            float* plus = &shifted[size_t(2 * j) * size_t(d)];
            float* minus = plus + d;
            std::copy(x, x + d, plus);
            std::copy(x, x + d, minus);
            const double h = 1e-3 * std::max(1.0, std::fabs(double(x[j])));
            plus[j] = float(std::min(double(x[j]) + h, big));
            minus[j] = float(std::max(double(x[j]) - h, -big));
        }
        log_density(shifted.data(), 2 * d, lp.data());
        for (int j = 0; j < d; ++j) {
            const double step = double(shifted[size_t(2 * j) * size_t(d) + size_t(j)]) -
                                double(shifted[size_t(2 * j + 1) * size_t(d) + size_t(j)]);
            grad[size_t(i) * size_t(d) + size_t(j)] =
                clamped((double(lp[size_t(2 * j)]) - double(lp[size_t(2 * j + 1)])) / step);
        }
    }
}

namespace {

// An isotropic Gaussian mixture in d dimensions, every component of variance v:
//     log R(x) = log Σ_k w_k N(x; μ_k, v·I)
//              = logsumexp_k [log w_k − |x − μ_k|² / (2v)] − (d/2) log(2π v)
class IsotropicMixture : public DiffusionTarget {
public:
    IsotropicMixture(std::string name, int dim, std::vector<double> means, std::vector<double> weights,
                     double variance, double border)
        : name_(std::move(name)), dim_(dim), means_(std::move(means)), weights_(std::move(weights)),
          variance_(variance), border_(border) {
        double total = 0.0;
        for (double w : weights_) total += w;
        for (double& w : weights_) w /= total;
        for (double w : weights_) log_weights_.push_back(std::log(w));
    }

    std::string name() const override { return name_; }
    int dim() const override { return dim_; }
    double log_partition() const override { return 0.0; }
    double plot_border() const override { return dim_ == 2 ? border_ : 0.0; }
    std::vector<double> mode_weights() const override { return weights_; }
    std::vector<float> mode_means() const override { return std::vector<float>(means_.begin(), means_.end()); }

    void log_density(const float* xs, int n, float* out) const override {
        const double log_norm = -0.5 * dim_ * (kLog2Pi + std::log(variance_));
        std::vector<double> terms(weights_.size(), 0.0);
        for (int i = 0; i < n; ++i) {
            const double m = log_terms(xs + size_t(i) * size_t(dim_), terms.data());
            double s = 0.0;
            for (double t : terms) s += std::exp(t - m);
            out[i] = floored(m + std::log(s) + log_norm);
        }
    }

    // ∇ log R(x) = Σ_k π_k(x)·(μ_k − x) / v,
    //     π_k(x) = softmax_k [log w_k − |x − μ_k|²/(2v)]   (the responsibilities),
    // the softmax formed as e^{t_k − max t} / Σ_l e^{t_l − max t}.
    void log_density_gradient(const float* xs, int n, float* grad) const override {
        const int K = int(weights_.size());
        std::vector<double> terms(size_t(K), 0.0), g(size_t(dim_), 0.0);
        for (int i = 0; i < n; ++i) {
            const float* x = xs + size_t(i) * size_t(dim_);
            const double m = log_terms(x, terms.data());
            // a component more than 37 nats below the nearest one has e^{t_k − m} < 2⁻⁵³,
            // under the rounding of the sum (whose largest term is 1): 0 here, which saves
            // its exp (at a gmm25 mode every other component, 5 apart, is 41.7 nats below)
            double total = 0.0;
            for (double& t : terms) {
                t = t - m < -37.0 ? 0.0 : std::exp(t - m);
                total += t;
            }
            std::fill(g.begin(), g.end(), 0.0);
            for (int k = 0; k < K; ++k) {
                if (terms[size_t(k)] == 0.0) continue;
                const double pi = terms[size_t(k)] / total;
                for (int j = 0; j < dim_; ++j)
                    g[size_t(j)] += pi * (means_[size_t(k) * size_t(dim_) + size_t(j)] - double(x[j]));
            }
            for (int j = 0; j < dim_; ++j) grad[size_t(i) * size_t(dim_) + size_t(j)] = clamped(g[size_t(j)] / variance_);
        }
    }

    // k by inverse CDF of the weights (one uniform), then x = μ_k + √v·ε, ε ~ N(0, I).
    void sample(Rng& rng, int n, float* out) const override {
        const int K = int(weights_.size());
        const double sd = std::sqrt(variance_);
        for (int i = 0; i < n; ++i) {
            const double u = rng.uniform_double();
            int k = 0;
            double c = weights_[0];
            while (k + 1 < K && u >= c) c += weights_[size_t(++k)];
            for (int j = 0; j < dim_; ++j)
                out[size_t(i) * size_t(dim_) + size_t(j)] =
                    float(means_[size_t(k) * size_t(dim_) + size_t(j)] + sd * rng.normal());
        }
    }

private:
    // t_k = log w_k − |x − μ_k|²/(2v) into terms (K); returns max_k t_k.
    double log_terms(const float* x, double* terms) const {
        double m = -INFINITY;
        for (size_t k = 0; k < weights_.size(); ++k) {
            double sq = 0.0;
            for (int j = 0; j < dim_; ++j) {
                const double d = double(x[j]) - means_[k * size_t(dim_) + size_t(j)];
                sq += d * d;
            }
            terms[k] = log_weights_[k] - sq / (2.0 * variance_);
            m = std::max(m, terms[k]);
        }
        return m;
    }

    std::string name_;
    int dim_;
    std::vector<double> means_, weights_, log_weights_;
    double variance_, border_;
};

std::unique_ptr<DiffusionTarget> make_gmm25() {
    std::vector<double> means;
    for (double a : {-10.0, -5.0, 0.0, 5.0, 10.0})
        for (double b : {-10.0, -5.0, 0.0, 5.0, 10.0}) {
            means.push_back(a);
            means.push_back(b);
        }
    return std::make_unique<IsotropicMixture>("gmm25", 2, means, std::vector<double>(25, 1.0), 0.3, 15.0);
}

// torchgfn's Posterior9of25GaussianMixture: its means and weights, in its order.
std::unique_ptr<DiffusionTarget> make_posterior9() {
    std::vector<double> means = {-10, -5, -5, -10, -5, 0, 10, -5, 0, 0, 0, 5, 5, -5, 5, 0, 5, 10};
    std::vector<double> weights = {4, 10, 4, 5, 10, 5, 4, 15, 4};
    return std::make_unique<IsotropicMixture>("posterior9", 2, means, weights, 0.3, 15.0);
}

// Neal's funnel:
//     log R(x) = log N(x_0; 0, s²) + Σ_{i>=1} [−½ log 2π − x_0/2 − ½ x_i² e^{−x_0}]
// with x_i² e^{−x_0} formed as exp(2 log|x_i| − x_0) so that it never makes 0·∞.
class Funnel : public DiffusionTarget {
public:
    Funnel(std::string name, double s, int dim) : name_(std::move(name)), s_(s), dim_(dim) {}

    std::string name() const override { return name_; }
    int dim() const override { return dim_; }
    double log_partition() const override { return 0.0; }

    void log_density(const float* xs, int n, float* out) const override {
        for (int i = 0; i < n; ++i) {
            const float* x = xs + size_t(i) * size_t(dim_);
            const double x0 = x[0];
            double lp = -0.5 * kLog2Pi - std::log(s_) - 0.5 * (x0 / s_) * (x0 / s_);
            for (int j = 1; j < dim_; ++j) {
                const double xi = x[j];
                const double scaled_sq = xi == 0.0 ? 0.0 : std::exp(2.0 * std::log(std::fabs(xi)) - x0);
                lp += -0.5 * kLog2Pi - 0.5 * x0 - 0.5 * scaled_sq;
            }
            out[i] = floored(lp);
        }
    }

    // ∂/∂x_0 = −x_0/s² + Σ_{i>=1} (−½ + ½ x_i² e^{−x_0})
    // ∂/∂x_i = −x_i e^{−x_0}                                   (i >= 1)
    // with x_i² e^{−x_0} = exp(2 log|x_i| − x_0) as in log_density and
    // x_i e^{−x_0} = sign(x_i)·exp(log|x_i| − x_0): 0 at x_i = 0, never 0·∞.
    // Deep in the neck (x_0 very negative, x_i ≠ 0) both are huge and can overflow double:
    // the ∞ is clamped to ±FLT_MAX. There log_density is floored at the lowest float (its
    // float slope is 0) but this is still the gradient of the unfloored log R, pointing
    // back up the funnel. No ∞ − ∞ (NaN) is formed in ∂/∂x_0: when x_0 < 0 the terms that
    // can overflow (½ x_i² e^{−x_0}, and −x_0/s² for a tiny s) are all >= 0, and when
    // x_0 >= 0 only −x_0/s² can.
    void log_density_gradient(const float* xs, int n, float* grad) const override {
        for (int i = 0; i < n; ++i) {
            const float* x = xs + size_t(i) * size_t(dim_);
            float* g = grad + size_t(i) * size_t(dim_);
            const double x0 = x[0];
            double g0 = -(x0 / s_) / s_;
            for (int j = 1; j < dim_; ++j) {
                const double xi = x[j];
                const double scaled_sq = xi == 0.0 ? 0.0 : std::exp(2.0 * std::log(std::fabs(xi)) - x0);
                const double scaled = xi == 0.0 ? 0.0 : std::copysign(std::exp(std::log(std::fabs(xi)) - x0), xi);
                g0 += -0.5 + 0.5 * scaled_sq;
                g[j] = clamped(-scaled);
            }
            g[0] = clamped(g0);
        }
    }

    // x_0 = s·ε_0, x_i = e^{x_0/2}·ε_i.
    void sample(Rng& rng, int n, float* out) const override {
        for (int i = 0; i < n; ++i) {
            float* x = out + size_t(i) * size_t(dim_);
            const double x0 = s_ * rng.normal();
            x[0] = float(x0);
            const double sd = std::exp(0.5 * x0);
            for (int j = 1; j < dim_; ++j) x[j] = float(sd * rng.normal());
        }
    }

private:
    std::string name_;
    double s_;
    int dim_;
};

// Many-well, 16 blocks. The x_1 marginal f(x) ∝ exp(φ(x)), φ(x) = −x⁴ + 6x² + 0.5x,
// is drawn by rejection from the envelope
//     g(x) = w_L N(x; m_L, σ²) + (1 − w_L) N(x; m_R, σ²),
// m_L, m_R the wells (roots of φ'(x) = −4x³ + 12x + 0.5 = 0 near ∓√3), w_L = 0.156
// (about the left well's mass), σ = 0.42 (acceptance ≈ 0.49). Accept x ~ g when
//     u < exp(φ(x) − log g(x) − log M),  u ~ U(0, 1),
// exact whenever log M >= sup (φ − log g). log M is the maximum of φ − log g on a grid
// of step h = 10⁻³ over [−6, 6], plus 0.01: between grid points the maximum exceeds the
// grid's by at most h²·max|(φ − log g)''|/8 < 10⁻³ (|φ''| <= 12x² + 12 <= 444 there and
// |(log g)''| <= 1/σ² + (m_R − m_L)²/σ⁴ < 400), and outside [−6, 6] φ − log g < −1000
// (−x⁴ falls faster than −(x − m)²/(2σ²)), far below its value at a well.
class ManyWell : public DiffusionTarget {
public:
    static constexpr int kBlocks = 16;
    static constexpr double kZ1 = 11784.50927;  // ∫ exp(φ(x)) dx

    ManyWell() {
        auto well = [](double x) {
            for (int k = 0; k < 60; ++k) x -= dphi(x) / (-12.0 * x * x + 12.0);
            return x;
        };
        m_left_ = well(-1.7);
        m_right_ = well(1.7);
        double best = -INFINITY;
        for (int k = 0; k <= 12000; ++k) {
            const double x = -6.0 + 1e-3 * k;
            best = std::max(best, phi(x) - log_envelope(x));
        }
        log_bound_ = best + 0.01;
        // The modes: each block's x_{2b} in its two wells. A point's x_{2b} goes to the
        // nearer well, so a well's weight is the mass on its side of c = (m_L + m_R)/2:
        //     w_L = ∫_{−6}^{c} exp φ / ∫_{−6}^{6} exp φ     (Simpson, 24,000 intervals;
        // the mass beyond ±6 is below e^{−1000} of it)
        const double c = 0.5 * (m_left_ + m_right_);
        auto simpson = [](double a, double b) {
            const int m = 24000;
            const double h = (b - a) / m;
            double s = std::exp(phi(a)) + std::exp(phi(b));
            for (int k = 1; k < m; ++k) s += (k % 2 ? 4.0 : 2.0) * std::exp(phi(a + k * h));
            return s * h / 3.0;
        };
        const double left = simpson(-6.0, c), right = simpson(c, 6.0);
        w_left_ = left / (left + right);
    }

    std::string name() const override { return "manywell"; }
    int dim() const override { return 2 * kBlocks; }
    // log Z = 16·(log Z_1 + ½ log 2π)
    double log_partition() const override { return kBlocks * (std::log(kZ1) + 0.5 * kLog2Pi); }

    // log R = Σ_b φ(x_{2b}) − ½ x_{2b+1}²
    void log_density(const float* xs, int n, float* out) const override {
        for (int i = 0; i < n; ++i) {
            const float* x = xs + size_t(i) * size_t(2 * kBlocks);
            double lp = 0.0;
            for (int b = 0; b < kBlocks; ++b) {
                const double x2 = x[2 * b + 1];
                lp += phi(x[2 * b]) - 0.5 * x2 * x2;
            }
            out[i] = floored(lp);
        }
    }

    // ∂/∂x_{2b} = φ'(x_{2b}) = −4x_{2b}³ + 12x_{2b} + 0.5,  ∂/∂x_{2b+1} = −x_{2b+1}
    void log_density_gradient(const float* xs, int n, float* grad) const override {
        for (int i = 0; i < n * 2 * kBlocks; i += 2) {
            grad[i] = clamped(dphi(xs[i]));
            grad[i + 1] = -xs[i + 1];
        }
    }

    std::vector<float> mode_means() const override { return {float(m_left_), float(m_right_)}; }
    std::vector<double> mode_weights() const override { return {w_left_, 1.0 - w_left_}; }
    std::vector<int> mode_offsets() const override {
        std::vector<int> o;
        for (int b = 0; b < kBlocks; ++b) o.push_back(2 * b);
        return o;
    }

    void sample(Rng& rng, int n, float* out) const override {
        for (int i = 0; i < n; ++i)
            for (int b = 0; b < kBlocks; ++b) {
                float* x = out + size_t(i) * size_t(2 * kBlocks) + size_t(2 * b);
                x[0] = float(sample_x1(rng));
                x[1] = float(rng.normal());
            }
    }

private:
    static constexpr double kLeftWeight = 0.156, kSigma = 0.42;
    static double phi(double x) { return -x * x * x * x + 6.0 * x * x + 0.5 * x; }
    static double dphi(double x) { return -4.0 * x * x * x + 12.0 * x + 0.5; }
    double log_envelope(double x) const {
        const double zl = (x - m_left_) / kSigma, zr = (x - m_right_) / kSigma;
        const double a = std::log(kLeftWeight) - 0.5 * zl * zl, b = std::log(1.0 - kLeftWeight) - 0.5 * zr * zr;
        const double m = std::max(a, b);
        return m + std::log(std::exp(a - m) + std::exp(b - m)) - std::log(kSigma) - 0.5 * kLog2Pi;
    }
    double sample_x1(Rng& rng) const {
        for (;;) {
            const double c = rng.uniform_double();
            const double x = (c < kLeftWeight ? m_left_ : m_right_) + kSigma * rng.normal();
            const double u = rng.uniform_double();
            if (u < std::exp(phi(x) - log_envelope(x) - log_bound_)) return x;
        }
    }
    double m_left_ = 0, m_right_ = 0, log_bound_ = 0, w_left_ = 0;
};

// log r = log R_target − log R_reference (see make_constraint_target).
class ConstraintTarget : public DiffusionTarget {
public:
    ConstraintTarget(std::shared_ptr<const DiffusionTarget> t, std::shared_ptr<const DiffusionTarget> r)
        : target_(std::move(t)), reference_(std::move(r)) {}
    std::string name() const override { return target_->name() + "/" + reference_->name(); }
    int dim() const override { return target_->dim(); }
    void log_density(const float* xs, int n, float* out) const override {
        std::vector<float> ref(static_cast<size_t>(n));
        target_->log_density(xs, n, out);
        reference_->log_density(xs, n, ref.data());
        for (int i = 0; i < n; ++i) out[i] -= ref[size_t(i)];
    }
    // ∇ log r = ∇ log R_target − ∇ log R_reference, differenced in double from the two
    // float gradients (for posterior9/gmm25 both are ≈ (μ − x)/v and their difference is
    // O(|Δμ|/v): float rounding costs ≈ 10⁻⁷·|x|/v absolute, negligible for |x| ≲ 10³).
    void log_density_gradient(const float* xs, int n, float* grad) const override {
        std::vector<float> ref(size_t(n) * size_t(dim()));
        target_->log_density_gradient(xs, n, grad);
        reference_->log_density_gradient(xs, n, ref.data());
        for (size_t k = 0; k < ref.size(); ++k) grad[k] = clamped(double(grad[k]) - double(ref[k]));
    }
    double log_partition() const override { return std::nan(""); }
    bool can_sample() const override { return false; }
    void sample(Rng&, int, float*) const override {
        throw std::logic_error(name() + ": a constraint r has no exact sampler");
    }
    std::vector<float> mode_means() const override { return target_->mode_means(); }
    std::vector<double> mode_weights() const override { return target_->mode_weights(); }
    std::vector<int> mode_offsets() const override { return target_->mode_offsets(); }
    double plot_border() const override { return target_->plot_border(); }

private:
    std::shared_ptr<const DiffusionTarget> target_, reference_;
};

}  // namespace

std::unique_ptr<DiffusionTarget> make_constraint_target(std::shared_ptr<const DiffusionTarget> target,
                                                        std::shared_ptr<const DiffusionTarget> reference) {
    if (!target || !reference) throw std::invalid_argument("make_constraint_target: null target or reference");
    if (target->dim() != reference->dim())
        throw std::invalid_argument("constraint " + target->name() + "/" + reference->name() +
                                    ": the densities have different dimensions (" + std::to_string(target->dim()) +
                                    " and " + std::to_string(reference->dim()) + ")");
    return std::make_unique<ConstraintTarget>(std::move(target), std::move(reference));
}

const char* diffusion_target_names() { return "gmm25, posterior9, funnel, funnel_hard, manywell"; }

std::unique_ptr<DiffusionTarget> make_funnel(double s, int dim) {
    if (!(std::isfinite(s) && s > 0.0) || dim < 2)
        throw std::invalid_argument("make_funnel: need s > 0 and dim >= 2 (got s = " + std::to_string(s) +
                                    ", dim = " + std::to_string(dim) + ")");
    // named as --target names it when it is one of the two presets, else by its settings
    const std::string name = dim == 10 && s == 1.0   ? "funnel"
                             : dim == 10 && s == 3.0 ? "funnel_hard"
                                                     : "funnel(s=" + num_str(s) + ", d=" + std::to_string(dim) + ")";
    return std::make_unique<Funnel>(name, s, dim);
}

std::unique_ptr<DiffusionTarget> make_diffusion_target(const std::string& name) {
    if (name == "gmm25") return make_gmm25();
    if (name == "posterior9") return make_posterior9();
    if (name == "funnel") return make_funnel(1.0, 10);
    if (name == "funnel_hard") return make_funnel(3.0, 10);
    if (name == "manywell") return std::make_unique<ManyWell>();
    throw std::invalid_argument("--target: unknown diffusion target '" + name + "' (known: " +
                                std::string(diffusion_target_names()) + ")");
}

}  // namespace gfn
