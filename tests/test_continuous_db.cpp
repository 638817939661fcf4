// test_continuous_db.cpp — detailed balance and sub-trajectory balance on continuous
// environments (gfn/objectives/continuous_balance.h, gfn/estimators/continuous_state_flow.h).
//
// Hand-worked values on a Line of 2 moves and the forced exit, every network pinned:
// PF and PB to constant (μ, raw σ) (zero weights, chosen output biases), log F to a
// linear function of the state (no hidden layer),
//     log F(x, k) = u·x + v·k + c   (s ≠ s_0),   log F(s_0) = z,
// so each residual is written out from
//     log N(a; μ, σ²) = −½ log 2π − log σ − ½((a − μ)/σ)²,  σ = 0.1 + 0.9·sigmoid(raw),
// with the forced exit (log PF = 0) and the forced step back to s_0 (log PB = 0).
// Gradients against central differences (tests/gradcheck.h) into every parameter
// (PF, PB, the log F network and log F(s_0)); the command line's --loss db / subtb on
// line, box, box_cartesian and diffusion.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "engine/nn.h"
#include "engine/ops.h"
#include "envs/box.h"
#include "envs/diffusion_sampling.h"
#include "envs/line.h"
#include "gfn/estimators/box_policy.h"
#include "gfn/estimators/continuous_policy.h"
#include "gfn/estimators/continuous_state_flow.h"
#include "gfn/estimators/log_probs.h"
#include "gfn/objectives/continuous_balance.h"
#include "gfn/runtime/config.h"
#include "gfn/runtime/training.h"
#include "gfn/samplers/continuous_sampler.h"
#include "tests/gradcheck.h"

using namespace gfn;

namespace {

double log_normal(double x, double mu, double sigma) {
    const double z = (x - mu) / sigma;
    return -0.5 * std::log(2.0 * M_PI) - std::log(sigma) - 0.5 * z * z;
}

double line_std(double raw) { return 0.1 + 0.9 / (1.0 + std::exp(-raw)); }

double line_log_reward(double x) {  // μ = [2, 5], σ = 0.5
    return std::log(std::exp(log_normal(x, 2, 0.5)) + std::exp(log_normal(x, 5, 0.5)));
}

// Pins the parameters [first, end) of store: all 0, then the last one's first entries to `last`.
void pin(ParamStore& store, size_t first, const std::vector<float>& last) {
    for (size_t k = first; k < store.params.size(); ++k) {
        const Param& p = store.params[k];
        std::fill(store.values.begin() + long(p.offset), store.values.begin() + long(p.offset + p.size()), 0.f);
    }
    const Param& b = store.params.back();
    for (size_t j = 0; j < last.size(); ++j) store.values[b.offset + j] = last[j];
}

float& param(ParamStore& store, const std::string& name, size_t j = 0) {
    for (const Param& p : store.params)
        if (p.name == name) return store.values[p.offset + j];
    BOOST_FAIL("no parameter " << name);
    return store.values[0];
}

NetConfig small_net() {
    NetConfig c;
    c.hidden = 8;
    c.n_hidden_layers = 2;
    c.activation = Activation::Elu;
    return c;
}

// Two trajectories of a 2-step Line: moves moves[i] = (a_0, a_1), then the forced exit.
Trajectories two_step_batch(const Line& env, const std::vector<std::vector<float>>& moves) {
    const int n = int(moves.size());
    Trajectories t;
    t.allocate_continuous(n, env.max_trajectory_length(), 2, 1);
    for (int i = 0; i < n; ++i) {
        float s[2];
        env.initial_state(s);
        for (int k = 0; k < 2; ++k) {
            t.float_state(k, i)[0] = s[0];
            t.float_state(k, i)[1] = s[1];
            t.float_action(k, i)[0] = moves[size_t(i)][size_t(k)];
            env.step(s, &moves[size_t(i)][size_t(k)], 1, s);
        }
        t.float_state(2, i)[0] = s[0];
        t.float_state(2, i)[1] = s[1];
        t.lengths[size_t(i)] = 3;
        env.log_reward(s, 1, &t.log_rewards[size_t(i)]);
    }
    t.index_steps();
    return t;
}

// The pinned Line pieces of the hand-worked tests.
struct PinnedLine {
    static constexpr double mu_f = 0.8, raw_f = 0.4, mu_b = 0.3, raw_b = -0.5;
    static constexpr double u = 0.35, v = -0.6, c = 0.25, z = 0.9;
    Line env{{2.0, 5.0}, {0.5, 0.5}, 0.0, 4.5, 2};
    ParamStore store;
    Rng rng{3};
    GaussianStepPolicy pf{env, false, store, small_net(), rng, "pf"};
    GaussianStepPolicy pb{env, true, store, small_net(), rng, "pb"};
    ContinuousStateFlowEstimator log_f{env, store, NetConfig{4, 0, Activation::Elu}, rng, "log_f", 2, 1, 0.f};

