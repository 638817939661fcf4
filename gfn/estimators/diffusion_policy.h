// diffusion_policy.h — the diffusion sampler's policies (SPEC §9; torchgfn's
// estimators.py PinnedBrownianMotionForward/Backward and utils/modules.py
// DiffusionPISGradNetForward, DiffusionFixedBackwardModule), on DiffusionSampling.
//
// PinnedBrownianForward: a move from (x, t), t < 1, is
//     a ~ N(dt·f_θ(x, t), s²·I),   s = σ·√(dt·t_scale)            (fixed variance)
//                                  s = σ·√(dt·t_scale)·e^c         (learned variance)
// with c = log_var_range·tanh(raw) from one extra network output (or, with
// variance_per_dimension, d of them: a std per coordinate); the exit at
// t = 1 is forced (log p = 0). Exploration at sampling only: s_b = √(s² + e²).
//
// BrownianBridgeBackward (no parameters): the move a that led into (x, t), t > dt, is
//     a ~ N(x·dt/t, σ²·dt·(t − dt)/t·I)
// (the Brownian bridge from 0 at time 0 to x at time t, one step back); the
// step into t = dt is forced (its move is x): log PB = 0. With k = t/dt the
// mean is x/k and the variance σ²·dt·(k − 1)/k, computed from k exactly.
//
// The network f_θ (PISNet, torchgfn's DiffusionPISGradNetForward):
//     time:  e(t) = [sin(t·ω + φ) | cos(t·ω + φ)]   ω = linspace(0.1, 100, H), φ learned (1, H)
//            t_emb = Linear(GELU(Linear(e(t))))     2H → hidden → t_emb_dim
//     state: s_emb = Linear(x)                      d → s_emb_dim (= t_emb_dim)
//     joint: GELU → Linear(s_emb_dim → hidden) → GELU → [Linear(hidden → hidden) → GELU] × (L − 1)
//            → Linear(hidden → d (+1 with learned variance))
//     applied to s_emb + t_emb.
// t_emb depends on t alone, so it is computed once per distinct t of a batch
// (at most N + 1 values) and broadcast to the rows inside the first joint GELU
// (gelu_add_rows); each GELU(Linear(·)) is one fused node (linear_gelu). With a
// time grid (time_steps N > 0: the env's times k/N), t_emb of all N + 1 grid
// times is computed once per step of the tape (Tape::memo) and every call whose
// times lie on the grid indexes it: a rollout's 32 steps then share one
// embedding of 33 rows and one backward through it, instead of 32 of one row.
//
// Where we follow torchgfn and where we differ:
//   - same: ω (no rescaling of t: t ∈ [0, 1] enters as is), φ ~ N(0, 1) at
//     initialisation, the layer sizes and GELU placement above (the GELU on the
//     summed embeddings first), PyTorch's default Linear initialisation, the
//     mean dt·f, the fixed std σ·√dt·√t_scale, the bound c = log_var_range·tanh(raw);
//   - zero_init sets the last layer's weight and bias to exactly 0 (torchgfn
//     fills the weight with 1e-8), so the initial drift is exactly 0;
//   - learned variance keeps σ as the base std (s = σ√(dt·t_scale)·e^c);
//     torchgfn drops σ there (s = √(dt·t_scale)·e^c): the two agree at σ = 1;
//   - t_scale scales PF's variance only: torchgfn's PinnedBrownianMotionBackward
//     reads σ alone, and so does the bridge here (for a bridge that matches a
//     forward noise of σ²·t_scale, give the bridge sigma = σ·√t_scale);
//   - no output clipping (torchgfn's `clipping`, off by default);
//   - the Langevin parametrization below (torchgfn lists it as a TODO of its PIS
//     network: lp, lp_layers, lp_scaling_per_dimension, lp_clip) is built here;
//   - the learned PB corrections of DiffusionPISGradNetBackward are not built.
//
// Langevin parametrization (opt.lp; Zhang & Chen 2022's PIS-LP, Sendera et al. 2024's
// "LP"): the drift gets the target's score, scaled per dimension by a function of t,
//     f(x, t) = f_θ(x, t) + λ_θ(t) ⊙ clip(∇log R(x), ±lp_clip)
//     λ_θ(t) = Linear(GELU(Linear(… GELU(Linear(e'(t))))))   2H → hidden (× lp_layers, GELU after each) → d
// with its own Fourier features e'(t) (the same ω, its own learned phase φ'). λ_θ(t)
// depends on t alone, so like t_emb it is computed once per distinct t (or grid time)
// and picked per row (index_rows). ∇log R(x) is a constant of the gradient (the states
// are data), given by the caller. With zero_init the last layer of λ_θ starts at weight
// 0 and bias 0.01 (gfn-diffusion's setting): the drift starts at 0.01·∇log R.
//
// Parameter names (checkpoints rely on them), for a name prefix P:
//     P.t_model.phase, P.t_model.lin0, P.t_model.lin1, P.s_model,
//     P.joint.lin0 … P.joint.lin{L−1}, P.joint.out   (each Linear's .weight/.bias)
//     with lp: P.lp_model.phase, P.lp_model.lin0 … P.lp_model.lin{lp_layers−1}, P.lp_model.out
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/nn.h"
#include "engine/random.h"
#include "envs/diffusion_sampling.h"
#include "gfn/estimators/continuous_policy.h"

