// reference.h — the `reference` benchmark: gfn.cpp beside the eager-PyTorch
// baseline (shared/reference/torch_hypergrid_tb.py) in one run.
#pragma once

namespace gfn_bench {

// gfn_bench reference [--script PATH] [--python PATH] [--reps R] [--quick]
int run_reference(int argc, char** argv);

}  // namespace gfn_bench
