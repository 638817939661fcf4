// test_continuous_runtime.cpp — the run-time pieces the continuous envs share:
// MLE pretraining (objectives/maximum_likelihood.h), the exploration schedule,
// checkpoints of continuous runs, and --prior FILE.ckpt (a saved run as the
// frozen prior of a relative objective, the posterior starting at its weights).
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "engine/nn.h"
#include "envs/diffusion_targets.h"
#include "envs/line.h"
#include "gfn/estimators/continuous_policy.h"
#include "gfn/objectives/maximum_likelihood.h"
#include "gfn/runtime/checkpoint.h"
#include "gfn/runtime/config.h"
#include "gfn/runtime/continuous_training.h"
#include "gfn/runtime/train_command.h"
#include "gfn/runtime/training.h"
#include "gfn/samplers/continuous_sampler.h"
#include "tests/gradcheck.h"

using namespace gfn;

namespace {

double log_normal(double x, double mu, double sigma) {
    const double z = (x - mu) / sigma;
    return -0.5 * std::log(2.0 * M_PI) - std::log(sigma) - 0.5 * z * z;
}

std::string temp_path(const std::string& name) {
    return "/tmp/gfn_test_" + std::to_string(::getpid()) + "_" + name;
}

Config parsed(const std::vector<std::string>& args) {
    Config c;
    parse_train_flags(args, c);
    return c;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(continuous_runtime)

// MLE on a Line trajectory with PF pinned to μ = 0.4, σ = 0.1 + 0.9·sigmoid(0.3):
//     loss = −Σ_t log N(a_t; 0.4, σ²)   (the forced exit adds 0)
BOOST_AUTO_TEST_CASE(mle_hand_worked_and_gradients) {
    Line env({2.0, 5.0}, {0.5, 0.5}, 0.0, 4.5, 3);
    ParamStore store;
    Rng rng(5);
    NetConfig net{8, 2, Activation::Elu};
    GaussianStepPolicy pf(env, false, store, net, rng, "pf");
    GaussianStepPolicy pb(env, true, store, net, rng, "pb");
    MaximumLikelihoodGFlowNet mle(&pf);
    BOOST_CHECK_THROW(MaximumLikelihoodGFlowNet bad(&pb), std::invalid_argument);

    // Pin PF: zero weights, output bias (0.4, 0.3).
    const size_t pf_end = 2 * 3;  // MLP 2 -> 8 -> 8 -> 2: three Linear layers, weight + bias each
    for (size_t k = 0; k < pf_end; ++k) {
        const Param& p = store.params[k];
        std::fill(store.values.begin() + long(p.offset), store.values.begin() + long(p.offset + p.size()), 0.f);
    }
    const Param& bias = store.params[pf_end - 1];
    BOOST_REQUIRE_EQUAL(bias.size(), 2u);
    store.values[bias.offset] = 0.4f;
    store.values[bias.offset + 1] = 0.3f;

    // Data: two terminal states, taken back to s_0 by PB.
    const float xs[4] = {1.5f, 3.f, -0.5f, 3.f};
    Tape tape;
    Trajectories t;
    sample_continuous_backward_trajectories(env, pb, xs, 2, rng, tape, t);
    const double sigma = 0.1 + 0.9 / (1.0 + std::exp(-0.3));
    double want = 0;
    for (int i = 0; i < 2; ++i)
        for (int k = 0; k < 3; ++k) want -= log_normal(t.float_action(k, i)[0], 0.4, sigma);
    want /= 2;
    Tape lt;
    BOOST_CHECK_CLOSE(double(mle.loss(lt, t).item()), want, 1e-4);
    BOOST_CHECK_EQUAL(mle.name(), "mle");

    GradCheckOptions opt;
    opt.max_checks = 60;
    opt.step = 1e-2;
    // Unpinned (random) weights for the gradient check.
    Rng r2(9);
    for (float& v : store.values) v = 0.3f * float(r2.normal());
    GradCheckReport rep = check_gradients([&](Tape& tp) { return mle.loss(tp, t, true, Reduction::None); },
                                          {GradTarget{"store", store.values.data(), store.grads.data(), store.size()}},
                                          opt);
    BOOST_CHECK_MESSAGE(rep.ok, rep.message());
    BOOST_CHECK(rep.checked > 20);
}

// s_i = s_0 up to start, then linear to 0 at end (0: the last iteration).
BOOST_AUTO_TEST_CASE(exploration_schedule) {
    Config c = parsed({"--env", "line", "--iterations", "11", "--exploration-var-starting-val", "2"});
    Run run(c);
    BOOST_CHECK_CLOSE(exploration_std(run, 0), 2.0, 1e-12);
    BOOST_CHECK_CLOSE(exploration_std(run, 5), 1.0, 1e-12);  // 2·(1 − 5/10)
    BOOST_CHECK_EQUAL(exploration_std(run, 10), 0.0);
    Config d = parsed({"--env", "line", "--iterations", "100", "--exploration-var-starting-val", "0.5",
                       "--exploration-warm-down-start", "20", "--exploration-warm-down-end", "60"});
    Run r2(d);
    BOOST_CHECK_CLOSE(exploration_std(r2, 20), 0.5, 1e-12);
    BOOST_CHECK_CLOSE(exploration_std(r2, 40), 0.25, 1e-12);
    BOOST_CHECK_EQUAL(exploration_std(r2, 60), 0.0);
    BOOST_CHECK_EQUAL(exploration_std(r2, 99), 0.0);
    BOOST_CHECK_THROW(parsed({"--env", "line", "--exploration-warm-down-start", "50", "--exploration-warm-down-end",
                              "40"}),
                      std::invalid_argument);
}

// A continuous run saved half way and resumed ends bit for bit where the straight run ends.
BOOST_AUTO_TEST_CASE(line_checkpoint_resumes_bit_for_bit) {
    // (The exploration schedule is tied to --iterations unless its end is given.)
    Config cfg = parsed({"--env", "line", "--iterations", "12", "--batch-size", "16", "--hidden", "16",
                         "--exploration-warm-down-end", "11", "--validation-samples", "500", "--seed", "4"});
    Run straight(cfg);
    train(straight);
    const std::string path = temp_path("line.ckpt");
    Config half = cfg;
    half.iterations = 5;
    {
        Run a(half);
        train(a);
        save_checkpoint(a, path);
    }
    Run b(cfg);
    load_checkpoint(b, path);
    BOOST_CHECK_EQUAL(b.iteration, 5);
    train(b);
    std::remove(path.c_str());
    BOOST_CHECK(b.store.values == straight.store.values);
    BOOST_CHECK(b.optimizer->m == straight.optimizer->m);
    BOOST_CHECK(b.rng.state == straight.rng.state);
}

// --prior FILE: the saved PF, frozen; the posterior starts at its weights; the
// architecture comes from the prior unless given, and a given other value is refused.
BOOST_AUTO_TEST_CASE(prior_from_a_checkpoint) {
    const std::string path = temp_path("prior.ckpt");
    {
        Run p(parsed({"--height", "5", "--hidden", "16", "--iterations", "10", "--batch-size", "16",
                      "--validation-samples", "500", "--seed", "2"}));
        train(p);
        save_checkpoint(p, path);
    }
    Config c = parsed({"--height", "5", "--loss", "rtb", "--prior", path, "--iterations", "3", "--batch-size", "16",
                       "--validation-samples", "500"});
    BOOST_CHECK_EQUAL(c.hidden, 256);  // not inherited yet
    inherit_prior_config(c, {"height", "loss", "prior", "iterations", "batch-size", "validation-samples"});
    BOOST_CHECK_EQUAL(c.hidden, 16);
    Run run(c);
    BOOST_REQUIRE(run.prior_run);
    BOOST_CHECK(run.prior_run->store.frozen);
    Run saved(checkpoint_config(path), false);
    load_checkpoint(saved, path);
    BOOST_CHECK(run.prior_run->store.values == saved.store.values);
    // The posterior's PF parameters equal the prior's; log Z is its own.
    for (const Param& p : run.store.params) {
        if (p.name.compare(0, 2, "pf") != 0) continue;
        for (const Param& q : saved.store.params)
            if (q.name == p.name)
                BOOST_CHECK(std::equal(run.store.values.begin() + long(p.offset),
                                       run.store.values.begin() + long(p.offset + p.size()),
                                       saved.store.values.begin() + long(q.offset)));
    }
    train(run);
    BOOST_CHECK(run.prior_run->store.values == saved.store.values);  // frozen

    Config bad = parsed({"--height", "5", "--hidden", "32", "--loss", "rtb", "--prior", path});
    try {
        inherit_prior_config(bad, {"height", "hidden", "loss", "prior"});
        BOOST_ERROR("a --hidden other than the prior's was accepted");
    } catch (const std::invalid_argument& e) {
        BOOST_CHECK(std::string(e.what()).find("--hidden 32") != std::string::npos);
    }
    Config other = parsed({"--env", "ising", "--loss", "rtb", "--prior", path});
    BOOST_CHECK_THROW(inherit_prior_config(other, {"env", "loss", "prior"}), std::invalid_argument);
    BOOST_CHECK_THROW(parsed({"--loss", "rtb", "--prior", temp_path("absent.ckpt")}), std::invalid_argument);
    const std::string junk = temp_path("junk.ckpt");
    { std::FILE* f = std::fopen(junk.c_str(), "w"); std::fputs("not a checkpoint", f); std::fclose(f); }
    Config garbled = parsed({"--loss", "rtb", "--prior", junk});
    BOOST_CHECK_THROW(inherit_prior_config(garbled, {"loss", "prior"}), std::runtime_error);
    std::remove(junk.c_str());
    std::remove(path.c_str());
}

// --env diffusion: each target's defaults, and the errors that name their flag.
BOOST_AUTO_TEST_CASE(diffusion_flags) {
    Config g = parsed({"--env", "diffusion"});
    BOOST_CHECK_EQUAL(g.target, "gmm25");
    BOOST_CHECK_EQUAL(g.batch_size, 200);
    BOOST_CHECK_EQUAL(g.iterations, 4000);
    BOOST_CHECK_EQUAL(g.diffusion_steps, 32);
    BOOST_CHECK_EQUAL(g.sigma, 5.0);
    BOOST_CHECK_EQUAL(g.hidden, 64);
    BOOST_CHECK_EQUAL(g.loss, "tb");
    BOOST_CHECK(g.lp);              // gmm25: the Langevin parametrization and the learned variance
    BOOST_CHECK(g.learn_variance);
    BOOST_CHECK(!parsed({"--env", "diffusion", "--no-lp"}).lp);
    BOOST_CHECK(!parsed({"--env", "diffusion", "--target", "manywell"}).lp);
    BOOST_CHECK(!parsed({"--env", "diffusion", "--target", "funnel_hard"}).lp);
    Config f = parsed({"--env", "diffusion", "--target", "funnel"});
    BOOST_CHECK_EQUAL(f.sigma, 1.0);
    BOOST_CHECK(f.learn_variance);
    BOOST_CHECK(f.lp);
    BOOST_CHECK_EQUAL(f.loss, "lpv");  // the easy funnel's target setting; TB when asked
    BOOST_CHECK_EQUAL(parsed({"--env", "diffusion", "--target", "funnel", "--loss", "tb"}).loss, "tb");
    BOOST_CHECK_EQUAL(parsed({"--env", "diffusion", "--target", "funnel_hard"}).loss, "tb");
    Config fixed = parsed({"--env", "diffusion", "--target", "funnel", "--no-learn-variance"});
    BOOST_CHECK(!fixed.learn_variance);
    BOOST_CHECK_THROW(parsed({"--no-learn-variance=1"}), std::invalid_argument);
    BOOST_CHECK_THROW(parsed({"--no-batch-size", "3"}), std::invalid_argument);  // not a switch
    Config mle = parsed({"--env", "diffusion", "--loss", "mle"});
    BOOST_CHECK(!mle.lp);  // an MLE prior stays plain: relative objectives refuse a Langevin-parametrized prior
    BOOST_CHECK(!mle.learn_variance);
    BOOST_CHECK_EQUAL(mle.diffusion_steps, 100);
    BOOST_CHECK_EQUAL(mle.sigma, 2.0);
    BOOST_CHECK_EQUAL(mle.iterations, 3000);
    Config m = parsed({"--env", "diffusion", "--target", "manywell", "--sigma", "2"});
    BOOST_CHECK_EQUAL(m.sigma, 2.0);
    BOOST_CHECK(!m.zero_init);  // manywell: a random last layer and log Z lr 0.5, both overridable
    BOOST_CHECK_EQUAL(m.lr_logz, 0.5);
    BOOST_CHECK(parsed({"--env", "diffusion", "--target", "manywell", "--zero-init"}).zero_init);
    BOOST_CHECK_EQUAL(parsed({"--env", "diffusion", "--target", "manywell", "--lr-logz", "0.1"}).lr_logz, 0.1);
    BOOST_CHECK(parsed({"--env", "diffusion", "--target", "manywell", "--loss", "mle"}).zero_init);
    BOOST_CHECK(g.zero_init && f.zero_init);
    BOOST_CHECK_EQUAL(g.lr_logz, 0.1);
    BOOST_CHECK(!parsed({"--env", "diffusion", "--no-zero-init"}).zero_init);
    Config p = parsed({"--env", "diffusion", "--target", "posterior9", "--steps", "10"});
    BOOST_CHECK_EQUAL(p.diffusion_steps, 10);
    BOOST_CHECK_EQUAL(p.sigma, 2.0);
    BOOST_CHECK_EQUAL(p.lr_schedule, "constant");  // the posterior settings are for relative losses only
    const std::string prior_file = temp_path("flags_prior.ckpt");  // --prior checks the file is readable
    std::fclose(std::fopen(prior_file.c_str(), "w"));
    Config r = parsed({"--env", "diffusion", "--target", "posterior9", "--loss", "rtb", "--prior", prior_file});
    BOOST_CHECK_EQUAL(r.iterations, 10000);
    BOOST_CHECK_EQUAL(r.batch_size, 500);
    BOOST_CHECK_CLOSE(r.lr, 3e-3, 1e-9);
    BOOST_CHECK_EQUAL(r.lr_schedule, "cosine");
    BOOST_CHECK_EQUAL(r.exploration_warm_down_end, 4500);
    Config r2 = parsed({"--env", "diffusion", "--target", "posterior9", "--loss", "rtb", "--prior", prior_file,
                        "--lr", "1e-3", "--lr-schedule", "constant"});
    BOOST_CHECK_CLOSE(r2.lr, 1e-3, 1e-9);
    BOOST_CHECK_EQUAL(r2.lr_schedule, "constant");
    std::remove(prior_file.c_str());
    auto message_of = [](std::vector<std::string> args) {
        Config x;
        try { parse_train_flags(args, x); } catch (const std::invalid_argument& e) { return std::string(e.what()); }
        return std::string();
    };
    BOOST_CHECK(message_of({"--env", "diffusion", "--target", "moons"}).find("--target") != std::string::npos);
    BOOST_CHECK(message_of({"--env", "box", "--no-zero-init"}).find("--zero-init") != std::string::npos);
    BOOST_CHECK(message_of({"--env", "diffusion", "--sigma", "0"}).find("--sigma") != std::string::npos);
    BOOST_CHECK(message_of({"--env", "diffusion", "--loss", "rtb", "--prior", "uniform"}).find("--prior") !=
                std::string::npos);
    BOOST_CHECK(message_of({"--env", "diffusion", "--loss", "fm"}).find("--loss fm") != std::string::npos);
    BOOST_CHECK(message_of({"--loss", "mle"}).find("--env diffusion") != std::string::npos);
    BOOST_CHECK(message_of({"--env", "diffusion", "--steps", "0"}).find("--steps") != std::string::npos);
    // Flags of one continuous env are refused on the others.
    BOOST_CHECK(message_of({"--target", "funnel"}).find("--env diffusion") != std::string::npos);
    BOOST_CHECK(message_of({"--env", "line", "--sigma", "2"}).find("--sigma") != std::string::npos);
    BOOST_CHECK(message_of({"--env", "diffusion", "--delta", "0.1"}).find("--delta") != std::string::npos);
    // The Langevin parametrization: diffusion only, its settings only with --lp, not with a relative loss.
    Config lp = parsed({"--env", "diffusion", "--target", "manywell", "--lp", "--lp-clip", "50"});
    BOOST_CHECK(lp.lp);
    BOOST_CHECK_EQUAL(lp.lp_layers, 3);
    BOOST_CHECK_EQUAL(lp.lp_clip, 50.0);
    BOOST_CHECK(message_of({"--env", "line", "--lp"}).find("--lp") != std::string::npos);
    BOOST_CHECK(message_of({"--env", "diffusion", "--target", "manywell", "--lp-clip", "5"}).find("add --lp") !=
                std::string::npos);
    BOOST_CHECK(message_of({"--env", "diffusion", "--target", "manywell", "--variance-per-dimension"})
                    .find("add --learn-variance") != std::string::npos);
    BOOST_CHECK(parsed({"--env", "diffusion", "--learn-variance", "--variance-per-dimension"}).variance_per_dimension);
    BOOST_CHECK(message_of({"--env", "diffusion", "--lp", "--lp-clip", "0"}).find("--lp-clip") != std::string::npos);
    BOOST_CHECK(message_of({"--env", "diffusion", "--lp", "--lp-layers", "0"}).find("--lp-layers") !=
                std::string::npos);
    std::fclose(std::fopen(prior_file.c_str(), "w"));
    BOOST_CHECK(message_of({"--env", "diffusion", "--target", "posterior9", "--lp", "--loss", "rtb", "--prior",
                            prior_file}).find("--lp: not with --loss rtb") != std::string::npos);
    std::remove(prior_file.c_str());
}

// MLE pretraining saved to a checkpoint, then RTB fine-tuning from it through
// `gfn train`: the posterior inherits the prior's --steps / --sigma / --t-scale,
// its reward is r = p_post9 / p_gmm25, and the diffusion metrics are reported.
BOOST_AUTO_TEST_CASE(mle_prior_then_rtb_posterior) {
    const std::string prior = temp_path("diffusion_prior.ckpt");
    std::FILE* out = std::tmpfile();
    BOOST_REQUIRE_EQUAL(train_command({"--env", "diffusion", "--target", "gmm25", "--loss", "mle", "--steps", "8",
                                       "--sigma", "2", "--iterations", "30", "--batch-size", "32", "--hidden", "16",
                                       "--validation-samples", "400", "--quiet", "--save", prior},
                                      out, out),
                        0);
    Config c = parsed({"--env", "diffusion", "--target", "posterior9", "--loss", "rtb", "--prior", prior,
                       "--iterations", "5", "--batch-size", "16", "--validation-samples", "400"});
    inherit_prior_config(c, {"env", "target", "loss", "prior", "iterations", "batch-size", "validation-samples"});
    BOOST_CHECK_EQUAL(c.diffusion_steps, 8);
    BOOST_CHECK_EQUAL(c.sigma, 2.0);
    BOOST_CHECK_EQUAL(c.sigma, 2.0);
    BOOST_CHECK_EQUAL(c.hidden, 16);
    Run run(c);
    BOOST_REQUIRE(run.prior_run && run.validation_env);
    // The training reward is log r = log p_post9 − log p_gmm25; validation samples posterior9 itself.
    auto post9 = make_diffusion_target("posterior9");
    auto gmm25 = make_diffusion_target("gmm25");
    float s[3] = {5.f, 0.3f, 1.f}, lr = 0, lp = 0, lg = 0;
    run.continuous_env->log_reward(s, 1, &lr);
    post9->log_density(s, 1, &lp);
    gmm25->log_density(s, 1, &lg);
    BOOST_CHECK_CLOSE(double(lr), double(lp) - double(lg), 1e-3);
    double z = 0;
    BOOST_CHECK(!run.continuous_env->exact_log_partition(&z));
    BOOST_CHECK(run.have_exact_log_partition);
    BOOST_CHECK_EQUAL(run.exact_log_z, 0.0);
    TrainResult r = train(run);
    const Metrics& m = r.final_metrics;
    BOOST_CHECK(std::isfinite(m.elbo) && std::isfinite(m.iw_elbo) && std::isfinite(m.eubo));
    BOOST_CHECK(m.elbo <= m.iw_elbo + 1e-9);
    BOOST_CHECK(std::isfinite(m.logz_is) && std::isfinite(m.logz));
    BOOST_CHECK_EQUAL(m.n_modes, 9);
    BOOST_CHECK(m.mode_tv >= 0 && m.mode_tv <= 1);
    // --steps other than the prior's is refused, naming the flag.
    Config bad = parsed({"--env", "diffusion", "--target", "posterior9", "--loss", "rtb", "--prior", prior,
                         "--steps", "16"});
    try {
        inherit_prior_config(bad, {"env", "target", "loss", "prior", "steps"});
        BOOST_ERROR("another --steps than the prior's was accepted");
    } catch (const std::invalid_argument& e) {
        BOOST_CHECK(std::string(e.what()).find("--steps 16") != std::string::npos);
    }
    std::fclose(out);
    std::remove(prior.c_str());
}

BOOST_AUTO_TEST_SUITE_END()
