// distributed.cpp — see distributed.h. The only file that includes mpi.h.
#include "gfn/runtime/distributed.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <thread>

#ifdef GFN_MPI
#define OMPI_SKIP_MPICXX 1  // the C API only (OpenMPI's C++ bindings warn under -Wextra)
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace gfn {
namespace dist {

namespace {

thread_local int local_depth = 0;  // > 0 inside a LocalScope
double allreduce_time = 0;
int agreed_printer = -1;           // after a failed agree(): the one rank that prints

#ifdef GFN_MPI
bool mpi_up() {
    int up = 0, down = 0;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    return up && !down;
}
bool collective() { return local_depth == 0 && mpi_up() && size() > 1; }
// MPI counts are int: large buffers go in chunks.
constexpr size_t kChunk = size_t(1) << 30;
#endif

}  // namespace

bool built_with_mpi() {
#ifdef GFN_MPI
    return true;
#else
    return false;
#endif
}

void init(int* argc, char*** argv) {
#ifdef GFN_MPI
    int provided = 0;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    if (provided < MPI_THREAD_FUNNELED) {
        std::fprintf(stderr, "gfn: the MPI library does not provide MPI_THREAD_FUNNELED\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
#else
    (void)argc;
    (void)argv;
#endif
}

void finalize() {
#ifdef GFN_MPI
    if (mpi_up()) MPI_Finalize();
#endif
}

int rank() {
#ifdef GFN_MPI
    if (local_depth > 0 || !mpi_up()) return 0;
    int r = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
#else
    return 0;
#endif
}

int size() {
#ifdef GFN_MPI
    if (local_depth > 0 || !mpi_up()) return 1;
    int k = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &k);
    return k;
#else
    return 1;
#endif
}

void allreduce_sum(float* data, size_t n) {
#ifdef GFN_MPI
    if (!collective()) return;
    for (size_t at = 0; at < n; at += kChunk)
        MPI_Allreduce(MPI_IN_PLACE, data + at, int(std::min(kChunk, n - at)), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
#else
    (void)data;
    (void)n;
#endif
}

void allreduce_sum(double* data, size_t n) {
#ifdef GFN_MPI
    if (!collective()) return;
    for (size_t at = 0; at < n; at += kChunk)
        MPI_Allreduce(MPI_IN_PLACE, data + at, int(std::min(kChunk, n - at)), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
#else
    (void)data;
    (void)n;
#endif
}

void allreduce_max(uint8_t* data, size_t n) {
#ifdef GFN_MPI
    if (!collective()) return;
    for (size_t at = 0; at < n; at += kChunk)
        MPI_Allreduce(MPI_IN_PLACE, data + at, int(std::min(kChunk, n - at)), MPI_UNSIGNED_CHAR, MPI_MAX,
                      MPI_COMM_WORLD);
#else
    (void)data;
    (void)n;
#endif
}

void broadcast(void* data, size_t bytes) {
#ifdef GFN_MPI
    if (!collective()) return;
    char* p = static_cast<char*>(data);
    for (size_t at = 0; at < bytes; at += kChunk)
        MPI_Bcast(p + at, int(std::min(kChunk, bytes - at)), MPI_BYTE, 0, MPI_COMM_WORLD);
#else
    (void)data;
    (void)bytes;
#endif
}

std::vector<std::string> gather(const std::string& mine) {
#ifdef GFN_MPI
    if (collective()) {
        const int k = size(), me = rank();
        long long len = (long long)mine.size();
        std::vector<long long> lens(size_t(me == 0 ? k : 0));
        MPI_Gather(&len, 1, MPI_LONG_LONG, lens.data(), 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
        if (me != 0) {
            if (!mine.empty()) MPI_Send(mine.data(), int(mine.size()), MPI_BYTE, 0, 7, MPI_COMM_WORLD);
            return {};
        }
        std::vector<std::string> all(static_cast<size_t>(k));
        all[0] = mine;
        for (int r = 1; r < k; ++r) {
            all[size_t(r)].resize(size_t(lens[size_t(r)]));
            if (lens[size_t(r)] > 0)
                MPI_Recv(&all[size_t(r)][0], int(lens[size_t(r)]), MPI_BYTE, r, 7, MPI_COMM_WORLD,
                         MPI_STATUS_IGNORE);
        }
        return all;
    }
#endif
    return {mine};
}

namespace {

// The bytes of every rank's `mine`, concatenated in rank order, on every rank.
std::string allgather_bytes(const char* mine, size_t bytes) {
#ifdef GFN_MPI
    if (collective()) {
        const int k = size();
        long long len = (long long)bytes;
        std::vector<long long> lens(static_cast<size_t>(k));
        MPI_Allgather(&len, 1, MPI_LONG_LONG, lens.data(), 1, MPI_LONG_LONG, MPI_COMM_WORLD);
        std::vector<int> counts(static_cast<size_t>(k)), displs(static_cast<size_t>(k));
        long long total = 0;
        for (int r = 0; r < k; ++r) {
            if (total + lens[size_t(r)] > 0x7fffffffLL)
                throw std::runtime_error("allgather: more than 2 GB across the ranks");
            displs[size_t(r)] = int(total);
            counts[size_t(r)] = int(lens[size_t(r)]);
            total += lens[size_t(r)];
        }
        std::string all(size_t(total), '\0');
        MPI_Allgatherv(mine, int(bytes), MPI_BYTE, &all[0], counts.data(), displs.data(), MPI_BYTE, MPI_COMM_WORLD);
        return all;
    }
#endif
    return std::string(mine, bytes);
}

template <class T> std::vector<T> allgather_items(const std::vector<T>& mine) {
    if (size() == 1) return mine;
    const std::string all = allgather_bytes(reinterpret_cast<const char*>(mine.data()), mine.size() * sizeof(T));
    std::vector<T> out(all.size() / sizeof(T));
    if (!out.empty()) std::memcpy(out.data(), all.data(), all.size());
    return out;
}

}  // namespace

std::vector<float> allgather(const std::vector<float>& mine) { return allgather_items(mine); }
std::vector<double> allgather(const std::vector<double>& mine) { return allgather_items(mine); }

double allreduce_seconds() { return allreduce_time; }
void add_allreduce_seconds(double s) { allreduce_time += s; }

LocalScope::LocalScope() { ++local_depth; }
LocalScope::~LocalScope() { --local_depth; }

void agree(const std::function<void()>& fn) {
    std::exception_ptr failure;
    int code = 0;
    try {
        fn();
    } catch (const std::invalid_argument&) {
        failure = std::current_exception();
        code = 2;
    } catch (...) {
        failure = std::current_exception();
        code = 1;
    }
#ifdef GFN_MPI
    if (collective()) {
        // The exit status (the largest) and the lowest failing rank.
        int worst = code, first = code ? rank() : INT_MAX;
        MPI_Allreduce(MPI_IN_PLACE, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        if (worst != 0) {
            agreed_printer = first;
            if (!failure) throw PeerFailed(worst);
        }
    }
#else
    (void)code;
#endif
    if (failure) std::rethrow_exception(failure);
}

int report_error(const std::string& message, int code) {
    const int me = rank(), k = size();
    if (k == 1 || agreed_printer >= 0) {
        if (k == 1 || me == agreed_printer)
            std::fprintf(stderr, "%s%s\n", me == 0 ? "" : ("[rank " + std::to_string(me) + "] ").c_str(),
                         message.c_str());
        return code;
    }
#ifdef GFN_MPI
    // Mid-run: end the whole job. A rank other than 0 waits a moment, so that
    // when every rank fails alike (a divergence) only rank 0's message shows.
    if (me != 0) std::this_thread::sleep_for(std::chrono::seconds(2));
    std::fprintf(stderr, "%s%s\n", me == 0 ? "" : ("[rank " + std::to_string(me) + "] ").c_str(), message.c_str());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
#endif
    return code;
}

}  // namespace dist
}  // namespace gfn
