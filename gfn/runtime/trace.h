// trace.h — one trajectory, step by step, with the terms of its loss (gfn train --trace).
//
// For teaching: the states s_0 … x, at each the valid actions with log PF, the
// action taken, log PB of the step back, then log R(x), Σ log PF, Σ log PB,
// the score s = Σ log PF − Σ log PB − log R, and the objective's loss on this
// one trajectory (the longest of eight draws). Drawn on a random stream of its
// own: tracing never changes the training run. Box (--env box, box_cartesian):
// each step's state and move vector (or the exit) with its log PF, a log-density
// (forced steps 0), and log PB of the step back (docs/continuous.md).
#pragma once

#include <cstdio>

namespace gfn {

struct Run;

void print_trace(Run& run, FILE* out);

}  // namespace gfn
