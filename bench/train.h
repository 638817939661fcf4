// train.h — the `train` benchmark: whole training steps, phase by phase.
#pragma once

namespace gfn_bench {

// gfn_bench train [--scenario S] [--batch B] [--threads T] [--reps R] [--out FILE] [--quick]
// gfn_bench train --one --scenario S --batch B --threads T [--reps R]   (one JSON line)
int run_train(int argc, char** argv);

}  // namespace gfn_bench