    PinnedLine() {
        pin(store, 0, {});  // everything 0, then the chosen values
        param(store, "pf.out.bias", 0) = float(mu_f);
        param(store, "pf.out.bias", 1) = float(raw_f);
        param(store, "pb.out.bias", 0) = float(mu_b);
        param(store, "pb.out.bias", 1) = float(raw_b);
        param(store, "log_f.out.weight", 0) = float(u);
        param(store, "log_f.out.weight", 1) = float(v);
        param(store, "log_f.out.bias") = float(c);
        param(store, "log_f.s0") = float(z);
    }
    // log F(s) by hand.
    static double F(double x, int k) { return k == 0 ? z : u * x + v * k + c; }
    static double log_pf(double a) { return log_normal(a, mu_f, line_std(raw_f)); }
    static double log_pb(double a) { return log_normal(a, mu_b, line_std(raw_b)); }
};

// The residual of the sub-trajectory (j, k) of the trajectory with moves (a_0, a_1),
// written out: states s_0 = (0, 0), s_1 = (a_0, 1), s_2 = (a_0 + a_1, 2) = x, L = 3;
// log pf = [N_f(a_0), N_f(a_1), 0 (forced exit)], log pb = [0 (forced to s_0), N_b(a_1), 0 (exit)].
double hand_residual(const std::vector<float>& a, int j, int k) {
    const double x[3] = {0.0, a[0], double(a[0]) + a[1]};
    const double pf[3] = {PinnedLine::log_pf(a[0]), PinnedLine::log_pf(a[1]), 0.0};
    const double pb[3] = {0.0, PinnedLine::log_pb(a[1]), 0.0};
    double r = PinnedLine::F(x[j], j);
    for (int t = j; t < k; ++t) r += pf[t] - pb[t];
    return r - (k == 3 ? line_log_reward(x[2]) : PinnedLine::F(x[k], k));
}

const std::vector<std::vector<float>> kMoves = {{0.6f, 1.1f}, {-0.4f, 2.3f}};

}  // namespace

BOOST_AUTO_TEST_SUITE(continuous_db)

// log F(s_0) is the scalar, never the MLP; every other state goes through the MLP.
BOOST_AUTO_TEST_CASE(state_flow_at_s0_is_log_z) {
    PinnedLine p;
    const float states[6] = {0.f, 0.f, 1.5f, 1.f, 0.f, 2.f};  // s_0, (1.5, 1), (0, 2)
    Tape tape;
    Var f = p.log_f.forward(tape, states, 3);
    BOOST_REQUIRE_EQUAL(f.rows(), 3);
    BOOST_CHECK_CLOSE(double(f.value().data[0]), PinnedLine::z, 1e-5);
    BOOST_CHECK_CLOSE(double(f.value().data[1]), PinnedLine::F(1.5, 1), 1e-4);
    BOOST_CHECK_CLOSE(double(f.value().data[2]), PinnedLine::F(0.0, 2), 1e-4);  // x = 0 but k = 2: not s_0
    BOOST_CHECK_CLOSE(p.log_f.log_z(), PinnedLine::z, 1e-5);
    // Only s_0 rows: the scalar alone.
    Var g = p.log_f.forward(tape, states, 1);
    BOOST_CHECK_CLOSE(double(g.value().data[0]), PinnedLine::z, 1e-5);
}

