// config.cpp — see config.h. One table lists every flag: its name, help, how to
// set it and how to print it, so --help, parsing and the echo never disagree.
#include "gfn/runtime/config.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <functional>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace gfn {

namespace {

struct Flag {
    std::string name;
    std::string help;
    bool is_switch;
    std::function<void(Config&, const std::string&)> set;
    std::function<std::string(const Config&)> get;
    int Config::*int_member = nullptr;       // integer flags: the field and its range
    long long lo = 0, hi = 0;
    double Config::*float_member = nullptr;  // doubles the code uses as float
};

// The shortest decimal that reads back as exactly v (checkpoints store flags
// as text, and a resumed run must get the same doubles: "%g" kept 6 digits,
// so --lr 0.00012345678 came back as 0.000123457).
std::string fmt(double v) {
    if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
    if (std::isnan(v)) return "unset";
    char buf[64];
    const std::to_chars_result r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

// The bounds of the integer flags: [lo, hi] per flag, the upper ones so that a
// typo is refused before any work (see the memory estimate for the products).
constexpr long long kIntMax = std::numeric_limits<int>::max();

Flag str_flag(const std::string& name, std::string Config::*m, const std::string& help) {
    return {name, help, false, [m](Config& c, const std::string& v) { c.*m = v; },
            [m](const Config& c) { return c.*m; }};
}
Flag int_flag(const std::string& name, int Config::*m, long long lo, long long hi, const std::string& help) {
    Flag f{name, help, false, [m, name, lo, hi](Config& c, const std::string& v) { c.*m = int(parse_int("--" + name, v, lo, hi)); },
           [m](const Config& c) { return std::to_string(c.*m); }};
    f.int_member = m;
    f.lo = lo;
    f.hi = hi;
    return f;
}
Flag dbl_flag(const std::string& name, double Config::*m, const std::string& help) {
    return {name, help, false, [m, name](Config& c, const std::string& v) { c.*m = parse_double("--" + name, v); },
            [m](const Config& c) { return fmt(c.*m); }};
}
// A double the code converts to float: parsed and validated as one.
Flag flt_flag(const std::string& name, double Config::*m, const std::string& help) {
    Flag f{name, help, false, [m, name](Config& c, const std::string& v) { c.*m = parse_float("--" + name, v); },
           [m](const Config& c) { return fmt(c.*m); }};
    f.float_member = m;
    return f;
}
Flag seed_flag(const std::string& name, unsigned long long Config::*m, const std::string& help) {
    return {name, help, false, [m, name](Config& c, const std::string& v) { c.*m = parse_seed("--" + name, v); },
            [m](const Config& c) { return std::to_string(c.*m); }};
}
Flag switch_flag(const std::string& name, bool Config::*m, const std::string& help) {
    return {name, help, true, [m](Config& c, const std::string& v) { c.*m = v != "false"; },
            [m](const Config& c) { return std::string(c.*m ? "true" : "false"); }};
}

const std::vector<Flag>& flags() {
    static const std::vector<Flag> table = {
        str_flag("env", &Config::env,
                 "environment: hypergrid | conditional_hypergrid | discrete_ebm | ising | bitsequence | bitsequence_nar "
                 "| line | diffusion | box | box_cartesian"),
        int_flag("ndim", &Config::ndim, 1, 1024, "HyperGrid / DiscreteEBM dimensions"),
        int_flag("height", &Config::height, 2, 65536, "HyperGrid side length"),
        str_flag("reward", &Config::reward, "HyperGrid reward: original | cosine | sparse | deceptive"),
        dbl_flag("R0", &Config::R0, "HyperGrid / Box reward R0"),
        dbl_flag("R1", &Config::R1, "HyperGrid / Box reward R1"),
        dbl_flag("R2", &Config::R2, "HyperGrid / Box reward R2"),
        int_flag("L", &Config::L, 2, 64, "Ising: side of the periodic L x L lattice"),
        dbl_flag("J", &Config::J, "Ising: coupling of neighbouring spins"),
        int_flag("word-size", &Config::word_size, 1, 16, "BitSequence: bits per word"),
        int_flag("seq-size", &Config::seq_size, 1, 4096, "BitSequence: bits per sequence (a multiple of --word-size)"),
        int_flag("n-modes", &Config::n_modes, 1, 1 << 20, "BitSequence: number of modes"),
        dbl_flag("reward-temperature", &Config::reward_temperature,
                 "BitSequence: log R = -(Hamming distance to the modes) / this"),
        seed_flag("modes-seed", &Config::modes_seed, "BitSequence: seed of the mode set"),
        str_flag("preprocessor", &Config::preprocessor, "network input: default | identity | one_hot | k_hot"),
        str_flag("mus", &Config::mus, "Line: means of the reward's Gaussian components, comma-separated"),
        str_flag("sigmas", &Config::sigmas, "Line: their standard deviations, comma-separated"),
        dbl_flag("init-value", &Config::init_value, "Line: x of s_0"),
        dbl_flag("n-sd", &Config::n_sd, "Line: the x range is [min mu - n_sd max sigma, max mu + n_sd max sigma]"),
        int_flag("n-steps-per-trajectory", &Config::n_steps_per_trajectory, 1, 1000000,
                 "Line: moves before the forced exit"),
        flt_flag("exploration-var-starting-val", &Config::exploration_var_starting_val,
                 "continuous envs: extra std s of the behaviour policy (std -> sqrt(std^2 + s^2)), linear to 0 "
                 "(line: 2)"),
        flt_flag("gradient-clip-value", &Config::gradient_clip_value,
                 "clamp each network gradient entry to +-this, log Z excluded (0: off; line: 5)"),
        int_flag("validation-bins", &Config::validation_bins, 1, 1000000,
                 "continuous envs: cells of the binned l1 / JSD grid over the x range (box: G x G cells of [0, 1]^2; "
                 "box: 50)"),
                int_flag("exploration-warm-down-start", &Config::exploration_warm_down_start, 0, kIntMax,
                 "continuous envs: keep the exploration std at its starting value until this iteration"),
        int_flag("exploration-warm-down-end", &Config::exploration_warm_down_end, 0, kIntMax,
                 "continuous envs: ... then linear to 0 at this iteration (0: the last one)"),
        str_flag("target", &Config::target, "diffusion: target density: gmm25 | posterior9 | funnel | funnel_hard | manywell"),
        int_flag("steps", &Config::diffusion_steps, 1, 100000, "diffusion: steps N of dt = 1/N (exactly N moves)"),
        flt_flag("sigma", &Config::sigma, "diffusion: PF std sigma*sqrt(dt*t_scale) (gmm25: 5, funnel/manywell: 1, posterior9 and mle: 2)"),
        flt_flag("t-scale", &Config::t_scale, "diffusion: scale of the PF variance (torchgfn's RTB example: 5)"),
        switch_flag("learn-variance", &Config::learn_variance, "diffusion: PF learns a log-std correction"),
        switch_flag("zero-init", &Config::zero_init,
                    "diffusion: PF's last layer starts at 0, drift 0 (--no-zero-init: random, PyTorch's default; "
                    "manywell: off)"),
        switch_flag("variance-per-dimension", &Config::variance_per_dimension,
                    "diffusion --learn-variance: a log-std correction per coordinate (else one per state)"),
        switch_flag("lp", &Config::lp,
                    "diffusion: Langevin parametrization, PF's drift += lambda(t) * clip(grad log R(x)) with a learned "
                    "per-dimension lambda(t)"),
        int_flag("lp-layers", &Config::lp_layers, 1, 64, "diffusion --lp: hidden layers of lambda(t)"),
        dbl_flag("lp-clip", &Config::lp_clip, "diffusion --lp: clip each entry of grad log R to +-this (> 0)"),
        int_flag("terminal-buffer", &Config::terminal_buffer, 0, 1 << 24,
                 "diffusion: capacity of a reward-ranked buffer of terminal points; odd iterations train on "
                 "PB trajectories from it (0: none)"),
        int_flag("langevin-steps", &Config::langevin_steps, 0, 1 << 16,
                 "diffusion: MALA steps on log R applied to each replayed batch (with --terminal-buffer)"),
        dbl_flag("langevin-step-size", &Config::langevin_step_size, "diffusion: MALA step size eta (> 0)"),
        int_flag("backward-until", &Config::backward_until, 0, kIntMax,
                 "diffusion: with --terminal-buffer, train on buffer trajectories only before this iteration, "
                 "on-policy after (0: to the end)"),
        switch_flag("partial-energy", &Config::partial_energy,
                    "diffusion --loss db|subtb: log F(x,t) = MLP + (1-t) log N(x; 0, sigma^2 t_scale t) + t log R(x)"),
        dbl_flag("rank-weight", &Config::rank_weight,
                 "diffusion --terminal-buffer: k of the replay priority 1/(k*size + rank) (> 0; larger is flatter)"),
        flt_flag("delta", &Config::delta, "Box: step size in (0, 1]"),
        int_flag("n-components", &Config::n_components, 1, 1000, "Box: Beta mixture components of a move (box_cartesian: 8)"),
        int_flag("n-components-s0", &Config::n_components_s0, 1, 1000,
                 "Box (polar): Beta mixture components of the first move from s_0"),
        flt_flag("min-concentration", &Config::min_concentration, "Box: smallest Beta concentration (> 0)"),
        flt_flag("max-concentration", &Config::max_concentration, "Box: largest Beta concentration (box_cartesian: 20)"),
        str_flag("loss", &Config::loss,
                 "objective: tb | lpv | rtb | relative_lpv | trust_pcl | db | modified_db | subtb | fm | vpg | ppo | soft_dqn "
                 "| mle (diffusion funnel: lpv)"),
        str_flag("advantage", &Config::advantage, "vpg: advantage estimator: total | reward_to_go | baseline | gae"),
        flt_flag("gae-lambda", &Config::gae_lambda, "vpg / ppo: GAE lambda in [0, 1]"),
        flt_flag("value-weight", &Config::value_weight, "vpg / ppo: weight of the critic loss (>= 0)"),
        str_flag("pb-loss", &Config::pb_loss,
                 "vpg / ppo / tb / db / subtb: none | tlm (train the learned PB by TLM alone)"),
        str_flag("critic-loss", &Config::critic_loss,
                 "vpg / ppo: the critic's loss: mse | sub_eb (SubTB's residual on V, policies frozen; --lambda)"),
        int_flag("ppo-epochs", &Config::ppo_epochs, 1, 1000, "ppo: update epochs K per rollout"),
        int_flag("ppo-minibatches", &Config::ppo_minibatches, 1, 1 << 20, "ppo: minibatches S per epoch"),
        flt_flag("ppo-clip", &Config::ppo_clip, "ppo: ratio clip epsilon in (0, 1)"),
        flt_flag("target-tau", &Config::target_tau,
                 "soft_dqn: Polyak tau of the target network update, in (0, 1] (1: a copy)"),
        int_flag("target-update-every", &Config::target_update_every, 1, kIntMax,
                 "soft_dqn: update the target network every N optimizer steps"),
        switch_flag("munchausen", &Config::munchausen,
                    "soft_dqn: Munchausen DQN, add alpha * clip(lambda * log pi_target(a|s), l0, 0) to the reward, "
                    "Q = lambda * (PF's logits), lambda = 1/(1 - alpha): still samples prop. to R"),
        flt_flag("munchausen-alpha", &Config::munchausen_alpha, "soft_dqn --munchausen: alpha in [0, 1)"),
        flt_flag("munchausen-clip", &Config::munchausen_clip,
                 "soft_dqn --munchausen: the clip l0 < 0 of lambda * log pi (exact only where it does not bind)"),
        switch_flag("forward-looking", &Config::forward_looking, "DB / SubTB: log F(s) = log F~(s) + log R(s)"),
        str_flag("subtb-weighting", &Config::subtb_weighting,
                 "SubTB: db | modified_db | tb | equal | equal_within | geometric_within | geometric"),
        flt_flag("lambda", &Config::lambda, "SubTB and the sub_eb critic: lambda in (0, 1]"),
        flt_flag("fm-alpha", &Config::fm_alpha, "FM: weight of the reward-matching term"),
        str_flag("loss-fn", &Config::loss_fn,
                 "residual loss g: default | squared | half_squared | shifted_cosh | linex"),
        flt_flag("linex-alpha", &Config::linex_alpha, "alpha of the linex loss (non-zero)"),
        flt_flag("log-reward-clip-min", &Config::log_reward_clip_min,
                 "clamp log R from below (needed when a reward can be 0)"),
        flt_flag("beta", &Config::beta, "relative objectives: exponent of the constraint r^beta"),
        flt_flag("alpha", &Config::alpha,
                 "DiscreteEBM/Ising: energy scale (default 1); Trust-PCL: temperature alpha = 1/beta"),
        flt_flag("init-logz", &Config::init_logz, "initial log Z (Trust-PCL: initial v_soft(s0))"),
        str_flag("prior", &Config::prior,
                 "relative objectives' frozen prior PF: tb (trained with TB on --prior-reward first) | uniform | "
                 "FILE.ckpt (a saved run's PF, e.g. --loss mle; the posterior starts from its weights)"),
        str_flag("prior-reward", &Config::prior_reward, "reward the tb prior is trained on"),
        int_flag("prior-iterations", &Config::prior_iterations, 1, kIntMax, "iterations of the tb prior's training"),
        switch_flag("recalculate-all-logprobs", &Config::recalculate_all_logprobs,
                    "re-evaluate PF on the stored states even on-policy"),
        int_flag("hidden", &Config::hidden, 1, 65536, "hidden units per layer"),
        int_flag("layers", &Config::layers, 1, 64, "hidden layers (counting the input projection)"),
        str_flag("activation", &Config::activation, "relu | leaky_relu | tanh | elu"),
        switch_flag("tied", &Config::tied, "PB is a head on PF's trunk"),
        switch_flag("uniform-pb", &Config::uniform_pb, "PB uniform over parents (not learned)"),
        switch_flag("no-state-dedup", &Config::no_state_dedup,
                    "run the networks on every state they are given (the rollout's visited states, the loss's steps), not once per distinct state (same "
                    "results up to float rounding; for speed comparisons)"),
        int_flag("batch-size", &Config::batch_size, 1, 1 << 20, "trajectories per iteration"),
        int_flag("iterations", &Config::iterations, 0, kIntMax, "training iterations"),
        str_flag("optimizer", &Config::optimizer, "adam | adamw | sgd"),
        flt_flag("lr", &Config::lr, "learning rate of the networks (diffusion posterior9 with a relative loss: 3e-3)"),
        flt_flag("lr-logz", &Config::lr_logz, "learning rate of log Z (box: 1e-3; box_cartesian: 1e-2; diffusion manywell: 0.5)"),
        flt_flag("lr-logf", &Config::lr_logf, "learning rate of the log F network (DB, SubTB) (box: 1e-2)"),
        str_flag("lr-schedule", &Config::lr_schedule,
                 "constant | cosine: every learning rate times (1 + cos(pi t / iterations)) / 2 | step: times "
                 "gamma^floor(t / milestone) (box: step; diffusion posterior9 with a relative loss: cosine)"),
        int_flag("scheduler-milestone", &Config::scheduler_milestone, 0, kIntMax,
                 "--lr-schedule step: steps between decays (0: max(1, iterations / 3); box: 2500)"),
        flt_flag("gamma-scheduler", &Config::gamma_scheduler, "--lr-schedule step: factor per milestone in (0, 1]"),
        flt_flag("weight-decay", &Config::weight_decay, "weight decay of the networks"),
        flt_flag("clip-grad-norm", &Config::clip_grad_norm, "clip gradients to this global norm (0: off)"),
        flt_flag("epsilon", &Config::epsilon, "exploration: mix epsilon of uniform into PF"),
        flt_flag("temperature", &Config::temperature, "exploration: divide PF logits by this"),
        flt_flag("sf-bias", &Config::sf_bias, "exploration: subtract from the exit logit"),
        int_flag("replay-buffer", &Config::replay_buffer, 0, 1 << 24, "replay buffer capacity (0: none)"),
        str_flag("buffer", &Config::buffer, "replay buffer: fifo | prioritized | diverse | terminating_state"),
        dbl_flag("cutoff-distance", &Config::cutoff_distance, "diverse buffer: minimal distance to admit"),
        dbl_flag("p-norm-distance", &Config::p_norm_distance, "diverse buffer: p of the p-norm distance"),
        int_flag("local-search", &Config::local_search, 0, 1 << 16, "local-search loops per iteration (0: none)"),
        dbl_flag("back-ratio", &Config::back_ratio, "local search: share of a trajectory to back off, (0, 1]"),
        switch_flag("local-search-mh", &Config::local_search_mh,
                    "local search: Metropolis-Hastings acceptance (default: greedy)"),
        seed_flag("seed", &Config::seed, "random seed"),
        int_flag("threads", &Config::threads, 0, 1024, "threads for OpenMP and OpenBLAS (0: OMP_NUM_THREADS or all cores)"),
        int_flag("validation-interval", &Config::validation_interval, 0, kIntMax, "validate every N iterations (0: at the end)"),
        int_flag("validation-samples", &Config::validation_samples, 1, 1000000000, "fresh samples per validation"),
        str_flag("validation-conditions", &Config::validation_conditions,
                 "conditional envs: comma-separated conditions c in [0, 1] to validate at"),
        int_flag("log-interval", &Config::log_interval, 1, kIntMax, "print a progress line every N iterations"),
        switch_flag("json", &Config::json, "end with one JSON line of the final metrics"),
        switch_flag("quiet", &Config::quiet, "print only the final metrics"),
        switch_flag("trace", &Config::trace, "print one trajectory step by step and the terms of its loss"),
        str_flag("save", &Config::save, "checkpoint file, written atomically at the end (and every --save-every)"),
        int_flag("save-every", &Config::save_every, 0, kIntMax, "also checkpoint every N iterations (0: only at the end)"),
        str_flag("resume", &Config::resume, "continue a run from its checkpoint (--iterations stays the total)"),
        str_flag("log", &Config::log, "metrics file, a row per logged iteration and validation: FILE.csv or FILE.jsonl"),
        str_flag("plot", &Config::plot, "SVG of the training curves (and, for 2-D HyperGrid, the distributions)"),
    };
    return table;
}

const Flag* find_flag(const std::string& name) {
    for (const Flag& f : flags())
        if (f.name == name) return &f;
    return nullptr;
}

void require(bool ok, const std::string& msg) {
    if (!ok) throw std::invalid_argument(msg);
}

}  // namespace

namespace {

// [+-]?digits, nothing else (no spaces: strtoll/strtod would skip leading ones).
bool is_decimal_integer(const std::string& t) {
    size_t i = (!t.empty() && (t[0] == '-' || t[0] == '+')) ? 1 : 0;
    if (i == t.size()) return false;
    for (; i < t.size(); ++i)
        if (t[i] < '0' || t[i] > '9') return false;
    return true;
}

// [+-]? digits [. digits] [(e|E) [+-]? digits], at least one mantissa digit.
bool is_decimal_number(const std::string& t) {
    size_t i = 0, n = t.size();
    if (i < n && (t[i] == '-' || t[i] == '+')) ++i;
    size_t digits = 0;
    for (; i < n && t[i] >= '0' && t[i] <= '9'; ++i) ++digits;
    if (i < n && t[i] == '.')
        for (++i; i < n && t[i] >= '0' && t[i] <= '9'; ++i) ++digits;
    if (digits == 0) return false;
    if (i < n && (t[i] == 'e' || t[i] == 'E')) {
        ++i;
        if (i < n && (t[i] == '-' || t[i] == '+')) ++i;
        size_t e = 0;
        for (; i < n && t[i] >= '0' && t[i] <= '9'; ++i) ++e;
        if (e == 0) return false;
    }
    return i == n;
}

std::string range_str(long long lo, long long hi) {
    return "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
}

}  // namespace

long long parse_int(const std::string& flag, const std::string& text, long long lo, long long hi) {
    if (!is_decimal_integer(text))
        throw std::invalid_argument(flag + ": '" + text + "' is not a whole number (decimal digits only)");
    errno = 0;
    const long long x = std::strtoll(text.c_str(), nullptr, 10);
    if (errno == ERANGE || x < lo || x > hi)
        throw std::invalid_argument(flag + ": must be in " + range_str(lo, hi) + " (got " + text + ")");
    return x;
}

unsigned long long parse_seed(const std::string& flag, const std::string& text) {
    const std::string range = "[0, " + std::to_string(std::numeric_limits<unsigned long long>::max()) + "]";
    if (!is_decimal_integer(text))
        throw std::invalid_argument(flag + ": '" + text + "' is not a whole number (decimal digits only)");
    // strtoull would negate "-1" into 2^64 − 1 and saturate past the top.
    errno = 0;
    const unsigned long long x = std::strtoull(text.c_str(), nullptr, 10);
    if (text[0] == '-' || errno == ERANGE)
        throw std::invalid_argument(flag + ": must be in " + range + " (got " + text + ")");
    return x;
}

double parse_double(const std::string& flag, const std::string& text) {
    if (text == "-inf" || text == "-infinity") return -INFINITY;
    if (text == "inf" || text == "infinity") return INFINITY;
    if (text == "unset") return NAN;  // how an unset optional value (--alpha) prints
    if (!is_decimal_number(text))
        throw std::invalid_argument(flag + ": '" + text + "' is not a number (a decimal such as 0.001 or 1e-3)");
    errno = 0;
    const double d = std::strtod(text.c_str(), nullptr);
    // ERANGE: past ±DBL_MAX, or below the smallest normal double while non-zero.
    if (errno == ERANGE && (std::isinf(d) || d == 0.0 || std::fabs(d) < std::numeric_limits<double>::min()))
        throw std::invalid_argument(flag + ": " + text + " is out of the range of a double");
    return d;
}

void check_float(const std::string& flag, double v) {
    if (!std::isfinite(v) || v == 0.0) return;
    const double a = std::fabs(v);
    if (a > double(std::numeric_limits<float>::max()))
        throw std::invalid_argument(flag + ": " + fmt(v) + " overflows the float it is used as (|value| <= " +
                                    fmt(double(std::numeric_limits<float>::max())) + ")");
    if (a < double(std::numeric_limits<float>::min()))
        throw std::invalid_argument(flag + ": " + fmt(v) + " is below the smallest normal float (" +
                                    fmt(double(std::numeric_limits<float>::min())) + ") it is used as; give 0 or a larger value");
}

double parse_float(const std::string& flag, const std::string& text) {
    const double d = parse_double(flag, text);
    check_float(flag, d);
    return d;
}

namespace {

// b^e, or +inf past 2^62 (a state count that no machine enumerates).
double state_count(double b, double e) {
    const double n = std::pow(b, e);
    return n > 4.6e18 ? INFINITY : n;
}

std::string bytes_str(double b) {
    std::ostringstream s;
    s.precision(3);
    if (b >= 1024.0 * 1024 * 1024) s << b / (1024.0 * 1024 * 1024) << " GiB";
    else s << b / (1024.0 * 1024) << " MiB";
    return s.str();
}

// ---- continuous environments (--env line, box, box_cartesian, diffusion) ----------------------------------

// Each continuous env's target settings for the flags not given (config.h).
void apply_env_defaults(Config& c, const std::vector<std::string>& given) {
    if (!c.continuous()) return;
    auto unset = [&](const char* name) { return std::find(given.begin(), given.end(), name) == given.end(); };
    if (c.box()) {  // the issue target's settings (config.h)
        if (unset("hidden")) c.hidden = 128;
        if (unset("layers")) c.layers = 4;
        if (unset("activation")) c.activation = "elu";
        if (unset("batch-size")) c.batch_size = 128;
        if (unset("lr")) c.lr = 1e-3;
        if (unset("lr-logz")) c.lr_logz = 1e-3;
        if (unset("iterations")) c.iterations = 10000;
        if (unset("validation-bins")) c.validation_bins = 50;
        if (unset("lr-schedule")) c.lr_schedule = "step";
        if (unset("scheduler-milestone")) c.scheduler_milestone = 2500;
        if (unset("lr-logf")) c.lr_logf = 1e-2;  // torchgfn's train_box DB: log F at 1e-2
        // Cartesian: 8 Beta components a dimension with concentrations up to 20 and log Z lr
        // 1e-2 (train_box's lr_Z). With the polar settings the first-step cells, where the
        // terminal density is a product of two 2-component Betas, cannot be fitted
        // (docs/continuous.md, "Box: results"): δ = 0.25 then misses binned l1 ≤ 0.60. The
        // bound 100 of train_box fits δ = 0.25 a little closer but made one δ = 0.1 run's
        // importance weights heavy-tailed.
        if (c.env == "box_cartesian") {
            if (unset("n-components")) c.n_components = 8;
            if (unset("max-concentration")) c.max_concentration = 20.0;
            if (unset("lr-logz")) c.lr_logz = 1e-2;
        }
        return;
    }
    if (c.env == "line") {  // torchgfn's train_line
        if (unset("batch-size")) c.batch_size = 256;
        if (unset("iterations")) c.iterations = 5000;
        if (unset("hidden")) c.hidden = 64;
        if (unset("layers")) c.layers = 3;  // its GaussianStepMLP: n_hidden_layers = 3
        if (unset("activation")) c.activation = "elu";
        if (unset("exploration-var-starting-val")) c.exploration_var_starting_val = 2.0;
        if (unset("gradient-clip-value")) c.gradient_clip_value = 5.0;
        return;
    }
    // diffusion: the settings of the issue's target runs (torchgfn's train_diffusion_sampler
    // and, for posterior9, train_diffusion_rtb).
    if (unset("batch-size")) c.batch_size = 200;
    if (unset("iterations")) c.iterations = 4000;
    if (unset("hidden")) c.hidden = 64;
    if (unset("validation-samples")) c.validation_samples = 10000;
    // The RTB setting (torchgfn's train_diffusion_rtb: 100 steps, σ = 2) for posterior9 and
    // for MLE priors, with t_scale 1 (PF's noise then matches the bridge's; see docs/diffusion.md).
    const bool post9 = c.target == "posterior9", rtb_setting = post9 || c.loss == "mle";
    if (unset("steps")) c.diffusion_steps = rtb_setting ? 100 : 32;
    if (unset("sigma")) c.sigma = rtb_setting ? 2.0 : c.target == "gmm25" ? 5.0 : 1.0;
    if (c.loss == "mle") {
        if (unset("iterations")) c.iterations = 3000;
        if (unset("batch-size")) c.batch_size = 256;
    }
    // funnel: the PF's learned log-std correction, and for the easy funnel LPV (VarGrad: log Z
    // the batch's mean log-weight, no log Z parameter), whose ELBO gap is never above TB's on
    // the same seed (one thread, seeds 1–6; docs/diffusion.md, also for the target's spread).
    if ((c.target == "funnel" || c.target == "funnel_hard") && unset("learn-variance")) c.learn_variance = true;
    if (c.target == "funnel" && unset("loss")) c.loss = "lpv";
    // manywell: a randomly initialised last layer (torchgfn's example's default; a zero drift
    // at the start loses the left wells) and log Z lr 0.5 — ELBO gap ≤ 8 on every seed tried
    // (docs/diffusion.md). Not for an MLE prior or a posterior.
    if (c.target == "manywell" && c.loss != "mle" && !c.relative()) {
        if (unset("zero-init")) c.zero_init = false;
        if (unset("lr-logz")) c.lr_logz = 0.5;
    }
    // gmm25 and the easy funnel: the Langevin parametrization (the drift takes λ(t)·∇log R),
    // and for gmm25 the learned variance with it — together they keep all 25 modes and
    // close the ELBO gap that the fixed last-step noise bounds (docs/diffusion.md).
    const bool lp_target = (c.target == "gmm25" && c.loss != "mle") || c.target == "funnel";
    if (lp_target && !c.relative() && unset("lp")) c.lp = true;
    if (c.target == "gmm25" && c.loss != "mle" && !c.relative() && unset("learn-variance")) c.learn_variance = true;
    // train_diffusion_rtb: batch 500, exploration 0.5, warm-down 500 -> 4500. Then, ours: twice
    // its 5,000 iterations at lr 3e-3 with a cosine decay, which brings the learned log Z within
    // 0.1 of log ∫ p_prior r on every seed (docs/diffusion.md, "RTB posterior").
    if (post9 && c.relative()) {
        if (unset("iterations")) c.iterations = 10000;
        if (unset("batch-size")) c.batch_size = 500;
        if (unset("lr")) c.lr = 3e-3;
        if (unset("lr-schedule")) c.lr_schedule = "cosine";
        if (unset("exploration-var-starting-val")) c.exploration_var_starting_val = 0.5;
        if (unset("exploration-warm-down-start")) c.exploration_warm_down_start = 500;
        if (unset("exploration-warm-down-end")) c.exploration_warm_down_end = 4500;
    }
}

// The continuous objectives: the trajectory-balance ones every continuous env takes,
// and DB / SubTB (a log F network on the state). SubTB's --subtb-weighting and
// --lambda are refused with any other loss (they would be silently ignored).
bool continuous_balance_loss(const Config& c) {
    return c.loss == "tb" || c.loss == "lpv" || c.loss == "db" || c.loss == "subtb";
}

void validate_subtb_flags(const Config& c) {
    const Config def;
    require(c.loss == "subtb" || (c.subtb_weighting == def.subtb_weighting && c.lambda == def.lambda),
            "--subtb-weighting / --lambda: SubTB's flags, for --loss subtb (got --loss " + c.loss + " on --env " +
                c.env + ")");
}

void validate_line_config(const Config& c) {
    const std::vector<double> mus = parse_number_list("--mus", c.mus), sigmas = parse_number_list("--sigmas", c.sigmas);
    require(mus.size() == sigmas.size(), "--mus and --sigmas: give as many standard deviations as means (" +
                                             std::to_string(mus.size()) + " and " + std::to_string(sigmas.size()) + ")");
    for (double s : sigmas) require(s > 0, "--sigmas: every standard deviation must be > 0");
    require(std::isfinite(c.init_value), "--init-value: must be finite");
    require(std::isfinite(c.n_sd) && c.n_sd > 0, "--n-sd: must be > 0");
    double lo = INFINITY, hi = -INFINITY, smax = 0;
    for (size_t i = 0; i < mus.size(); ++i) {
        lo = std::min(lo, mus[i]);
        hi = std::max(hi, mus[i]);
        smax = std::max(smax, sigmas[i]);
    }
    require(c.init_value > lo - c.n_sd * smax && c.init_value < hi + c.n_sd * smax,
            "--init-value: must lie inside the x range (min --mus - --n-sd * max --sigmas, max --mus + --n-sd * max "
            "--sigmas) = (" + fmt(lo - c.n_sd * smax) + ", " + fmt(hi + c.n_sd * smax) + ")");
    require(continuous_balance_loss(c), "--loss " + c.loss + ": --env line trains with tb, lpv, db or subtb");
    validate_subtb_flags(c);
}

void validate_box_config(const Config& c) {
    require(std::isfinite(c.delta) && c.delta > 0 && c.delta <= 1, "--delta: must be in (0, 1]");
    require(c.validation_bins <= 4096,
            "--validation-bins: --env " + c.env + " bins terminal states on G x G cells; G must be <= 4096");
    require(c.min_concentration > 0 && c.min_concentration < c.max_concentration,
            "--min-concentration / --max-concentration: need 0 < min < max");
    require(c.R0 > 0 && c.R1 >= 0 && c.R2 >= 0, "--R0 / --R1 / --R2: --env " + c.env + " needs R0 > 0, R1, R2 >= 0");
    require(c.exploration_var_starting_val == 0,
            "--exploration-var-starting-val: --env " + c.env + " has no exploration (its policies sample themselves)");
    require(continuous_balance_loss(c) || c.relative(),
            "--loss " + c.loss + ": --env " + c.env + " trains with tb, lpv, db, subtb, or (with --prior FILE.ckpt, a "
                "saved " + c.env + " run) rtb, relative_lpv or trust_pcl");
    require(!c.relative() || c.prior_from_file(),
            "--prior " + c.prior + ": a " + c.env + " posterior needs a saved " + c.env +
                " run as its prior, --prior FILE.ckpt (from gfn train --env " + c.env + " --save FILE.ckpt)");
    validate_subtb_flags(c);
}

void validate_diffusion_config(const Config& c) {
    require(c.target == "gmm25" || c.target == "posterior9" || c.target == "funnel" || c.target == "funnel_hard" ||
                c.target == "manywell",
            "--target: unknown diffusion target '" + c.target +
                "' (choose gmm25, posterior9, funnel, funnel_hard or manywell)");
    require(std::isfinite(c.sigma) && c.sigma > 0, "--sigma: must be > 0");
    require(std::isfinite(c.t_scale) && c.t_scale > 0, "--t-scale: must be > 0");
    require(continuous_balance_loss(c) || c.loss == "mle" || c.relative(),
            "--loss " + c.loss + ": --env diffusion trains with tb, lpv, db, subtb, mle, or (with --prior FILE.ckpt) "
            "rtb, relative_lpv or trust_pcl");
    validate_subtb_flags(c);
    require(!c.relative() || c.prior_from_file(),
            "--prior " + c.prior + ": a diffusion posterior needs a saved diffusion prior, --prior FILE.ckpt "
            "(e.g. from --loss mle --save FILE.ckpt)");
    require(std::isfinite(c.langevin_step_size) && c.langevin_step_size > 0, "--langevin-step-size: must be > 0");
    require(std::isfinite(c.rank_weight) && c.rank_weight > 0, "--rank-weight: must be finite and > 0");
    require(!c.partial_energy || c.loss == "db" || c.loss == "subtb",
            "--partial-energy: a base for the state flow log F, which only --loss db and subtb learn (not --loss " +
                c.loss + ")");
    require((c.langevin_steps == 0 && c.backward_until == 0 && c.rank_weight == Config().rank_weight) ||
                c.terminal_buffer > 0,
            "--langevin-steps / --backward-until / --rank-weight: act on the replayed points; give --terminal-buffer N");
    if (c.terminal_buffer > 0) {
        require(c.loss == "tb" || c.loss == "lpv" || c.loss == "db" || c.loss == "subtb",
                "--terminal-buffer: trains a balance objective on PB trajectories from buffered points; "
                "not with --loss " + c.loss + " (use tb, lpv, db or subtb)");
        require(c.terminal_buffer >= c.batch_size, "--terminal-buffer: capacity must be >= --batch-size (" +
                                                       std::to_string(c.batch_size) + ")");
        require(c.resume.empty() && c.save_every == 0,
                "--terminal-buffer: a checkpoint does not hold the buffer, so a resumed run would differ; "
                "--resume and --save-every are refused (--save at the end is fine)");
    }
}

void validate_continuous_config(const Config& c) {
    const Config def;
    require(c.diffusion() || (c.target == def.target && c.diffusion_steps == def.diffusion_steps &&
                              c.sigma == def.sigma && c.t_scale == def.t_scale && !c.learn_variance && !c.variance_per_dimension && !c.lp &&
                              c.lp_layers == def.lp_layers && c.lp_clip == def.lp_clip && c.zero_init == def.zero_init),
            "--target / --steps / --sigma / --t-scale / --learn-variance / --lp / --lp-layers / --lp-clip / --zero-init: "
            "diffusion-sampler flags (--env diffusion), not for --env " + c.env);
    require(!c.variance_per_dimension || c.learn_variance,
            "--variance-per-dimension: a setting of the learned variance; add --learn-variance");
    require(c.lp || (c.lp_layers == def.lp_layers && c.lp_clip == def.lp_clip),
            "--lp-layers / --lp-clip: settings of the Langevin parametrization; add --lp");
    require(std::isfinite(c.lp_clip) && c.lp_clip > 0, "--lp-clip: must be finite and > 0");
    require(!c.lp || !c.relative(),
            "--lp: not with --loss " + c.loss + " (a relative objective): the posterior's drift would take the "
            "constraint's score while its prior's took its own target's");
    require(c.diffusion() || (c.terminal_buffer == 0 && c.langevin_steps == 0 &&
                              c.langevin_step_size == def.langevin_step_size && c.backward_until == def.backward_until &&
                              c.rank_weight == def.rank_weight),
            "--terminal-buffer / --langevin-steps / --langevin-step-size / --backward-until / --rank-weight: "
            "diffusion-sampler flags (--env diffusion), not for --env " + c.env);
    require(c.diffusion() || !c.partial_energy,
            "--partial-energy: a diffusion-sampler flag (--env diffusion), not for --env " + c.env);
    require(c.box() || (c.delta == def.delta && c.n_components == def.n_components &&
                        c.n_components_s0 == def.n_components_s0 && c.min_concentration == def.min_concentration &&
                        c.max_concentration == def.max_concentration),
            "--delta / --n-components / --n-components-s0 / --min-concentration / --max-concentration: Box flags "
            "(--env box, box_cartesian), not for --env " + c.env);
    require(std::isfinite(c.exploration_var_starting_val) && c.exploration_var_starting_val >= 0,
            "--exploration-var-starting-val: must be >= 0");
    require(std::isfinite(c.gradient_clip_value) && c.gradient_clip_value >= 0, "--gradient-clip-value: must be >= 0");
    if (!c.continuous()) {
        require(c.exploration_var_starting_val == 0,
                "--exploration-var-starting-val: continuous environments only (--env line, diffusion); use --epsilon "
                "or --temperature with --env " + c.env);
        return;
    }
    require(c.exploration_warm_down_end == 0 || c.exploration_warm_down_end > c.exploration_warm_down_start,
            "--exploration-warm-down-end: must be after --exploration-warm-down-start (or 0: the last iteration)");
    if (c.env == "line") validate_line_config(c);
    if (c.diffusion()) validate_diffusion_config(c);
    if (c.box()) validate_box_config(c);
    const std::string env = "--env " + c.env;
    require(!c.tied && !c.uniform_pb, "--tied / --uniform-pb: " + env + " has its own PB");
    require(c.replay_buffer == 0 && c.local_search == 0,
            "--replay-buffer / --local-search: not available with " + env + " yet");
    require(c.epsilon == 0 && c.temperature == 1 && c.sf_bias == 0,
            "--epsilon / --temperature / --sf-bias: discrete exploration; " + env +
                " explores with --exploration-var-starting-val");
    require(!c.trace || c.box(), "--trace: not available with " + env + " yet (only --env box, box_cartesian)");
    require(c.preprocessor == "default", "--preprocessor: " + env + " feeds its states to its networks as they are");
}

}  // namespace

std::vector<double> parse_number_list(const std::string& flag, const std::string& list) {
    std::vector<double> out;
    std::stringstream ss(list);
    std::string item;
    while (std::getline(ss, item, ',')) {
        const double v = parse_double(flag, item);
        require(std::isfinite(v), flag + ": every value must be finite (got " + item + ")");
        out.push_back(v);
    }
    require(!out.empty(), flag + ": give at least one value, e.g. 2,5");
    return out;
}

// A lower bound, from the shapes the environments and estimators build:
//   parameters: P = in·H + (layers − 1)·H² + H·out per network, up to three networks
//               (PF, PB, log F), 16 bytes each (value, gradient, two Adam moments);
//   rollout:    batch·(T + 1) rows of every network's activations, 2·H·layers + in
//               floats per row and network, kept on the tape for the backward pass;
//   enumeration (when the environment enumerates, N <= 2^26 states): N·(4·D + 48)
//               bytes (the states, their probabilities, rewards and indices);
//   Ising:      the L²×L² coupling matrix in double.
// in, out, D, T and N per environment as in envs/*.h.
double run_memory_estimate(const Config& c, std::string* breakdown) {
    const double H = c.hidden, layers = c.layers;
    double in = 0, out = 0, D = 0, T = 0, N = INFINITY, extra = 0;
    std::string size_flags;
    if (c.diffusion()) {  // (x, t) -> drift (d), no enumeration; manywell has d = 32
        const double d = c.target == "manywell" ? 32 : c.target == "funnel" || c.target == "funnel_hard" ? 10 : 2;
        D = d + 1;
        in = d;
        out = d + 1;
        T = c.diffusion_steps + 1.0;
    } else if (c.box()) {  // Box: x -> 1 + 6·K outputs (Cartesian; polar fewer), no enumeration
        D = in = 2;
        out = 1 + 6.0 * c.n_components;
        T = c.env == "box" ? std::ceil(2 / c.delta) + 2 : std::ceil(1 / c.delta) + 2;
    } else if (c.continuous()) {  // Line: (x, k) -> (μ, raw σ), no enumeration
        D = in = out = 2;
        T = c.n_steps_per_trajectory + 1.0;
    } else if (c.hypergrid()) {
        D = c.ndim;
        in = double(c.ndim) * c.height + (c.conditional() ? 1 : 0);
        out = c.ndim + 1.0;
        T = double(c.ndim) * (c.height - 1) + 1;
        N = state_count(c.height, c.ndim);
        size_flags = "--height^--ndim";
    } else if (c.ebm()) {
        D = c.env == "ising" ? double(c.L) * c.L : c.ndim;
        in = D;
        out = 2 * D + 1;
        T = D + 1;
        N = state_count(3, D);
        size_flags = c.env == "ising" ? "3^(--L²)" : "3^--ndim";
        extra = D * D * 8.0;
    } else {
        const double words = double(c.seq_size) / c.word_size, V = std::pow(2.0, c.word_size);
        D = words;
        in = words * (V + 1);
        out = words * V + 1;
        T = words + 1;
        N = c.env == "bitsequence" ? state_count(V, words) : state_count(V + 1, words);
        size_flags = "2^--seq-size";
    }
    const double nets = c.uses_log_f() ? 3 : (c.uses_pb() ? 2 : 1);
    const double params = nets * (in * H + (layers - 1) * H * H + H * out) * 16.0;
    const double rollout = double(c.batch_size) * (T + 1) * nets * (2 * H * layers + in) * 4.0;
    const double enumeration = N <= double(1LL << 26) ? N * (4.0 * D + 48.0) : 0.0;
    if (breakdown) {
        std::ostringstream s;
        s << "parameters (--hidden " << c.hidden << ", --layers " << c.layers << ") " << bytes_str(params)
          << ", rollout of --batch-size " << c.batch_size << " trajectories of up to " << T << " steps "
          << bytes_str(rollout);
        if (enumeration > 0)
            s << ", exact enumeration of " << size_flags << " = " << (long long)N << " states " << bytes_str(enumeration);
        if (extra > 0) s << ", coupling matrix " << bytes_str(extra);
        *breakdown = s.str();
    }
    return params + rollout + enumeration + extra;
}

void check_run_memory(const Config& c, double available_bytes) {
    std::string parts;
    const double need = run_memory_estimate(c, &parts);
    require(need <= available_bytes, "the run needs at least " + bytes_str(need) + " but the machine has " +
                                         bytes_str(available_bytes) + ": " + parts +
                                         "; lower the flags of the largest part");
}

double physical_memory_bytes() {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? double(pages) * double(page) : INFINITY;
}

std::vector<std::string> parse_train_flags(const std::vector<std::string>& args, Config& cfg) {
    std::vector<std::string> given;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a.rfind("--", 0) != 0 || a.size() == 2)
            throw std::invalid_argument("unexpected argument '" + a + "' (flags start with --; see gfn train --help)");
        std::string name = a.substr(2), value;
        bool has_value = false;
        size_t eq = name.find('=');
        if (eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
            has_value = true;
        }
        const Flag* f = find_flag(name);
        // --no-NAME turns a switch off (one an environment's defaults turned on).
        if (!f && name.rfind("no-", 0) == 0) {
            const Flag* sw = find_flag(name.substr(3));
            if (sw && sw->is_switch) {
                if (has_value) throw std::invalid_argument("--" + name + " takes no value");
                given.push_back(sw->name);
                sw->set(cfg, "false");
                continue;
            }
        }
        if (!f) throw std::invalid_argument("unknown flag --" + name + " (see gfn train --help)");
        given.push_back(name);
        if (f->is_switch) {
            if (has_value) throw std::invalid_argument("--" + name + " takes no value");
            f->set(cfg, "true");
            continue;
        }
        if (!has_value) {
            if (i + 1 >= args.size()) throw std::invalid_argument("--" + name + " needs a value");
            value = args[++i];
        }
        f->set(cfg, value);
    }
    apply_env_defaults(cfg, given);
    validate_config(cfg);
    return given;
}

