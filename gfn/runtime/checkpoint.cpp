// checkpoint.cpp — see checkpoint.h.
#include "gfn/runtime/checkpoint.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "gfn/runtime/config.h"
#include "gfn/runtime/distributed.h"
#include "gfn/runtime/output_paths.h"
#include "gfn/runtime/training.h"

namespace gfn {

namespace {

const char kMagic[8] = {'G', 'F', 'N', 'C', 'K', 'P', 'T', '\0'};

// FNV-1a, 64 bits: h ← (h ⊕ byte) · 1099511628211, from 14695981039346656037.
uint64_t fnv1a(const std::string& bytes) {
    uint64_t h = 14695981039346656037ULL;
    for (unsigned char c : bytes) {
        h ^= c;
        h *= 1099511628211ULL;
    }
    return h;
}

struct Writer {
    std::string buf;
    template <class T> void put(T v) { buf.append(reinterpret_cast<const char*>(&v), sizeof v); }
    void put_string(const std::string& s) { put<uint64_t>(s.size()); buf += s; }
    template <class T> void put_vector(const std::vector<T>& v) {
        put<uint64_t>(v.size());
        if (!v.empty()) buf.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
    }
};

struct Reader;
void put_trajectories(Writer& w, const Trajectories& t) {
    w.put<int32_t>(t.n);
    w.put<int32_t>(t.max_length);
    w.put<int32_t>(t.state_dim);
    w.put<int32_t>(t.condition_dim);
    w.put_vector(t.states);
    w.put_vector(t.actions);
    w.put_vector(t.lengths);
    w.put_vector(t.log_rewards);
    w.put_vector(t.conditions);
}

struct Reader {
    const std::string& buf;
    size_t pos = 0;
    std::string path;
    void need(size_t n) {
        if (buf.size() - pos < n) throw std::runtime_error("checkpoint " + path + " is truncated or malformed");
    }
    template <class T> T get() {
        need(sizeof(T));
        T v;
        std::memcpy(&v, buf.data() + pos, sizeof v);
        pos += sizeof v;
        return v;
    }
    std::string get_string() {
        uint64_t n = get<uint64_t>();
        need(n);
        std::string s = buf.substr(pos, n);
        pos += n;
        return s;
    }
    template <class T> std::vector<T> get_vector() {
        uint64_t n = get<uint64_t>();
        if (n > (buf.size() - pos) / sizeof(T)) need(buf.size());  // throws
        std::vector<T> v(n);
        if (n) std::memcpy(v.data(), buf.data() + pos, n * sizeof(T));
        pos += n * sizeof(T);
        return v;
    }
};

std::string read_file(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) throw std::runtime_error("cannot open checkpoint " + path + ": " + std::strerror(errno));
    std::string s;
    char buf[1 << 16];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
    bool err = std::ferror(f);
    std::fclose(f);
    if (err) throw std::runtime_error("cannot read checkpoint " + path);
    return s;
}

// The payload of a checkpoint file, after checking magic, version, size and checksum.
std::string payload_of(const std::string& path, uint32_t* version_out = nullptr) {
    std::string file = read_file(path);
    const size_t header = sizeof kMagic + 4 + 8 + 8;
    if (file.size() < sizeof kMagic || std::memcmp(file.data(), kMagic, sizeof kMagic) != 0)
        throw std::runtime_error(path + " is not a gfn.cpp checkpoint");
    if (file.size() < header) throw std::runtime_error("checkpoint " + path + " is truncated (header incomplete)");
    uint32_t version;
    uint64_t size, sum;
    std::memcpy(&version, file.data() + 8, 4);
    std::memcpy(&size, file.data() + 12, 8);
    std::memcpy(&sum, file.data() + 20, 8);
    if (version != kCheckpointVersion && version != 1)
        throw std::runtime_error("checkpoint " + path + " has format version " + std::to_string(version) +
                                 "; this build reads version " + std::to_string(kCheckpointVersion));
    if (file.size() - header != size)
        throw std::runtime_error("checkpoint " + path + " is truncated or has trailing bytes (" +
                                 std::to_string(file.size() - header) + " payload bytes, expected " +
                                 std::to_string(size) + ")");
    std::string payload = file.substr(header);
    if (fnv1a(payload) != sum) throw std::runtime_error("checkpoint " + path + " is corrupted (checksum mismatch)");
    if (version_out) *version_out = version;
    return payload;
}

Trajectories get_trajectories(Reader& r) {
    Trajectories t;
    t.n = r.get<int32_t>();
    t.max_length = r.get<int32_t>();
    t.state_dim = r.get<int32_t>();
    t.condition_dim = r.get<int32_t>();
    t.states = r.get_vector<int>();
    t.actions = r.get_vector<int>();
    t.lengths = r.get_vector<int>();
    t.log_rewards = r.get_vector<float>();
    t.conditions = r.get_vector<float>();
    const size_t n = size_t(t.n), D = size_t(t.state_dim);
    if (t.n < 0 || t.max_length < 0 || t.lengths.size() != n || t.log_rewards.size() != n ||
        t.states.size() != size_t(t.max_length + 1) * n * D || t.actions.size() != size_t(t.max_length) * n ||
        t.conditions.size() != n * size_t(t.condition_dim))
        throw std::runtime_error("checkpoint " + r.path + ": malformed replay buffer");
    for (int L : t.lengths)
        if (L < 1 || L > t.max_length) throw std::runtime_error("checkpoint " + r.path + ": malformed replay buffer");
    t.index_steps();
    return t;
}

Config config_from(Reader& r) {
    Config cfg;
    uint64_t n = r.get<uint64_t>();
    for (uint64_t k = 0; k < n; ++k) {
        std::string name = r.get_string(), value = r.get_string();
        set_flag(cfg, name, value);
    }
    return cfg;
}

// A replay buffer as saved: its kind, then its trajectories (oldest first) or its terminating states.
struct SavedBuffer {
    std::string kind;
    Trajectories trajectories;
    Transitions transitions;
    std::vector<int> states;
    std::vector<float> log_rewards, conditions;
};

void put_buffer(Writer& w, const ReplayBuffer* buffer) {
    w.put_string(buffer ? buffer->kind() : "");
    if (auto* tb = dynamic_cast<const TrajectoryReplayBuffer*>(buffer)) {
        put_trajectories(w, tb->contents());
    } else if (auto* xb = dynamic_cast<const TransitionReplayBuffer*>(buffer)) {
        const Transitions& t = xb->contents();
        w.put<int32_t>(t.n);
        w.put_vector(t.states);
        w.put_vector(t.actions);
        w.put_vector(t.is_exit);
        w.put_vector(t.next_states);
        w.put_vector(t.log_rewards);
        w.put_vector(t.conditions);
    } else if (auto* sb = dynamic_cast<const TerminatingStateBuffer*>(buffer)) {
        w.put_vector(sb->states());
        w.put_vector(sb->log_rewards());
        w.put_vector(sb->conditions());
    }
}

SavedBuffer get_buffer(Reader& r, const Run& run) {
    SavedBuffer b;
    b.kind = r.get_string();
    if (b.kind != (run.buffer ? run.buffer->kind() : ""))
        throw std::runtime_error("checkpoint " + r.path + " has replay buffer '" + b.kind + "', this run '" +
                                 (run.buffer ? run.buffer->kind() : "") + "'");
    if (dynamic_cast<const TrajectoryReplayBuffer*>(run.buffer.get())) {
        b.trajectories = get_trajectories(r);
    } else if (dynamic_cast<const TransitionReplayBuffer*>(run.buffer.get())) {
        Transitions& t = b.transitions;
        t.allocate(0, run.env->state_dim(), run.env->condition_dim());
        t.n = r.get<int32_t>();
        t.states = r.get_vector<int>();
        t.actions = r.get_vector<int>();
        t.is_exit = r.get_vector<uint8_t>();
        t.next_states = r.get_vector<int>();
        t.log_rewards = r.get_vector<float>();
        t.conditions = r.get_vector<float>();
        const size_t n = size_t(t.n), D = size_t(t.state_dim);
        if (t.n < 0 || t.states.size() != n * D || t.next_states.size() != n * D || t.actions.size() != n ||
            t.is_exit.size() != n || t.log_rewards.size() != n || t.conditions.size() != n * size_t(t.condition_dim))
            throw std::runtime_error("checkpoint " + r.path + ": malformed replay buffer");
    } else if (dynamic_cast<const TerminatingStateBuffer*>(run.buffer.get())) {
        b.states = r.get_vector<int>();
        b.log_rewards = r.get_vector<float>();
        b.conditions = r.get_vector<float>();
        const size_t n = b.log_rewards.size();
        if (b.states.size() != n * size_t(run.env->state_dim()) ||
            b.conditions.size() != n * size_t(run.env->condition_dim()))
            throw std::runtime_error("checkpoint " + r.path + ": malformed replay buffer");
    }
    return b;
}

// Re-adding the saved contents to an empty buffer rebuilds it exactly (stable order).
void restore_buffer(Run& run, const SavedBuffer& b) {
    if (!run.buffer) return;
    run.buffer->clear();
    if (auto* xb = dynamic_cast<TransitionReplayBuffer*>(run.buffer.get())) {
        if (b.transitions.n > 0) xb->add_transitions(b.transitions);
    } else if (auto* sb = dynamic_cast<TerminatingStateBuffer*>(run.buffer.get())) {
        if (!b.log_rewards.empty())
            sb->add_terminal_states(b.states.data(), b.log_rewards.data(),
                                    b.conditions.empty() ? nullptr : b.conditions.data(), int(b.log_rewards.size()));
    } else if (b.trajectories.n > 0) {
        run.buffer->add(b.trajectories);
    }
}

// The frozen parameters saved beside the trained ones (the "prior" slot of the format):
// the relative objectives' prior, or soft_dqn's target network (the two never meet);
// null when the run has neither.
const std::vector<float>* frozen_values(const Run& run) {
    if (run.prior_run) return &run.prior_run->store.values;
    if (run.target_pf) return &run.target_store.values;
    return nullptr;
}

bool all_finite(const std::vector<float>& v) {
    for (float x : v)
        if (!std::isfinite(x)) return false;
    return true;
}

}  // namespace

