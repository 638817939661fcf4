// test_random.cpp — the PCG32 generator and categorical sampling.
//
// Statistical checks use bounds of 5 standard deviations: loose enough never
// to fail by chance with these fixed seeds, tight enough to catch a biased
// sampler (an off-by-one in the inverse CDF shifts a count by thousands of sigma).
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

#include "engine/random.h"

using namespace gfn;

namespace {

const float kInf = std::numeric_limits<float>::infinity();

// Counts of sample_categorical over n_draws, checked against probabilities p:
// each count within 5 sigma of its binomial mean, and Pearson's χ² below a
// bound far in the tail for its degrees of freedom.
void check_frequencies(const std::vector<float>& logp, const std::vector<double>& p, int n_draws, uint64_t seed) {
    Rng rng(seed);
    std::vector<long> count(logp.size(), 0);
    for (int i = 0; i < n_draws; ++i) {
        int j = sample_categorical(rng, logp.data(), int(logp.size()));
        BOOST_REQUIRE(j >= 0 && j < int(logp.size()));
        ++count[size_t(j)];
    }
    double chi2 = 0.0;
    int dof = -1;
    for (size_t j = 0; j < p.size(); ++j) {
        const double mean = n_draws * p[j];
        if (p[j] == 0.0) {
            BOOST_CHECK_MESSAGE(count[j] == 0, "outcome " << j << " has probability 0 but was drawn " << count[j]
                                                           << " times");
            continue;
        }
        const double sigma = std::sqrt(n_draws * p[j] * (1.0 - p[j]));
        BOOST_CHECK_MESSAGE(std::fabs(count[j] - mean) <= 5.0 * sigma + 1e-9,
                            "outcome " << j << ": " << count[j] << " draws, expected " << mean << " ± " << sigma);
        chi2 += (count[j] - mean) * (count[j] - mean) / mean;
        ++dof;
    }
    // P(χ²_dof > 20 + 4·dof) < 1e-4 for dof <= 10.
    BOOST_CHECK_MESSAGE(chi2 < 20.0 + 4.0 * dof, "chi-square " << chi2 << " with " << dof << " degrees of freedom");
}

}  // namespace

