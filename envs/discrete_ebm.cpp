// discrete_ebm.cpp — see discrete_ebm.h.
#include "envs/discrete_ebm.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <utility>

#include "engine/parallel.h"
#include "gfn/estimators/preprocessors.h"

namespace gfn {

DiscreteEBM::DiscreteEBM(int ndim, double alpha, std::vector<double> J)
    : ndim_(ndim), alpha_(alpha), J_(std::move(J)), n_states_(-1) {
    if (ndim < 1) throw std::invalid_argument("DiscreteEBM: ndim must be >= 1 (got " + std::to_string(ndim) + ")");
    if (ndim > (INT_MAX - 1) / 2)
        throw std::invalid_argument("DiscreteEBM: ndim " + std::to_string(ndim) + " is too large (2·ndim + 1 actions must fit in an int)");
    if (!std::isfinite(alpha)) throw std::invalid_argument("DiscreteEBM: alpha must be finite (got " + num_str(alpha) + ")");
    const size_t dd = size_t(ndim) * size_t(ndim);
    if (J_.empty()) J_.assign(dd, 1.0);
    if (J_.size() != dd)
        throw std::invalid_argument("DiscreteEBM: J must have ndim·ndim = " + std::to_string(dd) + " entries (got " +
                                    std::to_string(J_.size()) + ")");
    for (size_t k = 0; k < dd; ++k)
        if (!std::isfinite(J_[k]))
            throw std::invalid_argument("DiscreteEBM: J(" + std::to_string(k / size_t(ndim)) + ", " +
                                        std::to_string(k % size_t(ndim)) + ") is not finite (" + num_str(J_[k]) + ")");
    // 3^d, saturating to −1 past 2^62.
    long long count = 1;
    for (int j = 0; j < ndim; ++j) {
        if (count > (1LL << 62) / 3) { count = -1; break; }
        count *= 3;
    }
    n_states_ = count;
}

DiscreteEBM DiscreteEBM::ising(int L, double coupling, double alpha) {
    if (L < 2) throw std::invalid_argument("DiscreteEBM::ising: L must be >= 2 (got " + std::to_string(L) + ")");
    if (L > 46340) throw std::invalid_argument("DiscreteEBM::ising: L " + std::to_string(L) + " is too large");
    DiscreteEBM env(L * L, alpha, ising_coupling_matrix(L, coupling));
    env.name_ = "ising";
    env.ising_L_ = L;
    env.ising_coupling_ = coupling;
    return env;
}

std::vector<double> ising_coupling_matrix(int L, double coupling) {
    if (L < 2) throw std::invalid_argument("ising_coupling_matrix: L must be >= 2 (got " + std::to_string(L) + ")");
    if (!std::isfinite(coupling))
        throw std::invalid_argument("ising_coupling_matrix: coupling must be finite (got " + num_str(coupling) + ")");
    const size_t N = size_t(L) * size_t(L);
    std::vector<double> J(N * N, 0.0);
    for (int i = 0; i < L; ++i)
        for (int j = 0; j < L; ++j) {
            const size_t n = size_t(i) * L + j;
            const int nb[4][2] = {{i, (j + 1) % L}, {i, (j + L - 1) % L}, {(i + 1) % L, j}, {(i + L - 1) % L, j}};
            for (const auto& q : nb) J[n * N + size_t(q[0]) * L + size_t(q[1])] = coupling;  // set, not add
        }
    return J;
}

void DiscreteEBM::initial_state(int* out) const {
    for (int j = 0; j < ndim_; ++j) out[j] = -1;
}

// mask[i, j] = mask[i, d + j] = (x_ij = −1);  mask[i, 2d] = no x_ij is −1
void DiscreteEBM::forward_masks(const int* states, int n, uint8_t* mask) const {
    const int d = ndim_, A = 2 * d + 1;
    for (int i = 0; i < n; ++i) {
        const int* s = states + size_t(i) * d;
        uint8_t* m = mask + size_t(i) * A;
        bool full = true;
        for (int j = 0; j < d; ++j) {
            const bool unset = s[j] == -1;
            m[j] = m[d + j] = unset;
            full = full && !unset;
        }
        m[2 * d] = full;
    }
}

// mask[i, j] = (x_ij = 0);  mask[i, d + j] = (x_ij = 1)
void DiscreteEBM::backward_masks(const int* states, int n, uint8_t* mask) const {
    const int d = ndim_, B = 2 * d;
    for (int i = 0; i < n; ++i) {
        const int* s = states + size_t(i) * d;
        uint8_t* m = mask + size_t(i) * B;
        for (int j = 0; j < d; ++j) {
            m[j] = s[j] == 0;
            m[d + j] = s[j] == 1;
        }
    }
}

void DiscreteEBM::step(const int* states, const int* actions, int n, int* out) const {
    const int d = ndim_;
    for (int i = 0; i < n; ++i) {
        const int* s = states + size_t(i) * d;
        int* o = out + size_t(i) * d;
        const int a = actions[i];
        if (a < 0 || a >= 2 * d || s[a % d] != -1)
            throw std::invalid_argument(name_ + "::step: action " + std::to_string(a) +
                                        " is not a valid non-exit action of row " + std::to_string(i));
        for (int j = 0; j < d; ++j) o[j] = s[j];
        o[a % d] = a < d ? 0 : 1;
    }
}

void DiscreteEBM::backward_step(const int* states, const int* actions, int n, int* out) const {
    const int d = ndim_;
    for (int i = 0; i < n; ++i) {
        const int* s = states + size_t(i) * d;
        int* o = out + size_t(i) * d;
        const int a = actions[i];
        if (a < 0 || a >= 2 * d || s[a % d] != (a < d ? 0 : 1))
            throw std::invalid_argument(name_ + "::backward_step: action " + std::to_string(a) +
                                        " is not a valid backward action of row " + std::to_string(i));
        for (int j = 0; j < d; ++j) o[j] = s[j];
        o[a % d] = -1;
    }
}

// E(x) = −Σ_i s_i Σ_j J_ij s_j,  s = 2x − 1
double DiscreteEBM::energy(const int* x) const {
    const int d = ndim_;
    double e = 0.0;
    for (int i = 0; i < d; ++i) {
        const double* Ji = J_.data() + size_t(i) * d;
        double row = 0.0;
        for (int j = 0; j < d; ++j) row += Ji[j] * double(2 * x[j] - 1);
        e -= double(2 * x[i] - 1) * row;
    }
    return e;
}

// log R(x) = −α·E(x)
void DiscreteEBM::log_reward(const int* states, const float*, int n, float* out) const {
    parallel_for(n, split_loop(n, 4096), [=](int i) { out[i] = float(-alpha_ * energy(states + size_t(i) * ndim_)); });
}

std::unique_ptr<Preprocessor> DiscreteEBM::default_preprocessor() const {
    return std::make_unique<IdentityPreprocessor>(ndim_);
}

void DiscreteEBM::all_states(int* out) const {
    if (!enumerable())
        throw std::logic_error(name_ + ": all_states() needs 3^ndim <= 2^26 (ndim " + std::to_string(ndim_) + ")");
    // Row k is k written in base 3, coordinate 0 most significant, digit − 1.
    const long long N = n_states_;
    parallel_for(N, split_loop(N, 16384), [=](long long k) {
        long long r = k;
        int* o = out + size_t(k) * ndim_;
        for (int j = ndim_ - 1; j >= 0; --j) {
            o[j] = int(r % 3) - 1;
            r /= 3;
        }
    });
}

long long DiscreteEBM::state_index(const int* s) const {
    if (n_states_ < 0)
        throw std::logic_error(name_ + ": state_index() needs 3^ndim < 2^62 (ndim " + std::to_string(ndim_) + ")");
    long long k = 0;
    for (int j = 0; j < ndim_; ++j) {
        if (s[j] < -1 || s[j] > 1) return -1;
        k = k * 3 + (s[j] + 1);
    }
    return k;
}

// ---- Ising log-partition by transfer matrix ----

namespace {

// A value and its derivative with respect to c (forward mode).
struct Dual {
    double v, d;
};

// log Z(c) and d log Z / dc for Z(c) = Σ_x exp(c·Σ_{pairs ⟨n,m⟩} s_n s_m) on the
// periodic L×L lattice (pairs as a set). Row configuration σ ∈ [0, 2^L): bit j set
// ⇔ s_j = +1. Every constant factor taken out to avoid overflow (e^{−|c|} on the
// Kronecker factor, e^{−max c·h} on D, a renormalisation after each row) is
// multiplied into value and derivative alike and its log accumulated, so the
// derivative stays exact.
std::pair<double, double> ising_transfer(int L, double c) {
    const int R = 1 << L;
    std::vector<double> h(static_cast<size_t>(R));
    for (int a = 0; a < R; ++a) {
        auto spin = [a](int j) { return (a >> j) & 1 ? 1.0 : -1.0; };
        double sum = 0.0;
        if (L == 2) sum = spin(0) * spin(1);  // the row's single pair
        else
            for (int j = 0; j < L; ++j) sum += spin(j) * spin((j + 1) % L);
        h[size_t(a)] = sum;
    }
    double m = -INFINITY;
    for (int a = 0; a < R; ++a) m = std::max(m, c * h[size_t(a)]);
    std::vector<double> w(static_cast<size_t>(R));  // D = exp(c·h − m)
    for (int a = 0; a < R; ++a) w[size_t(a)] = std::exp(c * h[size_t(a)] - m);
    const double ac = std::fabs(c);
    const double ks = std::exp(c - ac), kd = std::exp(-c - ac);  // e^{±c}·e^{−|c|}; d/dc: +ks, −kd

    // f ← D·(V f), V = K ⊗ … ⊗ K with K = [[ks, kd], [kd, ks]]; then renormalise.
    auto apply_row = [&](std::vector<Dual>& f, double& log_scale) {
        for (int j = 0; j < L; ++j) {
            const int bit = 1 << j;
            for (int a = 0; a < R; ++a) {
                if (a & bit) continue;
                const Dual x = f[size_t(a)], y = f[size_t(a | bit)];
                f[size_t(a)] = {ks * x.v + kd * y.v, ks * x.d + ks * x.v + kd * y.d - kd * y.v};
                f[size_t(a | bit)] = {kd * x.v + ks * y.v, kd * x.d - kd * x.v + ks * y.d + ks * y.v};
            }
        }
        double mx = 0.0;
        for (int a = 0; a < R; ++a) {
            Dual& z = f[size_t(a)];
            z = {w[size_t(a)] * z.v, w[size_t(a)] * z.d + h[size_t(a)] * w[size_t(a)] * z.v};
            mx = std::max(mx, z.v);
        }
        for (Dual& z : f) z = {z.v / mx, z.d / mx};
        log_scale += double(L) * ac + m + std::log(mx);
    };

    std::vector<Dual> f(static_cast<size_t>(R));
    if (L == 2) {
        // Z = 1ᵀ D V D 1: the two rows share one set of vertical pairs.
        for (int a = 0; a < R; ++a) f[size_t(a)] = {w[size_t(a)], h[size_t(a)] * w[size_t(a)]};
        double ls = m;
        apply_row(f, ls);
        double v = 0.0, d = 0.0;
        for (const Dual& z : f) v += z.v, d += z.d;
        return {ls + std::log(v), d / v};
    }
    // Z = Tr((D V)^L) = Σ_σ [(D V)^L e_σ](σ)
    std::vector<double> term_v(static_cast<size_t>(R)), term_d(static_cast<size_t>(R)), term_ls(static_cast<size_t>(R));
    for (int s0 = 0; s0 < R; ++s0) {
        std::fill(f.begin(), f.end(), Dual{0.0, 0.0});
        f[size_t(s0)] = {1.0, 0.0};
        double ls = 0.0;
        for (int r = 0; r < L; ++r) apply_row(f, ls);
        term_v[size_t(s0)] = f[size_t(s0)].v;
        term_d[size_t(s0)] = f[size_t(s0)].d;
        term_ls[size_t(s0)] = ls;
    }
    const double top = *std::max_element(term_ls.begin(), term_ls.end());
    double v = 0.0, d = 0.0;
    for (int a = 0; a < R; ++a) {
        const double scale = std::exp(term_ls[size_t(a)] - top);
        v += scale * term_v[size_t(a)];
        d += scale * term_d[size_t(a)];
    }
    return {top + std::log(v), d / v};
}

// The same log Z(c) and d log Z / dc entirely in log space, for couplings whose
// dynamic range a double cannot hold (see ising_log_partition): an entry is
// (l, g) = (log f, d log f / dc). The Kronecker factor K(σ_j, σ'_j) = e^{±c} pairs
// entries by log-sum-exp,
//     l' = log(e^{c + l_x} + e^{−c + l_y}),   g' = w_x·(1 + g_x) + w_y·(−1 + g_y),
// with w the softmax weights of the two terms; D adds c·h(σ) to l and h(σ) to g.
std::pair<double, double> ising_transfer_log(int L, double c) {
    const int R = 1 << L;
    std::vector<double> h(static_cast<size_t>(R));
    for (int a = 0; a < R; ++a) {
        auto spin = [a](int j) { return (a >> j) & 1 ? 1.0 : -1.0; };
        double sum = 0.0;
        if (L == 2) sum = spin(0) * spin(1);
        else
            for (int j = 0; j < L; ++j) sum += spin(j) * spin((j + 1) % L);
        h[size_t(a)] = sum;
    }
    // log(e^{t1} + e^{t2}) with the weights' derivative mix; −inf + −inf stays −inf.
    auto lse = [](double t1, double d1, double t2, double d2) -> Dual {
        if (t1 < t2) std::swap(t1, t2), std::swap(d1, d2);
        if (t1 == -INFINITY) return {-INFINITY, 0.0};
        const double e = std::exp(t2 - t1), w2 = e / (1.0 + e);
        return {t1 + std::log1p(e), (1.0 - w2) * d1 + w2 * d2};
    };
    auto apply_row = [&](std::vector<Dual>& f) {
        for (int j = 0; j < L; ++j) {
            const int bit = 1 << j;
            for (int a = 0; a < R; ++a) {
                if (a & bit) continue;
                const Dual x = f[size_t(a)], y = f[size_t(a | bit)];
                f[size_t(a)] = lse(c + x.v, 1.0 + x.d, -c + y.v, -1.0 + y.d);
                f[size_t(a | bit)] = lse(-c + x.v, -1.0 + x.d, c + y.v, 1.0 + y.d);
            }
        }
        for (int a = 0; a < R; ++a) f[size_t(a)] = {f[size_t(a)].v + c * h[size_t(a)], f[size_t(a)].d + h[size_t(a)]};
    };
    // Σ_k e^{l_k}, with the derivative averaged under the weights e^{l_k}/Σ.
    auto total = [](const std::vector<Dual>& terms) -> std::pair<double, double> {
        double top = -INFINITY;
        for (const Dual& t : terms) top = std::max(top, t.v);
        double v = 0.0, d = 0.0;
        for (const Dual& t : terms) {
            const double w = std::exp(t.v - top);
            v += w;
            d += w * t.d;
        }
        return {top + std::log(v), d / v};
    };
    std::vector<Dual> f(static_cast<size_t>(R));
    if (L == 2) {
        for (int a = 0; a < R; ++a) f[size_t(a)] = {c * h[size_t(a)], h[size_t(a)]};
        apply_row(f);
        return total(f);
    }
    std::vector<Dual> terms(static_cast<size_t>(R));
    for (int s0 = 0; s0 < R; ++s0) {
        std::fill(f.begin(), f.end(), Dual{-INFINITY, 0.0});
        f[size_t(s0)] = {0.0, 0.0};
        for (int r = 0; r < L; ++r) apply_row(f);
        terms[size_t(s0)] = f[size_t(s0)];
    }
    return total(terms);
}

// The linear transfer keeps each row's vector relative to its largest entry, so
// it is exact while every path weight stays within a double's range of the
// largest sum: the path weights of L rows span e^{4|c|L²} (2L² pairs, each e^{±c})
// and a sum holds at most 2^{L(L−1)} paths; past e^{700} it works in log space,
// whose transcendental per pair is affordable up to L = 10.
bool ising_linear_fits(int L, double c) {
    return 4.0 * std::fabs(c) * L * L + L * (L - 1) * std::log(2.0) <= 700.0;
}
std::pair<double, double> ising_log_z_and_derivative(int L, double c) {
    if (ising_linear_fits(L, c)) return ising_transfer(L, c);
    if (L > 10)
        throw std::invalid_argument("ising_log_partition: at L = " + std::to_string(L) + " the coupling 2·alpha·J = " +
                                    num_str(c) + " is too strong for the linear transfer matrix, and log space "
                                    "is too slow past L = 10");
    return ising_transfer_log(L, c);
}

void check_ising_args(const char* who, int L, double J, double alpha) {
    if (L < 2 || L > 12)
        throw std::invalid_argument(std::string(who) + ": L must be in [2, 12] (got " + std::to_string(L) +
                                    "); the transfer matrix costs O(L²·4^L)");
    if (!std::isfinite(J)) throw std::invalid_argument(std::string(who) + ": J must be finite (got " + num_str(J) + ")");
    if (!std::isfinite(alpha))
        throw std::invalid_argument(std::string(who) + ": alpha must be finite (got " + num_str(alpha) + ")");
}

}  // namespace

double ising_log_partition(int L, double J, double alpha) {
    check_ising_args("ising_log_partition", L, J, alpha);
    return ising_log_z_and_derivative(L, 2.0 * alpha * J).first;
}

// E_p[log R] = E_p[c·G] = c·d(log Z)/dc,  G = Σ_pairs s_n s_m
double ising_mean_log_reward(int L, double J, double alpha) {
    check_ising_args("ising_mean_log_reward", L, J, alpha);
    const double c = 2.0 * alpha * J;
    return c * ising_log_z_and_derivative(L, c).second;
}

bool DiscreteEBM::exact_log_partition(double* log_z, double* mean_log_reward) const {
    if (ising_L_ < 2 || ising_L_ > 12) return false;
    if (ising_L_ > 10 && !ising_linear_fits(ising_L_, 2.0 * alpha_ * ising_coupling_)) return false;
    if (log_z) *log_z = ising_log_partition(ising_L_, ising_coupling_, alpha_);
    if (mean_log_reward) *mean_log_reward = ising_mean_log_reward(ising_L_, ising_coupling_, alpha_);
    return true;
}

}  // namespace gfn
