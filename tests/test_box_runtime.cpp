// test_box_runtime.cpp — the Box environments (--env box, box_cartesian) at run
// time: checkpoints, relative objectives over a saved Box prior, and the one-pass
// sample_and_log_prob of the Box policies.
//
// What must hold:
//   - N + M iterations straight equal N, save, resume, M bit for bit (parameters
//     of PF, PB and log Z, Adam's moments and step, the step schedule's rates,
//     the random stream, the validation metrics), polar and Cartesian;
//   - a restored checkpoint samples exactly what the saved run samples (gfn sample,
//     gfn eval); a checkpoint of another --delta, --n-components or --env, or a
//     corrupted one, is refused with a message naming the problem;
//   - RTB on a hand-built batch over a saved prior is
//         (log Z + Σ log PF_post − Σ log PF_prior − β log R(x))²
//     with each log PF written out from the pinned networks' Beta mixtures and R
//     the posterior run's Box reward; relative_lpv the batch variance of the same
//     scores; the validation reference of a relative Box run is p* ∝ R_prior·R^β;
//   - sample_and_log_prob draws what sample() draws and gives log_prob()'s values
//     and gradients, for the four Box policies;
//   - --trace on Box prints one trajectory whose printed numbers add up: the
//     sums of the per-step log PF and log PB, log R of the printed end point by
//     the reward formula, and the TB term (log Z + Σ log PF − Σ log PB − log R)²;
//     tracing changes nothing of the run.
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "engine/nn.h"
#include "engine/ops.h"
#include "envs/box.h"
#include "gfn/estimators/box_policy.h"
#include "gfn/objectives/trajectory_balance.h"
#include "gfn/runtime/checkpoint.h"
#include "gfn/runtime/config.h"
#include "gfn/runtime/trace.h"
#include "gfn/runtime/train_command.h"
#include "gfn/runtime/training.h"
#include "gfn/samplers/continuous_sampler.h"

using namespace gfn;

