// output_paths.h — the files a run writes: checked before it starts, replaced atomically.
//
// check_output_paths runs before any work (second 0, not after an hour of
// training). For each output it requires: the parent directory exists, is a
// directory and is writable; the path is not a directory, a device, a FIFO
// or a socket; and no two outputs (nor an output and the checkpoint being
// resumed) name the same file, compared by canonical path (./a.csv is a.csv).
// Errors name the flag and the path as the user gave it.
//
// Symbolic links: an output written by replacement (atomic_replace = true:
// --save, --plot) refuses a symbolic link, since renaming over it would
// replace the link instead of writing its target; an output written in place
// (--log) writes through the link.
//
// Writing: write_file_atomically writes <path>.tmp.<pid> beside the target,
// fsyncs it, renames it onto the target and fsyncs the directory, so a crash
// never leaves half a file under the target's name. A run killed mid-write
// leaves its temporary file behind; remove_stale_temp_files(target) deletes
// exactly those of that target (<basename>.tmp.<digits>, regular files, whose
// process no longer exists).
#pragma once

#include <string>
#include <vector>

namespace gfn {

struct OutputPath {
    std::string flag;             // "log", "plot", "save" (named as --flag in errors)
    std::string path;             // as the user gave it; empty: not requested
    bool atomic_replace = false;  // written by rename (refuses a symbolic link)
};

// Throws std::invalid_argument naming the flag and path on the first problem.
// `resume` (may be empty) is the checkpoint being read: only --save may name it.
void check_output_paths(const std::vector<OutputPath>& outputs, const std::string& resume);

// The canonical form of a path that may not exist yet: the resolved directory
// and the file name (the resolved file when it exists). "" when the directory
// cannot be resolved.
std::string canonical_output_path(const std::string& path);

// The temporary file write_file_atomically uses for path in this process.
std::string temp_path_for(const std::string& path);

// Deletes the temporary files of `path` left by killed processes; returns how many.
int remove_stale_temp_files(const std::string& path);

// Replaces path's contents with bytes atomically (see above). Refuses, naming
// path, a target that exists and is not a regular file (a symbolic link, a
// directory, a device). Throws std::runtime_error naming path (never the
// temporary file); on failure the previous file is untouched and no
// temporary file is left.
void write_file_atomically(const std::string& path, const std::string& bytes);

}  // namespace gfn
