// trajectories.cpp — see trajectories.h.
#include "gfn/trajectories.h"

#include <algorithm>

namespace gfn {

void Trajectories::allocate(int n_, int max_length_, int state_dim_, int condition_dim_) {
    n = n_;
    max_length = max_length_;
    state_dim = state_dim_;
    condition_dim = condition_dim_;
    states.assign(size_t(max_length + 1) * size_t(n) * size_t(state_dim), -1);
    actions.assign(size_t(max_length) * size_t(n), -1);
    lengths.assign(size_t(n), 0);
    log_rewards.assign(size_t(n), 0.f);
    conditions.assign(size_t(n) * size_t(condition_dim), 0.f);
    step_traj.clear(); step_t.clear(); bstep_traj.clear(); bstep_t.clear();
    drop_saved();
}

void Trajectories::index_steps() {
    step_traj.clear(); step_t.clear(); bstep_traj.clear(); bstep_t.clear();
    int lmax = 0;
    for (int L : lengths) lmax = std::max(lmax, L);
    for (int t = 0; t < lmax; ++t)
        for (int i = 0; i < n; ++i) {
            if (t < lengths[size_t(i)]) { step_traj.push_back(i); step_t.push_back(t); }
            if (t >= 1 && t <= lengths[size_t(i)] - 1) { bstep_traj.push_back(i); bstep_t.push_back(t); }
        }
}

}  // namespace gfn
