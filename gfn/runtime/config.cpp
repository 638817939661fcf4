// config.cpp — see config.h. One table lists every flag: its name, help, how to
// set it and how to print it, so --help, parsing and the echo never disagree.
#include "gfn/runtime/config.h"

#include <cerrno>
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
};

std::string fmt(double v) {
    if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
    if (std::isnan(v)) return "unset";
    std::ostringstream s;
    s << v;
    return s.str();
}

double to_double(const std::string& flag, const std::string& v) {
    if (v == "-inf" || v == "-infinity") return -INFINITY;
    if (v == "inf" || v == "infinity") return INFINITY;
    if (v == "unset") return NAN;  // how an unset optional value (--alpha) prints
    char* end = nullptr;
    errno = 0;
    double d = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || errno == ERANGE)
        throw std::invalid_argument("--" + flag + ": '" + v + "' is not a number");
    return d;
}

long long to_int(const std::string& flag, const std::string& v) {
    char* end = nullptr;
    errno = 0;
    long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || errno == ERANGE)
        throw std::invalid_argument("--" + flag + ": '" + v + "' is not a whole number");
    return x;
}

int to_int32(const std::string& flag, const std::string& v) {
    long long x = to_int(flag, v);
    if (x < std::numeric_limits<int>::min() || x > std::numeric_limits<int>::max())
        throw std::invalid_argument("--" + flag + ": " + v + " is out of range");
    return int(x);
}

Flag str_flag(const std::string& name, std::string Config::*m, const std::string& help) {
    return {name, help, false, [m](Config& c, const std::string& v) { c.*m = v; },
            [m](const Config& c) { return c.*m; }};
}
Flag int_flag(const std::string& name, int Config::*m, const std::string& help) {
    return {name, help, false, [m, name](Config& c, const std::string& v) { c.*m = to_int32(name, v); },
            [m](const Config& c) { return std::to_string(c.*m); }};
}
Flag dbl_flag(const std::string& name, double Config::*m, const std::string& help) {
    return {name, help, false, [m, name](Config& c, const std::string& v) { c.*m = to_double(name, v); },
            [m](const Config& c) { return fmt(c.*m); }};
}
Flag switch_flag(const std::string& name, bool Config::*m, const std::string& help) {
    return {name, help, true, [m](Config& c, const std::string& v) { c.*m = v != "false"; },
            [m](const Config& c) { return std::string(c.*m ? "true" : "false"); }};
}

