// local_search.h — back-and-forth local search over complete trajectories
// (Zhang et al. 2022, Kim et al. 2023; torchgfn's LocalSearchSampler).
//
// One round, for every trajectory τ of length L (actions, exit included) ending at x:
//   1. K = ceil(back_ratio·(L − 1)) backward steps (back_ratio ∈ (0, 1], so 0 ≤ K ≤ L − 1).
//      As torchgfn, a whole path τ_b from x to s_0 is drawn through PB and the junction
//      s' is the state K steps before x on it (K is clamped to τ_b's length − 1).
//   2. From s' PF is rolled out until it exits at x'. The candidate τ' is τ_b's prefix
//      s_0 … s' followed by the new segment s' … x'.
//   3. Acceptance:
//        greedy   accept when log R(x') ≥ log R(x)
//        MH       accept when u < exp(min(0, log α)), u ~ U[0, 1), with
//                 log α = log R(x') + Σ log PB(τ_b | x) + Σ log PF(τ')
//                       − log R(x) − Σ log PB(τ' | x') − Σ log PF(τ_b)
//                 (the shared prefix cancels: only the segments s' → x and s' → x'
//                 count). A NaN log α (e.g. both rewards 0) rejects.
//      A rejected trajectory keeps its original path.
// log R(x) is the trajectory's stored log-reward; log R(x') comes from the env.
// The rollout may use exploration options (as torchgfn's policy kwargs); the MH
// log-probabilities are those of PF and PB themselves, as in torchgfn.
//
// n_loops rounds chain: each round searches from the trajectories the previous
// round kept. Everything runs without gradient (NoGrad on the caller's tape, whose
// nodes stay until it is reset), and only the given Rng is used, in a fixed order
// (backward paths, then rollouts, then one uniform per trajectory for MH).
// Outputs carry no saved log-probs: the loss re-evaluates them.
#pragma once

#include <vector>

#include "engine/random.h"
#include "engine/tape.h"
#include "gfn/env/env.h"
#include "gfn/estimators/estimators.h"
#include "gfn/containers/trajectories.h"

namespace gfn {

struct LocalSearchOptions {
    double back_ratio = 0.5;           // in (0, 1]
    int n_loops = 1;                   // n_local_search_loops, >= 0
    bool use_metropolis_hastings = false;
    PolicyOptions exploration;         // shapes the forward re-roll only
};

// K = ceil(back_ratio·(L − 1)) for a trajectory of `length` actions (exit included),
// computed in double with a 1e−9 allowance so that e.g. 0.3·10 gives 3, not 4.
// Throws std::invalid_argument unless back_ratio ∈ (0, 1] and length >= 1.
int local_search_back_steps(int length, double back_ratio);

// One round on `current`: candidates (current.n of them, in order), accepted[i] = 1
// when candidate i replaces trajectory i, and, when asked for, log α (MH) or
// log R(x') − log R(x) (greedy) per trajectory.
void local_search_step(const DiscreteEnv& env, const PolicyEstimator& pf, const PolicyEstimator& pb,
                       const Trajectories& current, const LocalSearchOptions& opt, Rng& rng, Tape& tape,
                       Trajectories& candidates, std::vector<uint8_t>& accepted,
                       std::vector<double>* log_accept_ratio = nullptr);

struct LocalSearchResult {
    Trajectories current;   // n: where each search ended (the improved batch)
    Trajectories all;       // n·(1 + n_loops): the input, then each round's candidates,
                            // accepted or not (torchgfn's training batch)
    long long n_proposed = 0, n_accepted = 0;
    double acceptance_rate() const { return n_proposed > 0 ? double(n_accepted) / double(n_proposed) : 0.0; }
};

// opt.n_loops rounds from `start` (complete trajectories of env). PF must be a forward
// and PB a backward policy of env (PolicyEstimator::uniform_pb for a constant PB).
LocalSearchResult local_search(const DiscreteEnv& env, const PolicyEstimator& pf, const PolicyEstimator& pb,
                               const Trajectories& start, const LocalSearchOptions& opt, Rng& rng, Tape& tape);

}  // namespace gfn
