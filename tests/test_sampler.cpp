// test_sampler.cpp — rolling policies out (gfn/samplers/sampler.h): every recorded trajectory is a
// valid path of the environment, the step lists are time-major, log-rewards and saved
// log-probs match independent recomputations, backward sampling ends where it was asked
// to, the uniform policy's terminal distribution matches the exact one, and the
// exploration options (ε, sf_bias, temperature) shape the behaviour policy as stated.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <set>
#include <vector>

#include "engine/ops.h"
#include "envs/hypergrid.h"
#include "gfn/validation/enumeration.h"
#include "gfn/estimators/estimators.h"
#include "gfn/objectives/gflownet.h"
#include "gfn/objectives/trajectory_balance.h"
#include "gfn/estimators/preprocessors.h"
#include "gfn/samplers/sampler.h"
#include "gfn/containers/trajectories.h"
#include "tests/batches.h"
#include "tests/gradcheck.h"
#include "tests/objective_fixtures.h"

using namespace gfn;
using gfn::testing::expect_freq;
using gfn::testing::param_id;
using gfn::testing::row;

namespace {

// HyperGrid(2, 4) with small random MLP policies (ReLU, 8 hidden, 2 layers).
struct Setup {
    HyperGrid env;
    std::unique_ptr<Preprocessor> pre;
    ParamStore store;
    std::unique_ptr<PolicyEstimator> pf, pb, tied_pb;

