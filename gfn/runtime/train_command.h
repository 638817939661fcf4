// train_command.h — `gfn train`: from the command line to a trained run and its outputs.
//
// train_command is the whole command (apps/gfn.cpp's cmd_train calls it; the
// tests call it in a temporary directory): parse the flags (with --resume,
// the checkpoint's configuration and the flags a resumed run may change:
// resumed_config), build the run (a relative objective's prior is trained
// here), load the checkpoint, train with callbacks that print progress, log
// rows (--log) and checkpoint every --save-every, and write the checkpoint,
// the plot and the final metrics.
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

// The configuration of a resumed run: the checkpoint's (given_cfg.resume),
// with the flags named in `given` that a resumed run may change taken from
// given_cfg. Throws std::invalid_argument for a flag that would change the
// environment, objective or architecture.
Config resumed_config(const Config& given_cfg, const std::vector<std::string>& given);

// One line per validation target (the "validation iter …" lines).
void print_validation(FILE* out, const Metrics& m);
// The final metrics as one JSON line (--json).
void print_json(FILE* out, const Metrics& m, int iterations, double seconds);

}  // namespace gfn
