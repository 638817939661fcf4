// estimators.h — the networks of a GFlowNet: policies, log Z and log F.
//
// A PolicyEstimator maps a batch of states (and conditions) to log-probabilities
// over actions:
//     logits → invalid actions set to −∞ → exit logit − sf_bias → ÷ temperature
//            → log-softmax → with ε > 0: log((1−ε)·p + ε·uniform over valid actions)
// PF has n_actions outputs (exit last); PB has n_actions − 1 and uses the
// backward masks. Its network is one of
//   - an MLP of its own,
//   - a conditional network: state MLP and condition MLP (the condition seen
//     through Fourier features: c, sin(kπc), cos(kπc), k = 1..4), outputs concatenated,
//     then a final MLP,
//   - a head on another policy's trunk ("tied": all hidden layers shared),
//   - nothing: the uniform PB (all-zero logits, uniform over valid parents).
// Everything is split in trunk (hidden features) and head (last Linear), so a
// tied PB can reuse trunk activations that the PF computation already made.
//
// A ScalarEstimator is log Z: one learnable number, or an MLP of the condition
// (log Z(c)) for conditional GFlowNets.
#pragma once

#include <memory>
#include <string>

#include "engine/nn.h"
#include "gfn/env/env.h"
#include "gfn/estimators/policy.h"
#include "gfn/estimators/preprocessors.h"

namespace gfn {

// Exploration options of a behaviour policy. Gradients never flow through ε.
struct PolicyOptions {
    float temperature = 1.f;
    float epsilon = 0.f;
    float sf_bias = 0.f;
    bool is_default() const { return temperature == 1.f && epsilon == 0.f && sf_bias == 0.f; }
};

struct NetConfig {
    int hidden = 256;
    int n_hidden_layers = 2;
    Activation activation = Activation::Relu;
    // Evaluate the trunk once per distinct state of a batch (see PolicyEstimator::trunk).
    bool distinct_states = true;
};

// A trunk evaluated once per distinct state of a batch of n states: h over the
// `rows` distinct states (`states`, in the order first seen), and the row of each of
// the n states (row_of; null when h is over the n states themselves). Heads run on h
// and their outputs are indexed back: index(head(h)) = head(trunk) per state.
struct IndexedTrunk {
    Var h;
    const int* states = nullptr;  // (rows, state_dim): the states h is over
    int rows = 0;
    const int* row_of = nullptr;  // (n) or null
    int n = 0;
    bool valid() const { return h.valid(); }
    // (rows, c) per distinct state -> (n, c) per state
    Var index(Var per_row) const;
};

// The discrete kind of Policy (policy.h).
class PolicyEstimator : public Policy {
public:
    enum class Kind { Mlp, Conditional, Tied, Uniform };

    // PF or PB with an MLP of its own; parameters go into `store` (group 0).
    static std::unique_ptr<PolicyEstimator> mlp(const DiscreteEnv& env, const Preprocessor& pre, bool backward,
                                                ParamStore& store, const NetConfig& cfg, Rng& rng,
                                                const std::string& name);
    // State MLP (pre → hidden) and condition MLP (condition → hidden), concatenated, then
    // a final MLP with cfg.n_hidden_layers hidden layers.
    static std::unique_ptr<PolicyEstimator> conditional(const DiscreteEnv& env, const Preprocessor& pre,
                                                        bool backward, ParamStore& store, const NetConfig& cfg,
                                                        Rng& rng, const std::string& name);
    // A PB head on the trunk of `pf` (which must be an Mlp or Conditional PF).
    static std::unique_ptr<PolicyEstimator> tied(const PolicyEstimator& pf, ParamStore& store, Rng& rng,
                                                 const std::string& name);
    // Uniform over valid actions (all-zero logits): the uniform PB, or a uniform PF.
    static std::unique_ptr<PolicyEstimator> uniform(const DiscreteEnv& env, bool backward);
    static std::unique_ptr<PolicyEstimator> uniform_pb(const DiscreteEnv& env) { return uniform(env, true); }

    // Hidden features of the trunk (n, hidden_dim). For a tied estimator,
    // the trunk of the policy it is tied to.
    //
    // A batch of unconditioned states that repeat (the backward steps of a
    // rollout, a DB batch's s and s') runs the network once per distinct state
    // and indexes the rows: the same values, and index_rows' backward adds the
    // repeated rows' gradients into their state's row before the GEMMs (the sum
    // in another order: the last float bits may differ). Only when at least a
    // fifth of the rows repeat, and only with NetConfig::distinct_states (the
    // default; `--no-state-dedup` turns it off).
    Var trunk(Tape& tape, const int* states, const float* conditions, int n) const;
    // The same trunk before the rows are indexed (IndexedTrunk; row_of null when every
    // row was evaluated): for heads that should run once per distinct state too.
    IndexedTrunk trunk_indexed(Tape& tape, const int* states, const float* conditions, int n) const;
    // Raw logits (n, n_outputs) from trunk features.
    Var head(Var trunk_out) const;
    // Log-probabilities (n, n_outputs) from trunk features (or, for the uniform
    // PB, from states alone: pass an invalid Var). Masks are computed here.
    Var log_probs_from_trunk(Var trunk_out, Tape& tape, const int* states, int n,
                             const PolicyOptions& opt = PolicyOptions()) const;
    // The same on an indexed trunk: the head and masks over its distinct states, then indexed.
    Var log_probs_from_trunk(const IndexedTrunk& t, Tape& tape, const PolicyOptions& opt = PolicyOptions()) const;
    // trunk + head + masking in one call (once per distinct state when the states
    // repeat, as trunk() decides: the (n, outputs) rows are indexed, not the trunk's).
    Var log_probs(Tape& tape, const int* states, const float* conditions, int n,
                  const PolicyOptions& opt = PolicyOptions()) const;
    // log p(a_k | s_k) of n (state, action) pairs, (n, 1). When the states repeat (as
    // trunk() decides), the whole network — trunk, head and masks — runs once per
    // distinct state and gather_at picks each pair's entry: a batch's backward steps
    // cost their distinct states, not their count.
    Var log_probs_of(Tape& tape, const int* states, const float* conditions, const int* actions, int n) const;

