// env.cpp — the defaults of DiscreteEnv: what an environment that does not
// enumerate, or is not conditional, answers when asked anyway.
#include "gfn/env/env.h"

#include <cstdio>
#include <limits>
#include <stdexcept>
#include <vector>

namespace gfn {

std::string num_str(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

bool DiscreteEnv::is_initial(const int* s) const {
    const int d = state_dim();
    std::vector<int> s0(size_t(d > 0 ? d : 0));
    initial_state(s0.data());
    for (int j = 0; j < d; ++j)
        if (s[j] != s0[size_t(j)]) return false;
    return true;
}

void DiscreteEnv::sample_conditions(Rng&, int, float*) const {
    throw std::logic_error(name() + ": not a conditional environment (condition_dim() is " +
                           std::to_string(condition_dim()) + "); it has no conditions to sample");
}

void DiscreteEnv::all_states(int*) const {
    throw std::logic_error(name() + ": all_states() is not available (the state space is not enumerable)");
}

long long DiscreteEnv::state_index(const int*) const {
    throw std::logic_error(name() + ": state_index() is not available (the state space is not enumerable)");
}

double DiscreteEnv::mode_log_reward_threshold() const { return std::numeric_limits<double>::infinity(); }

}  // namespace gfn
