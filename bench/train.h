// train.h — the `train` benchmark: whole training steps, phase by phase.
#pragma once

namespace gfn_bench {

// gfn_bench train [--scenario S] [--batch B] [--threads T] [--reps R] [--out FILE] [--quick]
// gfn_bench train --one --scenario S --batch B --threads T [--reps R]   (one JSON line)
int run_train(int argc, char** argv);

// The single-GEMM rate the training rows are measured against: GFLOP/s of
// gfn::gemm on the three products of one H×H layer at M rows (Y = X Wᵀ,
// dX += dY W, dW += dYᵀ X; 2 flops per multiply-add), at the current thread
// count, median of five ~50 ms repetitions.
double gemm_gflops(int M, int H);

}  // namespace gfn_bench