std::vector<std::pair<std::string, std::string>> config_items(const Config& cfg) {
    std::vector<std::pair<std::string, std::string>> items;
    for (const Flag& f : flags()) items.emplace_back(f.name, f.get(cfg));
    return items;
}

void set_flag(Config& cfg, const std::string& name, const std::string& value) {
    const Flag* f = find_flag(name);
    if (!f) throw std::invalid_argument("unknown flag --" + name);
    if (f->is_switch && value != "true" && value != "false")
        throw std::invalid_argument("--" + name + ": expected true or false, got '" + value + "'");
    f->set(cfg, value);
}

std::vector<float> parse_conditions(const std::string& list) {
    std::vector<float> out;
    std::stringstream ss(list);
    std::string item;
    while (std::getline(ss, item, ',')) {
        double v = parse_double("--validation-conditions", item);
        require(v >= 0 && v <= 1, "--validation-conditions: each condition must be in [0, 1] (got " + item + ")");
        out.push_back(float(v));
    }
    require(!out.empty(), "--validation-conditions: give at least one condition, e.g. 0,0.5,1");
    return out;
}

void validate_config(const Config& c) {
    for (const Flag& f : flags()) {
        if (f.int_member) {
            const int v = c.*f.int_member;
            require(v >= f.lo && v <= f.hi,
                    "--" + f.name + ": must be in " + range_str(f.lo, f.hi) + " (got " + std::to_string(v) + ")");
        }
        if (f.float_member) check_float("--" + f.name, c.*f.float_member);
    }
    require(c.env == "hypergrid" || c.env == "conditional_hypergrid" || c.env == "discrete_ebm" || c.env == "ising" ||
                c.env == "bitsequence" || c.env == "bitsequence_nar" || c.continuous(),
            "--env: unknown environment '" + c.env +
                "' (choose hypergrid, conditional_hypergrid, discrete_ebm, ising, bitsequence, bitsequence_nar, "
                "line, diffusion, box or box_cartesian)");
    validate_continuous_config(c);
    require(std::isfinite(c.J), "--J: must be finite");
    if (c.env == "ising") {
        // |log R| <= α·Σ_ij |J_ij| = α·|J|·4·L² (four neighbours per site), stored as a float.
        const double alpha = std::isnan(c.alpha) || c.loss == "trust_pcl" ? 1.0 : c.alpha;
        require(alpha * std::fabs(c.J) * 4.0 * double(c.L) * double(c.L) <= double(std::numeric_limits<float>::max()),
                "--J: |J| = " + fmt(std::fabs(c.J)) + " makes log R overflow a float at --L " + std::to_string(c.L));
    }
    require(c.seq_size >= 1 && c.seq_size % c.word_size == 0,
            "--seq-size: must be a positive multiple of --word-size (got " + std::to_string(c.seq_size) + ")");
    require(std::isfinite(c.reward_temperature) && c.reward_temperature > 0, "--reward-temperature: must be > 0");
    // log R = −distance / temperature, distance <= seq_size, stored as a float.
    require(double(c.seq_size) / c.reward_temperature <= double(std::numeric_limits<float>::max()),
            "--reward-temperature: " + fmt(c.reward_temperature) + " makes log R overflow a float");
    require(!(c.ebm() && c.loss == "trust_pcl" && !std::isnan(c.alpha)),
            "--alpha: ambiguous with --env " + c.env + " and --loss trust_pcl (it is the energy scale here); "
            "give Trust-PCL's temperature as --beta (alpha = 1/beta)");
    require(!(c.relative() && c.prior == "tb" && !c.hypergrid()),
            "--prior tb: the TB prior is trained on a HyperGrid reward (--prior-reward); use --prior uniform with --env " +
                c.env);
    require(c.reward == "original" || c.reward == "cosine" || c.reward == "sparse" || c.reward == "deceptive",
            "--reward: unknown reward '" + c.reward + "' (choose original, cosine, sparse or deceptive)");
    require(c.prior_reward == "original" || c.prior_reward == "cosine" || c.prior_reward == "sparse" ||
                c.prior_reward == "deceptive",
            "--prior-reward: unknown reward '" + c.prior_reward + "' (choose original, cosine, sparse or deceptive)");
    require(c.loss == "tb" || c.loss == "lpv" || c.loss == "rtb" || c.loss == "relative_lpv" ||
                c.loss == "trust_pcl" || c.loss == "db" || c.loss == "modified_db" || c.loss == "subtb" ||
                c.loss == "fm" || c.loss == "vpg" || c.loss == "ppo" || c.loss == "soft_dqn" || c.loss == "mle",
            "--loss: unknown objective '" + c.loss +
                "' (choose tb, lpv, rtb, relative_lpv, trust_pcl, db, modified_db, subtb, fm, vpg, ppo, soft_dqn or "
                "mle)");
    require(c.loss != "mle" || c.diffusion(),
            "--loss mle: maximum-likelihood pretraining of a diffusion prior from target samples (--env diffusion)");
    // policy gradient (vpg, ppo)
    require(c.advantage == "total" || c.advantage == "reward_to_go" || c.advantage == "baseline" ||
                c.advantage == "gae",
            "--advantage: unknown advantage '" + c.advantage + "' (choose total, reward_to_go, baseline or gae)");
    require(!(c.loss == "ppo" && c.advantage != "gae"), "--advantage: ppo uses gae advantages (got " + c.advantage + ")");
    require(c.gae_lambda >= 0 && c.gae_lambda <= 1, "--gae-lambda: must be in [0, 1] (got " + fmt(c.gae_lambda) + ")");
    require(std::isfinite(c.value_weight) && c.value_weight >= 0, "--value-weight: must be >= 0");
    require(c.ppo_clip > 0 && c.ppo_clip < 1, "--ppo-clip: must be in (0, 1) (got " + fmt(c.ppo_clip) + ")");
    require(c.pb_loss == "none" || c.pb_loss == "tlm", "--pb-loss: unknown PB loss '" + c.pb_loss + "' (choose none or tlm)");
    {
        const bool balance = c.loss == "tb" || c.loss == "db" || c.loss == "subtb";
        require(!(c.pb_loss == "tlm" && !c.policy_gradient() && !balance),
                "--pb-loss tlm: only with --loss vpg, ppo, tb, db or subtb (got --loss " + c.loss + ")");
        require(!(c.pb_loss == "tlm" && c.uniform_pb), "--pb-loss tlm: trains a learned PB; --uniform-pb has none");
        // Beside a balance loss PB is detached from it; a PB head on PF's trunk cannot be.
        require(!(c.pb_loss == "tlm" && balance && c.tied),
                "--pb-loss tlm with --loss " + c.loss + ": PB must own its parameters (it is detached from the " +
                    c.loss + " loss); drop --tied");
        require(c.critic_loss == "mse" || c.critic_loss == "sub_eb",
                "--critic-loss: unknown critic loss '" + c.critic_loss + "' (choose mse or sub_eb)");
        require(!(c.critic_loss == "sub_eb" && !c.policy_gradient()),
                "--critic-loss sub_eb: only with --loss vpg or ppo (got --loss " + c.loss + ")");
        require(!(c.critic_loss == "sub_eb" && c.loss == "vpg" && !c.uses_log_f()),
                "--critic-loss sub_eb: --advantage " + c.advantage + " has no critic (choose baseline or gae)");
        require(!(c.critic_loss == "sub_eb" && c.subtb_weighting != "geometric_within"),
                "--critic-loss sub_eb weights sub-trajectories geometric_within (with --lambda); --subtb-weighting " +
                    c.subtb_weighting + " does not apply");
    }
    require(!(c.policy_gradient() && c.replay_buffer > 0),
            "--replay-buffer: --loss " + c.loss + " is on-policy (advantages of the current policy's rollouts); "
            "a replay buffer does not apply");
    require(!(c.policy_gradient() && c.local_search > 0),
            "--local-search: --loss " + c.loss + " is on-policy; local search's re-drawn trajectories do not apply");
    require(!(c.loss == "ppo" && c.ppo_minibatches > c.batch_size),
            "--ppo-minibatches: at most --batch-size (" + std::to_string(c.batch_size) + ")");
    // Soft DQN (soft_dqn)
    {
        const Config d;
        const bool dqn = c.loss == "soft_dqn";
        require(dqn || (!c.munchausen && c.munchausen_alpha == d.munchausen_alpha &&
                        c.munchausen_clip == d.munchausen_clip),
                "--munchausen / --munchausen-alpha / --munchausen-clip: only with --loss soft_dqn (got --loss " + c.loss +
                    ")");
        require(dqn || (c.target_tau == d.target_tau && c.target_update_every == d.target_update_every),
                "--target-tau / --target-update-every: the target network of --loss soft_dqn (got --loss " + c.loss + ")");
        require(c.munchausen || (c.munchausen_alpha == d.munchausen_alpha && c.munchausen_clip == d.munchausen_clip),
                "--munchausen-alpha / --munchausen-clip: add --munchausen");
        require(c.target_tau > 0 && c.target_tau <= 1, "--target-tau: must be in (0, 1] (got " + fmt(c.target_tau) + ")");
        require(c.munchausen_alpha >= 0 && c.munchausen_alpha < 1,
                "--munchausen-alpha: must be in [0, 1) (got " + fmt(c.munchausen_alpha) + ")");
        require(std::isfinite(c.munchausen_clip) && c.munchausen_clip < 0,
                "--munchausen-clip: must be < 0 (got " + fmt(c.munchausen_clip) + ")");
        require(!(dqn && c.tied), "--tied: --loss soft_dqn learns no PB (its PB is the fixed uniform one)");
        require(!(dqn && c.replay_buffer > 0 && c.buffer != "fifo"),
                "--buffer " + c.buffer + ": --loss soft_dqn keeps a FIFO buffer of transitions (--buffer fifo)");
    }
    require(!(c.forward_looking && c.loss != "db" && c.loss != "subtb"), "--forward-looking: only for --loss db or subtb");
    {
        const std::string& w = c.subtb_weighting;
        require(w == "db" || w == "modified_db" || w == "tb" || w == "equal" || w == "equal_within" ||
                    w == "geometric_within" || w == "geometric",
                "--subtb-weighting: unknown weighting '" + w +
                    "' (choose db, modified_db, tb, equal, equal_within, geometric_within or geometric)");
    }
    require(c.lambda > 0 && c.lambda <= 1, "--lambda: must be in (0, 1] (got " + fmt(c.lambda) + ")");
    require(std::isfinite(c.fm_alpha) && c.fm_alpha >= 0, "--fm-alpha: must be >= 0");
    require(std::isfinite(c.lr_logf) && c.lr_logf > 0, "--lr-logf: must be > 0");
    require(c.lr_schedule == "constant" || c.lr_schedule == "cosine" || c.lr_schedule == "step",
            "--lr-schedule: unknown schedule '" + c.lr_schedule + "' (choose constant, cosine or step)");
    require(c.gamma_scheduler > 0 && c.gamma_scheduler <= 1, "--gamma-scheduler: must be in (0, 1]");
    require(c.buffer == "fifo" || c.buffer == "prioritized" || c.buffer == "diverse" || c.buffer == "terminating_state",
            "--buffer: unknown replay buffer '" + c.buffer + "' (choose fifo, prioritized, diverse or terminating_state)");
    require(!(c.buffer == "terminating_state" && c.replay_buffer > 0 && !c.uses_pb()),
            "--buffer terminating_state re-draws trajectories through PB; --loss " + c.loss + " has none");
    require(std::isfinite(c.cutoff_distance), "--cutoff-distance: must be finite");
    require(std::isfinite(c.p_norm_distance) && c.p_norm_distance >= 0, "--p-norm-distance: must be >= 0");
    require(c.back_ratio > 0 && c.back_ratio <= 1, "--back-ratio: must be in (0, 1]");
    require(c.loss_fn == "default" || c.loss_fn == "squared" || c.loss_fn == "half_squared" ||
                c.loss_fn == "shifted_cosh" || c.loss_fn == "linex",
            "--loss-fn: unknown loss function '" + c.loss_fn +
                "' (choose squared, half_squared, shifted_cosh or linex)");
    require(!(c.loss_fn == "linex" && (c.linex_alpha == 0.0 || !std::isfinite(c.linex_alpha))),
            "--linex-alpha: must be finite and non-zero for --loss-fn linex");
    require(!std::isnan(c.log_reward_clip_min) && c.log_reward_clip_min < INFINITY,
            "--log-reward-clip-min: must be a number or -inf");
    require(std::isfinite(c.beta) && c.beta > 0, "--beta: must be > 0");
    require(std::isnan(c.alpha) || (std::isfinite(c.alpha) && c.alpha > 0), "--alpha: must be > 0");
    require(std::isfinite(c.init_logz), "--init-logz: must be finite");
    require(!c.prior_from_file() || access(c.prior.c_str(), R_OK) == 0,
            "--prior: unknown prior '" + c.prior + "' (choose tb, uniform, or a readable checkpoint file)");
    require(!c.prior_from_file() || c.relative(),
            "--prior " + c.prior + ": a prior checkpoint is for the relative objectives (--loss rtb, relative_lpv, "
            "trust_pcl)");
    require(!(c.relative() && c.conditional()),
            "--loss " + c.loss + ": the relative objectives run on unconditional environments (use --env hypergrid)");
    require(c.activation == "relu" || c.activation == "leaky_relu" || c.activation == "tanh" || c.activation == "elu",
            "--activation: unknown activation '" + c.activation + "' (choose relu, leaky_relu, tanh or elu)");
    require(!(c.tied && c.uniform_pb), "--tied and --uniform-pb exclude each other (a uniform PB has no head)");
    require(!(c.relative() && (c.tied || c.uniform_pb)),
            "--tied / --uniform-pb: the relative objectives (rtb, relative_lpv, trust_pcl) use no PB");
    require(!(c.uses_log_f() && c.conditional() && !c.tied),
            "--loss " + c.loss + " on --env conditional_hypergrid: log F(s | c) is a head on the conditional PF's "
            "trunk; add --tied");
    require(!(c.loss == "fm" && (c.uniform_pb || c.tied)), "--tied / --uniform-pb: FM learns edge flows and uses no PB");
    require(!((c.loss == "modified_db" || c.forward_looking) && !c.hypergrid()),
            std::string(c.loss == "modified_db" ? "--loss modified_db" : "--forward-looking") +
                " needs every state to be terminating (a reward at every state); --env " + c.env +
                " has states that are not (use --env hypergrid" +
                (c.diffusion() && c.forward_looking ? "; a diffusion sampler's flow takes --partial-energy" : "") + ")");
    require(c.optimizer == "adam" || c.optimizer == "adamw" || c.optimizer == "sgd",
            "--optimizer: unknown optimizer '" + c.optimizer + "' (choose adam, adamw or sgd)");
    require(std::isfinite(c.lr) && c.lr > 0, "--lr: must be > 0");
    require(std::isfinite(c.lr_logz) && c.lr_logz > 0, "--lr-logz: must be > 0");
    require(std::isfinite(c.weight_decay) && c.weight_decay >= 0, "--weight-decay: must be >= 0");
    require(std::isfinite(c.clip_grad_norm) && c.clip_grad_norm >= 0, "--clip-grad-norm: must be >= 0 (0: off)");
    require(c.epsilon >= 0 && c.epsilon <= 1, "--epsilon: must be in [0, 1]");
    require(std::isfinite(c.temperature) && c.temperature > 0, "--temperature: must be > 0");
    require(std::isfinite(c.sf_bias), "--sf-bias: must be finite");
    parse_conditions(c.validation_conditions);
    require(!(c.save_every > 0 && c.save.empty()), "--save-every: give the checkpoint file with --save FILE");
    auto ends_with = [](const std::string& s, const std::string& e) {
        return s.size() >= e.size() && s.compare(s.size() - e.size(), e.size(), e) == 0;
    };
    require(c.log.empty() || ends_with(c.log, ".csv") || ends_with(c.log, ".jsonl"),
            "--log: the metrics file must end in .csv or .jsonl (got '" + c.log + "')");
    require(c.plot.empty() || ends_with(c.plot, ".svg"), "--plot: the figure must end in .svg (got '" + c.plot + "')");
    require(!(c.loss == "lpv" && c.batch_size < 2), "--batch-size: LPV needs at least 2 trajectories per batch");
    check_run_memory(c, physical_memory_bytes());
}

