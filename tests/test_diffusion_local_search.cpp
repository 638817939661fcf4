// test_diffusion_local_search.cpp — the off-policy pieces of diffusion-sampler
// training (gfn/samplers/diffusion_local_search.h): the rank-prioritised terminal
// buffer, the finite-difference ∇log R, MALA local search, and the backward
// trajectories a run trains on at odd iterations.
//
// Hand-worked values:
//   - rank priority P(i) ∝ 1/(0.01·M + rank_i);
//   - ∇log R of gmm25 near the mode at the origin: −x/0.3 (the other components
//     are ≥ 4.7 away, weight below e^{−36});
//   - log PB of a bridge trajectory: Σ_{k ≥ 2} log N(a_{k−1}; x_k·dt/t_k, σ²dt(t_k − dt)/t_k)
//     (the step into t = dt forced, 0), and log PF of the untrained PF (drift 0):
//     Σ_k log N(a_k; 0, σ²dt).
// Statistical (fixed seeds): MALA keeps a 1-D Gaussian N(2, 0.5) invariant — its
// chains started at 0 end with mean 2 and variance 0.5 (the unadjusted Langevin
// chain of the same step would settle at variance 0.556, outside the tolerance).
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "envs/diffusion_sampling.h"
#include "envs/diffusion_targets.h"
#include "gfn/estimators/log_probs.h"
#include "gfn/runtime/config.h"
#include "gfn/runtime/continuous_training.h"
#include "gfn/runtime/training.h"
#include "gfn/samplers/diffusion_local_search.h"

using namespace gfn;

