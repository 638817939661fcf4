// main.cpp — the Boost.Test runner for every suite; ends with "N passed, N failed".
//
// Run one suite:      build/gfn_tests --run_test=ops
// Skip the learning:  build/gfn_tests --run_test='!@learning'
#define BOOST_TEST_MODULE gfn
#define BOOST_TEST_NO_MAIN
#define BOOST_TEST_ALTERNATIVE_INIT_API
#include <boost/test/unit_test.hpp>
#include <boost/test/results_collector.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "engine/blas.h"

static bool init_gfn_tests() {
    gfn::set_num_threads(0);
    return true;
}

int main(int argc, char* argv[]) {
    gfn::adopt_thread_wait_policy(argv);  // as the gfn program does
    // No colour escapes into files and pipes: the closing line must read exactly
    // "N passed, N failed".
    std::vector<char*> args(argv, argv + argc);
    bool colour_given = false;
    for (int i = 1; i < argc; ++i)
        if (std::strncmp(argv[i], "--color_output", 14) == 0 || std::strncmp(argv[i], "-x", 2) == 0) colour_given = true;
    static char no_colour[] = "--color_output=no";
    if (!colour_given && !isatty(fileno(stdout))) args.push_back(no_colour);
    int rc = boost::unit_test::unit_test_main(&init_gfn_tests, int(args.size()), args.data());
    using namespace boost::unit_test;
    const test_results& r = results_collector.results(framework::master_test_suite().p_id);
    std::printf("%lu passed, %lu failed\n", (unsigned long)r.p_test_cases_passed,
                (unsigned long)(r.p_test_cases_failed + r.p_test_cases_aborted));
    return rc;
}
