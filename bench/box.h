// box.h — the `box` benchmark: the Box environments' training step (polar and
// Cartesian, TB with the learned PB), phase by phase, beside eager PyTorch.
#pragma once

namespace gfn_bench {

// gfn_bench box [--env box|box_cartesian]... [--batch B]... [--threads T]... [--reps R] [--iters N] [--quick]
//               [--script PATH] [--python PATH]
// gfn_bench box --one --env E --batch B --threads T [--iters N] [--seed S]   (gfn.cpp alone: one JSON line)
int run_box(int argc, char** argv);

}  // namespace gfn_bench
