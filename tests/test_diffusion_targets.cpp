// test_diffusion_targets.cpp — the diffusion sampler's target densities (envs/diffusion_targets.h,
// SPEC.md §9).
//
// Log-densities against values worked out in the test from the formulas (single-component
// limits, the mixture summed directly in long double); log Z against quadrature; the exact
// samplers against the densities: mode histograms by χ², moments within 5 standard
// deviations, the many-well x_1 by a Kolmogorov–Smirnov test against the CDF from quadrature.
// Statistical bounds are far in the tail (p < 10⁻³) at fixed seeds. Gradients of log R
// against hand-worked values and against central differences of double-precision log R
// written here; the base class's finite-difference fallback against an analytic gradient.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/random.h"
#include "envs/diffusion_targets.h"
#include "gfn/validation/diffusion_validation.h"

using namespace gfn;

namespace {

const double kLog2Pi = std::log(2.0 * M_PI);

double log_density_at(const DiffusionTarget& t, const std::vector<float>& x) {
    float out = 0.f;
    t.log_density(x.data(), 1, &out);
    return double(out);
}

// p(x) = Σ_k w_k (2π·0.3)^{−1} exp(−|x − μ_k|² / 0.6), summed directly.
double direct_mixture_log_density(const std::vector<float>& means, const std::vector<double>& weights, double x0,
                                  double x1) {
    long double p = 0.0L;
    for (size_t k = 0; k < weights.size(); ++k) {
        const long double d0 = x0 - means[2 * k], d1 = x1 - means[2 * k + 1];
        p += weights[k] / (2.0L * M_PI * 0.3L) * std::exp(-(d0 * d0 + d1 * d1) / 0.6L);
    }
    return double(std::log(p));
}

// ∫∫ exp(log R) over [−b, b]² by the midpoint rule with step h (spectrally accurate for
// smooth integrands that vanish at the border).
double grid_mass_2d(const DiffusionTarget& t, double b, double h) {
    const int m = int(std::lround(2.0 * b / h));
    std::vector<float> pts(size_t(m) * 2);
    std::vector<float> lp(static_cast<size_t>(m));
    double total = 0.0;
    for (int i = 0; i < m; ++i) {
        for (int j = 0; j < m; ++j) {
            pts[2 * size_t(j)] = float(-b + (i + 0.5) * h);
            pts[2 * size_t(j) + 1] = float(-b + (j + 0.5) * h);
        }
        t.log_density(pts.data(), m, lp.data());
        for (float v : lp) total += std::exp(double(v));
    }
    return total * h * h;
}

// Nearest-mean counts of n 2-D samples; Pearson's χ² against the weights.
double mode_chi_square(const std::vector<float>& xs, int n, const std::vector<float>& means,
                       const std::vector<double>& weights) {
    std::vector<long> count(weights.size(), 0);
    for (int i = 0; i < n; ++i) {
        size_t best = 0;
        double best_d = INFINITY;
        for (size_t k = 0; k < weights.size(); ++k) {
            const double d0 = xs[2 * size_t(i)] - means[2 * k], d1 = xs[2 * size_t(i) + 1] - means[2 * k + 1];
            if (d0 * d0 + d1 * d1 < best_d) best_d = d0 * d0 + d1 * d1, best = k;
        }
        ++count[best];
    }
    double chi2 = 0.0;
    for (size_t k = 0; k < weights.size(); ++k) {
        const double e = n * weights[k];
        chi2 += (count[k] - e) * (count[k] - e) / e;
    }
    return chi2;
}

double phi_well(double x) { return -x * x * x * x + 6.0 * x * x + 0.5 * x; }

// Composite Simpson of exp(φ) over [a, b] with n (even) intervals.
double simpson_well(double a, double b, int n) {
    const double h = (b - a) / n;
    double s = std::exp(phi_well(a)) + std::exp(phi_well(b));
    for (int i = 1; i < n; ++i) s += (i % 2 ? 4.0 : 2.0) * std::exp(phi_well(a + i * h));
    return s * h / 3.0;
}

// Kolmogorov–Smirnov distance of sorted samples to a CDF.
template <class Cdf>
double ks_distance(std::vector<double> xs, Cdf cdf) {
    std::sort(xs.begin(), xs.end());
    const double n = double(xs.size());
    double d = 0.0;
    for (size_t i = 0; i < xs.size(); ++i) {
        const double f = cdf(xs[i]);
        d = std::max(d, std::max(std::fabs(f - i / n), std::fabs((i + 1) / n - f)));
    }
    return d;
}

std::vector<float> gradient_at(const DiffusionTarget& t, const std::vector<float>& x) {
    std::vector<float> g(x.size(), 0.f);
    t.log_density_gradient(x.data(), 1, g.data());
    return g;
}

// Double-precision references of log R (up to constants, which differences cancel).
// Isotropic mixture of variance 0.3: logsumexp_k [log w_k − |x − μ_k|²/0.6].
double mixture_log_density_double(const DiffusionTarget& t, const std::vector<double>& x) {
    const std::vector<float> means = t.mode_means();
    const std::vector<double> w = t.mode_weights();
    std::vector<double> terms(w.size());
    double m = -INFINITY;
    for (size_t k = 0; k < w.size(); ++k) {
        const double d0 = x[0] - means[2 * k], d1 = x[1] - means[2 * k + 1];
        terms[k] = std::log(w[k]) - (d0 * d0 + d1 * d1) / 0.6;
        m = std::max(m, terms[k]);
    }
    double s = 0.0;
    for (double v : terms) s += std::exp(v - m);
    return m + std::log(s);
}

// Funnel: −x_0²/(2s²) + Σ_{i>=1} (−x_0/2 − ½ x_i² e^{−x_0})
double funnel_log_density_double(double s, const std::vector<double>& x) {
    double lp = -0.5 * x[0] * x[0] / (s * s);
    for (size_t i = 1; i < x.size(); ++i) lp += -0.5 * x[0] - 0.5 * x[i] * x[i] * std::exp(-x[0]);
    return lp;
}

// Many-well: Σ_b φ(x_{2b}) − ½ x_{2b+1}²
double manywell_log_density_double(const std::vector<double>& x) {
    double lp = 0.0;
    for (size_t b = 0; 2 * b < x.size(); ++b) lp += phi_well(x[2 * b]) - 0.5 * x[2 * b + 1] * x[2 * b + 1];
    return lp;
}

// t.log_density_gradient at the n points xs (n, dim) against central differences of the
// double log R with step h = 10⁻⁵·max(1, |x_j|) (truncation ≈ h²·|∂³ log R|/6 and rounding
// ≈ 10⁻¹⁶·|log R|/h, both < 10⁻⁸ here): |g − g_ref| <= 10⁻³·|g_ref| + 10⁻⁵ per component.
void check_gradient_against_double(const DiffusionTarget& t, const std::vector<float>& xs, int n,
                                   const std::function<double(const std::vector<double>&)>& log_r) {
    const int d = t.dim();
    std::vector<float> g(xs.size(), 0.f);
    t.log_density_gradient(xs.data(), n, g.data());
    int bad = 0;
    for (int i = 0; i < n; ++i) {
        const std::vector<double> x(xs.begin() + size_t(i) * size_t(d), xs.begin() + size_t(i + 1) * size_t(d));
        for (int j = 0; j < d; ++j) {
            const double h = 1e-5 * std::max(1.0, std::fabs(x[size_t(j)]));
            std::vector<double> plus = x, minus = x;
            plus[size_t(j)] += h;
            minus[size_t(j)] -= h;
            const double want = (log_r(plus) - log_r(minus)) / (2.0 * h);
            const double got = g[size_t(i) * size_t(d) + size_t(j)];
            if (!(std::fabs(got - want) <= 1e-3 * std::fabs(want) + 1e-5) && bad++ < 5)
                BOOST_ERROR(t.name() << ": point " << i << ", d/dx_" << j << " = " << got << ", central difference "
                                     << want);
        }
    }
    BOOST_CHECK_MESSAGE(bad == 0, t.name() << ": " << bad << " gradient components off");
}

// A target with log_density only (the base class's finite-difference gradient):
// N(c, σ²·I) in 3-D, c = (1, −2, 30), σ² = 0.5, so ∇ log R = (c − x)/σ².
class GaussianWithoutGradient : public DiffusionTarget {
public:
    std::string name() const override { return "gaussian"; }
    int dim() const override { return 3; }
    void log_density(const float* xs, int n, float* out) const override {
        for (int i = 0; i < n; ++i) {
            double sq = 0.0;
            for (int j = 0; j < 3; ++j) {
                const double d = double(xs[3 * i + j]) - kCentre[j];
                sq += d * d;
            }
            out[i] = float(-sq / (2.0 * kVariance) - 1.5 * std::log(2.0 * M_PI * kVariance));
        }
    }
    double log_partition() const override { return 0.0; }
    void sample(Rng& rng, int n, float* out) const override {
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < 3; ++j) out[3 * i + j] = float(kCentre[j] + std::sqrt(kVariance) * rng.normal());
    }
    static constexpr double kCentre[3] = {1.0, -2.0, 30.0};
    static constexpr double kVariance = 0.5;
};

