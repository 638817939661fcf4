// test_train_command.cpp — `gfn train` end to end: outputs never lost or overwritten by
// surprise, bad outputs refused before any work, divergence stopped by name.
//
// Each test runs tiny trainings (HyperGrid 2D H=4, 16 hidden units, batch 16)
// through train_command in a fresh temporary directory that is also the
// working directory, so relative output paths behave as on the command line.
#include <boost/test/unit_test.hpp>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "gfn/runtime/metrics_log.h"
#include "gfn/runtime/train_command.h"
#include "gfn/runtime/training.h"

using namespace gfn;

namespace {

void remove_tree(const std::string& path) {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        if (DIR* d = ::opendir(path.c_str())) {
            while (const struct dirent* e = ::readdir(d)) {
                const std::string name = e->d_name;
                if (name != "." && name != "..") remove_tree(path + "/" + name);
            }
            ::closedir(d);
        }
        ::rmdir(path.c_str());
    } else {
        ::unlink(path.c_str());
    }
}

// A fresh directory, the working directory while the object lives.
struct TempCwd {
    std::string dir, previous;
    TempCwd() {
        char buf[PATH_MAX];
        previous = ::getcwd(buf, sizeof buf) ? buf : "/";
        char tmpl[] = "/tmp/gfn_train_command_XXXXXX";
        BOOST_REQUIRE(::mkdtemp(tmpl) != nullptr);
        dir = tmpl;
        BOOST_REQUIRE(::chdir(dir.c_str()) == 0);
    }
    ~TempCwd() {
        if (::chdir(previous.c_str()) != 0) BOOST_ERROR("cannot return to " + previous);
        remove_tree(dir);
    }
};

std::vector<std::string> tiny(const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"--height", "4", "--hidden", "16", "--batch-size", "16", "--validation-samples",
                                     "200", "--log-interval", "5", "--quiet"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
}

// Runs gfn train; "" on success, else the error message.
std::string train_error(const std::vector<std::string>& extra) {
    FILE* out = std::tmpfile();
    FILE* err = std::tmpfile();
    std::string what;
    try {
        const int rc = train_command(tiny(extra), out, err);
        if (rc != 0) what = "exit status " + std::to_string(rc);
    } catch (const std::exception& e) {
        what = e.what();
        if (what.empty()) what = "(an empty error message)";
    }
    std::fclose(out);
    std::fclose(err);
    return what;
}

void train_ok(const std::vector<std::string>& extra) {
    const std::string e = train_error(extra);
    BOOST_REQUIRE_MESSAGE(e.empty(), "gfn train failed: " + e);
}

bool exists(const std::string& path) {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0;
}

