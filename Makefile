# gfn.cpp — build, test, benchmark.
#
#   make            the library and the gfn program (build/gfn)
#   make run        train the default GFlowNet (HyperGrid 2D H=8, TB)
#   make test       every Boost.Test suite; last line "N passed, N failed"
#   make asan       the unit suites under AddressSanitizer + UBSan
#   make bench      the benchmarks (bench/), beside the PyTorch baseline (installs python3-torch)
#   make BLAS=none  build with the built-in GEMM instead of OpenBLAS
#   make MPI=1      build/gfn and build/gfn_tests against OpenMPI (mpicxx; objects in
#                   build-mpi/): data-parallel training with `mpirun -np K build/gfn train …`;
#                   a later plain `make` relinks build/gfn without MPI (build/.variant)
#                   (gfn/runtime/distributed.cpp; installs libopenmpi-dev and
#                   openmpi-bin through scripts/install-deps.sh mpi when missing)
#   make fuzz       the libFuzzer harnesses of tests/fuzz/ (checkpoint loader,
#                   metrics readers + plot, flag parser), built with clang,
#                   ASan and UBSan in build-fuzz/ (built-in GEMM, no OpenBLAS),
#                   each run FUZZ_SECONDS (default 30) on its seed corpus
#                   tests/fuzz/corpus/NAME; fails when one finds a crash, leak,
#                   timeout or OOM (the input lands in build-fuzz/fuzz/crashes/)
#
# `make run`, `make test`, `make asan` and `make bench` first run
# scripts/install-deps.sh, which installs missing packages with apt-get;
# `make fuzz` runs it with the argument `fuzz` (clang, libFuzzer, libomp too).

CXX      ?= g++
ARCH     ?= -march=native
OPT      ?= -O3
CXXFLAGS ?= $(OPT) $(ARCH)
CXXFLAGS += -std=c++17 -Wall -Wextra -fno-math-errno -fopenmp -I. -MMD -MP $(SAN)
LDFLAGS  += -fopenmp $(SAN)
BUILD    ?= build

BLAS ?= openblas
ifeq ($(BLAS),none)
  CXXFLAGS += -DGFN_NO_BLAS
  BUILD := $(BUILD)-noblas
else
  OPENBLAS_DIR := /usr/lib/x86_64-linux-gnu/openblas-openmp
  OPENBLAS_INC := $(firstword $(wildcard /usr/include/$(shell $(CXX) -dumpmachine 2>/dev/null)/openblas-openmp) /usr/include/openblas)
  OPENBLAS_LIB := $(firstword $(wildcard /usr/lib/$(shell $(CXX) -dumpmachine 2>/dev/null)/openblas-openmp))
  CXXFLAGS += $(if $(OPENBLAS_INC),-isystem $(OPENBLAS_INC))
  LDLIBS   += $(if $(OPENBLAS_LIB),-L$(OPENBLAS_LIB) -Wl$(comma)-rpath$(comma)$(OPENBLAS_LIB)) -lopenblas
endif
comma := ,

# Where gfn and gfn_tests go: $(BUILD), also under MPI=1 (whose objects go apart).
BIN := $(BUILD)

# MPI=1: OpenMPI's compiler wrapper; gfn/runtime/distributed.cpp alone uses it.
MPI ?= 0
ifeq ($(MPI),1)
  CXX      := mpicxx
  CXXFLAGS += -DGFN_MPI
  BUILD    := $(BUILD)-mpi
  MPI_DEPS := $(shell bash scripts/install-deps.sh mpi >&2)
endif

