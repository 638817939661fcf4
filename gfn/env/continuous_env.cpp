// continuous_env.cpp — the shared parts of ContinuousEnv (continuous_env.h).
#include "gfn/env/continuous_env.h"

#include <vector>

namespace gfn {

bool ContinuousEnv::is_initial(const float* s) const {
    std::vector<float> s0(static_cast<size_t>(state_dim()));
    initial_state(s0.data());
    for (int j = 0; j < state_dim(); ++j)
        if (s[j] != s0[size_t(j)]) return false;
    return true;
}

}  // namespace gfn
