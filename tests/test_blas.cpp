// test_blas.cpp — gemm (OpenBLAS) against the built-in kernel and a double
// reference, on odd shapes and every transpose combination; the thread count in use.
#include <boost/test/unit_test.hpp>

#include <array>
#include <cmath>
#include <random>
#include <vector>

#include <omp.h>

#include "engine/blas.h"
#include "engine/parallel.h"

#ifndef GFN_NO_BLAS
#include <cblas.h>
#endif

using namespace gfn;

namespace {

std::vector<float> random_vec(size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    std::vector<float> v(n);
    for (float& x : v) x = u(rng);
    return v;
}

struct Problem {
    bool ta, tb;
    int M, N, K, lda, ldb, ldc;
    float alpha, beta;
    std::vector<float> A, B, C;

    // pad > 0 makes the leading dimensions larger than the rows they stride over.
    Problem(bool ta_, bool tb_, int M_, int N_, int K_, float alpha_, float beta_, int pad, unsigned seed)
        : ta(ta_), tb(tb_), M(M_), N(N_), K(K_), alpha(alpha_), beta(beta_) {
        // Stored shapes: A is (M, K) or (K, M) when transposed; B is (K, N) or (N, K).
        int a_rows = ta ? K : M, a_cols = ta ? M : K;
        int b_rows = tb ? N : K, b_cols = tb ? K : N;
        lda = a_cols + pad;
        ldb = b_cols + pad;
        ldc = N + pad;
        A = random_vec(size_t(a_rows) * size_t(lda), seed);
        B = random_vec(size_t(b_rows) * size_t(ldb), seed + 1);
        C = random_vec(size_t(M) * size_t(ldc), seed + 2);
    }
    float a(int i, int k) const { return ta ? A[size_t(k) * lda + i] : A[size_t(i) * lda + k]; }
    float b(int k, int j) const { return tb ? B[size_t(j) * ldb + k] : B[size_t(k) * ldb + j]; }
};

using GemmFn = void (*)(bool, bool, int, int, int, float, const float*, int, const float*, int, float, float*, int);

std::vector<float> run(GemmFn fn, const Problem& p) {
    std::vector<float> C = p.C;
    fn(p.ta, p.tb, p.M, p.N, p.K, p.alpha, p.A.data(), p.lda, p.B.data(), p.ldb, p.beta, C.data(), p.ldc);
    return C;
}

// Every element within rel · (|alpha| Σ_k |a||b| + |beta| |c|) of the double reference
// (with a floor of 1 on the scale so entries near 0 are not held to 0 tolerance).
void check_against_reference(const Problem& p, const std::vector<float>& got, double rel, const char* what) {
    int bad = 0;
    for (int i = 0; i < p.M; ++i)
        for (int j = 0; j < p.N; ++j) {
            double acc = 0.0, mag = 0.0;
            for (int k = 0; k < p.K; ++k) {
                acc += double(p.a(i, k)) * double(p.b(k, j));
                mag += std::fabs(double(p.a(i, k)) * double(p.b(k, j)));
            }
            double c0 = p.C[size_t(i) * p.ldc + j];
            double ref = p.alpha * acc + p.beta * c0;
            double scale = std::max(1.0, std::fabs(p.alpha) * mag + std::fabs(p.beta) * std::fabs(c0));
            double err = std::fabs(double(got[size_t(i) * p.ldc + j]) - ref);
            if (err > rel * scale && ++bad <= 3)
                BOOST_ERROR(what << " (" << i << ", " << j << "): got " << got[size_t(i) * p.ldc + j] << ", want "
                                 << ref);
        }
    // Padding columns of C are untouched.
    for (int i = 0; i < p.M; ++i)
        for (int j = p.N; j < p.ldc; ++j) BOOST_CHECK_EQUAL(got[size_t(i) * p.ldc + j], p.C[size_t(i) * p.ldc + j]);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(blas)

BOOST_AUTO_TEST_CASE(gemm_matches_builtin) {
    const std::array<int, 3> shapes[] = {{1, 1, 1}, {17, 5, 3}, {257, 129, 65}};
    unsigned seed = 1;
    for (const auto& s : shapes)
        for (int ta = 0; ta < 2; ++ta)
            for (int tb = 0; tb < 2; ++tb)
                for (int pad : {0, 3}) {
                    BOOST_TEST_CONTEXT("M,N,K = " << s[0] << "," << s[1] << "," << s[2] << " ta=" << ta
                                                  << " tb=" << tb << " pad=" << pad) {
                        Problem p(ta, tb, s[0], s[1], s[2], 0.7f, -1.3f, pad, seed += 10);
                        std::vector<float> got = run(gemm, p), want = run(gemm_builtin, p);
                        check_against_reference(p, got, 1e-4, "gemm");
                        check_against_reference(p, want, 1e-4, "gemm_builtin");
                        double max_rel = 0.0;
                        for (size_t k = 0; k < got.size(); ++k)
                            max_rel = std::max(max_rel, std::fabs(double(got[k]) - want[k]) /
                                                            std::max(1.0, std::fabs(double(want[k]))));
                        BOOST_CHECK_LE(max_rel, 1e-4);
                    }
                }
}

BOOST_AUTO_TEST_CASE(gemm_beta_zero_ignores_c) {
    // beta = 0 must overwrite C even when it holds NaN.
    Problem p(false, false, 9, 7, 5, 1.f, 0.f, 0, 77);
    for (float& c : p.C) c = NAN;
    for (GemmFn fn : {GemmFn(gemm), GemmFn(gemm_builtin)}) {
        std::vector<float> got = run(fn, p);
        for (float v : got) BOOST_CHECK(std::isfinite(v));
    }
}

BOOST_AUTO_TEST_CASE(gemm_degenerate_shapes) {
    // K = 0: C = beta C. M = 0 or N = 0: nothing happens.
    for (GemmFn fn : {GemmFn(gemm), GemmFn(gemm_builtin)}) {
        std::vector<float> C = {1, 2, 3, 4};
        float dummy = 5.f;
        fn(false, false, 2, 2, 0, 1.f, &dummy, 1, &dummy, 2, 0.5f, C.data(), 2);
        BOOST_CHECK_EQUAL(C[0], 0.5f);
        BOOST_CHECK_EQUAL(C[3], 2.f);
        fn(false, false, 0, 2, 3, 1.f, &dummy, 3, &dummy, 2, 0.f, C.data(), 2);
        fn(false, false, 2, 0, 3, 1.f, &dummy, 3, &dummy, 1, 0.f, C.data(), 1);
        BOOST_CHECK_EQUAL(C[0], 0.5f);
    }
}

BOOST_AUTO_TEST_CASE(gemm_thread_count_invariant) {
    const int prev = num_threads();
    Problem p(false, true, 257, 129, 65, 0.7f, -1.3f, 0, 99);
    std::vector<float> blas_out[2], builtin_out[2];
    for (int k = 0; k < 2; ++k) {
        set_num_threads(k + 1);
        BOOST_CHECK_EQUAL(num_threads(), k + 1);
        blas_out[k] = run(gemm, p);
        builtin_out[k] = run(gemm_builtin, p);
    }
    set_num_threads(prev);
    double max_diff = 0.0;
    for (size_t i = 0; i < blas_out[0].size(); ++i)
        max_diff = std::max(max_diff, std::fabs(double(blas_out[0][i]) - blas_out[1][i]));
    BOOST_CHECK_LE(max_diff, 1e-5);
    BOOST_CHECK(builtin_out[0] == builtin_out[1]);  // rows are independent: bitwise equal
}

BOOST_AUTO_TEST_CASE(threading_info) {
    BOOST_CHECK(!blas_info().empty());
    if (have_blas()) BOOST_TEST_MESSAGE("BLAS: " << blas_info() << " " << blas_check_threading());
    else BOOST_CHECK(blas_check_threading().empty());
}

// set_num_threads(n) is the thread count actually used: by our OpenMP loops (a parallel
// region runs on n threads), by OpenMP's default and by OpenBLAS. Restores the previous count.
BOOST_AUTO_TEST_CASE(set_num_threads_is_used) {
    const int prev = num_threads();
    for (int n : {2, 1, 3}) {
        set_num_threads(n);
        BOOST_CHECK_EQUAL(num_threads(), n);
        BOOST_CHECK_EQUAL(omp_get_max_threads(), n);
        int team = 0;
#pragma omp parallel
        {
#pragma omp single
            team = omp_get_num_threads();
        }
        BOOST_CHECK_EQUAL(team, n);
#ifndef GFN_NO_BLAS
        BOOST_CHECK_EQUAL(openblas_get_num_threads(), n);
#endif
    }
    set_num_threads(prev);
    BOOST_CHECK_EQUAL(num_threads(), prev);
    BOOST_CHECK_EQUAL(omp_get_max_threads(), prev);
}

// OneThread: while it lives, one thread for our loops (split_loop says no), OpenMP's
// default and OpenBLAS; the count before it afterwards (also when it was already 1).
BOOST_AUTO_TEST_CASE(one_thread_scope) {
    const int prev = num_threads();
    for (int n : {3, 1}) {
        set_num_threads(n);
        {
            OneThread one;
            BOOST_CHECK_EQUAL(num_threads(), 1);
            BOOST_CHECK_EQUAL(omp_get_max_threads(), 1);
            BOOST_CHECK(!split_loop(1L << 30, 1));
#ifndef GFN_NO_BLAS
            BOOST_CHECK_EQUAL(openblas_get_num_threads(), 1);
#endif
        }
        BOOST_CHECK_EQUAL(num_threads(), n);
        BOOST_CHECK_EQUAL(omp_get_max_threads(), n);
        BOOST_CHECK_EQUAL(split_loop(1L << 30, 1), n > 1);
#ifndef GFN_NO_BLAS
        BOOST_CHECK_EQUAL(openblas_get_num_threads(), n);
#endif
    }
    set_num_threads(prev);
}

BOOST_AUTO_TEST_SUITE_END()