std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void spit(const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << bytes;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

size_t count_of(const std::string& s, const std::string& part) {
    size_t n = 0;
    for (size_t at = s.find(part); at != std::string::npos; at = s.find(part, at + 1)) ++n;
    return n;
}

std::vector<int> train_iterations(const std::string& path) {
    std::vector<int> its;
    for (const MetricsRow& r : read_metrics(path))
        if (r.kind == "train") its.push_back(r.iteration);
    return its;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(train_command)

BOOST_AUTO_TEST_CASE(resume_takes_no_outputs_from_the_checkpoint) {
    TempCwd tmp;
    train_ok({"--iterations", "20", "--log", "run.csv", "--plot", "run.svg", "--save", "c.ckpt"});
    const std::string csv = slurp("run.csv"), svg = slurp("run.svg"), ckpt = slurp("c.ckpt");
    BOOST_REQUIRE(!csv.empty() && !svg.empty() && !ckpt.empty());

    // Resumed in the same directory without output flags: the first run's files stay as they were.
    train_ok({"--resume", "c.ckpt", "--iterations", "40"});
    BOOST_TEST(slurp("run.csv") == csv);
    BOOST_TEST(slurp("run.svg") == svg);
    BOOST_TEST(slurp("c.ckpt") == ckpt);

    // Resumed from another directory: nothing appears there under the first run's relative names.
    BOOST_REQUIRE(::mkdir("elsewhere", 0700) == 0);
    BOOST_REQUIRE(::chdir("elsewhere") == 0);
    train_ok({"--resume", "../c.ckpt", "--iterations", "40"});
    BOOST_TEST(!exists("run.csv"));
    BOOST_TEST(!exists("run.svg"));
    BOOST_TEST(!exists("c.ckpt"));
    BOOST_REQUIRE(::chdir("..") == 0);
    BOOST_TEST(slurp("run.csv") == csv);
}

BOOST_AUTO_TEST_CASE(resume_appends_to_the_same_metrics_file) {
    TempCwd tmp;
    for (const std::string log : {"run.csv", "run.jsonl"}) {
        BOOST_TEST_CONTEXT(log) {
            train_ok({"--iterations", "20", "--log", log, "--save", "c.ckpt"});
            const std::string first = slurp(log);
            BOOST_REQUIRE(!first.empty());
            train_ok({"--resume", "c.ckpt", "--iterations", "40", "--log", log});
            const std::string both = slurp(log);
            BOOST_TEST(both.size() > first.size());
            BOOST_TEST(both.compare(0, first.size(), first) == 0);  // the earlier rows, byte for byte
            if (log == "run.csv") BOOST_TEST(count_of(both, "kind,iteration") == 1u);  // one header
            // The resumed rows continue the iteration numbers (every --log-interval 5).
            const std::vector<int> expected = {5, 10, 15, 20, 25, 30, 35, 40};
            BOOST_TEST(train_iterations(log) == expected, boost::test_tools::per_element());
        }
    }
}

BOOST_AUTO_TEST_CASE(a_metrics_file_with_other_columns_is_not_appended_to) {
    TempCwd tmp;
    train_ok({"--iterations", "10", "--save", "c.ckpt"});
    const std::string foreign = "kind,iteration,loss\ntrain,1,0.5\n";
    spit("other.csv", foreign);
    const std::string e = train_error({"--resume", "c.ckpt", "--iterations", "20", "--log", "other.csv"});
    BOOST_TEST_INFO("message: " << e);
    BOOST_TEST(contains(e, "other.csv"));
    BOOST_TEST(contains(e, "columns"));
    BOOST_TEST(slurp("other.csv") == foreign);
}

BOOST_AUTO_TEST_CASE(bad_outputs_fail_before_any_work) {
    TempCwd tmp;
    BOOST_REQUIRE(::mkdir("a_directory.svg", 0700) == 0);
    struct Case {
        std::vector<std::string> flags;
        std::vector<std::string> named;  // what the message must name
    };
    const std::vector<Case> cases = {
        {{"--plot", "missing/x.svg"}, {"--plot", "missing/x.svg", "does not exist"}},
        {{"--save", "missing/c.ckpt"}, {"--save", "missing/c.ckpt"}},
        {{"--plot", "a_directory.svg"}, {"--plot", "a_directory.svg", "directory"}},
        {{"--save", "a_directory.svg"}, {"--save", "a_directory.svg", "directory"}},
        {{"--save", "out.svg", "--plot", "./out.svg"}, {"--save out.svg", "--plot ./out.svg", "same file"}},
        {{"--save", "m.csv", "--log", "./m.csv"}, {"--save m.csv", "--log ./m.csv", "same file"}},
    };
    for (const Case& c : cases) {
        std::vector<std::string> flags = c.flags;
        // A metrics file the run would start writing at once: it must not exist afterwards.
        const bool has_log = std::find(flags.begin(), flags.end(), "--log") != flags.end();
        if (!has_log) flags.insert(flags.end(), {"--log", "work.csv"});
        flags.insert(flags.end(), {"--iterations", "10"});
        const std::string e = train_error(flags);
        BOOST_TEST_INFO("flags: " << c.flags[0] << " " << c.flags[1] << "; message: " << e);
        BOOST_TEST(!e.empty());
        for (const std::string& part : c.named) BOOST_TEST(contains(e, part));
        BOOST_TEST(!contains(e, ".tmp."));
        BOOST_TEST(!exists("work.csv"));
        BOOST_TEST(!exists("m.csv"));
        BOOST_TEST(!exists("out.svg"));
    }
}

BOOST_AUTO_TEST_CASE(save_never_replaces_a_symbolic_link_or_a_fifo) {
    TempCwd tmp;
    spit("target.ckpt", "keep");
    BOOST_REQUIRE(::symlink("target.ckpt", "link.ckpt") == 0);
    std::string e = train_error({"--iterations", "5", "--save", "link.ckpt"});
    BOOST_TEST_INFO("message: " << e);
    BOOST_TEST(contains(e, "--save link.ckpt"));
    BOOST_TEST(contains(e, "symbolic link"));
    struct stat st;
    BOOST_REQUIRE(::lstat("link.ckpt", &st) == 0);
    BOOST_TEST(S_ISLNK(st.st_mode));
    BOOST_TEST(slurp("target.ckpt") == "keep");

    BOOST_REQUIRE(::mkfifo("fifo", 0600) == 0);
    e = train_error({"--iterations", "5", "--save", "fifo"});
    BOOST_TEST_INFO("message: " << e);
    BOOST_TEST(contains(e, "--save fifo"));
    BOOST_REQUIRE(::lstat("fifo", &st) == 0);
    BOOST_TEST(S_ISFIFO(st.st_mode));
}

BOOST_AUTO_TEST_CASE(stale_temporary_files_of_the_target_are_removed) {
    TempCwd tmp;
    // pid 999999999 is above any pid_max (at most 2^22): that process is gone.
    spit("c.ckpt.tmp.999999999", "half a checkpoint");
    spit("c.ckpt.tmp.1", "pid 1 is alive: maybe in progress");
    spit("c.ckpt.tmp.notapid", "not ours");
    spit("other.ckpt.tmp.999999999", "another target's");
    train_ok({"--iterations", "3", "--save", "c.ckpt"});
    BOOST_TEST(exists("c.ckpt"));
    BOOST_TEST(!exists("c.ckpt.tmp.999999999"));
    BOOST_TEST(exists("c.ckpt.tmp.1"));
    BOOST_TEST(exists("c.ckpt.tmp.notapid"));
    BOOST_TEST(exists("other.ckpt.tmp.999999999"));
}

BOOST_AUTO_TEST_CASE(a_huge_learning_rate_stops_naming_the_iteration_and_the_flag) {
    TempCwd tmp;
    // Adam's first update moves each weight by about lr: 1e30, so the second
    // step's forward pass overflows.
    std::string e = train_error({"--iterations", "10", "--lr", "1e30", "--save", "c.ckpt"});
    BOOST_TEST_INFO("message: " << e);
    BOOST_TEST(contains(e, "diverged"));
    BOOST_TEST(contains(e, "iteration 2"));
    BOOST_TEST(contains(e, "--lr"));
    BOOST_TEST(!exists("c.ckpt"));

    // log Z at ±1e30 after the first step: the second loss overflows.
    e = train_error({"--iterations", "10", "--lr-logz", "1e30", "--save", "c.ckpt"});
    BOOST_TEST_INFO("message: " << e);
    BOOST_TEST(contains(e, "iteration 2"));
    BOOST_TEST(contains(e, "--lr-logz"));
    BOOST_TEST(!exists("c.ckpt"));
}

BOOST_AUTO_TEST_CASE(non_finite_parameters_or_moments_stop_training) {
    std::vector<std::string> args = tiny({"--iterations", "4", "--log-interval", "1"});
    Config cfg;
    parse_train_flags(args, cfg);
    auto first_of_group = [](const Run& run, int group) {
        for (const Param& p : run.store.params)
            if (p.group == group) return p.offset;
        BOOST_FAIL("no parameter in group " << group);
        return size_t(0);
    };
    struct Case {
        int group;
        int slab;  // 0: values, 1: m, 2: v
        float value;
        const char* flag;
    };
    for (const Case& c : {Case{kNetworkGroup, 2, INFINITY, "--lr)"}, Case{kLogZGroup, 1, NAN, "--lr-logz"},
                          Case{kNetworkGroup, 0, INFINITY, "--lr)"}}) {
        Run run(cfg);
        // A finite first step, then the state turns non-finite after it.
        train_step(run);
        const size_t at = first_of_group(run, c.group);
        std::vector<float>& slab = c.slab == 0 ? run.store.values : c.slab == 1 ? run.optimizer->m : run.optimizer->v;
        slab[at] = c.value;
        try {
            train(run);
            BOOST_ERROR("training went on with a non-finite state");
        } catch (const std::runtime_error& e) {
            const std::string what = e.what();
            BOOST_TEST_INFO("message: " << what);
            BOOST_TEST(contains(what, "diverged at iteration 2"));
            BOOST_TEST(contains(what, c.flag));
        }
    }
}

BOOST_AUTO_TEST_CASE(resume_needs_iterations_past_the_checkpoint) {
    TempCwd tmp;
    train_ok({"--iterations", "10", "--save", "c.ckpt"});
    const std::string ckpt = slurp("c.ckpt");
    for (const std::string n : {"10", "5"}) {
        const std::string e = train_error({"--resume", "c.ckpt", "--iterations", n});
        BOOST_TEST_INFO("message: " << e);
        BOOST_TEST(contains(e, "--iterations " + n));
        BOOST_TEST(contains(e, "iteration 10"));
    }
    const std::string e = train_error({"--resume", "c.ckpt"});  // its own total: nothing left to do
    BOOST_TEST_INFO("message: " << e);
    BOOST_TEST(contains(e, "--iterations"));
    BOOST_TEST(slurp("c.ckpt") == ckpt);
    train_ok({"--resume", "c.ckpt", "--iterations", "11"});
}

BOOST_AUTO_TEST_SUITE_END()
