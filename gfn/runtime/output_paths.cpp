// output_paths.cpp — see output_paths.h.
#include "gfn/runtime/output_paths.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace gfn {

namespace {

// "a/b.csv" -> "a", "b.csv" -> ".", "/b" -> "/".
std::string dir_of(const std::string& path) {
    const size_t slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

std::string base_of(const std::string& path) {
    const size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string resolved(const std::string& path) {
    char buf[PATH_MAX];
    return ::realpath(path.c_str(), buf) ? std::string(buf) : std::string();
}

// Why a target that exists cannot be replaced by a file ("" when it can).
std::string not_a_regular_file(const struct stat& st) {
    if (S_ISLNK(st.st_mode)) return "it is a symbolic link (give the path of the file itself)";
    if (S_ISDIR(st.st_mode)) return "it is a directory";
    if (!S_ISREG(st.st_mode)) return "it is not a regular file (a device, FIFO or socket)";
    return "";
}

[[noreturn]] void refuse(const OutputPath& o, const std::string& why) {
    throw std::invalid_argument("--" + o.flag + " " + o.path + ": " + why);
}

void check_one(const OutputPath& o) {
    const std::string dir = dir_of(o.path), base = base_of(o.path);
    if (base.empty() || base == "." || base == "..") refuse(o, "names a directory, not a file");
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0)
        refuse(o, errno == ENOENT ? "the directory '" + dir + "' does not exist"
                                  : "cannot reach the directory '" + dir + "': " + std::strerror(errno));
    if (!S_ISDIR(st.st_mode)) refuse(o, "'" + dir + "' is not a directory");
    if (::access(dir.c_str(), W_OK | X_OK) != 0) refuse(o, "the directory '" + dir + "' is not writable");
    if (::lstat(o.path.c_str(), &st) != 0) return;  // a new file
    if (S_ISLNK(st.st_mode)) {
        if (o.atomic_replace)
            refuse(o, "is a symbolic link; this file is replaced as a whole, which would replace the link "
                      "(give the path of the file itself)");
        if (::stat(o.path.c_str(), &st) != 0) return;  // a dangling link: writing creates its target
    }
    if (S_ISDIR(st.st_mode)) refuse(o, "is a directory");
    if (!S_ISREG(st.st_mode)) refuse(o, "is not a regular file (a device, FIFO or socket)");
    if (!o.atomic_replace && ::access(o.path.c_str(), W_OK) != 0) refuse(o, "the file is not writable");
}

void fsync_dir_of(const std::string& path) {
    int fd = ::open(dir_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
}

}  // namespace

std::string canonical_output_path(const std::string& path) {
    std::string file = resolved(path);
    if (!file.empty()) return file;
    const std::string dir = resolved(dir_of(path));
    if (dir.empty()) return "";
    return (dir == "/" ? dir : dir + "/") + base_of(path);
}

void check_output_paths(const std::vector<OutputPath>& outputs, const std::string& resume) {
    std::vector<std::string> canon(outputs.size());
    for (size_t k = 0; k < outputs.size(); ++k) {
        if (outputs[k].path.empty()) continue;
        check_one(outputs[k]);
        canon[k] = canonical_output_path(outputs[k].path);
    }
    const std::string resumed = resume.empty() ? "" : canonical_output_path(resume);
    for (size_t k = 0; k < outputs.size(); ++k) {
        if (canon[k].empty()) continue;
        for (size_t j = 0; j < k; ++j)
            if (canon[j] == canon[k])
                throw std::invalid_argument("--" + outputs[j].flag + " " + outputs[j].path + " and --" +
                                            outputs[k].flag + " " + outputs[k].path +
                                            " name the same file; give each output its own");
        // Saving over the checkpoint being resumed is how a run continues in place.
        if (canon[k] == resumed && outputs[k].flag != "save")
            throw std::invalid_argument("--" + outputs[k].flag + " " + outputs[k].path +
                                        " names the checkpoint being resumed (--resume " + resume +
                                        "); writing it would destroy the checkpoint");
    }
}

std::string temp_path_for(const std::string& path) { return path + ".tmp." + std::to_string(long(::getpid())); }

int remove_stale_temp_files(const std::string& path) {
    const std::string dir = dir_of(path), prefix = base_of(path) + ".tmp.";
    DIR* d = ::opendir(dir.c_str());
    if (!d) return 0;
    int removed = 0;
    while (const struct dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
        const std::string digits = name.substr(prefix.size());
        if (digits.size() > 10 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
        const long pid = std::strtol(digits.c_str(), nullptr, 10);
        // A live process (EPERM: alive, another user's) may be writing it right now.
        const bool alive = pid > 0 && pid != long(::getpid()) && (::kill(pid_t(pid), 0) == 0 || errno == EPERM);
        if (alive) continue;
        const std::string full = (dir == "/" ? dir : dir + "/") + name;
        struct stat st;
        if (::lstat(full.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::unlink(full.c_str()) == 0) ++removed;
    }
    ::closedir(d);
    return removed;
}

void write_file_atomically(const std::string& path, const std::string& bytes) {
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0) {
        const std::string why = not_a_regular_file(st);
        if (!why.empty()) throw std::runtime_error("cannot write '" + path + "': " + why + "; refusing to replace it");
    }
    const std::string tmp = temp_path_for(path);
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) throw std::runtime_error("cannot write '" + path + "': " + std::strerror(errno));
    size_t done = 0;
    int err = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            err = errno;
            break;
        }
        done += size_t(n);
    }
    if (!err && ::fsync(fd) != 0) err = errno;
    if (::close(fd) != 0 && !err) err = errno;
    if (!err && ::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
    if (err) {
        ::unlink(tmp.c_str());
        throw std::runtime_error("cannot write '" + path + "': " + std::strerror(err) + " (the previous file is untouched)");
    }
    fsync_dir_of(path);
}

}  // namespace gfn
