// gflownet.cpp — see gflownet.h.
#include "gfn/gflownet.h"

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "engine/ops.h"

namespace gfn {

// The states, conditions and actions of a step list, packed into arena rows.
struct PackedSteps {
    int* states = nullptr;
    float* conditions = nullptr;
    int* actions = nullptr;
};

static PackedSteps pack(Tape& tape, const Trajectories& traj, const std::vector<int>& ts,
                        const std::vector<int>& is, int action_offset) {
    const int m = int(ts.size()), D = traj.state_dim, C = traj.condition_dim;
    PackedSteps p;
    p.states = tape.arena.ints(size_t(m) * size_t(D) + 1);
    p.actions = tape.arena.ints(size_t(m) + 1);
    if (C > 0) p.conditions = tape.arena.floats(size_t(m) * size_t(C));
    for (int k = 0; k < m; ++k) {
        const int t = ts[size_t(k)], i = is[size_t(k)];
        std::memcpy(p.states + size_t(k) * D, traj.state(t, i), sizeof(int) * size_t(D));
        p.actions[k] = traj.action(t + action_offset, i);
        if (C > 0) std::memcpy(p.conditions + size_t(k) * C, traj.condition(i), sizeof(float) * size_t(C));
    }
    return p;
}

StepLogProbs evaluate_log_probs(Tape& tape, const Trajectories& traj, const PolicyEstimator& pf,
                                const PolicyEstimator* pb, bool recalculate_all_logprobs) {
    StepLogProbs out;
    const bool reuse_pf = !recalculate_all_logprobs && traj.saved_log_pf.valid();
    const bool reuse_pb = pb && traj.saved_log_pb.valid() && pb->kind() == PolicyEstimator::Kind::Tied;
    const bool share_trunk = pb && !reuse_pf && !reuse_pb && pb->kind() == PolicyEstimator::Kind::Tied &&
                             &pb->trunk_owner() == &pf;
    const int ms = traj.n_steps(), mb = traj.n_bsteps();

    Var h_all;  // trunk over every step's state, when PF and PB share it
    if (reuse_pf) {
        out.log_pf = traj.saved_log_pf;
    } else {
        PackedSteps s = pack(tape, traj, traj.step_t, traj.step_traj, 0);
        Var h = pf.kind() == PolicyEstimator::Kind::Uniform ? Var() : pf.trunk(tape, s.states, s.conditions, ms);
        if (share_trunk) h_all = h;
        out.log_pf = gather(pf.log_probs_from_trunk(h, tape, s.states, ms), s.actions);
    }
    if (!pb) return out;
    if (reuse_pb) {
        out.log_pb = traj.saved_log_pb;
        return out;
    }
    // Backward step (t, i) takes state s_t and action a_{t−1}.
    PackedSteps b = pack(tape, traj, traj.bstep_t, traj.bstep_traj, -1);
    Var h;
    if (share_trunk) {
        // Backward steps are the forward steps with t >= 1, in the same order:
        // the first n forward steps are the t = 0 ones.
        h = slice_rows(h_all, traj.n, traj.n + mb);
    } else if (pb->kind() != PolicyEstimator::Kind::Uniform) {
        h = pb->trunk(tape, b.states, b.conditions, mb);
    }
    out.log_pb = gather(pb->log_probs_from_trunk(h, tape, b.states, mb), b.actions);
    return out;
}

Var sum_per_trajectory(const Trajectories& traj, Var step_values) {
    return segment_sum(step_values, traj.step_traj.data(), traj.n);
}

Var sum_per_trajectory_backward(const Trajectories& traj, Var bstep_values) {
    return segment_sum(bstep_values, traj.bstep_traj.data(), traj.n);
}

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

TrajectoryBasedGFlowNet::TrajectoryBasedGFlowNet(const PolicyEstimator* pf_, const PolicyEstimator* pb_,
                                                 bool constant_pb_, float clip, RegressionLoss g)
    : pf(pf_), pb(constant_pb_ ? nullptr : pb_), constant_pb(constant_pb_), log_reward_clip_min(clip),
      loss_fn(g) {
    if (!pf) throw std::invalid_argument("GFlowNet: a forward policy (pf) is required");
    if (pf->is_backward()) throw std::invalid_argument("GFlowNet: pf is a backward policy");
    if (!pb_ && !constant_pb)
        throw std::invalid_argument("GFlowNet: PB is absent; give a PB estimator, or set constant_pb = true "
                                    "if the DAG is a tree (--uniform-pb gives a uniform PB)");
    if (pb && !pb->is_backward()) throw std::invalid_argument("GFlowNet: pb is a forward policy");
    if (std::isnan(clip)) throw std::invalid_argument("GFlowNet: log_reward_clip_min is NaN");
}

Var TrajectoryBasedGFlowNet::get_scores(Tape& tape, const Trajectories& traj, bool recalc,
                                        const float* log_rewards) const {
    // s = Σ log pf − Σ log pb − log R
    StepLogProbs lp = evaluate_log_probs(tape, traj, *pf, pb, recalc);
    Var s = sum_per_trajectory(traj, lp.log_pf);
    if (lp.log_pb.valid()) s = sub(s, sum_per_trajectory_backward(traj, lp.log_pb));
    return sub(s, log_rewards_var(tape, traj, log_rewards, log_reward_clip_min));
}

}  // namespace gfn
