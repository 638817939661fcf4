// box_policy.h — the Box policies (torchgfn's gym/helpers/box_polar_utils.py and
// box_cartesian_utils.py) as ContinuousPolicy subclasses (continuous_policy.h).
//
// Concentrations of every Beta: c = c_min + (c_max − c_min)·sigmoid(raw).
// Beta mixtures are BetaMixture (engine/distributions.h): weights softmax(logits).
// Forced steps score 0 and use no network output; the exit probability σ(l) of
// a logit l is a Bernoulli. No exploration: the Box policies sample from
// themselves (exploration_std must be 0).
//
// BoxPolarPolicy (env Box), forward:
//   - at s_0 (torchgfn's QuarterDisk) from a learned (1, 5·K0) parameter
//     [logits | α_r | β_r | α_θ | β_θ] (K0 = n_components_s0, the weights shared):
//     r ~ mix_r, θ ~ mix_θ independently, a = δ·r·(cos πθ/2, sin πθ/2);
//         log PF = log mix_r(r) + log mix_θ(θ) − log δ − log(π/2) − log(δ r)
//     (polar to Cartesian: da = ρ dρ dφ with ρ = δr, φ = πθ/2); r is drawn at
//     most 1 − 3e-7 so that ‖a‖ < δ in float (Box::backward_forced);
//   - elsewhere (QuarterCircleWithExit) an MLP on x → [l | logits (K) | α (K) | β (K)]:
//     the exit with σ(l) (forced: log 0); else u ~ mix, the angle
//     φ = (π/2)(m + (M − m)u) on the feasible arc, a = δ(cos φ, sin φ), where
//         m = 0 if x^0 <= 1 − δ else (2/π)·acos((1 − x^0)/δ),
//         M = 1 if x^1 <= 1 − δ else (2/π)·asin((1 − x^1)/δ);
//         log PF = log σ(−l) + log mix(u) − log δ − log(π/2) − log(M − m)
//     (a density per unit arc length on the circle of radius δ).
// BoxPolarPolicy, backward (QuarterCircle, northeastern = false): forced to s_0
// when ‖x‖ < δ; otherwise an MLP on x → [logits | α | β] (K), the move
// a = δ(cos φ, sin φ) with φ as above but on the arc that keeps x − a >= 0:
//         m = 0 if x^0 >= δ else (2/π)·acos(x^0/δ),  M = 1 if x^1 >= δ else (2/π)·asin(x^1/δ);
//         log PB = log mix(u) − log δ − log(π/2) − log(M − m).
//
// BoxCartesianPolicy (env BoxCartesian; SPEC §8): an MLP on 2x − 1 →
// [l | logits (2K) | α (2K) | β (2K)], columns grouped per dimension. Forward:
//     r^d ~ mix_d, a^d = m + r^d·L^d (s_0: m = 0, L^d = 1; else m = δ, L^d = 1 − x^d − δ),
//     stored as the excess e^d = r^d·L^d (box.h), from which r^d = e^d/L^d exactly,
//     log PF = Σ_d log mix_d(r^d) − Σ_d log L^d + log σ(−l)   (no exit term at s_0),
//     exit: log σ(l); forced exit: 0. Backward: forced to s_0 (0) when any x^d <= δ;
//     else back to s_0 (the action x exactly) with σ(l): log σ(l); else
//     a^d = δ + r^d(x^d − δ), e^d = r^d(x^d − δ),
//     log PB = log σ(−l) + Σ_d log mix_d(r^d) − Σ_d log(x^d − δ).
//     A normalised distribution over {s_0} ∪ the box of parents (torchgfn instead
//     counts any move within δ/2 of x as the return to s_0, and scores its forced
//     exit log σ(l)).
//
// Scoring a given action recovers u or r from it (in double) and clamps it to
// [FLT_MIN, 1 − 2⁻²⁴], the range BetaMixture draws from, against rounding. (A
// Cartesian r below 2⁻²⁵ would be lost if the move a = δ + rL were stored: hence
// the excess. A polar angle keeps its relative precision in atan2.)
// sample_and_log_prob evaluates the network once: it draws from the outputs'
// values and scores the drawn actions (recovered from them, as log_prob does)
// on the outputs' nodes, so it equals sample() then log_prob() draw for draw.
#pragma once

#include <string>
#include <vector>

#include "envs/box.h"
#include "gfn/estimators/continuous_policy.h"