    // The rollout fast path (an Mlp policy): raw logits (n, n_outputs) of n
    // states computed outside the tape, their trunk rows appended to rec; and
    // afterwards the trunk over all recorded rows on the tape.
    bool records_trunk() const { return kind_ == Kind::Mlp; }
    void logits_rows(const int* states, int n, TrunkRecording& rec, std::vector<float>& scratch,
                     float* logits) const;
    Var trunk_from_recording(Tape& tape, TrunkRecording& rec) const { return net_.trunk_from_recording(tape, rec); }

    bool is_backward() const override { return backward_; }
    ActionKind action_kind() const override { return ActionKind::Discrete; }
    const ParamStore* parameter_store() const override { return trunk_owner().store(); }
    Kind kind() const { return kind_; }
    int n_outputs() const;
    const DiscreteEnv& env() const { return env_; }
    // The estimator owning the trunk (itself unless tied).
    const PolicyEstimator& trunk_owner() const { return tied_to_ ? *tied_to_ : *this; }
    ParamStore* store() const { return store_; }
    // Multiply-adds of the trunk and of the head for one row.
    long long trunk_macs_per_row() const;
    long long head_macs_per_row() const;

private:
    PolicyEstimator(const DiscreteEnv& env, bool backward, Kind kind)
        : env_(env), backward_(backward), kind_(kind) {}
    Var trunk_every_row(Tape& tape, const int* states, const float* conditions, int n) const;
    const DiscreteEnv& env_;
    bool backward_;
    Kind kind_;
    bool distinct_states_ = true;
    const Preprocessor* pre_ = nullptr;
    ParamStore* store_ = nullptr;
    MLP net_;                 // Mlp: the whole network; Conditional: the final network
    MLP state_net_, cond_net_;  // Conditional only
    Linear head_;             // Tied only
    const PolicyEstimator* tied_to_ = nullptr;
};

// log F(s), the state flow of DB, SubTB and forward-looking objectives: an MLP
// of the state of its own, or a one-output head on a policy's trunk (which
// also gives conditional flows log F(s | c) when that policy is conditional).
class StateFlowEstimator {
public:
    static std::unique_ptr<StateFlowEstimator> mlp(const DiscreteEnv& env, const Preprocessor& pre,
                                                   ParamStore& store, const NetConfig& cfg, Rng& rng,
                                                   const std::string& name, int group = 0);
    static std::unique_ptr<StateFlowEstimator> tied(const PolicyEstimator& policy, ParamStore& store, Rng& rng,
                                                    const std::string& name, int group = 0);

    // (n, 1) log F of n states (once per distinct state, as PolicyEstimator::trunk).
    Var forward(Tape& tape, const int* states, const float* conditions, int n) const;
    // (n, 1) from trunk features of the policy it is tied to (tied only).
    Var forward_from_trunk(Var trunk_out) const;
    Var forward_from_trunk(const IndexedTrunk& t) const { return t.index(forward_from_trunk(t.h)); }
    bool is_tied() const { return policy_ != nullptr; }
    const PolicyEstimator* tied_to() const { return policy_; }
    long long macs_per_row() const;

private:
    StateFlowEstimator() = default;
    Var forward_every_row(Tape& tape, const int* states, int n) const;
    const DiscreteEnv* env_ = nullptr;
    const Preprocessor* pre_ = nullptr;
    bool distinct_states_ = true;           // standalone
    MLP net_;                               // standalone
    Linear head_;                           // tied
    const PolicyEstimator* policy_ = nullptr;
};

class ScalarEstimator {
public:
    // A single learnable value (log Z), parameter group `group`.
    ScalarEstimator(ParamStore& store, float init, int group, const std::string& name);
    // log Z(c): an MLP of the condition.
    ScalarEstimator(ParamStore& store, int condition_dim, const NetConfig& cfg, Rng& rng, int group,
                    const std::string& name);

    // (n, 1): the value for each row (conditions: (n, condition_dim), or null
    // for the unconditional scalar, which is broadcast as a (1, 1) Var).
    Var forward(Tape& tape, const float* conditions, int n) const;
    bool conditional() const { return conditional_; }
    // The unconditional value (throws for conditional estimators).
    float value() const;
    void set_value(float v);

private:
    ParamStore* store_;
    bool conditional_ = false;
    int param_ = -1;
    int condition_dim_ = 0;
    MLP net_;
};

}  // namespace gfn
