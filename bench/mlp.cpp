// mlp.cpp — the `mlp` benchmark: what fraction of bare-GEMM speed does one
// MLP forward+backward through the tape reach?
//
// Network: 16 → 256 → 256 → 3, relu (the reference HyperGrid policy trunk and
// PF head); loss = mean(y ⊙ w) for fixed random w; batch 16, 128 and 1024.
// One iteration resets the tape, records the forward pass and runs backward
// (parameter gradients accumulate; zero_grad is not part of the timing).
//
// FLOPs count 2 per multiply-add of the matrix products the tape runs:
//   forward  y = x Wᵀ          (n, out, in)     every layer
//   backward dW = dyᵀ x        (out, in, n)     every layer
//            dx = dy W         (n, in, out)     every layer but the first
// (the input is a constant, so the first layer has no dx product). Bias adds,
// activations and the loss are overhead, not counted.
//
// The reference "GEMM" column times gfn::gemm alone on exactly those (M, N, K)
// shapes and transposes, one call each per iteration, on buffers of its own:
// the same FLOPs, so ratio = GEMM time / MLP time = achieved / GEMM GFLOP/s.
//
// Timing: warm up (>= 20 ms), size an iteration count for ~50 ms, then report
// the median over R repetitions (R >= 5) of the mean time per iteration; MLP
// and GEMM repetitions alternate.
#include "bench/mlp.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "engine/blas.h"
#include "engine/nn.h"
#include "engine/ops.h"

namespace gfn_bench {

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    int threads = 0;  // 0: OMP_NUM_THREADS, else all cores
    int reps = 7;
    bool json = false;
};

void usage(FILE* f) {
    std::fprintf(f,
                 "usage: gfn_bench mlp [--threads N] [--reps R] [--json]\n"
                 "  --threads N  thread count for OpenMP and OpenBLAS (default: OMP_NUM_THREADS or all cores)\n"
                 "  --reps R     timed repetitions, median reported (default 7, at least 5)\n"
                 "  --json       one JSON object per line instead of a markdown table\n");
}

// Returns false (after printing why) on a bad command line.
bool parse(int argc, char** argv, Options& o, bool& help) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto int_arg = [&](int& out) {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "gfn_bench mlp: %s needs a value\n", a.c_str());
                return false;
            }
            char* end = nullptr;
            long v = std::strtol(argv[++i], &end, 10);
            if (end == argv[i] || *end != '\0') {
                std::fprintf(stderr, "gfn_bench mlp: %s: '%s' is not an integer\n", a.c_str(), argv[i]);
                return false;
            }
            out = int(v);
            return true;
        };
        if (a == "--threads") {
            if (!int_arg(o.threads)) return false;
        } else if (a == "--reps") {
            if (!int_arg(o.reps)) return false;
            if (o.reps < 5) {
                std::fprintf(stderr, "gfn_bench mlp: --reps must be at least 5\n");
                return false;
            }
        } else if (a == "--json") {
            o.json = true;
        } else if (a == "-h" || a == "--help") {
            help = true;
        } else {
            std::fprintf(stderr, "gfn_bench mlp: unknown option '%s'\n", a.c_str());
            return false;
        }
    }
    return true;
}

double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Warms fn up (at least 3 calls and 20 ms) and returns the number of calls
// that take about 50 ms.
template <class Fn>
long calibrate(Fn&& fn) {
    long calls = 0;
    Clock::time_point t0 = Clock::now();
    double el = 0.0;
    do {
        fn();
        ++calls;
        el = ms_since(t0);
    } while (calls < 3 || el < 20.0);
    const double est = el / double(calls);
    return std::max(1L, long(std::ceil(50.0 / std::max(est, 1e-6))));
}

// Milliseconds per call, averaged over `iters` calls.
template <class Fn>
double ms_per_call(Fn&& fn, long iters) {
    Clock::time_point s = Clock::now();
    for (long i = 0; i < iters; ++i) fn();
    return ms_since(s) / double(iters);
}

double median(std::vector<double> x) {
    std::sort(x.begin(), x.end());
    const size_t m = x.size();
    return m % 2 ? x[m / 2] : 0.5 * (x[m / 2 - 1] + x[m / 2]);
}

// One GEMM of the tape's: op(A) (M, K) · op(B) (K, N) accumulated into C (M, N).
struct GemmShape {
    bool trans_a, trans_b;
    int M, N, K;
    std::vector<float> A, B, C;
};

std::vector<GemmShape> mlp_gemm_shapes(const gfn::MLP& mlp, int n) {
    std::vector<const gfn::Linear*> layers;
    for (const gfn::Linear& l : mlp.hidden_layers) layers.push_back(&l);
    layers.push_back(&mlp.output_layer);
    std::vector<GemmShape> s;
    for (size_t i = 0; i < layers.size(); ++i) {
        const int in = layers[i]->in, out = layers[i]->out;
        s.push_back({false, true, n, out, in, {}, {}, {}});        // y = x Wᵀ
        s.push_back({true, false, out, in, n, {}, {}, {}});        // dW = dyᵀ x
        if (i > 0) s.push_back({false, false, n, in, out, {}, {}, {}});  // dx = dy W
    }
    return s;
}

double gemm_flops(const std::vector<GemmShape>& shapes) {
    double f = 0.0;
    for (const GemmShape& g : shapes) f += 2.0 * double(g.M) * double(g.N) * double(g.K);
    return f;
}