namespace {

Config parsed(const std::vector<std::string>& args) {
    Config c;
    parse_train_flags(args, c);
    return c;
}

std::string temp_path(const std::string& name) {
    return "/tmp/gfn_test_" + std::to_string(::getpid()) + "_" + name;
}

std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void spit(const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << bytes;
}

// A small Box run: 16 hidden units, batch 16, a step schedule that decays every 4 steps.
std::vector<std::string> small_box(const std::string& env, int iterations) {
    return {"--env", env, "--hidden", "16", "--layers", "2", "--batch-size", "16", "--iterations",
            std::to_string(iterations), "--scheduler-milestone", "4", "--validation-samples", "600",
            "--validation-bins", "10", "--seed", "7", "--threads", "1"};
}

// The message of the exception f throws (empty when none).
template <class F> std::string message_of(F f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}

bool has(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

double sigmoid_d(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double beta_pdf(double r, int a, int b) {
    auto fact = [](int k) { double f = 1; for (int i = 2; i <= k; ++i) f *= i; return f; };
    const double B = fact(a - 1) * fact(b - 1) / fact(a + b - 1);
    return std::pow(r, a - 1) * std::pow(1 - r, b - 1) / B;
}

// Every weight of `net` 0 and its output bias = bias.
void pin(ParamStore& store, const MLP& net, const std::vector<float>& bias) {
    for (const Linear& l : net.hidden_layers) {
        std::fill_n(store.value(l.W).data, l.in * l.out, 0.f);
        std::fill_n(store.value(l.b).data, l.out, 0.f);
    }
    std::fill_n(store.value(net.output_layer.W).data, net.output_layer.in * net.output_layer.out, 0.f);
    BOOST_REQUIRE_EQUAL(size_t(net.output_layer.out), bias.size());
    std::copy(bias.begin(), bias.end(), store.value(net.output_layer.b).data);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(box_runtime)

// N + M = (N, save, resume, M), bit for bit, polar and Cartesian; the step schedule
// (decay every 4 steps) crosses the save at 6.
BOOST_AUTO_TEST_CASE(resume_equals_uninterrupted) {
    for (const char* env : {"box", "box_cartesian"}) {
        BOOST_TEST_CONTEXT(env) {
            const Config cfg = parsed(small_box(env, 13));
            Run straight(cfg);
            const std::vector<float> initial = straight.store.values;
            const Metrics ms = train(straight).final_metrics;
            BOOST_CHECK(straight.store.values != initial);  // it trained
            int names = 0;
            for (const Param& p : straight.store.params)
                names += p.name.rfind("pf", 0) == 0 || p.name.rfind("pb", 0) == 0 || p.name == "log_z";
            BOOST_CHECK_EQUAL(size_t(names), straight.store.params.size());

            const std::string path = temp_path(std::string(env) + "_resume.ckpt");
            Config half = cfg;
            half.iterations = 6;
            {
                Run a(half);
                train(a);
                save_checkpoint(a, path);
            }
            Run b(cfg, false);
            load_checkpoint(b, path);
            BOOST_CHECK_EQUAL(b.iteration, 6);
            const Metrics mb = train(b).final_metrics;
            std::remove(path.c_str());
            BOOST_CHECK_EQUAL(b.iteration, 13);
            BOOST_CHECK(b.store.values == straight.store.values);
            BOOST_CHECK(b.optimizer->m == straight.optimizer->m);
            BOOST_CHECK(b.optimizer->v == straight.optimizer->v);
            BOOST_CHECK_EQUAL(b.optimizer->t, straight.optimizer->t);
            BOOST_CHECK_EQUAL(b.rng.state, straight.rng.state);
            // lr after 12 steps taken: 1e-3 · 0.5^⌊12/4⌋
            BOOST_CHECK_CLOSE(b.optimizer->groups[0].lr, 1.25e-4f, 1e-4);
            BOOST_CHECK_EQUAL(b.optimizer->groups[0].lr, straight.optimizer->groups[0].lr);
            BOOST_CHECK_EQUAL(b.optimizer->groups[1].lr, straight.optimizer->groups[1].lr);
            BOOST_CHECK_EQUAL(mb.binned_l1, ms.binned_l1);
            BOOST_CHECK_EQUAL(mb.logz, ms.logz);
            BOOST_CHECK_EQUAL(mb.logz_is, ms.logz_is);
        }
    }
}

// The same through the command line: gfn train --save, then --resume to the end,
// equals the straight run's checkpoint (parameters, moments, stream, iteration).
BOOST_AUTO_TEST_CASE(command_line_resume_equals_uninterrupted) {
    const std::string straight = temp_path("cl_straight.ckpt"), half = temp_path("cl_half.ckpt"),
                      resumed = temp_path("cl_resumed.ckpt");
    auto run = [](std::vector<std::string> args) {
        std::FILE* out = std::tmpfile();
        const int code = train_command(args, out, out);
        std::fclose(out);
        return code;
    };
    std::vector<std::string> a = small_box("box_cartesian", 9), b = small_box("box_cartesian", 4);
    a.insert(a.end(), {"--quiet", "--save", straight});
    b.insert(b.end(), {"--quiet", "--save", half});
    BOOST_REQUIRE_EQUAL(run(a), 0);
    BOOST_REQUIRE_EQUAL(run(b), 0);
    BOOST_REQUIRE_EQUAL(run({"--resume", half, "--iterations", "9", "--quiet", "--save", resumed}), 0);
    auto load = [](const std::string& path) {
        auto r = std::make_unique<Run>(checkpoint_config(path), false);
        load_checkpoint(*r, path);
        return r;
    };
    auto x = load(straight), y = load(resumed);
    BOOST_CHECK_EQUAL(y->iteration, 9);
    BOOST_CHECK(x->store.values == y->store.values);
    BOOST_CHECK(x->optimizer->m == y->optimizer->m && x->optimizer->v == y->optimizer->v);
    BOOST_CHECK_EQUAL(x->optimizer->t, y->optimizer->t);
    BOOST_CHECK_EQUAL(x->rng.state, y->rng.state);
    for (const std::string& p : {straight, half, resumed}) std::remove(p.c_str());
}

// What gfn sample and gfn eval do with a checkpoint (apps/gfn.cpp: restore): the
// restored run samples exactly what the saved one samples, 2-vectors in [0, 1]²
// with log R of the Box reward, and validates against log Z = log 0.305.
BOOST_AUTO_TEST_CASE(sample_and_eval_load_a_box_checkpoint) {
    for (const char* env : {"box", "box_cartesian"}) {
        BOOST_TEST_CONTEXT(env) {
            const std::string path = temp_path(std::string(env) + "_sample.ckpt");
            std::vector<std::string> args = small_box(env, 5);
            args.insert(args.end(), {"--quiet", "--save", path});
            std::FILE* out = std::tmpfile();
            BOOST_REQUIRE_EQUAL(train_command(args, out, out), 0);
            std::fclose(out);

            const Config cfg = checkpoint_config(path);
            BOOST_CHECK_EQUAL(cfg.env, env);
            Run restored(cfg, false);
            load_checkpoint(restored, path);
            BOOST_CHECK_EQUAL(restored.iteration, 5);
            Run again(parsed(small_box(env, 5)));
            train(again);
            BOOST_CHECK(restored.store.values == again.store.values);

            const int n = 200;
            Rng r1(3, 0x5a3f1e), r2(3, 0x5a3f1e);
            Tape t1, t2;
            Trajectories a, b;
            sample_continuous_trajectories(*restored.continuous_env, *restored.continuous_pf, n, 0.f, r1, t1, a);
            sample_continuous_trajectories(*again.continuous_env, *again.continuous_pf, n, 0.f, r2, t2, b);
            BOOST_CHECK(a.lengths == b.lengths);
            for (int i = 0; i < n; ++i) {
                const float* x = a.float_terminal_state(i);
                BOOST_REQUIRE(x[0] == b.float_terminal_state(i)[0] && x[1] == b.float_terminal_state(i)[1]);
                BOOST_CHECK(x[0] > 0.f && x[0] <= 1.f + 1e-5f && x[1] > 0.f && x[1] <= 1.f + 1e-5f);
                // R = 0.1 + 0.5·[both |x^d − ½| > 0.25] + 2·[both in (0.3, 0.4)]
                const double a0 = std::fabs(x[0] - 0.5), a1 = std::fabs(x[1] - 0.5);
                const double R = 0.1 + (a0 > 0.25 && a1 > 0.25 ? 0.5 : 0.0) +
                                 (a0 > 0.3 && a0 < 0.4 && a1 > 0.3 && a1 < 0.4 ? 2.0 : 0.0);
                BOOST_CHECK_CLOSE(double(a.log_rewards[size_t(i)]), std::log(R), 1e-4);
            }
            const Metrics m = validate_run(restored);
            BOOST_CHECK(m.binned_l1 >= 0 && m.binned_l1 <= 2);
            BOOST_CHECK(std::isfinite(m.logz_is));
            BOOST_CHECK_CLOSE(m.logz_true, std::log(0.305), 1e-9);
            BOOST_CHECK_EQUAL(m.logz, double(again.log_z->value()));
            std::remove(path.c_str());
        }
    }
}

// Another --delta, --n-components or --env, a corrupted or truncated file: refused, naming it.
BOOST_AUTO_TEST_CASE(mismatched_and_corrupted_checkpoints_are_refused) {
    const std::string path = temp_path("box_bad.ckpt"), bad = temp_path("box_bad2.ckpt");
    {
        Run a(parsed(small_box("box", 3)));
        train(a);
        save_checkpoint(a, path);
    }
    auto load_with = [&](std::vector<std::string> extra) {
        std::vector<std::string> args = small_box("box", 10);
        args.insert(args.end(), extra.begin(), extra.end());
        Run r(parsed(args), false);
        load_checkpoint(r, path);
    };
    BOOST_CHECK(message_of([&] { load_with({}); }).empty());
    std::string e = message_of([&] { load_with({"--delta", "0.2"}); });
    BOOST_CHECK_MESSAGE(has(e, "--delta 0.25") && has(e, "--delta 0.2"), e);
    e = message_of([&] { load_with({"--n-components", "3"}); });
    BOOST_CHECK_MESSAGE(has(e, "--n-components 2") && has(e, "--n-components 3"), e);
    e = message_of([&] { load_with({"--n-components-s0", "2"}); });
    BOOST_CHECK_MESSAGE(has(e, "--n-components-s0"), e);
    e = message_of([&] {
        std::vector<std::string> args = small_box("box_cartesian", 10);
        Run r(parsed(args), false);
        load_checkpoint(r, path);
    });
    BOOST_CHECK_MESSAGE(has(e, "--env box"), e);
    // gfn train --resume with another --delta: refused before any work.
    e = message_of([&] {
        Config c = parsed({"--env", "box", "--resume", path, "--delta", "0.2", "--iterations", "10"});
        resumed_config(c, {"env", "resume", "delta", "iterations"});
    });
    BOOST_CHECK_MESSAGE(has(e, "--delta 0.2 differs from the checkpoint's --delta 0.25"), e);
    // One flipped payload byte, and a cut file.
    std::string bytes = slurp(path);
    bytes[bytes.size() / 2] ^= 0x40;
    spit(bad, bytes);
    e = message_of([&] { checkpoint_config(bad); });
    BOOST_CHECK_MESSAGE(has(e, "corrupted"), e);
    spit(bad, slurp(path).substr(0, 100));
    e = message_of([&] { checkpoint_config(bad); });
    BOOST_CHECK_MESSAGE(has(e, "truncated"), e);
    std::remove(bad.c_str());
    std::remove(path.c_str());
}

// RTB over a saved polar prior on a hand-built batch of two trajectories:
//   A: s_0 → x1 → exit,   B: s_0 → x1 → x2 → exit
// with x1 = a1 = (δ/2)(cos π/4, sin π/4) (r = ½, θ = ½) and a2 = δ(cos π/8, sin π/8)
// (the full arc, u = ¼). Posterior (pinned as test_box's polar_hand_worked):
//   s_0:    log(¼ Beta(½;3,4) + ¾ Beta(½;3,2)) + log Beta(½;2,3) − log δ − log(π/2) − log(δ/2)
//   circle: log σ(1) + log(¼ Beta(¼;3,3) + ¾ Beta(¼;4,2)) − log δ − log(π/2);  exit: log σ(−1)
// Prior (every output 0: l = 0, every Beta(3, 3)):
//   s_0:    2 log Beta(½;3,3) − log δ − log(π/2) − log(δ/2)
//   circle: log σ(0) + log Beta(¼;3,3) − log δ − log(π/2);                       exit: log σ(0)
// r = R(x) of the posterior's env, --R0 0.3: x1 ∈ S1² \ S2² → 0.8; x2 = (0.319, 0.184) → 0.3.
//   loss = ½ Σ_i g(log Z + Σ log PF_post − Σ log PF_prior − β log r_i),  g(t) = t²/2 (the relative
//   objectives' default), β = 0.5, log Z = 0.7.
BOOST_AUTO_TEST_CASE(rtb_hand_worked_over_a_saved_prior) {
    const std::string prior_path = temp_path("box_prior.ckpt");
    const std::vector<std::string> shape = {"--env", "box", "--hidden", "8", "--layers", "2", "--n-components", "2",
                                            "--n-components-s0", "2", "--min-concentration", "1",
                                            "--max-concentration", "5", "--validation-samples", "500",
                                            "--validation-bins", "10", "--threads", "1"};
    {
        Run p(parsed(shape));
        const auto& pf = dynamic_cast<const BoxPolarPolicy&>(*p.continuous_pf);
        pin(p.store, pf.net(), std::vector<float>(7, 0.f));
        std::fill_n(p.store.value(pf.s0_param()).data, 10, 0.f);
        save_checkpoint(p, prior_path);
    }
    std::vector<std::string> args = shape;
    args.insert(args.end(), {"--loss", "rtb", "--prior", prior_path, "--beta", "0.5", "--R0", "0.3"});
    Run run(parsed(args));
    BOOST_REQUIRE(run.prior_run && !run.continuous_pb);
    BOOST_CHECK(run.prior_run->store.frozen);
    const auto& post = dynamic_cast<const BoxPolarPolicy&>(*run.continuous_pf);
    const float L3 = std::log(3.f);
    pin(run.store, post.net(), {-1.f, 0.f, L3, 0.f, L3, 0.f, -L3});
    const float s0p[] = {0.f, L3, 0.f, 0.f, L3, -L3, -L3, -L3, 0.f, 0.f};
    std::copy(s0p, s0p + 10, run.store.value(post.s0_param()).data);
    run.log_z->set_value(0.7f);

    const double d = 0.25, lhp = std::log(M_PI / 2), beta = 0.5;
    const float x1[] = {float(0.125 * std::cos(M_PI / 4)), float(0.125 * std::sin(M_PI / 4))};
    const float a2[] = {float(d * std::cos(M_PI / 8)), float(d * std::sin(M_PI / 8))};
    const float x2[] = {x1[0] + a2[0], x1[1] + a2[1]};
    Trajectories t;
    t.allocate_continuous(2, 3, 2, 2);
    t.lengths = {2, 3};
    for (int i = 0; i < 2; ++i) {
        t.float_state(0, i)[0] = t.float_state(0, i)[1] = 0.f;
        std::copy(x1, x1 + 2, t.float_action(0, i));
        std::copy(x1, x1 + 2, t.float_state(1, i));
    }
    std::copy(a2, a2 + 2, t.float_action(1, 1));
    std::copy(x2, x2 + 2, t.float_state(2, 1));
    t.log_rewards.resize(2);
    run.continuous_env->log_reward(t.float_state(1, 0), 1, &t.log_rewards[0]);
    run.continuous_env->log_reward(t.float_state(2, 1), 1, &t.log_rewards[1]);
    t.index_steps();
    BOOST_CHECK_CLOSE(double(t.log_rewards[0]), std::log(0.8), 1e-4);  // R0 + R1
    BOOST_CHECK_CLOSE(double(t.log_rewards[1]), std::log(0.3), 1e-4);  // R0

    const double post_s0 = std::log(0.25 * beta_pdf(0.5, 3, 4) + 0.75 * beta_pdf(0.5, 3, 2)) +
                           std::log(beta_pdf(0.5, 2, 3)) - std::log(d) - lhp - std::log(d / 2);
    const double post_circle =
        std::log(sigmoid_d(1)) + std::log(0.25 * beta_pdf(0.25, 3, 3) + 0.75 * beta_pdf(0.25, 4, 2)) - std::log(d) - lhp;
    const double post_exit = std::log(sigmoid_d(-1));
    const double prior_s0 = 2 * std::log(beta_pdf(0.5, 3, 3)) - std::log(d) - lhp - std::log(d / 2);
    const double prior_circle = std::log(0.5) + std::log(beta_pdf(0.25, 3, 3)) - std::log(d) - lhp;
    const double prior_exit = std::log(0.5);
    const double sA = post_s0 + post_exit - prior_s0 - prior_exit - beta * std::log(0.8);
    const double sB = post_s0 + post_circle + post_exit - prior_s0 - prior_circle - prior_exit - beta * std::log(0.3);
    const double want = 0.5 * (0.5 * std::pow(0.7 + sA, 2) + 0.5 * std::pow(0.7 + sB, 2));
    Tape tape;
    BOOST_CHECK_CLOSE(double(run.gflownet->loss(tape, t).item()), want, 1e-3);
    Var terms = run.gflownet->loss(tape, t, true, Reduction::None);
    BOOST_CHECK_CLOSE(double(terms.value().data[0]), 0.5 * std::pow(0.7 + sA, 2), 1e-3);
    BOOST_CHECK_CLOSE(double(terms.value().data[1]), 0.5 * std::pow(0.7 + sB, 2), 1e-3);
    // relative_lpv on the same policies, β = 2: the mean of (s_i − s̄)²/2 = ((sA − sB)/2)²/2,
    // s_i(β = 2) = s_i(β = ½) − 1.5·log r_i.
    RelativeLogPartitionVarianceGFlowNet rlpv(run.continuous_pf.get(), run.prior_run->continuous_pf.get(), 2.f);
    const double dAB = (sA - 1.5 * std::log(0.8)) - (sB - 1.5 * std::log(0.3));
    BOOST_CHECK_CLOSE(double(rlpv.loss(tape, t).item()), 0.5 * std::pow(dAB / 2, 2), 1e-3);
    std::remove(prior_path.c_str());
}

// A relative Box run through gfn train's path: the prior's moves and architecture are
// inherited (another --delta refused), the posterior starts at the prior's PF, the
// prior stays frozen, and validation compares with p* ∝ R_prior·R^β:
//   prior R = (0.1, 0.6, 2.6), this run's --R0 0.3: R = (0.3, 0.8, 2.8) on
//   (outside S1², S1² \ S2², S2²), β = 1: w = (0.03, 0.48, 7.28),
//   Z' = 0.03 + 0.25·0.45 + 0.04·6.8 = 0.4145, exact log Z = log(0.4145 / 0.305).
BOOST_AUTO_TEST_CASE(relative_run_from_a_saved_prior) {
    const std::string prior = temp_path("box_prior_run.ckpt");
    {
        std::vector<std::string> args = small_box("box_cartesian", 4);
        args.insert(args.end(), {"--delta", "0.2", "--quiet", "--save", prior});
        std::FILE* out = std::tmpfile();
        BOOST_REQUIRE_EQUAL(train_command(args, out, out), 0);
        std::fclose(out);
    }
    for (const char* loss : {"rtb", "relative_lpv", "trust_pcl"}) {
        BOOST_TEST_CONTEXT(loss) {
            Config c = parsed({"--env", "box_cartesian", "--loss", loss, "--prior", prior, "--R0", "0.3",
                               "--iterations", "3", "--batch-size", "16", "--validation-samples", "500",
                               "--validation-bins", "10", "--threads", "1"});
            BOOST_CHECK_EQUAL(c.delta, 0.25);
            inherit_prior_config(c, {"env", "loss", "prior", "R0", "iterations", "batch-size", "validation-samples",
                                     "validation-bins", "threads"});
            BOOST_CHECK_EQUAL(c.delta, 0.2);
            BOOST_CHECK_EQUAL(c.hidden, 16);
            Run run(c);
            BOOST_REQUIRE(run.prior_run);
            const std::vector<float> frozen = run.prior_run->store.values;
            for (const Param& p : run.store.params)
                for (const Param& q : run.prior_run->store.params)
                    if (p.name == q.name && p.name.rfind("pf", 0) == 0)
                        BOOST_CHECK(std::equal(run.store.values.begin() + long(p.offset),
                                               run.store.values.begin() + long(p.offset + p.size()),
                                               frozen.begin() + long(q.offset)));
            BOOST_CHECK_CLOSE(run.exact_log_z, std::log(0.4145 / 0.305), 1e-9);
            // Cells of 0.1: [0.1, 0.2]² = S2², [0, 0.1]² ⊂ S1² \ S2², [0.4, 0.5]² outside S1².
            BOOST_CHECK_CLOSE(run.continuous_target[1 * 10 + 1], 7.28 * 0.01 / 0.4145, 1e-9);
            BOOST_CHECK_CLOSE(run.continuous_target[0], 0.48 * 0.01 / 0.4145, 1e-9);
            BOOST_CHECK_CLOSE(run.continuous_target[4 * 10 + 4], 0.03 * 0.01 / 0.4145, 1e-9);
            const Metrics m = train(run).final_metrics;
            BOOST_CHECK(run.prior_run->store.values == frozen);
            BOOST_CHECK(std::isfinite(m.binned_l1) && std::isfinite(m.logz_is) && std::isfinite(m.kde_jsd));
            BOOST_CHECK_CLOSE(m.logz_true, std::log(0.4145 / 0.305), 1e-9);
        }
    }
    {  // A relative Box run resumes bit for bit too (the prior's parameters ride in the checkpoint).
        Config c = parsed({"--env", "box_cartesian", "--loss", "rtb", "--prior", prior, "--delta", "0.2", "--hidden",
                           "16", "--layers", "2", "--iterations", "6", "--batch-size", "16", "--validation-samples",
                           "500", "--validation-bins", "10", "--threads", "1"});
        Run straight(c);
        train(straight);
        const std::string path = temp_path("box_rtb_resume.ckpt");
        Config h = c;
        h.iterations = 3;
        {
            Run a(h);
            train(a);
            save_checkpoint(a, path);
        }
        Run b(c, false);
        load_checkpoint(b, path);
        train(b);
        std::remove(path.c_str());
        BOOST_CHECK(b.store.values == straight.store.values);
        BOOST_CHECK(b.optimizer->m == straight.optimizer->m);
        BOOST_CHECK(b.prior_run->store.values == straight.prior_run->store.values);
    }
    auto refused = [&](std::vector<std::string> args, std::vector<std::string> given) {
        return message_of([&] {
            Config c = parsed(args);
            inherit_prior_config(c, given);
        });
    };
    std::string e = refused({"--env", "box_cartesian", "--loss", "rtb", "--prior", prior, "--delta", "0.25"},
                            {"env", "loss", "prior", "delta"});
    BOOST_CHECK_MESSAGE(has(e, "--delta 0.25 differs from the prior's --delta 0.2"), e);
    e = refused({"--env", "box", "--loss", "rtb", "--prior", prior}, {"env", "loss", "prior"});
    BOOST_CHECK_MESSAGE(has(e, "--env box_cartesian"), e);
    // Without inherit_prior_config (the library path): the prior's other --delta is refused when built.
    e = message_of([&] {
        Run r(parsed({"--env", "box_cartesian", "--loss", "rtb", "--prior", prior, "--hidden", "16", "--layers", "2",
                      "--iterations", "1"}));
    });
    BOOST_CHECK_MESSAGE(has(e, "--delta 0.2") && has(e, "--delta 0.25"), e);
    // A relative Box run needs a saved prior.
    e = message_of([&] { parsed({"--env", "box", "--loss", "rtb", "--prior", "uniform"}); });
    BOOST_CHECK_MESSAGE(has(e, "--prior uniform") && has(e, "--prior FILE.ckpt"), e);
    e = message_of([&] { parsed({"--env", "box", "--loss", "fm"}); });
    BOOST_CHECK_MESSAGE(has(e, "--loss fm"), e);
    std::remove(prior.c_str());
}

// sample_and_log_prob (one network pass) = sample() then log_prob(): the same
// draws, the same number of random numbers, log p within 1e-6 and the same gradients.
// Except polar PF moves on a restricted arc (x^0 or x^1 > 1 − δ): there sample_and_log_prob
// scores the drawn u, which the float move does not resolve near the arc's end, and
// log_prob the u recovered from the move (box/polar_on_policy_scores_the_draw checks
// those rows); they are left out of the comparison (their gradient weight is 0).
BOOST_AUTO_TEST_CASE(one_pass_sample_and_log_prob_equals_two_calls) {
    Box polar(0.25);
    BoxCartesian cart(0.25);
    ParamStore store;
    Rng rng(17);
    NetConfig net{16, 2, Activation::Elu};
    BoxPolicyConfig bc;
    BoxPolarPolicy ppf(polar, false, store, net, bc, rng, "ppf"), ppb(polar, true, store, net, bc, rng, "ppb");
    BoxCartesianPolicy cpf(cart, false, store, net, bc, rng, "cpf"), cpb(cart, true, store, net, bc, rng, "cpb");
    for (float& v : store.values) v = 0.8f * float(rng.normal());  // larger weights
    // Cartesian: the exit logit l = 0.5 (its output row of W zero), so exits and returns to s_0 are drawn too.
    for (const BoxCartesianPolicy* p : {&cpf, &cpb}) {
        const Linear& o = p->net().output_layer;
        std::fill_n(store.value(o.W).data, o.in, 0.f);
        store.value(o.b).data[0] = 0.5f;
    }
    // Row states: s_0, ‖x‖ < δ, interior, restricted arcs, forced (exit or back to s_0); 30 copies each.
    const std::vector<float> pf_polar = {0.f, 0.f, 0.1f, 0.05f, 0.5f, 0.5f, 0.85f, 0.3f, 0.3f, 0.9f, 0.9f, 0.85f};
    const std::vector<float> pb_polar = {0.1f, 0.05f, 0.5f, 0.5f, 0.3f, 0.1f, 0.05f, 0.6f, 0.9f, 0.85f};
    const std::vector<float> pf_cart = {0.f, 0.f, 0.2f, 0.4f, 0.5f, 0.3f, 0.6f, 0.7f, 0.8f, 0.1f};
    const std::vector<float> pb_cart = {0.2f, 0.4f, 0.5f, 0.3f, 0.7f, 0.9f, 0.26f, 0.3f};
    struct Case {
        const ContinuousPolicy* p;
        const std::vector<float>* rows;
        const char* name;
    };
    for (const Case& c : {Case{&ppf, &pf_polar, "polar pf"}, Case{&ppb, &pb_polar, "polar pb"},
                          Case{&cpf, &pf_cart, "cartesian pf"}, Case{&cpb, &pb_cart, "cartesian pb"}}) {
        BOOST_TEST_CONTEXT(c.name) {
            const ContinuousPolicy& p = *c.p;
            std::vector<float> states;
            for (int copy = 0; copy < 30; ++copy) states.insert(states.end(), c.rows->begin(), c.rows->end());
            const int n = int(states.size()) / 2;
            std::vector<float> a0(size_t(n) * 2), a1(size_t(n) * 2);
            std::vector<uint8_t> x0(static_cast<size_t>(n)), x1(static_cast<size_t>(n));
            std::vector<float> w(static_cast<size_t>(n));  // fixed random weights for the gradient
            for (float& v : w) v = rng.uniform(-1.f, 1.f);
            std::vector<uint8_t> compared(static_cast<size_t>(n), 1);
            if (&p == &ppf)
                for (int k = 0; k < n; ++k) {
                    const float* x = &states[2 * size_t(k)];
                    const double lim = 1.0 - polar.delta();
                    if ((x[0] > lim || x[1] > lim) && !p.env().exit_forced(x)) compared[size_t(k)] = 0, w[size_t(k)] = 0.f;
                }
            Rng r0(99), r1(99);
            Tape t0, t1;
            p.sample(t0, states.data(), n, 0.f, r0, a0.data(), x0.data());
            Var want = p.log_prob(t0, states.data(), a0.data(), p.is_backward() ? nullptr : x0.data(), n);
            Var got = p.sample_and_log_prob(t1, states.data(), n, 0.f, r1, a1.data(), x1.data());
            BOOST_CHECK(x0 == x1);
            int exits = 0, moves = 0;
            for (int k = 0; k < n; ++k) exits += x0[size_t(k)];
            for (size_t k = 0; k < a0.size(); ++k) {
                BOOST_CHECK((std::isnan(a0[k]) && std::isnan(a1[k])) || a0[k] == a1[k]);
                moves += !std::isnan(a0[k]);
            }
            int returns = 0;  // Cartesian PB: drawn returns to s_0 (the move x itself)
            for (int k = 0; k < n; ++k)
                returns += !p.env().backward_forced(&states[2 * size_t(k)]) && a0[2 * size_t(k)] == states[2 * size_t(k)] &&
                           a0[2 * size_t(k) + 1] == states[2 * size_t(k) + 1];
            BOOST_TEST_MESSAGE(c.name << ": " << exits << " exits, " << returns << " returns to s_0 of " << n);
            if (!p.is_backward()) BOOST_CHECK(exits > 30);  // drawn exits, not only the forced ones
            if (&p == &cpb) BOOST_CHECK(returns > 0);
            BOOST_CHECK(moves > 0);
            BOOST_CHECK(r0.next_u32() == r1.next_u32());  // the same number of draws
            BOOST_REQUIRE_EQUAL(got.rows(), n);
            int n_compared = 0;
            for (int k = 0; k < n; ++k) {
                if (!compared[size_t(k)]) continue;
                ++n_compared;
                BOOST_CHECK_MESSAGE(std::fabs(got.value().data[k] - want.value().data[k]) <=
                                        1e-6 * (1 + std::fabs(want.value().data[k])),
                                    "row " << k << ": " << got.value().data[k] << " vs " << want.value().data[k]);
            }
            BOOST_CHECK(n_compared >= n * 2 / 3);
            // Gradients of Σ w_k log p_k: the same through both tapes.
            auto grads = [&](Tape& t, Var lp) {
                Var loss = sum(mul(lp, t.constant_copy(w.data(), n, 1)));
                store.zero_grad();
                t.backward(loss);
                return store.grads;
            };
            const std::vector<float> g0 = grads(t0, want), g1 = grads(t1, got);
            double norm = 0;
            int bad = 0;
            for (size_t k = 0; k < g0.size(); ++k) {
                norm += double(g0[k]) * g0[k];
                if (std::fabs(g0[k] - g1[k]) > 1e-5 * (1 + std::fabs(g0[k]))) ++bad;
            }
            BOOST_CHECK_EQUAL(bad, 0);
            BOOST_CHECK(norm > 0);
        }
    }
}

BOOST_AUTO_TEST_CASE(trace_adds_up) {
    for (const char* env : {"box", "box_cartesian"}) {
        BOOST_TEST_CONTEXT(env) {
            Run run(parsed(small_box(env, 3)));
            train(run);
            const std::vector<float> values = run.store.values;
            const uint64_t state = run.rng.state;
            std::FILE* f = std::tmpfile();
            print_trace(run, f);
            std::rewind(f);
            std::vector<std::string> lines;
            char buf[4096];
            while (std::fgets(buf, sizeof buf, f)) lines.push_back(buf);
            std::fclose(f);
            BOOST_CHECK(run.store.values == values && run.rng.state == state);  // nothing changed
            BOOST_REQUIRE(lines.size() >= 5);
            BOOST_CHECK(has(lines[0], std::string("trace: one trajectory of ") + env));
            // The Cartesian action is the excess over δ, and the trace says so.
            BOOST_CHECK_EQUAL(has(lines[1], "excess over its minimum"), std::string(env) == "box_cartesian");
            double sum_pf = 0, sum_pb = 0, x0 = NAN, x1 = NAN;
            int steps = 0;
            bool exit_seen = false;
            for (const std::string& l : lines) {
                if (l.rfind("  t=", 0) != 0) continue;
                ++steps;
                double pf = NAN, pb = 0;
                const size_t at = l.find("log PF ");
                BOOST_REQUIRE(at != std::string::npos);
                pf = std::stod(l.substr(at + 7));
                const size_t bp = l.find("log PB(s_t | s_t+1) ");
                if (bp != std::string::npos) pb = std::stod(l.substr(bp + 20));
                if (has(l, " exit")) {
                    exit_seen = true;
                    BOOST_REQUIRE(std::sscanf(l.c_str() + l.find("s=(") + 3, "%lf, %lf", &x0, &x1) == 2);
                }
                sum_pf += pf;
                sum_pb += pb;
            }
            BOOST_CHECK(exit_seen && steps >= 2);
            double log_r = NAN, p_pf = NAN, p_pb = NAN, log_z = NAN, term = NAN;
            for (const std::string& l : lines) {
                if (l.rfind("  log R(x)", 0) == 0)
                    std::sscanf(l.c_str(), "  log R(x) %lf   sum log PF %lf   sum log PB %lf", &log_r, &p_pf, &p_pb);
                if (l.rfind("  log Z", 0) == 0) std::sscanf(l.c_str(), "  log Z %lf", &log_z);
                if (has(l, "tb loss terms")) term = std::stod(l.substr(l.find(":") + 1));
            }
            BOOST_CHECK_SMALL(sum_pf - p_pf, 1e-3 * steps);
            BOOST_CHECK_SMALL(sum_pb - p_pb, 1e-3 * steps);
            const double a0 = std::fabs(x0 - 0.5), a1 = std::fabs(x1 - 0.5);
            const double R = 0.1 + (a0 > 0.25 && a1 > 0.25 ? 0.5 : 0.0) +
                             (a0 > 0.3 && a0 < 0.4 && a1 > 0.3 && a1 < 0.4 ? 2.0 : 0.0);
            BOOST_CHECK_SMALL(log_r - std::log(R), 1e-4);
            BOOST_CHECK_SMALL(log_z - double(run.log_z->value()), 1e-4);  // printed to 4 decimals
            const double score = log_z + p_pf - p_pb - log_r;
            BOOST_CHECK_SMALL(term - score * score, 1e-3 * (1 + std::fabs(score)));
        }
    }
    // --trace is accepted on Box and still refused on the other continuous envs.
    BOOST_CHECK(parsed({"--env", "box", "--trace"}).trace);
    BOOST_CHECK(has(message_of([] { parsed({"--env", "line", "--trace"}); }), "--trace"));
}

BOOST_AUTO_TEST_SUITE_END()
