// box_policy.cpp — see box_policy.h.
#include "gfn/estimators/box_policy.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>
#include <vector>

#include "engine/distributions.h"
#include "engine/ops.h"
#include "gfn/env/env.h"

namespace gfn {

namespace {

constexpr double kHalfPi = M_PI / 2.0;
const float kClampEps = std::numeric_limits<float>::epsilon();
// ‖a‖ <= δ(1 − 3e-7) even after rounding each coordinate to float (relative error <= 6e-8).
constexpr float kMaxS0Radius = 1.f - 3e-7f;
// The angle of a float move δ(cos φ, sin φ), in units of π/2, to within a few float ulps
// (each coordinate keeps a relative 2⁻²⁴; 2⁻²² leaves room for the arc end's own rounding).
constexpr double kArcResolution = 1.0 / double(1 << 22);

// The value recovered from an action, into the range BetaMixture::sample draws
// from, [FLT_MIN, 1 − 2⁻²⁴]: a drawn value is scored where it was drawn (a wider
// clamp, torchgfn's [ε, 1 − ε], would score the many draws of a concentration
// < 1 below ε at ε, underestimating their density).
float clamp_unit(double v) {
    if (!(v == v)) return 0.5f;  // NaN (a degenerate arc): the middle, as torchgfn
    const double lo = std::numeric_limits<float>::min(), hi = double(std::nextafter(1.f, 0.f));
    return float(std::min(hi, std::max(lo, v)));
}

void check_config(const BoxPolicyConfig& c, const std::string& who) {
    if (c.n_components < 1 || c.n_components_s0 < 1)
        throw std::invalid_argument(who + ": --n-components and --n-components-s0 must be >= 1");
    if (!(c.min_concentration > 0.f && c.min_concentration < c.max_concentration && std::isfinite(c.max_concentration)))
        throw std::invalid_argument(who + ": need 0 < --min-concentration < --max-concentration (got " +
                                    num_str(c.min_concentration) + " and " + num_str(c.max_concentration) + ")");
}

// Rows [parts..., one zero row] picked by idx (n): part p's row j is at its
// offset + j; idx value -1 picks the zero row (a forced step's log p = 0).
Var pick_rows(Tape& tape, const std::vector<Var>& parts, const std::vector<int>& idx) {
    std::vector<Var> all;
    for (const Var& p : parts)
        if (p.valid() && p.rows() > 0) all.push_back(p);
    int zero_row = 0;
    for (const Var& p : all) zero_row += p.rows();
    all.push_back(tape.constant_copy(std::vector<float>{0.f}.data(), 1, 1));
    Var cat = all.size() == 1 ? all[0] : concat_rows(all.data(), int(all.size()));
    const int n = int(idx.size());
    int* ix = tape.arena.ints(size_t(n) + 1);
    for (int k = 0; k < n; ++k) ix[k] = idx[size_t(k)] < 0 ? zero_row : idx[size_t(k)];
    return index_rows(cat, ix, n);
}

Var constant_column(Tape& tape, const std::vector<float>& v) {
    return tape.constant_copy(v.data(), int(v.size()), 1);
}

void gather_states(Tape& tape, const float* states, const std::vector<int>& rows, float** out) {
    *out = tape.arena.floats(rows.size() * 2 + 1);
    for (size_t j = 0; j < rows.size(); ++j) std::memcpy(*out + 2 * j, states + 2 * size_t(rows[j]), sizeof(float) * 2);
}

}  // namespace

// ===========================================================================
// Polar

BoxPolarPolicy::BoxPolarPolicy(const Box& env, bool backward, ParamStore& store, const NetConfig& net,
                               const BoxPolicyConfig& cfg, Rng& rng, const std::string& name)
    : env_(env), backward_(backward), store_(&store), cfg_(cfg) {
    check_config(cfg, "BoxPolarPolicy");
    const int K = cfg.n_components;
    // forward: [l | logits | α | β]; backward: [logits | α | β]
    net_ = MLP(store, name, 2, (backward ? 0 : 1) + 3 * K, net.hidden, net.n_hidden_layers, net.activation, rng);
    if (!backward) {
        // torchgfn initialises its s_0 parameter to zeros.
        s0_param_ = store.add(name + ".s0", 1, 5 * cfg.n_components_s0);
        std::fill_n(store.value(s0_param_).data, 5 * cfg.n_components_s0, 0.f);
    }
}

Var BoxPolarPolicy::concentration(Var raw) const {
    // c = c_min + (c_max − c_min)·sigmoid(raw)
    return add_scalar(scale(sigmoid(raw), cfg_.max_concentration - cfg_.min_concentration), cfg_.min_concentration);
}

void BoxPolarPolicy::arc(const float* x, double* m, double* M) const {
    const double d = env_.delta();
    if (!backward_) {
        // m = (2/π) acos((1 − x^0)/δ) when x^0 > 1 − δ;  M = (2/π) asin((1 − x^1)/δ) when x^1 > 1 − δ
        *m = x[0] <= 1.0 - d ? 0.0 : std::acos(std::min(1.0, std::max(0.0, (1.0 - x[0]) / d))) / kHalfPi;
        *M = x[1] <= 1.0 - d ? 1.0 : std::asin(std::min(1.0, std::max(0.0, (1.0 - x[1]) / d))) / kHalfPi;
    } else {
        // m = (2/π) acos(x^0/δ) when x^0 < δ;  M = (2/π) asin(x^1/δ) when x^1 < δ
        *m = x[0] >= d ? 0.0 : std::acos(std::min(1.0, std::max(0.0, double(x[0]) / d))) / kHalfPi;
        *M = x[1] >= d ? 1.0 : std::asin(std::min(1.0, std::max(0.0, double(x[1]) / d))) / kHalfPi;
    }
}

void BoxPolarPolicy::classify(const float* states, int n, std::vector<int>* first, std::vector<int>* circle) const {
    for (int k = 0; k < n; ++k) {
        const float* s = states + 2 * size_t(k);
        if (backward_ ? env_.backward_forced(s) : env_.exit_forced(s)) continue;
        if (!backward_ && env_.is_initial(s)) first->push_back(k);
        else circle->push_back(k);
    }
}

Var BoxPolarPolicy::circle_outputs(Tape& tape, const float* states, const std::vector<int>& circle) const {
    if (circle.empty()) return Var();
    float* xs;
    gather_states(tape, states, circle, &xs);
    return net_.forward(tape.constant_copy(xs, int(circle.size()), 2));
}

Var BoxPolarPolicy::log_prob(Tape& tape, const float* states, const float* actions, const uint8_t* is_exit,
                             int n) const {
    for (int k = 0; k < n; ++k) check_scored_step(env_, backward_, states + 2 * size_t(k), is_exit && is_exit[k], k);
    std::vector<int> first, circle;
    classify(states, n, &first, &circle);
    return score(tape, states, actions, is_exit, n, first, circle, circle_outputs(tape, states, circle));
}

Var BoxPolarPolicy::score(Tape& tape, const float* states, const float* actions, const uint8_t* is_exit, int n,
                          const std::vector<int>& first, const std::vector<int>& circle, Var out,
                          const float* drawn_u) const {
    const int K = cfg_.n_components, K0 = cfg_.n_components_s0;
    const double d = env_.delta();
    const double log_d = std::log(d), log_half_pi = std::log(kHalfPi);
    std::vector<int> idx(size_t(n), -1);  // row kinds: s_0 moves (first), circle rows, forced (0)
    std::vector<Var> parts;
    int offset = 0;
    // s_0 moves: log mix_r(r) + log mix_θ(θ) − log δ − log(π/2) − log(δ r)
    const int m0 = int(first.size());
    if (m0 > 0) {
        Var p = store_->var(tape, s0_param_);
        int* zeros = tape.arena.ints(size_t(m0) + 1);
        std::fill_n(zeros, m0, 0);
        Var rows = index_rows(p, zeros, m0);
        Var lg = slice_cols(rows, 0, K0);
        Var logits = concat_cols(lg, lg);
        Var alpha = concentration(concat_cols(slice_cols(rows, K0, 2 * K0), slice_cols(rows, 3 * K0, 4 * K0)));
        Var beta = concentration(concat_cols(slice_cols(rows, 2 * K0, 3 * K0), slice_cols(rows, 4 * K0, 5 * K0)));
        BetaMixture mix(logits, alpha, beta, K0);
        float* v = tape.arena.floats(size_t(m0) * 2);
        std::vector<float> c(static_cast<size_t>(m0));
        for (int j = 0; j < m0; ++j) {
            const float* a = actions + 2 * size_t(first[size_t(j)]);
            const double rho = std::hypot(double(a[0]), double(a[1]));
            v[2 * j] = clamp_unit(rho / d);
            v[2 * j + 1] = clamp_unit(std::atan2(double(a[1]), double(a[0])) / kHalfPi);
            c[size_t(j)] = float(-log_d - log_half_pi - std::log(double(v[2 * j]) * d));
            idx[size_t(first[size_t(j)])] = offset + j;
        }
        parts.push_back(add(mix.log_prob(tape.constant(Tensor(v, m0, 2))), constant_column(tape, c)));
        offset += m0;
    }
    // circle rows: log mix(u) − log δ − log(π/2) − log(M − m) [+ log σ(−l)]; exits log σ(l)
    const int mc = int(circle.size());
    if (mc > 0) {
        const int o = backward_ ? 0 : 1;
        BetaMixture mix(slice_cols(out, o, o + K), concentration(slice_cols(out, o + K, o + 2 * K)),
                        concentration(slice_cols(out, o + 2 * K, o + 3 * K)), K);
        float* u = tape.arena.floats(size_t(mc));
        std::vector<float> c(static_cast<size_t>(mc));
        for (int j = 0; j < mc; ++j) {
            const int k = circle[size_t(j)];
            double m, M;
            arc(states + 2 * size_t(k), &m, &M);
            const float* a = actions + 2 * size_t(k);
            const bool exit = !backward_ && is_exit && is_exit[k];
            const double w = std::max(double(kClampEps), M - m);
            // u: the drawn value where known (on-policy), else recovered from the move vector.
            // On an arc with m > 0 (or M < 1) the float move keeps u only to ~1e-7 near that
            // end, while a Beta with α < 1 draws far below it: scored at the recovered value,
            // such a draw would lose up to (1 − α)·|log u| of density.
            if (exit) u[j] = 0.5f;
            else if (drawn_u) u[j] = clamp_unit(double(drawn_u[j]));
            else {
                // Recovered, u is known to about kArcResolution/(M − m) at a restricted end (the
                // float move's angle): a value below that (rounding can take it to <= 0) is
                // scored at it, never at FLT_MIN, where a Beta with α < 1 is tens of nats denser.
                // An arc narrower than that resolution gives no u at all: the middle, as for NaN.
                const double res = kArcResolution / w;
                double v = (std::atan2(double(a[1]), double(a[0])) / kHalfPi - m) / w;
                if (m > 0.0) v = std::max(v, res);
                if (M < 1.0) v = std::min(v, 1.0 - res);
                u[j] = (m > 0.0 || M < 1.0) && res >= 0.5 ? 0.5f : clamp_unit(v);
            }
            c[size_t(j)] = float(-log_d - log_half_pi - std::log(w));
        }
        Var lp = add(mix.log_prob(tape.constant(Tensor(u, mc, 1))), constant_column(tape, c));
        if (!backward_) {
            Var l = slice_cols(out, 0, 1);
            lp = add(lp, log_sigmoid(scale(l, -1.f)));
            parts.push_back(lp);
            parts.push_back(log_sigmoid(l));
            for (int j = 0; j < mc; ++j) {
                const int k = circle[size_t(j)];
                idx[size_t(k)] = offset + (is_exit && is_exit[k] ? mc + j : j);
            }
        } else {
            parts.push_back(lp);
            for (int j = 0; j < mc; ++j) idx[size_t(circle[size_t(j)])] = offset + j;
        }
    }
    return pick_rows(tape, parts, idx);
}

void BoxPolarPolicy::sample(Tape& tape, const float* states, int n, float exploration_std, Rng& rng, float* actions,
                            uint8_t* is_exit) const {
    draw(tape, states, n, exploration_std, rng, actions, is_exit, false);
}

Var BoxPolarPolicy::sample_and_log_prob(Tape& tape, const float* states, int n, float exploration_std, Rng& rng,
                                        float* actions, uint8_t* is_exit) const {
    return draw(tape, states, n, exploration_std, rng, actions, is_exit, true);
}

Var BoxPolarPolicy::draw(Tape& tape, const float* states, int n, float exploration_std, Rng& rng, float* actions,
                         uint8_t* is_exit, bool with_log_prob) const {
    if (exploration_std != 0.f)
        throw std::invalid_argument("box: the Box policies have no exploration (--exploration-var-starting-val 0)");
    std::optional<NoGrad> no_grad;
    if (!with_log_prob) no_grad.emplace(tape);
    const int K = cfg_.n_components, K0 = cfg_.n_components_s0;
    const double d = env_.delta();
    std::vector<int> first, circle;
    classify(states, n, &first, &circle);
    for (int k = 0; k < n; ++k) {  // forced steps (the others are overwritten below)
        const float* s = states + 2 * size_t(k);
        float* a = actions + 2 * size_t(k);
        is_exit[k] = 0;
        if (backward_ ? env_.backward_forced(s) : env_.exit_forced(s)) {
            if (backward_) env_.backward_forced_action(s, a);
            else {
                is_exit[k] = 1;
                a[0] = a[1] = NAN;
            }
        }
    }
    const int m0 = int(first.size());
    if (m0 > 0) {
        NoGrad ng(tape);  // the draw only: score() records log p
        Var p = store_->var(tape, s0_param_);
        Var lg = slice_cols(p, 0, K0);
        Var alpha = concentration(concat_cols(slice_cols(p, K0, 2 * K0), slice_cols(p, 3 * K0, 4 * K0)));
        Var beta = concentration(concat_cols(slice_cols(p, 2 * K0, 3 * K0), slice_cols(p, 4 * K0, 5 * K0)));
        BetaMixture mix(concat_cols(lg, lg), alpha, beta, K0);
        float rt[2];
        for (int j = 0; j < m0; ++j) {
            mix.sample(rng, rt);  // (r, θ)
            // a = δ r (cos πθ/2, sin πθ/2), r <= 1 − 3e-7 so that ‖a‖ < δ
            const double r = std::min(rt[0], kMaxS0Radius), phi = kHalfPi * rt[1];
            float* a = actions + 2 * size_t(first[size_t(j)]);
            a[0] = float(d * r * std::cos(phi));
            a[1] = float(d * r * std::sin(phi));
        }
    }
    // One network pass for the circle rows: the draw from its values, log p from its nodes.
    const int mc = int(circle.size());
    Var out = circle_outputs(tape, states, circle);
    std::vector<float> u(static_cast<size_t>(mc));  // the arc draws, scored as drawn (score())
    if (mc > 0) {
        NoGrad ng(tape);
        const int o = backward_ ? 0 : 1;
        BetaMixture mix(slice_cols(out, o, o + K), concentration(slice_cols(out, o + K, o + 2 * K)),
                        concentration(slice_cols(out, o + 2 * K, o + 3 * K)), K);
        std::vector<float> ex(static_cast<size_t>(mc), 0.f);
        if (!backward_) Bernoulli(slice_cols(out, 0, 1)).sample(rng, ex.data());
        mix.sample(rng, u.data());
        for (int j = 0; j < mc; ++j) {
            const int k = circle[size_t(j)];
            float* a = actions + 2 * size_t(k);
            if (ex[size_t(j)] > 0.5f) {
                is_exit[k] = 1;
                a[0] = a[1] = NAN;
                continue;
            }
            double m, M;
            arc(states + 2 * size_t(k), &m, &M);
            // φ = (π/2)(m + (M − m)u), a = δ (cos φ, sin φ)
            const double phi = kHalfPi * (m + (M - m) * double(u[size_t(j)]));
            a[0] = float(std::max(0.0, d * std::cos(phi)));
            a[1] = float(std::max(0.0, d * std::sin(phi)));
            if (backward_) {  // keep the parent x − a >= 0
                a[0] = std::min(a[0], states[2 * size_t(k)]);
                a[1] = std::min(a[1], states[2 * size_t(k) + 1]);
            }
        }
    }
    if (!with_log_prob) return Var();
    // PF scores its own draws; PB's move is clipped to keep the parent in the box, so it is
    // scored from the move.
    return score(tape, states, actions, backward_ ? nullptr : is_exit, n, first, circle, out,
                 backward_ || mc == 0 ? nullptr : u.data());
}

// ===========================================================================
// Cartesian

BoxCartesianPolicy::BoxCartesianPolicy(const BoxCartesian& env, bool backward, ParamStore& store, const NetConfig& net,
                                       const BoxPolicyConfig& cfg, Rng& rng, const std::string& name)
    : env_(env), backward_(backward), store_(&store), cfg_(cfg) {
    check_config(cfg, "BoxCartesianPolicy");
    net_ = MLP(store, name, 2, 1 + 6 * cfg.n_components, net.hidden, net.n_hidden_layers, net.activation, rng);
}

Var BoxCartesianPolicy::forward(Tape& tape, const float* xs, int m, Var* exit_logit, Var* logits, Var* alpha,
                                Var* beta) const {
    const int K2 = 2 * cfg_.n_components;
    // the network sees 2x − 1
    float* in = tape.arena.floats(size_t(m) * 2);
    for (int i = 0; i < 2 * m; ++i) in[i] = 2.f * xs[i] - 1.f;
    Var out = net_.forward(tape.constant(Tensor(in, m, 2)));
    *exit_logit = slice_cols(out, 0, 1);
    *logits = slice_cols(out, 1, 1 + K2);
    // c = c_min + (c_max − c_min)·sigmoid(raw)
    const float span = cfg_.max_concentration - cfg_.min_concentration;
    *alpha = add_scalar(scale(sigmoid(slice_cols(out, 1 + K2, 1 + 2 * K2)), span), cfg_.min_concentration);
    *beta = add_scalar(scale(sigmoid(slice_cols(out, 1 + 2 * K2, 1 + 3 * K2)), span), cfg_.min_concentration);
    return out;
}

void BoxCartesianPolicy::moving_rows(const float* states, int n, std::vector<int>* rows) const {
    for (int k = 0; k < n; ++k) {
        const float* s = states + 2 * size_t(k);
        if (!(backward_ ? env_.backward_forced(s) : env_.exit_forced(s))) rows->push_back(k);
    }
}

Var BoxCartesianPolicy::log_prob(Tape& tape, const float* states, const float* actions, const uint8_t* is_exit,
                                 int n) const {
    for (int k = 0; k < n; ++k) check_scored_step(env_, backward_, states + 2 * size_t(k), is_exit && is_exit[k], k);
    std::vector<int> rows;
    moving_rows(states, n, &rows);
    Outputs o;
    float* xs = nullptr;
    if (!rows.empty()) {
        gather_states(tape, states, rows, &xs);
        forward(tape, xs, int(rows.size()), &o.l, &o.logits, &o.alpha, &o.beta);
    }
    return score(tape, states, actions, is_exit, n, rows, xs, o);
}

Var BoxCartesianPolicy::score(Tape& tape, const float* states, const float* actions, const uint8_t* is_exit, int n,
                              const std::vector<int>& rows, const float* xs, const Outputs& o) const {
    const double d = env_.delta();
    std::vector<int> idx(size_t(n), -1);
    const int m = int(rows.size());
    if (m == 0) return pick_rows(tape, {}, idx);
    // 0: move from s_0, 1: move elsewhere, 2: exit / back to s_0 (the move a = x exactly)
    std::vector<uint8_t> kind(static_cast<size_t>(m));
    for (int j = 0; j < m; ++j) {
        const int k = rows[size_t(j)];
        const float* s = states + 2 * size_t(k);
        const float* a = actions + 2 * size_t(k);
        if (backward_) kind[size_t(j)] = a[0] == s[0] && a[1] == s[1] ? 2 : 1;
        else kind[size_t(j)] = is_exit && is_exit[k] ? 2 : (env_.is_initial(s) ? 0 : 1);
    }
    // r^d = e^d/L^d (the action is the excess e = a − m: env BoxCartesian) and the
    // Jacobian −Σ_d log L^d
    float* r = tape.arena.floats(size_t(m) * 2);
    std::vector<float> jac(static_cast<size_t>(m));
    for (int j = 0; j < m; ++j) {
        const float* x = xs + 2 * j;
        const float* a = actions + 2 * size_t(rows[size_t(j)]);
        double J = 0.0;
        for (int e = 0; e < 2; ++e) {
            double L = 1.0;
            if (kind[size_t(j)] != 0) L = backward_ ? double(x[e]) - d : 1.0 - double(x[e]) - d;
            L = std::max(L, double(kClampEps));
            r[2 * j + e] = kind[size_t(j)] == 2 ? 0.5f : clamp_unit(double(a[e]) / L);
            J -= std::log(L);
        }
        jac[size_t(j)] = float(J);
    }
    BetaMixture mix(o.logits, o.alpha, o.beta, cfg_.n_components);
    Var dens = add(mix.log_prob(tape.constant(Tensor(r, m, 2))), constant_column(tape, jac));  // at s_0
    Var move = add(dens, log_sigmoid(scale(o.l, -1.f)));  // elsewhere: + log σ(−l)
    Var stop = log_sigmoid(o.l);                          // exit / back to s_0: log σ(l)
    for (int j = 0; j < m; ++j) idx[size_t(rows[size_t(j)])] = int(kind[size_t(j)]) * m + j;
    return pick_rows(tape, {dens, move, stop}, idx);
}

void BoxCartesianPolicy::sample(Tape& tape, const float* states, int n, float exploration_std, Rng& rng,
                                float* actions, uint8_t* is_exit) const {
    draw(tape, states, n, exploration_std, rng, actions, is_exit, false);
}

Var BoxCartesianPolicy::sample_and_log_prob(Tape& tape, const float* states, int n, float exploration_std, Rng& rng,
                                            float* actions, uint8_t* is_exit) const {
    return draw(tape, states, n, exploration_std, rng, actions, is_exit, true);
}

Var BoxCartesianPolicy::draw(Tape& tape, const float* states, int n, float exploration_std, Rng& rng, float* actions,
                             uint8_t* is_exit, bool with_log_prob) const {
    if (exploration_std != 0.f)
        throw std::invalid_argument(
            "box_cartesian: the Box policies have no exploration (--exploration-var-starting-val 0)");
    std::optional<NoGrad> no_grad;
    if (!with_log_prob) no_grad.emplace(tape);
    const double d = env_.delta();
    std::vector<int> rows;
    moving_rows(states, n, &rows);
    for (int k = 0; k < n; ++k) {  // forced steps (the others are overwritten below)
        const float* s = states + 2 * size_t(k);
        float* a = actions + 2 * size_t(k);
        is_exit[k] = 0;
        if (backward_ ? env_.backward_forced(s) : env_.exit_forced(s)) {
            if (backward_) env_.backward_forced_action(s, a);
            else {
                is_exit[k] = 1;
                a[0] = a[1] = NAN;
            }
        }
    }
    const int m = int(rows.size());
    Outputs o;
    float* xs = nullptr;
    if (m > 0) {
        // One network pass: the draw from its values, log p (score) from its nodes.
        gather_states(tape, states, rows, &xs);
        forward(tape, xs, m, &o.l, &o.logits, &o.alpha, &o.beta);
        NoGrad ng(tape);
        std::vector<float> stop(static_cast<size_t>(m)), r(size_t(m) * 2);
        Bernoulli(o.l).sample(rng, stop.data());
        BetaMixture(o.logits, o.alpha, o.beta, cfg_.n_components).sample(rng, r.data());
        for (int j = 0; j < m; ++j) {
            const int k = rows[size_t(j)];
            const float* x = xs + 2 * j;
            float* a = actions + 2 * size_t(k);
            const bool at_s0 = env_.is_initial(x);
            if (!at_s0 && stop[size_t(j)] > 0.5f) {
                if (backward_) env_.backward_forced_action(x, a);  // back to s_0: a = x
                else {
                    is_exit[k] = 1;
                    a[0] = a[1] = NAN;
                }
                continue;
            }
            for (int e = 0; e < 2; ++e) {
                const double re = r[2 * size_t(j) + e];
                // the excess e^d = r^d L^d (the move a^d = m + e^d)
                if (at_s0) a[e] = float(re);
                else {
                    const double L = backward_ ? double(x[e]) - d : 1.0 - double(x[e]) - d;
                    a[e] = float(std::min(L, re * L));
                }
            }
        }
    }
    if (!with_log_prob) return Var();
    return score(tape, states, actions, backward_ ? nullptr : is_exit, n, rows, xs, o);
}

}  // namespace gfn