bool resumable_override(const std::string& flag) {
    for (const char* f : {"iterations", "threads", "validation-interval", "validation-samples", "validation-conditions",
                          "log-interval", "json", "quiet", "trace", "save", "save-every", "resume", "log", "plot",
                          "no-state-dedup"})
        if (flag == f) return true;
    return false;
}

bool output_flag(const std::string& flag) {
    for (const char* f : {"log", "plot", "save", "save-every", "quiet", "json", "trace"})
        if (flag == f) return true;
    return false;
}

void save_checkpoint(const Run& run, const std::string& path) {
    const std::string bad = non_finite_state(run);
    if (!bad.empty())
        throw std::runtime_error("refusing to write checkpoint " + path + " at iteration " +
                                 std::to_string(run.iteration) + ": " + bad);
    if (frozen_values(run) && !all_finite(*frozen_values(run)))
        throw std::runtime_error("refusing to write checkpoint " + path + ": the " +
                                 (run.prior_run ? "prior's" : "target network's") + " parameters hold NaN or inf");
    // [distributed] Every rank's random stream and replay buffer go to rank 0, which writes;
    // the modes are those of every rank's batches.
    Writer mine;
    mine.put<uint64_t>(run.rng.state);
    mine.put<uint64_t>(run.rng.inc);
    put_buffer(mine, run.buffer.get());
    const std::vector<std::string> ranks = dist::gather(mine.buf);
    std::vector<uint8_t> modes = run.mode_seen;
    dist::allreduce_max(modes.data(), modes.size());
    if (!dist::root()) return;
    Writer w;
    auto items = config_items(run.cfg);
    w.put<uint64_t>(items.size());
    for (const auto& kv : items) {
        w.put_string(kv.first);
        w.put_string(kv.second);
    }
    w.put<int32_t>(run.iteration);
    w.put<uint32_t>(uint32_t(ranks.size()));
    w.put<uint64_t>(run.rng.state);
    w.put<uint64_t>(run.rng.inc);
    w.put_vector(run.store.values);
    w.put<int64_t>(run.optimizer->t);
    w.put_vector(run.optimizer->m);
    w.put_vector(run.optimizer->v);
    w.put_vector(modes);
    w.put_vector(frozen_values(run) ? *frozen_values(run) : std::vector<float>());
    put_buffer(w, run.buffer.get());
    // Ranks 1 … K−1: random stream and replay buffer.
    for (size_t r = 1; r < ranks.size(); ++r) w.put_string(ranks[r]);

    uint32_t version = kCheckpointVersion;
    uint64_t size = w.buf.size(), sum = fnv1a(w.buf);
    Writer file;
    file.buf.reserve(sizeof kMagic + 4 + 8 + 8 + w.buf.size());
    file.buf.append(kMagic, sizeof kMagic);
    file.put(version);
    file.put(size);
    file.put(sum);
    file.buf += w.buf;
    write_file_atomically(path, file.buf);
}

