// checkpoint.h — saving and resuming a training run exactly.
//
// A checkpoint holds everything a Run's future depends on: the configuration,
// the iteration, the training random stream, the parameters, Adam's moments
// and step count, the modes seen, the frozen prior's parameters (or, for
// --loss soft_dqn, the target network's: one slot, as the two never meet) and the
// replay buffer (soft_dqn: its transitions). Resuming continues bit for bit as if never interrupted (at
// the same thread count). Under `mpirun -np K` (gfn/runtime/distributed.h)
// saving is collective: rank 0 writes the file with the world size K and every
// rank's random stream and replay buffer (the modes are every rank's); a run
// resumes only under the same K, each rank taking its own stream and buffer.
// One process may load any checkpoint (rank 0's stream and buffer): gfn eval,
// gfn sample.
//
// File format (little-endian):
//   "GFNCKPT\0"  u32 version  u64 payload_bytes  u64 FNV-1a-64(payload)  payload
// Version 2 added the world size after the iteration and the other ranks'
// streams and buffers at the end; version 1 files (one process) still load.
// Writing is atomic (write_file_atomically, output_paths.h): a temporary file
// beside the target, fsync, rename, fsync of the directory — a crash never
// leaves a half-written checkpoint under the target name, and the previous
// good checkpoint stays until the rename. A run whose parameters or optimizer
// moments hold NaN or inf is never written.
// Reading refuses, with a message naming the problem, a file that is missing,
// not a checkpoint, of another version, truncated, corrupted (checksum),
// written for another environment, objective or architecture, or holding
// NaN or inf parameters or moments.
#pragma once

#include <string>
#include <vector>

namespace gfn {

struct Run;
struct Config;

constexpr unsigned kCheckpointVersion = 2;

// Writes run's state to `path` atomically. Throws std::runtime_error on I/O
// errors, and when the state holds NaN or inf (nothing is written then).
void save_checkpoint(const Run& run, const std::string& path);

// The configuration stored in a checkpoint (validates the file), the
// iteration it was saved at when `iteration` is given, and the number of
// ranks that wrote it when `world_size` is given.
Config checkpoint_config(const std::string& path, int* iteration = nullptr, int* world_size = nullptr);

// Restores run's state from `path`. The run must have been built from a
// configuration with the same environment, objective and architecture
// (checkpoint_config + the allowed overrides); throws std::runtime_error otherwise.
void load_checkpoint(Run& run, const std::string& path);

// The flags that may differ between a checkpoint and the run resuming it.
bool resumable_override(const std::string& flag);

// The flags of what one invocation writes and prints (--log, --plot, --save,
// --save-every, --quiet, --json, --trace): a resumed run never takes them from
// the checkpoint, only from its own command line.
bool output_flag(const std::string& flag);

}  // namespace gfn
