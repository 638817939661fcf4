// trajectories.cpp — see trajectories.h.
#include "gfn/containers/trajectories.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

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
    action_dim = 0;
    float_states.clear();
    float_actions.clear();
    step_traj.clear(); step_t.clear(); bstep_traj.clear(); bstep_t.clear();
    drop_saved();
}

void Trajectories::allocate_continuous(int n_, int max_length_, int state_dim_, int action_dim_) {
    allocate(n_, max_length_, 0, 0);
    states.clear();
    actions.clear();
    state_dim = state_dim_;
    action_dim = action_dim_;
    float_states.assign(size_t(max_length + 1) * size_t(n) * size_t(state_dim), NAN);
    float_actions.assign(size_t(max_length) * size_t(n) * size_t(action_dim), NAN);
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

namespace {

// Copies trajectory i of src into row j of dst (allocated, same dims, long enough).
void copy_trajectory(const Trajectories& src, int i, Trajectories& dst, int j) {
    const int L = src.lengths[size_t(i)], D = src.state_dim, C = src.condition_dim, A = src.action_dim;
    for (int t = 0; t < L && src.is_continuous(); ++t) {
        std::memcpy(dst.float_state(t, j), src.float_state(t, i), sizeof(float) * size_t(D));
        std::memcpy(dst.float_action(t, j), src.float_action(t, i), sizeof(float) * size_t(A));
    }
    for (int t = 0; t < L && !src.is_continuous(); ++t) {
        std::memcpy(dst.state(t, j), src.state(t, i), sizeof(int) * size_t(D));
        dst.actions[size_t(t) * dst.n + j] = src.action(t, i);
    }
    dst.lengths[size_t(j)] = L;
    dst.log_rewards[size_t(j)] = src.log_rewards[size_t(i)];
    if (C > 0) std::memcpy(dst.conditions.data() + size_t(j) * C, src.condition(i), sizeof(float) * size_t(C));
}

}  // namespace

Trajectories select_trajectories(const Trajectories& t, const std::vector<int>& rows) {
    int lmax = 0;
    for (int r : rows) {
        if (r < 0 || r >= t.n)
            throw std::out_of_range("select_trajectories: row " + std::to_string(r) + " of a batch of " +
                                    std::to_string(t.n));
        lmax = std::max(lmax, t.lengths[size_t(r)]);
    }
    Trajectories out;
    if (t.is_continuous())
        out.allocate_continuous(int(rows.size()), lmax, t.state_dim, t.action_dim);
    else
        out.allocate(int(rows.size()), lmax, t.state_dim, t.condition_dim);
    for (size_t j = 0; j < rows.size(); ++j) copy_trajectory(t, rows[j], out, int(j));
    out.index_steps();
    return out;
}

Trajectories concatenate(const Trajectories& a, const Trajectories& b) {
    Trajectories out;
    concatenate_into({&a, &b}, out);
    return out;
}

void concatenate_into(const std::vector<const Trajectories*>& parts, Trajectories& out) {
    const Trajectories* shape = nullptr;
    int n = 0, lmax = 0;
    for (const Trajectories* p : parts) {
        if (p == &out) throw std::invalid_argument("concatenate: the output is one of the parts");
        if (p->n > 0 && shape && (p->state_dim != shape->state_dim || p->condition_dim != shape->condition_dim ||
                                  p->action_dim != shape->action_dim))
            throw std::invalid_argument("concatenate: state_dim " + std::to_string(shape->state_dim) + " vs " +
                                        std::to_string(p->state_dim) + ", condition_dim " +
                                        std::to_string(shape->condition_dim) + " vs " +
                                        std::to_string(p->condition_dim) + ", action_dim " +
                                        std::to_string(shape->action_dim) + " vs " + std::to_string(p->action_dim));
        if (p->n > 0 && !shape) shape = p;
        n += p->n;
        lmax = std::max(lmax, p->max_length);
    }
    if (!shape) shape = parts.empty() ? &out : parts.front();
    const int D = shape->state_dim, C = shape->condition_dim, A = shape->action_dim;
    if (shape->is_continuous()) out.allocate_continuous(n, lmax, D, A);
    else out.allocate(n, lmax, D, C);
    int at = 0;
    for (const Trajectories* p : parts)
        for (int i = 0; i < p->n; ++i) copy_trajectory(*p, i, out, at++);
    out.index_steps();
}

}  // namespace gfn
