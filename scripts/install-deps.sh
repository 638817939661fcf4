#!/usr/bin/env bash
# install-deps.sh — installs what gfn.cpp needs to build and test, when missing:
# g++, make, OpenBLAS (its OpenMP build) and Boost.Test. With the argument
# `fuzz` (what `make fuzz` passes) also clang++ with libFuzzer and the
# sanitizers, and LLVM's OpenMP runtime (libomp) — checked by building a
# one-line harness. With the argument `mpi` (what `make MPI=1` passes) also
# OpenMPI: its compiler wrapper and headers (libopenmpi-dev) and mpirun
# (openmpi-bin). With the argument `bench` (what `make bench` passes) also
# PyTorch (python3-torch), the baseline `gfn_bench reference` runs beside
# ours; without apt-get the benchmark still runs and says the baseline is
# missing. Uses apt-get (through sudo when not root); elsewhere
# prints what to install and fails.
set -euo pipefail

fuzz=0
[ "${1:-}" = fuzz ] && fuzz=1
mpi=0
[ "${1:-}" = mpi ] && mpi=1
bench=0
[ "${1:-}" = bench ] && bench=1

# Whether clang++ links a libFuzzer harness with ASan, UBSan and OpenMP.
clang_fuzzer_works() {
    command -v clang++ >/dev/null 2>&1 || return 1
    local dir
    dir=$(mktemp -d)
    printf '%s\n' '#include <omp.h>' '#include <cstddef>' '#include <cstdint>' \
        'extern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return omp_get_max_threads() > 0 ? 0 : 1; }' \
        >"$dir/probe.cpp"
    local ok=0
    clang++ -fsanitize=fuzzer,address,undefined -fopenmp "$dir/probe.cpp" -o "$dir/probe" >/dev/null 2>&1 || ok=1
    rm -rf "$dir"
    return $ok
}

missing=()
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)
triplet=$( (g++ -dumpmachine 2>/dev/null || gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu) )
[ -f "/usr/include/$triplet/openblas-openmp/cblas.h" ] || missing+=(libopenblas-openmp-dev)
[ -f /usr/include/boost/test/unit_test.hpp ] || missing+=(libboost-test-dev)
if [ $mpi -eq 1 ]; then
    command -v mpicxx >/dev/null 2>&1 || missing+=(libopenmpi-dev)
    command -v mpirun >/dev/null 2>&1 || missing+=(openmpi-bin)
fi
if [ $bench -eq 1 ] && ! /usr/bin/python3 -c 'import torch' >/dev/null 2>&1; then
    missing+=(python3-torch)
fi
fuzz_missing=0
if [ $fuzz -eq 1 ] && ! clang_fuzzer_works; then
    missing+=(clang libomp-dev)
    fuzz_missing=1
fi

[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "gfn.cpp needs: ${missing[*]} (Debian/Ubuntu package names)." >&2
    echo "No apt-get here: install the equivalents with your package manager (a C++17 compiler with OpenMP," >&2
    echo "GNU make, OpenBLAS built with OpenMP, Boost.Test; for 'make fuzz' clang with libFuzzer and libomp;" >&2
    echo "for 'make MPI=1' OpenMPI with mpicxx and mpirun)," >&2
    echo "or build without OpenBLAS with 'make BLAS=none'." >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
        echo "Missing packages: ${missing[*]}; run as root or install sudo." >&2; exit 1; fi
fi
echo "install-deps: installing ${missing[*]} with apt-get"
$sudo apt-get update -qq
# Debian 12 ships libFuzzer and the sanitizer runtimes apart from clang
# (elsewhere they come with clang); known to apt only after the update.
if [ $fuzz_missing -eq 1 ] && apt-cache show libclang-rt-dev >/dev/null 2>&1; then
    missing+=(libclang-rt-dev)
fi
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
if [ $fuzz -eq 1 ] && ! clang_fuzzer_works; then
    echo "install-deps: clang++ still cannot link a libFuzzer harness with -fsanitize=fuzzer,address,undefined" >&2
    echo "and -fopenmp; install clang's libFuzzer runtime (libclang-rt-dev) and libomp-dev." >&2
    exit 1
fi
echo "install-deps: done"
