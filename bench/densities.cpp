// densities.cpp — the `densities` benchmark: is a fused log-density op faster
// than the same formula composed from element-wise ops?
//
//   Gaussian  −½ Σ_j [log 2π + 2 log σ + ((x − μ)/σ)²]   normal_log_prob vs
//             div, sub, square, log, scale, add_scalar, add, row_sum
//   Beta      (α−1) log r + (β−1) log(1−r) − lgamma(α) − lgamma(β) + lgamma(α+β)
//             beta_log_prob vs log, mul, add, sub, lgamma (r broadcast to K components
//             by the fused op; the composition is given r already repeated)
// One iteration resets the tape, records the forward and runs backward of the
// sum, with gradients to μ, σ (α, β). Timing: warm up, size an iteration count
// for ~50 ms, report the median over R repetitions of the time per iteration.
#include "bench/densities.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

#include "engine/ops.h"

namespace gfn_bench {

namespace {

using Clock = std::chrono::steady_clock;
using namespace gfn;

double seconds_per_iteration(const std::function<void()>& step, int reps) {
    auto time_n = [&](long n) {
        auto t0 = Clock::now();
        for (long i = 0; i < n; ++i) step();
        return std::chrono::duration<double>(Clock::now() - t0).count();
    };
    long n = 1;
    while (time_n(n) < 0.02) n *= 2;  // warm-up and sizing
    const double per = time_n(n) / double(n);
    n = std::max(1L, long(0.05 / per));
    std::vector<double> t;
    for (int r = 0; r < reps; ++r) t.push_back(time_n(n) / double(n));
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

struct Buffers {
    std::vector<float> v, g;
    Buffers(size_t n, float lo, float hi, unsigned seed) : v(n), g(n, 0.f) {
        std::mt19937 rng(seed);
        std::uniform_real_distribution<float> u(lo, hi);
        for (float& x : v) x = u(rng);
    }
    Var on(Tape& t, int rows, int cols) { return t.parameter(Tensor(v.data(), rows, cols), g.data()); }
};

void gaussian(int n, int d, int reps) {
    const size_t N = size_t(n) * size_t(d);
    Buffers x(N, -2.f, 2.f, 1), mu(N, -2.f, 2.f, 2), sd(N, 0.5f, 2.f, 3);
    Tape t;
    auto fused = [&] {
        t.reset();
        t.backward(sum(normal_log_prob(t.constant(Tensor(x.v.data(), n, d)), mu.on(t, n, d), sd.on(t, n, d))));
    };
    auto composed = [&] {
        t.reset();
        Var S = sd.on(t, n, d);
        Var z = div(sub(t.constant(Tensor(x.v.data(), n, d)), mu.on(t, n, d)), S);
        Var terms = add(add_scalar(scale(log(S), 2.f), 1.8378770664f), square(z));
        t.backward(sum(scale(row_sum(terms), -0.5f)));
    };
    const double a = seconds_per_iteration(fused, reps), b = seconds_per_iteration(composed, reps);
    std::printf("| gaussian n=%-5d d=%-3d | %9.1f | %9.1f | %5.2f |\n", n, d, a * 1e6, b * 1e6, b / a);
}

void beta(int n, int c, int reps) {
    const size_t N = size_t(n) * size_t(c);
    Buffers r(N, 0.05f, 0.95f, 4), al(N, 0.5f, 5.f, 5), be(N, 0.5f, 5.f, 6);
    Tape t;
    auto fused = [&] {
        t.reset();
        t.backward(sum(beta_log_prob(t.constant(Tensor(r.v.data(), n, c)), al.on(t, n, c), be.on(t, n, c))));
    };
    auto composed = [&] {
        t.reset();
        Var R = t.constant(Tensor(r.v.data(), n, c)), A = al.on(t, n, c), B = be.on(t, n, c);
        Var lr = log(R), l1r = log(add_scalar(scale(R, -1.f), 1.f));
        Var y = add(add(mul(add_scalar(A, -1.f), lr), mul(add_scalar(B, -1.f), l1r)),
                    sub(lgamma(add(A, B)), add(lgamma(A), lgamma(B))));
        t.backward(sum(y));
    };
    const double a = seconds_per_iteration(fused, reps), b = seconds_per_iteration(composed, reps);
    std::printf("| beta     n=%-5d K·d=%-3d | %9.1f | %9.1f | %5.2f |\n", n, c, a * 1e6, b * 1e6, b / a);
}

}  // namespace

int run_densities(int argc, char** argv) {
    int reps = 5;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = std::max(1, std::atoi(argv[++i]));
        } else {
            std::fprintf(stderr, "usage: gfn_bench densities [--reps R]\n");
            return 2;
        }
    }
    std::printf("| log-density (fwd+bwd)     | fused µs  | composed µs | ratio |\n|---|---|---|---|\n");
    gaussian(1024, 2, reps);
    gaussian(1024, 32, reps);
    beta(1024, 8, reps);
    beta(4096, 8, reps);
    return 0;
}

}  // namespace gfn_bench