Config checkpoint_config(const std::string& path, int* iteration, int* world_size) {
    uint32_t version = 0;
    std::string payload = payload_of(path, &version);
    Reader r{payload, 0, path};
    Config cfg = config_from(r);
    const int it = r.get<int32_t>();
    if (iteration) *iteration = it;
    if (world_size) *world_size = version == 1 ? 1 : int(r.get<uint32_t>());
    return cfg;
}

void load_checkpoint(Run& run, const std::string& path) {
    uint32_t version = 0;
    std::string payload = payload_of(path, &version);
    Reader r{payload, 0, path};
    Config saved = config_from(r);
    // Everything but the resumable overrides must match the run's configuration.
    auto mine = config_items(run.cfg), theirs = config_items(saved);
    for (size_t k = 0; k < mine.size(); ++k)
        if (!resumable_override(mine[k].first) && mine[k].second != theirs[k].second)
            throw std::runtime_error("checkpoint " + path + " was written with --" + theirs[k].first + " " +
                                     theirs[k].second + ", but this run has --" + mine[k].first + " " +
                                     mine[k].second + " (another environment, objective or architecture)");
    const int iteration = r.get<int32_t>();
    const int world = version == 1 ? 1 : int(r.get<uint32_t>());
    if (world < 1) throw std::runtime_error("checkpoint " + path + " is malformed (world size " +
                                            std::to_string(world) + ")");
    // (One process may load any checkpoint, with rank 0's stream: gfn eval, gfn sample.)
    if (dist::size() > 1 && world != dist::size())
        throw std::runtime_error("checkpoint " + path + " was written by " + std::to_string(world) +
                                 " ranks; resume it with mpirun -np " + std::to_string(world));
    uint64_t state = r.get<uint64_t>(), inc = r.get<uint64_t>();
    std::vector<float> values = r.get_vector<float>();
    const int64_t t = r.get<int64_t>();
    std::vector<float> m = r.get_vector<float>(), v = r.get_vector<float>();
    std::vector<uint8_t> modes = r.get_vector<uint8_t>();
    std::vector<float> prior = r.get_vector<float>();
    SavedBuffer buffered = get_buffer(r, run);
    // [distributed] Ranks 1 … K−1: this rank takes its own stream and buffer.
    for (int k = 1; k < world; ++k) {
        const std::string blob = r.get_string();
        if (k != dist::rank()) continue;
        Reader br{blob, 0, path};
        state = br.get<uint64_t>();
        inc = br.get<uint64_t>();
        buffered = get_buffer(br, run);
        if (br.pos != blob.size()) throw std::runtime_error("checkpoint " + path + " has malformed rank data");
    }
    if (values.size() != run.store.values.size() || m.size() != run.optimizer->m.size() ||
        v.size() != run.optimizer->v.size() || modes.size() != run.mode_seen.size() ||
        prior.size() != (frozen_values(run) ? frozen_values(run)->size() : 0))
        throw std::runtime_error("checkpoint " + path + " does not fit this model (parameter counts differ)");
    if (r.pos != payload.size()) throw std::runtime_error("checkpoint " + path + " has unexpected trailing data");
    if (!all_finite(values) || !all_finite(m) || !all_finite(v) || !all_finite(prior))
        throw std::runtime_error("checkpoint " + path + " holds NaN or inf " +
                                 (all_finite(values) && all_finite(prior) ? "optimizer moments" : "parameters") +
                                 " (written by a run that diverged); it cannot be loaded");
    // Nothing is changed before everything has been read and checked.
    run.iteration = iteration;
    run.rng.state = state;
    run.rng.inc = inc;
    run.store.values = values;
    run.optimizer->t = t;
    run.optimizer->m = m;
    run.optimizer->v = v;
    run.mode_seen = modes;
    restore_buffer(run, buffered);
    if (run.target_pf) run.target_store.values = prior;
    if (run.prior_run) {
        run.prior_run->store.values = prior;
        // A discrete run's relative target depends on the prior (continuous runs,
        // Box and diffusion, have no enumerated target: build_targets would read a null env).
        if (!run.continuous_env) run.build_targets();
    }
}

}  // namespace gfn
