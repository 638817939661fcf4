// distributions.cpp — see distributions.h. Each log_prob is a composition of
// ops (engine/ops.h), so its gradient is the ops' own, gradient-checked pairs.
#include "engine/distributions.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

namespace gfn {

namespace {

[[noreturn]] void fail(const char* who, const std::string& what) {
    throw std::invalid_argument(std::string(who) + ": " + what);
}

Tape* tape_of(const char* who, Var v) {
    if (!v.valid() || size_t(v.id) >= v.tape->nodes.size()) fail(who, "invalid parameter");
    return v.tape;
}

void check_shape(const char* who, const char* what, Var v, int rows, int cols) {
    if (v.tape == nullptr || v.rows() != rows || v.cols() != cols)
        fail(who, std::string(what) + " has shape " + (v.valid() ? shape_str(v.rows(), v.cols()) : "(none)") +
                      ", expected " + shape_str(rows, cols));
}

// The value of a log_prob call: on the distribution's tape, (n, event_size).
void check_value(const char* who, const Distribution& d, Tape* tape, Var value) {
    if (!value.valid() || value.tape != tape) fail(who, "the value is not a node of the parameters' tape");
    check_shape(who, "value", value, d.batch_size(), d.event_size());
}

// σ(x) in double without overflow.
double sigmoid_of(double x) {
    if (x >= 0.0) return 1.0 / (1.0 + std::exp(-x));
    const double e = std::exp(x);
    return e / (1.0 + e);
}

}  // namespace

Var Distribution::log_prob(const float* value) const {
    return log_prob(tape_->constant_copy(value, batch_size(), event_size()));
}

// ===========================================================================
// Categorical: log p(j) = logits_j − log Σ_{k valid} e^{logits_k}   (log_softmax, masked)

Categorical::Categorical(Var logits, const uint8_t* mask)
    : Distribution(tape_of("Categorical", logits)), log_probs_(log_softmax(logits, mask)), mask_(mask) {}

void Categorical::sample(Rng& rng, int* out) const {
    const Tensor lp = log_probs_.value();
    for (int i = 0; i < lp.rows; ++i) out[i] = sample_categorical(rng, lp.row(i), lp.cols);
}

void Categorical::sample(Rng& rng, float* out) const {
    const Tensor lp = log_probs_.value();
    for (int i = 0; i < lp.rows; ++i) out[i] = float(sample_categorical(rng, lp.row(i), lp.cols));
}

Var Categorical::log_prob(const int* idx) const {
    const int n = batch_size(), c = num_categories();
    for (int i = 0; i < n; ++i) {
        if (idx[i] < 0 || idx[i] >= c)
            fail("Categorical", "action " + std::to_string(idx[i]) + " at row " + std::to_string(i) +
                                    " is out of range [0, " + std::to_string(c) + ")");
        if (mask_ && !mask_[size_t(i) * c + size_t(idx[i])])
            fail("Categorical", "action " + std::to_string(idx[i]) + " at row " + std::to_string(i) + " is masked");
    }
    return gather(log_probs_, idx);
}

Var Categorical::log_prob(Var value) const {
    check_value("Categorical", *this, tape_, value);
    const int n = batch_size();
    const Tensor v = value.value();
    int* idx = tape_->arena.ints(size_t(n));
    for (int i = 0; i < n; ++i) {
        const float x = v.data[i];
        if (!(x == std::floor(x)) || x < 0.f || x >= float(num_categories()))
            fail("Categorical", "value " + std::to_string(x) + " at row " + std::to_string(i) +
                                    " is not a category in [0, " + std::to_string(num_categories()) + ")");
        idx[i] = int(x);
    }
    return log_prob(idx);
}

// ===========================================================================
// DiagonalGaussian: log p(x) = −½ Σ_j [log 2π + 2 log σ_j + ((x_j − μ_j)/σ_j)²]
// (the fused normal_log_prob op); a sample is μ + σ z, z ~ N(0, I).

DiagonalGaussian::DiagonalGaussian(Var mean, Var std) : Distribution(tape_of("DiagonalGaussian", mean)), mean_(mean), std_(std) {
    tape_of("DiagonalGaussian", std);
    if (std.tape != mean.tape) fail("DiagonalGaussian", "mean and std live on different tapes");
    check_shape("DiagonalGaussian", "std", std, mean.rows(), mean.cols());
}

void DiagonalGaussian::sample(Rng& rng, float* out) const {
    const Tensor mu = mean_.value(), sd = std_.value();
    for (size_t k = 0; k < mu.size(); ++k) {
        if (!(sd.data[k] > 0.f))
            fail("DiagonalGaussian", "std entry " + std::to_string(k) + " = " + std::to_string(sd.data[k]) +
                                         " is not positive");
        out[k] = float(double(mu.data[k]) + double(sd.data[k]) * rng.normal());
    }
}

Var DiagonalGaussian::log_prob(Var value) const {
    check_value("DiagonalGaussian", *this, tape_, value);
    return normal_log_prob(value, mean_, std_);
}

// ===========================================================================
// BetaMixture, per dimension j:
//   log p(r_j) = logsumexp_k [log w_jk + log Beta(r_j; α_jk, β_jk)],  log w_j = log_softmax(logits_j)
//   log p(r) = Σ_j log p(r_j)
// Viewing (n, d·K) as (n·d, K) puts each dimension's K components on a row,
// so log_softmax and logsumexp act per dimension.

BetaMixture::BetaMixture(Var logits, Var alpha, Var beta, int n_components)
    : Distribution(tape_of("BetaMixture", logits)), logits_(logits), alpha_(alpha), beta_(beta), K_(n_components) {
    const char* who = "BetaMixture";
    tape_of(who, alpha);
    tape_of(who, beta);
    if (alpha.tape != tape_ || beta.tape != tape_) fail(who, "logits, alpha and beta live on different tapes");
    if (K_ <= 0) fail(who, "the number of components is " + std::to_string(K_) + ", expected at least 1");
    if (logits.cols() == 0 || logits.cols() % K_ != 0)
        fail(who, "logits " + shape_str(logits.rows(), logits.cols()) + " do not hold d groups of " +
                      std::to_string(K_) + " components (expected (n, d·K) with d >= 1)");
    check_shape(who, "alpha", alpha, logits.rows(), logits.cols());
    check_shape(who, "beta", beta, logits.rows(), logits.cols());
}

void BetaMixture::sample(Rng& rng, float* out) const {
    const Tensor lg = logits_.value(), al = alpha_.value(), be = beta_.value();
    const int n = batch_size(), d = event_size();
    const float lo = std::numeric_limits<float>::min(), hi = std::nextafter(1.f, 0.f);
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < d; ++j) {
            const size_t base = size_t(i) * size_t(d * K_) + size_t(j * K_);
            // k ~ softmax(logits_j) (sample_categorical normalises), then r ~ Beta(α_jk, β_jk)
            const size_t k = base + size_t(sample_categorical(rng, lg.data + base, K_));
            float r = float(sample_beta(rng, al.data[k], be.data[k]));
            out[size_t(i) * d + j] = r < lo ? lo : (r > hi ? hi : r);
        }
}