// DB on the 2-step Line batch: 3 transitions per trajectory, time-major,
//     t = 0: z + N_f(a_0) − 0 − F(s_1);  t = 1: F(s_1) + N_f(a_1) − N_b(a_1) − F(x);
//     t = 2: F(x) + 0 − log R(x)  (the forced exit);  loss = mean of the 6 squares.
BOOST_AUTO_TEST_CASE(hand_worked_db_on_a_forced_line_batch) {
    PinnedLine p;
    Trajectories t = two_step_batch(p.env, kMoves);
    BOOST_REQUIRE_EQUAL(t.n_steps(), 6);
    ContinuousDBGFlowNet db(&p.pf, &p.pb, &p.log_f);
    BOOST_CHECK_EQUAL(db.name(), "db");
    BOOST_CHECK_CLOSE(db.log_z(), PinnedLine::z, 1e-5);
    Tape tape;
    Var none = db.loss(tape, t, true, Reduction::None);
    BOOST_REQUIRE_EQUAL(none.rows(), 6);
    double mean = 0;
    for (int k = 0; k < 6; ++k) {
        const int step_t = k / 2, i = k % 2;  // time-major: (t, i)
        const double r = hand_residual(kMoves[size_t(i)], step_t, step_t + 1);
        BOOST_CHECK_CLOSE(double(none.value().data[k]), r * r, 1e-2);
        mean += r * r / 6;
    }
    BOOST_CHECK_CLOSE(double(db.loss(tape, t).item()), mean, 1e-3);
    BOOST_CHECK_CLOSE(double(db.loss(tape, t, true, Reduction::Sum).item()), 6 * mean, 1e-3);
    // A clip above every log R: the exit residuals use the clip instead.
    ContinuousDBGFlowNet clipped(&p.pf, &p.pb, &p.log_f, 50.f);
    Var nc = clipped.loss(tape, t, true, Reduction::None);
    for (int i = 0; i < 2; ++i) {
        const double r = hand_residual(kMoves[size_t(i)], 2, 3) + line_log_reward(kMoves[size_t(i)][0] + kMoves[size_t(i)][1]) - 50.0;
        BOOST_CHECK_CLOSE(double(nc.value().data[4 + i]), r * r, 1e-3);
    }
}

