// distributed.h — data-parallel training over MPI: the one interface to it.
//
// distributed.cpp is the only file that includes mpi.h (as engine/blas.cpp is
// for BLAS). Built with `make MPI=1` (GFN_MPI defined, mpicxx) it talks to
// OpenMPI; otherwise it compiles to a single-rank implementation with the same
// interface: rank() 0, size() 1, every collective a no-op. The rest of the code
// calls it unconditionally, with no #ifdefs.
//
// Under `mpirun -np K gfn train …` every rank runs the whole program: it samples
// its share of the global batch (share(): B/K, +1 for the first B mod K ranks),
// computes its loss and gradient, and one all-reduce over the gradient slab
// averages the ranks' gradients weighted by their share, so every rank takes
// the same optimizer step and the parameters stay identical. Rank 0 alone
// prints and writes files.
//
// Threads: MPI is initialised with MPI_THREAD_FUNNELED — OpenMP threads live
// inside each rank and only the main thread calls MPI.
//
// Failure: MPI errors abort the job (MPI's default handler). A C++ exception
// during the run ends the whole job through abort_job (MPI_Abort) after
// printing: rank 0's message as is, another rank's prefixed "[rank r]". The
// setup (flag parsing, output checks) runs inside agree(), one collective that
// every rank reaches whether it failed or not: a bad flag is reported once (by
// rank 0, or by the lowest failing rank when rank 0 is fine) and every rank
// exits with the same status — no hang, no MPI_Abort.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace gfn {
namespace dist {

// MPI_Init_thread (FUNNELED) / MPI_Finalize; no-ops in the single-rank build.
void init(int* argc, char*** argv);
void finalize();
// Whether this build talks to MPI (make MPI=1).
bool built_with_mpi();

// This process's rank and the number of ranks (0 and 1 inside a LocalScope).
int rank();
int size();
inline bool root() { return rank() == 0; }

// Rank r's share of `total` items over k ranks: total/k, +1 for r < total mod k.
inline int share(int total, int r, int k) { return total / k + (r < total % k ? 1 : 0); }
// This rank's share.
inline int my_share(int total) { return share(total, rank(), size()); }

// In-place sums over the ranks (MPI_Allreduce with MPI_SUM); max of bytes.
void allreduce_sum(float* data, size_t n);
void allreduce_sum(double* data, size_t n);
void allreduce_max(uint8_t* data, size_t n);
// Rank 0's bytes to every rank.
void broadcast(void* data, size_t bytes);
// Every rank's string, in rank order, on rank 0 (other ranks get an empty vector).
std::vector<std::string> gather(const std::string& mine);
// Every rank's items, concatenated in rank order, on every rank (MPI_Allgatherv):
// the validation samples each rank drew, so that every rank computes the same
// metrics from all of them. Single rank: `mine` itself.
std::vector<float> allgather(const std::vector<float>& mine);
std::vector<double> allgather(const std::vector<double>& mine);
// Seconds spent in allreduce_sum on the gradient slab so far (for the figures).
double allreduce_seconds();
void add_allreduce_seconds(double s);

// Within its lifetime, this thread sees one rank (rank 0 of 1) and every
// collective is a no-op: for a process-local run inside a distributed one
// (the relative objectives' prior, which rank 0 trains and then broadcasts;
// the tests' single-process reference).
class LocalScope {
public:
    LocalScope();
    ~LocalScope();
    LocalScope(const LocalScope&) = delete;
    LocalScope& operator=(const LocalScope&) = delete;
};

// Thrown on ranks whose setup succeeded when another rank's failed (that rank
// printed the message); `code` is the exit status every rank returns.
struct PeerFailed : std::exception {
    int code;
    explicit PeerFailed(int c) : code(c) {}
    const char* what() const noexcept override { return "another rank failed"; }
};

// Runs the setup `fn` on every rank, then agrees (one collective) on whether
// any rank failed. A rank whose fn threw rethrows it; when another rank failed,
// throws PeerFailed with the failing ranks' exit status (2 for
// std::invalid_argument, 1 otherwise). Single rank: just fn().
void agree(const std::function<void()>& fn);

// What a rank does with an error that reaches main: prints `message` (with the
// "[rank r] " prefix on ranks other than 0), and returns `code`; in a job of
// K > 1 ranks outside a failed agree(), ends the whole job (MPI_Abort) instead
// of returning. After a failed agree() only one rank prints.
int report_error(const std::string& message, int code);

}  // namespace dist
}  // namespace gfn
