// child.cpp — see child.h.
#include "bench/child.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace gfn_bench {

std::string self_path() {
    char buf[4096];
    const ssize_t len = readlink("/proc/self/exe", buf, sizeof buf - 1);
    return len > 0 ? std::string(buf, size_t(len)) : std::string("gfn_bench");
}

static std::string last_json_line(FILE* p) {
    std::string line;
    char buf[4096];
    while (std::fgets(buf, sizeof buf, p)) line = buf;
    if (pclose(p) != 0) return "";
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    return !line.empty() && line[0] == '{' ? line : "";
}

std::string run_json(const std::string& cmd) {
    FILE* p = popen(cmd.c_str(), "r");
    return p ? last_json_line(p) : "";
}

std::vector<std::string> run_json_together(const std::vector<std::string>& cmds) {
    std::vector<FILE*> ps;
    for (const std::string& c : cmds) ps.push_back(popen(c.c_str(), "r"));
    std::vector<std::string> out;
    for (FILE* p : ps) out.push_back(p ? last_json_line(p) : "");
    return out;
}

double json_number(const std::string& line, const std::string& key) {
    const size_t p = line.find("\"" + key + "\": ");
    if (p == std::string::npos) return std::nan("");
    return std::atof(line.c_str() + p + key.size() + 4);
}

pid_t start_competitor() {
    const pid_t pid = fork();
    if (pid == 0) {
        // x ← x·(1 + 1e-9) + 1e-9 forever: one core's worth of work, no memory traffic.
        volatile double x = 1.0;
        for (;;) x = x * 1.000000001 + 1e-9;
    }
    usleep(100000);  // let it reach the scheduler's steady state
    return pid;
}

void stop_competitor(pid_t pid) {
    if (pid <= 0) return;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
}

double median_field(const std::vector<std::string>& lines, const char* key) {
    std::vector<double> v;
    for (const std::string& l : lines) {
        const double x = json_number(l, key);
        if (!std::isnan(x)) v.push_back(x);
    }
    return median(v);
}

double median(std::vector<double> v) {
    if (v.empty()) return std::nan("");
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace gfn_bench
