// plot.h — training curves and HyperGrid heatmaps as standalone SVG, with no dependency.
//
// Every function returns a complete SVG document (xmlns, width, height,
// viewBox, a white background; text XML-escaped) that a browser or an image
// viewer shows as is; scripts/render_svg.sh turns one into a PNG.
//
//   training_curves_svg  three panels against iteration: the training loss (log
//                        scale when every finite value is positive, else linear)
//                        and its running mean, l1 and exact l1 of the validations,
//                        log Z with log Z_true as a dashed line. NaN and ±inf values
//                        are skipped (the line breaks there); a conditional run gets
//                        one line per validation condition, at most 10 of them
//                        (evenly spaced in condition order; the header says "k of n
//                        conditions"). No rows: a "no data" figure.
//
// Any input, however hostile, gives a figure of bounded size in O(n log n) time:
// axes keep finite ends (clamped to ±DBL_MAX; a log axis to [DBL_MIN, DBL_MAX], DBL_MIN ≈ 2.2e-308 the smallest normal double)
// and at most 16 ticks, no "nan" or "inf" is ever written, and a line with more
// than 4 points per pixel column is drawn through each column's first, lowest,
// highest and last point (see polylines in plot.cpp).
//   heatmaps_svg         a 2-D HyperGrid's target R(x)/Z next to a learned
//                        distribution, one colour scale and its colour bar;
//                        cell (row x0, column x1) is index x0·H + x1.
//   combine_svg          two figures stacked vertically into one.
//   overlay_svg          one metric of several runs on one chart, a line per run and a
//                        legend of their labels, against iteration or trajectories seen
//                        (iteration × the run's batch size); `gfn plot A.csv B.csv ...`.
#pragma once

#include <string>
#include <vector>

#include "gfn/runtime/metrics_log.h"
#include "gfn/runtime/output_paths.h"  // write_file_atomically, for the callers that write a figure

namespace gfn {

std::string training_curves_svg(const std::vector<MetricsRow>& rows);

// target and learned hold height² probabilities in HyperGrid order (coordinate
// 0 most significant); throws std::invalid_argument otherwise. The title names
// the grid (default "HyperGrid H×H"); a 2-D continuous env passes its own
// (cells of a square over the plane).
std::string heatmaps_svg(int height, const std::vector<double>& target, const std::vector<double>& learned,
                         const std::string& title = "");

// b below a, each horizontally centred, as nested <svg> elements. Throws
// std::invalid_argument when either is not an <svg> with numeric width and height.
std::string combine_svg(const std::string& a, const std::string& b);

// One run of an overlay: its legend label, the file it came from (for messages),
// its rows, and its batch size (> 0: x = iteration × batch_size, trajectories seen;
// 0: x = iteration).
struct OverlayRun {
    std::string label, source;
    std::vector<MetricsRow> rows;
    long long batch_size = 0;
};

// metric: a numeric column of metrics_columns() (see metric_value); empty picks
// exact_l1 when every run has a finite one, else l1 when every run has one.
// logy: a log y axis whatever the values (those ≤ 0 are not drawn; the line breaks).
// title: the chart's title (default "METRIC against trajectories seen" / "... iteration").
struct OverlayOptions {
    std::string metric;
    bool logy = false;
    std::string title;
};

// A run's line is its validation rows when one of them has a finite value of the
// metric, else its training rows, in file order (NaN values break the line). The
// distances (l1, exact_l1, jsd, mode_tv) on a linear axis start it at 0. Series k
// takes colour k mod 10, dashed in every other cycle of 10; points are marked while a
// line has at most 60. Throws std::invalid_argument, naming the run's source: no runs;
// an unknown metric; a run with no finite value of it; a run validated at several
// conditions (one line per run cannot hold them); batch sizes given to some runs only.
std::string overlay_svg(const std::vector<OverlayRun>& runs, const OverlayOptions& options = {});

// `gfn plot FILE... [-o OUT.svg] [--metric NAME] [--label A,B,...] [--batch-size B[,B...]]
// [--logy] [--title TEXT]`. overlay is true with more than one file or any of the overlay flags;
// otherwise the caller draws the single file's training curves (parse_plot_flags).
// Labels default to the files' stems (name without directory and extension), one
// --label per file; --batch-size is one value for every file or one per file.
// With several files -o is required; with one its default is FILE with .svg. Throws
// std::invalid_argument naming the flag: a flag given twice or without a value, an
// unknown flag, no file, as many labels as files not given, an empty label, a batch
// size not a positive integer, an output that is one of the inputs.
struct OverlayFlags {
    std::vector<std::string> files;
    std::string out;
    std::string metric;
    std::vector<std::string> labels;
    std::vector<long long> batch_sizes;
    std::string title;
    bool logy = false;
    bool overlay = false;
    bool help = false;
};
OverlayFlags parse_overlay_flags(const std::vector<std::string>& args);

// Reads every file (read_metrics; a file that cannot be read throws as it does) and
// draws overlay_svg with the flags' labels, batch sizes, metric and y scale.
std::string overlay_files_svg(const OverlayFlags& flags);

}  // namespace gfn