// SubTB (geometric_within, λ = 0.5, and equal) on the same batch: all 6 sub-trajectories
// of each trajectory (n = 3), weights λ^{i−1} / (N Σ_{k=0}^{2} (3 − k) λ^k) and 1/12.
BOOST_AUTO_TEST_CASE(hand_worked_subtb_on_a_forced_line_batch) {
    PinnedLine p;
    Trajectories t = two_step_batch(p.env, kMoves);
    const double lam = 0.5, denom = 2 * (3 + 2 * lam + lam * lam);
    double geo = 0, equal = 0, per_traj[2] = {0, 0};
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 3; ++j)
            for (int k = j + 1; k <= 3; ++k) {
                const double r = hand_residual(kMoves[size_t(i)], j, k);
                geo += std::pow(lam, k - j - 1) / denom * r * r;
                per_traj[i] += std::pow(lam, k - j - 1) / denom * r * r;
                equal += r * r / 12;
            }
    Tape tape;
    ContinuousSubTBGFlowNet subtb(&p.pf, &p.pb, &p.log_f, float(lam), SubTBWeighting::GeometricWithin);
    BOOST_CHECK_EQUAL(subtb.name(), "subtb");
    BOOST_CHECK_CLOSE(double(subtb.loss(tape, t).item()), geo, 1e-3);
    Var none = subtb.loss(tape, t, true, Reduction::None);
    BOOST_REQUIRE_EQUAL(none.rows(), 2);
    BOOST_CHECK_CLOSE(double(none.value().data[0]), per_traj[0], 1e-3);
    BOOST_CHECK_CLOSE(double(none.value().data[1]), per_traj[1], 1e-3);
    ContinuousSubTBGFlowNet eq(&p.pf, &p.pb, &p.log_f, float(lam), SubTBWeighting::Equal);
    BOOST_CHECK_CLOSE(double(eq.loss(tape, t).item()), equal, 1e-3);
    // The residual list: 12 entries, each the hand-worked one.
    SubTrajectoryResiduals res = subtb.residuals(tape, t);
    BOOST_REQUIRE_EQUAL(res.residuals.rows(), 12);
    for (int r = 0; r < 12; ++r) {
        const int i = res.traj[size_t(r)], j = res.start[size_t(r)], k = j + res.length[size_t(r)];
        BOOST_CHECK_CLOSE(double(res.residuals.value().data[r]), hand_residual(kMoves[size_t(i)], j, k), 1e-3);
    }
    // TB weighting: the full trajectory only, log Z = log F(s_0): z + Σ pf − Σ pb − log R.
    ContinuousSubTBGFlowNet tb(&p.pf, &p.pb, &p.log_f, float(lam), SubTBWeighting::TB);
    const double r0 = hand_residual(kMoves[0], 0, 3), r1 = hand_residual(kMoves[1], 0, 3);
    BOOST_CHECK_CLOSE(double(tb.loss(tape, t).item()), (r0 * r0 + r1 * r1) / 2, 1e-3);
}

// Gradients into every parameter (PF, PB, the log F network, log F(s_0)) on a sampled
// Line batch (exploration widens the moves), for DB and two SubTB weightings.
BOOST_AUTO_TEST_CASE(db_and_subtb_gradients_on_line) {
    Line env;
    ParamStore store;
    Rng rng(21);
    GaussianStepPolicy pf(env, false, store, small_net(), rng, "pf");
    GaussianStepPolicy pb(env, true, store, small_net(), rng, "pb");
    ContinuousStateFlowEstimator log_f(env, store, small_net(), rng, "log_f", 2, 1, 0.4f);
    Tape sample_tape;
    Trajectories t;
    sample_continuous_trajectories(env, pf, 3, 0.5f, rng, sample_tape, t);
    ContinuousDBGFlowNet db(&pf, &pb, &log_f);
    ContinuousSubTBGFlowNet geo(&pf, &pb, &log_f, 0.7f, SubTBWeighting::GeometricWithin);
    ContinuousSubTBGFlowNet geometric(&pf, &pb, &log_f, 0.7f, SubTBWeighting::Geometric);
    GradCheckOptions opt;
    opt.max_checks = 80;
    opt.step = 1e-2;
    for (const GFlowNet* g : {static_cast<const GFlowNet*>(&db), static_cast<const GFlowNet*>(&geo),
                              static_cast<const GFlowNet*>(&geometric)})
        for (Reduction r : {Reduction::Mean, Reduction::None}) {
            GradCheckReport rep = check_gradients(
                [&](Tape& tp) { return g->loss(tp, t, true, r); },
                {GradTarget{"store", store.values.data(), store.grads.data(), store.size()}}, opt);
            BOOST_CHECK_MESSAGE(rep.ok, g->name() << ": " << rep.message());
            BOOST_CHECK(rep.checked > 40);
        }
    // log F(s_0) alone: it enters every trajectory's first residual. The loss is
    // quadratic in it, so a large step has no truncation error and beats float rounding.
    opt.step = 0.2;
    float& z = store.values[store.params.back().offset];
    float& dz = store.grads[store.params.back().offset];
    z = 3.f;  // away from balance, so the gradient stands well above the rounding
    for (const GFlowNet* g : {static_cast<const GFlowNet*>(&db), static_cast<const GFlowNet*>(&geo)}) {
        GradCheckReport rep =
            check_gradients([&](Tape& tp) { return g->loss(tp, t); }, {GradTarget{"log_f.s0", &z, &dz, 1}}, opt);
        BOOST_CHECK_MESSAGE(rep.ok && rep.unresolved == 0, g->name() << ": " << rep.message());
    }
}