const std::vector<Flag>& flags() {
    static const std::vector<Flag> table = {
        str_flag("env", &Config::env,
                 "environment: hypergrid | conditional_hypergrid | discrete_ebm | ising | bitsequence | bitsequence_nar"),
        int_flag("ndim", &Config::ndim, "HyperGrid / DiscreteEBM dimensions"),
        int_flag("height", &Config::height, "HyperGrid side length"),
        str_flag("reward", &Config::reward, "HyperGrid reward: original | cosine | sparse | deceptive"),
        dbl_flag("R0", &Config::R0, "HyperGrid reward R0"),
        dbl_flag("R1", &Config::R1, "HyperGrid reward R1"),
        dbl_flag("R2", &Config::R2, "HyperGrid reward R2"),
        int_flag("L", &Config::L, "Ising: side of the periodic L x L lattice"),
        dbl_flag("J", &Config::J, "Ising: coupling of neighbouring spins"),
        int_flag("word-size", &Config::word_size, "BitSequence: bits per word"),
        int_flag("seq-size", &Config::seq_size, "BitSequence: bits per sequence (a multiple of --word-size)"),
        int_flag("n-modes", &Config::n_modes, "BitSequence: number of modes"),
        dbl_flag("reward-temperature", &Config::reward_temperature,
                 "BitSequence: log R = -(Hamming distance to the modes) / this"),
        {"modes-seed", "BitSequence: seed of the mode set", false,
         [](Config& c, const std::string& v) {
             long long x = to_int("modes-seed", v);
             if (x < 0) throw std::invalid_argument("--modes-seed: must be >= 0 (got " + v + ")");
             c.modes_seed = (unsigned long long)x;
         },
         [](const Config& c) { return std::to_string(c.modes_seed); }},
        str_flag("preprocessor", &Config::preprocessor, "network input: default | identity | one_hot | k_hot"),
        str_flag("loss", &Config::loss,
                 "objective: tb | lpv | rtb | relative_lpv | trust_pcl | db | modified_db | subtb | fm"),
        switch_flag("forward-looking", &Config::forward_looking, "DB / SubTB: log F(s) = log F~(s) + log R(s)"),
        str_flag("subtb-weighting", &Config::subtb_weighting,
                 "SubTB: db | modified_db | tb | equal | equal_within | geometric_within | geometric"),
        dbl_flag("lambda", &Config::lambda, "SubTB: lambda in (0, 1]"),
        dbl_flag("fm-alpha", &Config::fm_alpha, "FM: weight of the reward-matching term"),
        str_flag("loss-fn", &Config::loss_fn,
                 "residual loss g: default | squared | half_squared | shifted_cosh | linex"),
        dbl_flag("linex-alpha", &Config::linex_alpha, "alpha of the linex loss (non-zero)"),
        dbl_flag("log-reward-clip-min", &Config::log_reward_clip_min,
                 "clamp log R from below (needed when a reward can be 0)"),
        dbl_flag("beta", &Config::beta, "relative objectives: exponent of the constraint r^beta"),
        dbl_flag("alpha", &Config::alpha,
                 "DiscreteEBM/Ising: energy scale (default 1); Trust-PCL: temperature alpha = 1/beta"),
        dbl_flag("init-logz", &Config::init_logz, "initial log Z (Trust-PCL: initial v_soft(s0))"),
        str_flag("prior", &Config::prior,
                 "relative objectives' frozen prior PF: tb (trained with TB on --prior-reward first) | uniform"),
        str_flag("prior-reward", &Config::prior_reward, "reward the tb prior is trained on"),
        int_flag("prior-iterations", &Config::prior_iterations, "iterations of the tb prior's training"),
        switch_flag("recalculate-all-logprobs", &Config::recalculate_all_logprobs,
                    "re-evaluate PF on the stored states even on-policy"),
        int_flag("hidden", &Config::hidden, "hidden units per layer"),
        int_flag("layers", &Config::layers, "hidden layers (counting the input projection)"),
        str_flag("activation", &Config::activation, "relu | leaky_relu | tanh | elu"),
        switch_flag("tied", &Config::tied, "PB is a head on PF's trunk"),
        switch_flag("uniform-pb", &Config::uniform_pb, "PB uniform over parents (not learned)"),
        int_flag("batch-size", &Config::batch_size, "trajectories per iteration"),
        int_flag("iterations", &Config::iterations, "training iterations"),
        str_flag("optimizer", &Config::optimizer, "adam | adamw | sgd"),
        dbl_flag("lr", &Config::lr, "learning rate of the networks"),
        dbl_flag("lr-logz", &Config::lr_logz, "learning rate of log Z"),
        dbl_flag("lr-logf", &Config::lr_logf, "learning rate of the log F network (DB, SubTB)"),
        str_flag("lr-schedule", &Config::lr_schedule,
                 "constant | cosine: every learning rate times (1 + cos(pi t / iterations)) / 2"),
        dbl_flag("weight-decay", &Config::weight_decay, "weight decay of the networks"),
        dbl_flag("clip-grad-norm", &Config::clip_grad_norm, "clip gradients to this global norm (0: off)"),
        dbl_flag("epsilon", &Config::epsilon, "exploration: mix epsilon of uniform into PF"),
        dbl_flag("temperature", &Config::temperature, "exploration: divide PF logits by this"),
        dbl_flag("sf-bias", &Config::sf_bias, "exploration: subtract from the exit logit"),
        int_flag("replay-buffer", &Config::replay_buffer, "replay buffer capacity (0: none)"),
        str_flag("buffer", &Config::buffer, "replay buffer: fifo | prioritized | diverse | terminating_state"),
        dbl_flag("cutoff-distance", &Config::cutoff_distance, "diverse buffer: minimal distance to admit"),
        dbl_flag("p-norm-distance", &Config::p_norm_distance, "diverse buffer: p of the p-norm distance"),
        int_flag("local-search", &Config::local_search, "local-search loops per iteration (0: none)"),
        dbl_flag("back-ratio", &Config::back_ratio, "local search: share of a trajectory to back off, (0, 1]"),
        switch_flag("local-search-mh", &Config::local_search_mh,
                    "local search: Metropolis-Hastings acceptance (default: greedy)"),
        {"seed", "random seed", false,
         [](Config& c, const std::string& v) {
             long long x = to_int("seed", v);
             if (x < 0) throw std::invalid_argument("--seed: must be >= 0 (got " + v + ")");
             c.seed = (unsigned long long)x;
         },
         [](const Config& c) { return std::to_string(c.seed); }},
        int_flag("threads", &Config::threads, "threads for OpenMP and OpenBLAS (0: OMP_NUM_THREADS or all cores)"),
        int_flag("validation-interval", &Config::validation_interval, "validate every N iterations (0: at the end)"),
        int_flag("validation-samples", &Config::validation_samples, "fresh samples per validation"),
        str_flag("validation-conditions", &Config::validation_conditions,
                 "conditional envs: comma-separated conditions c in [0, 1] to validate at"),
        int_flag("log-interval", &Config::log_interval, "print a progress line every N iterations"),
        switch_flag("json", &Config::json, "end with one JSON line of the final metrics"),
        switch_flag("quiet", &Config::quiet, "print only the final metrics"),
        switch_flag("trace", &Config::trace, "print one trajectory step by step and the terms of its loss"),
        str_flag("save", &Config::save, "checkpoint file, written atomically at the end (and every --save-every)"),
        int_flag("save-every", &Config::save_every, "also checkpoint every N iterations (0: only at the end)"),
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
        double v = to_double("validation-conditions", item);
        require(v >= 0 && v <= 1, "--validation-conditions: each condition must be in [0, 1] (got " + item + ")");
        out.push_back(float(v));
    }
    require(!out.empty(), "--validation-conditions: give at least one condition, e.g. 0,0.5,1");
    return out;
}