Var BetaMixture::log_prob(Var value) const {
    check_value("BetaMixture", *this, tape_, value);
    const int n = batch_size(), d = event_size();
    Var log_w = log_softmax(reshape(logits_, n * d, K_));
    Var log_beta = reshape(beta_log_prob(value, alpha_, beta_), n * d, K_);
    Var per_dim = logsumexp(add(log_w, log_beta));  // (n·d, 1)
    return row_sum(reshape(per_dim, n, d));
}

// ===========================================================================
// Bernoulli: log p(1) = log σ(l), log p(0) = log σ(−l), i.e. log σ((2v − 1) l).

Bernoulli::Bernoulli(Var logit) : Distribution(tape_of("Bernoulli", logit)), logit_(logit) {
    if (logit.cols() != 1)
        fail("Bernoulli", "logit has shape " + shape_str(logit.rows(), logit.cols()) + ", expected (n, 1)");
}

void Bernoulli::sample(Rng& rng, float* out) const {
    const Tensor l = logit_.value();
    for (int i = 0; i < l.rows; ++i) out[i] = rng.uniform_double() < sigmoid_of(double(l.data[i])) ? 1.f : 0.f;
}

Var Bernoulli::log_prob(Var value) const {
    check_value("Bernoulli", *this, tape_, value);
    const int n = batch_size();
    const Tensor v = value.value();
    float* sign = tape_->arena.floats(size_t(n));
    for (int i = 0; i < n; ++i) {
        if (v.data[i] != 0.f && v.data[i] != 1.f)
            fail("Bernoulli", "value " + std::to_string(v.data[i]) + " at row " + std::to_string(i) + " is not 0 or 1");
        sign[i] = 2.f * v.data[i] - 1.f;
    }
    return log_sigmoid(mul(logit_, tape_->constant(Tensor(sign, n, 1))));
}

}  // namespace gfn
