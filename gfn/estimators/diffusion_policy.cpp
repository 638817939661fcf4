// diffusion_policy.cpp — see diffusion_policy.h.
#include "gfn/estimators/diffusion_policy.h"

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <unordered_map>

#include "engine/distributions.h"
#include "engine/ops.h"
#include "gfn/env/env.h"

namespace gfn {

namespace {

void check_options(const char* who, const DiffusionPolicyOptions& o, bool net) {
    const std::string w = who;
    if (!(std::isfinite(o.sigma) && o.sigma > 0.f))
        throw std::invalid_argument(w + ": sigma must be finite and > 0 (got " + num_str(o.sigma) + ")");
    if (!net) return;
    if (!(std::isfinite(o.t_scale) && o.t_scale > 0.f))
        throw std::invalid_argument(w + ": t_scale must be finite and > 0 (got " + num_str(o.t_scale) + ")");
    if (o.harmonics_dim < 1 || o.t_emb_dim < 1 || o.s_emb_dim < 1 || o.hidden_dim < 1)
        throw std::invalid_argument(w + ": harmonics_dim, t_emb_dim, s_emb_dim and hidden_dim must be >= 1");
    if (o.joint_layers < 1)
        throw std::invalid_argument(w + ": joint_layers must be >= 1 (got " + std::to_string(o.joint_layers) + ")");
    if (o.t_emb_dim != o.s_emb_dim)
        throw std::invalid_argument(w + ": t_emb_dim (" + std::to_string(o.t_emb_dim) + ") must equal s_emb_dim (" +
                                    std::to_string(o.s_emb_dim) + "): the embeddings are summed");
    if (o.variance_per_dimension && !o.learn_variance)
        throw std::invalid_argument(w + ": variance_per_dimension needs learn_variance");
    if (o.learn_variance && !(std::isfinite(o.log_var_range) && o.log_var_range > 0.f))
        throw std::invalid_argument(w + ": log_var_range must be finite and > 0 (got " + num_str(o.log_var_range) +
                                    ")");
    if (o.lp && o.lp_layers < 1)
        throw std::invalid_argument(w + ": lp_layers must be >= 1 (got " + std::to_string(o.lp_layers) + ")");
    if (o.lp && !(std::isfinite(o.lp_clip) && o.lp_clip > 0.f))
        throw std::invalid_argument(w + ": lp_clip must be finite and > 0 (got " + num_str(o.lp_clip) + ")");
}

// n copies of the value v as an (n, d) constant.
Var filled(Tape& tape, float v, int n, int d) {
    float* p = tape.arena.floats(size_t(n) * d + 1);
    for (size_t i = 0; i < size_t(n) * d; ++i) p[i] = v;
    return tape.constant(Tensor(p, n, d));
}

// The rows `rows` of an (n, w) array, packed into the arena.
float* pack_rows(Tape& tape, const float* src, int w, const std::vector<int>& rows) {
    float* out = tape.arena.floats(rows.size() * size_t(w) + 1);
    for (size_t j = 0; j < rows.size(); ++j)
        std::memcpy(out + j * size_t(w), src + size_t(rows[j]) * w, sizeof(float) * size_t(w));
    return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// PISNet

PISNet::PISNet(ParamStore& store, const std::string& name, int dim, const DiffusionPolicyOptions& opt, Rng& rng,
               int time_steps)
    : store_(&store), dim_(dim), time_steps_(time_steps) {
    check_options("PISNet", opt, true);
    if (dim < 1) throw std::invalid_argument("PISNet: dim must be >= 1 (got " + std::to_string(dim) + ")");
    if (time_steps < 0)
        throw std::invalid_argument("PISNet: time_steps must be >= 0 (got " + std::to_string(time_steps) + ")");
    const int H = opt.harmonics_dim;
    // ω_i = 0.1 + i·(100 − 0.1)/(H − 1)   (torch.linspace(0.1, 100, H))
    omega_.resize(size_t(H));
    for (int i = 0; i < H; ++i) omega_[size_t(i)] = H == 1 ? 0.1f : float(0.1 + i * (100.0 - 0.1) / (H - 1));
    phase_ = store.add(name + ".t_model.phase", 1, H);
    Tensor ph = store.value(phase_);
    for (size_t i = 0; i < ph.size(); ++i) ph.data[i] = float(rng.normal());  // φ ~ N(0, 1)
    t_in_ = Linear(store, name + ".t_model.lin0", 2 * H, opt.hidden_dim, rng);
    t_out_ = Linear(store, name + ".t_model.lin1", opt.hidden_dim, opt.t_emb_dim, rng);
    s_model_ = Linear(store, name + ".s_model", dim, opt.s_emb_dim, rng);
    int in = opt.s_emb_dim;
    for (int l = 0; l < opt.joint_layers; ++l) {
        joint_.emplace_back(store, name + ".joint.lin" + std::to_string(l), in, opt.hidden_dim, rng);
        in = opt.hidden_dim;
    }
    // [f | raw]: raw one column (isotropic std) or d (a std per dimension)
    out_ = Linear(store, name + ".joint.out", in, !opt.learn_variance ? dim : opt.variance_per_dimension ? 2 * dim : dim + 1,
                  rng);
    if (opt.zero_init) {
        Tensor w = store.value(out_.W), b = store.value(out_.b);
        std::fill(w.data, w.data + w.size(), 0.f);
        std::fill(b.data, b.data + b.size(), 0.f);
    }
    if (!opt.lp) return;
    // λ_θ(t): its own phase, lp_layers GELU layers, then hidden → d
    lp_clip_ = opt.lp_clip;
    lp_phase_ = store.add(name + ".lp_model.phase", 1, H);
    Tensor lph = store.value(lp_phase_);
    for (size_t i = 0; i < lph.size(); ++i) lph.data[i] = float(rng.normal());  // φ' ~ N(0, 1)
    int lp_in = 2 * H;
    for (int l = 0; l < opt.lp_layers; ++l) {
        lp_.emplace_back(store, name + ".lp_model.lin" + std::to_string(l), lp_in, opt.hidden_dim, rng);
        lp_in = opt.hidden_dim;
    }
    lp_.emplace_back(store, name + ".lp_model.out", lp_in, dim, rng);
    if (opt.zero_init) {
        Tensor w = store.value(lp_.back().W), b = store.value(lp_.back().b);
        std::fill(w.data, w.data + w.size(), 0.f);
        std::fill(b.data, b.data + b.size(), 0.01f);
    }
}

// e(u) = [sin(u·ω + φ) | cos(u·ω + φ)]   (m, 2H), φ the parameter `phase`
Var PISNet::fourier_features(Tape& tape, const float* times, int m, int phase) const {
    const int H = int(omega_.size());
    float* uw = tape.arena.floats(size_t(m) * H);
    for (int j = 0; j < m; ++j)
        for (int i = 0; i < H; ++i) uw[size_t(j) * H + i] = times[j] * omega_[size_t(i)];
    Var arg = add(tape.constant(Tensor(uw, m, H)), store_->var(tape, phase));
    return concat_cols(sin(arg), cos(arg));
}

// λ_θ(u) = Linear(GELU(Linear(… GELU(Linear(e'(u))))))   (m, d)
Var PISNet::langevin_scale(Tape& tape, const float* times, int m) const {
    Var h = fourier_features(tape, times, m, lp_phase_);
    for (size_t l = 0; l + 1 < lp_.size(); ++l)
        h = linear_gelu(h, store_->var(tape, lp_[l].W), store_->var(tape, lp_[l].b));
    return lp_.back().forward(h);
}

// t_emb = Linear(GELU(Linear(e(u))))    (m, t_emb_dim), one row per time
// (each GELU(Linear(·)) is one fused node, linear_gelu)
Var PISNet::time_embedding(Tape& tape, const float* times, int m) const {
    Var e = fourier_features(tape, times, m, phase_);
    return t_out_.forward(linear_gelu(e, store_->var(tape, t_in_.W), store_->var(tape, t_in_.b)));
}

Var PISNet::forward(Tape& tape, const float* states, int n, const float* score) const {
    if (langevin() && !score) throw std::invalid_argument("PISNet: the Langevin parametrization needs the score ∇log R");
    const int d = dim_, D = d + 1;
    // The distinct times u_0 … u_{m−1} of the batch, and row i's index into them.
    int* which = tape.arena.ints(size_t(n) + 1);
    std::vector<float> times;
    std::unordered_map<float, int> seen;
    int last = -1;
    for (int i = 0; i < n; ++i) {
        const float t = states[size_t(i) * D + d];
        if (last >= 0 && times[size_t(last)] == t) {
            which[i] = last;
            continue;
        }
        auto it = seen.find(t);
        if (it == seen.end()) {
            it = seen.emplace(t, int(times.size())).first;
            times.push_back(t);
        }
        which[i] = last = it->second;
    }
    const int m = int(times.size());
    // On the grid: u_j = float(k_j / N) exactly for an integer k_j in [0, N].
    const int N = time_steps_;
    std::vector<int> k_of(static_cast<size_t>(m));
    bool on_grid = N > 0;
    for (int j = 0; j < m && on_grid; ++j) {
        const long k = std::lround(double(times[size_t(j)]) * double(N));
        on_grid = k >= 0 && k <= N && float(double(k) / double(N)) == times[size_t(j)];
        k_of[size_t(j)] = int(k);
    }
    Var t_emb, lambda;  // (and λ_θ with lp), per grid time or per distinct time
    if (on_grid) {
        // t_emb (and λ_θ) of every grid time, once per step of this tape; row k is time k/N
        t_emb = tape.memo(this);
        if (langevin()) lambda = tape.memo(&lp_);
        if (!t_emb.valid() || (langevin() && !lambda.valid())) {
            std::vector<float> grid(size_t(N) + 1);
            for (int k = 0; k <= N; ++k) grid[size_t(k)] = float(double(k) / double(N));
            if (!t_emb.valid()) {
                t_emb = time_embedding(tape, grid.data(), N + 1);
                tape.remember(this, t_emb);
            }
            if (langevin() && !lambda.valid()) {
                lambda = langevin_scale(tape, grid.data(), N + 1);
                tape.remember(&lp_, lambda);
            }
        }
        for (int i = 0; i < n; ++i) which[i] = k_of[size_t(which[i])];
    } else {
        t_emb = time_embedding(tape, times.data(), m);
        if (langevin()) lambda = langevin_scale(tape, times.data(), m);
    }
    // s_emb = Linear(x)   (n, s_emb_dim)
    float* xs = tape.arena.floats(size_t(n) * d + 1);
    for (int i = 0; i < n; ++i) std::memcpy(xs + size_t(i) * d, states + size_t(i) * D, sizeof(float) * size_t(d));
    Var s_emb = s_model_.forward(tape.constant(Tensor(xs, n, d)));
    // joint: GELU(s_emb + t_emb[which]) → [Linear → GELU] × L → Linear; the
    // broadcast of t_emb to the rows happens inside the fused gelu_add_rows
    Var h = gelu_add_rows(s_emb, t_emb, which);
    for (const Linear& l : joint_) h = linear_gelu(h, store_->var(tape, l.W), store_->var(tape, l.b));
    Var out = out_.forward(h);
    if (!langevin()) return out;
    // f = f_θ(x, t) + λ_θ(t) ⊙ clip(∇log R(x), ±lp_clip), on the first d columns of the output
    float* g = tape.arena.floats(size_t(n) * d + 1);
    for (size_t i = 0; i < size_t(n) * d; ++i) {
        const float v = score[i];
        // a NaN score (a target undefined there) is refused rather than clipped into the drift
        if (std::isnan(v)) throw std::invalid_argument("PISNet: the score ∇log R is NaN");
        g[i] = std::min(std::max(v, -lp_clip_), lp_clip_);
    }
    Var drift = mul(index_rows(lambda, which, n), tape.constant(Tensor(g, n, d)));
    if (out_.out == d) return add(out, drift);
    return concat_cols(add(slice_cols(out, 0, d), drift), slice_cols(out, d, out_.out));
}

long long PISNet::macs_per_row() const {
    long long macs = (long long)s_model_.in * s_model_.out;
    for (const Linear& l : joint_) macs += (long long)l.in * l.out;
    return macs + (long long)out_.in * out_.out;
}

// ---------------------------------------------------------------------------
// PinnedBrownianForward

PinnedBrownianForward::PinnedBrownianForward(const DiffusionSampling& env, ParamStore& store,
                                             const DiffusionPolicyOptions& opt, Rng& rng, const std::string& name)
    : env_(env), store_(&store), opt_(opt) {
    check_options("PinnedBrownianForward", opt, true);
    net_ = PISNet(store, name, env.dim(), opt, rng, env.n_steps());
}

double PinnedBrownianForward::base_std() const {
    // σ·√(dt·t_scale)
    return double(opt_.sigma) * std::sqrt(env_.dt() * double(opt_.t_scale));
}

void PinnedBrownianForward::mean_std(Tape& tape, const float* states, int n, Var* mean, Var* std) const {
    const int d = env_.dim(), D = env_.state_dim();
    float* score = nullptr;  // ∇log R at each row's x (Langevin parametrization only)
    if (net_.langevin()) {
        float* xs = tape.arena.floats(size_t(n) * d + 1);
        for (int i = 0; i < n; ++i) std::memcpy(xs + size_t(i) * d, states + size_t(i) * D, sizeof(float) * size_t(d));
        score = tape.arena.floats(size_t(n) * d + 1);
        env_.target().log_density_gradient(xs, n, score);
    }
    Var out = net_.forward(tape, states, n, score);  // (n, d), (n, d + 1) or (n, 2d): [f | raw]
    const float dt = float(env_.dt()), s0 = float(base_std());
    // μ = dt·f
    *mean = scale(opt_.learn_variance ? slice_cols(out, 0, d) : out, dt);
    if (!opt_.learn_variance) {
        *std = filled(tape, s0, n, d);
        return;
    }
    // s = σ√(dt·t_scale)·e^c,  c = log_var_range·tanh(raw): one c per row, broadcast to the
    // d columns, or (variance_per_dimension) one per dimension
    Var c = scale(tanh(slice_cols(out, d, net_.out_dim())), opt_.log_var_range);
    *std = opt_.variance_per_dimension ? scale(exp(c), s0) : matmul(scale(exp(c), s0), filled(tape, 1.f, 1, d));
}

Var PinnedBrownianForward::log_prob(Tape& tape, const float* states, const float* actions, const uint8_t* is_exit,
                                    int n) const {
    const int D = env_.state_dim(), A = env_.action_dim();
    // Moves are packed; the forced exit (t = 1) takes log p = 0.
    std::vector<int> moving;
    for (int k = 0; k < n; ++k) {
        const float* s = states + size_t(k) * D;
        const bool exit = is_exit && is_exit[k];
        check_scored_step(env_, false, s, exit, k);  // exits only at t = 1, moves only before
        if (!exit) moving.push_back(k);
    }
    if (moving.empty()) return spread_log_probs(tape, Var(), moving, n);
    const int m = int(moving.size());
    const float* xs = m == n ? states : pack_rows(tape, states, D, moving);
    float* as = pack_rows(tape, actions, A, moving);
    Var mean, std;
    mean_std(tape, xs, m, &mean, &std);
    DiagonalGaussian dist(mean, std);
    return spread_log_probs(tape, dist.log_prob(tape.constant(Tensor(as, m, A))), moving, n);
}

void PinnedBrownianForward::sample(Tape& tape, const float* states, int n, float exploration_std, Rng& rng,
                                   float* actions, uint8_t* is_exit) const {
    NoGrad ng(tape);
    draw(tape, states, n, exploration_std, rng, actions, is_exit, false);
}

Var PinnedBrownianForward::sample_and_log_prob(Tape& tape, const float* states, int n, float exploration_std,
                                               Rng& rng, float* actions, uint8_t* is_exit) const {
    return draw(tape, states, n, exploration_std, rng, actions, is_exit, true);
}

Var PinnedBrownianForward::draw(Tape& tape, const float* states, int n, float exploration_std, Rng& rng,
                                float* actions, uint8_t* is_exit, bool with_log_prob) const {
    const int D = env_.state_dim(), A = env_.action_dim();
    std::vector<int> moving;
    for (int k = 0; k < n; ++k) {
        const float* s = states + size_t(k) * D;
        is_exit[k] = env_.exit_forced(s);
        if (!is_exit[k]) {
            moving.push_back(k);
            continue;
        }
        for (int j = 0; j < A; ++j) actions[size_t(k) * A + j] = NAN;
    }
    const int m = int(moving.size());
    if (m == 0) return with_log_prob ? spread_log_probs(tape, Var(), moving, n) : Var();
    Var mean, std;
    mean_std(tape, m == n ? states : pack_rows(tape, states, D, moving), m, &mean, &std);
    return draw_gaussian_moves(tape, mean, std, exploration_std, rng, moving, n, actions, with_log_prob);
}

// ---------------------------------------------------------------------------
// BrownianBridgeBackward

BrownianBridgeBackward::BrownianBridgeBackward(const DiffusionSampling& env, const DiffusionPolicyOptions& opt)
    : env_(env), sigma_(opt.sigma) {
    check_options("BrownianBridgeBackward", opt, false);
}

// The bridge has no parameters and scores constants (states and actions), so
// its log-probabilities are a constant of the gradient: computed here in plain
// loops, off the tape's ops, with the arithmetic of DiagonalGaussian::log_prob
// (normal_log_prob, in double) on the float mean and std it would be given:
//     log p = −½ Σ_c [log 2π + 2 log s_k + ((a_c − μ_c)/s_k)²],
//     μ_c = float(x_c/k),  s_k = float(σ·√(dt·(k − 1)/k)),
// with log s_k computed once per step k; a row with k = 1 (the forced step to s_0) gets 0.
Var BrownianBridgeBackward::log_prob(Tape& tape, const float* states, const float* actions, const uint8_t* is_exit,
                                     int n) const {
    constexpr double kLog2Pi = 1.83787706640934548356;  // log 2π
    const int D = env_.state_dim(), d = env_.dim(), N = env_.n_steps();
    // s_k and log s_k for k = 2 … N (computed on first use)
    std::vector<float> sd(size_t(N) + 1, 0.f);
    std::vector<double> log_sd(size_t(N) + 1, 0.0);
    std::vector<uint8_t> have(size_t(N) + 1, 0);
    float* y = tape.arena.floats(size_t(n) + 1);
    for (int i = 0; i < n; ++i) {
        const float* s = states + size_t(i) * D;
        const int step = env_.step_index(s);
        // Only a step into s_0 (k < 1) or an exit can fail the checks: no message built otherwise.
        if ((is_exit && is_exit[i]) || step < 1) check_scored_step(env_, true, s, is_exit && is_exit[i], i);
        if (step <= 1) {  // k = 1: the forced step to s_0, log p = 0
            y[i] = 0.f;
            continue;
        }
        const double k = step;
        // variance σ²·dt·(t − dt)/t = σ²·dt·(k − 1)/k
        auto std_of = [&] { return float(double(sigma_) * std::sqrt(env_.dt() * (k - 1.0) / k)); };
        double st, log_st;
        if (step <= N) {
            if (!have[size_t(step)]) {
                sd[size_t(step)] = std_of();
                log_sd[size_t(step)] = std::log(double(sd[size_t(step)]));
                have[size_t(step)] = 1;
            }
            st = double(sd[size_t(step)]);
            log_st = log_sd[size_t(step)];
        } else {  // past t = 1 (not a state of this env's trajectories): no cache
            st = double(std_of());
            log_st = std::log(st);
        }
        const double two_log_st = 2.0 * log_st;
        const float* a = actions + size_t(i) * d;
        double acc = 0.0;
        for (int c = 0; c < d; ++c) {
            const double mu = double(float(double(s[c]) / k));  // mean x·dt/t = x/k
            const double z = (double(a[c]) - mu) / st;
            acc += kLog2Pi + two_log_st + z * z;
        }
        y[i] = float(-0.5 * acc);
    }
    return tape.constant(Tensor(y, n, 1));
}

void BrownianBridgeBackward::sample(Tape& tape, const float* states, int n, float exploration_std, Rng& rng,
                                    float* actions, uint8_t* is_exit) const {
    (void)tape;
    const int D = env_.state_dim(), d = env_.dim();
    const double e2 = double(exploration_std) * exploration_std;
    for (int i = 0; i < n; ++i) {
        const float* s = states + size_t(i) * D;
        float* a = actions + size_t(i) * d;
        is_exit[i] = 0;
        const int step = env_.step_index(s);
        if (step < 1)
            throw std::invalid_argument(env_.name() + ": a backward step from s_0 (row " + std::to_string(i) + ")");
        if (step == 1) {
            env_.backward_forced_action(s, a);
            continue;
        }
        // a ~ N(x/k, s_b²),  s_b = √(σ²·dt·(k − 1)/k + e²)
        const double k = step;
        const double sb = std::sqrt(double(sigma_) * sigma_ * env_.dt() * (k - 1.0) / k + e2);
        for (int c = 0; c < d; ++c) a[c] = float(double(s[c]) / k + sb * rng.normal());
    }
}

}  // namespace gfn
