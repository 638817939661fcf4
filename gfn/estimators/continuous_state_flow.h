// continuous_state_flow.h — log F(s) of a continuous environment's states, the state
// flow that DB and SubTB learn there (gfn/objectives/continuous_balance.h).
//
//     log F(s)   = MLP(s)      for s ≠ s_0: the raw state row (state_dim floats) in,
//                              one value out, the policies' --hidden / --layers / --activation;
//     log F(s_0) = log Z       one learnable scalar (a ScalarEstimator), initialised to --init-logz.
// Every trajectory leaves from the one state s_0 (env.is_initial, an exact comparison), so
// F(s_0) = Z: it gets a parameter of its own, in its own group (the trainer's log Z group,
// --lr-logz), rather than an MLP output (torchgfn's BoxStateFlowModule does the same:
// its MLP's output at s_0 is replaced by a logZ parameter). The MLP never sees s_0.
//
// With a base b (set_base; diffusion --partial-energy: b = the partial energy E_t(x),
// envs/diffusion_sampling.h), log F(s) = MLP(s) + b(s) for s ≠ s_0: b is a constant of
// the gradient, and the MLP learns only what b leaves out.
#pragma once

#include <functional>
#include <string>

#include "engine/nn.h"
#include "gfn/env/continuous_env.h"
#include "gfn/estimators/estimators.h"

namespace gfn {

class ContinuousStateFlowEstimator {
public:
    // The MLP's parameters "<name>.*" go to group net_group, log F(s_0) ("<name>.s0") to s0_group.
    ContinuousStateFlowEstimator(const ContinuousEnv& env, ParamStore& store, const NetConfig& cfg, Rng& rng,
                                 const std::string& name, int net_group, int s0_group, float init_log_z = 0.f);

    // b(states, n, out): n values of the base at n states (n, state_dim), never s_0.
    using Base = std::function<void(const float* states, int n, float* out)>;
    void set_base(Base base) { base_ = std::move(base); }
    bool has_base() const { return bool(base_); }

    // (n, 1) log F of n states (n, state_dim).
    Var forward(Tape& tape, const float* states, int n) const;
    // log F(s_0), the estimate of log Z.
    double log_z() const { return double(s0_.value()); }
    const ContinuousEnv& env() const { return env_; }
    long long macs_per_row() const { return net_.macs_per_row(); }

private:
    const ContinuousEnv& env_;
    MLP net_;
    ScalarEstimator s0_;
    Base base_;
};

}  // namespace gfn
