#!/usr/bin/env bash
# install-deps.sh — installs what gfn.cpp needs to build and test, when missing:
# g++, make, OpenBLAS (its OpenMP build) and Boost.Test. Uses apt-get (through
# sudo when not root); elsewhere prints what to install and fails.
set -euo pipefail

missing=()
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)
triplet=$( (g++ -dumpmachine 2>/dev/null || gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu) )
[ -f "/usr/include/$triplet/openblas-openmp/cblas.h" ] || missing+=(libopenblas-openmp-dev)
[ -f /usr/include/boost/test/unit_test.hpp ] || missing+=(libboost-test-dev)

[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "gfn.cpp needs: ${missing[*]} (Debian/Ubuntu package names)." >&2
    echo "No apt-get here: install the equivalents with your package manager (a C++17 compiler with OpenMP," >&2
    echo "GNU make, OpenBLAS built with OpenMP, Boost.Test), or build without OpenBLAS with 'make BLAS=none'." >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
        echo "Missing packages: ${missing[*]}; run as root or install sudo." >&2; exit 1; fi
fi
echo "install-deps: installing ${missing[*]} with apt-get"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
echo "install-deps: done"
