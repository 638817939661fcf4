// blas.cpp — see blas.h.
#include "engine/blas.h"
#include "engine/parallel.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#ifndef GFN_NO_BLAS
#include <cblas.h>
#endif

namespace gfn {

// Built-in GEMM: packs op(B) into a contiguous (K, N) panel per column block so
// the inner loop runs over contiguous memory, then accumulates rows of C in
// parallel. Far slower than OpenBLAS, but correct on any shape.
void gemm_builtin(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
                  int lda, const float* B, int ldb, float beta, float* C, int ldc) {
    if (M <= 0 || N <= 0) return;
    // Pack op(B) as (K, N) row-major.
    std::vector<float> Bp(size_t(K) * size_t(N));
    for (int k = 0; k < K; ++k)
        for (int j = 0; j < N; ++j)
            Bp[size_t(k) * N + j] = trans_b ? B[size_t(j) * ldb + k] : B[size_t(k) * ldb + j];
    const float* bp = Bp.data();
    long long work = (long long)M * N * K;
    parallel_for(M, split_loop(work, (1 << 18)), [=](int i) {
        float* c = C + size_t(i) * ldc;
        std::vector<float> acc(size_t(N), 0.f);
        for (int k = 0; k < K; ++k) {
            float a = trans_a ? A[size_t(k) * lda + i] : A[size_t(i) * lda + k];
            if (a == 0.f) continue;
            const float* brow = bp + size_t(k) * N;
            for (int j = 0; j < N; ++j) acc[size_t(j)] += a * brow[j];
        }
        for (int j = 0; j < N; ++j)
            c[j] = (beta == 0.f ? 0.f : beta * c[j]) + alpha * acc[size_t(j)];
    });
}

static int g_threads = 1;

void gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
          const float* B, int ldb, float beta, float* C, int ldc) {
    if (M <= 0 || N <= 0) return;
#ifdef GFN_NO_BLAS
    gemm_builtin(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#else
    if (K <= 0) {  // C = beta C; OpenBLAS handles this too, but be explicit
        for (int i = 0; i < M; ++i)
            for (int j = 0; j < N; ++j) C[size_t(i) * ldc + j] = beta == 0.f ? 0.f : beta * C[size_t(i) * ldc + j];
        return;
    }
    // Small products run on one thread: waking a sleeping peer costs ~20–50 µs
    // (passive waits, see adopt_thread_wait_policy), more than a second
    // thread saves below M·N·K = 2^24 multiply-adds (docs/engine.md has the
    // measurements). OpenBLAS otherwise splits even an 8-row product.
    // Inside a parallel region (a data-parallel step's threads) OpenBLAS's OpenMP
    // build runs on the calling thread alone: leave its thread count alone there.
    const bool serial = g_threads > 1 && !omp_in_parallel() && double(M) * double(N) * double(K) < kGemmParallelMin;
    if (serial) openblas_set_num_threads(1);
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    if (serial) openblas_set_num_threads(g_threads);
#endif
}

// See blas.h. libgomp reads its wait policy once, when it is loaded, before
// main() runs: the only way for the program itself to choose it is to set the
// variable and start again. Measured (docs/engine.md): HyperGrid batch 128 on
// 2 threads beside other busy processes takes 749 ms per step with the default
// (threads spin at every barrier while their peer waits for a core), 24 ms
// with passive waits, 26 ms on 1 thread.
void adopt_thread_wait_policy(char** argv) {
    if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;  // the user's choice
    if (setenv("OMP_WAIT_POLICY", kThreadWaitPolicy, 1) != 0) return;
    setenv(kWaitPolicyMarker, "1", 1);  // so children that are not ours can be given the default back
    execv("/proc/self/exe", argv);
    // exec failed (no /proc): carry on with the default policy.
}

// Flush-to-zero and denormals-are-zero on the calling thread (x86 MXCSR bits
// FTZ 0x8000 and DAZ 0x0040; AArch64 FPCR.FZ). Adam's first moment of a
// parameter whose gradient is (nearly) always zero decays by β1 = 0.9 a step
// into the subnormal range and stays there: after 1,000 steps of the default
// HyperGrid run at batch 16, 28 % of the moments were subnormal, and
// arithmetic on subnormals is slow on most CPUs. Flushing them changes no
// result above 1.2e-38.
static void flush_denormals_on_this_thread() {
#if defined(__SSE__) || defined(__x86_64__)
    unsigned csr;
    __asm__ volatile("stmxcsr %0" : "=m"(csr));
    csr |= 0x8040u;
    __asm__ volatile("ldmxcsr %0" : : "m"(csr));
#elif defined(__aarch64__)
    unsigned long fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    fpcr |= 1ul << 24;
    __asm__ volatile("msr fpcr, %0" : : "r"(fpcr));
#endif
}

bool denormals_flushed() {
#if defined(__SSE__) || defined(__x86_64__)
    unsigned csr;
    __asm__ volatile("stmxcsr %0" : "=m"(csr));
    return (csr & 0x8040u) == 0x8040u;
#elif defined(__aarch64__)
    unsigned long fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    return (fpcr >> 24) & 1ul;
#else
    return false;
#endif
}

void set_num_threads(int n) {
    if (n <= 0) {
        const char* env = std::getenv("OMP_NUM_THREADS");
        n = env ? std::atoi(env) : 0;
        if (n <= 0) n = omp_get_num_procs();
    }
    g_threads = std::max(1, n);
    omp_set_num_threads(g_threads);
    // Every thread of the pool (new threads inherit the creator's mode too).
    flush_denormals_on_this_thread();
#pragma omp parallel num_threads(g_threads)
    flush_denormals_on_this_thread();
#ifndef GFN_NO_BLAS
    openblas_set_num_threads(g_threads);
#endif
}

int num_threads() { return g_threads; }

// Cheap to enter and leave (no parallel region is started): the thread counts only.
OneThread::OneThread() : saved_(g_threads) {
    if (saved_ == 1) return;
    g_threads = 1;
    omp_set_num_threads(1);
#ifndef GFN_NO_BLAS
    openblas_set_num_threads(1);
#endif
}

OneThread::~OneThread() {
    if (saved_ == 1) return;
    g_threads = saved_;
    omp_set_num_threads(saved_);
#ifndef GFN_NO_BLAS
    openblas_set_num_threads(saved_);
#endif
}

bool have_blas() {
#ifdef GFN_NO_BLAS
    return false;
#else
    return true;
#endif
}

bool blas_is_openmp() {
#ifdef GFN_NO_BLAS
    return false;
#else
    return openblas_get_parallel() == OPENBLAS_OPENMP;
#endif
}

std::string blas_info() {
#ifdef GFN_NO_BLAS
    return "built-in GEMM (BLAS=none)";
#else
    std::string s = openblas_get_config();
    s += " core=";
    s += openblas_get_corename();
    return s;
#endif
}

std::string blas_check_threading() {
#ifdef GFN_NO_BLAS
    return "";
#else
    int p = openblas_get_parallel();
    if (p == OPENBLAS_OPENMP) return "";
    return std::string("warning: the linked OpenBLAS is not its OpenMP build (") +
           (p == OPENBLAS_SEQUENTIAL ? "sequential" : "pthreads") +
           "); OpenBLAS and our OpenMP loops will not share one thread pool. "
           "Install libopenblas-openmp-dev.";
#endif
}

}  // namespace gfn
