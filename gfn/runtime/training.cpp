// training.cpp — see training.h.
#include "gfn/runtime/training.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <optional>
#include <stdexcept>

#include "engine/blas.h"
#include "engine/ops.h"
#include "envs/bitsequence.h"
#include "envs/discrete_ebm.h"
#include "envs/hypergrid.h"
#include "gfn/objectives/detailed_balance.h"
#include "gfn/objectives/flow_matching.h"
#include "gfn/objectives/policy_gradient.h"
#include "gfn/objectives/soft_dqn.h"
#include "gfn/runtime/checkpoint.h"
#include "gfn/runtime/distributed.h"
#include "gfn/runtime/continuous_training.h"
#include "gfn/samplers/local_search.h"
#include "gfn/samplers/sampler.h"
#include "gfn/objectives/sub_trajectory_balance.h"

namespace gfn {

using Clock = std::chrono::steady_clock;
static double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

static std::unique_ptr<DiscreteEnv> make_env(const Config& c, const std::string& reward) {
    const double ebm_alpha = std::isnan(c.alpha) || c.loss == "trust_pcl" ? 1.0 : c.alpha;
    if (c.env == "hypergrid") return std::make_unique<HyperGrid>(c.ndim, c.height, reward, c.R0, c.R1, c.R2);
    if (c.env == "conditional_hypergrid")
        return std::make_unique<ConditionalHyperGrid>(c.ndim, c.height, reward, c.R0, c.R1, c.R2);
    if (c.env == "discrete_ebm") return std::make_unique<DiscreteEBM>(c.ndim, ebm_alpha);
    if (c.env == "ising") return std::make_unique<DiscreteEBM>(DiscreteEBM::ising(c.L, c.J, ebm_alpha));
    if (c.env == "bitsequence")
        return std::make_unique<BitSequence>(c.word_size, c.seq_size, c.n_modes, c.reward_temperature, c.modes_seed);
    if (c.env == "bitsequence_nar")
        return std::make_unique<BitSequenceNAR>(c.word_size, c.seq_size, c.n_modes, c.reward_temperature,
                                                c.modes_seed);
    throw std::invalid_argument("--env: unknown environment '" + c.env + "'");
}

std::unique_ptr<Run> load_prior_run(const Config& cfg) {
    Config pc = checkpoint_config(cfg.prior);
    if (pc.env != cfg.env)
        throw std::invalid_argument("--prior " + cfg.prior + ": the saved run is --env " + pc.env + ", this one --env " +
                                    cfg.env);
    // The prior writes and prints nothing.
    for (const auto& kv : config_items(Config()))
        if (output_flag(kv.first)) set_flag(pc, kv.first, kv.second);
    pc.resume.clear();
    std::unique_ptr<Run> prior;
    {
        dist::LocalScope local;  // [distributed] every rank reads the same file
        prior = std::make_unique<Run>(pc, false);
        load_checkpoint(*prior, cfg.prior);
    }
    prior->targets.clear();  // the prior is not validated
    prior->mode_seen.clear();
    prior->store.frozen = true;
    return prior;
}

void start_from_prior(ParamStore& posterior, const ParamStore& prior, const std::string& prefix,
                      const std::string& path) {
    for (const Param& p : posterior.params) {
        if (p.name.compare(0, prefix.size(), prefix) != 0) continue;
        const Param* q = nullptr;
        for (const Param& c : prior.params)
            if (c.name == p.name) q = &c;
        if (!q || q->rows != p.rows || q->cols != p.cols)
            throw std::invalid_argument("--prior " + path + ": the saved PF has no parameter " + p.name + " of shape " +
                                        std::to_string(p.rows) + "x" + std::to_string(p.cols) +
                                        " (another architecture: drop --hidden / --layers / --activation to take the "
                                        "prior's)");
        std::copy(prior.values.begin() + long(q->offset), prior.values.begin() + long(q->offset + q->size()),
                  posterior.values.begin() + long(p.offset));
    }
}

Run::Run(const Config& c, bool train_prior) : cfg(c), rng(c.seed) {
    tape.recycle_gradients = true;  // training never reads an intermediate gradient
    validate_config(cfg);
    if (cfg.continuous()) {  // --env line: the continuous kind (continuous_training.cpp)
        build_continuous_run(*this);
        return;
    }
    env = make_env(cfg, cfg.reward);
    preprocessor = make_preprocessor(cfg.preprocessor, *env);
    // (--no-state-dedup: the networks run on every state they are given, in the rollout and the loss)
    const NetConfig net{cfg.hidden, cfg.layers, activation_from_string(cfg.activation), !cfg.no_state_dedup};
    const bool cond = env->condition_dim() > 0;

    // Forward policy, backward policy, log Z.
    pf = cond ? PolicyEstimator::conditional(*env, *preprocessor, false, store, net, rng, "pf")
              : PolicyEstimator::mlp(*env, *preprocessor, false, store, net, rng, "pf");
    if (cfg.uses_pb() && !(env->is_tree() && !cfg.tied && !cfg.uniform_pb)) {
        // (a tree needs no PB: constant_pb, unless one is asked for)
        if (cfg.uniform_pb || cfg.loss == "soft_dqn") pb = PolicyEstimator::uniform_pb(*env);  // (soft_dqn: fixed PB)
        else if (cfg.tied) pb = PolicyEstimator::tied(*pf, store, rng, "pb");
        else pb = cond ? PolicyEstimator::conditional(*env, *preprocessor, true, store, net, rng, "pb")
                       : PolicyEstimator::mlp(*env, *preprocessor, true, store, net, rng, "pb");
    }
    // (Trust-PCL: --init-logz is v_soft(s_0); its constructor fills the empty log Z with v_soft(s_0) / α.)
    if (cfg.loss == "tb" || cfg.loss == "rtb" || cfg.loss == "trust_pcl")
        log_z = cond ? std::make_unique<ScalarEstimator>(store, env->condition_dim(), net, rng, kLogZGroup, "log_z")
                     : std::make_unique<ScalarEstimator>(store, cfg.loss == "trust_pcl" ? 0.f : float(cfg.init_logz),
                                                         kLogZGroup, "log_z");

    if (cfg.uses_log_f())
        log_f = cfg.tied ? StateFlowEstimator::tied(*pf, store, rng, "log_f", kLogFGroup)
                         : StateFlowEstimator::mlp(*env, *preprocessor, store, net, rng, "log_f", kLogFGroup);

    // The frozen prior of the relative objectives.
    if (cfg.relative()) {
        if (cfg.prior == "uniform") {
            uniform_prior = PolicyEstimator::uniform(*env, false);
            prior_pf = uniform_prior.get();
        } else if (cfg.prior_from_file()) {
            prior_run = load_prior_run(cfg);
            if (!prior_run->pf) throw std::invalid_argument("--prior " + cfg.prior + ": the saved run has no discrete PF");
            prior_pf = prior_run->pf.get();
            start_from_prior(store, prior_run->store, "pf", cfg.prior);
        } else {
            Config pc = cfg;
            pc.loss = "tb";
            pc.reward = cfg.prior_reward;
            pc.iterations = cfg.prior_iterations;
            pc.seed = cfg.seed + 7919;
            pc.epsilon = 0; pc.temperature = 1; pc.sf_bias = 0;
            pc.loss_fn = "default";
            pc.log_reward_clip_min = -INFINITY;
            {
                dist::LocalScope local;  // [distributed] the prior is one process's run…
                prior_run = std::make_unique<Run>(pc);
            }
            prior_run->targets.clear();  // the prior is not validated
            prior_run->mode_seen.clear();
            if (train_prior) {
                if (dist::root()) {  // […trained once, on rank 0, and broadcast]
                    dist::LocalScope local;
                    for (int i = 0; i < pc.iterations; ++i) train_step(*prior_run);
                }
                dist::broadcast(prior_run->store.values.data(), prior_run->store.values.size() * sizeof(float));
            }
            prior_run->store.frozen = true;
            prior_pf = prior_run->pf.get();
        }
    }

    // The objective.
    const float clip = float(cfg.log_reward_clip_min);
    std::optional<RegressionLoss> g;
    if (cfg.loss_fn != "default") g = RegressionLoss::from_string(cfg.loss_fn, float(cfg.linex_alpha));
    const bool constant_pb = pb == nullptr;
    if (cfg.loss == "tb")
        gflownet = std::make_unique<TBGFlowNet>(pf.get(), pb.get(), log_z.get(), constant_pb, clip, g);
    else if (cfg.loss == "lpv")
        gflownet = std::make_unique<LogPartitionVarianceGFlowNet>(pf.get(), pb.get(), constant_pb, clip, g);
    else if (cfg.loss == "rtb")
        gflownet = std::make_unique<RelativeTrajectoryBalanceGFlowNet>(pf.get(), prior_pf, log_z.get(),
                                                                       float(cfg.beta), clip, g);
    else if (cfg.loss == "relative_lpv")
        gflownet = std::make_unique<RelativeLogPartitionVarianceGFlowNet>(pf.get(), prior_pf, float(cfg.beta), clip, g);
    else if (cfg.loss == "db")
        gflownet = std::make_unique<DBGFlowNet>(pf.get(), pb.get(), log_f.get(), cfg.forward_looking, constant_pb, clip, g);
    else if (cfg.loss == "modified_db")
        gflownet = std::make_unique<ModifiedDBGFlowNet>(pf.get(), pb.get(), constant_pb, g);
    else if (cfg.loss == "subtb")
        gflownet = std::make_unique<SubTBGFlowNet>(pf.get(), pb.get(), log_f.get(), float(cfg.lambda),
                                                   subtb_weighting_from_string(cfg.subtb_weighting),
                                                   cfg.forward_looking, constant_pb, clip, g);
    else if (cfg.loss == "fm")
        gflownet = std::make_unique<FMGFlowNet>(pf.get(), float(cfg.fm_alpha), g);
    else if (cfg.loss == "vpg")
        gflownet = std::make_unique<PolicyGradientGFlowNet>(
            pf.get(), pb.get(), log_f.get(), advantage_from_string(cfg.advantage), float(cfg.gae_lambda), constant_pb,
            clip, cfg.pb_loss == "tlm", float(cfg.value_weight), g, critic_loss_from_string(cfg.critic_loss),
            float(cfg.lambda));
    else if (cfg.loss == "ppo")
        gflownet = std::make_unique<EntPPOGFlowNet>(
            pf.get(), pb.get(), log_f.get(), PPOOptions{float(cfg.ppo_clip), cfg.ppo_epochs, cfg.ppo_minibatches},
            float(cfg.gae_lambda), constant_pb, clip, cfg.pb_loss == "tlm", float(cfg.value_weight), g,
            critic_loss_from_string(cfg.critic_loss), float(cfg.lambda));
    else if (cfg.loss == "soft_dqn") {
        // The target network: PF's architecture (initialised on a scratch stream, then PF's values).
        Rng scratch(cfg.seed);
        target_pf = cond ? PolicyEstimator::conditional(*env, *preprocessor, false, target_store, net, scratch, "pf")
                         : PolicyEstimator::mlp(*env, *preprocessor, false, target_store, net, scratch, "pf");
        polyak_update(target_store, store, 1.f);
        target_store.frozen = true;
        SoftDQNOptions o{float(cfg.target_tau), cfg.target_update_every, cfg.munchausen, float(cfg.munchausen_alpha),
                         float(cfg.munchausen_clip)};
        gflownet = std::make_unique<SoftDQNGFlowNet>(pf.get(), target_pf.get(), pb.get(), o, clip, g);
    } else if (cfg.loss == "trust_pcl") {
        const float alpha = std::isnan(cfg.alpha) ? float(1.0 / cfg.beta) : float(cfg.alpha);
        gflownet = std::make_unique<TrustPCLGFlowNet>(pf.get(), prior_pf, log_z.get(), alpha,
                                                      float(cfg.init_logz), clip, g);
    }

    if (balance_tlm(cfg) && !pb)  // (--uniform-pb and --tied are refused by validate_config)
        throw std::invalid_argument("--pb-loss tlm: --env " + cfg.env + " is a tree (PB = 1) and --loss " + cfg.loss +
                                    " learns no PB here");

    const OptimizerKind kind = cfg.optimizer == "sgd"     ? OptimizerKind::SGD
                               : cfg.optimizer == "adamw" ? OptimizerKind::AdamW
                                                          : OptimizerKind::Adam;
    optimizer = std::make_unique<Optimizer>(
        store, kind,
        std::vector<ParamGroup>{
            {float(cfg.lr), float(cfg.weight_decay)}, {float(cfg.lr_logz), 0.f}, {float(cfg.lr_logf), float(cfg.weight_decay)}});

    // Off-policy machinery.
    if (cfg.local_search > 0 && !pb) uniform_pb = PolicyEstimator::uniform_pb(*env);
    if (cfg.replay_buffer > 0 && cfg.loss == "soft_dqn") {
        buffer = std::make_unique<TransitionReplayBuffer>(cfg.replay_buffer, *env);
    } else if (cfg.replay_buffer > 0) {
        ReplayBufferOptions o;
        o.cutoff_distance = cfg.cutoff_distance;
        o.p_norm_distance = cfg.p_norm_distance;
        o.env = env.get();
        o.pb = pb.get();
        buffer = make_replay_buffer(cfg.buffer, cfg.replay_buffer, o);
    }

    // [distributed] Every rank starts from rank 0's parameters; rank r > 0
    // samples on its own stream of the seed (rank 0 keeps the one that
    // initialised the networks, so one rank is today's single process).
    dist::broadcast(store.values.data(), store.values.size() * sizeof(float));
    if (dist::rank() > 0) rng = rank_stream(cfg.seed, dist::rank());

    build_targets();
}

Rng rank_stream(uint64_t seed, int rank) { return Rng(seed, 0xda3e39cb94b95bdbULL + uint64_t(rank)); }

void Run::build_targets() {
    const bool cond = env->condition_dim() > 0;
    targets.clear();
    target_conditions.clear();
    if (env->enumerable()) {
        if (cond) {
            for (float cv : parse_conditions(cfg.validation_conditions)) {
                targets.push_back(true_distribution(*env, &cv));
                target_conditions.push_back(cv);
            }
        } else if (cfg.relative()) {
            // The objective's β (Trust-PCL: 1/α).
            const float beta = static_cast<const RelativeTBBase&>(*gflownet).beta;
            targets.push_back(relative_target(*env, *prior_pf, beta));
        } else {
            targets.push_back(true_distribution(*env));
        }
        if (mode_seen.size() != size_t(targets.back().n_terminal()))
            mode_seen.assign(size_t(targets.back().n_terminal()), 0);
    } else if (!cond && !cfg.relative()) {
        have_exact_log_partition = env->exact_log_partition(&exact_log_z, &exact_mean_log_reward);
    }
}

long long Run::macs_per_state() const {
    if (continuous_pf)
        return continuous_pf->macs_per_row() + (continuous_pb ? continuous_pb->macs_per_row() : 0) +
               (continuous_log_f ? continuous_log_f->macs_per_row() : 0);
    long long m = pf->trunk_macs_per_row() + pf->head_macs_per_row();
    if (pb) m += pb->kind() == PolicyEstimator::Kind::Tied ? pb->head_macs_per_row()
                                                           : pb->trunk_macs_per_row() + pb->head_macs_per_row();
    if (log_f) m += log_f->macs_per_row();
    return m;
}

namespace {

const char* const kGroupNames[3] = {"the networks", "log Z", "log F"};
const char* const kGroupFlags[3] = {"--lr", "--lr-logz", "--lr-logf"};

int group_of(const Param& p) { return p.group >= 0 && p.group < 3 ? p.group : kNetworkGroup; }

// Per parameter group: does `slab` (laid out like the store's values) hold a NaN or inf?
void mark_non_finite(const ParamStore& store, const std::vector<float>& slab, bool bad[3]) {
    if (slab.size() != store.values.size()) return;  // e.g. SGD without momentum keeps no moments
    for (const Param& p : store.params) {
        const int g = group_of(p);
        for (size_t i = p.offset; i < p.offset + p.size() && !bad[g]; ++i)
            if (!std::isfinite(slab[i])) bad[g] = true;
    }
}

// "the networks and log Z"; "try a smaller --lr or --lr-logz".
std::string groups_text(const bool which[3]) {
    std::string s;
    for (int g = 0, n = 0; g < 3; ++g)
        if (which[g]) s += std::string(n++ ? " and " : "") + kGroupNames[g];
    return s;
}
std::string flags_text(const bool which[3]) {
    std::string s = "try a smaller ";
    for (int g = 0, n = 0; g < 3; ++g)
        if (which[g]) s += std::string(n++ ? " or " : "") + kGroupFlags[g];
    return s;
}

// No float network survives parameters this large: two layers of such weights
// already multiply past float's 3.4e38. Healthy parameters stay far below.
constexpr double kRunawayMagnitude = 1e12;

// Why the run's state looks diverged, naming the groups and their flags; ""
// when it is finite and of sane magnitude (then an error is not a divergence).
std::string divergence_hint(const Run& run) {
    std::string bad = non_finite_state(run);
    if (!bad.empty()) return bad;
    bool big[3] = {false, false, false};
    double largest = 0;
    for (const Param& p : run.store.params)
        for (size_t i = p.offset; i < p.offset + p.size(); ++i) {
            const double a = std::fabs(double(run.store.values[i]));
            if (a > kRunawayMagnitude) big[group_of(p)] = true;
            largest = std::max(largest, a);
        }
    if (!big[0] && !big[1] && !big[2]) return "";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", largest);
    return "the parameters of " + groups_text(big) + " reach " + buf + " (" + flags_text(big) + ")";
}

[[noreturn]] void diverged(const Run& run, int iteration, const std::string& what) {
    std::string hint = divergence_hint(run);
    if (hint.empty())
        hint = std::string("(try a smaller --lr or --lr-logz") + (run.log_f ? " or --lr-logf" : "") +
               ", or --clip-grad-norm)";
    throw std::runtime_error("training diverged at iteration " + std::to_string(iteration) + ": " + what + "; " + hint);
}

}  // namespace

std::string non_finite_state(const Run& run) {
    bool values[3] = {false, false, false}, moments[3] = {false, false, false};
    mark_non_finite(run.store, run.store.values, values);
    if (run.optimizer) {
        mark_non_finite(run.store, run.optimizer->m, moments);
        mark_non_finite(run.store, run.optimizer->v, moments);
    }
    if (!values[0] && !values[1] && !values[2] && !moments[0] && !moments[1] && !moments[2]) return "";
    std::string s = "NaN or inf in ";
    if (values[0] || values[1] || values[2]) s += "the parameters of " + groups_text(values);
    if (moments[0] || moments[1] || moments[2])
        s += std::string(values[0] || values[1] || values[2] ? " and " : "") + "the optimizer moments of " +
             groups_text(moments);
    const bool any[3] = {values[0] || moments[0], values[1] || moments[1], values[2] || moments[2]};
    return s + " (" + flags_text(any) + ")";
}

void check_finite_state(const Run& run) {
    const std::string bad = non_finite_state(run);
    if (!bad.empty())
        throw std::runtime_error("training diverged at iteration " + std::to_string(run.iteration) + ": " + bad);
}

// [distributed] How many items this batch's mean-reduced loss averages over:
// transitions for DB (and SubTB weighted as DB), non-exit transitions for
// modified DB (and SubTB weighted so), trajectories for the rest. Weighting the ranks by it makes their
// averaged gradient the single process's on the union of their batches (exactly
// for TB, RTB, Trust-PCL, DB, modified DB and SubTB's geometric_within and db
// weightings; LPV's batch mean, FM's two means and SubTB's other, batch-wide
// weightings are per rank, so there it is the average of per-rank objectives).
static double loss_items(const Run& run, const Trajectories& t) {
    const std::string& l = run.cfg.loss;
    if (l == "db" || (l == "subtb" && run.cfg.subtb_weighting == "db")) return t.n_steps();
    if (l == "modified_db" || (l == "subtb" && run.cfg.subtb_weighting == "modified_db")) return t.n_steps() - t.n;
    return t.n;
}

// Gradient clipping (it also measures the norm) and one optimizer step at this step's learning rates.
static void optimize(Run& run, StepStats& st, int step) {
    // The gradient norm (clipping computes it; with --clip-grad-norm 0 it only measures).
    st.grad_norm = clip_grad_norm(run.store, run.cfg.clip_grad_norm);
    if (!std::isfinite(st.grad_norm)) diverged(run, step, "the gradient norm is " + std::to_string(st.grad_norm));
    if (run.cfg.gradient_clip_value > 0) clamp_network_gradients(run.store, float(run.cfg.gradient_clip_value));
    // Learning rates of this step: the base rates, or cosine-decayed ones
    // lr_t = lr · (1 + cos(π t / T)) / 2, t = steps taken, T = --iterations.
    const double base[3] = {run.cfg.lr, run.cfg.lr_logz, run.cfg.lr_logf};
    double factor = 1.0;
    if (run.cfg.lr_schedule == "cosine" && run.cfg.iterations > 0)
        factor = 0.5 * (1.0 + std::cos(3.141592653589793 * std::min(1.0, double(run.iteration) / run.cfg.iterations)));
    // step (torchgfn's MultiStepLR): lr_t = lr · γ^⌊t / milestone⌋
    if (run.cfg.lr_schedule == "step")
        factor = std::pow(run.cfg.gamma_scheduler,
                          double(run.iteration / std::max(1, run.cfg.scheduler_milestone > 0
                                                                  ? run.cfg.scheduler_milestone
                                                                  : run.cfg.iterations / 3)));
    for (size_t g = 0; g < run.optimizer->groups.size() && g < 3; ++g)
        run.optimizer->groups[g].lr = float(base[g] * factor);
    run.optimizer->step();
}

// The rows the networks ran on for a batch, where known: the recorded rollout counts its
// distinct states (which an untied PB and log F, indexed, also run on); a continuous batch
// and --no-state-dedup run on every step. The other discrete paths (exploring, off-policy,
// PPO, Soft DQN) index their repeated states inside the loss: −1, not counted.
static long long rows_evaluated(const Run& run, const Trajectories& b) {
    if (b.evaluated_states >= 0) return b.evaluated_states;
    return run.continuous_pf || run.cfg.no_state_dedup ? b.n_steps() : -1;
}

static StepStats finish_step(Run& run, StepStats& st, const Trajectories& trained_on) {
    ++run.iteration;
    st.n_states = trained_on.n_steps();
    st.n_evaluated = rows_evaluated(run, trained_on);
    if (!run.mode_seen.empty() && run.env->enumerable()) {
        const TargetDistribution& t = run.targets.back();
        for (int i = 0; i < run.batch.n; ++i) {
            long long k = t.terminal_of[size_t(run.env->state_index(run.batch.terminal_state(i)))];
            if (k >= 0 && t.is_mode[size_t(k)]) run.mode_seen[size_t(k)] = 1;
        }
    }
    return st;
}

// [distributed] The global loss: the ranks' losses weighted by the items they average
// over, L = Σ_r w_r L_r / W, W = Σ_r w_r (every rank sees it, so all stop alike).
// Returns L and puts W in *total (one process: the loss itself, W = items).
static double global_loss(double items, double loss, double* total) {
    double weight[2] = {items, items * loss};
    if (dist::size() > 1) dist::allreduce_sum(weight, 2);
    *total = weight[0];
    return dist::size() > 1 ? (weight[0] > 0 ? weight[1] / weight[0] : 0.0) : loss;
}

// [distributed] ∇L = Σ_r (w_r / W) ∇L_r: one all-reduce over the whole gradient slab
// (networks, log Z, log F), so every rank's optimizer step is the same. Nothing to do
// in one process.
static void average_gradients(Run& run, double items, double total) {
    if (dist::size() == 1) return;
    const float scale = total > 0 ? float(items / total) : 0.f;
    for (float& g : run.store.grads) g *= scale;
    const auto tr = Clock::now();
    dist::allreduce_sum(run.store.grads.data(), run.store.grads.size());
    dist::add_allreduce_seconds(seconds_since(tr));
}

bool balance_tlm(const Config& c) {
    return c.pb_loss == "tlm" && (c.loss == "tb" || c.loss == "db" || c.loss == "subtb");
}

void backward_step(Run& run, Var loss, Var tlm) {
    run.store.zero_grad();
    run.tape.backward(loss);
    if (!tlm.valid()) return;
    // ∇_PB = ∇_PB L_TLM alone: the balance loss's gradient into PB's parameters (named
    // "pb.…", its own: --tied is refused) is dropped, which is that loss with PB
    // detached, since no other estimator reads them; then L_TLM's is added.
    for (const Param& p : run.store.params)
        if (p.name.compare(0, 3, "pb.") == 0)
            std::fill(run.store.grads.begin() + long(p.offset), run.store.grads.begin() + long(p.offset + p.size()),
                      0.f);
    run.tape.backward(tlm);
}

// PPO's updates on one rollout: the advantages and π_old frozen once, then K epochs
// over S minibatches, each loss → backward → optimize on a fresh tape. st.loss is
// the mean loss of the updates, st.grad_norm the last update's.
static void ppo_updates(Run& run, StepStats& st, int step, const Trajectories& batch) {
    const auto& ppo = static_cast<const EntPPOGFlowNet&>(*run.gflownet);
    auto t0 = Clock::now();
    const FrozenRollout fr = ppo.freeze(run.tape, batch, true, nullptr, /*all_actions=*/true);
    run.batch.drop_saved();
    const std::vector<std::vector<int>> rows = ppo.minibatch_rows(batch.n, run.rng);
    const bool whole = ppo.opt.minibatches == 1;
    double loss_sum = 0;
    for (const std::vector<int>& r : rows) {
        run.tape.reset();
        Trajectories mb;
        FrozenRollout mfr;
        if (!whole) {
            mb = select_trajectories(batch, r);
            mfr = select_frozen(batch, fr, r);
        }
        Var loss = ppo.update_loss(run.tape, whole ? batch : mb, whole ? fr : mfr);
        // [distributed] The minibatch loss of all ranks, weighted by their minibatch sizes.
        const double items = double(r.size());
        double total = 0;
        const double l = global_loss(items, loss.item(), &total);
        if (!std::isfinite(l)) diverged(run, step, "the loss is " + std::to_string(l));
        loss_sum += l;
        st.times.loss += seconds_since(t0);
        t0 = Clock::now();
        run.store.zero_grad();
        run.tape.backward(loss);
        average_gradients(run, items, total);
        st.times.backward += seconds_since(t0);
        t0 = Clock::now();
        optimize(run, st, step);
        st.times.optimize += seconds_since(t0);
        t0 = Clock::now();
    }
    st.loss = loss_sum / double(rows.size());
}

// Soft DQN's update on one batch: its transitions (or, with a transition buffer, as
// many drawn uniformly from the buffer after adding them), one loss → backward →
// optimize, then θ̄ ← (1 − τ) θ̄ + τ θ when the target update is due.
static void soft_dqn_update(Run& run, StepStats& st, int step) {
    const auto& dqn = static_cast<const SoftDQNGFlowNet&>(*run.gflownet);
    auto t0 = Clock::now();
    Transitions fresh = transitions_from(*run.env, run.batch, false), replayed;
    fresh.drop_saved();
    const Transitions* on = &fresh;
    if (run.buffer) {
        auto& tb = static_cast<TransitionReplayBuffer&>(*run.buffer);
        tb.add_transitions(fresh);
        tb.sample_transitions(fresh.n, run.rng, replayed);
        on = &replayed;
    }
    Var loss = dqn.loss(run.tape, *on);
    // [distributed] The loss of all ranks, weighted by their transition counts (as train_step).
    const double items = double(on->n);
    double total = 0;
    st.loss = global_loss(items, loss.item(), &total);
    if (!std::isfinite(st.loss)) diverged(run, step, "the loss is " + std::to_string(st.loss));
    st.times.loss = seconds_since(t0);
    t0 = Clock::now();
    run.store.zero_grad();
    run.tape.backward(loss);
    average_gradients(run, items, total);
    st.times.backward = seconds_since(t0);
    t0 = Clock::now();
    optimize(run, st, step);
    if (dqn.target_update_due(step)) polyak_update(run.target_store, run.store, dqn.opt.target_tau);
    st.times.optimize = seconds_since(t0);
}

// A rollout of n trajectories with the run's exploration, keeping log-probs when
// on-policy, its trunk recorded into `recording`.
static SampleRequest sample_request(const Run& run, int n, TrunkRecording& recording) {
    SampleRequest req;
    req.n = n;
    req.exploration = PolicyOptions{float(run.cfg.temperature), float(run.cfg.epsilon), float(run.cfg.sf_bias)};
    req.save_log_probs = run.on_policy();
    req.recording = &recording;
    req.dedup_states = !run.cfg.no_state_dedup;
    return req;
}

// Whether a rank's batch is many trajectories on few states (fewer than
// kShardMinStatesPerTrajectory per trajectory): its networks then run on about the
// same distinct states whatever the batch, and a second thread cannot pay.
static bool few_states(const Run& run) {
    if (!run.env || run.cfg.no_state_dedup) return false;
    const long long states = run.env->n_states();  // -1: more than it counts
    return states >= 0 && states < kShardMinStatesPerTrajectory * dist::my_share(run.cfg.batch_size);
}

// The objective when it is centred on its batch's mean score with a squared g (LPV,
// relative LPV): a split step then takes two passes (sharded_step). Else null.
static const TrajectoryBasedGFlowNet* centred_objective(const Run& run) {
    const auto* tb = dynamic_cast<const TrajectoryBasedGFlowNet*>(run.gflownet.get());
    return tb && tb->splits_about_a_centre() ? tb : nullptr;
}

bool sharded_steps(const Run& run, int threads) {
    const Config& c = run.cfg;
    if (threads < 2 || run.buffer || run.diffusion_search || c.local_search > 0 || balance_tlm(c)) return false;
    const int per_thread = run.continuous_env ? kShardMinContinuousTrajectories : kShardMinTrajectories;
    const int share = dist::my_share(c.batch_size);
    if (share < per_thread * threads) return false;
    if (few_states(run)) return false;
    // Losses whose value on the union of the shards is the shards' losses weighted by
    // their items (loss_items): so the summed gradient is the one-thread gradient.
    // The same on continuous envs (TB, RTB with its prior; DB and SubTB run the
    // discrete SubTB kernel, gfn/objectives/continuous_balance.h); modified DB has
    // no continuous form. LPV and relative LPV with a squared g split in two passes (the
    // shards' scores, then their losses about the whole batch's mean: centred_objective);
    // the rest (Trust-PCL, MLE, LPV with another g) stay whole.
    const bool subtb_exact = c.loss == "subtb" && (c.subtb_weighting == "geometric_within" ||
                                                   c.subtb_weighting == "db" || c.subtb_weighting == "tb");
    return c.loss == "tb" || c.loss == "rtb" || c.loss == "db" || c.loss == "modified_db" || subtb_exact ||
           centred_objective(run);
}

// Steps 1–3 data-parallel on T threads (training.h): thread t samples its share
// n_t of this rank's batch from its own stream (a continuous env through
// sample_continuous_batch, at the step's exploration std), computes its loss L_t (a mean over
// its w_t items) and ∇L_t into its own slab; then
//     L = Σ_t w_t L_t / W,     ∇L = Σ_t (w_t / W) ∇L_t,     W = Σ_t w_t,
// the loss and gradient of the whole batch. A centred objective (LPV) takes two passes:
// each thread's scores s, then, about the batch's mean c = Σ s / n (shared by the
// threads), its L_t = mean_i g(s_i − c). run.batch becomes the shards' batches
// concatenated (for the modes seen and the states counted).
static void sharded_step(Run& run, StepStats& st, int step, int T) {
    const int n = dist::my_share(run.cfg.batch_size);
    while (int(run.shards.size()) < T) {
        run.shards.push_back(std::make_unique<Run::Shard>());
        run.shards.back()->tape.recycle_gradients = true;
    }
    // Each thread's stream, drawn from the training stream (which a checkpoint saves).
    std::vector<Rng> rngs;
    for (int t = 0; t < T; ++t) {
        const uint64_t hi = run.rng.next_u32(), lo = run.rng.next_u32();
        rngs.emplace_back((hi << 32) | lo, uint64_t(t) + 1);
    }
    std::vector<double> items(size_t(T), 0.0), losses(size_t(T), 0.0), seconds(size_t(3 * T), 0.0);
    // A thread's exception, kept as is (its type tells a bad configuration, std::invalid_argument /
    // std::domain_error, from a divergence) and rethrown on the calling thread.
    std::vector<std::exception_ptr> errors(static_cast<size_t>(T));
    const size_t P = run.store.grads.size();
    const TrajectoryBasedGFlowNet* centred = centred_objective(run);
    std::vector<Var> scores(static_cast<size_t>(T));
    std::vector<double> score_sums(static_cast<size_t>(T), 0.0), score_counts(static_cast<size_t>(T), 0.0);
    double centre = 0.0;
    bool failed = false;
#pragma omp parallel num_threads(T)
    {
        const int t = omp_get_thread_num();
        Run::Shard& sh = *run.shards[size_t(t)];
        // The loss of this shard, its backward, and the phases' seconds.
        auto loss_and_backward = [&](auto shard_loss) {
            auto t0 = Clock::now();
            Var loss = shard_loss();
            losses[size_t(t)] = loss.item();
            items[size_t(t)] = loss_items(run, sh.batch);
            seconds[size_t(3 * t + 1)] += seconds_since(t0);
            t0 = Clock::now();
            sh.tape.backward(loss);
            seconds[size_t(3 * t + 2)] = seconds_since(t0);
        };
        const bool recalc = !run.on_policy();
        try {
            auto t0 = Clock::now();
            sh.tape.reset();
            sh.batch.drop_saved();
            sh.grads.assign(P, 0.f);
            sh.tape.redirect_parameter_gradients(run.store.grads.data(), P, sh.grads.data());
            if (run.continuous_env) {
                sample_continuous_batch(run, dist::share(n, t, T), rngs[size_t(t)], sh.tape, sh.batch);
            } else {
                const SampleRequest req = sample_request(run, dist::share(n, t, T), sh.recording);
                sample_trajectories(*run.env, *run.pf, run.pb.get(), req, rngs[size_t(t)], sh.tape, sh.batch);
            }
            seconds[size_t(3 * t)] = seconds_since(t0);
            if (centred) {  // pass 1: the scores
                t0 = Clock::now();
                scores[size_t(t)] = centred->get_scores(sh.tape, sh.batch, recalc);
                const Tensor v = scores[size_t(t)].value();
                for (size_t i = 0; i < v.size(); ++i) score_sums[size_t(t)] += double(v.data[i]);
                score_counts[size_t(t)] = double(v.size());
                seconds[size_t(3 * t + 1)] = seconds_since(t0);
            } else {
                loss_and_backward([&] { return run.gflownet->loss(sh.tape, sh.batch, recalc); });
            }
        } catch (...) {
            errors[size_t(t)] = std::current_exception();
        }
        if (centred) {
            // c = Σ_t Σ_i s_i / n over the whole batch (every thread reaches the barrier,
            // also after an error: then no thread goes on)
#pragma omp barrier
#pragma omp single
            {
                double total = 0.0, count = 0.0;
                for (int u = 0; u < T; ++u) {
                    total += score_sums[size_t(u)];
                    count += score_counts[size_t(u)];
                    failed = failed || errors[size_t(u)];
                }
                centre = count > 0 ? total / count : 0.0;
            }
            if (!failed) try {  // pass 2: L_t = mean_i g(s_i − c)
                    loss_and_backward(
                        [&] { return centred->centred_loss(scores[size_t(t)], float(centre), Reduction::Mean); });
                } catch (...) {
                    errors[size_t(t)] = std::current_exception();
                }
        }
        sh.tape.redirect_parameter_gradients(nullptr, 0, nullptr);
    }
    for (const std::exception_ptr& e : errors)
        if (e) {
            if (divergence_hint(run).empty()) std::rethrow_exception(e);
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                diverged(run, step, x.what());
            }
        }
    // The phases of the slowest thread (the threads run side by side; the step waits for it).
    int slowest = 0;
    for (int t = 1; t < T; ++t)
        if (seconds[size_t(3 * t)] + seconds[size_t(3 * t + 1)] + seconds[size_t(3 * t + 2)] >
            seconds[size_t(3 * slowest)] + seconds[size_t(3 * slowest + 1)] + seconds[size_t(3 * slowest + 2)])
            slowest = t;
    st.times.sample = seconds[size_t(3 * slowest)];
    st.times.loss = seconds[size_t(3 * slowest + 1)];
    auto t0 = Clock::now();
    double w = 0, wl = 0;
    for (int t = 0; t < T; ++t) w += items[size_t(t)], wl += items[size_t(t)] * losses[size_t(t)];
    double total = 0;
    st.loss = global_loss(w, w > 0 ? wl / w : 0.0, &total);  // [distributed] and over the ranks
    if (!std::isfinite(st.loss)) diverged(run, step, "the loss is " + std::to_string(st.loss));
    std::vector<float> scale(static_cast<size_t>(T));
    for (int t = 0; t < T; ++t) scale[size_t(t)] = w > 0 ? float(items[size_t(t)] / w) : 0.f;
    float* g = run.store.grads.data();
#pragma omp parallel for num_threads(T) schedule(static)
    for (long long i = 0; i < (long long)P; ++i) {
        float s = 0.f;
        for (int t = 0; t < T; ++t) s += scale[size_t(t)] * run.shards[size_t(t)]->grads[size_t(i)];
        g[i] = s;
    }
    average_gradients(run, w, total);  // [distributed] one all-reduce of the weighted slab
    st.times.backward = seconds[size_t(3 * slowest + 2)] + seconds_since(t0);
    t0 = Clock::now();
    optimize(run, st, step);
    st.times.optimize = seconds_since(t0);
    long long evaluated = 0;  // −1 when a shard's are not counted
    for (int t = 0; t < T && evaluated >= 0; ++t) {
        const long long r = rows_evaluated(run, run.shards[size_t(t)]->batch);
        evaluated = r < 0 ? -1 : evaluated + r;
    }
    std::vector<const Trajectories*> parts;
    for (int t = 0; t < T; ++t) parts.push_back(&run.shards[size_t(t)]->batch);
    concatenate_into(parts, run.batch);
    run.batch.evaluated_states = evaluated;
}

