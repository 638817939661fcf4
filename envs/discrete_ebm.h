// discrete_ebm.h — the discrete energy-based model environment (Zhang et al., 2022)
// and its Ising-model instance, with the Ising log-partition by transfer matrix.
//
// A state is x ∈ {−1, 0, 1}^d, −1 meaning "not set yet"; s_0 = (−1, …, −1).
// Forward action i < d sets x_i = 0, action d + i sets x_i = 1 (both valid only
// where x_i = −1); action 2d, the exit, is valid exactly when no x_i is −1, and
// then it is the only valid action. Backward action i < d unsets x_i where
// x_i = 0, backward action d + i unsets x_i where x_i = 1 (the same index as the
// forward action that set it). The terminating states are the 2^d full ones.
//
// Reward (torchgfn's IsingModel energy, no bias, no ½):
//     s = 2x − 1,   E(x) = −sᵀJs = −Σ_ij J_ij s_i s_j,   log R(x) = −α·E(x) = α·sᵀJs.
// J defaults to the all-ones d×d matrix (diagonal included), so log R = α·(Σ_i s_i)².
// The formula is evaluated on any state (an unset x_i gives s_i = −3), as
// torchgfn does; only full states are terminating. Computed in double,
// log_reward() rounds to float.
//
// Ising: d = L², site n = i·L + j (row i, column j) on the periodic L×L lattice;
// J_nm = coupling when m is one of n's four lattice neighbours (a set: for L = 2
// the two "wrapped" neighbours coincide and the pair is counted once), else 0.
// J is symmetric, so sᵀJs counts every neighbour pair twice:
//     log R(x) = 2·α·coupling·Σ_{pairs ⟨n,m⟩} s_n s_m,
// i.e. the textbook β·J_phys is 2·α·coupling (torchgfn's make_J in train_ising.py
// builds the same matrix; its default coupling 0.44 is therefore β·J_phys = 0.88).
//
// States are enumerated in mixed-radix order with digits x_j + 1 ∈ {0, 1, 2},
// coordinate 0 most significant (torchgfn's get_states_indices). A forward action
// raises one digit from 0 to 1 or 2, so the order is topological.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gfn/env/env.h"

namespace gfn {

class DiscreteEBM : public DiscreteEnv {
public:
    // J is (ndim, ndim) row-major; empty means all ones. Throws std::invalid_argument
    // on ndim < 1, a non-finite alpha, or a J of the wrong size or with non-finite entries.
    explicit DiscreteEBM(int ndim, double alpha = 1.0, std::vector<double> J = {});

    // The periodic L×L Ising model (see above). Throws std::invalid_argument on L < 2
    // or non-finite coupling/alpha.
    static DiscreteEBM ising(int L, double coupling = 0.44, double alpha = 1.0);

    std::string name() const override { return name_; }
    int state_dim() const override { return ndim_; }
    int n_actions() const override { return 2 * ndim_ + 1; }

    void initial_state(int* out) const override;
    void forward_masks(const int* states, int n, uint8_t* mask) const override;
    void backward_masks(const int* states, int n, uint8_t* mask) const override;
    // Throw std::invalid_argument on an action that is not valid from its state.
    void step(const int* states, const int* actions, int n, int* out) const override;
    void backward_step(const int* states, const int* actions, int n, int* out) const override;

    void log_reward(const int* states, const float* conditions, int n, float* out) const override;
    // E(x) = −sᵀJs in double, one state.
    double energy(const int* x) const;

    // torchgfn's default for this env: the raw {−1, 0, 1} values (d floats).
    // K-hot is available through make_preprocessor("k_hot", env) (3·d floats).
    std::unique_ptr<Preprocessor> default_preprocessor() const override;

    // Enumerable when 3^d <= 2^26 (d <= 16).
    bool enumerable() const override { return n_states_ >= 0 && n_states_ <= (1LL << 26); }
    // 3^d, or −1 when it does not fit in 62 bits.
    long long n_states() const override { return n_states_; }
    void all_states(int* out) const override;
    // Σ_j (x_j + 1)·3^{d−1−j}; −1 for a value outside {−1, 0, 1} (the sink, padding).
    long long state_index(const int* s) const override;
    int max_trajectory_length() const override { return ndim_ + 1; }

    // Modes: the default (+inf), i.e. the states of maximal reward.
    int coordinate_min() const override { return -1; }
    int coordinate_count() const override { return 3; }

    // The Ising instance (L <= 12; L <= 10 for a strong coupling, see
    // ising_log_partition): log Z and E[log R] by transfer matrix.
    bool exact_log_partition(double* log_z, double* mean_log_reward) const override;

    int ndim() const { return ndim_; }
    double alpha() const { return alpha_; }
    const std::vector<double>& J() const { return J_; }  // (ndim, ndim)

private:
    int ndim_;
    double alpha_;
    std::vector<double> J_;
    std::string name_ = "discrete_ebm";
    int ising_L_ = 0;             // > 0 for DiscreteEBM::ising
    double ising_coupling_ = 0.0;
    long long n_states_;
};

// The (L², L²) coupling matrix of the periodic L×L lattice described above.
std::vector<double> ising_coupling_matrix(int L, double coupling);

// log Z = log Σ_x R(x) over the 2^{L²} terminating states of DiscreteEBM::ising(L, J, alpha),
// exactly (in double) by a row-to-row transfer matrix: with c = 2·alpha·J,
//     L >= 3:  Z = Tr((D V)^L),   L = 2:  Z = 1ᵀ D V D 1,
// D = diag(exp(c·h(σ))) over the 2^L row configurations σ (h = Σ of the row's
// neighbour-pair products), V(σ, σ') = Π_columns exp(c·σ_j σ'_j), applied as a
// Kronecker product. Cost O(L²·4^L); throws std::invalid_argument unless 2 <= L <= 12
// and J, alpha are finite. A strong coupling (4·|c|·L² + L(L−1)·log 2 > 700, e.g.
// |J| >= ~70 at L = 6), whose path weights a double cannot hold side by side, is
// computed in log space (log-sum-exp per Kronecker pair), which costs a few
// transcendentals per step and is offered up to L = 10: past it such a coupling
// throws, and DiscreteEBM::exact_log_partition answers false.
double ising_log_partition(int L, double J, double alpha);

// E_p[log R(x)] under p = R/Z for the same model: c·d(log Z)/dc, the derivative
// carried exactly (forward mode) through the same transfer-matrix computation.
double ising_mean_log_reward(int L, double J, double alpha);

}  // namespace gfn
