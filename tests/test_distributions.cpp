// test_distributions.cpp — the policy distributions of engine/distributions.h.
//
// For each variant: log_prob against hand-worked values, its gradient to the
// parameters against central differences (tests/gradcheck.h), a numerical
// integral (or sum) of exp(log_prob) over the support equal to 1, and a
// goodness-of-fit test of sample() against the variant's own density with a
// fixed seed. Each goodness-of-fit test states its critical value and also
// checks that the same samples are rejected under other parameters, so it can
// fail: a sampler drawing from the wrong distribution exceeds the threshold.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/distributions.h"
#include "tests/gradcheck.h"

using namespace gfn;

namespace {

const double kPi = 3.14159265358979323846;

// A trainable input: value and gradient buffers the test owns, uniform in [lo, hi].
struct Param {
    std::string name;
    int rows, cols;
    std::vector<float> v, g;

    Param(std::string n, int r, int c, unsigned seed, float lo = -2.f, float hi = 2.f)
        : name(std::move(n)), rows(r), cols(c), v(size_t(r) * size_t(c)), g(size_t(r) * size_t(c), 0.f) {
        std::mt19937 rng(seed);
        std::uniform_real_distribution<float> u(lo, hi);
        for (float& x : v) x = u(rng);
    }
    Var on(Tape& t) { return t.parameter(Tensor(v.data(), rows, cols), g.data()); }
    GradTarget target() { return GradTarget{name, v.data(), g.data(), v.size()}; }
};

void expect_grads(const std::function<Var(Tape&)>& f, std::vector<GradTarget> targets) {
    GradCheckReport r = check_gradients(f, std::move(targets));
    BOOST_CHECK_MESSAGE(r.ok, r.message());
}

// `row` repeated m times: (m, row.size()), as a constant in the arena.
Var repeat_row(Tape& t, const std::vector<float>& row, int m) {
    std::vector<float> all;
    for (int i = 0; i < m; ++i) all.insert(all.end(), row.begin(), row.end());
    return t.constant_copy(all.data(), m, int(row.size()));
}

std::vector<float> values(Var v) {
    Tensor t = v.value();
    return std::vector<float>(t.data, t.data + t.size());
}

// Pearson's χ² of counts against probabilities (bins with p = 0 must be empty).
double chi_square(const std::vector<long>& count, const std::vector<double>& p, long n) {
    double chi2 = 0.0;
    for (size_t j = 0; j < p.size(); ++j) {
        if (p[j] == 0.0) {
            if (count[j] > 0) return INFINITY;
            continue;
        }
        const double e = double(n) * p[j];
        chi2 += (double(count[j]) - e) * (double(count[j]) - e) / e;
    }
    return chi2;
}

// Upper 0.1% points of χ² (P(χ²_dof > q) = 0.001), from tables.
double chi_square_critical(int dof) {
    switch (dof) {
    case 1: return 10.828;
    case 2: return 13.816;
    case 3: return 16.266;
    case 19: return 43.820;
    default: throw std::logic_error("no tabulated chi-square critical value");
    }
}

// Kolmogorov–Smirnov statistic D = sup |F_n − F| of samples against a CDF.
double ks_statistic(std::vector<double> x, const std::function<double(double)>& cdf) {
    std::sort(x.begin(), x.end());
    const double n = double(x.size());
    double D = 0.0;
    for (size_t i = 0; i < x.size(); ++i) {
        const double F = cdf(x[i]);
        D = std::max(D, std::max(F - double(i) / n, double(i + 1) / n - F));
    }
    return D;
}
// P(D > 1.9495/√n) ≈ 0.001 for large n (the Kolmogorov distribution's upper 0.1% point).
double ks_critical(size_t n) { return 1.9495 / std::sqrt(double(n)); }

// Standard normal CDF.
double Phi(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

// Objective-side code: sees only the interface.
Var log_prob_of_own_sample(const Distribution& d, Rng& rng) {
    std::vector<float> x(size_t(d.batch_size()) * size_t(d.event_size()));
    d.sample(rng, x.data());
    return d.log_prob(x.data());
}

// Integral over (0, 1) of exp(log_prob) of a one-dimensional BetaMixture with
// the given parameter row, through r = (1 − cos πu)/2, dr = (π/2) sin(πu) du,
// which flattens the r^{α−1} ends (integrand ∝ u^{2α−1}, bounded for α >= ½).
// Midpoint rule on m points of u; `bins` > 0 also returns the mass per bin of
// [0, 1] split into equal bins. Float cannot resolve r within 6e−8 of 1, so r is
// kept in [FLT_MIN, 1 − 2⁻²⁴] as the sampler keeps its draws: a β = ½ component
// then misses P(r > 1 − 6e−8) ≈ (2/π)√(6e−8) = 1.6e−4 of its mass.
double beta_mixture_mass(const std::vector<float>& logits, const std::vector<float>& alpha,
                         const std::vector<float>& beta, int m, int bins = 0, std::vector<double>* per_bin = nullptr) {
    Tape t;
    std::vector<float> r(static_cast<size_t>(m));
    std::vector<double> w(static_cast<size_t>(m));
    for (int i = 0; i < m; ++i) {
        const double u = (i + 0.5) / m;
        r[size_t(i)] = std::min(std::max(float(0.5 * (1.0 - std::cos(kPi * u))), std::numeric_limits<float>::min()),
                                std::nextafter(1.f, 0.f));
        w[size_t(i)] = 0.5 * kPi * std::sin(kPi * u) / m;
    }
    BetaMixture d(repeat_row(t, logits, m), repeat_row(t, alpha, m), repeat_row(t, beta, m), int(logits.size()));
    std::vector<float> lp = values(d.log_prob(r.data()));
    double total = 0.0;
    if (per_bin) per_bin->assign(size_t(bins), 0.0);
    for (int i = 0; i < m; ++i) {
        const double mass = std::exp(double(lp[size_t(i)])) * w[size_t(i)];
        total += mass;
        if (per_bin) (*per_bin)[size_t(std::min(bins - 1, int(r[size_t(i)] * bins)))] += mass;
    }
    return total;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(distributions)

// ---------------------------------------------------------------------------
// Categorical

BOOST_AUTO_TEST_CASE(categorical_log_prob_values) {
    // logits [1 2 3], entry 1 masked: log p(0) = 1 − log(e + e³) = −2.1269280,
    // log p(2) = 3 − log(e + e³) = −0.1269280.
    Tape t;
    float logits[] = {1.f, 2.f, 3.f, 1.f, 2.f, 3.f};
    uint8_t* mask = t.arena.bytes(6);
    const uint8_t m[] = {1, 0, 1, 1, 0, 1};
    std::copy(m, m + 6, mask);
    Categorical d(t.constant(Tensor(logits, 2, 3)), mask);
    float a[] = {0.f, 2.f};
    std::vector<float> v = values(d.log_prob(a));
    BOOST_CHECK_CLOSE(v[0], -2.1269280f, 1e-4);
    BOOST_CHECK_CLOSE(v[1], -0.1269280f, 1e-3);
    float masked[] = {1.f, 0.f}, out_of_range[] = {3.f, 0.f}, fraction[] = {0.5f, 0.f};
    for (float* bad : {masked, out_of_range, fraction}) BOOST_CHECK_THROW(d.log_prob(bad), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(categorical_sums_to_one_and_grad) {
    Param logits("logits", 4, 5, 300);
    Tape t;
    Categorical d(logits.on(t));
    for (int i = 0; i < 4; ++i) {
        double s = 0.0;
        for (int j = 0; j < 5; ++j) s += std::exp(double(d.log_probs().value()(i, j)));
        BOOST_CHECK_CLOSE(s, 1.0, 1e-4);
    }
    std::vector<int> a = {4, 0, 2, 2};
    expect_grads([&](Tape& tp) { return Categorical(logits.on(tp)).log_prob(a.data()); }, {logits.target()});
}

BOOST_AUTO_TEST_CASE(categorical_samples_chi_square) {
    // p = softmax([0.5, −1, 1.2, 0]) over 20,000 draws; χ²(3 dof) below its 0.1% point 16.27.
    // Negative check: the same draws against softmax([0, 0, 0, 0]) must exceed it.
    const int n = 20000;
    const std::vector<float> row = {0.5f, -1.f, 1.2f, 0.f};
    Tape t;
    Categorical d(repeat_row(t, row, n));
    std::vector<int> draws(n);
    Rng rng(17);
    d.sample(rng, draws.data());
    std::vector<long> count(4, 0);
    for (int x : draws) ++count[size_t(x)];
    std::vector<double> p(4), uniform(4, 0.25);
    double z = 0.0;
    for (float l : row) z += std::exp(double(l));
    for (int j = 0; j < 4; ++j) p[size_t(j)] = std::exp(double(row[size_t(j)])) / z;
    const double chi2 = chi_square(count, p, n), wrong = chi_square(count, uniform, n);
    BOOST_TEST_MESSAGE("categorical: chi-square " << chi2 << ", against uniform " << wrong);
    BOOST_CHECK_MESSAGE(chi2 < chi_square_critical(3), "chi-square " << chi2);
    BOOST_CHECK_MESSAGE(wrong > chi_square_critical(3), "uniform not rejected: chi-square " << wrong);
}

// ---------------------------------------------------------------------------
// DiagonalGaussian

BOOST_AUTO_TEST_CASE(gaussian_log_prob_values) {
    // log N(0.3; 0, 1) = −½(log 2π + 0.09) = −0.96393853;
    // log N((0.3, −1); (0, 1), diag(1, 2)²) = −½(2 log 2π + 2 log 2 + 0.09 + 1) = −3.0760242.
    Tape t;
    float mu1[] = {0.f}, sd1[] = {1.f}, x1[] = {0.3f};
    BOOST_CHECK_CLOSE(DiagonalGaussian(t.constant(Tensor(mu1, 1, 1)), t.constant(Tensor(sd1, 1, 1))).log_prob(x1).item(),
                      -0.96393853f, 1e-4);
    float mu2[] = {0.f, 1.f}, sd2[] = {1.f, 2.f}, x2[] = {0.3f, -1.f};
    DiagonalGaussian d(t.constant(Tensor(mu2, 1, 2)), t.constant(Tensor(sd2, 1, 2)));
    BOOST_CHECK_EQUAL(d.event_size(), 2);
    BOOST_CHECK_CLOSE(d.log_prob(x2).item(), -3.0760242f, 1e-4);
    BOOST_CHECK_THROW(DiagonalGaussian(t.constant(Tensor(mu2, 1, 2)), t.constant(Tensor(sd1, 1, 1))),
                      std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(gaussian_grad) {
    Param mean("mean", 4, 3, 301), sd("std", 4, 3, 302, 0.5f, 2.f), x("x", 4, 3, 303);
    expect_grads([&](Tape& t) { return DiagonalGaussian(mean.on(t), sd.on(t)).log_prob(x.v.data()); },
                 {mean.target(), sd.target()});
    // A network-style parameterisation: σ = 0.1 + 0.9 σ(raw) (torchgfn's Line policy).
    Param raw("raw", 4, 3, 304);
    expect_grads(
        [&](Tape& t) {
            Var s = add_scalar(scale(sigmoid(raw.on(t)), 0.9f), 0.1f);
            return DiagonalGaussian(mean.on(t), s).log_prob(x.v.data());
        },
        {mean.target(), raw.target()});
}

BOOST_AUTO_TEST_CASE(gaussian_integrates_to_one) {
    // d = 1: trapezoid on [μ − 12σ, μ + 12σ] with 4,001 points (error ≪ 1e−5).
    {
        const int m = 4001;
        const double mu = 0.7, sd = 1.3, lo = mu - 12 * sd, h = 24 * sd / (m - 1);
        Tape t;
        std::vector<float> x(m);
        for (int i = 0; i < m; ++i) x[size_t(i)] = float(lo + i * h);
        DiagonalGaussian d(repeat_row(t, {float(mu)}, m), repeat_row(t, {float(sd)}, m));
        std::vector<float> lp = values(d.log_prob(x.data()));
        double s = 0.0;
        for (int i = 0; i < m; ++i) s += std::exp(double(lp[size_t(i)])) * (i == 0 || i == m - 1 ? 0.5 : 1.0);
        BOOST_CHECK_CLOSE(s * h, 1.0, 1e-3);
    }
    // d = 2: a 301 × 301 grid over μ ± 10σ per dimension.
    {
        const int g = 301;
        const double mu[2] = {-0.4, 2.0}, sd[2] = {0.6, 1.5};
        Tape t;
        std::vector<float> x(size_t(g) * g * 2);
        double h[2];
        for (int k = 0; k < 2; ++k) h[k] = 20 * sd[k] / (g - 1);
        for (int i = 0; i < g; ++i)
            for (int j = 0; j < g; ++j) {
                x[(size_t(i) * g + j) * 2] = float(mu[0] - 10 * sd[0] + i * h[0]);
                x[(size_t(i) * g + j) * 2 + 1] = float(mu[1] - 10 * sd[1] + j * h[1]);
            }
        DiagonalGaussian d(repeat_row(t, {float(mu[0]), float(mu[1])}, g * g),
                           repeat_row(t, {float(sd[0]), float(sd[1])}, g * g));
        std::vector<float> lp = values(d.log_prob(x.data()));
        double s = 0.0;
        for (float l : lp) s += std::exp(double(l));
        BOOST_CHECK_CLOSE(s * h[0] * h[1], 1.0, 1e-2);
    }
}

BOOST_AUTO_TEST_CASE(gaussian_samples_ks) {
    // 10,000 rows of d = 2 with their own (μ, σ): u = Φ((x − μ)/σ) is Uniform(0, 1)
    // when the sampler is right. KS on the 20,000 u against its 0.1% point
    // 1.9495/√n = 0.0138. Negative check: the same draws scored with σ·1.1 must be rejected.
    const int n = 10000, dim = 2;
    Param mean("mean", n, dim, 305, -3.f, 3.f), sd("std", n, dim, 306, 0.2f, 3.f);
    Tape t;
    DiagonalGaussian d(mean.on(t), sd.on(t));
    std::vector<float> x(size_t(n) * dim);
    Rng rng(23);
    d.sample(rng, x.data());
    std::vector<double> u(x.size()), u_wrong(x.size());
    for (size_t k = 0; k < x.size(); ++k) {
        u[k] = Phi((double(x[k]) - mean.v[k]) / sd.v[k]);
        u_wrong[k] = Phi((double(x[k]) - mean.v[k]) / (1.1 * sd.v[k]));
    }
    auto uniform_cdf = [](double v) { return v; };
    const double D = ks_statistic(u, uniform_cdf), D_wrong = ks_statistic(u_wrong, uniform_cdf);
    BOOST_TEST_MESSAGE("gaussian: KS " << D << ", with sigma·1.1 " << D_wrong << ", critical " << ks_critical(u.size()));
    BOOST_CHECK_MESSAGE(D < ks_critical(u.size()), "KS statistic " << D << " >= " << ks_critical(u.size()));
    BOOST_CHECK_MESSAGE(D_wrong > ks_critical(u.size()), "sigma·1.1 not rejected: KS statistic " << D_wrong);
}

// ---------------------------------------------------------------------------
// BetaMixture

BOOST_AUTO_TEST_CASE(beta_mixture_log_prob_values) {
    // Dimension 0: w = softmax([0, log 3]) = (¼, ¾) over Beta(2, 3) and Beta(1, 1) at r = 0.25:
    //   ¼·12·0.25·0.75² + ¾·1 = 1.171875, log = 0.15860503.
    // Dimension 1: w = (¾, ¼) over the same components at r = 0.25:
    //   ¾·1.6875 + ¼ = 1.515625, log = 0.41582790; the row: their sum 0.57443293.
    Tape t;
    const float l3 = std::log(3.f);
    float logits[] = {0.f, l3, l3, 0.f}, alpha[] = {2.f, 1.f, 2.f, 1.f}, beta[] = {3.f, 1.f, 3.f, 1.f};
    BetaMixture one(t.constant(Tensor(logits, 1, 2)), t.constant(Tensor(alpha, 1, 2)), t.constant(Tensor(beta, 1, 2)), 2);
    float r1[] = {0.25f};
    BOOST_CHECK_CLOSE(one.log_prob(r1).item(), 0.15860503f, 1e-4);
    BetaMixture two(t.constant(Tensor(logits, 1, 4)), t.constant(Tensor(alpha, 1, 4)), t.constant(Tensor(beta, 1, 4)), 2);
    BOOST_CHECK_EQUAL(two.event_size(), 2);
    float r2[] = {0.25f, 0.25f};
    BOOST_CHECK_CLOSE(two.log_prob(r2).item(), 0.57443293f, 1e-4);
    float outside[] = {1.25f, 0.5f};
    BOOST_CHECK_THROW(two.log_prob(outside), std::invalid_argument);
    BOOST_CHECK_THROW(BetaMixture(t.constant(Tensor(logits, 1, 4)), t.constant(Tensor(alpha, 1, 4)),
                                  t.constant(Tensor(beta, 1, 4)), 3),
                      std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(beta_mixture_grad) {
    // n = 3 rows, d = 2 dimensions, K = 3 components.
    Param logits("logits", 3, 6, 310), alpha("alpha", 3, 6, 311, 0.6f, 5.f), beta("beta", 3, 6, 312, 0.6f, 5.f);
    Param r("r", 3, 2, 313, 0.1f, 0.9f);
    expect_grads([&](Tape& t) { return BetaMixture(logits.on(t), alpha.on(t), beta.on(t), 3).log_prob(r.v.data()); },
                 {logits.target(), alpha.target(), beta.target()});
    // Box-style concentrations: α = c_min + (c_max − c_min) σ(raw), c ∈ [0.5, 5].
    Param raw_a("raw_alpha", 3, 6, 314), raw_b("raw_beta", 3, 6, 315);
    expect_grads(
        [&](Tape& t) {
            Var a = add_scalar(scale(sigmoid(raw_a.on(t)), 4.5f), 0.5f);
            Var b = add_scalar(scale(sigmoid(raw_b.on(t)), 4.5f), 0.5f);
            return BetaMixture(logits.on(t), a, b, 3).log_prob(r.v.data());
        },
        {raw_a.target(), raw_b.target()});
}

BOOST_AUTO_TEST_CASE(beta_mixture_integrates_to_one) {
    // Components with α or β below 1 (densities unbounded at the ends) and a
    // peaked one; 20,000 midpoints after the cosine substitution.
    const std::vector<float> logits = {0.3f, -0.5f, 1.f}, alpha = {0.5f, 0.7f, 8.f}, beta = {0.5f, 3.f, 2.f};
    const double mass = beta_mixture_mass(logits, alpha, beta, 20000);
    BOOST_TEST_MESSAGE("beta mixture mass " << mass);
    BOOST_CHECK_CLOSE(mass, 1.0, 1e-2);
    const std::vector<float> single_a = {2.f}, single_b = {5.f}, zero = {0.f};
    BOOST_CHECK_CLOSE(beta_mixture_mass(zero, single_a, single_b, 20000), 1.0, 1e-2);
}

BOOST_AUTO_TEST_CASE(beta_mixture_samples_chi_square) {
    // 20,000 rows of d = 2, K = 2; per dimension, counts in 20 equal bins of [0, 1]
    // against the bin masses of the mixture's own density (integrated as above).
    // χ²(19 dof) below its 0.1% point 43.82. Dimension 0 has an arcsine component
    // Beta(½, ½) (the α < 1 path of the Gamma sampler). Negative check: the same
    // draws against the mixture with its weights swapped must exceed it.
    const int n = 20000, K = 2, bins = 20;
    const std::vector<std::vector<float>> lg = {{0.3f, -0.2f}, {1.f, -1.f}}, al = {{0.5f, 4.f}, {2.f, 6.f}},
                                          be = {{0.5f, 2.f}, {5.f, 1.5f}};
    std::vector<float> row_l, row_a, row_b;
    for (int j = 0; j < 2; ++j) {
        row_l.insert(row_l.end(), lg[size_t(j)].begin(), lg[size_t(j)].end());
        row_a.insert(row_a.end(), al[size_t(j)].begin(), al[size_t(j)].end());
        row_b.insert(row_b.end(), be[size_t(j)].begin(), be[size_t(j)].end());
    }
    Tape t;
    BetaMixture d(repeat_row(t, row_l, n), repeat_row(t, row_a, n), repeat_row(t, row_b, n), K);
    std::vector<float> x(size_t(n) * 2);
    Rng rng(29);
    d.sample(rng, x.data());
    for (int j = 0; j < 2; ++j) {
        BOOST_TEST_CONTEXT("dimension " << j) {
            std::vector<long> count(bins, 0);
            for (int i = 0; i < n; ++i) {
                const float r = x[size_t(i) * 2 + size_t(j)];
                BOOST_REQUIRE(r > 0.f && r < 1.f);
                ++count[size_t(std::min(bins - 1, int(r * bins)))];
            }
            std::vector<double> p, p_wrong;
            beta_mixture_mass(lg[size_t(j)], al[size_t(j)], be[size_t(j)], 200000, bins, &p);
            const std::vector<float> swapped = {lg[size_t(j)][1], lg[size_t(j)][0]};
            beta_mixture_mass(swapped, al[size_t(j)], be[size_t(j)], 200000, bins, &p_wrong);
            const double chi2 = chi_square(count, p, n), wrong = chi_square(count, p_wrong, n);
            BOOST_TEST_MESSAGE("beta mixture dim " << j << ": chi-square " << chi2 << ", swapped " << wrong);
            BOOST_CHECK_MESSAGE(chi2 < chi_square_critical(19), "chi-square " << chi2);
            BOOST_CHECK_MESSAGE(wrong > chi_square_critical(19), "swapped weights not rejected: chi-square " << wrong);
        }
    }
}

// ---------------------------------------------------------------------------
// Bernoulli

BOOST_AUTO_TEST_CASE(bernoulli_log_prob_values) {
    // l = 0.4: log p(1) = log σ(0.4) = −0.51301525, log p(0) = log σ(−0.4) = −0.91301525.
    Tape t;
    float l[] = {0.4f, 0.4f};
    Bernoulli d(t.constant(Tensor(l, 2, 1)));
    float a[] = {1.f, 0.f};
    std::vector<float> v = values(d.log_prob(a));
    BOOST_CHECK_CLOSE(v[0], -0.51301525f, 1e-4);
    BOOST_CHECK_CLOSE(v[1], -0.91301525f, 1e-4);
    float bad[] = {1.f, 0.5f};
    BOOST_CHECK_THROW(d.log_prob(bad), std::invalid_argument);
    float wide[] = {0.f, 0.f};
    BOOST_CHECK_THROW(Bernoulli(t.constant(Tensor(wide, 1, 2))), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(bernoulli_sums_to_one_and_grad) {
    Param logit("logit", 6, 1, 320, -4.f, 4.f);
    Tape t;
    Bernoulli d(logit.on(t));
    std::vector<float> ones(6, 1.f), zeros(6, 0.f);
    std::vector<float> l1 = values(d.log_prob(ones.data())), l0 = values(d.log_prob(zeros.data()));
    for (int i = 0; i < 6; ++i) BOOST_CHECK_CLOSE(std::exp(double(l1[size_t(i)])) + std::exp(double(l0[size_t(i)])), 1.0, 1e-4);
    std::vector<float> a = {1.f, 0.f, 0.f, 1.f, 1.f, 0.f};
    expect_grads([&](Tape& tp) { return Bernoulli(logit.on(tp)).log_prob(a.data()); }, {logit.target()});
}

BOOST_AUTO_TEST_CASE(bernoulli_samples_chi_square) {
    // σ(0.4) = 0.59868766 over 20,000 draws; χ²(1 dof) below its 0.1% point 10.83.
    // Negative check: the same draws against p = 0.55 must exceed it.
    const int n = 20000;
    Tape t;
    Bernoulli d(repeat_row(t, {0.4f}, n));
    std::vector<float> x(n);
    Rng rng(31);
    d.sample(rng, x.data());
    std::vector<long> count(2, 0);
    for (float v : x) ++count[v == 1.f ? 1 : 0];
    BOOST_CHECK_EQUAL(count[0] + count[1], n);
    const double p1 = 0.59868766;
    const double chi2 = chi_square(count, {1 - p1, p1}, n), wrong = chi_square(count, {0.45, 0.55}, n);
    BOOST_TEST_MESSAGE("bernoulli: chi-square " << chi2 << ", against p = 0.55 " << wrong);
    BOOST_CHECK_MESSAGE(chi2 < chi_square_critical(1), "chi-square " << chi2);
    BOOST_CHECK_MESSAGE(wrong > chi_square_critical(1), "p = 0.55 not rejected: chi-square " << wrong);
}

// ---------------------------------------------------------------------------
// One interface

BOOST_AUTO_TEST_CASE(variants_behind_one_interface) {
    // The same objective-side code scores its own samples under each variant:
    // (n, 1), finite, and differentiable back to the parameters.
    const int n = 5;
    Param logits("logits", n, 4, 330), mean("mean", n, 2, 331), sd("std", n, 2, 332, 0.5f, 2.f);
    Param mix_l("mix_logits", n, 6, 333), mix_a("alpha", n, 6, 334, 1.f, 4.f), mix_b("beta", n, 6, 335, 1.f, 4.f);
    Param exit_l("exit_logit", n, 1, 336);
    Tape t;
    Categorical cat(logits.on(t));
    DiagonalGaussian gauss(mean.on(t), sd.on(t));
    BetaMixture mix(mix_l.on(t), mix_a.on(t), mix_b.on(t), 3);
    Bernoulli exit(exit_l.on(t));
    const Distribution* all[] = {&cat, &gauss, &mix, &exit};
    Rng rng(37);
    Var total;
    for (const Distribution* d : all) {
        Var lp = log_prob_of_own_sample(*d, rng);
        BOOST_CHECK_EQUAL(lp.rows(), n);
        BOOST_CHECK_EQUAL(lp.cols(), 1);
        for (float v : values(lp)) BOOST_CHECK(std::isfinite(v));
        total = total.valid() ? add(total, sum(lp)) : sum(lp);
    }
    t.backward(total);
    for (Param* p : {&logits, &mean, &sd, &mix_l, &mix_a, &mix_b, &exit_l}) {
        double norm = 0.0;
        for (float g : p->g) norm += std::fabs(g);
        BOOST_CHECK_MESSAGE(norm > 0.0 && std::isfinite(norm), p->name << " got no gradient");
    }
}

BOOST_AUTO_TEST_SUITE_END()
