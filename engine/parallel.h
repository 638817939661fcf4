// parallel.h — when one of our own loops runs on several threads, and the one
// way it does (GEMMs are blas.h's business).
//
// Why not `#pragma omp parallel for if (cond)`: with cond false, GCC still calls
// into libgomp, which builds a team of one thread and ends it at a barrier whose
// wake-up is a futex system call whether or not anyone waits. Measured here
// (docs/engine.md, "Threads"): 0.35 µs per loop on one thread and 0.65 µs
// inside a data-parallel step's threads, against 0.04 µs for the plain loop. A
// diffusion or Box step runs ~500 such small loops per thread, so the pragma
// alone cost 11 % of the one-thread diffusion step and 20 % of the two-thread
// one. parallel_for runs a loop that is not split as a plain loop, with no call
// into OpenMP at all.
#pragma once

#include <omp.h>

namespace gfn {

// Whether a loop of `work` elements is split across the OpenMP threads: only
// above `grain` (ops.cpp's kOmpMin / kOmpMinCheap: what waking a sleeping
// thread costs), only when more than one thread is allowed, and never inside a
// parallel region — a data-parallel step's threads already keep every core busy,
// and a nested region would run on the one calling thread anyway.
inline bool split_loop(long work, long grain) {
    return work > grain && omp_get_max_threads() > 1 && !omp_in_parallel();
}

namespace detail {
template <class Index, class Body>
void split_for(Index n, Body body) {
#pragma omp parallel for schedule(static) firstprivate(body)
    for (Index i = 0; i < n; ++i) body(i);
}
}  // namespace detail

// body(i) for i in [0, n): split across the threads (static schedule) when
// `split`, else a plain loop on the calling thread. `body` is taken by value
// (each thread gets its own copy): capture scalars by value ([=]), so that they
// are locals the compiler can keep in registers while the loop vectorises.
template <class Index, class Body>
inline void parallel_for(Index n, bool split, Body body) {
    if (split) {
        detail::split_for(n, body);
        return;
    }
    for (Index i = 0; i < n; ++i) body(i);
}

}  // namespace gfn