// Box (Cartesian): the exit is a choice, so the exit transition scores
// logF(x) + log PF(exit | x) − log R(x); checked against the pieces, and gradients.
BOOST_AUTO_TEST_CASE(db_exit_transition_and_gradients_on_box) {
    BoxCartesian env(0.25);
    ParamStore store;
    Rng rng(5);
    const BoxPolicyConfig bc;
    BoxCartesianPolicy pf(env, false, store, small_net(), bc, rng, "pf");
    BoxCartesianPolicy pb(env, true, store, small_net(), bc, rng, "pb");
    ContinuousStateFlowEstimator log_f(env, store, small_net(), rng, "log_f", 2, 1, -0.3f);
    Tape sample_tape;
    Trajectories t;
    sample_continuous_trajectories(env, pf, 4, 0.f, rng, sample_tape, t);
    ContinuousDBGFlowNet db(&pf, &pb, &log_f);

    Tape tape;
    Var none = db.loss(tape, t, true, Reduction::None);
    StepLogProbs lp = evaluate_log_probs(tape, t, pf, &pb, true);
    BOOST_REQUIRE_EQUAL(none.rows(), t.n_steps());
    int exits = 0, chosen = 0;
    for (int k = 0; k < t.n_steps(); ++k) {
        const int st = t.step_t[size_t(k)], i = t.step_traj[size_t(k)];
        if (st != t.lengths[size_t(i)] - 1) continue;
        const float* x = t.float_state(st, i);
        const double lpf = double(lp.log_pf.value().data[k]);
        if (env.exit_forced(x)) BOOST_CHECK_EQUAL(lpf, 0.0);
        else ++chosen;
        const double r = double(log_f.forward(tape, x, 1).value().data[0]) + lpf - double(t.log_rewards[size_t(i)]);
        BOOST_CHECK_CLOSE(double(none.value().data[k]), r * r, 1e-3);
        ++exits;
    }
    BOOST_CHECK_EQUAL(exits, 4);
    BOOST_TEST_MESSAGE("chosen (not forced) exits: " << chosen);

    GradCheckOptions opt;
    opt.max_checks = 80;
    opt.step = 1e-2;
    ContinuousSubTBGFlowNet subtb(&pf, &pb, &log_f, 0.9f);
    for (const GFlowNet* g : {static_cast<const GFlowNet*>(&db), static_cast<const GFlowNet*>(&subtb)}) {
        GradCheckReport rep = check_gradients(
            [&](Tape& tp) { return g->loss(tp, t); },
            {GradTarget{"store", store.values.data(), store.grads.data(), store.size()}}, opt);
        BOOST_CHECK_MESSAGE(rep.ok, g->name() << ": " << rep.message());
    }
}

BOOST_AUTO_TEST_CASE(constructor_refuses_missing_pieces) {
    PinnedLine p;
    BOOST_CHECK_THROW(ContinuousDBGFlowNet(&p.pf, &p.pb, nullptr), std::invalid_argument);
    BOOST_CHECK_THROW(ContinuousDBGFlowNet(&p.pf, nullptr, &p.log_f), std::invalid_argument);
    BOOST_CHECK_THROW(ContinuousSubTBGFlowNet(&p.pf, &p.pb, &p.log_f, 0.f), std::invalid_argument);
    Line other;
    ContinuousStateFlowEstimator foreign(other, p.store, small_net(), p.rng, "foreign", 2, 1);
    BOOST_CHECK_THROW(ContinuousDBGFlowNet(&p.pf, &p.pb, &foreign), std::invalid_argument);
}