std::string message_of(const std::string& name) {
    try {
        make_diffusion_target(name);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(diffusion_targets)

BOOST_AUTO_TEST_CASE(names_dimensions_and_bad_names) {
    const char* names[] = {"gmm25", "posterior9", "funnel", "funnel_hard", "manywell"};
    const int dims[] = {2, 2, 10, 10, 32};
    for (int k = 0; k < 5; ++k) {
        auto t = make_diffusion_target(names[k]);
        BOOST_CHECK_EQUAL(t->name(), names[k]);
        BOOST_CHECK_EQUAL(t->dim(), dims[k]);
        BOOST_CHECK(std::string(diffusion_target_names()).find(names[k]) != std::string::npos);
    }
    const std::string m = message_of("gmm26");
    BOOST_CHECK(m.find("--target") != std::string::npos);
    BOOST_CHECK(m.find("gmm26") != std::string::npos);
    BOOST_CHECK(m.find("manywell") != std::string::npos);
    BOOST_CHECK_THROW(make_funnel(0.0, 10), std::invalid_argument);
    BOOST_CHECK_THROW(make_funnel(1.0, 1), std::invalid_argument);
    // a funnel is named by its settings unless it is one of --target's presets
    BOOST_CHECK_EQUAL(make_funnel(2.0, 5)->name(), "funnel(s=2, d=5)");
    BOOST_CHECK_EQUAL(make_funnel(1.0, 2)->name(), "funnel(s=1, d=2)");
    BOOST_CHECK_EQUAL(make_funnel(1.0, 10)->name(), "funnel");
    BOOST_CHECK_EQUAL(make_funnel(3.0, 10)->name(), "funnel_hard");
    BOOST_CHECK_EQUAL(make_diffusion_target("gmm25")->plot_border(), 15.0);
    BOOST_CHECK_EQUAL(make_diffusion_target("funnel")->plot_border(), 0.0);
}

BOOST_AUTO_TEST_CASE(modes_of_the_mixtures) {
    auto g = make_diffusion_target("gmm25");
    std::vector<float> m = g->mode_means();
    std::vector<double> w = g->mode_weights();
    BOOST_REQUIRE_EQUAL(m.size(), 50u);
    BOOST_REQUIRE_EQUAL(w.size(), 25u);
    for (int a = 0; a < 5; ++a)
        for (int b = 0; b < 5; ++b) {
            BOOST_CHECK_EQUAL(m[2 * size_t(5 * a + b)], -10.f + 5.f * a);
            BOOST_CHECK_EQUAL(m[2 * size_t(5 * a + b) + 1], -10.f + 5.f * b);
            BOOST_CHECK_CLOSE(w[size_t(5 * a + b)], 1.0 / 25.0, 1e-12);
        }
    // torchgfn's Posterior9of25GaussianMixture, in its order.
    auto p = make_diffusion_target("posterior9");
    const std::vector<float> want_m = {-10, -5, -5, -10, -5, 0, 10, -5, 0, 0, 0, 5, 5, -5, 5, 0, 5, 10};
    const double want_w[] = {4, 10, 4, 5, 10, 5, 4, 15, 4};
    BOOST_TEST(p->mode_means() == want_m, boost::test_tools::per_element());
    BOOST_REQUIRE_EQUAL(p->mode_weights().size(), 9u);
    for (size_t k = 0; k < 9; ++k) BOOST_CHECK_CLOSE(p->mode_weights()[k], want_w[k] / 61.0, 1e-12);
    BOOST_CHECK(make_diffusion_target("funnel")->mode_means().empty());
}

BOOST_AUTO_TEST_CASE(hand_worked_mixture_log_densities) {
    auto g = make_diffusion_target("gmm25");
    auto p = make_diffusion_target("posterior9");
    const double log_peak = -std::log(2.0 * M_PI * 0.3);  // log N(μ; μ, 0.3·I) in 2-D
    // At a mean the other components are >= 5 away: a factor e^{−25/0.6} ≈ 10⁻¹⁸ each.
    BOOST_CHECK_CLOSE(log_density_at(*g, {5.f, -10.f}), std::log(1.0 / 25.0) + log_peak, 1e-4);
    BOOST_CHECK_CLOSE(log_density_at(*p, {5.f, 0.f}), std::log(15.0 / 61.0) + log_peak, 1e-4);
    BOOST_CHECK_CLOSE(log_density_at(*p, {-5.f, -10.f}), std::log(10.0 / 61.0) + log_peak, 1e-4);
    // Halfway between (0,0) and (5,0): two equal components at distance 2.5.
    BOOST_CHECK_CLOSE(log_density_at(*g, {2.5f, 0.f}), std::log(2.0 / 25.0) + log_peak - 6.25 / 0.6, 1e-4);
    // (0,−10) is a gmm25 mean but not a posterior one; its nearest posterior mean is
    // (−5,−10) (weight 10) at distance 5, the next (5,−5) at √50.
    BOOST_CHECK_CLOSE(log_density_at(*p, {0.f, -10.f}), std::log(10.0 / 61.0) + log_peak - 25.0 / 0.6, 1e-4);
    // Anywhere: the mixture summed directly.
    for (const auto& x : std::vector<std::vector<float>>{{0.3f, -1.7f}, {7.4f, 2.2f}, {-12.f, 11.f}, {2.5f, 2.5f}}) {
        BOOST_CHECK_CLOSE(log_density_at(*g, x), direct_mixture_log_density(g->mode_means(), g->mode_weights(), x[0], x[1]),
                          1e-4);
        BOOST_CHECK_CLOSE(log_density_at(*p, x), direct_mixture_log_density(p->mode_means(), p->mode_weights(), x[0], x[1]),
                          1e-4);
    }
    // Far away: finite.
    BOOST_CHECK(std::isfinite(log_density_at(*g, {1e30f, -1e30f})));
}

BOOST_AUTO_TEST_CASE(hand_worked_funnel_and_manywell_log_densities) {
    for (double s : {1.0, 3.0}) {
        auto f = make_diffusion_target(s == 1.0 ? "funnel" : "funnel_hard");
        // x = 0: log N(0; 0, s²) + 9 log N(0; 0, 1)
        std::vector<float> x(10, 0.f);
        BOOST_CHECK_CLOSE(log_density_at(*f, x), -0.5 * kLog2Pi - std::log(s) - 9 * 0.5 * kLog2Pi, 1e-4);
        // x_0 = 2, x_i = 1: log N(2; 0, s²) + 9 log N(1; 0, e²)
        x.assign(10, 1.f);
        x[0] = 2.f;
        const double want = (-0.5 * kLog2Pi - std::log(s) - 2.0 / (s * s)) + 9 * (-0.5 * kLog2Pi - 1.0 - 0.5 * std::exp(-2.0));
        BOOST_CHECK_CLOSE(log_density_at(*f, x), want, 1e-4);
        // Deep in the neck the density underflows float: floored, never NaN.
        x.assign(10, 1.f);
        x[0] = -1000.f;
        BOOST_CHECK_EQUAL(log_density_at(*f, x), double(std::numeric_limits<float>::lowest()));
        x.assign(10, 0.f);
        x[0] = -1000.f;  // x_i = 0: e^{−x_0}·0 is not 0·∞
        BOOST_CHECK_CLOSE(log_density_at(*f, x), -0.5 * kLog2Pi - std::log(s) - 0.5e6 / (s * s) - 9 * 0.5 * kLog2Pi + 4500.0,
                          1e-4);
    }
    auto m = make_diffusion_target("manywell");
    std::vector<float> x(32, 0.f);
    BOOST_CHECK_EQUAL(log_density_at(*m, x), 0.0);
    // every block (1, 2): −1 + 6 + 0.5 − 2 = 3.5
    for (int b = 0; b < 16; ++b) x[2 * size_t(b)] = 1.f, x[2 * size_t(b) + 1] = 2.f;
    BOOST_CHECK_CLOSE(log_density_at(*m, x), 16 * 3.5, 1e-5);
    // one block (−2, 0.5) among zeros: −16 + 24 − 1 − 0.125
    x.assign(32, 0.f);
    x[6] = -2.f, x[7] = 0.5f;
    BOOST_CHECK_CLOSE(log_density_at(*m, x), 6.875, 1e-5);
}

BOOST_AUTO_TEST_CASE(mixture_log_partitions_by_quadrature) {
    // Mass outside [−15, 15]² is e^{−25/0.6}-small; h = 0.05 is 1/11 of a std.
    for (const char* name : {"gmm25", "posterior9"}) {
        auto t = make_diffusion_target(name);
        BOOST_CHECK_EQUAL(t->log_partition(), 0.0);
        BOOST_CHECK_CLOSE(grid_mass_2d(*t, 15.0, 0.05), 1.0, 1e-4);
    }
}

BOOST_AUTO_TEST_CASE(manywell_log_partition_by_quadrature) {
    // ∫ exp(−x⁴ + 6x² + 0.5x) dx over [−6, 6] (the rest < e^{−1000}); two Simpson
    // resolutions agree, and with 11784.50927.
    const double z_fine = simpson_well(-6.0, 6.0, 400000), z_coarse = simpson_well(-6.0, 6.0, 200000);
    BOOST_CHECK_CLOSE(z_fine, z_coarse, 1e-9);
    // (tolerances in percent: 11784.50927 is given to 10 digits, 164.6957 to 7)
    BOOST_CHECK_CLOSE(z_fine, 11784.50927, 1e-6);
    auto m = make_diffusion_target("manywell");
    BOOST_CHECK_CLOSE(m->log_partition(), 16.0 * (std::log(z_fine) + 0.5 * kLog2Pi), 1e-8);
    BOOST_CHECK_CLOSE(m->log_partition(), 164.6957, 5e-5);
    // The target's own density on one block (x_1 varying, the rest 0) integrates to Z_1 too.
    const int n = 12000;
    const double h = 12.0 / n;
    std::vector<float> pts(size_t(n) * 32, 0.f), lp(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) pts[size_t(i) * 32 + 4] = float(-6.0 + (i + 0.5) * h);
    m->log_density(pts.data(), n, lp.data());
    double z = 0.0;
    for (float v : lp) z += std::exp(double(v)) * h;
    BOOST_CHECK_CLOSE(z, z_fine, 1e-3);  // log R in float: relative error ≈ 10 · 6e-8 per point
}

BOOST_AUTO_TEST_CASE(funnel_normalisation_by_quadrature) {
    // d = 2 (x_0, x_1). Easy funnel by the midpoint rule on the plain grid
    // x_0 ∈ [−5, 5] (mass outside ≈ 6e−7), x_1 ∈ [−120, 120] (9.8 stds at x_0 = 5).
    {
        auto f = make_funnel(1.0, 2);
        const double h0 = 0.02, h1 = 0.01;
        const int n0 = 500, n1 = 24000;
        std::vector<float> pts(size_t(n1) * 2), lp(static_cast<size_t>(n1));
        double total = 0.0;
        for (int i = 0; i < n0; ++i) {
            for (int j = 0; j < n1; ++j) {
                pts[2 * size_t(j)] = float(-5.0 + (i + 0.5) * h0);
                pts[2 * size_t(j) + 1] = float(-120.0 + (j + 0.5) * h1);
            }
            f->log_density(pts.data(), n1, lp.data());
            for (float v : lp) total += std::exp(double(v));
        }
        BOOST_CHECK_CLOSE(total * h0 * h1, 1.0, 1e-3);
    }
    // Hard funnel (x_0 std 3: x_1's scale spans e^{±13}): substitute x_1 = e^{x_0/2}·u,
    //     ∫∫ R(x_0, x_1) dx_1 dx_0 = ∫∫ R(x_0, e^{x_0/2} u) e^{x_0/2} du dx_0,
    // x_0 ∈ [−18, 18] (6 stds), u ∈ [−8, 8].
    {
        auto f = make_funnel(3.0, 2);
        const double h0 = 0.02, h1 = 0.02;
        const int n0 = 1800, n1 = 800;
        std::vector<float> pts(size_t(n1) * 2), lp(static_cast<size_t>(n1));
        double total = 0.0;
        for (int i = 0; i < n0; ++i) {
            const double x0 = -18.0 + (i + 0.5) * h0;
            for (int j = 0; j < n1; ++j) {
                pts[2 * size_t(j)] = float(x0);
                pts[2 * size_t(j) + 1] = float(std::exp(0.5 * x0) * (-8.0 + (j + 0.5) * h1));
            }
            f->log_density(pts.data(), n1, lp.data());
            for (float v : lp) total += std::exp(double(v) + 0.5 * x0);
        }
        BOOST_CHECK_CLOSE(total * h0 * h1, 1.0, 1e-3);
    }
}

BOOST_AUTO_TEST_CASE(mixture_samplers_match_the_weights) {
    const int n = 50000;
    for (const char* name : {"gmm25", "posterior9"}) {
        auto t = make_diffusion_target(name);
        Rng rng(11);
        std::vector<float> xs(size_t(n) * 2);
        t->sample(rng, n, xs.data());
        const std::vector<float> means = t->mode_means();
        const std::vector<double> w = t->mode_weights();
        // P(χ²_24 > 60) ≈ 6e−5, P(χ²_8 > 30) ≈ 2e−4.
        const double chi2 = mode_chi_square(xs, n, means, w);
        BOOST_CHECK_MESSAGE(chi2 < (w.size() == 25 ? 60.0 : 30.0), name << ": chi-square " << chi2);
        // Offsets from the nearest mean: mean 0, variance 0.3 per coordinate.
        double s = 0.0, sq = 0.0;
        for (int i = 0; i < n; ++i) {
            for (int j = 0; j < 2; ++j) {
                const double v = xs[2 * size_t(i) + size_t(j)];
                const double off = v - 5.0 * std::round(v / 5.0);
                s += off;
                sq += off * off;
            }
        }
        BOOST_CHECK_SMALL(s / (2 * n), 5.0 * std::sqrt(0.3 / (2 * n)));
        BOOST_CHECK_SMALL(sq / (2 * n) - 0.3, 5.0 * 0.3 * std::sqrt(2.0 / (2 * n)));
        // Same seed, same draws.
        Rng again(11);
        std::vector<float> ys(size_t(n) * 2);
        t->sample(again, n, ys.data());
        BOOST_CHECK(xs == ys);
    }
}

BOOST_AUTO_TEST_CASE(funnel_sampler_moments) {
    const int n = 50000;
    for (double s : {1.0, 3.0}) {
        auto f = make_diffusion_target(s == 1.0 ? "funnel" : "funnel_hard");
        Rng rng(5);
        std::vector<float> xs(size_t(n) * 10);
        f->sample(rng, n, xs.data());
        double m0 = 0.0, v0 = 0.0, mz = 0.0, vz = 0.0, exi2 = 0.0;
        for (int i = 0; i < n; ++i) {
            const float* x = &xs[size_t(i) * 10];
            m0 += x[0];
            v0 += double(x[0]) * x[0];
            double row = 0.0;
            for (int j = 1; j < 10; ++j) {
                const double z = x[j] * std::exp(-0.5 * x[0]);  // x_i / e^{x_0/2} ~ N(0, 1)
                mz += z;
                vz += z * z;
                row += double(x[j]) * x[j];
            }
            exi2 += row / 9.0;
        }
        m0 /= n, v0 /= n, mz /= 9.0 * n, vz /= 9.0 * n, exi2 /= n;
        BOOST_CHECK_SMALL(m0, 5.0 * s / std::sqrt(n));
        BOOST_CHECK_SMALL(v0 - s * s, 5.0 * s * s * std::sqrt(2.0 / n));
        BOOST_CHECK_SMALL(mz, 5.0 / std::sqrt(9.0 * n));
        BOOST_CHECK_SMALL(vz - 1.0, 5.0 * std::sqrt(2.0 / (9.0 * n)));
        if (s == 1.0) {
            // E[x_i²] = E[e^{x_0}] = e^{s²/2}; the row mean of x_i² has variance at most
            // Var(x_i²) = 3e^{2s²} − e^{s²} (≈ 19.5), so 5 sd ≈ 0.1.
            BOOST_CHECK_SMALL(exi2 - std::exp(0.5 * s * s), 5.0 * std::sqrt((3.0 * std::exp(2.0) - std::exp(1.0)) / n));
        }
    }
}

// manywell's modes are counted block by block (diffusion_validation.h): each block's x_1
// in its two wells, the roots of φ'(x) = −4x³ + 12x + 0.5 near ∓√3, each weighted by the
// mass on its side of their midpoint c (by Simpson, here at another resolution); the
// exact sampler's blocks agree.
BOOST_AUTO_TEST_CASE(modes_of_manywell) {
    auto m = make_diffusion_target("manywell");
    const std::vector<float> means = m->mode_means();
    const std::vector<double> w = m->mode_weights();
    const std::vector<int> offsets = m->mode_offsets();
    BOOST_REQUIRE_EQUAL(means.size(), 2u);
    BOOST_REQUIRE_EQUAL(w.size(), 2u);
    BOOST_REQUIRE_EQUAL(offsets.size(), 16u);
    for (int b = 0; b < 16; ++b) BOOST_CHECK_EQUAL(offsets[size_t(b)], 2 * b);
    for (float x : means) BOOST_CHECK_SMALL(-4.0 * x * x * x + 12.0 * x + 0.5, 1e-4);
    BOOST_CHECK(means[0] < -1.6f && means[0] > -1.8f);
    BOOST_CHECK(means[1] > 1.6f && means[1] < 1.8f);
    const double c = 0.5 * (double(means[0]) + double(means[1]));
    const double left = simpson_well(-6.0, c, 100000), all = simpson_well(-6.0, 6.0, 200000);
    BOOST_CHECK_CLOSE(w[0], left / all, 1e-5);
    BOOST_CHECK_CLOSE(w[0] + w[1], 1.0, 1e-12);
    BOOST_CHECK(w[0] > 0.15 && w[0] < 0.16);
    // 20,000 exact draws: every (block, well) found, and the mean over blocks of
    // |freq − w_L| (sd of freq 0.0026, E|·| ≈ 0.0021) well below 0.005.
    const int n = 20000;
    Rng rng(11);
    std::vector<float> xs(size_t(n) * 32);
    m->sample(rng, n, xs.data());
    const ModeCoverage cov = mode_coverage(xs.data(), n, 32, means, w, offsets);
    BOOST_CHECK_EQUAL(cov.modes_found, 32);
    BOOST_CHECK_LT(cov.mode_tv, 0.005);
}

BOOST_AUTO_TEST_CASE(manywell_sampler_against_the_quadrature_cdf) {
    auto m = make_diffusion_target("manywell");
    const int n = 20000;
    Rng rng(3);
    std::vector<float> xs(size_t(n) * 32);
    m->sample(rng, n, xs.data());
    // F(x) = ∫_{−6}^x exp(φ) / Z_1, tabulated by the trapezoid rule at step 10⁻⁴ and interpolated.
    const int g = 120000;
    const double h = 12.0 / g;
    std::vector<double> cdf(size_t(g) + 1, 0.0);
    for (int k = 1; k <= g; ++k)
        cdf[size_t(k)] = cdf[size_t(k) - 1] +
                         0.5 * h * (std::exp(phi_well(-6.0 + (k - 1) * h)) + std::exp(phi_well(-6.0 + k * h)));
    for (double& c : cdf) c /= cdf.back();
    auto F = [&](double x) {
        const double u = (x + 6.0) / h;
        if (u <= 0) return 0.0;
        if (u >= g) return 1.0;
        const int k = int(u);
        return cdf[size_t(k)] + (u - k) * (cdf[size_t(k) + 1] - cdf[size_t(k)]);
    };
    auto Phi = [](double x) { return 0.5 * std::erfc(-x / M_SQRT2); };
    // P(√n·D > 2.15) ≈ 1e−4 (Kolmogorov distribution), for x_1 and x_2 of three blocks.
    const double bound = 2.15 / std::sqrt(double(n));
    for (int b : {0, 7, 15}) {
        std::vector<double> x1(static_cast<size_t>(n)), x2(static_cast<size_t>(n));
        for (int i = 0; i < n; ++i) {
            x1[size_t(i)] = xs[size_t(i) * 32 + size_t(2 * b)];
            x2[size_t(i)] = xs[size_t(i) * 32 + size_t(2 * b) + 1];
        }
        const double d1 = ks_distance(x1, F), d2 = ks_distance(x2, Phi);
        BOOST_CHECK_MESSAGE(d1 < bound, "block " << b << " x_1: KS distance " << d1 << " >= " << bound);
        BOOST_CHECK_MESSAGE(d2 < bound, "block " << b << " x_2: KS distance " << d2 << " >= " << bound);
    }
    // Blocks independent: the sign of x_1 (left well ≈ 0.156) uncorrelated across blocks 0, 1.
    double p0 = 0, p1 = 0, p01 = 0;
    for (int i = 0; i < n; ++i) {
        const bool a = xs[size_t(i) * 32] < 0.f, c = xs[size_t(i) * 32 + 2] < 0.f;
        p0 += a, p1 += c, p01 += a && c;
    }
    p0 /= n, p1 /= n, p01 /= n;
    BOOST_CHECK_SMALL(p01 - p0 * p1, 5.0 * std::sqrt(p0 * p1 * (1 - p0 * p1) / n));
    BOOST_CHECK_CLOSE(p0, F(0.0), 100.0 * 5.0 * std::sqrt(F(0.0) * (1 - F(0.0)) / n) / F(0.0));
}

BOOST_AUTO_TEST_CASE(hand_worked_gradients) {
    // Many-well, ∂/∂x_1 = −4x_1³ + 12x_1 + 0.5, ∂/∂x_2 = −x_2 per block:
    //   block 3 at (−2, 0.5):   −4·(−8) + 12·(−2) + 0.5 = 32 − 24 + 0.5 = 8.5;   −0.5
    //   block 5 at (0.5, −1.5): −4·0.125 + 12·0.5 + 0.5 = −0.5 + 6 + 0.5 = 6;    1.5
    //   block 9 at (1, 2):      −4 + 12 + 0.5 = 8.5;                              −2
    //   the other blocks at (0, 0): 0.5; 0
    auto m = make_diffusion_target("manywell");
    std::vector<float> x(32, 0.f);
    x[6] = -2.f, x[7] = 0.5f, x[10] = 0.5f, x[11] = -1.5f, x[18] = 1.f, x[19] = 2.f;
    std::vector<double> want(32, 0.0);
    for (int b = 0; b < 16; ++b) want[2 * size_t(b)] = 0.5;
    want[6] = 8.5, want[7] = -0.5, want[10] = 6.0, want[11] = 1.5, want[18] = 8.5, want[19] = -2.0;
    std::vector<float> g = gradient_at(*m, x);
    for (size_t j = 0; j < 32; ++j) BOOST_CHECK_CLOSE(double(g[j]), want[j], 1e-5);

    // Funnel (s = 1), ∂/∂x_0 = −x_0/s² + Σ_{i>=1} (−½ + ½ x_i² e^{−x_0}), ∂/∂x_i = −x_i e^{−x_0}.
    // x_0 = 0, (x_1, x_2, x_3) = (1, 2, −3), x_4..x_9 = 0:
    //   ∂/∂x_0 = 0 − 9/2 + ½(1 + 4 + 9) = 2.5;  ∂/∂x_i = −x_i = (−1, −2, 3, 0, …, 0)
    auto f = make_diffusion_target("funnel");
    x.assign(10, 0.f);
    x[1] = 1.f, x[2] = 2.f, x[3] = -3.f;
    g = gradient_at(*f, x);
    BOOST_CHECK_CLOSE(double(g[0]), 2.5, 1e-5);
    BOOST_CHECK_CLOSE(double(g[1]), -1.0, 1e-5);
    BOOST_CHECK_CLOSE(double(g[2]), -2.0, 1e-5);
    BOOST_CHECK_CLOSE(double(g[3]), 3.0, 1e-5);
    for (size_t j = 4; j < 10; ++j) BOOST_CHECK_EQUAL(g[j], 0.f);
    // x_0 = 2, x_i = 1 (e^{−2} = 0.1353352832): ∂/∂x_i = −0.1353352832;
    //   s = 1: ∂/∂x_0 = −2 − 4.5 + 4.5·0.1353352832 = −5.8909912256
    //   s = 3: ∂/∂x_0 = −2/9 − 4.5 + 0.6090087745 = −4.1132134477
    x.assign(10, 1.f);
    x[0] = 2.f;
    for (double s : {1.0, 3.0}) {
        g = gradient_at(*make_diffusion_target(s == 1.0 ? "funnel" : "funnel_hard"), x);
        BOOST_CHECK_CLOSE(double(g[0]), s == 1.0 ? -5.8909912256 : -4.1132134477, 1e-5);
        for (size_t j = 1; j < 10; ++j) BOOST_CHECK_CLOSE(double(g[j]), -0.1353352832, 1e-5);
    }
    // make_funnel(2, 3) at (−1, 0.5, −1): e = e^{1} = 2.7182818285;
    //   ∂/∂x_0 = 1/4 − 1 + ½(0.25 + 1)·e = −0.75 + 0.625·e = 0.9489261428
    //   ∂/∂x_1 = −0.5·e = −1.3591409142,  ∂/∂x_2 = e = 2.7182818285
    g = gradient_at(*make_funnel(2.0, 3), {-1.f, 0.5f, -1.f});
    BOOST_CHECK_CLOSE(double(g[0]), 0.9489261428, 1e-5);
    BOOST_CHECK_CLOSE(double(g[1]), -1.3591409142, 1e-5);
    BOOST_CHECK_CLOSE(double(g[2]), 2.7182818285, 1e-5);

    // gmm25, ∇ log R = Σ_k π_k (μ_k − x)/0.3. At the mean (5, −10): every other component
    // is >= 5 away, π <= e^{−25/0.6} ≈ 8e−19 each, so |∇| < 25·8e−19·(20√2/0.3) ≈ 2e−15.
    auto gm = make_diffusion_target("gmm25");
    g = gradient_at(*gm, {5.f, -10.f});
    BOOST_CHECK_SMALL(double(g[0]), 1e-12);
    BOOST_CHECK_SMALL(double(g[1]), 1e-12);
    // (2.5, 0.5) is equidistant from (0, 0) and (5, 0): π = ½ each (the next components,
    // (0, 5) and (5, 5), have d² = 26.5 against 6.5: π ≈ e^{−20/0.6} ≈ 3e−15), so
    //   ∇ = ½ ((0, 0) − x)/0.3 + ½ ((5, 0) − x)/0.3 = ((2.5, 0) − (2.5, 0.5))/0.3 = (0, −5/3).
    g = gradient_at(*gm, {2.5f, 0.5f});
    BOOST_CHECK_SMALL(double(g[0]), 1e-9);
    BOOST_CHECK_CLOSE(double(g[1]), -5.0 / 3.0, 1e-5);
    // posterior9 at its mean (5, 0) (weight 15): nearest other means 5 away, ∇ ≈ 0.
    g = gradient_at(*make_diffusion_target("posterior9"), {5.f, 0.f});
    BOOST_CHECK_SMALL(double(g[0]), 1e-12);
    BOOST_CHECK_SMALL(double(g[1]), 1e-12);
    // The constraint posterior9/gmm25 at (0, −10), a gmm25 mean but not a posterior9 one:
    // ∇ log p_gmm25 ≈ 0 there; posterior9's nearest mean is (−5, −10) at d² = 25 (weight 10),
    // the next (5, −5) at d² = 50 (weight 4): π ≈ 0.4·e^{−25/0.6} ≈ 3e−19, so
    //   ∇ log r ≈ ((−5, −10) − (0, −10))/0.3 = (−50/3, 0).
    std::shared_ptr<const DiffusionTarget> post9 = make_diffusion_target("posterior9"), gmm25 = std::move(gm);
    auto c = make_constraint_target(post9, gmm25);
    g = gradient_at(*c, {0.f, -10.f});
    BOOST_CHECK_CLOSE(double(g[0]), -50.0 / 3.0, 1e-5);
    BOOST_CHECK_SMALL(double(g[1]), 1e-9);
}

BOOST_AUTO_TEST_CASE(gradients_far_out_are_finite) {
    const float big = std::numeric_limits<float>::max();
    // Deep in the funnel's neck, x_i e^{−x_0} = e^{1000} overflows even double: clamped.
    std::vector<float> x(10, 1.f);
    x[0] = -1000.f;
    x[2] = -1.f;
    std::vector<float> g = gradient_at(*make_diffusion_target("funnel"), x);
    BOOST_CHECK_EQUAL(g[0], big);
    BOOST_CHECK_EQUAL(g[1], -big);
    BOOST_CHECK_EQUAL(g[2], big);
    // x_i = 0 there: no 0·∞; ∂/∂x_0 = 1000 − 9/2 = 995.5, ∂/∂x_i = 0.
    x.assign(10, 0.f);
    x[0] = -1000.f;
    g = gradient_at(*make_diffusion_target("funnel"), x);
    BOOST_CHECK_CLOSE(double(g[0]), 995.5, 1e-5);
    for (size_t j = 1; j < 10; ++j) BOOST_CHECK_EQUAL(g[j], 0.f);
    // Huge x: −4x³ and (μ − x)/0.3 overflow float; clamped, never inf or NaN.
    x.assign(32, big);
    g = gradient_at(*make_diffusion_target("manywell"), x);
    for (size_t j = 0; j < 32; j += 2) BOOST_CHECK_EQUAL(g[j], -big);
    for (size_t j = 1; j < 32; j += 2) BOOST_CHECK_EQUAL(g[j], -big);
    for (const char* name : {"gmm25", "posterior9"}) {
        g = gradient_at(*make_diffusion_target(name), {big, -1e30f});
        BOOST_CHECK_EQUAL(g[0], -big);
        BOOST_CHECK_CLOSE(double(g[1]), 1e30 / 0.3, 1e-4);
    }
    auto c = make_constraint_target(make_diffusion_target("posterior9"), make_diffusion_target("gmm25"));
    g = gradient_at(*c, {big, big});
    BOOST_CHECK(std::isfinite(g[0]) && std::isfinite(g[1]));
}

BOOST_AUTO_TEST_CASE(gradients_against_double_central_differences) {
    // 20 points from each target's own sampler.
    const int n = 20;
    for (const char* name : {"gmm25", "posterior9"}) {
        auto t = make_diffusion_target(name);
        Rng rng(21);
        std::vector<float> xs(size_t(n) * 2);
        t->sample(rng, n, xs.data());
        check_gradient_against_double(*t, xs, n, [&](const std::vector<double>& x) {
            return mixture_log_density_double(*t, x);
        });
    }
    for (double s : {1.0, 3.0}) {
        auto t = make_diffusion_target(s == 1.0 ? "funnel" : "funnel_hard");
        Rng rng(22);
        std::vector<float> xs(size_t(n) * 10);
        t->sample(rng, n, xs.data());
        check_gradient_against_double(*t, xs, n, [&](const std::vector<double>& x) {
            return funnel_log_density_double(s, x);
        });
    }
    {
        // Another s and dimension.
        auto t = make_funnel(0.5, 3);
        Rng rng(23);
        std::vector<float> xs(size_t(n) * 3);
        t->sample(rng, n, xs.data());
        check_gradient_against_double(*t, xs, n, [&](const std::vector<double>& x) {
            return funnel_log_density_double(0.5, x);
        });
    }
    {
        auto t = make_diffusion_target("manywell");
        Rng rng(24);
        std::vector<float> xs(size_t(n) * 32);
        t->sample(rng, n, xs.data());
        check_gradient_against_double(*t, xs, n, manywell_log_density_double);
    }
    // The constraint posterior9/gmm25 at posterior9's samples, and at points between the
    // modes where the two gradients differ by O(1).
    {
        std::shared_ptr<const DiffusionTarget> post9 = make_diffusion_target("posterior9"),
                                               gmm25 = make_diffusion_target("gmm25");
        auto c = make_constraint_target(post9, gmm25);
        Rng rng(25);
        std::vector<float> xs(size_t(n) * 2);
        post9->sample(rng, n, xs.data());
        for (float v : {2.5f, 2.5f, -7.f, 3.f, 0.f, -10.f, 1.f, -2.f, 6.f, 7.5f}) xs.push_back(v);
        check_gradient_against_double(*c, xs, n + 5, [&](const std::vector<double>& x) {
            return mixture_log_density_double(*post9, x) - mixture_log_density_double(*gmm25, x);
        });
    }
}

BOOST_AUTO_TEST_CASE(default_gradient_is_central_differences) {
    // The base class's fallback on a target without an analytic gradient, against
    // (c − x)/σ² (x_3 ≈ 30 takes the relative step h = 0.03). log R is quadratic, so central
    // differences have no truncation error; float log R (|log R| ≈ 3) leaves ≈ 10⁻⁵.
    GaussianWithoutGradient t;
    const int n = 20;
    Rng rng(26);
    std::vector<float> xs(size_t(n) * 3), g(size_t(n) * 3);
    t.sample(rng, n, xs.data());
    t.log_density_gradient(xs.data(), n, g.data());
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < 3; ++j) {
            const double want = (GaussianWithoutGradient::kCentre[j] - double(xs[size_t(3 * i + j)])) /
                                GaussianWithoutGradient::kVariance;
            BOOST_CHECK_SMALL(double(g[size_t(3 * i + j)]) - want, 1e-2 * (1.0 + std::fabs(want)));
        }
}

BOOST_AUTO_TEST_SUITE_END()
