// metrics_log.h — a training run's metrics, one row per record, to a CSV or JSONL file and back.
//
// A row is a training step ("train": loss, log Z) or a validation ("validation":
// l1, exact l1, JSD, log Z against log Z_true, modes; one row per condition for
// conditional environments). Fields that do not apply are NaN (−1 for the
// integer counts). The file's extension picks the format:
//   .csv    a header line, then one row per record; NaN (and −1 counts) as an empty field
//   .jsonl  one JSON object per line; NaN (and −1 counts, ±inf) as null
// Rows are written with stdio and flushed one by one, so a crash keeps what
// was logged. A resumed run appends to its earlier file: the header is not
// repeated, and a file with other columns is refused rather than mixed. read_metrics reads either format back (for `gfn plot FILE`).
#pragma once

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace gfn {

struct StepStats;
struct Metrics;

struct MetricsRow {
    std::string kind = "train";  // "train" or "validation"
    int iteration = 0;
    double loss = NAN, logz = NAN, logz_true = NAN;
    double l1 = NAN, exact_l1 = NAN, jsd = NAN;
    int modes_found = -1, n_modes = -1;  // −1: does not apply
    double wall_seconds = NAN;           // since the start of training
    double condition = NAN;              // NaN unless a conditional validation
    double elbo = NAN, iw_elbo = NAN, eubo = NAN, ess = NAN, mode_tv = NAN;  // diffusion samplers
};

// The columns, in file order: kind, iteration, loss, logz, logz_true, l1,
// exact_l1, jsd, modes_found, n_modes, wall_seconds, condition, elbo, iw_elbo,
// eubo, ess, mode_tv (the last five for diffusion samplers).
const std::vector<std::string>& metrics_columns();

// The metrics (every column but kind, iteration and condition), by name: the value
// of a row's column, NaN where it does not apply (an integer count of −1 too).
// Throws std::invalid_argument naming the column and listing them
// when name is not one of them.
double metric_value(const MetricsRow& row, const std::string& name);

// A "train" row from one step's statistics (iteration: steps taken).
MetricsRow train_row(int iteration, const StepStats& st, double wall_seconds);
// One "validation" row per target of m (per condition when conditional).
std::vector<MetricsRow> validation_rows(const Metrics& m, double wall_seconds);

class MetricsLogger {
public:
    enum class Format { Csv, Jsonl };

    // Opens path; a new CSV file gets its header at once. append = false
    // truncates an existing file; append = true keeps its rows and writes
    // after them, after checking that its columns are ours (the CSV header;
    // the keys of the first JSON object) and its last line is complete.
    // Throws std::invalid_argument for an extension other than .csv or .jsonl
    // or a file that cannot be appended to (left untouched), and
    // std::runtime_error naming the path when it cannot be opened.
    explicit MetricsLogger(const std::string& path, bool append = false);
    ~MetricsLogger();
    MetricsLogger(const MetricsLogger&) = delete;
    MetricsLogger& operator=(const MetricsLogger&) = delete;

    // Appends one row and flushes. Throws std::runtime_error naming the path
    // on a write error, std::invalid_argument for a kind with a line break.
    void write(const MetricsRow& row);
    void write(const std::vector<MetricsRow>& rows);

    const std::string& path() const { return path_; }
    Format format() const { return format_; }

    // The format of a path from its extension (throws like the constructor).
    static Format format_of(const std::string& path);

private:
    std::string path_;
    Format format_;
    FILE* file_ = nullptr;
};

// Reads a file written by MetricsLogger (format from the extension). Throws
// std::runtime_error "PATH:LINE: what is wrong" for a malformed file or one
// that cannot be read, std::invalid_argument for an unknown extension.
// CSV columns are matched by header name (unknown columns are ignored, missing
// ones read as NaN); so are JSON keys. Blank lines (white space only) are skipped.
// A file with no rows gives no rows in either format, whether it is empty (0 bytes),
// blank, or a CSV header alone: a run that has not logged yet plots as "no data".
std::vector<MetricsRow> read_metrics(const std::string& path);

}  // namespace gfn
