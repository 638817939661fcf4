// test_diffusion_targets.cpp — the diffusion sampler's target densities (envs/diffusion_targets.h,
// SPEC.md §9).
//
// Log-densities against values worked out in the test from the formulas (single-component
// limits, the mixture summed directly in long double); log Z against quadrature; the exact
// samplers against the densities: mode histograms by χ², moments within 5 standard
// deviations, the many-well x_1 by a Kolmogorov–Smirnov test against the CDF from quadrature.
// Statistical bounds are far in the tail (p < 10⁻³) at fixed seeds.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/random.h"
#include "envs/diffusion_targets.h"

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
    BOOST_CHECK(make_diffusion_target("manywell")->mode_weights().empty());
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

BOOST_AUTO_TEST_SUITE_END()
