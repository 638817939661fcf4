// local_search.cpp — see local_search.h.
#include "gfn/samplers/local_search.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "gfn/estimators/log_probs.h"
#include "gfn/samplers/sampler.h"

namespace gfn {

namespace {

// Rolls PF out from n given states until every row exits. Row i may take at most
// max_actions[i] actions. On return actions[i] holds the actions (exit last) and
// states[i] the visited states after the start, s_1 … (one per non-exit action).
void rollout_from(const DiscreteEnv& env, const PolicyEstimator& pf, const int* starts, const float* conditions,
                  int n, const std::vector<int>& max_actions, const PolicyOptions& opt, Rng& rng, Tape& tape,
                  std::vector<std::vector<int>>& states, std::vector<std::vector<int>>& actions) {
    const int D = env.state_dim(), C = env.condition_dim(), A = env.n_actions();
    states.assign(size_t(n), {});
    actions.assign(size_t(n), {});
    std::vector<int> rows(static_cast<size_t>(n)), cur(starts, starts + size_t(n) * D), acts, keep_rows, keep_cur,
        step_acts;
    for (int i = 0; i < n; ++i) rows[size_t(i)] = i;
    std::vector<float> cond;
    while (!rows.empty()) {
        const int m = int(rows.size());
        const float* cnd = nullptr;
        if (C > 0) {
            cond.resize(size_t(m) * C);
            for (int r = 0; r < m; ++r)
                std::memcpy(&cond[size_t(r) * C], conditions + size_t(rows[size_t(r)]) * C, sizeof(float) * size_t(C));
            cnd = cond.data();
        }
        Var lp = pf.log_probs(tape, cur.data(), cnd, m, opt);
        acts.resize(size_t(m));
        for (int r = 0; r < m; ++r) acts[size_t(r)] = sample_categorical(rng, lp.value().data + size_t(r) * A, A);
        keep_rows.clear();
        keep_cur.clear();
        step_acts.clear();
        for (int r = 0; r < m; ++r) {
            const int i = rows[size_t(r)], a = acts[size_t(r)];
            actions[size_t(i)].push_back(a);
            if (a == A - 1) continue;
            if (int(actions[size_t(i)].size()) >= max_actions[size_t(i)])
                throw std::runtime_error("local search: a re-rolled trajectory in " + env.name() + " exceeded " +
                                         std::to_string(env.max_trajectory_length()) +
                                         " actions (max_trajectory_length)");
            keep_rows.push_back(i);
            keep_cur.insert(keep_cur.end(), cur.begin() + long(r) * D, cur.begin() + long(r + 1) * D);
            step_acts.push_back(a);
        }
        if (!keep_rows.empty()) env.step(keep_cur.data(), step_acts.data(), int(keep_rows.size()), keep_cur.data());
        for (size_t r = 0; r < keep_rows.size(); ++r)
            states[size_t(keep_rows[r])].insert(states[size_t(keep_rows[r])].end(), keep_cur.begin() + long(r) * D,
                                                keep_cur.begin() + long(r + 1) * D);
        rows.swap(keep_rows);
        cur.swap(keep_cur);
    }
}

// Σ log PF and Σ log PB of every trajectory (double), PF and PB re-evaluated.
void trajectory_log_probs(Tape& tape, const Trajectories& t, const PolicyEstimator& pf, const PolicyEstimator& pb,
                          std::vector<double>& sum_pf, std::vector<double>& sum_pb) {
    StepLogProbs lp = evaluate_log_probs(tape, t, pf, &pb, true);
    sum_pf.assign(size_t(t.n), 0.0);
    sum_pb.assign(size_t(t.n), 0.0);
    const float* f = lp.log_pf.value().data;
    for (int k = 0; k < t.n_steps(); ++k) sum_pf[size_t(t.step_traj[size_t(k)])] += f[k];
    if (t.n_bsteps() > 0) {
        const float* b = lp.log_pb.value().data;
        for (int k = 0; k < t.n_bsteps(); ++k) sum_pb[size_t(t.bstep_traj[size_t(k)])] += b[k];
    }
}

}  // namespace

int local_search_back_steps(int length, double back_ratio) {
    if (!(back_ratio > 0.0 && back_ratio <= 1.0))
        throw std::invalid_argument("local search: back_ratio must be in (0, 1], got " + std::to_string(back_ratio));
    if (length < 1) throw std::invalid_argument("local search: trajectory length must be >= 1, got " + std::to_string(length));
    const double k = back_ratio * double(length - 1);
    const int K = int(std::ceil(k - 1e-9 * std::max(1.0, k)));
    return std::min(std::max(K, 0), length - 1);
}

void local_search_step(const DiscreteEnv& env, const PolicyEstimator& pf, const PolicyEstimator& pb,
                       const Trajectories& current, const LocalSearchOptions& opt, Rng& rng, Tape& tape,
                       Trajectories& candidates, std::vector<uint8_t>& accepted, std::vector<double>* log_accept_ratio) {
    if (pf.is_backward()) throw std::invalid_argument("local search: pf is a backward policy");
    if (!pb.is_backward()) throw std::invalid_argument("local search: pb is a forward policy");
    const int n = current.n, D = env.state_dim(), C = env.condition_dim(), T = env.max_trajectory_length();
    if (current.state_dim != D || current.condition_dim != C)
        throw std::invalid_argument("local search: the trajectories do not belong to " + env.name());
    std::vector<int> K(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) K[size_t(i)] = local_search_back_steps(current.lengths[size_t(i)], opt.back_ratio);
    accepted.assign(size_t(n), 0);
    if (log_accept_ratio) log_accept_ratio->assign(size_t(n), 0.0);
    if (n == 0) {
        candidates.allocate(0, 0, D, C);
        return;
    }
    NoGrad ng(tape);

    // 1. A path τ_b from each x back to s_0 through PB; the junction s' sits K steps before x.
    std::vector<int> x(size_t(n) * size_t(D));
    for (int i = 0; i < n; ++i) std::memcpy(&x[size_t(i) * D], current.terminal_state(i), sizeof(int) * size_t(D));
    const float* cond = current.conditions.empty() ? nullptr : current.conditions.data();
    Trajectories back;
    sample_backward_trajectories(env, pb, x.data(), n, cond, rng, tape, back);
    std::vector<int> junction_t(static_cast<size_t>(n)), junction(size_t(n) * size_t(D)), budget(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
        const int Lb = back.lengths[size_t(i)];
        const int j = Lb - 1 - std::min(K[size_t(i)], Lb - 1);
        junction_t[size_t(i)] = j;
        budget[size_t(i)] = T - j;
        std::memcpy(&junction[size_t(i) * D], back.state(j, i), sizeof(int) * size_t(D));
    }

    // 2. Re-roll PF from s' to a new x'; the candidate is τ_b up to s', then the new segment.
    std::vector<std::vector<int>> seg_states, seg_actions;
    rollout_from(env, pf, junction.data(), cond, n, budget, opt.exploration, rng, tape, seg_states, seg_actions);
    int lmax = 0;
    for (int i = 0; i < n; ++i) lmax = std::max(lmax, junction_t[size_t(i)] + int(seg_actions[size_t(i)].size()));
    candidates.allocate(n, lmax, D, C);
    if (C > 0) std::memcpy(candidates.conditions.data(), cond, sizeof(float) * size_t(n) * size_t(C));
    for (int i = 0; i < n; ++i) {
        const int j = junction_t[size_t(i)];
        const auto& sa = seg_actions[size_t(i)];
        const auto& ss = seg_states[size_t(i)];
        for (int t = 0; t <= j; ++t) std::memcpy(candidates.state(t, i), back.state(t, i), sizeof(int) * size_t(D));
        for (int t = 0; t < j; ++t) candidates.actions[size_t(t) * n + i] = back.action(t, i);
        for (size_t k = 0; k < sa.size(); ++k) {
            candidates.actions[(size_t(j) + k) * n + i] = sa[k];
            if (k + 1 < sa.size()) std::memcpy(candidates.state(j + 1 + int(k), i), &ss[k * D], sizeof(int) * size_t(D));
        }
        candidates.lengths[size_t(i)] = j + int(sa.size());
    }
    candidates.index_steps();
    compute_log_rewards(env, candidates);

    // 3. Accept greedily or by Metropolis–Hastings.
    if (!opt.use_metropolis_hastings) {
        for (int i = 0; i < n; ++i) {
            const double r_new = candidates.log_rewards[size_t(i)], r_old = current.log_rewards[size_t(i)];
            accepted[size_t(i)] = r_new >= r_old;
            if (log_accept_ratio) (*log_accept_ratio)[size_t(i)] = r_new - r_old;
        }
        return;
    }
    std::vector<double> pf_back, pb_back, pf_cand, pb_cand;
    trajectory_log_probs(tape, back, pf, pb, pf_back, pb_back);
    trajectory_log_probs(tape, candidates, pf, pb, pf_cand, pb_cand);
    for (int i = 0; i < n; ++i) {
        // log α = log R(x') + log PB(τ_b | x) + log PF(τ') − log R(x) − log PB(τ' | x') − log PF(τ_b)
        const double log_alpha = double(candidates.log_rewards[size_t(i)]) + pb_back[size_t(i)] + pf_cand[size_t(i)] -
                                 double(current.log_rewards[size_t(i)]) - pb_cand[size_t(i)] - pf_back[size_t(i)];
        if (log_accept_ratio) (*log_accept_ratio)[size_t(i)] = log_alpha;
        const double u = rng.uniform_double();
        accepted[size_t(i)] = u < std::exp(std::min(0.0, log_alpha));  // NaN: false
    }
}

LocalSearchResult local_search(const DiscreteEnv& env, const PolicyEstimator& pf, const PolicyEstimator& pb,
                               const Trajectories& start, const LocalSearchOptions& opt, Rng& rng, Tape& tape) {
    if (opt.n_loops < 0)
        throw std::invalid_argument("local search: n_loops must be >= 0, got " + std::to_string(opt.n_loops));
    local_search_back_steps(1, opt.back_ratio);  // validates back_ratio even when nothing runs
    LocalSearchResult res;
    const int n = start.n;
    std::vector<int> all_rows(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) all_rows[size_t(i)] = i;
    res.current = select_trajectories(start, all_rows);
    res.all = res.current;
    Trajectories cand;
    std::vector<uint8_t> acc;
    std::vector<int> pick(static_cast<size_t>(n));
    for (int loop = 0; loop < opt.n_loops; ++loop) {
        local_search_step(env, pf, pb, res.current, opt, rng, tape, cand, acc);
        res.all = concatenate(res.all, cand);
        // Row i of [current; cand] is current's i, row n + i the candidate.
        for (int i = 0; i < n; ++i) {
            pick[size_t(i)] = acc[size_t(i)] ? n + i : i;
            res.n_accepted += acc[size_t(i)];
        }
        res.n_proposed += n;
        res.current = select_trajectories(concatenate(res.current, cand), pick);
    }
    return res;
}

}  // namespace gfn
