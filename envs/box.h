// box.h — the Box environments (torchgfn's gym/box.py and gym/box_cartesian.py):
// walks in the unit square [0, 1]² from s_0 = (0, 0) whose end point should
// follow the HyperGrid-"original"-like reward on the square.
//
// State x ∈ [0, 1]² (two floats); an action is a move a ∈ R²₊ (x' = x + a) or
// the exit. The two variants share the reward and differ in their moves:
//   - Box (polar, torchgfn's BoxPolar + QuarterCircle estimators): the first move
//     from s_0 lands in the open quarter disk of radius δ; every later move has
//     norm exactly δ (an angle in the feasible part of the quarter circle). The
//     exit is forbidden at s_0 and forced when no full step fits,
//         ‖1 − x‖ <= δ   (or any x^d >= 1 − ε, ε = 1e-4, as torchgfn),
//     Backward: a state with ‖x‖ < δ can only come from s_0 (a later move adds
//     ≥ δ² to ‖x‖²), so that step is forced, its move x itself.
//   - BoxCartesian: from s_0 the move is any a ∈ (0, 1)²; later moves have every
//     a^d ∈ [δ, 1 − x^d]. Exit forbidden at s_0, forced once any x^d >= 1 − δ.
//     Backward: a state with any x^d <= δ has only s_0 as parent (forced, move x);
//     otherwise the parent is s_0 (move x) or any x − a with a^d ∈ [δ, x^d].
//     Its *action* is the move's excess over its minimum, e = a − m: from s_0
//     (m = 0) the move itself; a later move (m = δ) stores e = a − δ ∈ [0, L^d],
//     so x' = x + δ + e; the backward return to s_0 stores the state x itself
//     (a later move's e^d <= x^d − δ < x^d, so the two never coincide). A float
//     near δ resolves only steps of 2⁻²⁵, so a move stored as a would lose every
//     small excess; e keeps its relative precision, and PF (r = e/L) and PB
//     (r = e/(x' − δ)) both recover their Beta draws from it exactly.
//
// Reward (R0, R1, R2) = (0.1, 0.5, 2) by default:
//     R(x) = R0 + R1·Π_d[|x^d − ½| > 0.25] + R2·Π_d[0.3 < |x^d − ½| < 0.4]
//     Z = ∫ R = R0 + 0.25·R1 + 0.04·R2  (= 0.305)
// R/Z is piecewise constant: a mixture of three uniforms (the square with weight
// R0, the R1 corners S1² with 0.25·R1, the R2 bands S2² with 0.04·R2), where
//     S1 = [0, 0.25) ∪ (0.75, 1],   S2 = (0.1, 0.2) ∪ (0.8, 0.9);
// that gives the exact sampler and the exact mass of every grid cell.
#pragma once

#include <string>
#include <vector>

#include "gfn/env/continuous_env.h"

namespace gfn {

// The shared part: state and action layout, s_0, the reward and its exact target.
class BoxBase : public ContinuousEnv {
public:
    // Throws std::invalid_argument unless 0 < delta <= 1 and R0 > 0, R1, R2 >= 0 (finite).
    BoxBase(double delta, double R0, double R1, double R2);

    int state_dim() const override { return 2; }
    int action_dim() const override { return 2; }
    void initial_state(float* out) const override;
    void step(const float* states, const float* actions, int n, float* out) const override;
    // s − a, clamped at 0 (rounding); a move equal to s lands on s_0 exactly.
    void backward_step(const float* states, const float* actions, int n, float* out) const override;
    // Forward moves from s_0 only: the exit is one of the actions everywhere else.
    bool exit_allowed(const float* s) const override { return !is_initial(s); }
    void backward_forced_action(const float* s, float* out) const override;

    void log_reward(const float* states, int n, float* out) const override;
    double reward(double x0, double x1) const;
    bool exact_log_partition(double* log_z) const override;
    bool sample_target(Rng& rng, int n, float* out) const override;
    // The exact mass of R/Z on the G×G equal cells of [0, 1]², row-major by
    // (cell of x^0, cell of x^1): out[i·G + j] for x^0 ∈ [i/G, (i+1)/G), x^1 ∈ [j/G, (j+1)/G).
    //     mass = (R0·|cell| + R1·Π_d |I_d ∩ S1| + R2·Π_d |I_d ∩ S2|) / Z
    std::vector<double> cell_masses(int G) const;
    // The cell of x in the G×G grid (coordinates outside [0, 1] go to the edge cells).
    static int cell_of(const float* x, int G);
    double partition() const { return R0_ + 0.25 * R1_ + 0.04 * R2_; }
    double delta() const { return delta_; }

protected:
    double delta_, R0_, R1_, R2_;
};

class Box : public BoxBase {
public:
    static constexpr double kEpsilon = 1e-4;
    explicit Box(double delta = 0.25, double R0 = 0.1, double R1 = 0.5, double R2 = 2.0) : BoxBase(delta, R0, R1, R2) {}
    std::string name() const override { return "box"; }
    // ‖1 − x‖ <= δ or any x^d >= 1 − ε (not at s_0).
    bool exit_forced(const float* s) const override;
    // ‖x‖ < δ (not at s_0).
    bool backward_forced(const float* s) const override;
    // Each move after the first adds δ(cos φ + sin φ) >= δ to x^0 + x^1 <= 2:
    // at most 1 + ⌈2/δ⌉ moves, and the exit.
    int max_trajectory_length() const override;
};

class BoxCartesian : public BoxBase {
public:
    explicit BoxCartesian(double delta = 0.25, double R0 = 0.1, double R1 = 0.5, double R2 = 2.0)
        : BoxBase(delta, R0, R1, R2) {}
    std::string name() const override { return "box_cartesian"; }
    std::string action_meaning() const override {
        return "a is the move's excess over its minimum δ per coordinate (s' = s + δ + a); from s_0, the move itself";
    }
    // x' = x + a from s_0, else x + δ + e (clamped to <= 1 against rounding).
    void step(const float* states, const float* actions, int n, float* out) const override;
    // The action x (the return) lands on s_0; else x − δ − e (clamped at 0).
    void backward_step(const float* states, const float* actions, int n, float* out) const override;
    // Any x^d >= 1 − δ (not at s_0).
    bool exit_forced(const float* s) const override;
    // Any x^d <= δ (not at s_0).
    bool backward_forced(const float* s) const override;
    // Each move after the first adds >= δ to every coordinate: 1 + ⌈1/δ⌉ moves, and the exit.
    int max_trajectory_length() const override;
};

}  // namespace gfn
