// shared.h — the `shared` benchmark: training speed beside a busy process and
// beside a second run, against the idle speed.
#pragma once

namespace gfn_bench {

// gfn_bench shared [--batch B]... [--reps R] [--threads T] [--quick]
int run_shared(int argc, char** argv);

}  // namespace gfn_bench