void validate_config(const Config& c) {
    require(c.env == "hypergrid" || c.env == "conditional_hypergrid" || c.env == "discrete_ebm" || c.env == "ising" ||
                c.env == "bitsequence" || c.env == "bitsequence_nar",
            "--env: unknown environment '" + c.env +
                "' (choose hypergrid, conditional_hypergrid, discrete_ebm, ising, bitsequence or bitsequence_nar)");
    require(c.L >= 2, "--L: must be >= 2 (got " + std::to_string(c.L) + ")");
    require(std::isfinite(c.J), "--J: must be finite");
    require(c.word_size >= 1 && c.word_size <= 16, "--word-size: must be in [1, 16]");
    require(c.seq_size >= 1 && c.seq_size % c.word_size == 0,
            "--seq-size: must be a positive multiple of --word-size (got " + std::to_string(c.seq_size) + ")");
    require(c.n_modes >= 1, "--n-modes: must be >= 1");
    require(std::isfinite(c.reward_temperature) && c.reward_temperature > 0, "--reward-temperature: must be > 0");
    require(!(c.ebm() && c.loss == "trust_pcl" && !std::isnan(c.alpha)),
            "--alpha: ambiguous with --env " + c.env + " and --loss trust_pcl (it is the energy scale here); "
            "give Trust-PCL's temperature as --beta (alpha = 1/beta)");
    require(!(c.relative() && c.prior == "tb" && !c.hypergrid()),
            "--prior tb: the TB prior is trained on a HyperGrid reward (--prior-reward); use --prior uniform with --env " +
                c.env);
    require(c.ndim >= 1, "--ndim: must be >= 1 (got " + std::to_string(c.ndim) + ")");
    require(c.height >= 2, "--height: must be >= 2 (got " + std::to_string(c.height) + ")");
    require(c.reward == "original" || c.reward == "cosine" || c.reward == "sparse" || c.reward == "deceptive",
            "--reward: unknown reward '" + c.reward + "' (choose original, cosine, sparse or deceptive)");
    require(c.prior_reward == "original" || c.prior_reward == "cosine" || c.prior_reward == "sparse" ||
                c.prior_reward == "deceptive",
            "--prior-reward: unknown reward '" + c.prior_reward + "' (choose original, cosine, sparse or deceptive)");
    require(c.loss == "tb" || c.loss == "lpv" || c.loss == "rtb" || c.loss == "relative_lpv" ||
                c.loss == "trust_pcl" || c.loss == "db" || c.loss == "modified_db" || c.loss == "subtb" ||
                c.loss == "fm",
            "--loss: unknown objective '" + c.loss +
                "' (choose tb, lpv, rtb, relative_lpv, trust_pcl, db, modified_db, subtb or fm)");
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
    require(c.lr_schedule == "constant" || c.lr_schedule == "cosine",
            "--lr-schedule: unknown schedule '" + c.lr_schedule + "' (choose constant or cosine)");
    require(c.replay_buffer >= 0, "--replay-buffer: the capacity must be >= 0 (0: no buffer)");
    require(c.buffer == "fifo" || c.buffer == "prioritized" || c.buffer == "diverse" || c.buffer == "terminating_state",
            "--buffer: unknown replay buffer '" + c.buffer + "' (choose fifo, prioritized, diverse or terminating_state)");
    require(!(c.buffer == "terminating_state" && c.replay_buffer > 0 && !c.uses_pb()),
            "--buffer terminating_state re-draws trajectories through PB; --loss " + c.loss + " has none");
    require(std::isfinite(c.cutoff_distance), "--cutoff-distance: must be finite");
    require(std::isfinite(c.p_norm_distance) && c.p_norm_distance >= 0, "--p-norm-distance: must be >= 0");
    require(c.local_search >= 0, "--local-search: must be >= 0 (0: none)");
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
    require(c.prior == "tb" || c.prior == "uniform", "--prior: unknown prior '" + c.prior + "' (choose tb or uniform)");
    require(!(c.relative() && c.conditional()),
            "--loss " + c.loss + ": the relative objectives run on unconditional environments (use --env hypergrid)");
    require(c.prior_iterations >= 1, "--prior-iterations: must be >= 1");
    require(c.hidden >= 1, "--hidden: must be >= 1 (got " + std::to_string(c.hidden) + ")");
    require(c.layers >= 1, "--layers: must be >= 1 (got " + std::to_string(c.layers) + ")");
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
                " has states that are not (use --env hypergrid)");
    require(c.batch_size >= 1, "--batch-size: must be >= 1 (got " + std::to_string(c.batch_size) + ")");
    require(c.iterations >= 0, "--iterations: must be >= 0 (got " + std::to_string(c.iterations) + ")");
    require(c.optimizer == "adam" || c.optimizer == "adamw" || c.optimizer == "sgd",
            "--optimizer: unknown optimizer '" + c.optimizer + "' (choose adam, adamw or sgd)");
    require(std::isfinite(c.lr) && c.lr > 0, "--lr: must be > 0");
    require(std::isfinite(c.lr_logz) && c.lr_logz > 0, "--lr-logz: must be > 0");
    require(std::isfinite(c.weight_decay) && c.weight_decay >= 0, "--weight-decay: must be >= 0");
    require(std::isfinite(c.clip_grad_norm) && c.clip_grad_norm >= 0, "--clip-grad-norm: must be >= 0 (0: off)");
    require(c.epsilon >= 0 && c.epsilon <= 1, "--epsilon: must be in [0, 1]");
    require(std::isfinite(c.temperature) && c.temperature > 0, "--temperature: must be > 0");
    require(std::isfinite(c.sf_bias), "--sf-bias: must be finite");
    require(c.threads >= 0, "--threads: must be >= 0 (0: OMP_NUM_THREADS or all cores)");
    require(c.validation_interval >= 0, "--validation-interval: must be >= 0 (0: once, at the end)");
    require(c.validation_samples >= 1, "--validation-samples: must be >= 1");
    require(c.log_interval >= 1, "--log-interval: must be >= 1");
    parse_conditions(c.validation_conditions);
    require(c.save_every >= 0, "--save-every: must be >= 0 (0: only at the end)");
    require(!(c.save_every > 0 && c.save.empty()), "--save-every: give the checkpoint file with --save FILE");
    auto ends_with = [](const std::string& s, const std::string& e) {
        return s.size() >= e.size() && s.compare(s.size() - e.size(), e.size(), e) == 0;
    };
    require(c.log.empty() || ends_with(c.log, ".csv") || ends_with(c.log, ".jsonl"),
            "--log: the metrics file must end in .csv or .jsonl (got '" + c.log + "')");
    require(c.plot.empty() || ends_with(c.plot, ".svg"), "--plot: the figure must end in .svg (got '" + c.plot + "')");
    require(!(c.loss == "lpv" && c.batch_size < 2), "--batch-size: LPV needs at least 2 trajectories per batch");
}

std::string train_flags_help() {
    std::ostringstream s;
    Config def;
    for (const Flag& f : flags()) {
        std::string head = "  --" + f.name + (f.is_switch ? "" : " V");
        s << head;
        for (size_t k = head.size(); k < 30; ++k) s << ' ';
        s << f.help;
        if (!f.is_switch) s << " [default: " << f.get(def) << "]";
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