namespace gfn {

struct DiffusionPolicyOptions {
    float sigma = 1.f;            // σ, the diffusion coefficient (PF and PB)
    float t_scale = 1.f;          // PF's variance factor (not PB's, as torchgfn)
    int harmonics_dim = 64;       // H, the number of frequencies ω
    int t_emb_dim = 64;           // must equal s_emb_dim (the embeddings are summed)
    int s_emb_dim = 64;
    int hidden_dim = 64;
    int joint_layers = 2;         // L >= 1 Linear layers before the output layer
    bool zero_init = true;        // the output layer starts at 0 (drift 0, c = 0)
    bool learn_variance = false;  // one more output: the log-std correction c
    float log_var_range = 4.f;    // |c| <= log_var_range
    bool variance_per_dimension = false;  // c per dimension (d outputs) instead of one per row
    bool lp = false;              // Langevin parametrization (above)
    int lp_layers = 3;            // hidden layers of λ_θ(t), >= 1
    float lp_clip = 100.f;        // |∂log R/∂x_j| is clipped to this (> 0)
};

// The PIS network; `out_dim` = d, or d + 1 with learned variance.
class PISNet {
public:
    PISNet() = default;
    // Throws std::invalid_argument for non-positive sizes, joint_layers < 1, or
    // t_emb_dim ≠ s_emb_dim. time_steps N > 0: times on the grid float(k/N),
    // k = 0 … N, share the embedding of the whole grid (above); 0: no grid.
    PISNet(ParamStore& store, const std::string& name, int dim, const DiffusionPolicyOptions& opt, Rng& rng,
           int time_steps = 0);

    // states (n, d + 1) rows (x, t) -> (n, out_dim) on the tape. With lp, `score`
    // (n, d) is ∇log R at each row's x (required; clipped here); ignored otherwise.
    Var forward(Tape& tape, const float* states, int n, const float* score = nullptr) const;
    bool langevin() const { return !lp_.empty(); }
    int dim() const { return dim_; }
    int out_dim() const { return out_.out; }
    // Multiply-adds per row of the state path and joint layers (the time
    // embedding, once per distinct t, is not counted).
    long long macs_per_row() const;

private:
    ParamStore* store_ = nullptr;
    int dim_ = 0;
    int time_steps_ = 0;                // N of the time grid (0: none)
    // t_emb (m, t_emb_dim) of the times u_0 … u_{m−1}, on the tape.
    Var time_embedding(Tape& tape, const float* times, int m) const;
    // λ_θ (m, d) of the times u_0 … u_{m−1}, on the tape (lp only).
    Var langevin_scale(Tape& tape, const float* times, int m) const;
    // [sin(u·ω + φ) | cos(u·ω + φ)] (m, 2H) for the phase parameter `phase`.
    Var fourier_features(Tape& tape, const float* times, int m, int phase) const;
    int phase_ = -1;                    // φ (1, H)
    std::vector<float> omega_;          // ω (H)
    Linear t_in_, t_out_, s_model_;
    std::vector<Linear> joint_;
    Linear out_;
    int lp_phase_ = -1;                 // φ' (1, H), lp only
    std::vector<Linear> lp_;            // λ_θ's layers, the last one → d (empty: no lp)
    float lp_clip_ = 0.f;
};

class PinnedBrownianForward : public ContinuousPolicy {
public:
    // Parameters are added to `store` under `name` (e.g. "pf"). Throws
    // std::invalid_argument for σ <= 0, t_scale <= 0, log_var_range <= 0 and bad sizes.
    PinnedBrownianForward(const DiffusionSampling& env, ParamStore& store, const DiffusionPolicyOptions& opt,
                          Rng& rng, const std::string& name = "pf");

    const ContinuousEnv& env() const override { return env_; }
    bool is_backward() const override { return false; }
    const ParamStore* parameter_store() const override { return store_; }
    Var log_prob(Tape& tape, const float* states, const float* actions, const uint8_t* is_exit,
                 int n) const override;
    void sample(Tape& tape, const float* states, int n, float exploration_std, Rng& rng, float* actions,
                uint8_t* is_exit) const override;
    // One network pass: μ, s on the tape; the draw from N(μ, s_b²) off it.
    Var sample_and_log_prob(Tape& tape, const float* states, int n, float exploration_std, Rng& rng,
                            float* actions, uint8_t* is_exit) const override;
    long long macs_per_row() const override { return net_.macs_per_row(); }

    // Mean (n, d) and std (n, d) of the moves from n states with t < 1, on the tape.
    void mean_std(Tape& tape, const float* states, int n, Var* mean, Var* std) const;
    const PISNet& net() const { return net_; }
    const DiffusionPolicyOptions& options() const { return opt_; }
    // σ·√(dt·t_scale): the std before any learned correction.
    double base_std() const;

private:
    const DiffusionSampling& env_;
    ParamStore* store_;
    DiffusionPolicyOptions opt_;
    PISNet net_;
    // sample(), and with with_log_prob log p of the draw (else an invalid Var).
    Var draw(Tape& tape, const float* states, int n, float exploration_std, Rng& rng, float* actions,
             uint8_t* is_exit, bool with_log_prob) const;
};

class BrownianBridgeBackward : public ContinuousPolicy {
public:
    // Reads opt.sigma only (see the header comment on t_scale); throws for σ <= 0.
    BrownianBridgeBackward(const DiffusionSampling& env, const DiffusionPolicyOptions& opt);

    const ContinuousEnv& env() const override { return env_; }
    bool is_backward() const override { return true; }
    const ParamStore* parameter_store() const override { return nullptr; }
    // is_exit must be null or all 0 (a backward policy never exits).
    Var log_prob(Tape& tape, const float* states, const float* actions, const uint8_t* is_exit,
                 int n) const override;
    void sample(Tape& tape, const float* states, int n, float exploration_std, Rng& rng, float* actions,
                uint8_t* is_exit) const override;
    long long macs_per_row() const override { return 0; }
    float sigma() const { return sigma_; }

private:
    const DiffusionSampling& env_;
    float sigma_;
};

}  // namespace gfn