namespace {

// The value after args[i] (advancing i), or an error naming the flag.
const std::string& flag_value(const std::vector<std::string>& args, size_t& i) {
    if (i + 1 >= args.size()) throw std::invalid_argument(args[i] + " needs a value");
    return args[++i];
}

}  // namespace

SampleFlags parse_sample_flags(const std::vector<std::string>& args) {
    SampleFlags f;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "-n" || a == "--n") f.n = parse_int(a, flag_value(args, i), 1, 1000000000000LL);
        else if (a == "--seed") f.seed = parse_seed(a, flag_value(args, i));
        else if (a == "--threads") f.threads = int(parse_int(a, flag_value(args, i), 0, 1024));
        else if (a == "-h" || a == "--help") { f.help = true; return f; }
        else if (a.rfind("-", 0) == 0) throw std::invalid_argument("unknown flag " + a + " (see gfn sample --help)");
        else if (f.path.empty()) f.path = a;
        else throw std::invalid_argument("unexpected argument '" + a + "'");
    }
    if (f.path.empty()) throw std::invalid_argument("give the checkpoint file: gfn sample FILE -n N");
    return f;
}

EvalFlags parse_eval_flags(const std::vector<std::string>& args) {
    EvalFlags f;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--validation-samples") f.validation_samples = int(parse_int(a, flag_value(args, i), 1, 1000000000));
        else if (a == "--threads") f.threads = int(parse_int(a, flag_value(args, i), 0, 1024));
        else if (a == "--json") f.json = true;
        else if (a == "-h" || a == "--help") { f.help = true; return f; }
        else if (a.rfind("-", 0) == 0) throw std::invalid_argument("unknown flag " + a + " (see gfn eval --help)");
        else if (f.path.empty()) f.path = a;
        else throw std::invalid_argument("unexpected argument '" + a + "'");
    }
    if (f.path.empty()) throw std::invalid_argument("give the checkpoint file: gfn eval FILE");
    return f;
}

