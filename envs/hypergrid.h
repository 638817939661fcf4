// hypergrid.h — the HyperGrid environment (Bengio et al., 2021) and its conditional variant.
//
// A state is x ∈ {0, …, H−1}^D, s_0 = 0. Forward action i < D adds 1 to x_i
// (masked when x_i = H−1); action D is the exit, valid everywhere (every state,
// s_0 included, is terminating). Backward action i subtracts 1 from x_i (masked
// when x_i = 0). Rewards, with a_i = |x_i/(H−1) − ½| and strict boundaries:
//
//   original   R = R0 + R1·Π_i[a_i > 0.25] + R2·Π_i[0.3 < a_i < 0.4]
//   cosine     R = R0 + R1·Π_i (cos(50·a_i) + 1)·φ(5·a_i),   φ the N(0,1) density
//   sparse     R = 1[x is a target] + 1e−12; the targets are the x with every
//              x_i ∈ {1, H−2} and at least one x_i = H−2 (GAFN's sparse grid)
//   deceptive  R = R0 + R1 − R1·Π_i[a_i > 0.1] + R2·Π_i[0.3 < a_i < 0.4]
//
// The interval tests are done exactly in integers (d = |2x − (H−1)|, a = d/(2(H−1))),
// so no state sits on the wrong side of a boundary through rounding. Rewards are
// computed in double; log_reward() rounds log R to float. R0, R1, R2 are used by
// every variant that has them (torchgfn passes {R0 0.1, R1 0.5, R2 2} to every variant
// by default too); sparse ignores them.
//
// Modes (mode_log_reward_threshold, as torchgfn): original R ≥ R0+R1+R2; deceptive
// R ≥ R0+R2; cosine R ≥ R0 + (γ·2/√(2π))^D·R1 with γ = mode_gamma; sparse R ≥ ½.
// The threshold is lowered by 1e−6·(1 + |log thr|) so that a mode's float log R,
// rounded down, still passes.
//
// States are enumerated in mixed-radix order, coordinate 0 most significant
// (index = Σ_j x_j·H^{D−1−j}, torchgfn's canonical order). An action adds
// H^{D−1−i} > 0 to the index, so this order is topological.
#pragma once

#include <memory>
#include <string>

#include "gfn/env/env.h"

namespace gfn {

class HyperGrid : public DiscreteEnv {
public:
    // Throws std::invalid_argument on ndim < 1, height < 2, an unknown reward,
    // R0 < 0, R1 < 0, R2 < 0, non-finite values, or mode_gamma <= 0. (R0 = 0 gives
    // zero rewards, which the objectives accept only with log_reward_clip_min.)
    explicit HyperGrid(int ndim = 2, int height = 8, std::string reward = "original", double R0 = 0.1,
                       double R1 = 0.5, double R2 = 2.0, double mode_gamma = 0.8);

    std::string name() const override { return "hypergrid"; }
    int state_dim() const override { return ndim_; }
    int n_actions() const override { return ndim_ + 1; }

    void initial_state(int* out) const override;
    void forward_masks(const int* states, int n, uint8_t* mask) const override;
    void backward_masks(const int* states, int n, uint8_t* mask) const override;
    // Throw std::invalid_argument on an action that is not valid from its state.
    void step(const int* states, const int* actions, int n, int* out) const override;
    void backward_step(const int* states, const int* actions, int n, int* out) const override;

    void log_reward(const int* states, const float* conditions, int n, float* out) const override;
    // R(x) in double, (n) values.
    void reward(const int* states, int n, double* out) const;

    std::unique_ptr<Preprocessor> default_preprocessor() const override;  // K-hot, D·H values

    // Enumerable when H^D <= 2^26.
    bool enumerable() const override { return n_states_ >= 0 && n_states_ <= (1LL << 26); }
    // H^D, or −1 when it does not fit in 62 bits.
    long long n_states() const override { return n_states_; }
    void all_states(int* out) const override;
    // Σ_j x_j·H^{D−1−j}; −1 for a point outside the grid (the sink, padding).
    long long state_index(const int* s) const override;
    int max_trajectory_length() const override { return ndim_ * (height_ - 1) + 1; }

    double mode_log_reward_threshold() const override;
    int coordinate_min() const override { return 0; }
    int coordinate_count() const override { return height_; }

    int ndim() const { return ndim_; }
    int height() const { return height_; }
    const std::string& reward_name() const { return reward_name_; }
    double R0() const { return R0_; }
    double R1() const { return R1_; }
    double R2() const { return R2_; }

protected:
    enum class RewardKind { original, cosine, sparse, deceptive };
    double reward_of(const int* x) const;  // R(x) of one state

    int ndim_, height_;
    std::string reward_name_;
    RewardKind kind_;
    double R0_, R1_, R2_, mode_gamma_;
    long long n_states_;
};

// Condition c ∈ [0, 1] (one float, drawn U[0, 1)): R_c(x) = (1 − c)·(R0+R1+R2) + c·R(x),
// so c = 0 is the uniform distribution and c = 1 the unconditional HyperGrid.
// The mode threshold is HyperGrid's: for c > 0 the same states are modes.
class ConditionalHyperGrid : public HyperGrid {
public:
    using HyperGrid::HyperGrid;

    std::string name() const override { return "conditional_hypergrid"; }
    int condition_dim() const override { return 1; }
    void sample_conditions(Rng& rng, int n, float* out) const override;
    // Throws std::invalid_argument when conditions is null.
    void log_reward(const int* states, const float* conditions, int n, float* out) const override;
};

}  // namespace gfn
