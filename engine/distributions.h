// distributions.h — a policy's output as a distribution: sample an action, score a given one.
//
// Modelled on torch.distributions. A distribution is built from network-output
// Vars (its parameters, on the tape) and offers
//     sample(rng, out)   values only (no gradient): out (n, event_size()), row i
//                        drawn from the i-th distribution;
//     log_prob(value)    (n, 1): log p_i(value_i), with gradients to the parameters.
// One distribution per row (a batch of n states); an objective or sampler that
// holds a `const Distribution&` never needs to know which variant it has.
//
// Variants (formulas in distributions.cpp):
//     Categorical       masked logits (n, c); a sample is an index (stored as float)
//     DiagonalGaussian  mean, std (n, d); a sample is a vector in R^d
//     BetaMixture       per row and dimension K mixture logits, α_k, β_k; a sample in (0, 1)^d
//     Bernoulli         one logit (n, 1); a sample is 1 (e.g. exit) with probability σ(logit)
//
// Constraints: parameters are read when sample/log_prob run, so build the
// distribution after the network's forward and use it within the step; mask
// arrays are not copied and must outlive the step (allocate them in tape.arena).
// Sampling is serial through one Rng, so a seed gives the same draws whatever the
// thread count. Bad shapes or values throw std::invalid_argument naming the variant.
#pragma once

#include <cstdint>

#include "engine/ops.h"
#include "engine/random.h"

namespace gfn {

class Distribution {
public:
    virtual ~Distribution() = default;

    virtual int batch_size() const = 0;   // n
    virtual int event_size() const = 0;   // floats per sample
    // out (n, event_size()): one draw per row; no gradient.
    virtual void sample(Rng& rng, float* out) const = 0;
    // value (n, event_size()) -> (n, 1) log-probability (a density for the
    // continuous variants), with gradients to the parameters.
    virtual Var log_prob(Var value) const = 0;
    // The same with the value copied into the arena as a constant.
    Var log_prob(const float* value) const;

protected:
    explicit Distribution(Tape* tape) : tape_(tape) {}
    Tape* tape_;
};

// p(j) = softmax over the valid entries of the logits row; masked entries have p = 0.
class Categorical : public Distribution {
public:
    // logits (n, c); mask (n, c) of 0/1 or nullptr (all valid); every row needs a valid entry.
    explicit Categorical(Var logits, const uint8_t* mask = nullptr);

    int batch_size() const override { return log_probs_.rows(); }
    int event_size() const override { return 1; }
    int num_categories() const { return log_probs_.cols(); }
    void sample(Rng& rng, float* out) const override;
    void sample(Rng& rng, int* out) const;  // the indices as ints
    using Distribution::log_prob;
    // value (n, 1) holds indices; a masked or out-of-range index throws.
    Var log_prob(Var value) const override;
    Var log_prob(const int* idx) const;     // idx (n), must outlive the step
    Var log_probs() const { return log_probs_; }  // (n, c), −inf where masked

private:
    Var log_probs_;
    const uint8_t* mask_;
};

// N(μ_i, diag σ_i²) per row.
class DiagonalGaussian : public Distribution {
public:
    DiagonalGaussian(Var mean, Var std);  // both (n, d); std > 0

    int batch_size() const override { return mean_.rows(); }
    int event_size() const override { return mean_.cols(); }
    void sample(Rng& rng, float* out) const override;
    using Distribution::log_prob;
    Var log_prob(Var value) const override;

private:
    Var mean_, std_;
};

// Per row i and dimension j, a mixture of K Betas on [0, 1]:
// p(r_j) = Σ_k w_jk Beta(r_j; α_jk, β_jk), w_j = softmax(logits_j); dimensions independent.
// Columns are grouped by dimension: component k of dimension j is column j·K + k.
class BetaMixture : public Distribution {
public:
    // logits, alpha, beta (n, d·K); alpha, beta > 0.
    BetaMixture(Var logits, Var alpha, Var beta, int n_components);

    int batch_size() const override { return logits_.rows(); }
    int event_size() const override { return logits_.cols() / K_; }
    int num_components() const { return K_; }
    // Each r is drawn inside the open interval (0, 1) in float: a draw that
    // rounds to 0 or 1 is moved to the nearest float inside.
    void sample(Rng& rng, float* out) const override;
    using Distribution::log_prob;
    Var log_prob(Var value) const override;  // value (n, d) in [0, 1]

private:
    Var logits_, alpha_, beta_;
    int K_;
};

// p(1) = σ(l), p(0) = σ(−l) = 1 − σ(l) for one logit l per row.
class Bernoulli : public Distribution {
public:
    explicit Bernoulli(Var logit);  // (n, 1)

    int batch_size() const override { return logit_.rows(); }
    int event_size() const override { return 1; }
    void sample(Rng& rng, float* out) const override;  // 0 or 1
    using Distribution::log_prob;
    Var log_prob(Var value) const override;  // value (n, 1) of 0/1

private:
    Var logit_;
};

}  // namespace gfn