// The suite's namespace `random` would clash with ::random() from <stdlib.h>,
// so it lives inside one of its own; the suite is still called `random`.
namespace random_tests {

BOOST_AUTO_TEST_SUITE(random)

BOOST_AUTO_TEST_CASE(pcg32_reference_output) {
    // pcg32-demo from pcg-random.org: pcg32_srandom_r(&rng, 42u, 54u), first outputs.
    Rng rng(42u, 54u);
    const uint32_t expect[] = {0xa15c02b7u, 0x7b47f409u, 0xba1d3330u, 0x83d2f293u, 0xbfa4784bu, 0xcbed606eu};
    for (uint32_t e : expect) BOOST_CHECK_EQUAL(rng.next_u32(), e);
}

BOOST_AUTO_TEST_CASE(same_seed_same_stream) {
    Rng a(1234), b(1234);
    for (int i = 0; i < 1000; ++i) BOOST_REQUIRE_EQUAL(a.next_u32(), b.next_u32());
    // seed_with restarts the stream.
    Rng c(1234);
    std::vector<uint32_t> first;
    for (int i = 0; i < 10; ++i) first.push_back(c.next_u32());
    c.seed_with(1234);
    for (uint32_t x : first) BOOST_CHECK_EQUAL(c.next_u32(), x);
    // The state is two integers: copying them resumes the stream exactly (checkpoints).
    Rng d(99);
    for (int i = 0; i < 17; ++i) d.next_u32();
    Rng e(0);
    e.state = d.state;
    e.inc = d.inc;
    for (int i = 0; i < 100; ++i) BOOST_REQUIRE_EQUAL(d.uniform(), e.uniform());
}

BOOST_AUTO_TEST_CASE(different_seeds_differ) {
    // Independent 32-bit streams agree at a position with probability 2⁻³².
    auto agreements = [](Rng a, Rng b) {
        int same = 0;
        for (int i = 0; i < 1000; ++i) same += a.next_u32() == b.next_u32();
        return same;
    };
    BOOST_CHECK_LE(agreements(Rng(1), Rng(2)), 1);
    BOOST_CHECK_LE(agreements(Rng(42), Rng(43)), 1);
    BOOST_CHECK_LE(agreements(Rng(0), Rng(1ull << 40)), 1);
    // Same seed, different stream.
    BOOST_CHECK_LE(agreements(Rng(7, 1), Rng(7, 2)), 1);
}

BOOST_AUTO_TEST_CASE(uniform_range_and_moments) {
    Rng rng(2024);
    const int n = 100000;
    double s = 0.0, s2 = 0.0, sd = 0.0;
    float lo = 1.f, hi = 0.f;
    for (int i = 0; i < n; ++i) {
        float u = rng.uniform();
        BOOST_REQUIRE(u >= 0.f && u < 1.f);
        lo = std::min(lo, u);
        hi = std::max(hi, u);
        s += u;
        s2 += double(u) * u;
        double d = rng.uniform_double();
        BOOST_REQUIRE(d >= 0.0 && d < 1.0);
        sd += d;
    }
    // U(0,1): mean 1/2, variance 1/12; the mean of n draws has sd √(1/12n) = 9.1e-4.
    const double se = std::sqrt(1.0 / 12.0 / n);
    BOOST_CHECK_LE(std::fabs(s / n - 0.5), 5 * se);
    BOOST_CHECK_LE(std::fabs(sd / n - 0.5), 5 * se);
    BOOST_CHECK_CLOSE(s2 / n - (s / n) * (s / n), 1.0 / 12.0, 2.0);  // within 2%
    BOOST_CHECK_LT(lo, 1e-3f);
    BOOST_CHECK_GT(hi, 1.f - 1e-3f);
    // uniform(lo, hi) stays in [lo, hi).
    for (int i = 0; i < 10000; ++i) {
        float u = rng.uniform(-3.f, 5.f);
        BOOST_REQUIRE(u >= -3.f && u < 5.f);
    }
}

BOOST_AUTO_TEST_CASE(normal_moments) {
    Rng rng(77);
    const int n = 100000;
    double s = 0.0, s2 = 0.0;
    for (int i = 0; i < n; ++i) {
        double z = rng.normal();
        BOOST_REQUIRE(std::isfinite(z));
        s += z;
        s2 += z * z;
    }
    BOOST_CHECK_LE(std::fabs(s / n), 5.0 / std::sqrt(double(n)));
    BOOST_CHECK_LE(std::fabs(s2 / n - 1.0), 5.0 * std::sqrt(2.0 / n));
}

BOOST_AUTO_TEST_CASE(below_in_range_and_uniform) {
    Rng rng(5);
    for (int i = 0; i < 1000; ++i) BOOST_REQUIRE_EQUAL(rng.below(1), 0u);
    for (uint32_t n : {2u, 3u, 7u, 1000u, (1u << 31) + 1u, 0xffffffffu})
        for (int i = 0; i < 10000; ++i) BOOST_REQUIRE_LT(rng.below(n), n);
    // below(7): each value within 5 sigma of 1/7 of 70000 draws.
    const int n = 70000;
    std::vector<int> count(7, 0);
    for (int i = 0; i < n; ++i) ++count[rng.below(7)];
    const double sigma = std::sqrt(n * (1.0 / 7) * (6.0 / 7));
    for (int c : count) BOOST_CHECK_LE(std::fabs(c - 10000.0), 5 * sigma);
    // below(2³¹ + 1) must not favour the low half (plain r % n would, by 2:1).
    long low = 0;
    for (int i = 0; i < 20000; ++i) low += rng.below((1u << 31) + 1u) < (1u << 30);
    BOOST_CHECK_LE(std::fabs(low - 10000.0), 5 * std::sqrt(20000 * 0.25));
}

BOOST_AUTO_TEST_CASE(categorical_frequencies_match_probabilities) {
    // 100k draws over 4 outcomes with p = (0.1, 0.2, 0.3, 0.4).
    const std::vector<double> p = {0.1, 0.2, 0.3, 0.4};
    std::vector<float> logp;
    for (double x : p) logp.push_back(float(std::log(x)));
    check_frequencies(logp, p, 100000, 11);
    // Unnormalised log-probabilities give the same distribution: p_j ∝ exp(logp_j).
    std::vector<float> shifted;
    for (float x : logp) shifted.push_back(x + 37.f);
    check_frequencies(shifted, p, 100000, 12);
    for (float& x : shifted) x -= 80.f;
    check_frequencies(shifted, p, 100000, 13);
    // A skewed distribution with a rare outcome.
    const std::vector<double> q = {0.001, 0.989, 0.01};
    std::vector<float> logq;
    for (double x : q) logq.push_back(float(std::log(x)));
    check_frequencies(logq, q, 100000, 14);
}

BOOST_AUTO_TEST_CASE(categorical_never_samples_minus_infinity) {
    // −inf at the start, middle and end; the valid ones are equally likely.
    const std::vector<float> logp = {-kInf, 0.f, -kInf, 0.f, -kInf};
    check_frequencies(logp, {0.0, 0.5, 0.0, 0.5, 0.0}, 20000, 21);
    // Only one valid entry: always that one, at either end.
    Rng rng(22);
    const float first[] = {-3.f, -kInf, -kInf}, last[] = {-kInf, -kInf, 5.f};
    for (int i = 0; i < 1000; ++i) {
        BOOST_REQUIRE_EQUAL(sample_categorical(rng, first, 3), 0);
        BOOST_REQUIRE_EQUAL(sample_categorical(rng, last, 3), 2);
    }
    // A single outcome.
    const float one[] = {0.f};
    BOOST_CHECK_EQUAL(sample_categorical(rng, one, 1), 0);
}

BOOST_AUTO_TEST_CASE(categorical_all_minus_infinity_throws) {
    Rng rng(31);
    const float none[] = {-kInf, -kInf, -kInf};
    BOOST_CHECK_THROW(sample_categorical(rng, none, 3), std::invalid_argument);
    BOOST_CHECK_THROW(sample_categorical(rng, none, 0), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(categorical_same_seed_same_samples) {
    const float logp[] = {-1.f, -0.5f, -2.f, -kInf, -0.1f};
    Rng a(8), b(8);
    for (int i = 0; i < 1000; ++i) BOOST_REQUIRE_EQUAL(sample_categorical(a, logp, 5), sample_categorical(b, logp, 5));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace random_tests

// ===========================================================================
// Gamma and Beta sampling (the Beta-mixture policies draw through these).
// KS tests compare with closed-form CDFs at the 0.1% critical value 1.9495/√n
// and check that a nearby wrong CDF is rejected by the same draws.

namespace random_tests {

namespace {

// Kolmogorov–Smirnov statistic D = sup |F_n − F|.
double ks_statistic(std::vector<double> x, double (*cdf)(double)) {
    std::sort(x.begin(), x.end());
    const double n = double(x.size());
    double D = 0.0;
    for (size_t i = 0; i < x.size(); ++i) {
        const double F = cdf(x[i]);
        D = std::max(D, std::max(F - double(i) / n, double(i + 1) / n - F));
    }
    return D;
}

std::vector<double> draws(int n, uint64_t seed, double (*draw)(Rng&)) {
    Rng rng(seed);
    std::vector<double> x(static_cast<size_t>(n));
    for (double& v : x) v = draw(rng);
    return x;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(random)

BOOST_AUTO_TEST_CASE(gamma_moments) {
    // Gamma(α, 1): mean α, variance α. Sample mean within 5·√(α/n); sample variance
    // within 5 standard errors √((μ₄ − α²)/n) = √((2α² + 6α)/n) (μ₄ = 3α² + 6α).
    const int n = 40000;
    for (double alpha : {0.3, 1.0, 2.5, 10.0}) {
        Rng rng(uint64_t(alpha * 1000) + 5);
        double s = 0.0, s2 = 0.0;
        for (int i = 0; i < n; ++i) {
            const double x = sample_gamma(rng, alpha);
            BOOST_REQUIRE(x >= 0.0 && std::isfinite(x));
            s += x;
            s2 += x * x;
        }
        const double mean = s / n, var = s2 / n - mean * mean;
        BOOST_CHECK_MESSAGE(std::fabs(mean - alpha) <= 5 * std::sqrt(alpha / n),
                            "Gamma(" << alpha << "): mean " << mean);
        BOOST_CHECK_MESSAGE(std::fabs(var - alpha) <= 5 * std::sqrt((2 * alpha * alpha + 6 * alpha) / n),
                            "Gamma(" << alpha << "): variance " << var);
    }
}

BOOST_AUTO_TEST_CASE(gamma_ks) {
    // Gamma(1) = Exp(1): F = 1 − e^{−x}; Gamma(2): F = 1 − e^{−x}(1 + x).
    const int n = 20000;
    const double crit = 1.9495 / std::sqrt(double(n));
    auto exp1 = [](double x) { return 1.0 - std::exp(-x); };
    auto gamma2 = [](double x) { return 1.0 - std::exp(-x) * (1.0 + x); };
    std::vector<double> g1 = draws(n, 41, [](Rng& r) { return sample_gamma(r, 1.0); });
    std::vector<double> g2 = draws(n, 43, [](Rng& r) { return sample_gamma(r, 2.0); });
    BOOST_CHECK_LT(ks_statistic(g1, exp1), crit);
    BOOST_CHECK_LT(ks_statistic(g2, gamma2), crit);
    BOOST_CHECK_GT(ks_statistic(g1, gamma2), crit);  // negative check: the wrong shape is rejected
    BOOST_CHECK_GT(ks_statistic(g2, exp1), crit);
}

BOOST_AUTO_TEST_CASE(beta_ks) {
    // Closed-form CDFs: Beta(0.3, 1): r^0.3 (the α < 1 boost); Beta(½, ½): (2/π) asin √r;
    // Beta(1, 2.5): 1 − (1 − r)^2.5; Beta(4, 1): r⁴. Negative check: Beta(0.3, 1)
    // draws against r^0.35 (sup |r^0.3 − r^0.35| = 0.057 at r ≈ 0.046) are rejected.
    const int n = 20000;
    const double crit = 1.9495 / std::sqrt(double(n));
    std::vector<double> a = draws(n, 51, [](Rng& r) { return sample_beta(r, 0.3, 1.0); });
    std::vector<double> b = draws(n, 53, [](Rng& r) { return sample_beta(r, 0.5, 0.5); });
    std::vector<double> c = draws(n, 55, [](Rng& r) { return sample_beta(r, 1.0, 2.5); });
    std::vector<double> d = draws(n, 57, [](Rng& r) { return sample_beta(r, 4.0, 1.0); });
    for (const std::vector<double>* x : {&a, &b, &c, &d})
        for (double v : *x) BOOST_REQUIRE(v >= 0.0 && v <= 1.0);
    const double Da = ks_statistic(a, [](double r) { return std::pow(r, 0.3); });
    const double Db = ks_statistic(b, [](double r) { return 2.0 / 3.14159265358979323846 * std::asin(std::sqrt(r)); });
    const double Dc = ks_statistic(c, [](double r) { return 1.0 - std::pow(1.0 - r, 2.5); });
    const double Dd = ks_statistic(d, [](double r) { return std::pow(r, 4.0); });
    BOOST_TEST_MESSAGE("Beta KS: " << Da << " " << Db << " " << Dc << " " << Dd << " (critical " << crit << ")");
    BOOST_CHECK_LT(Da, crit);
    BOOST_CHECK_LT(Db, crit);
    BOOST_CHECK_LT(Dc, crit);
    BOOST_CHECK_LT(Dd, crit);
    BOOST_CHECK_GT(ks_statistic(a, [](double r) { return std::pow(r, 0.35); }), crit);
}

BOOST_AUTO_TEST_CASE(gamma_beta_tiny_shapes_and_errors) {
    // Gamma(10⁻³) draws underflow double as x but not as log x; Beta(10⁻³, 10⁻³)
    // puts its mass at the ends but stays in [0, 1].
    Rng rng(61);
    for (int i = 0; i < 1000; ++i) {
        const double lx = sample_log_gamma(rng, 1e-3);
        BOOST_REQUIRE(std::isfinite(lx));
        const double r = sample_beta(rng, 1e-3, 1e-3);
        BOOST_REQUIRE(r >= 0.0 && r <= 1.0);
    }
    for (double bad : {0.0, -1.0, std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()}) {
        BOOST_CHECK_THROW(sample_log_gamma(rng, bad), std::invalid_argument);
        BOOST_CHECK_THROW(sample_beta(rng, bad, 1.0), std::invalid_argument);
        BOOST_CHECK_THROW(sample_beta(rng, 1.0, bad), std::invalid_argument);
    }
    Rng x(9), y(9);
    for (int i = 0; i < 100; ++i) BOOST_REQUIRE_EQUAL(sample_beta(x, 0.7, 2.0), sample_beta(y, 0.7, 2.0));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace random_tests