// --loss db / subtb on every continuous env: accepted, built, one training step with a
// finite loss, log Z = log F(s_0) starting at --init-logz; nonsense flags refused by name.
// --partial-energy: log F(x, t) = MLP(x, t) + E_t(x) with
//     E_t(x) = (1 − t)·log N(x; 0, σ²·t_scale·t·I) + t·log R(x);
// worked by hand on gmm25 (d = 2) at x = (0.6, −0.8), |x|² = 1, σ = 2, t_scale = 0.5
// (v = 2): at t = 1/4, vt = 1/2 and log N = −(log 2π + log ½) − 1 = −2.1447299;
// at t = 1, E = log R. log F(s_0) stays the scalar; the gradients are the plain
// flow's (the base is a constant), checked against central differences.
BOOST_AUTO_TEST_CASE(partial_energy_base_of_the_diffusion_state_flow) {
    std::vector<std::string> flags = {"--env", "diffusion", "--target", "gmm25", "--steps", "4", "--loss", "subtb",
                                      "--sigma", "2", "--t-scale", "0.5", "--hidden", "8", "--layers", "2",
                                      "--batch-size", "3", "--threads", "1", "--no-lp", "--no-learn-variance"};
    Config plain_cfg, c;
    parse_train_flags(flags, plain_cfg);
    flags.push_back("--partial-energy");
    parse_train_flags(flags, c);
    Run plain(plain_cfg), run(c);  // the same seed: the same initial parameters
    BOOST_REQUIRE(run.continuous_log_f && run.continuous_log_f->has_base() && !plain.continuous_log_f->has_base());
    BOOST_REQUIRE(run.store.values == plain.store.values);
    const auto& env = static_cast<const DiffusionSampling&>(*run.continuous_env);
    const float states[9] = {0.f, 0.f, 0.f, 0.6f, -0.8f, 0.25f, 0.6f, -0.8f, 1.f};  // s_0, t = 1/4, t = 1
    float log_r;
    env.target().log_density(states + 3, 1, &log_r);
    float e[2];
    env.partial_energy(states + 3, 2, 2.0, e);
    BOOST_CHECK_CLOSE(double(e[0]), 0.75 * -2.1447299 + 0.25 * double(log_r), 1e-4);
    BOOST_CHECK_CLOSE(double(e[1]), double(log_r), 1e-4);
    float scratch[2] = {7.f, 7.f};
    BOOST_CHECK_THROW(env.partial_energy(states, 2, 2.0, scratch), std::invalid_argument);      // s_0: t = 0
    BOOST_CHECK_THROW(env.partial_energy(states + 3, 1, 0.0, scratch), std::invalid_argument);  // v = 0
    BOOST_CHECK(scratch[0] == 7.f && scratch[1] == 7.f);  // refused before anything is written
    // The estimator adds E_t (with v = σ²·t_scale = 2) to the MLP, and nothing at s_0.
    Tape tape;
    const Var with = run.continuous_log_f->forward(tape, states, 3);
    const Var without = plain.continuous_log_f->forward(tape, states, 3);
    BOOST_CHECK_EQUAL(with.value().data[0], without.value().data[0]);
    BOOST_CHECK_CLOSE(double(with.value().data[0]), run.gflownet->log_z(), 1e-5);
    for (int k = 1; k < 3; ++k)
        BOOST_CHECK_CLOSE(double(with.value().data[k] - without.value().data[k]), double(e[k - 1]), 1e-3);
    // SubTB's gradient through every parameter on a sampled batch.
    Tape sample_tape;
    Trajectories t;
    sample_continuous_trajectories(env, *run.continuous_pf, 3, 0.f, run.rng, sample_tape, t);
    GradCheckOptions opt;
    opt.max_checks = 80;
    opt.step = 1e-2;
    GradCheckReport rep = check_gradients(
        [&](Tape& tp) { return run.gflownet->loss(tp, t); },
        {GradTarget{"store", run.store.values.data(), run.store.grads.data(), run.store.size()}}, opt);
    BOOST_CHECK_MESSAGE(rep.ok, rep.message());
    BOOST_CHECK(rep.checked > 40);
    // Only with --loss db / subtb, only for --env diffusion.
    auto message_of = [](std::vector<std::string> args) {
        Config x;
        try { parse_train_flags(args, x); } catch (const std::invalid_argument& e) { return std::string(e.what()); }
        return std::string();
    };
    BOOST_CHECK(message_of({"--env", "diffusion", "--loss", "tb", "--partial-energy"}).find("--partial-energy") !=
                std::string::npos);
    BOOST_CHECK(message_of({"--env", "line", "--loss", "db", "--partial-energy"}).find("--partial-energy") !=
                std::string::npos);
    BOOST_CHECK_EQUAL(message_of({"--env", "diffusion", "--loss", "db", "--partial-energy"}), "");
}

