// mlp.h — the `mlp` benchmark: one MLP forward+backward against bare GEMM.
#pragma once

namespace gfn_bench {

// gfn_bench mlp [--threads N] [--reps R] [--json]; argv[0] is the subcommand.
// Returns the process exit code.
int run_mlp(int argc, char** argv);

}  // namespace gfn_bench
