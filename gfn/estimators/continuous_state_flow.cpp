// continuous_state_flow.cpp — see continuous_state_flow.h.
#include "gfn/estimators/continuous_state_flow.h"

#include <cstring>
#include <vector>

#include "engine/ops.h"

namespace gfn {

ContinuousStateFlowEstimator::ContinuousStateFlowEstimator(const ContinuousEnv& env, ParamStore& store,
                                                           const NetConfig& cfg, Rng& rng, const std::string& name,
                                                           int net_group, int s0_group, float init_log_z)
    : env_(env),
      net_(store, name, env.state_dim(), 1, cfg.hidden, cfg.n_hidden_layers, cfg.activation, rng, net_group),
      s0_(store, init_log_z, s0_group, name + ".s0") {}

Var ContinuousStateFlowEstimator::forward(Tape& tape, const float* states, int n) const {
    const int D = env_.state_dim();
    // The m rows that are not s_0 through the MLP; row k of the result is
    //     [MLP(rows) ; log F(s_0)][pick[k]],  pick[k] = its packed row, or m for s_0.
    std::vector<int> moving;
    for (int k = 0; k < n; ++k)
        if (!env_.is_initial(states + size_t(k) * D)) moving.push_back(k);
    const int m = int(moving.size());
    Var s0 = s0_.forward(tape, nullptr, 1);  // (1, 1)
    int* pick = tape.arena.ints(size_t(n) + 1);
    for (int k = 0, j = 0; k < n; ++k) pick[k] = j < m && moving[size_t(j)] == k ? j++ : m;
    if (m == 0) return index_rows(s0, pick, n);
    float* xs = tape.arena.floats(size_t(m) * D);
    for (int j = 0; j < m; ++j)
        std::memcpy(xs + size_t(j) * D, states + size_t(moving[size_t(j)]) * D, sizeof(float) * size_t(D));
    Var net = net_.forward(tape.constant(Tensor(xs, m, D)));
    if (base_) {  // log F = MLP(s) + b(s)
        float* b = tape.arena.floats(size_t(m) + 1);
        base_(xs, m, b);
        net = add(net, tape.constant(Tensor(b, m, 1)));
    }
    Var parts[2] = {net, s0};
    return index_rows(concat_rows(parts, 2), pick, n);
}

}  // namespace gfn
