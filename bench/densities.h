// densities.h — the `densities` benchmark: fused log-density ops against their compositions.
#pragma once

namespace gfn_bench {

// gfn_bench densities [--reps R]; argv[0] is the subcommand. Returns the exit code.
int run_densities(int argc, char** argv);

}  // namespace gfn_bench
