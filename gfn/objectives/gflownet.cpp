// gflownet.cpp — see gflownet.h.
#include "gfn/objectives/gflownet.h"

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "engine/ops.h"

namespace gfn {

double log_flow_at_s0(const StateFlowEstimator& log_f, const DiscreteEnv& env, bool forward_looking, float clip_min) {
    if (env.condition_dim() > 0) return std::nan("");
    Tape tape(size_t(1) << 16);
    NoGrad ng(tape);
    std::vector<int> s0(size_t(env.state_dim()));
    env.initial_state(s0.data());
    double v = double(log_f.forward(tape, s0.data(), nullptr, 1).item());
    if (forward_looking) {
        float r = 0.f;
        env.log_reward(s0.data(), nullptr, 1, &r);
        if (std::isfinite(clip_min) && r < clip_min) r = clip_min;
        v += double(r);
    }
    return v;
}

Var log_rewards_var(Tape& tape, const Trajectories& traj, const float* custom, float clip_min) {
    const float* src = custom ? custom : traj.log_rewards.data();
    float* v = tape.arena.floats(size_t(traj.n) + 1);
    const bool clip = std::isfinite(clip_min);
    for (int i = 0; i < traj.n; ++i) {
        float r = src[i];
        if (std::isnan(r) || r == INFINITY)
            throw std::domain_error("log-reward of trajectory " + std::to_string(i) + " is " + std::to_string(r) +
                                    ": rewards must be finite and >= 0");
        if (clip && r < clip_min) r = clip_min;
        if (!std::isfinite(r))
            throw std::domain_error("log-reward of trajectory " + std::to_string(i) +
                                    " is -inf (reward 0): set log_reward_clip_min (--log-reward-clip-min) to a "
                                    "finite value, e.g. -100");
        v[i] = r;
    }
    return tape.constant(Tensor(v, traj.n, 1));
}

static const PolicyEstimator* as_discrete(const Policy* p) {
    return p && p->action_kind() == ActionKind::Discrete ? static_cast<const PolicyEstimator*>(p) : nullptr;
}

TrajectoryBasedGFlowNet::TrajectoryBasedGFlowNet(const Policy* pf_, const Policy* pb_, bool constant_pb_, float clip,
                                                 RegressionLoss g)
    : forward_policy(pf_), backward_policy(constant_pb_ ? nullptr : pb_), pf(as_discrete(pf_)),
      pb(as_discrete(backward_policy)), constant_pb(constant_pb_), log_reward_clip_min(clip), loss_fn(g) {
    if (!pf_) throw std::invalid_argument("GFlowNet: a forward policy (pf) is required");
    if (pf_->is_backward()) throw std::invalid_argument("GFlowNet: pf is a backward policy");
    if (backward_policy && backward_policy->action_kind() != pf_->action_kind())
        throw std::invalid_argument("GFlowNet: pf and pb act on different kinds of actions");
    if (!pb_ && !constant_pb)
        throw std::invalid_argument("GFlowNet: PB is absent; give a PB estimator, or set constant_pb = true "
                                    "if the DAG is a tree (--uniform-pb gives a uniform PB)");
    if (backward_policy && !backward_policy->is_backward()) throw std::invalid_argument("GFlowNet: pb is a forward policy");
    if (std::isnan(clip)) throw std::invalid_argument("GFlowNet: log_reward_clip_min is NaN");
}

Var TrajectoryBasedGFlowNet::centred_loss(Var scores, float centre, Reduction r) const {
    // g(s_i − c)
    return reduce(loss_fn(add_scalar(scores, -centre)), r);
}

Var TrajectoryBasedGFlowNet::get_scores(Tape& tape, const Trajectories& traj, bool recalc,
                                        const float* log_rewards) const {
    // s = Σ log pf − Σ log pb − log R
    StepLogProbs lp = evaluate_log_probs(tape, traj, *forward_policy, backward_policy, recalc);
    Var s = sum_per_trajectory(traj, lp.log_pf);
    if (lp.log_pb.valid()) s = sub(s, sum_per_trajectory_backward(traj, lp.log_pb));
    return sub(s, log_rewards_var(tape, traj, log_rewards, log_reward_clip_min));
}

}  // namespace gfn
