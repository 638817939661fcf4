// trace.h — one trajectory, step by step, with the terms of its loss (gfn train --trace).
//
// For teaching: the states s_0 … x, at each the valid actions with log PF, the
// action taken, log PB of the step back, then log R(x), Σ log PF, Σ log PB,
// the score s = Σ log PF − Σ log PB − log R, and the objective's loss on this
// one trajectory (the longest of eight draws). Drawn on a random stream of its
// own: tracing never changes the training run.
#pragma once

#include <cstdio>

namespace gfn {

struct Run;

void print_trace(Run& run, FILE* out);

}  // namespace gfn