    explicit Setup(int height = 4, unsigned seed = 21) : env(2, height) {
        pre = env.default_preprocessor();
        Rng rng(seed);
        NetConfig cfg{8, 2, Activation::Relu};
        pf = PolicyEstimator::mlp(env, *pre, false, store, cfg, rng, "pf");
        pb = PolicyEstimator::mlp(env, *pre, true, store, cfg, rng, "pb");
        tied_pb = PolicyEstimator::tied(*pf, store, rng, "tied_pb");
    }
};

// Every structural property of a batch of complete trajectories on a HyperGrid.
void check_trajectories(const HyperGrid& env, const Trajectories& tr) {
    const int D = env.state_dim(), A = env.n_actions(), n = tr.n;
    BOOST_REQUIRE_EQUAL(tr.state_dim, D);
    BOOST_REQUIRE_EQUAL(int(tr.lengths.size()), n);
    std::vector<int> s0(size_t(D), 0);
    env.initial_state(s0.data());
    int max_len = 0, total = 0;
    for (int i = 0; i < n; ++i) {
        const int L = tr.lengths[size_t(i)];
        BOOST_REQUIRE(L >= 1 && L <= env.max_trajectory_length() && L <= tr.max_length);
        max_len = std::max(max_len, L);
        total += L;
        BOOST_CHECK(row(tr.state(0, i), D) == s0);
        for (int t = 0; t < L; ++t) {
            const int* s = tr.state(t, i);
            const int a = tr.action(t, i);
            BOOST_REQUIRE(a >= 0 && a < A);
            std::vector<uint8_t> mask(static_cast<size_t>(A));
            env.forward_masks(s, 1, mask.data());
            BOOST_CHECK_MESSAGE(mask[size_t(a)], "trajectory " << i << " step " << t << ": invalid action " << a);
            if (t < L - 1) {
                BOOST_CHECK_MESSAGE(a != env.exit_action(), "trajectory " << i << " exits before its end");
                std::vector<int> next(static_cast<size_t>(D));
                env.step(s, &a, 1, next.data());
                BOOST_CHECK(row(tr.state(t + 1, i), D) == next);
            } else {
                BOOST_CHECK_EQUAL(a, env.exit_action());
            }
        }
        // Padding past the end; the terminal state is the last one visited.
        for (int t = L; t < tr.max_length; ++t) BOOST_CHECK_EQUAL(tr.action(t, i), -1);
        for (int t = L; t <= tr.max_length; ++t) BOOST_CHECK(row(tr.state(t, i), D) == std::vector<int>(size_t(D), -1));
        BOOST_CHECK(tr.terminal_state(i) == tr.state(L - 1, i));
        // HyperGrid: every non-exit action adds 1 to one coordinate, so L = Σ x + 1.
        const int* x = tr.terminal_state(i);
        int sx = 0;
        for (int d = 0; d < D; ++d) sx += x[d];
        BOOST_CHECK_EQUAL(L, sx + 1);
        float lr = 0.f;
        env.log_reward(x, nullptr, 1, &lr);
        BOOST_CHECK_EQUAL(tr.log_rewards[size_t(i)], lr);
    }
    // Step lists: time-major, one forward step per action, one backward step per
    // non-initial visited state.
    BOOST_REQUIRE_EQUAL(tr.n_steps(), total);
    BOOST_REQUIRE_EQUAL(tr.n_bsteps(), total - n);
    for (int k = 0; k < tr.n_steps(); ++k) {
        const int t = tr.step_t[size_t(k)], i = tr.step_traj[size_t(k)];
        BOOST_CHECK(t >= 0 && t < tr.lengths[size_t(i)]);
        if (k > 0) {
            const int pt = tr.step_t[size_t(k - 1)], pi = tr.step_traj[size_t(k - 1)];
            BOOST_CHECK(pt < t || (pt == t && pi < i));
        }
    }
    for (int k = 0; k < tr.n_bsteps(); ++k) {
        const int t = tr.bstep_t[size_t(k)], i = tr.bstep_traj[size_t(k)];
        BOOST_CHECK(t >= 1 && t <= tr.lengths[size_t(i)] - 1);
        if (k > 0) {
            const int pt = tr.bstep_t[size_t(k - 1)], pi = tr.bstep_traj[size_t(k - 1)];
            BOOST_CHECK(pt < t || (pt == t && pi < i));
        }
    }
    // The first n forward steps are the t = 0 ones, in trajectory order.
    for (int i = 0; i < n; ++i) {
        BOOST_CHECK_EQUAL(tr.step_t[size_t(i)], 0);
        BOOST_CHECK_EQUAL(tr.step_traj[size_t(i)], i);
    }
}

// log PF(a | s) of one state through a fresh single-row evaluation.
float log_prob_of(const PolicyEstimator& p, const int* s, int a, const float* cond = nullptr) {
    Tape tape;
    Var lp = p.log_probs(tape, s, cond, 1);
    return lp.value().data[a];
}

// Frequencies of the first action over a batch.
std::vector<double> first_action_freq(const Trajectories& tr, int A) {
    std::vector<double> f(size_t(A), 0.0);
    for (int i = 0; i < tr.n; ++i) f[size_t(tr.action(0, i))] += 1.0 / tr.n;
    return f;
}

double mean_length(const Trajectories& tr) {
    double s = 0.0;
    for (int L : tr.lengths) s += L;
    return s / tr.n;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sampler)

BOOST_AUTO_TEST_CASE(forward_trajectories_are_valid_paths) {
    Setup m;
    Rng rng(1);
    Tape tape;
    SampleRequest req;
    req.n = 64;
    Trajectories tr;
    sample_trajectories(m.env, *m.pf, nullptr, req, rng, tape, tr);
    BOOST_CHECK_EQUAL(tr.n, 64);
    BOOST_CHECK_EQUAL(tr.condition_dim, 0);
    BOOST_CHECK(tr.conditions.empty());
    check_trajectories(m.env, tr);
    // Nothing saved without save_log_probs, and nothing left on the tape to train.
    BOOST_CHECK(!tr.saved_log_pf.valid());
    BOOST_CHECK(!tr.saved_log_pb.valid());
    for (const Node& nd : tape.nodes) BOOST_CHECK(!nd.requires_grad);
    // Lengths vary (a random policy on a 4x4 grid does not always exit at once).
    BOOST_CHECK(*std::max_element(tr.lengths.begin(), tr.lengths.end()) > 1);
}

BOOST_AUTO_TEST_CASE(same_seed_same_batch) {
    Setup m;
    SampleRequest req;
    req.n = 32;
    Trajectories a, b;
    Rng r1(9), r2(9);
    Tape t1, t2;
    sample_trajectories(m.env, *m.pf, nullptr, req, r1, t1, a);
    sample_trajectories(m.env, *m.pf, nullptr, req, r2, t2, b);
    BOOST_CHECK(a.states == b.states);
    BOOST_CHECK(a.actions == b.actions);
}

BOOST_AUTO_TEST_CASE(saved_log_probs_match_recomputation) {
    Setup m;
    Rng rng(2);
    Tape tape;
    SampleRequest req;
    req.n = 40;
    req.save_log_probs = true;
    Trajectories tr;
    sample_trajectories(m.env, *m.pf, m.tied_pb.get(), req, rng, tape, tr);
    check_trajectories(m.env, tr);
    BOOST_REQUIRE(tr.saved_log_pf.valid());
    BOOST_REQUIRE_EQUAL(tr.saved_log_pf.rows(), tr.n_steps());
    BOOST_REQUIRE_EQUAL(tr.saved_log_pf.cols(), 1);
    BOOST_CHECK(tr.saved_log_pf.node().requires_grad);  // kept with its gradient path
    const float* lpf = tr.saved_log_pf.value().data;
    for (int k = 0; k < tr.n_steps(); ++k) {
        const int t = tr.step_t[size_t(k)], i = tr.step_traj[size_t(k)];
        BOOST_CHECK_CLOSE(lpf[k], log_prob_of(*m.pf, tr.state(t, i), tr.action(t, i)), 1e-3);
    }
    // The tied PB: log PB(s_{t−1} | s_t) with action a_{t−1}, one per backward step.
    BOOST_REQUIRE(tr.saved_log_pb.valid());
    BOOST_REQUIRE_EQUAL(tr.saved_log_pb.rows(), tr.n_bsteps());
    const float* lpb = tr.saved_log_pb.value().data;
    for (int k = 0; k < tr.n_bsteps(); ++k) {
        const int t = tr.bstep_t[size_t(k)], i = tr.bstep_traj[size_t(k)];
        BOOST_CHECK_CLOSE(lpb[k], log_prob_of(*m.tied_pb, tr.state(t, i), tr.action(t - 1, i)), 1e-3);
    }
    // The library's own recomputation agrees too.
    Tape t2;
    Trajectories copy = tr;
    copy.drop_saved();
    StepLogProbs re = evaluate_log_probs(t2, copy, *m.pf, m.tied_pb.get(), true);
    for (int k = 0; k < tr.n_steps(); ++k) BOOST_CHECK_CLOSE(re.log_pf.value().data[k], lpf[k], 1e-3);
    for (int k = 0; k < tr.n_bsteps(); ++k) BOOST_CHECK_CLOSE(re.log_pb.value().data[k], lpb[k], 1e-3);

    // A PB that is not tied to this PF is not evaluated during the rollout.
    Trajectories other;
    sample_trajectories(m.env, *m.pf, m.pb.get(), req, rng, tape, other);
    BOOST_CHECK(other.saved_log_pf.valid());
    BOOST_CHECK(!other.saved_log_pb.valid());
}

BOOST_AUTO_TEST_CASE(every_trajectory_exits_at_s0) {
    // A PF whose exit logit dominates: every trajectory is (s_0, exit); the tied PB saves
    // an empty (0, 1) column.
    Setup m;
    Tensor b = m.store.value(param_id(m.store, "pf.out.bias"));
    b.data[2] = 1e4f;
    Rng rng(3);
    Tape tape;
    SampleRequest req;
    req.n = 5;
    req.save_log_probs = true;
    Trajectories tr;
    sample_trajectories(m.env, *m.pf, m.tied_pb.get(), req, rng, tape, tr);
    check_trajectories(m.env, tr);
    for (int L : tr.lengths) BOOST_CHECK_EQUAL(L, 1);
    BOOST_CHECK_EQUAL(tr.n_bsteps(), 0);
    BOOST_REQUIRE(tr.saved_log_pb.valid());
    BOOST_CHECK_EQUAL(tr.saved_log_pb.rows(), 0);
}

BOOST_AUTO_TEST_CASE(backward_sampling) {
    Setup m;
    const std::vector<int> xs = {3, 3, 0, 0, 2, 1, 0, 3, 1, 0, 3, 2};
    const int n = int(xs.size()) / 2;
    for (const PolicyEstimator* pb : {static_cast<const PolicyEstimator*>(m.pb.get()), static_cast<const PolicyEstimator*>(nullptr)}) {
        auto uniform = PolicyEstimator::uniform_pb(m.env);
        const PolicyEstimator& p = pb ? *pb : *uniform;
        for (unsigned seed = 0; seed < 4; ++seed) {
            Rng rng(seed);
            Tape tape;
            Trajectories tr;
            sample_backward_trajectories(m.env, p, xs.data(), n, nullptr, rng, tape, tr);
            BOOST_REQUIRE_EQUAL(tr.n, n);
            check_trajectories(m.env, tr);
            for (int i = 0; i < n; ++i)
                BOOST_CHECK(row(tr.terminal_state(i), 2) == std::vector<int>({xs[size_t(2 * i)], xs[size_t(2 * i + 1)]}));
            BOOST_CHECK_EQUAL(tr.lengths[1], 1);  // s_0 itself: just the exit
        }
    }
    // Both orders of reaching (1, 1) occur under the uniform PB.
    auto uniform = PolicyEstimator::uniform_pb(m.env);
    const std::vector<int> x11(2 * 200, 1);
    Rng rng(5);
    Tape tape;
    Trajectories tr;
    sample_backward_trajectories(m.env, *uniform, x11.data(), 200, nullptr, rng, tape, tr);
    int first0 = 0;
    for (int i = 0; i < 200; ++i) first0 += tr.action(0, i) == 0;
    BOOST_CHECK(first0 > 60 && first0 < 140);  // Binomial(200, ½): mean 100, sd 7
    // A forward policy is refused.
    BOOST_CHECK_THROW(sample_backward_trajectories(m.env, *m.pf, xs.data(), n, nullptr, rng, tape, tr),
                      std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(uniform_policy_terminal_distribution) {
    // HyperGrid(2, 3) under the uniform PF. By hand (P = probability of visiting,
    // P_T = P · PF(exit)):
    //   P(0,0) = 1                               P_T = 1/3
    //   P(1,0) = P(0,1) = 1/3                    P_T = 1/9 each
    //   P(2,0) = P(0,2) = (1/3)(1/3) = 1/9       P_T = (1/9)(1/2) = 1/18 each
    //   P(1,1) = 2 · (1/3)(1/3) = 2/9            P_T = 2/27
    //   P(2,1) = P(2,0)/2 + P(1,1)/3 = 7/54      P_T = 7/108 (same for (1,2))
    //   P(2,2) = P(2,1)/2 + P(1,2)/2 = 7/54      P_T = 7/54 (exit only)
    HyperGrid env(2, 3);
    auto pf = PolicyEstimator::uniform(env, false);
    TargetDistribution target = true_distribution(env);
    PolicyFn uniform_fn = [&](const int* s, int n, float* out) {
        std::vector<uint8_t> mask(size_t(n) * 3);
        env.forward_masks(s, n, mask.data());
        for (int i = 0; i < n; ++i) {
            int valid = 0;
            for (int a = 0; a < 3; ++a) valid += mask[size_t(i) * 3 + a];
            for (int a = 0; a < 3; ++a) out[size_t(i) * 3 + a] = mask[size_t(i) * 3 + a] ? -std::log(float(valid)) : -INFINITY;
        }
    };
    std::vector<double> exact = exact_terminating_distribution(env, target, uniform_fn);
    auto p_of = [&](std::vector<double>& p, int x0, int x1) -> double& {
        const int s[2] = {x0, x1};
        return p[size_t(target.terminal_of[size_t(env.state_index(s))])];
    };
    const double hand[3][3] = {{1.0 / 3, 1.0 / 9, 1.0 / 18}, {1.0 / 9, 2.0 / 27, 7.0 / 108}, {1.0 / 18, 7.0 / 108, 7.0 / 54}};
    for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) BOOST_CHECK_CLOSE(p_of(exact, a, b), hand[a][b], 1e-4);  // float policy

    // 200,000 samples. Per state, |p̂ − p| has standard deviation √(p(1−p)/N) ≤ 1.1e-3,
    // mean ≈ 0.8 of that; summed over the 9 states E[l1] ≈ 4.5e-3 with a spread of about
    // 1.2e-3, so 0.01 sits about 4.5 spreads above the mean — while a sampler that moved
    // 0.5% of the mass (e.g. one biased action) would exceed it.
    const int N = 200000, chunk = 20000;
    std::vector<double> emp(size_t(target.n_terminal()), 0.0);
    Rng rng(2024);
    Tape tape;
    Trajectories tr;
    SampleRequest req;
    req.n = chunk;
    for (int done = 0; done < N; done += chunk) {
        tape.reset();
        sample_trajectories(env, *pf, nullptr, req, rng, tape, tr);
        for (int i = 0; i < chunk; ++i)
            emp[size_t(target.terminal_of[size_t(env.state_index(tr.terminal_state(i)))])] += 1.0 / N;
    }
    const double l1 = l1_distance(emp, exact);
    BOOST_TEST_MESSAGE("uniform PF, 200k samples: l1 = " << l1);
    BOOST_CHECK_MESSAGE(l1 < 0.01, "l1 between sampled and exact terminal distribution: " << l1);
    for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) expect_freq(p_of(emp, a, b), hand[a][b], N, "P_T(" + std::to_string(a) + "," + std::to_string(b) + ")");
}

BOOST_AUTO_TEST_CASE(epsilon_mixes_with_uniform) {
    // PF with constant logits (0, −1, 2) (all weights zero, output bias set). At s_0 all
    // three actions are valid: p = softmax(0, −1, 2) = (1, e⁻¹, e²)/(1 + e⁻¹ + e²).
    // ε mixes: (1 − ε) p + ε/3. ε = 1 is uniform over the valid actions everywhere.
    Setup m;
    std::fill(m.store.values.begin(), m.store.values.end(), 0.f);
    Tensor b = m.store.value(param_id(m.store, "pf.out.bias"));
    b.data[0] = 0.f;
    b.data[1] = -1.f;
    b.data[2] = 2.f;
    const double Zs = 1.0 + std::exp(-1.0) + std::exp(2.0);
    const double p[3] = {1.0 / Zs, std::exp(-1.0) / Zs, std::exp(2.0) / Zs};
    const int N = 20000;
    for (float eps : {0.f, 0.5f, 1.f}) {
        Rng rng(31);
        Tape tape;
        SampleRequest req;
        req.n = N;
        req.exploration.epsilon = eps;
        Trajectories tr;
        sample_trajectories(m.env, *m.pf, nullptr, req, rng, tape, tr);
        check_trajectories(m.env, tr);
        std::vector<double> f = first_action_freq(tr, 3);
        for (int a = 0; a < 3; ++a)
            expect_freq(f[size_t(a)], (1.0 - eps) * p[a] + eps / 3.0, N, "eps " + std::to_string(eps) + " action " + std::to_string(a));
        if (eps == 1.f) {
            // On the edge x_0 = H−1 (x_1 < H−1) only action 1 and the exit are valid: ½ each.
            int visits = 0, exits = 0;
            for (int k = 0; k < tr.n_steps(); ++k) {
                const int t = tr.step_t[size_t(k)], i = tr.step_traj[size_t(k)];
                const int* s = tr.state(t, i);
                if (s[0] == 3 && s[1] < 3) {
                    ++visits;
                    exits += tr.action(t, i) == 2;
                }
            }
            BOOST_REQUIRE(visits > 1000);
            expect_freq(double(exits) / visits, 0.5, visits, "eps 1 on the edge");
        }
    }
    // The log-probabilities themselves: ε = 1 gives log(1/|valid|), −inf elsewhere.
    const std::vector<int> states = {0, 0, 3, 1, 1, 3, 3, 3};
    Tape tape;
    PolicyOptions opt;
    opt.epsilon = 1.f;
    Var lp = m.pf->log_probs(tape, states.data(), nullptr, 4, opt);
    const float* v = lp.value().data;
    const float L3 = -std::log(3.f), L2 = -std::log(2.f);
    const std::vector<float> want = {L3, L3, L3, -INFINITY, L2, L2, L2, -INFINITY, L2, -INFINITY, -INFINITY, 0.f};
    for (size_t k = 0; k < want.size(); ++k) {
        if (std::isinf(want[k])) BOOST_CHECK(v[k] == -INFINITY);
        else BOOST_CHECK_CLOSE(v[k], want[k], 1e-4);
    }
}

BOOST_AUTO_TEST_CASE(sf_bias_lengthens_trajectories) {
    // Uniform PF on HyperGrid(2, 4): at s_0 the exit logit becomes −b, so
    // P(exit at s_0) = e^{−b} / (2 + e^{−b}): 1/3 for b = 0, 0.15536 for b = 1.
    Setup m;
    auto pf = PolicyEstimator::uniform(m.env, false);
    const int N = 20000;
    std::vector<double> mean_len;
    for (float bias : {0.f, 1.f, 4.f}) {
        Rng rng(41);
        Tape tape;
        SampleRequest req;
        req.n = N;
        req.exploration.sf_bias = bias;
        Trajectories tr;
        sample_trajectories(m.env, *pf, nullptr, req, rng, tape, tr);
        check_trajectories(m.env, tr);
        const double e = std::exp(-double(bias));
        expect_freq(first_action_freq(tr, 3)[2], e / (2.0 + e), N, "exit at s_0, sf_bias " + std::to_string(bias));
        mean_len.push_back(mean_length(tr));
    }
    BOOST_TEST_MESSAGE("mean lengths for sf_bias 0, 1, 4: " << mean_len[0] << ", " << mean_len[1] << ", " << mean_len[2]);
    BOOST_CHECK_MESSAGE(mean_len[1] > mean_len[0] + 0.3 && mean_len[2] > mean_len[1] + 0.5,
                        "mean lengths " << mean_len[0] << ", " << mean_len[1] << ", " << mean_len[2]);
    // With b = 4 almost every trajectory reaches the far corner (length 7).
    BOOST_CHECK(mean_len[2] > 6.5);
}

BOOST_AUTO_TEST_CASE(temperature_and_sf_bias_log_probs) {
    // log_probs_from_trunk = log_softmax over valid actions of (logits − sf_bias·[exit]) / T,
    // recomputed here in double from the raw head logits.
    Setup m;
    const int n = 16;
    std::vector<int> states(size_t(n) * 2);
    m.env.all_states(states.data());
    std::vector<uint8_t> mask(size_t(n) * 3);
    m.env.forward_masks(states.data(), n, mask.data());
    struct Opt { float T, bias; };
    for (Opt o : {Opt{0.5f, 0.f}, Opt{3.f, 0.f}, Opt{0.7f, 1.3f}, Opt{1.f, -2.f}}) {
        Tape tape;
        Var h = m.pf->trunk(tape, states.data(), nullptr, n);
        const float* logits = m.pf->head(h).value().data;
        PolicyOptions opt;
        opt.temperature = o.T;
        opt.sf_bias = o.bias;
        Var lp = m.pf->log_probs_from_trunk(h, tape, states.data(), n, opt);
        BOOST_REQUIRE_EQUAL(lp.cols(), 3);
        for (int i = 0; i < n; ++i) {
            double z[3], mx = -INFINITY;
            for (int a = 0; a < 3; ++a) {
                z[a] = (double(logits[i * 3 + a]) - (a == 2 ? o.bias : 0.0)) / o.T;
                if (mask[size_t(i * 3 + a)]) mx = std::max(mx, z[a]);
            }
            double se = 0.0;
            for (int a = 0; a < 3; ++a)
                if (mask[size_t(i * 3 + a)]) se += std::exp(z[a] - mx);
            for (int a = 0; a < 3; ++a) {
                const float got = lp.value().data[i * 3 + a];
                if (!mask[size_t(i * 3 + a)]) {
                    BOOST_CHECK(got == -INFINITY);
                } else {
                    const double want = z[a] - mx - std::log(se);
                    BOOST_CHECK_MESSAGE(std::fabs(got - want) < 1e-5 * std::max(1.0, std::fabs(want)),
                                        "T " << o.T << " bias " << o.bias << " row " << i << " action " << a
                                             << ": got " << got << ", want " << want);
                }
            }
        }
    }
    // sf_bias is a forward-policy option: a backward policy ignores it.
    Tape tape;
    std::vector<int> s = {2, 1};
    PolicyOptions opt;
    opt.sf_bias = 5.f;
    Var a = m.pb->log_probs(tape, s.data(), nullptr, 1, opt), b = m.pb->log_probs(tape, s.data(), nullptr, 1);
    BOOST_CHECK_EQUAL(a.value().data[0], b.value().data[0]);
    BOOST_CHECK_EQUAL(a.value().data[1], b.value().data[1]);
}

BOOST_AUTO_TEST_CASE(conditions) {
    ConditionalHyperGrid env(2, 3);
    auto pf = PolicyEstimator::uniform(env, false);
    SampleRequest req;
    req.n = 4;
    const float given[4] = {0.f, 0.25f, 0.5f, 1.f};
    req.conditions = given;
    Rng rng(4);
    Tape tape;
    Trajectories tr;
    sample_trajectories(env, *pf, nullptr, req, rng, tape, tr);
    BOOST_REQUIRE_EQUAL(tr.condition_dim, 1);
    for (int i = 0; i < 4; ++i) {
        BOOST_CHECK_EQUAL(tr.condition(i)[0], given[i]);
        float lr = 0.f;
        env.log_reward(tr.terminal_state(i), given + i, 1, &lr);
        BOOST_CHECK_EQUAL(tr.log_rewards[size_t(i)], lr);
    }
    // Drawn in [0, 1) when not given.
    req.n = 50;
    req.conditions = nullptr;
    sample_trajectories(env, *pf, nullptr, req, rng, tape, tr);
    BOOST_REQUIRE_EQUAL(tr.conditions.size(), 50u);
    for (float c : tr.conditions) BOOST_CHECK(c >= 0.f && c < 1.f);
    BOOST_CHECK(tr.conditions[0] != tr.conditions[1]);
}

BOOST_AUTO_TEST_CASE(errors) {
    Setup m;
    Rng rng(6);
    Tape tape;
    Trajectories tr;
    SampleRequest req;
    req.n = 0;
    BOOST_CHECK_THROW(sample_trajectories(m.env, *m.pf, nullptr, req, rng, tape, tr), std::invalid_argument);
    req.n = 4;
    BOOST_CHECK_THROW(sample_trajectories(m.env, *m.pb, nullptr, req, rng, tape, tr), std::invalid_argument);
    req.exploration.temperature = 0.f;
    BOOST_CHECK_THROW(sample_trajectories(m.env, *m.pf, nullptr, req, rng, tape, tr), std::invalid_argument);
    req.exploration.temperature = 1.f;
    req.exploration.epsilon = 1.5f;
    BOOST_CHECK_THROW(sample_trajectories(m.env, *m.pf, nullptr, req, rng, tape, tr), std::invalid_argument);
}

// ---------------------------------------------------------------------------
// torchgfn parity: saved log-probs and exploration

BOOST_AUTO_TEST_CASE(epsilon_rollouts_save_no_log_probs) {
    // The ε mixture is computed off the tape, so saved ε-mixed log-probs would give a loss
    // reusing them a zero gradient: save_log_probs with ε > 0 is refused before sampling,
    // with a message naming the way out.
    Setup m;
    Rng rng(8);
    Tape tape;
    Trajectories tr;
    SampleRequest req;
    req.n = 16;
    req.save_log_probs = true;
    req.exploration.epsilon = 0.2f;
    try {
        sample_trajectories(m.env, *m.pf, m.tied_pb.get(), req, rng, tape, tr);
        BOOST_ERROR("no error for save_log_probs with epsilon > 0");
    } catch (const std::invalid_argument& e) {
        const std::string msg = e.what();
        BOOST_CHECK_MESSAGE(msg.find("recalculate_all_logprobs") != std::string::npos &&
                                msg.find("epsilon") != std::string::npos && msg.find("save_log_probs") != std::string::npos,
                            "message: " << msg);
    }
    BOOST_CHECK(tape.nodes.empty());  // refused before any work
    // Without save_log_probs the ε rollout runs and saves nothing.
    req.save_log_probs = false;
    sample_trajectories(m.env, *m.pf, m.tied_pb.get(), req, rng, tape, tr);
    check_trajectories(m.env, tr);
    BOOST_CHECK(!tr.saved_log_pf.valid() && !tr.saved_log_pb.valid());
}

BOOST_AUTO_TEST_CASE(tempered_and_biased_saved_log_probs_keep_their_gradient) {
    // Temperature and sf_bias are on the tape: the saved log PF of such a rollout carry the
    // gradient of the behaviour policy. d(Σ_k w_k saved[k])/dθ must equal the same derivative
    // of that policy re-evaluated on the stored steps, and be non-zero (w fixed, not all 1).
    Setup m;
    PolicyOptions tempered, biased;
    tempered.temperature = 2.f;
    biased.sf_bias = 1.3f;
    for (const PolicyOptions& opt : {tempered, biased}) {
        Rng rng(12);
        Tape t1;
        SampleRequest req;
        req.n = 24;
        req.save_log_probs = true;
        req.exploration = opt;
        Trajectories tr;
        sample_trajectories(m.env, *m.pf, nullptr, req, rng, t1, tr);
        BOOST_REQUIRE(tr.saved_log_pf.valid());
        BOOST_CHECK(tr.saved_log_pf.node().requires_grad);
        const int ms = tr.n_steps();
        std::vector<float> w(static_cast<size_t>(ms));
        for (int k = 0; k < ms; ++k) w[size_t(k)] = 0.3f + 0.1f * float(k % 7);
        m.store.zero_grad();
        t1.backward(sum(mul(tr.saved_log_pf, t1.constant(Tensor(w.data(), ms, 1)))));
        const std::vector<float> saved_grad = m.store.grads;

        std::vector<int> states(static_cast<size_t>(ms) * 2), actions(static_cast<size_t>(ms));
        for (int k = 0; k < ms; ++k) {
            const int t = tr.step_t[size_t(k)], i = tr.step_traj[size_t(k)];
            std::copy(tr.state(t, i), tr.state(t, i) + 2, states.begin() + 2 * k);
            actions[size_t(k)] = tr.action(t, i);
        }
        Tape t2;
        Var lp = gather(m.pf->log_probs(t2, states.data(), nullptr, ms, opt), actions.data());
        m.store.zero_grad();
        t2.backward(sum(mul(lp, t2.constant(Tensor(w.data(), ms, 1)))));
        BOOST_CHECK(!gfn::testing::all_zero(saved_grad));
        size_t bad = 0;
        for (size_t k = 0; k < saved_grad.size(); ++k)
            if (std::fabs(saved_grad[k] - m.store.grads[k]) > 1e-5 + 1e-4 * std::fabs(m.store.grads[k])) ++bad;
        BOOST_CHECK_MESSAGE(bad == 0, bad << " gradients differ (T = " << opt.temperature << ", sf_bias = "
                                          << opt.sf_bias << ")");
    }
}

// An exploring rollout without saved log-probs (epsilon, temperature, sf_bias; an
// off-policy run's) evaluates PF once per distinct state of the rollout and reads each
// state's behaviour log-probs from that table: the same trajectories, draw for draw, as
// evaluating the visited states step by step (dedup_states = false), and its network
// encodes exactly the distinct states (counted by a wrapping preprocessor).
// A preprocessor that counts the states it encodes (the rows a network's first layer sees).
struct CountingPreprocessor : Preprocessor {
    const Preprocessor& inner;
    mutable long long rows = 0;
    explicit CountingPreprocessor(const Preprocessor& p) : inner(p) {}
    int output_dim() const override { return inner.output_dim(); }
    void apply(const int* states, int n, float* out) const override {
        rows += n;
        inner.apply(states, n, out);
    }
    int active_per_row() const override { return inner.active_per_row(); }
    void active_columns(const int* states, int n, int* out) const override {
        rows += n;
        inner.active_columns(states, n, out);
    }
};

BOOST_AUTO_TEST_CASE(an_exploring_rollout_evaluates_each_distinct_state_once) {
    Setup m(8);
    CountingPreprocessor counting(*m.pre);
    Rng init(21);
    auto pf = PolicyEstimator::mlp(m.env, counting, false, m.store, NetConfig{8, 2, Activation::Relu}, init, "pf2");
    PolicyOptions eps, tempered, biased;
    eps.epsilon = 0.2f;
    tempered.temperature = 2.f;
    biased.sf_bias = 1.3f;
    for (const PolicyOptions& opt : {PolicyOptions(), eps, tempered, biased}) {
        BOOST_TEST_CONTEXT("epsilon " << opt.epsilon << ", T " << opt.temperature << ", sf_bias " << opt.sf_bias) {
            Trajectories with, without;
            long long trunk_rows[2] = {0, 0};
            for (const bool dedup : {true, false}) {
                Rng rng(19);
                Tape t;
                SampleRequest req;
                req.n = 256;
                req.exploration = opt;
                req.dedup_states = dedup;
                counting.rows = 0;
                sample_trajectories(m.env, *pf, nullptr, req, rng, t, dedup ? with : without);
                trunk_rows[dedup ? 0 : 1] = counting.rows;
            }
            BOOST_CHECK(with.actions == without.actions);
            BOOST_CHECK(with.lengths == without.lengths);
            BOOST_CHECK(with.log_rewards == without.log_rewards);
            std::set<std::vector<int>> distinct;
            for (int k = 0; k < with.n_steps(); ++k) {
                const int* st = with.state(with.step_t[size_t(k)], with.step_traj[size_t(k)]);
                distinct.insert(std::vector<int>(st, st + 2));
            }
            BOOST_CHECK_EQUAL(trunk_rows[0], (long long)distinct.size());
            BOOST_CHECK_GE(trunk_rows[1], trunk_rows[0]);
        }
    }
}

// The recorded-rollout path end to end (what `gfn train` runs by default): a rollout with
// save_log_probs and a TrunkRecording (trunk outside the tape, recorded once: in-place
// relu / leaky relu, elu, tanh), a tied PB head on the same trunk, then the TB loss with
// recalculate_all_logprobs = false, i.e. on the saved log PF and log PB and their gradient
// path. Differentiated with respect to every parameter, against central differences of
// the whole thing recomputed (same rng seed; the no-grad evaluations roll out per step).
// A perturbation of 1e-3 must not flip a sampled action: checked on every evaluation.
// Both recorded paths: the trunk once per distinct state (the default: index_rows
// adds each step's gradient into its state's row) and on every visited state.
BOOST_AUTO_TEST_CASE(recorded_rollout_tb_gradients) {
    for (const bool dedup : {true, false})
    for (Activation act : {Activation::Relu, Activation::LeakyRelu, Activation::Elu, Activation::Tanh}) {
        BOOST_TEST_CONTEXT(activation_name(act) << (dedup ? ", deduplicated" : ", every state")) {
            HyperGrid env(2, 4);
            auto pre = env.default_preprocessor();
            ParamStore store;
            Rng init(31);
            auto pf = PolicyEstimator::mlp(env, *pre, false, store, NetConfig{8, 2, act}, init, "pf");
            auto pb = PolicyEstimator::tied(*pf, store, init, "pb");
            ScalarEstimator log_z(store, 0.5f, 1, "log_z");
            TBGFlowNet tb(pf.get(), pb.get(), &log_z);
            TrunkRecording rec;
            Trajectories recorded, replayed;
            std::vector<int> actions;
            int recorded_runs = 0, replays = 0, flipped = 0;
            auto f = [&](Tape& t) {
                const bool analytic = t.grad_enabled;
                Trajectories& batch = analytic ? recorded : replayed;
                Rng rng(77);
                SampleRequest req;
                req.n = 12;
                req.save_log_probs = true;
                req.recording = &rec;
                req.dedup_states = dedup;
                rec.rows = -1;  // the recording path resets it; the per-step path leaves it
                sample_trajectories(env, *pf, pb.get(), req, rng, t, batch);
                if (analytic) {
                    ++recorded_runs;
                    std::set<std::vector<int>> distinct;
                    for (int k = 0; k < batch.n_steps(); ++k) {
                        const int* s = batch.state(batch.step_t[size_t(k)], batch.step_traj[size_t(k)]);
                        distinct.insert(std::vector<int>(s, s + 2));
                    }
                    BOOST_REQUIRE_EQUAL(rec.rows, dedup ? int(distinct.size()) : batch.n_steps());
                    BOOST_REQUIRE_LT(int(distinct.size()), batch.n_steps());
                    actions = batch.actions;
                } else {
                    ++replays;
                    if (batch.actions != actions) ++flipped;
                }
                BOOST_REQUIRE(batch.saved_log_pf.valid() && batch.saved_log_pb.valid());
                return tb.loss(t, batch, false);
            };
            GradCheckOptions opt;
            opt.max_checks = 100000;  // every parameter
            GradCheckReport r = check_gradients(f, {GradTarget{"params", store.values.data(), store.grads.data(), store.size()}}, opt);
            BOOST_CHECK_MESSAGE(r.ok, r.message());
            BOOST_TEST_MESSAGE(r.message());
            BOOST_CHECK_EQUAL(r.checked, store.size());
            BOOST_CHECK_EQUAL(recorded_runs, 1);
            BOOST_CHECK_EQUAL(replays, int(4 * store.size()));
            BOOST_CHECK_EQUAL(flipped, 0);
            BOOST_CHECK(!gfn::testing::all_zero(store.grads));
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