namespace gfn {

struct BoxPolicyConfig {
    int n_components = 2;
    int n_components_s0 = 4;
    float min_concentration = 0.1f;
    float max_concentration = 5.1f;
};

class BoxPolarPolicy : public ContinuousPolicy {
public:
    // Throws std::invalid_argument for < 1 component or not 0 < c_min < c_max.
    BoxPolarPolicy(const Box& env, bool backward, ParamStore& store, const NetConfig& net, const BoxPolicyConfig& cfg,
                   Rng& rng, const std::string& name);

    const ContinuousEnv& env() const override { return env_; }
    bool is_backward() const override { return backward_; }
    const ParamStore* parameter_store() const override { return store_; }
    Var log_prob(Tape& tape, const float* states, const float* actions, const uint8_t* is_exit,
                 int n) const override;
    void sample(Tape& tape, const float* states, int n, float exploration_std, Rng& rng, float* actions,
                uint8_t* is_exit) const override;
    // One network pass: the draw from its values, log p of the draw from its nodes.
    Var sample_and_log_prob(Tape& tape, const float* states, int n, float exploration_std, Rng& rng,
                            float* actions, uint8_t* is_exit) const override;
    long long macs_per_row() const override { return net_.macs_per_row(); }

    const MLP& net() const { return net_; }
    int s0_param() const { return s0_param_; }  // forward only: the (1, 5·K0) s_0 parameter
    // The feasible arc [m, M] (in units of π/2) of a move from x (forward) or into x (backward).
    void arc(const float* x, double* m, double* M) const;

private:
    Var concentration(Var raw) const;
    // The rows of a batch that are not forced: moves from s_0 (forward only) and
    // circle rows (the network's), each in batch order.
    void classify(const float* states, int n, std::vector<int>* first, std::vector<int>* circle) const;
    // The network's outputs for the circle rows (an invalid Var when there are none).
    Var circle_outputs(Tape& tape, const float* states, const std::vector<int>& circle) const;
    // log p (n, 1) of the given steps, the circle rows scored from `out` (at drawn_u[j], the
    // j-th circle row's arc draw, where given; else at the u recovered from the move).
    Var score(Tape& tape, const float* states, const float* actions, const uint8_t* is_exit, int n,
              const std::vector<int>& first, const std::vector<int>& circle, Var out,
              const float* drawn_u = nullptr) const;
    // sample(), and with with_log_prob score() of the draw on the same network outputs.
    Var draw(Tape& tape, const float* states, int n, float exploration_std, Rng& rng, float* actions,
             uint8_t* is_exit, bool with_log_prob) const;
    const Box& env_;
    bool backward_;
    ParamStore* store_;
    MLP net_;
    int s0_param_ = -1;
    BoxPolicyConfig cfg_;
};

class BoxCartesianPolicy : public ContinuousPolicy {
public:
    BoxCartesianPolicy(const BoxCartesian& env, bool backward, ParamStore& store, const NetConfig& net,
                       const BoxPolicyConfig& cfg, Rng& rng, const std::string& name);

    const ContinuousEnv& env() const override { return env_; }
    bool is_backward() const override { return backward_; }
    const ParamStore* parameter_store() const override { return store_; }
    Var log_prob(Tape& tape, const float* states, const float* actions, const uint8_t* is_exit,
                 int n) const override;
    void sample(Tape& tape, const float* states, int n, float exploration_std, Rng& rng, float* actions,
                uint8_t* is_exit) const override;
    // One network pass: the draw from its values, log p of the draw from its nodes.
    Var sample_and_log_prob(Tape& tape, const float* states, int n, float exploration_std, Rng& rng,
                            float* actions, uint8_t* is_exit) const override;
    long long macs_per_row() const override { return net_.macs_per_row(); }

    const MLP& net() const { return net_; }

private:
    struct Outputs {
        Var l, logits, alpha, beta;  // exit logit (m, 1) and the Beta mixture over 2 dimensions
    };
    // The rows of a batch that are not forced, in batch order.
    void moving_rows(const float* states, int n, std::vector<int>* rows) const;
    // log p (n, 1) of the given steps from the network's outputs o for `rows` (states xs).
    Var score(Tape& tape, const float* states, const float* actions, const uint8_t* is_exit, int n,
              const std::vector<int>& rows, const float* xs, const Outputs& o) const;
    Var draw(Tape& tape, const float* states, int n, float exploration_std, Rng& rng, float* actions,
             uint8_t* is_exit, bool with_log_prob) const;
    // The network's outputs for m states: l (m, 1) and the Beta mixture over 2 dimensions.
    Var forward(Tape& tape, const float* xs, int m, Var* exit_logit, Var* logits, Var* alpha, Var* beta) const;
    const BoxCartesian& env_;
    bool backward_;
    ParamStore* store_;
    MLP net_;
    BoxPolicyConfig cfg_;
};

}  // namespace gfn
