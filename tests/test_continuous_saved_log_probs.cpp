// test_continuous_saved_log_probs.cpp — on-policy continuous rollouts that keep
// log PF on the tape (ContinuousPolicy::sample_and_log_prob, the sampler's
// save_log_pf, evaluate_log_probs reusing traj.saved_log_pf).
//
// What must hold:
//   - a saving rollout draws exactly what a plain rollout draws from the same
//     seed (same actions, same rewards): saving changes nothing sampled;
//   - the saved log PF is log PF of the UNEXPLORED policy at the sampled moves,
//     forced exits 0: so the TB loss and its gradient (every parameter) from the
//     saved values equal those of a recomputation on a fresh tape, with and
//     without exploration, on a diffusion batch and a Line batch;
//   - the default sample_and_log_prob (a policy that does not override it) is
//     sample() followed by log_prob(), forward and backward;
//   - Run::on_policy() holds for continuous TB-family runs, not for --loss mle.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "engine/nn.h"
#include "engine/ops.h"
#include "envs/diffusion_sampling.h"
#include "envs/diffusion_targets.h"
#include "envs/line.h"
#include "gfn/estimators/continuous_policy.h"
#include "gfn/estimators/diffusion_policy.h"
#include "gfn/estimators/log_probs.h"
#include "gfn/objectives/trajectory_balance.h"
#include "gfn/runtime/config.h"
#include "gfn/runtime/training.h"
#include "gfn/samplers/continuous_sampler.h"

using namespace gfn;