StepStats train_step(Run& run) {
    StepStats st;
    const int step = run.iteration + 1;  // the iteration this step completes
    run.tape.reset();
    run.batch.drop_saved();
    if (sharded_steps(run, num_threads())) {
        st.threads = num_threads();
        sharded_step(run, st, step, num_threads());
        return finish_step(run, st, run.batch);
    }
    // On few states the whole step runs on one thread (docs/engine.md, "Threads"): its
    // loops over the batch's steps are too short for a second thread's wake-up to pay.
    std::optional<OneThread> one_thread;
    if (num_threads() > 1 && few_states(run)) one_thread.emplace();
    st.threads = num_threads();

    const Trajectories* train_on = &run.batch;
    Var loss, tlm;  // tlm: L_TLM beside TB, DB or SubTB (--pb-loss tlm)
    try {
        // 1. sample
        auto t0 = Clock::now();
        // [distributed] this rank's share of the global batch
        const SampleRequest req = sample_request(run, dist::my_share(run.cfg.batch_size), run.recording);
        if (run.continuous_env)
            sample_continuous_batch(run);
        else
            sample_trajectories(*run.env, *run.pf, run.pb.get(), req, run.rng, run.tape, run.batch);
        if (run.cfg.local_search > 0) {
            // Improve the batch: back off with PB, re-roll with PF, keep by the acceptance rule.
            LocalSearchOptions ls;
            ls.back_ratio = run.cfg.back_ratio;
            ls.n_loops = run.cfg.local_search;
            ls.use_metropolis_hastings = run.cfg.local_search_mh;
            LocalSearchResult r = local_search(*run.env, *run.pf, run.pb ? *run.pb : *run.uniform_pb, run.batch, ls,
                                               run.rng, run.tape);
            st.local_search_acceptance = r.acceptance_rate();
            run.batch = std::move(r.all);
        }
        if (run.cfg.loss == "soft_dqn") {
            st.times.sample = seconds_since(t0);
            soft_dqn_update(run, st, step);
            return finish_step(run, st, run.batch);
        }
        if (run.buffer) {
            // Train on the fresh batch and as many buffered trajectories (once the buffer holds them).
            run.buffer->add(run.batch);
            if (run.buffer->size() >= req.n) {
                run.buffer->sample(req.n, run.rng, run.replayed);
                run.mixed = concatenate(run.batch, run.replayed);
                train_on = &run.mixed;
            }
        }
        st.times.sample = seconds_since(t0);

        // 2. loss
        t0 = Clock::now();
        if (run.gflownet->updates_per_batch() > 1) {
            ppo_updates(run, st, step, *train_on);
            return finish_step(run, st, *train_on);
        }
        loss = run.gflownet->loss(run.tape, *train_on, /*recalculate_all_logprobs=*/!run.on_policy());
        if (balance_tlm(run.cfg)) tlm = tlm_loss(run.tape, *train_on, *run.pb, Reduction::Mean);
        st.times.loss = seconds_since(t0);
    } catch (const std::exception& e) {
        // NaN log-probabilities and the like: a divergence when the parameters show it.
        if (divergence_hint(run).empty()) throw;
        diverged(run, step, e.what());
    }
    // [distributed] The global loss over the ranks (global_loss).
    const double items = loss_items(run, *train_on);
    double total = 0;
    st.loss = global_loss(items, loss.item() + (tlm.valid() ? tlm.item() : 0.0), &total);
    if (!std::isfinite(st.loss)) diverged(run, step, "the loss is " + std::to_string(st.loss));

    // 3. backward
    auto t0 = Clock::now();
    backward_step(run, loss, tlm);
    average_gradients(run, items, total);  // [distributed] one all-reduce of the weighted slab
    st.times.backward = seconds_since(t0);

    // 4. optimize
    t0 = Clock::now();
    optimize(run, st, step);
    st.times.optimize = seconds_since(t0);
    return finish_step(run, st, *train_on);
}