PlotFlags parse_plot_flags(const std::vector<std::string>& args) {
    PlotFlags f;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "-o" || a == "--out") {
            if (!f.out.empty()) throw std::invalid_argument(a + ": the output file is given twice (one -o)");
            f.out = flag_value(args, i);
            if (f.out.empty()) throw std::invalid_argument(a + ": empty file name");
        } else if (a == "-h" || a == "--help") {
            f.help = true;
            return f;
        } else if (a.rfind("-", 0) == 0) {
            throw std::invalid_argument("unknown flag " + a + " (see gfn plot --help)");
        } else if (f.in.empty()) {
            f.in = a;
        } else {
            throw std::invalid_argument("unexpected argument '" + a + "'");
        }
    }
    if (f.in.empty()) throw std::invalid_argument("give the metrics file: gfn plot FILE.csv");
    if (f.out.empty()) f.out = f.in.substr(0, f.in.find_last_of('.')) + ".svg";
    if (f.out == f.in) throw std::invalid_argument("the SVG would overwrite the metrics file; give -o OUT.svg");
    return f;
}

std::string train_flags_help() {
    std::ostringstream s;
    Config def;
    for (const Flag& f : flags()) {
        std::string head = "  --" + f.name + (f.is_switch ? "" : " V");
        s << head;
        for (size_t k = head.size(); k < 30; ++k) s << ' ';
        if (head.size() >= 30) s << ' ';  // a name longer than the column
        s << f.help;
        if (!f.is_switch) s << " [default: " << f.get(def) << "]";
        else s << " [--no-" << f.name << ": off]";
        if (f.int_member) s << " [range: " << f.lo << " to " << f.hi << "]";
        s << "\n";
    }
    return s.str();
}

std::string describe(const Config& cfg) {
    std::ostringstream s;
    bool first = true;
    for (const Flag& f : flags()) {
        s << (first ? "" : " ") << f.name << "=" << f.get(cfg);
        first = false;
    }
    return s.str();
}

}  // namespace gfn