namespace {

DiffusionPolicyOptions small_diffusion(bool learn_variance) {
    DiffusionPolicyOptions o;
    o.sigma = 1.3f;
    o.t_scale = 2.f;
    o.harmonics_dim = 3;
    o.t_emb_dim = 4;
    o.s_emb_dim = 4;
    o.hidden_dim = 6;
    o.joint_layers = 2;
    o.zero_init = false;  // a drift that depends on (x, t), so gradients reach every layer
    o.learn_variance = learn_variance;
    o.log_var_range = 2.f;
    return o;
}

NetConfig small_net() {
    NetConfig c;
    c.hidden = 8;
    c.n_hidden_layers = 2;
    c.activation = Activation::Elu;
    return c;
}

// A policy that forwards sample and log_prob to another and keeps the default
// sample_and_log_prob.
class Forwarding : public ContinuousPolicy {
public:
    explicit Forwarding(const ContinuousPolicy& p) : p_(p) {}
    const ContinuousEnv& env() const override { return p_.env(); }
    bool is_backward() const override { return p_.is_backward(); }
    const ParamStore* parameter_store() const override { return p_.parameter_store(); }
    Var log_prob(Tape& tape, const float* states, const float* actions, const uint8_t* is_exit,
                 int n) const override {
        return p_.log_prob(tape, states, actions, is_exit, n);
    }
    void sample(Tape& tape, const float* states, int n, float exploration_std, Rng& rng, float* actions,
                uint8_t* is_exit) const override {
        p_.sample(tape, states, n, exploration_std, rng, actions, is_exit);
    }
    long long macs_per_row() const override { return p_.macs_per_row(); }

private:
    const ContinuousPolicy& p_;
};

bool close(double a, double b, double rel, double abs_tol) { return std::fabs(a - b) <= abs_tol + rel * std::fabs(b); }

// Rolls n trajectories from seed with and without saving, checks they are the
// same draws and that the saved log PF has the step layout; then the TB loss and
// the gradient of every parameter, from the saved log PF and recomputed.
void check_saved_matches_recomputed(const ContinuousEnv& env, const ContinuousPolicy& pf, const ContinuousPolicy& pb,
                                    ParamStore& store, const ScalarEstimator& log_z, int n, float exploration,
                                    uint64_t seed, const std::string& what) {
    BOOST_TEST_CONTEXT(what << ", exploration " << exploration) {
        Tape plain_tape, tape;
        Trajectories plain, saved;
        Rng r1(seed), r2(seed);
        sample_continuous_trajectories(env, pf, n, exploration, r1, plain_tape, plain);
        BOOST_CHECK(!plain.saved_log_pf.valid());
        sample_continuous_trajectories(env, pf, n, exploration, r2, tape, saved, true);
        BOOST_CHECK(r1.normal() == r2.normal());  // the same number of draws
        BOOST_REQUIRE(plain.float_actions.size() == saved.float_actions.size());
        for (size_t k = 0; k < saved.float_actions.size(); ++k) {
            const float a = plain.float_actions[k], b = saved.float_actions[k];
            BOOST_REQUIRE((std::isnan(a) && std::isnan(b)) || a == b);
        }
        BOOST_CHECK(plain.lengths == saved.lengths);
        BOOST_CHECK(plain.log_rewards == saved.log_rewards);

        BOOST_REQUIRE(saved.saved_log_pf.valid());
        BOOST_REQUIRE_EQUAL(saved.saved_log_pf.rows(), saved.n_steps());
        BOOST_REQUIRE_EQUAL(saved.saved_log_pf.cols(), 1);
        const float* lp = saved.saved_log_pf.value().data;
        for (int k = 0; k < saved.n_steps(); ++k) {
            const int t = saved.step_t[size_t(k)], i = saved.step_traj[size_t(k)];
            if (t == saved.lengths[size_t(i)] - 1) BOOST_CHECK_EQUAL(lp[k], 0.f);  // the forced exit
            else BOOST_CHECK(std::isfinite(lp[k]) && lp[k] != 0.f);
        }

        TBGFlowNet tb(&pf, &pb, &log_z);
        // Saved: the loss on the rollout's tape, backward through the rollout's nodes.
        Var ls = tb.loss(tape, saved, /*recalculate_all_logprobs=*/false);
        store.zero_grad();
        tape.backward(ls);
        const std::vector<float> g_saved = store.grads;
        // Recomputed: PF evaluated again on a fresh tape.
        Tape fresh;
        Var lr = tb.loss(fresh, saved, /*recalculate_all_logprobs=*/true);
        store.zero_grad();
        fresh.backward(lr);
        BOOST_CHECK_CLOSE(ls.item(), lr.item(), 1e-3);
        // The per-step values themselves.
        Tape t2;
        StepLogProbs re = evaluate_log_probs(t2, saved, pf, nullptr, true);
        for (int k = 0; k < saved.n_steps(); ++k)
            BOOST_CHECK_MESSAGE(close(lp[k], re.log_pf.value().data[k], 1e-5, 1e-5),
                                "step " << k << ": saved " << lp[k] << ", recomputed " << re.log_pf.value().data[k]);
        double norm = 0.0;
        int bad = 0;
        for (size_t k = 0; k < store.grads.size(); ++k) {
            norm += double(store.grads[k]) * store.grads[k];
            if (!close(g_saved[k], store.grads[k], 1e-3, 1e-5)) ++bad;
        }
        BOOST_CHECK_EQUAL(bad, 0);
        BOOST_CHECK(norm > 0.0);
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(continuous_saved_log_probs)

BOOST_AUTO_TEST_CASE(diffusion_saved_equals_recomputed) {
    for (bool learn_variance : {false, true}) {
        auto env = std::make_unique<DiffusionSampling>(make_diffusion_target("gmm25"), 6);
        ParamStore store;
        Rng rng(21);
        PinnedBrownianForward pf(*env, store, small_diffusion(learn_variance), rng);
        BrownianBridgeBackward pb(*env, small_diffusion(learn_variance));
        ScalarEstimator log_z(store, 0.4f, 1, "log_z");
        for (float e : {0.f, 0.8f})
            check_saved_matches_recomputed(*env, pf, pb, store, log_z, 9, e, 77,
                                           std::string("diffusion, learn_variance ") + (learn_variance ? "on" : "off"));
    }
}

BOOST_AUTO_TEST_CASE(line_saved_equals_recomputed) {
    Line env;
    ParamStore store;
    Rng rng(13);
    GaussianStepPolicy pf(env, false, store, small_net(), rng, "pf");
    GaussianStepPolicy pb(env, true, store, small_net(), rng, "pb");
    ScalarEstimator log_z(store, 0.2f, 1, "log_z");
    for (float e : {0.f, 1.5f}) check_saved_matches_recomputed(env, pf, pb, store, log_z, 7, e, 5, "line");
}

// The default sample_and_log_prob: the draws of sample(), log p of log_prob();
// the overrides of the Gaussian-step and pinned-Brownian policies agree with it.
BOOST_AUTO_TEST_CASE(default_is_sample_then_log_prob) {
    Line line;
    ParamStore store;
    Rng rng(3);
    GaussianStepPolicy lpf(line, false, store, small_net(), rng, "pf");
    GaussianStepPolicy lpb(line, true, store, small_net(), rng, "pb");
    auto denv = std::make_unique<DiffusionSampling>(make_diffusion_target("gmm25"), 4);
    PinnedBrownianForward dpf(*denv, store, small_diffusion(true), rng);
    BrownianBridgeBackward dpb(*denv, small_diffusion(true));

    // Rows of states: Line (x, k) at k = 0 … 5 (5: the exit forced, or for PB
    // the forced step back at k = 1); diffusion (x, y, t) at t = 0 … 1.
    const std::vector<float> line_states = {0.f, 0.f, 0.3f, 1.f, -1.2f, 2.f, 2.f, 3.f, 0.7f, 4.f, 1.1f, 5.f};
    const std::vector<float> diff_states = {0.f, 0.f, 0.f,   1.5f, -2.f, 0.25f, -3.f, 0.5f, 0.5f,
                                            4.f, 1.f, 0.75f, 0.2f, 0.3f, 1.f};
    struct Case {
        const ContinuousPolicy* p;
        std::vector<float> states;  // the rows a backward policy can score (step >= 1)
        const char* name;
    };
    const std::vector<float> line_back(line_states.begin() + 2, line_states.end());
    const std::vector<float> diff_back(diff_states.begin() + 3, diff_states.end());
    for (const Case& c : {Case{&lpf, line_states, "line pf"}, Case{&lpb, line_back, "line pb"},
                          Case{&dpf, diff_states, "diffusion pf"}, Case{&dpb, diff_back, "bridge pb"}}) {
        BOOST_TEST_CONTEXT(c.name) {
            const ContinuousPolicy& p = *c.p;
            const int D = p.env().state_dim(), A = p.env().action_dim(), n = int(c.states.size()) / D;
            Forwarding def(p);
            for (float e : {0.f, 0.9f}) {
                std::vector<float> a0(size_t(n) * A), a1(size_t(n) * A), a2(size_t(n) * A);
                std::vector<uint8_t> x0(static_cast<size_t>(n)), x1(static_cast<size_t>(n)), x2(static_cast<size_t>(n));
                Tape tape;
                Rng r0(99), r1(99), r2(99);
                p.sample(tape, c.states.data(), n, e, r0, a0.data(), x0.data());
                Var want = p.log_prob(tape, c.states.data(), a0.data(), p.is_backward() ? nullptr : x0.data(), n);
                Var by_default = def.sample_and_log_prob(tape, c.states.data(), n, e, r1, a1.data(), x1.data());
                Var by_override = p.sample_and_log_prob(tape, c.states.data(), n, e, r2, a2.data(), x2.data());
                BOOST_CHECK(x0 == x1 && x0 == x2);
                for (size_t k = 0; k < a0.size(); ++k) {
                    BOOST_CHECK((std::isnan(a0[k]) && std::isnan(a1[k])) || a0[k] == a1[k]);
                    BOOST_CHECK((std::isnan(a0[k]) && std::isnan(a2[k])) || a0[k] == a2[k]);
                }
                BOOST_REQUIRE_EQUAL(by_default.rows(), n);
                BOOST_REQUIRE_EQUAL(by_override.rows(), n);
                for (int k = 0; k < n; ++k) {
                    BOOST_CHECK_EQUAL(by_default.value().data[k], want.value().data[k]);
                    BOOST_CHECK(close(by_override.value().data[k], want.value().data[k], 1e-6, 1e-6));
                }
                const double u0 = r0.normal();  // the same number of draws
                BOOST_CHECK(u0 == r1.normal());
                BOOST_CHECK(u0 == r2.normal());
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(continuous_tb_family_runs_are_on_policy) {
    auto cfg_of = [](const std::vector<std::string>& args) {
        Config c;
        parse_train_flags(args, c);
        return c;
    };
    for (const char* loss : {"tb", "lpv"}) {
        Run run(cfg_of({"--env", "diffusion", "--target", "gmm25", "--loss", loss, "--iterations", "2"}));
        BOOST_CHECK(run.on_policy());
    }
    Run line(cfg_of({"--env", "line", "--iterations", "2", "--exploration-var-starting-val", "1"}));
    BOOST_CHECK(line.on_policy());
    Run mle(cfg_of({"--env", "diffusion", "--target", "gmm25", "--loss", "mle", "--iterations", "2"}));
    BOOST_CHECK(!mle.on_policy());
    Run recalc(cfg_of({"--env", "line", "--iterations", "2", "--recalculate-all-logprobs"}));
    BOOST_CHECK(!recalc.on_policy());
}

// A training step keeps the rollout's nodes alive to its backward: one step of
// an on-policy diffusion run gives the loss and gradient norm of the same step
// with log PF recomputed.
BOOST_AUTO_TEST_CASE(train_step_on_policy_matches_recomputed) {
    auto cfg_of = [](const std::vector<std::string>& args) {
        Config c;
        parse_train_flags(args, c);
        return c;
    };
    const std::vector<std::string> base = {"--env", "diffusion", "--target", "gmm25", "--iterations", "3",
                                           "--batch-size", "16", "--hidden", "16", "--steps", "8", "--seed", "4"};
    std::vector<std::string> re = base;
    re.push_back("--recalculate-all-logprobs");
    Run a(cfg_of(base)), b(cfg_of(re));
    BOOST_REQUIRE(a.on_policy() && !b.on_policy());
    for (int s = 0; s < 3; ++s) {
        const StepStats sa = train_step(a), sb = train_step(b);
        BOOST_CHECK_CLOSE(sa.loss, sb.loss, 1e-3);
        BOOST_CHECK_CLOSE(sa.grad_norm, sb.grad_norm, 1e-2);
    }
}

BOOST_AUTO_TEST_SUITE_END()