LIB_SRC   := $(wildcard engine/*.cpp gfn/*/*.cpp envs/*.cpp)
TEST_SRC  := $(wildcard tests/*.cpp)
BENCH_SRC := $(wildcard bench/*.cpp)
APP_SRC   := $(wildcard apps/*.cpp)
EXAMPLE_SRC := $(wildcard examples/*.cpp)

OBJ       := $(BUILD)/obj
LIB_OBJ   := $(LIB_SRC:%.cpp=$(OBJ)/%.o)
TEST_OBJ  := $(TEST_SRC:%.cpp=$(OBJ)/%.o)
BENCH_OBJ := $(BENCH_SRC:%.cpp=$(OBJ)/%.o)
APP_OBJ   := $(APP_SRC:%.cpp=$(OBJ)/%.o)
LIBGFN    := $(BUILD)/libgfn.a
GFN_BIN   := $(BIN)/gfn
TEST_BIN  := $(BIN)/gfn_tests
# The compiler and flags the binaries in $(BIN) were linked with: when they change
# (make after make MPI=1, or back), gfn and gfn_tests are relinked.
VARIANT   := $(BIN)/.variant
BENCH_BIN := $(BUILD)/gfn_bench
EXAMPLE_BIN := $(EXAMPLE_SRC:examples/%.cpp=$(BUILD)/examples/%)

.PHONY: all run test asan bench deps clean fuzz fuzz-build FORCE
all: $(GFN_BIN) $(EXAMPLE_BIN)

deps:
	@bash scripts/install-deps.sh

$(OBJ)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(LIBGFN): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(VARIANT): FORCE
	@mkdir -p $(dir $@)
	@echo '$(CXX) $(CXXFLAGS) $(LDFLAGS)' | cmp -s - $@ || echo '$(CXX) $(CXXFLAGS) $(LDFLAGS)' > $@

$(GFN_BIN): $(APP_OBJ) $(LIBGFN) $(VARIANT)
	$(CXX) $(LDFLAGS) -o $@ $(filter-out $(VARIANT),$^) $(LDLIBS)

$(BUILD)/examples/%: $(OBJ)/examples/%.o $(LIBGFN)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(TEST_BIN): $(TEST_OBJ) $(LIBGFN) $(VARIANT)
	$(CXX) $(LDFLAGS) -o $@ $(filter-out $(VARIANT),$^) $(LDLIBS) -lboost_unit_test_framework

$(BENCH_BIN): $(BENCH_OBJ) $(LIBGFN)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

run: deps
	@$(MAKE) --no-print-directory $(GFN_BIN)
	./$(GFN_BIN) train

test: deps
	@$(MAKE) --no-print-directory $(TEST_BIN)
	@./$(TEST_BIN) $(TEST_ARGS)

# The unit suites only (training-to-target tests are labelled "learning").
asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" ARCH= \
	    SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" build-asan/gfn_tests
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    LSAN_OPTIONS=suppressions=scripts/lsan.supp ./build-asan/gfn_tests --run_test='!@learning'

# Every benchmark of build/gfn_bench (bench/main.cpp's table, e.g. diffusion and box beside eager
# PyTorch); BENCH_ARGS="box --quick" runs one of them.
bench:
	@bash scripts/install-deps.sh bench || bash scripts/install-deps.sh  # the PyTorch baseline is optional
	@$(MAKE) --no-print-directory $(BENCH_BIN) $(GFN_BIN)
	./$(BENCH_BIN) $(BENCH_ARGS)

# libFuzzer harnesses: the library objects with -fsanitize=fuzzer-no-link
# (through SAN), the harness link with -fsanitize=fuzzer (libFuzzer's main).
# -O1 does not vectorize: -Wno-pass-failed quiets clang about `omp simd` loops.
FUZZ_SECONDS ?= 30
FUZZ_NAMES   := $(patsubst tests/fuzz/%.cpp,%,$(wildcard tests/fuzz/*.cpp))
FUZZ_BIN     := $(FUZZ_NAMES:%=$(BUILD)/fuzz/%)

$(BUILD)/fuzz/%: $(OBJ)/tests/fuzz/%.o $(LIBGFN)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

fuzz-build: $(FUZZ_BIN)
.PRECIOUS: $(OBJ)/tests/fuzz/%.o

fuzz:
	@bash scripts/install-deps.sh fuzz
	@$(MAKE) --no-print-directory BUILD=build-fuzz BLAS=none CXX=clang++ OPT="-O1 -g -fno-omit-frame-pointer" ARCH= \
	    SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -Wno-pass-failed" fuzz-build
	@bash tests/fuzz/run.sh build-fuzz/fuzz $(FUZZ_SECONDS) $(FUZZ_NAMES)

clean:
	rm -rf build build-asan build-noblas build-fuzz build-mpi build-portable build-fp

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(FUZZ_NAMES:%=$(OBJ)/tests/fuzz/%.d) $(BENCH_OBJ:.o=.d) $(APP_OBJ:.o=.d) $(EXAMPLE_SRC:%.cpp=$(OBJ)/%.d)
