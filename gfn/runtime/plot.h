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

}  // namespace gfn
