// train_command.h — `gfn train`: from the command line to a trained run and its outputs.
//
// train_command is the whole command (apps/gfn.cpp's cmd_train calls it; the
// tests call it in a temporary directory). Before any work it
//   1. parses the flags; with --resume, takes the checkpoint's configuration
//      and the flags a resumed run may change (resumed_config), and refuses an
//      --iterations that does not go past the checkpoint's iteration;
//   2. checks the output files (check_output_paths: --log, --plot, --save) and
//      removes stale temporary files of --save and --plot left by killed runs;
// (a relative objective with --prior FILE.ckpt takes the prior's architecture:
// inherit_prior_config), then builds the run (a tb prior is trained here), loads
// the checkpoint, opens the metrics file (appended to when resuming: the
// earlier rows stay, and a resumed run's rows continue its iteration numbers),
// trains with callbacks that print progress, log rows and checkpoint every
// --save-every, and writes the checkpoint, the plot and the final metrics.
// A resumed run's outputs come from its own command line only: --log, --plot,
// --save, --save-every, --quiet, --json and --trace are never inherited from
// the checkpoint, so resuming never writes over the first run's files unasked.
//
// Under `mpirun -np K` (gfn/runtime/distributed.h) every rank runs this: the
// setup (flags, --resume, output checks) is agreed on by every rank, rank 0
// alone prints, logs and plots, and checkpoints are saved collectively.
//
// Errors are exceptions: std::invalid_argument for bad input (gfn exits 2),
// std::runtime_error for the rest (exit 1), each naming the flag or the file.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "gfn/runtime/config.h"

namespace gfn {

struct Metrics;

// Runs `gfn train ARGS` (args exclude the program and command names),
// printing to out (progress, results) and err (warnings). Returns the exit status.
int train_command(const std::vector<std::string>& args, FILE* out, FILE* err);

// --prior FILE.ckpt: the posterior takes the prior's environment shape and
// architecture (--ndim, --height, --steps, --sigma, --t-scale, Box: --delta and the
// Beta mixtures, --hidden, --layers,
// --activation, ...) for each such flag not in `given`; a given flag with another
// value, or another --env, is std::invalid_argument; a bad file std::runtime_error.
void inherit_prior_config(Config& cfg, const std::vector<std::string>& given);

// The configuration of a resumed run: the checkpoint's (given_cfg.resume),
// with the output flags reset to their defaults and the flags named in
// `given` that a resumed run may change taken from given_cfg. Throws
// std::invalid_argument for a flag that would change the environment,
// objective or architecture, and for --iterations at or below the
// checkpoint's iteration.
Config resumed_config(const Config& given_cfg, const std::vector<std::string>& given);

// One line per validation target (the "validation iter …" lines).
void print_validation(FILE* out, const Metrics& m);
// The final metrics as one JSON line (--json).
void print_json(FILE* out, const Metrics& m, int iterations, double seconds);

}  // namespace gfn
