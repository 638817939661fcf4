// child.h — what the benchmarks share for running measurements in child
// processes: this program's own path, a command's last JSON line, a number
// read from such a line, a CPU-bound competitor to start and stop, and the
// median.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace gfn_bench {

// The path of the running benchmark binary (children run this same file).
std::string self_path();
// Runs `cmd` through /bin/sh and returns its last output line when it starts
// with '{' and the command succeeded, else "".
std::string run_json(const std::string& cmd);
// Starts `cmds` at once and waits for all of them: their last JSON lines.
std::vector<std::string> run_json_together(const std::vector<std::string>& cmds);
// The number after "key": in a JSON line, NaN when absent.
double json_number(const std::string& line, const std::string& key);
// A child process that spins on arithmetic until stop_competitor(): the
// "one busy program beside us" of a shared machine.
pid_t start_competitor();
void stop_competitor(pid_t pid);
double median(std::vector<double> v);
// The median of `key`'s number over JSON lines (lines without it are skipped; NaN if none has it).
double median_field(const std::vector<std::string>& lines, const char* key);

}  // namespace gfn_bench