Metrics validate_run(Run& run) {
    if (run.continuous_env) return validate_continuous_run(run);
    Metrics m;
    // [distributed] The modes every rank's batches have visited.
    dist::allreduce_max(run.mode_seen.data(), run.mode_seen.size());
    // [distributed] Rank r's validation samples come from its own stream (rank 0's is the single process's).
    const uint64_t rank_offset = uint64_t(dist::rank()) << 40;
    m.iteration = run.iteration;
    if (run.have_exact_log_partition) {
        // No enumeration: compare log Z and the mean log-reward of fresh samples with their exact values.
        Rng vrng(run.cfg.seed ^ 0x9e3779b97f4a7c15ULL, 0x51ed270b27ULL + uint64_t(run.iteration) * 2 + 1 + rank_offset);
        ValidationResult v;
        v.n_samples = run.cfg.validation_samples;
        v.l1 = v.exact_l1 = v.jsd = std::nan("");
        v.logz = run.gflownet->log_z();
        v.logz_true = run.exact_log_z;
        v.mean_log_reward = sample_mean_log_reward(*run.env, *run.pf, run.cfg.validation_samples, vrng);
        v.mean_log_reward_true = run.exact_mean_log_reward;
        m.validation.push_back(v);
    }
    for (size_t k = 0; k < run.targets.size(); ++k) {
        // Fresh samples on their own stream, so validation never perturbs training.
        Rng vrng(run.cfg.seed ^ 0x9e3779b97f4a7c15ULL, 0x51ed270b27ULL + uint64_t(run.iteration) * 2 + 1 + rank_offset);
        const float* cond = run.target_conditions.empty() ? nullptr : &run.target_conditions[k];
        ValidationResult v = validate(*run.env, *run.pf, run.targets[k], run.cfg.validation_samples, vrng, cond);
        if (run.log_z) {
            if (run.log_z->conditional()) {
                Tape t;
                NoGrad ng(t);
                v.logz = run.log_z->forward(t, cond, 1).item();
            } else {
                v.logz = run.log_z->value();
            }
        } else {
            v.logz = run.gflownet->log_z();  // SubTB, FM: their own estimate; NaN where there is none
        }
        m.validation.push_back(v);
        if (cond) m.conditions.push_back(*cond);
    }
    if (!m.validation.empty()) {
        const ValidationResult& v = m.validation.size() > 1 ? m.validation.back() : m.validation[0];
        m.l1 = v.l1;
        m.exact_l1 = v.exact_l1;
        m.jsd = v.jsd;
        m.logz = v.logz;
        m.logz_true = v.logz_true;
        m.mean_log_reward = v.mean_log_reward;
        m.mean_log_reward_true = v.mean_log_reward_true;
        m.mean_abs_error = v.n_terminal > 0 ? v.exact_l1 / v.n_terminal : std::nan("");
        m.n_modes = run.targets.empty() ? 0 : run.targets.back().n_modes;
        for (uint8_t s : run.mode_seen) m.modes_found += s;
    }
    return m;
}