std::string json_escape(const std::string& s) {
    std::string r;
    for (char c : s) {
        if (c == '"' || c == '\\') r += '\\';
        if (c >= 0x20) r += c;
    }
    return r;
}

struct Row {
    int batch;
    double flops, ms, gemm_ms;
    long iters, gemm_iters;
};

Row bench_batch(int n, int reps) {
    const int in = 16, hidden = 256, n_hidden = 2, out = 3;
    gfn::ParamStore store;
    gfn::Rng rng(2024);
    gfn::MLP mlp(store, "pf", in, out, hidden, n_hidden, gfn::Activation::Relu, rng);
    std::vector<float> x(size_t(n) * in), w(size_t(n) * out);
    for (float& v : x) v = rng.uniform(-1.f, 1.f);
    for (float& v : w) v = rng.uniform(-1.f, 1.f);

    gfn::Tape tape;
    double sink = 0.0;
    auto step = [&] {
        tape.reset();
        gfn::Var X = tape.constant(gfn::Tensor(x.data(), n, in));
        gfn::Var y = mlp.forward(X);
        gfn::Var loss = gfn::mean(gfn::mul(y, tape.constant(gfn::Tensor(w.data(), n, out))));
        tape.backward(loss);
        sink += loss.item();
    };
    Row r;
    r.batch = n;
    std::vector<GemmShape> shapes = mlp_gemm_shapes(mlp, n);
    r.flops = gemm_flops(shapes);
    for (GemmShape& g : shapes) {
        g.A.resize(size_t(g.M) * g.K);
        g.B.resize(size_t(g.K) * g.N);
        g.C.assign(size_t(g.M) * g.N, 0.f);
        for (float& v : g.A) v = rng.uniform(-1.f, 1.f);
        for (float& v : g.B) v = rng.uniform(-1.f, 1.f);
    }
    auto gemms = [&] {
        for (GemmShape& g : shapes) {
            const int lda = g.trans_a ? g.M : g.K, ldb = g.trans_b ? g.K : g.N;
            gfn::gemm(g.trans_a, g.trans_b, g.M, g.N, g.K, 1.f, g.A.data(), lda, g.B.data(), ldb, 1.f,
                      g.C.data(), g.N);
        }
    };
    // The two are timed in alternating repetitions, so a burst of load from
    // elsewhere on the machine hits both rather than skewing the ratio.
    r.iters = calibrate(step);
    r.gemm_iters = calibrate(gemms);
    std::vector<double> t_mlp, t_gemm;
    for (int k = 0; k < reps; ++k) {
        t_mlp.push_back(ms_per_call(step, r.iters));
        t_gemm.push_back(ms_per_call(gemms, r.gemm_iters));
    }
    r.ms = median(t_mlp);
    r.gemm_ms = median(t_gemm);
    if (!std::isfinite(sink)) std::fprintf(stderr, "gfn_bench mlp: non-finite loss at batch %d\n", n);
    return r;
}

}  // namespace

int run_mlp(int argc, char** argv) {
    Options o;
    bool help = false;
    if (!parse(argc, argv, o, help)) {
        usage(stderr);
        return 2;
    }
    if (help) {
        usage(stdout);
        return 0;
    }
    gfn::set_num_threads(o.threads);
    const std::string warn = gfn::blas_check_threading();
    if (!warn.empty()) std::fprintf(stderr, "gfn_bench mlp: %s\n", warn.c_str());
    const int threads = gfn::num_threads();
    const std::string blas = gfn::blas_info();

    if (!o.json) {
        std::printf("## mlp: forward+backward, 16-256-256-3 relu, loss = mean(y * w)\n\n");
        std::printf("threads %d, %s; median of %d repetitions of ~50 ms\n\n", threads, blas.c_str(), o.reps);
        std::printf("| batch | ms / fwd+bwd | GFLOP/s | GEMM-only ms | GEMM GFLOP/s | ratio |\n");
        std::printf("|------:|-------------:|--------:|-------------:|-------------:|------:|\n");
        std::fflush(stdout);
    }
    for (int n : {16, 128, 1024}) {
        Row r = bench_batch(n, o.reps);
        const double gf = r.flops / (r.ms * 1e6), gemm_gf = r.flops / (r.gemm_ms * 1e6);
        const double ratio = r.gemm_ms / r.ms;
        if (o.json) {
            std::printf("{\"bench\":\"mlp\",\"batch\":%d,\"threads\":%d,\"blas\":\"%s\",\"flops\":%.0f,"
                        "\"ms\":%.6f,\"gflops\":%.3f,\"gemm_ms\":%.6f,\"gemm_gflops\":%.3f,\"ratio\":%.4f,"
                        "\"iters\":%ld,\"gemm_iters\":%ld,\"reps\":%d}\n",
                        r.batch, threads, json_escape(blas).c_str(), r.flops, r.ms, gf, r.gemm_ms, gemm_gf, ratio,
                        r.iters, r.gemm_iters, o.reps);
        } else {
            std::printf("| %5d | %12.4f | %7.2f | %12.4f | %12.2f | %5.2f |\n", r.batch, r.ms, gf, r.gemm_ms,
                        gemm_gf, ratio);
        }
        std::fflush(stdout);
    }
    return 0;
}

}  // namespace gfn_bench