BOOST_AUTO_TEST_CASE(command_line_db_and_subtb) {
    auto message_of = [](std::vector<std::string> args) {
        Config x;
        try { parse_train_flags(args, x); } catch (const std::invalid_argument& e) { return std::string(e.what()); }
        return std::string();
    };
    const std::vector<std::vector<std::string>> envs = {
        {"--env", "line", "--n-steps-per-trajectory", "3"},
        {"--env", "box"},
        {"--env", "box_cartesian"},
        {"--env", "diffusion", "--target", "gmm25", "--steps", "4"}};
    for (const auto& env : envs)
        for (const char* loss : {"db", "subtb"}) {
            std::vector<std::string> args = env;
            for (const char* a : {"--loss", loss, "--hidden", "8", "--layers", "2", "--batch-size", "4",
                                  "--iterations", "2", "--init-logz", "0.25", "--threads", "1"})
                args.push_back(a);
            Config c;
            BOOST_REQUIRE_NO_THROW(parse_train_flags(args, c));
            Run run(c);
            BOOST_REQUIRE(run.continuous_log_f);
            BOOST_CHECK_EQUAL(run.gflownet->name(), loss);
            BOOST_CHECK_CLOSE(run.gflownet->log_z(), 0.25, 1e-4);
            const StepStats st = train_step(run);
            BOOST_CHECK_MESSAGE(std::isfinite(st.loss) && st.loss > 0, env[1] << " " << loss << ": " << st.loss);
            BOOST_CHECK(run.gflownet->log_z() != 0.25);  // log F(s_0) trains
        }
    // SubTB's flags without --loss subtb, forward-looking, modified DB, a tied PB: refused, named.
    BOOST_CHECK(message_of({"--env", "line", "--loss", "db", "--subtb-weighting", "equal"}).find("--subtb-weighting") !=
                std::string::npos);
    BOOST_CHECK(message_of({"--env", "box", "--loss", "tb", "--lambda", "0.5"}).find("--lambda") != std::string::npos);
    BOOST_CHECK(message_of({"--env", "diffusion", "--loss", "db", "--lambda", "0.5"}).find("--lambda") !=
                std::string::npos);
    BOOST_CHECK(message_of({"--env", "diffusion", "--loss", "subtb", "--forward-looking"}).find("--forward-looking") !=
                std::string::npos);
    BOOST_CHECK(message_of({"--env", "line", "--loss", "modified_db"}).find("--loss modified_db") != std::string::npos);
    BOOST_CHECK(message_of({"--env", "box_cartesian", "--loss", "db", "--tied"}).find("--tied") != std::string::npos);
    BOOST_CHECK(message_of({"--env", "line", "--loss", "subtb", "--subtb-weighting", "nope"})
                    .find("--subtb-weighting") != std::string::npos);
    // SubTB's flags with --loss subtb are taken.
    BOOST_CHECK_EQUAL(
        message_of({"--env", "box", "--loss", "subtb", "--subtb-weighting", "equal", "--lambda", "0.5"}), "");
}

BOOST_AUTO_TEST_SUITE_END()