TrainResult train(Run& run, const TrainCallbacks& cb) {
    TrainResult res;
    const int total = run.cfg.iterations;
    const int vi = run.cfg.validation_interval;
    auto start = Clock::now();
    double validation_seconds = 0;
    while (run.iteration < total) {
        StepStats st = train_step(run);
        res.phase_seconds.sample += st.times.sample;
        res.phase_seconds.loss += st.times.loss;
        res.phase_seconds.backward += st.times.backward;
        res.phase_seconds.optimize += st.times.optimize;
        res.states_visited += st.n_states;
        if (st.n_evaluated < 0 || res.states_evaluated < 0) res.states_evaluated = -1;
        else res.states_evaluated += st.n_evaluated;
        res.last_loss = st.loss;
        const bool logged = run.iteration % run.cfg.log_interval == 0 || run.iteration == total;
        if (logged) check_finite_state(run);
        if (cb.on_step) cb.on_step(run, st);
        if (cb.on_log && logged) {
            // log Z only when it is shown: for DB, SubTB and FM it costs a network evaluation.
            st.log_z = run.gflownet->log_z();
            cb.on_log(run, st, seconds_since(start) - validation_seconds);
        }
        if (vi > 0 && run.iteration % vi == 0 && run.iteration < total &&
            (!run.targets.empty() || run.have_exact_log_partition)) {
            auto tv = Clock::now();
            Metrics m = validate_run(run);
            validation_seconds += seconds_since(tv);
            if (cb.on_validation) cb.on_validation(run, m);
        }
    }
    res.train_seconds = seconds_since(start) - validation_seconds;
    if (!run.targets.empty() || run.have_exact_log_partition) {
        res.final_metrics = validate_run(run);
        if (cb.on_validation) cb.on_validation(run, res.final_metrics);
    }
    res.final_metrics.iteration = run.iteration;
    return res;
}

}  // namespace gfn