namespace {

double log_normal(double x, double mu, double var) {
    return -0.5 * std::log(2.0 * M_PI * var) - 0.5 * (x - mu) * (x - mu) / var;
}

// N(m, v) on R (normalised).
class Gaussian1D : public DiffusionTarget {
public:
    Gaussian1D(double m, double v) : m_(m), v_(v) {}
    std::string name() const override { return "test_gaussian_1d"; }
    int dim() const override { return 1; }
    void log_density(const float* xs, int n, float* out) const override {
        for (int i = 0; i < n; ++i) out[i] = float(log_normal(xs[i], m_, v_));
    }
    double log_partition() const override { return 0.0; }
    void sample(Rng& rng, int n, float* out) const override {
        for (int i = 0; i < n; ++i) out[i] = float(m_ + std::sqrt(v_) * rng.normal());
    }

private:
    double m_, v_;
};

Config parsed(const std::vector<std::string>& args) {
    Config c;
    parse_train_flags(args, c);
    return c;
}

std::string error_of(const std::vector<std::string>& args) {
    try {
        parsed(args);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(diffusion_local_search)

// Ranks by log R (0 the largest), P ∝ 1/(0.01·M + rank); FIFO past capacity.
BOOST_AUTO_TEST_CASE(buffer_ranking_and_fifo) {
    TerminalBuffer b(2, 3);
    const float xs[] = {0, 0, 1, 1, 2, 2, 3, 3};
    const float lr[] = {0.f, 3.f, 1.f, 5.f};
    b.add(xs, lr, 3);
    BOOST_REQUIRE_EQUAL(b.size(), 3);
    // log R = (0, 3, 1): ranks (2, 0, 1), k·M = 0.03
    std::vector<double> p = b.probabilities();
    const double w0 = 1 / 2.03, w1 = 1 / 0.03, w2 = 1 / 1.03, W = w0 + w1 + w2;
    BOOST_CHECK_CLOSE(p[0], w0 / W, 1e-9);
    BOOST_CHECK_CLOSE(p[1], w1 / W, 1e-9);
    BOOST_CHECK_CLOSE(p[2], w2 / W, 1e-9);
    // A fourth point replaces the oldest (x = 0): stored (3, 1, 2) with log R (5, 3, 1).
    b.add(xs + 6, lr + 3, 1);
    BOOST_CHECK_EQUAL(b.size(), 3);
    BOOST_CHECK_EQUAL(b.point(0)[0], 3.f);
    BOOST_CHECK_EQUAL(b.log_reward(0), 5.f);
    BOOST_CHECK_EQUAL(b.point(1)[1], 1.f);
    // Sample frequencies follow P (20,000 draws, 4 standard errors).
    p = b.probabilities();
    const int n = 20000;
    std::vector<float> out(static_cast<size_t>(n) * 2), olr(static_cast<size_t>(n));
    Rng rng(7);
    b.sample(n, rng, out.data(), olr.data());
    std::vector<double> freq(3, 0.0);
    for (int i = 0; i < n; ++i) {
        const int k = out[size_t(i) * 2] == 3.f ? 0 : out[size_t(i) * 2] == 1.f ? 1 : 2;
        BOOST_REQUIRE_EQUAL(olr[size_t(i)], b.log_reward(k));
        freq[size_t(k)] += 1.0 / n;
    }
    for (int k = 0; k < 3; ++k)
        BOOST_CHECK_SMALL(freq[size_t(k)] - p[size_t(k)], 4 * std::sqrt(p[size_t(k)] * (1 - p[size_t(k)]) / n) + 1e-4);
    BOOST_CHECK_THROW(TerminalBuffer(2, 0), std::invalid_argument);
    BOOST_CHECK_THROW(TerminalBuffer(2, 4).sample(1, rng, out.data(), olr.data()), std::logic_error);
}

// gmm25 near its centre mode: ∇log R = −x/0.3.
BOOST_AUTO_TEST_CASE(gradient_of_gmm25_near_a_mode) {
    auto t = make_diffusion_target("gmm25");
    const float xs[] = {0.3f, -0.2f, 0.05f, 0.4f};
    float g[4];
    t->log_density_gradient(xs, 2, g);
    for (int k = 0; k < 4; ++k) BOOST_CHECK_CLOSE(double(g[k]), -double(xs[k]) / 0.3, 0.5);
}

// --rank-weight k: P ∝ 1/(k·M + rank); k = 1 over three points gives 1/3 : 1/4 : 1/5.
BOOST_AUTO_TEST_CASE(buffer_rank_weight) {
    TerminalBuffer b(1, 3, 1.0);
    const float xs[] = {0, 1, 2};
    const float lr[] = {-1.f, 4.f, 2.f};  // ranks (2, 0, 1)
    b.add(xs, lr, 3);
    const std::vector<double> p = b.probabilities();
    const double W = 1 / 3. + 1 / 4. + 1 / 5.;
    BOOST_CHECK_CLOSE(p[0], (1 / 5.) / W, 1e-9);
    BOOST_CHECK_CLOSE(p[1], (1 / 3.) / W, 1e-9);
    BOOST_CHECK_CLOSE(p[2], (1 / 4.) / W, 1e-9);
    BOOST_CHECK_EQUAL(b.rank_weight(), 1.0);
    for (double k : {0.0, -1.0, double(NAN), double(INFINITY)})
        BOOST_CHECK_THROW(TerminalBuffer(1, 3, k), std::invalid_argument);
}

// MALA leaves N(2, 0.5) invariant: chains from 0 end at its mean and variance.
BOOST_AUTO_TEST_CASE(mala_targets_a_gaussian) {
    const Gaussian1D t(2.0, 0.5);
    const int n = 20000;
    std::vector<float> x(static_cast<size_t>(n), 0.f), lr(static_cast<size_t>(n));
    t.log_density(x.data(), n, lr.data());
    Rng rng(11);
    const double acc = langevin_local_search(t, x.data(), lr.data(), n, 200, 0.1, rng);
    double mean = 0, var = 0;
    for (float v : x) mean += v / double(n);
    for (float v : x) var += (v - mean) * (v - mean) / double(n);
    BOOST_CHECK_SMALL(mean - 2.0, 0.03);  // s.e. 0.005
    BOOST_CHECK_SMALL(var - 0.5, 0.02);   // s.e. 0.005; ULA's bias is 0.056
    BOOST_CHECK(acc > 0.8 && acc < 1.0);
    // log R is kept in step with the points.
    std::vector<float> check(static_cast<size_t>(n));
    t.log_density(x.data(), n, check.data());
    for (int i = 0; i < n; i += 997) BOOST_CHECK_EQUAL(check[size_t(i)], lr[size_t(i)]);
    BOOST_CHECK_THROW(langevin_local_search(t, x.data(), lr.data(), n, 1, 0.0, rng), std::invalid_argument);
}

// A run with --terminal-buffer: iteration 0 rolls PF out and fills the buffer;
// iteration 1 trains on PB trajectories that end at buffered points, with log PB and
// log PF as the bridge and the untrained PF give them by hand (the PF of the plain
// setting: fixed variance, no Langevin term, so its untrained drift is 0).
BOOST_AUTO_TEST_CASE(backward_trajectories_from_the_buffer) {
    const int N = 8, B = 16;
    const double sigma = 5.0, dt = 1.0 / N;
    Config c = parsed({"--env", "diffusion", "--target", "gmm25", "--no-lp", "--no-learn-variance", "--steps",
                       std::to_string(N), "--batch-size", std::to_string(B), "--terminal-buffer", "64",
                       "--validation-samples", "100", "--seed", "3"});
    Run run(c);
    BOOST_REQUIRE(run.diffusion_search);
    BOOST_CHECK(!run.on_policy());
    sample_continuous_batch(run);  // iteration 0: on-policy, recorded
    BOOST_REQUIRE_EQUAL(run.diffusion_search->buffer().size(), B);
    run.iteration = 1;
    run.tape.reset();
    sample_continuous_batch(run);  // iteration 1: backward from the buffer
    const Trajectories& tr = run.batch;
    BOOST_REQUIRE_EQUAL(tr.n, B);
    const TerminalBuffer& buf = run.diffusion_search->buffer();
    for (int i = 0; i < B; ++i) {
        const float* x = tr.float_terminal_state(i);
        bool found = false;
        for (int k = 0; k < buf.size() && !found; ++k)
            found = buf.point(k)[0] == x[0] && buf.point(k)[1] == x[1] && buf.log_reward(k) == tr.log_rewards[size_t(i)];
        BOOST_CHECK_MESSAGE(found, "trajectory " << i << " does not end at a buffered point");
        BOOST_CHECK_EQUAL(x[2], 1.f);
    }
    // Trajectory 0: its log PB and log PF by hand.
    const int d = 2;
    const StepLogProbs lp = evaluate_log_probs(run.tape, tr, *run.continuous_pf, run.continuous_pb.get(), true);
    double want_pb = 0, want_pf = 0, got_pb = 0, got_pf = 0;
    const int i = 0;
    for (int k = 0; k < N; ++k) {  // move a_k from state k (time k·dt) to state k + 1
        const float* s1 = tr.float_state(k + 1, i);
        const float* a = tr.float_actions.data() + (size_t(k) * tr.n + i) * d;
        const double t1 = (k + 1) * dt;
        for (int j = 0; j < d; ++j) {
            want_pf += log_normal(a[j], 0.0, sigma * sigma * dt);
            if (k >= 1) want_pb += log_normal(a[j], s1[j] * dt / t1, sigma * sigma * dt * (t1 - dt) / t1);
        }
    }
    // Per-step values are time-major (step k of row i at k·n + i); the exit scores 0.
    for (int k = 0; k < tr.n_steps(); ++k)
        if (tr.step_traj[size_t(k)] == i) got_pf += lp.log_pf.value().data[k];
    for (int k = 0; k < tr.n_bsteps(); ++k)
        if (tr.bstep_traj[size_t(k)] == i) got_pb += lp.log_pb.value().data[k];
    BOOST_CHECK_CLOSE(got_pf, want_pf, 1e-3);
    BOOST_CHECK_CLOSE(got_pb, want_pb, 1e-3);
}

// --backward-until I: from iteration I on, odd iterations roll PF out too.
BOOST_AUTO_TEST_CASE(backward_until_stops_the_buffer) {
    Config c = parsed({"--env", "diffusion", "--target", "gmm25", "--steps", "4", "--batch-size", "8",
                       "--terminal-buffer", "64", "--backward-until", "3", "--validation-samples", "100"});
    Run run(c);
    sample_continuous_batch(run);  // iteration 0: recorded
    run.iteration = 1;
    run.tape.reset();
    BOOST_CHECK(run.diffusion_search->sample_backward(run, 8));
    run.iteration = 3;
    run.tape.reset();
    BOOST_CHECK(!run.diffusion_search->sample_backward(run, 8));
    sample_continuous_batch(run);  // on-policy, and no longer recorded
    BOOST_CHECK_EQUAL(run.diffusion_search->buffer().size(), 8);
}

BOOST_AUTO_TEST_CASE(flag_errors) {
    BOOST_CHECK_NE(error_of({"--env", "diffusion", "--target", "gmm25", "--rank-weight", "0.1"}).find("--rank-weight"),
                   std::string::npos);  // no buffer to rank
    for (const char* k : {"0", "-1", "nan", "inf"})
        BOOST_CHECK_NE(error_of({"--env", "diffusion", "--target", "gmm25", "--terminal-buffer", "1000", "--rank-weight", k})
                           .find("--rank-weight"),
                       std::string::npos);
    BOOST_CHECK_NE(error_of({"--env", "box", "--rank-weight", "0.1"}).find("--rank-weight"), std::string::npos);
    BOOST_CHECK_NE(error_of({"--env", "line", "--backward-until", "10"}).find("--backward-until"), std::string::npos);
    BOOST_CHECK_NE(error_of({"--env", "hypergrid", "--terminal-buffer", "100"}).find("--terminal-buffer"),
                   std::string::npos);
    BOOST_CHECK_NE(error_of({"--env", "diffusion", "--target", "gmm25", "--langevin-steps", "3"}).find("--langevin-steps"),
                   std::string::npos);
    BOOST_CHECK_NE(error_of({"--env", "diffusion", "--target", "gmm25", "--terminal-buffer", "100", "--loss", "mle"})
                       .find("--terminal-buffer"),
                   std::string::npos);
    BOOST_CHECK_NE(error_of({"--env", "diffusion", "--target", "gmm25", "--terminal-buffer", "10"}).find("--batch-size"),
                   std::string::npos);
    BOOST_CHECK_NE(error_of({"--env", "diffusion", "--target", "gmm25", "--terminal-buffer", "1000", "--resume", "x.ckpt"})
                       .find("--resume"),
                   std::string::npos);
    BOOST_CHECK_NE(error_of({"--env", "diffusion", "--target", "gmm25", "--backward-until", "5"}).find("--backward-until"),
                   std::string::npos);
    BOOST_CHECK_NE(error_of({"--env", "diffusion", "--target", "gmm25", "--langevin-step-size", "0"})
                       .find("--langevin-step-size"),
                   std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
