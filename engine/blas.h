// blas.h — the one place that talks to BLAS, and the one thread count.
//
// gemm() calls OpenBLAS's cblas_sgemm, or the built-in kernel when the program
// is built with `make BLAS=none` (GFN_NO_BLAS). gemm_builtin() is always
// compiled so the tests can compare the two. BLAS is called from serial code,
// or from the threads of a data-parallel training step (each on its own share of
// the batch), where OpenBLAS's OpenMP build runs each call on its calling thread.
//
// set_num_threads() sets one thread count for our OpenMP loops and OpenBLAS.
// With OpenBLAS's OpenMP build both share one thread pool; with its pthreads
// build they do not, and blas_check_threading() says so.
#pragma once

#include <string>

namespace gfn {

// C = alpha · op(A) · op(B) + beta · C, row-major; op(X) = Xᵀ when trans_X.
// op(A) is (M, K), op(B) is (K, N), C is (M, N).
// Products below kGemmParallelMin multiply-adds run on one thread.
void gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
          const float* B, int ldb, float beta, float* C, int ldc);
constexpr double kGemmParallelMin = double(1 << 24);
void gemm_builtin(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
                  int lda, const float* B, int ldb, float beta, float* C, int ldc);

// How idle OpenMP threads (ours and OpenBLAS's: one pool) wait for work.
// "passive": they sleep at once. libgomp's default spins for up to ~300,000
// rounds first, which on a shared machine burns the time slice a descheduled
// peer needs: see docs/engine.md for the measurements.
constexpr const char* kThreadWaitPolicy = "passive";
// Call first thing in main(argv): unless OMP_WAIT_POLICY or GOMP_SPINCOUNT is
// already set, sets OMP_WAIT_POLICY=kThreadWaitPolicy and re-executes the
// program (the setting is read only when the OpenMP runtime loads). Returns
// when nothing had to change, or when the re-execution was not possible.
void adopt_thread_wait_policy(char** argv);
// Set (to "1") in the environment when adopt_thread_wait_policy() chose the
// policy, rather than the user.
constexpr const char* kWaitPolicyMarker = "GFN_CHOSE_OMP_WAIT_POLICY";

// n <= 0 means OMP_NUM_THREADS when set, else all cores.
void set_num_threads(int n);
int num_threads();
// While it lives, everything runs on the calling thread: our loops (split_loop) and
// OpenBLAS; num_threads() is 1. For work a second thread cannot speed up (a training
// step on a small state space: gfn/runtime/training.cpp). Not for parallel regions.
class OneThread {
public:
    OneThread();
    ~OneThread();
    OneThread(const OneThread&) = delete;
    OneThread& operator=(const OneThread&) = delete;

private:
    int saved_;
};
// Whether subnormal floats are flushed to zero on the calling thread
// (set_num_threads() turns flushing on for every thread of the pool).
bool denormals_flushed();

bool have_blas();              // false under BLAS=none
bool blas_is_openmp();         // OpenBLAS reports its OpenMP build
std::string blas_info();       // e.g. "OpenBLAS 0.3.21 (OpenMP) Haswell" or "built-in GEMM"
// An empty string when all is well, else a warning to print at start-up.
std::string blas_check_threading();

}  // namespace gfn
