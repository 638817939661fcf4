// soft_rl.h — a batch of trajectories seen as episodes of entropy-regularised RL.
//
// With a fixed backward policy PB, GFlowNet training is soft RL at α = γ = 1
// (Tiapkin et al. 2024; Zykova-Myzina et al. 2026, Eqs. 7–13). On step k = (t, i)
// of trajectory i (see containers/trajectories.h for steps; L = L_i, the exit at
// t = L − 1):
//     r_t = log PB(s_t | s_{t+1})     for t < L − 1  (backward step (t+1, i))
//           log R(x)                  for t = L − 1  (the exit x → s_f)
//     g_t = r_t − log PF(a_t | s_t)                   one-step soft return
//     R̂_t = Σ_{k >= t} g_k                            soft reward-to-go
//     δ_t = g_t + V(s_{t+1}) − V(s_t),  V(s_L) = V(s_f) = 0   soft TD residual
//     A_t = Σ_{k >= 0} λ^k δ_{t+k} = δ_t + λ A_{t+1}          GAE(λ)
// Σ_t g_t = −(Σ log PF − Σ log PB − log R) is the negated TB score; at the soft
// optimum V(s) = log F(s) and V(s_0) = log Z.
//
// Everything here is plain arithmetic on per-step arrays (double, step order),
// with no tape: these quantities are frozen per rollout and carry no gradient.
#pragma once

#include <vector>

#include "gfn/containers/trajectories.h"

namespace gfn {

// next[k]: the step (t + 1, i) after step k = (t, i), or −1 when k is the exit step.
std::vector<int> next_step_index(const Trajectories& traj);

// r_t per step. log_pb: one value per backward step (null: constant PB, log PB = 0);
// log_rewards: log R(x_i) per trajectory, already clipped.
std::vector<double> soft_step_rewards(const Trajectories& traj, const float* log_pb, const float* log_rewards);
// g_t = r_t − log PF(a_t | s_t), log_pf per step.
std::vector<double> soft_step_returns(const std::vector<double>& rewards, const float* log_pf);
// R̂_t = Σ_{k >= t} g_k.
std::vector<double> reward_to_go(const Trajectories& traj, const std::vector<double>& soft_returns);
// δ_t = g_t + V(s_{t+1}) − V(s_t), values V(s_t) per step, V(s_f) = 0.
std::vector<double> soft_td_residuals(const Trajectories& traj, const std::vector<double>& soft_returns,
                                      const float* values);
// A_t = δ_t + λ A_{t+1}; λ in [0, 1] (std::invalid_argument otherwise).
std::vector<double> gae_advantages(const Trajectories& traj, const std::vector<double>& soft_returns,
                                   const float* values, double lambda);

}  // namespace gfn
