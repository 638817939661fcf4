// diffusion.h — the `diffusion` benchmark: the diffusion sampler's training
// step (gmm25, TB, Brownian-bridge PB), phase by phase, beside eager PyTorch.
#pragma once

namespace gfn_bench {

// gfn_bench diffusion [--threads T]... [--reps R] [--iters N] [--quick] [--script PATH] [--python PATH]
// gfn_bench diffusion --one --threads T [--iters N] [--seed S]   (gfn.cpp alone: one JSON line)
int run_diffusion(int argc, char** argv);

}  // namespace gfn_bench
