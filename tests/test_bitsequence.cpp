// test_bitsequence.cpp — the BitSequence environments (append-only and
// non-autoregressive): masks, steps, the tree/DAG structure, rewards by hand,
// the mode set, enumeration order, the true distribution and the exact
// terminating distribution against brute force, inputs and bad arguments.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "envs/bitsequence.h"
#include "gfn/validation/enumeration.h"
#include "gfn/estimators/preprocessors.h"
#include "tests/env_checks.h"

using namespace gfn;
using namespace gfn::testing;

namespace {

// Two modes of 6 bits, k = 2: 000000 = words (0, 0, 0) and 111100 = words (3, 3, 0).
std::vector<uint8_t> two_modes() { return {0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0}; }

// Bit Hamming distance from a full state's bits to the nearest mode, from the bit lists.
int min_distance_from_bits(const BitSequenceBase& env, const std::vector<int>& bits) {
    const int n = env.seq_size();
    int best = n + 1;
    for (int r = 0; r < env.n_modes(); ++r) {
        int d = 0;
        for (int t = 0; t < n; ++t) d += bits[size_t(t)] != env.modes()[size_t(r * n + t)];
        best = std::min(best, d);
    }
    return best;
}

// Checks the enumeration: row k's index is k, children come later, s_0 is row 0,
// and the terminal states are the 2^n full strings.
void check_enumeration(const DiscreteEnv& env, long long want_states, int seq_size) {
    const int W = env.state_dim(), A = env.n_actions();
    const long long N = env.n_states();
    BOOST_TEST(N == want_states);
    std::vector<int> all(size_t(N) * W);
    env.all_states(all.data());
    std::vector<uint8_t> mask(static_cast<size_t>(A));
    std::vector<int> child(static_cast<size_t>(W));
    std::set<std::vector<int>> distinct;
    for (long long k = 0; k < N; ++k) {
        const int* x = all.data() + k * W;
        distinct.insert(std::vector<int>(x, x + W));
        BOOST_TEST(env.state_index(x) == k);
        env.forward_masks(x, 1, mask.data());
        for (int a = 0; a < A - 1; ++a) {
            if (!mask[size_t(a)]) continue;
            env.step(x, &a, 1, child.data());
            BOOST_TEST(env.state_index(child.data()) > k);
        }
    }
    BOOST_TEST((long long)distinct.size() == N);
    BOOST_TEST(env.is_initial(all.data()));
    BOOST_TEST(true_distribution(env).n_terminal() == (1 << seq_size));
}

// Round trips for every valid action of every state; returns the number of parents per state.
void check_round_trips(const DiscreteEnv& env) {
    const int W = env.state_dim(), A = env.n_actions(), B = env.n_backward_actions();
    std::vector<int> all(size_t(env.n_states()) * W);
    env.all_states(all.data());
    std::vector<uint8_t> fm(static_cast<size_t>(A)), bm(static_cast<size_t>(B));
    std::vector<int> y(static_cast<size_t>(W)), z(static_cast<size_t>(W));
    for (long long k = 0; k < env.n_states(); ++k) {
        const int* x = all.data() + k * W;
        env.forward_masks(x, 1, fm.data());
        for (int act = 0; act < A - 1; ++act) {
            if (!fm[size_t(act)]) continue;
            env.step(x, &act, 1, y.data());
            env.backward_masks(y.data(), 1, bm.data());
            BOOST_TEST(bm[size_t(act)] == 1);
            env.backward_step(y.data(), &act, 1, z.data());
            BOOST_TEST(std::equal(z.begin(), z.end(), x));
        }
        // Every valid backward action leads to a state that steps back with the same index.
        env.backward_masks(x, 1, bm.data());
        for (int act = 0; act < B; ++act) {
            if (!bm[size_t(act)]) continue;
            env.backward_step(x, &act, 1, y.data());
            env.forward_masks(y.data(), 1, fm.data());
            BOOST_TEST(fm[size_t(act)] == 1);
            env.step(y.data(), &act, 1, z.data());
            BOOST_TEST(std::equal(z.begin(), z.end(), x));
        }
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(bitsequence)

BOOST_AUTO_TEST_CASE(shape_and_initial_state) {
    BitSequence env(2, 6, 3, 1.0, 0);
    BOOST_TEST(env.name() == "bitsequence");
    BOOST_TEST(env.state_dim() == 3);
    BOOST_TEST(env.words_per_seq() == 3);
    BOOST_TEST(env.n_actions() == 5);
    BOOST_TEST(env.exit_action() == 4);
    BOOST_TEST(env.n_backward_actions() == 4);
    BOOST_TEST(env.max_trajectory_length() == 4);
    BOOST_TEST(env.n_states() == 1 + 4 + 16 + 64);
    BOOST_TEST(env.enumerable());
    BOOST_TEST(env.coordinate_min() == -1);
    BOOST_TEST(env.coordinate_count() == 5);
    BOOST_TEST(env.n_modes() == 3);
    std::vector<int> s0(3, 7);
    env.initial_state(s0.data());
    BOOST_TEST(s0 == std::vector<int>({-1, -1, -1}), boost::test_tools::per_element());
    BOOST_TEST(env.is_initial(s0.data()));

    BitSequenceNAR nar(2, 6, 3, 1.0, 0);
    BOOST_TEST(nar.name() == "bitsequence_nar");
    BOOST_TEST(nar.n_actions() == 3 * 4 + 1);
    BOOST_TEST(nar.n_backward_actions() == 12);
    BOOST_TEST(nar.max_trajectory_length() == 4);
    BOOST_TEST(nar.n_states() == 125);
    // The same arguments give the same mode set in both.
    BOOST_TEST(nar.modes() == env.modes(), boost::test_tools::per_element());
    // torchgfn's defaults: k = 4, n = 120, 60 modes, T = 1.
    BitSequence big;
    BOOST_TEST(big.word_size() == 4);
    BOOST_TEST(big.seq_size() == 120);
    BOOST_TEST(big.n_modes() == 60);
    BOOST_TEST(big.temperature() == 1.0);
    BOOST_TEST(big.n_actions() == 17);
    BOOST_TEST(!big.enumerable());
    BOOST_TEST(big.n_states() == -1);
}

BOOST_AUTO_TEST_CASE(masks_append_only) {
    BitSequence env(2, 6, two_modes());
    // rows: s_0, one word, a full state
    std::vector<int> s = {-1, -1, -1, 2, -1, -1, 2, 3, 1};
    std::vector<uint8_t> fm(3 * 5), bm(3 * 4);
    env.forward_masks(s.data(), 3, fm.data());
    env.backward_masks(s.data(), 3, bm.data());
    std::vector<uint8_t> fm_want = {1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1};
    std::vector<uint8_t> bm_want = {0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0};  // only the last word
    BOOST_TEST(fm == fm_want, boost::test_tools::per_element());
    BOOST_TEST(bm == bm_want, boost::test_tools::per_element());
    BOOST_TEST(env.length(s.data() + 3) == 1);
    BOOST_TEST(env.length(s.data() + 6) == 3);
}

BOOST_AUTO_TEST_CASE(masks_non_autoregressive) {
    BitSequenceNAR env(1, 3, std::vector<uint8_t>{0, 0, 0});
    // rows: s_0, slot 1 = 1, full (0, 1, 1); actions p·2 + w, exit 6
    std::vector<int> s = {-1, -1, -1, -1, 1, -1, 0, 1, 1};
    std::vector<uint8_t> fm(3 * 7), bm(3 * 6);
    env.forward_masks(s.data(), 3, fm.data());
    env.backward_masks(s.data(), 3, bm.data());
    std::vector<uint8_t> fm_want = {1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1};
    std::vector<uint8_t> bm_want = {0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 1};
    BOOST_TEST(fm == fm_want, boost::test_tools::per_element());
    BOOST_TEST(bm == bm_want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(steps_and_structure) {
    BitSequence env(2, 6, two_modes());
    std::vector<int> s = {-1, -1, -1, 2, 0, -1};
    std::vector<int> a = {3, 1};
    std::vector<int> child(6), back(6);
    env.step(s.data(), a.data(), 2, child.data());
    BOOST_TEST(child == std::vector<int>({3, -1, -1, 2, 0, 1}), boost::test_tools::per_element());
    env.backward_step(child.data(), a.data(), 2, back.data());
    BOOST_TEST(back == s, boost::test_tools::per_element());
    std::vector<int> t = s;  // out may alias states
    env.step(t.data(), a.data(), 2, t.data());
    BOOST_TEST(t == child, boost::test_tools::per_element());
    check_round_trips(env);

    BitSequenceNAR nar(2, 6, two_modes());
    std::vector<int> ns = {-1, -1, -1, 2, -1, -1};
    std::vector<int> b = {2 * 4 + 3, 1 * 4 + 1};  // slot 2 ← 3, slot 1 ← 1
    nar.step(ns.data(), b.data(), 2, child.data());
    BOOST_TEST(child == std::vector<int>({-1, -1, 3, 2, 1, -1}), boost::test_tools::per_element());
    nar.backward_step(child.data(), b.data(), 2, back.data());
    BOOST_TEST(back == ns, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(tree_and_dag) {
    // Append-only: every non-initial state has exactly one parent (a tree).
    BitSequence env(2, 6, two_modes());
    std::vector<int> all(size_t(env.n_states()) * 3);
    env.all_states(all.data());
    std::vector<uint8_t> bm(4);
    for (long long k = 0; k < env.n_states(); ++k) {
        env.backward_masks(all.data() + k * 3, 1, bm.data());
        BOOST_TEST(std::accumulate(bm.begin(), bm.end(), 0) == (k == 0 ? 0 : 1));
    }
    // Non-autoregressive: as many parents as filled slots.
    BitSequenceNAR nar(2, 6, two_modes());
    std::vector<int> nall(size_t(nar.n_states()) * 3);
    nar.all_states(nall.data());
    std::vector<uint8_t> nbm(12);
    for (long long k = 0; k < nar.n_states(); ++k) {
        const int* x = nall.data() + k * 3;
        nar.backward_masks(x, 1, nbm.data());
        BOOST_TEST(std::accumulate(nbm.begin(), nbm.end(), 0) == int(std::count_if(x, x + 3, [](int v) { return v >= 0; })));
    }
    check_round_trips(nar);
    std::vector<int> s = {-1, 0, -1};
    std::vector<int> a = {2 * 4 + 3};
    std::vector<int> out(3);
    nar.step(s.data(), a.data(), 1, out.data());
    BOOST_TEST(out == std::vector<int>({-1, 0, 3}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(invalid_actions_throw) {
    BitSequence env(2, 6, two_modes());
    std::vector<int> full = {1, 2, 3}, part = {1, -1, -1}, s0 = {-1, -1, -1}, out(3);
    int a = 0;
    BOOST_CHECK_THROW(env.step(full.data(), &a, 1, out.data()), std::invalid_argument);  // full
    a = 4;
    BOOST_CHECK_THROW(env.step(part.data(), &a, 1, out.data()), std::invalid_argument);  // the exit
    a = 2;
    BOOST_CHECK_THROW(env.backward_step(full.data(), &a, 1, out.data()), std::invalid_argument);  // last word is 3
    a = 0;
    BOOST_CHECK_THROW(env.backward_step(s0.data(), &a, 1, out.data()), std::invalid_argument);  // nothing to remove
    a = 3;
    BOOST_CHECK_NO_THROW(env.backward_step(full.data(), &a, 1, out.data()));

    BitSequenceNAR nar(2, 6, two_modes());
    a = 0 * 4 + 2;
    BOOST_CHECK_THROW(nar.step(part.data(), &a, 1, out.data()), std::invalid_argument);  // slot 0 is full
    a = 12;
    BOOST_CHECK_THROW(nar.step(part.data(), &a, 1, out.data()), std::invalid_argument);  // the exit
    a = 0 * 4 + 2;
    BOOST_CHECK_THROW(nar.backward_step(part.data(), &a, 1, out.data()), std::invalid_argument);  // slot 0 holds 1
    a = 1 * 4 + 0;
    BOOST_CHECK_THROW(nar.backward_step(part.data(), &a, 1, out.data()), std::invalid_argument);  // slot 1 empty
    a = 0 * 4 + 1;
    BOOST_CHECK_NO_THROW(nar.backward_step(part.data(), &a, 1, out.data()));
}

// Modes 000000 and 111100 (k = 2): log R = −d/T.
BOOST_AUTO_TEST_CASE(reward_by_hand) {
    BitSequence env(2, 6, two_modes(), 0.5);
    BOOST_TEST(env.mode_states() == std::vector<int>({0, 0, 0, 3, 3, 0}), boost::test_tools::per_element());
    BOOST_TEST(log_reward_at(env, {0, 0, 0}) == 0.0f);
    BOOST_TEST(log_reward_at(env, {3, 3, 0}) == 0.0f);
    BOOST_TEST(log_reward_at(env, {3, 0, 0}) == -4.0f);  // 110000: d = 2 to both
    BOOST_TEST(log_reward_at(env, {1, 2, 3}) == -8.0f);  // 011011: d = 4 to both
    BOOST_TEST(log_reward_at(env, {2, 3, 0}) == -2.0f);  // 101100: d = 1 to 111100
    int x[3] = {3, -1, -1};                              // 11????: empty bits mismatch: min(6, 4)
    BOOST_TEST(env.min_hamming_distance(x) == 4);
    // The modes of the true distribution are exactly the mode set.
    TargetDistribution t = true_distribution(env);
    BOOST_TEST(t.n_modes == 2);
    for (int i = 0; i < t.n_terminal(); ++i) {
        const int* s = t.states.data() + 3 * i;
        const bool is_mode = (s[0] == 0 && s[1] == 0 && s[2] == 0) || (s[0] == 3 && s[1] == 3 && s[2] == 0);
        BOOST_TEST(bool(t.is_mode[size_t(i)]) == is_mode);
    }
    // torchgfn's NAR reward −β·d/n is temperature n/β: β = 2, n = 6 → T = 3.
    BitSequenceNAR nar(2, 6, two_modes(), 6.0 / 2.0);
    BOOST_TEST(log_reward_at(nar, {1, 2, 3}) == float(-2.0 * 4 / 6));
}

BOOST_AUTO_TEST_CASE(mode_sets) {
    // auto with n = 4: random strings; seeded and deterministic; distinct.
    BitSequence a(1, 4, 2, 1.0, 7), b(1, 4, 2, 1.0, 7);
    BOOST_TEST(a.modes() == b.modes(), boost::test_tools::per_element());
    BOOST_TEST(a.modes().size() == 8u);
    BOOST_TEST(!std::equal(a.modes().begin(), a.modes().begin() + 4, a.modes().begin() + 4));
    std::set<std::vector<uint8_t>> across_seeds;
    for (uint64_t seed = 0; seed < 10; ++seed) across_seeds.insert(BitSequence(1, 4, 2, 1.0, seed).modes());
    BOOST_TEST(across_seeds.size() > 1u);
    // Every 4-bit string: 16 distinct modes, then every full state is a mode.
    BitSequence all16(1, 4, 16, 1.0, 3, "random");
    std::set<std::vector<uint8_t>> strings;
    for (int r = 0; r < 16; ++r) strings.insert(std::vector<uint8_t>(all16.modes().begin() + 4 * r, all16.modes().begin() + 4 * r + 4));
    BOOST_TEST(strings.size() == 16u);
    BOOST_TEST(true_distribution(all16).n_modes == 16);
    // blocks: every 8-bit block is one of torchgfn's five patterns; modes distinct.
    const std::set<std::vector<uint8_t>> patterns = {{0, 0, 0, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1, 1, 1},
                                                     {1, 1, 1, 1, 0, 0, 0, 0}, {0, 0, 0, 0, 1, 1, 1, 1},
                                                     {0, 0, 1, 1, 1, 1, 0, 0}};
    for (const std::string scheme : {"blocks", "auto"}) {
        BitSequence env(4, 16, 25, 1.0, 5, scheme);  // 5^2 = 25: all of them
        std::set<std::vector<uint8_t>> seen;
        for (int r = 0; r < 25; ++r) {
            const auto m = env.modes().begin() + 16 * r;
            seen.insert(std::vector<uint8_t>(m, m + 16));
            BOOST_TEST(patterns.count(std::vector<uint8_t>(m, m + 8)) == 1u);
            BOOST_TEST(patterns.count(std::vector<uint8_t>(m + 8, m + 16)) == 1u);
        }
        BOOST_TEST(seen.size() == 25u);
    }
    BitSequence dflt;  // 120 bits, 60 block modes
    for (int r = 0; r < 60; ++r)
        for (int b = 0; b < 15; ++b) {
            const auto m = dflt.modes().begin() + 120 * r + 8 * b;
            BOOST_TEST(patterns.count(std::vector<uint8_t>(m, m + 8)) == 1u);
        }
    // Mode words: bits most significant first.
    BitSequence words(4, 8, std::vector<uint8_t>{0, 0, 1, 1, 1, 0, 0, 0});
    BOOST_TEST(words.mode_states() == std::vector<int>({3, 8}), boost::test_tools::per_element());
    BOOST_TEST(log_reward_at(words, {3, 8}) == 0.0f);
    BOOST_TEST(log_reward_at(words, {3, 9}) == -1.0f);
    BOOST_TEST(log_reward_at(words, {12, 7}) == -8.0f);
}

BOOST_AUTO_TEST_CASE(enumeration_is_topological) {
    check_enumeration(BitSequence(1, 4, 2), 31, 4);  // 2^5 − 1
    check_enumeration(BitSequence(2, 6, two_modes()), 85, 6);
    check_enumeration(BitSequence(3, 3, 1), 9, 3);
    check_enumeration(BitSequenceNAR(1, 4, 2), 81, 4);  // 3^4
    check_enumeration(BitSequenceNAR(2, 6, two_modes()), 125, 6);
    // Append-only rows: by length, then by value (slot 0 most significant).
    BitSequence env(1, 3, 1);
    std::vector<int> all(15 * 3);
    env.all_states(all.data());
    std::vector<int> want = {-1, -1, -1, 0, -1, -1, 1, -1, -1, 0, 0, -1, 0, 1, -1, 1, 0, -1, 1, 1, -1,
                             0,  0,  0,  0, 0,  1,  0, 1,  0,  0, 1, 1,  1, 0, 0,  1, 0, 1,  1, 1, 0, 1, 1, 1};
    BOOST_TEST(all == want, boost::test_tools::per_element());
    // Not prefix states, or out of range: no row.
    std::vector<int> hole = {-1, 1, -1}, high = {2, -1, -1}, sink = {-2, -2, -2};
    BOOST_TEST(env.state_index(hole.data()) == -1);
    BOOST_TEST(env.state_index(high.data()) == -1);
    BOOST_TEST(env.state_index(sink.data()) == -1);
    BitSequenceNAR nar(1, 3, 1);
    BOOST_TEST(nar.state_index(hole.data()) == 0 * 9 + 2 * 3 + 0);
    BOOST_TEST(nar.state_index(high.data()) == -1);
    BOOST_TEST(!BitSequence(1, 26, 1).enumerable());  // 2^27 − 1 states
    BOOST_TEST(BitSequence(1, 25, 1).enumerable());
    BOOST_TEST(!BitSequenceNAR(1, 17, 1).enumerable());  // 3^17
}

BOOST_AUTO_TEST_CASE(true_distribution_against_brute_force) {
    for (double T : {1.0, 0.4}) {
        BitSequence env(2, 6, 3, T, 11);
        BitSequenceNAR nar(2, 6, 3, T, 11);
        TargetDistribution t = true_distribution(env), tn = true_distribution(nar);
        BOOST_TEST(t.n_terminal() == 64);
        BOOST_TEST(std::accumulate(t.prob.begin(), t.prob.end(), 0.0) == 1.0, boost::test_tools::tolerance(1e-12));
        // log Z = log Σ_{all 6-bit strings} exp(−d/T), from the bits.
        double z = 0.0;
        for (int v = 0; v < 64; ++v) {
            std::vector<int> bits(6);
            for (int b = 0; b < 6; ++b) bits[size_t(b)] = (v >> (5 - b)) & 1;
            z += std::exp(-min_distance_from_bits(env, bits) / T);
        }
        BOOST_TEST(t.log_z == std::log(z), boost::test_tools::tolerance(1e-6));
        BOOST_TEST(t.n_modes == 3);
        // Both list the full states in the same (lexicographic) order with the same rewards.
        BOOST_TEST(tn.states == t.states, boost::test_tools::per_element());
        BOOST_TEST(tn.prob == t.prob, boost::test_tools::per_element());
        for (int i = 0; i < 64; ++i) {
            const int* s = t.states.data() + 3 * i;
            BOOST_TEST(s[0] * 16 + s[1] * 4 + s[2] == i);
        }
    }
}

BOOST_AUTO_TEST_CASE(exact_terminating_distribution_matches_all_trajectories) {
    check_exact_terminating_distribution(BitSequence(1, 4, 2));
    check_exact_terminating_distribution(BitSequence(2, 4, 2, 0.5, 3));
    check_exact_terminating_distribution(BitSequenceNAR(1, 3, 2));  // 3!·2^3 trajectories
    check_exact_terminating_distribution(BitSequenceNAR(2, 4, 2));

    // On the tree, P_T(x) is the product of PF along x's only path (torchgfn's estimated_dist_pmf).
    BitSequence env(1, 4, 2);
    TargetDistribution t = true_distribution(env);
    PolicyFn pf = hashed_policy(env);
    std::vector<double> exact = exact_terminating_distribution(env, t, pf);
    std::vector<float> lp(3);
    for (int i = 0; i < t.n_terminal(); ++i) {
        std::vector<int> s(4, -1);
        double log_p = 0.0;
        for (int j = 0; j <= 4; ++j) {
            pf(s.data(), 1, lp.data());
            const int a = j < 4 ? t.states[size_t(4 * i + j)] : 2;
            log_p += lp[size_t(a)];
            if (j < 4) s[size_t(j)] = a;
        }
        BOOST_TEST(exact[size_t(i)] == std::exp(log_p), boost::test_tools::tolerance(1e-9));
    }
}

BOOST_AUTO_TEST_CASE(inputs) {
    BitSequence env(2, 6, two_modes());
    std::vector<int> s = {2, -1, -1};
    auto pre = make_preprocessor("identity", env);  // torchgfn's input: the raw slot values
    BOOST_TEST(pre->output_dim() == 3);
    std::vector<float> id(3);
    pre->apply(s.data(), 1, id.data());
    BOOST_TEST(env.default_preprocessor()->output_dim() == 15);  // ours: K-hot
    BOOST_TEST(id == std::vector<float>({2, -1, -1}), boost::test_tools::per_element());
    auto k_hot = make_preprocessor("k_hot", env);  // one-hot per slot: empty, 0, 1, 2, 3
    BOOST_TEST(k_hot->output_dim() == 15);
    std::vector<float> kh(15);
    k_hot->apply(s.data(), 1, kh.data());
    BOOST_TEST(kh == std::vector<float>({0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0}), boost::test_tools::per_element());
    BOOST_TEST(make_preprocessor("one_hot", env)->output_dim() == 85);
    BOOST_TEST(make_preprocessor("k_hot", BitSequenceNAR(2, 6, two_modes()))->output_dim() == 15);
}

BOOST_AUTO_TEST_CASE(bad_arguments_throw) {
    BOOST_CHECK_THROW(BitSequence(0, 4, 2), std::invalid_argument);
    BOOST_CHECK_THROW(BitSequence(17, 17, 2), std::invalid_argument);
    BOOST_CHECK_THROW(BitSequence(1, 0, 2), std::invalid_argument);
    BOOST_CHECK_THROW(BitSequence(2, 5, 2), std::invalid_argument);
    BOOST_CHECK_THROW(BitSequence(1, 4, 0), std::invalid_argument);
    BOOST_CHECK_THROW(BitSequence(1, 4, 17), std::invalid_argument);                 // only 16 strings
    BOOST_CHECK_THROW(BitSequence(4, 16, 26, 1.0, 0, "blocks"), std::invalid_argument);  // only 25
    BOOST_CHECK_THROW(BitSequence(4, 12, 2, 1.0, 0, "blocks"), std::invalid_argument);   // 12 % 8 != 0
    BOOST_CHECK_THROW(BitSequence(1, 4, 2, 1.0, 0, "blocky"), std::invalid_argument);
    BOOST_CHECK_THROW(BitSequence(1, 4, 2, 0.0), std::invalid_argument);
    BOOST_CHECK_THROW(BitSequence(1, 4, 2, NAN), std::invalid_argument);
    BOOST_CHECK_THROW(BitSequence(1, 4, std::vector<uint8_t>{}), std::invalid_argument);
    BOOST_CHECK_THROW(BitSequence(1, 4, std::vector<uint8_t>{0, 1, 0}), std::invalid_argument);
    BOOST_CHECK_THROW(BitSequence(1, 4, std::vector<uint8_t>{0, 1, 0, 2}), std::invalid_argument);
    BOOST_CHECK_THROW(BitSequence(1, 2, std::vector<uint8_t>{0, 1, 0, 1}), std::invalid_argument);  // repeated
    BOOST_CHECK_THROW(BitSequenceNAR(2, 5, 2), std::invalid_argument);
    BOOST_CHECK_THROW(BitSequenceNAR(1, 4, 2, -1.0), std::invalid_argument);
    BOOST_CHECK_THROW(BitSequenceNAR(1, 2, std::vector<uint8_t>{1, 1, 1, 1}), std::invalid_argument);
    try {
        BitSequence(2, 5, 2);
    } catch (const std::invalid_argument& e) {
        BOOST_TEST(std::string(e.what()) == "BitSequence: seq_size (5) must be a multiple of word_size (2)");
    }
    try {
        BitSequence(1, 4, 17);
    } catch (const std::invalid_argument& e) {
        BOOST_TEST(std::string(e.what()) ==
                   "BitSequence: cannot draw 17 distinct modes, scheme 'random' has only 16 strings of 4 bits");
    }
    try {
        BitSequenceNAR(1, 2, std::vector<uint8_t>{1, 1, 1, 1});
    } catch (const std::invalid_argument& e) {
        BOOST_TEST(std::string(e.what()) == "BitSequenceNAR: mode 1 repeats an earlier mode");
    }
}

BOOST_AUTO_TEST_SUITE_END()
