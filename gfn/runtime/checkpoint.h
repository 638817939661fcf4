// checkpoint.h — saving and resuming a training run exactly.
//
// A checkpoint holds everything a Run's future depends on: the configuration,
// the iteration, the training random stream, the parameters, Adam's moments
// and step count, the modes seen, the frozen prior's parameters and the
// replay buffer. Resuming continues bit for bit as if never interrupted (at
// the same thread count).
//
// File format (little-endian):
//   "GFNCKPT\0"  u32 version  u64 payload_bytes  u64 FNV-1a-64(payload)  payload
// Writing is atomic: a temporary file beside the target, fsync, rename, fsync
// of the directory — a crash never leaves a half-written checkpoint under the
// target name, and the previous good checkpoint stays until the rename.
// Reading refuses, with a message naming the problem, a file that is missing,
// not a checkpoint, of another version, truncated, corrupted (checksum), or
// written for another environment, objective or architecture.
#pragma once

#include <string>
#include <vector>

namespace gfn {

struct Run;
struct Config;

constexpr unsigned kCheckpointVersion = 1;

// Writes run's state to `path` atomically. Throws std::runtime_error on I/O errors.
void save_checkpoint(const Run& run, const std::string& path);

// The configuration stored in a checkpoint (validates the file).
Config checkpoint_config(const std::string& path);

// Restores run's state from `path`. The run must have been built from a
// configuration with the same environment, objective and architecture
// (checkpoint_config + the allowed overrides); throws std::runtime_error otherwise.
void load_checkpoint(Run& run, const std::string& path);

// The flags that may differ between a checkpoint and the run resuming it.
bool resumable_override(const std::string& flag);

}  // namespace gfn
