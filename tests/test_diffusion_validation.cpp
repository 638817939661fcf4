// test_diffusion_validation.cpp — the diffusion metrics (gfn/validation/diffusion_validation.h,
// SPEC.md §9): ELBO, IW-ELBO, ESS and mode coverage on hand-worked vectors; the driver on
// the Line environment with Gaussian step policies, its ELBO against log weights scored
// independently step by step, and ELBO < log Z < EUBO at a fixed seed.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "engine/nn.h"
#include "engine/random.h"
#include "engine/tape.h"
#include "envs/line.h"
#include "gfn/estimators/continuous_policy.h"
#include "gfn/samplers/continuous_sampler.h"
#include "gfn/validation/diffusion_validation.h"

using namespace gfn;

namespace {

NetConfig small_net() {
    NetConfig c;
    c.hidden = 8;
    c.n_hidden_layers = 2;
    c.activation = Activation::Elu;
    return c;
}

// Line without an exact sampler (for the NaN EUBO).
class LineWithoutSampler : public Line {
public:
    bool sample_target(Rng&, int, float*) const override { return false; }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(diffusion_validation)

BOOST_AUTO_TEST_CASE(hand_worked_weight_metrics) {
    const std::vector<double> lw = {-1.0, -2.0, -3.0};
    BOOST_CHECK_CLOSE(elbo(lw), -2.0, 1e-12);
    const double e1 = std::exp(-1.0), e2 = std::exp(-2.0), e3 = std::exp(-3.0);
    BOOST_CHECK_CLOSE(iw_elbo(lw), std::log((e1 + e2 + e3) / 3.0), 1e-12);
    // p_i = e_i / Σe; ESS = 1 / Σ p_i², over B = 3
    const double s = e1 + e2 + e3;
    const double ess = 1.0 / ((e1 / s) * (e1 / s) + (e2 / s) * (e2 / s) + (e3 / s) * (e3 / s));
    BOOST_CHECK_CLOSE(ess_fraction(lw), ess / 3.0, 1e-10);
    // Shifting every log w by c shifts ELBO and IW-ELBO by c and leaves ESS alone.
    const std::vector<double> shifted = {799.0, 798.0, 797.0};
    BOOST_CHECK_CLOSE(elbo(shifted), 798.0, 1e-12);
    BOOST_CHECK_CLOSE(iw_elbo(shifted), 800.0 + std::log((e1 + e2 + e3) / 3.0), 1e-12);
    BOOST_CHECK_CLOSE(ess_fraction(shifted), ess / 3.0, 1e-10);
    // Equal weights: ESS = B; one dominant weight: ESS = 1, so 1/B.
    BOOST_CHECK_CLOSE(ess_fraction({0.7, 0.7, 0.7, 0.7}), 1.0, 1e-12);
    BOOST_CHECK_CLOSE(ess_fraction({0.0, -1000.0, -1000.0, -1000.0}), 0.25, 1e-12);
    BOOST_CHECK_CLOSE(iw_elbo({0.0, -1000.0, -1000.0, -1000.0}), -std::log(4.0), 1e-12);
    BOOST_CHECK(std::isnan(elbo({})));
    BOOST_CHECK(std::isnan(ess_fraction({})));
}

BOOST_AUTO_TEST_CASE(hand_worked_mode_coverage) {
    // Modes (0,0) w = ¼ and (10,0) w = ¾; points of stride 3 (the third value, a time,
    // is ignored).
    const std::vector<float> means = {0.f, 0.f, 10.f, 0.f};
    const std::vector<double> w = {0.25, 0.75};
    const std::vector<float> pts = {0.5f, -1.f, 1.f, -2.f, 1.f, 1.f, 4.9f, 0.f, 1.f, 9.f, 3.f, 1.f};
    // freq = (¾, ¼): TV = ½(|¾ − ¼| + |¼ − ¾|) = ½
    ModeCoverage c = mode_coverage(pts.data(), 4, 3, means, w);
    BOOST_CHECK_EQUAL(c.modes_found, 2);
    BOOST_CHECK_CLOSE(c.mode_tv, 0.5, 1e-12);
    BOOST_REQUIRE_EQUAL(c.frequencies.size(), 2u);
    BOOST_CHECK_CLOSE(c.frequencies[0], 0.75, 1e-12);
    BOOST_CHECK_CLOSE(c.frequencies[1], 0.25, 1e-12);
    // distances to the nearest mean: √1.25, √5, 4.9, √10 → their mean
    BOOST_CHECK_CLOSE(c.mean_distance, (std::sqrt(1.25) + std::sqrt(5.0) + 4.9 + std::sqrt(10.0)) / 4, 1e-5);
    // 199 points at (0,0), 1 at (10,0): freq 0.5 % < 1 % is not found;
    // TV = ½(|0.995 − 0.25| + |0.005 − 0.75|) = 0.745.
    std::vector<float> many(400, 0.f);
    many[398] = 10.f;
    c = mode_coverage(many.data(), 200, 2, means, w);
    BOOST_CHECK_EQUAL(c.modes_found, 1);
    BOOST_CHECK_CLOSE(c.mode_tv, 0.745, 1e-10);
    // 1 of 100 is exactly 1 %: found.
    c = mode_coverage(many.data() + 200, 100, 2, means, w);
    BOOST_CHECK_EQUAL(c.modes_found, 2);
    BOOST_CHECK_THROW(mode_coverage(pts.data(), 4, 3, {0.f, 0.f, 1.f}, w), std::invalid_argument);
    BOOST_CHECK_THROW(mode_coverage(pts.data(), 4, 1, means, w), std::invalid_argument);
    BOOST_CHECK_THROW(mode_coverage(pts.data(), 0, 3, means, w), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(hand_worked_mode_coverage_by_blocks) {
    // A product of two blocks (manywell's layout): 1-D modes −1 (w = ¼) and 1 (w = ¾)
    // counted in x_0 and in x_2 of points of stride 5.
    const std::vector<float> means = {-1.f, 1.f};
    const std::vector<double> w = {0.25, 0.75};
    const std::vector<float> pts = {-2.f, 9.f, 0.5f, 9.f, 1.f,  0.9f, 9.f, -0.1f, 9.f, 1.f,
                                    1.5f, 9.f, 3.f,  9.f, 1.f,  -0.5f, 9.f, 2.f, 9.f, 1.f};
    // block 0 (x_0 = −2, 0.9, 1.5, −0.5): left, right, right, left -> (½, ½), TV ½(¼ + ¼) = ¼
    // block 1 (x_2 = 0.5, −0.1, 3, 2):    right, left, right, right -> (¼, ¾), TV 0
    // mode_tv = (¼ + 0)/2; every (block, mode) pair holds >= 1 %
    ModeCoverage c = mode_coverage(pts.data(), 4, 5, means, w, {0, 2});
    BOOST_CHECK_EQUAL(c.modes_found, 4);
    BOOST_CHECK_CLOSE(c.mode_tv, 0.125, 1e-12);
    const std::vector<double> want = {0.5, 0.5, 0.25, 0.75};
    BOOST_TEST(c.frequencies == want, boost::test_tools::per_element());
    // distances: block 0 1, 0.1, 0.5, 0.5; block 1 0.5, 0.9, 2, 1 -> 6.5 / 8
    BOOST_CHECK_CLOSE(c.mean_distance, 6.5 / 8.0, 1e-5);
    // One block at offset 2 alone: (¼, ¾), TV 0.
    c = mode_coverage(pts.data(), 4, 5, means, w, {2});
    BOOST_CHECK_SMALL(c.mode_tv, 1e-15);
    BOOST_CHECK_EQUAL(c.modes_found, 2);
    BOOST_CHECK_NO_THROW(mode_coverage(pts.data(), 4, 5, means, w, {4}));
    BOOST_CHECK_THROW(mode_coverage(pts.data(), 4, 5, means, w, {5}), std::invalid_argument);
    BOOST_CHECK_THROW(mode_coverage(pts.data(), 4, 5, means, w, {-1}), std::invalid_argument);
    BOOST_CHECK_THROW(mode_coverage(pts.data(), 4, 5, means, w, {}), std::invalid_argument);
    BOOST_CHECK_THROW(mode_coverage(pts.data(), 4, 5, {0.f, 0.f, 1.f, 1.f}, w, {4}), std::invalid_argument);
}

// The driver's ELBO is the mean of log R − Σ log PF + Σ log PB over the same
// trajectories, scored here one step at a time with pf.log_prob / pb.log_prob
// (the forced exit and the forced step back to s_0 contribute 0).
BOOST_AUTO_TEST_CASE(driver_elbo_matches_step_by_step_weights) {
    Line env;  // μ = [2, 5], σ = 0.5, n_steps = 5, log Z = log 2
    ParamStore store;
    Rng init(2);
    GaussianStepPolicy pf(env, false, store, small_net(), init, "pf");
    GaussianStepPolicy pb(env, true, store, small_net(), init, "pb");
    const int n = 500;  // one chunk
    const std::vector<float> means = {2.f, 5.f};
    const std::vector<double> weights = {0.5, 0.5};
    Rng rng(9);
    Rng replay = rng;
    DiffusionValidation v = validate_diffusion(env, pf, pb, means, weights, n, rng);

    Tape tape;
    Trajectories traj;
    {
        NoGrad ng(tape);
        sample_continuous_trajectories(env, pf, n, 0.f, replay, tape, traj);
    }
    double sum = 0.0;
    int left = 0;
    for (int i = 0; i < n; ++i) {
        const int L = traj.lengths[size_t(i)];
        double lw = traj.log_rewards[size_t(i)];
        for (int t = 0; t + 1 < L; ++t) {  // the moves; the exit at t = L − 1 is forced
            tape.reset();
            lw -= pf.log_prob(tape, traj.float_state(t, i), traj.float_action(t, i), nullptr, 1).value().data[0];
        }
        for (int t = 1; t < L; ++t) {  // PB(s_{t−1} | s_t) with a_{t−1}
            tape.reset();
            lw += pb.log_prob(tape, traj.float_state(t, i), traj.float_action(t - 1, i), nullptr, 1).value().data[0];
        }
        sum += lw;
        left += traj.float_terminal_state(i)[0] < 3.5f;
    }
    BOOST_CHECK_EQUAL(v.n_samples, n);
    BOOST_CHECK_SMALL(v.elbo - sum / n, 1e-4 * (1.0 + std::fabs(v.elbo)));
    // Modes from the same terminal points: nearest of 2 and 5 is "x < 3.5".
    const double f_left = double(left) / n;
    BOOST_CHECK_EQUAL(v.n_modes, 2);
    BOOST_CHECK_EQUAL(v.modes_found, int(f_left >= 0.01) + int(1.0 - f_left >= 0.01));
    BOOST_CHECK_CLOSE(v.mode_tv, 0.5 * (std::fabs(f_left - 0.5) + std::fabs(1.0 - f_left - 0.5)), 1e-9);
}

BOOST_AUTO_TEST_CASE(driver_brackets_log_z) {
    Line env;
    ParamStore store;
    Rng init(4);
    GaussianStepPolicy pf(env, false, store, small_net(), init, "pf");
    GaussianStepPolicy pb(env, true, store, small_net(), init, "pb");
    double log_z = 0.0;
    BOOST_REQUIRE(env.exact_log_partition(&log_z));
    Rng rng(21);
    const int n = 5000;  // three chunks
    DiffusionValidation v = validate_diffusion(env, pf, pb, {}, {}, n, rng);
    BOOST_TEST_MESSAGE("elbo " << v.elbo << " iw " << v.iw_elbo << " eubo " << v.eubo << " ess " << v.ess);
    BOOST_CHECK_LT(v.elbo, log_z);
    BOOST_CHECK_GT(v.eubo, log_z);
    BOOST_CHECK_LE(v.elbo, v.iw_elbo);  // mean <= log mean exp, on any sample
    BOOST_CHECK(v.ess > 0.0 && v.ess <= 1.0);
    BOOST_CHECK_EQUAL(v.n_modes, 0);
    BOOST_CHECK_EQUAL(v.modes_found, 0);
    BOOST_CHECK(std::isnan(v.mode_tv));
    // Same seed, same metrics.
    Rng again(21);
    DiffusionValidation w = validate_diffusion(env, pf, pb, {}, {}, n, again);
    BOOST_CHECK_EQUAL(v.elbo, w.elbo);
    BOOST_CHECK_EQUAL(v.eubo, w.eubo);
    BOOST_CHECK_EQUAL(v.ess, w.ess);
}

BOOST_AUTO_TEST_CASE(driver_without_a_target_sampler_or_samples) {
    LineWithoutSampler env;
    ParamStore store;
    Rng init(6);
    GaussianStepPolicy pf(env, false, store, small_net(), init, "pf");
    GaussianStepPolicy pb(env, true, store, small_net(), init, "pb");
    Rng rng(1);
    DiffusionValidation v = validate_diffusion(env, pf, pb, {}, {}, 100, rng);
    BOOST_CHECK(std::isnan(v.eubo));
    BOOST_CHECK(std::isfinite(v.elbo));
    BOOST_CHECK_THROW(validate_diffusion(env, pf, pb, {}, {}, 0, rng), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
