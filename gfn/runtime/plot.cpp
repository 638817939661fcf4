// plot.cpp — see plot.h. Plain string building: one helper per SVG element kind,
// "nice" ticks (1, 2, 5 × 10^k; decades on a log axis), no clipping needed since
// every axis range covers its data. Every pass over the rows is linear, bar one
// stable sort by condition; what reaches the SVG is bounded by the pixels.
#include "gfn/runtime/plot.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <stdexcept>

namespace gfn {

namespace {

const char* const kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                                "#7f7f7f", "#bcbd22", "#17becf"};
const int kPaletteSize = int(sizeof kPalette / sizeof kPalette[0]);
const char* const kFont = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\"";

__attribute__((format(printf, 2, 3))) void appendf(std::string& out, const char* fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (size_t(n) < sizeof buf) {
        out.append(buf, size_t(n));
        return;
    }
    std::string big(size_t(n) + 1, '\0');
    va_start(ap, fmt);
    std::vsnprintf(&big[0], big.size(), fmt, ap);
    va_end(ap);
    out.append(big.c_str(), size_t(n));
}

std::string xml_escape(const std::string& s) {
    std::string out;
    for (char ch : s) {
        switch (ch) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&apos;"; break;
            default: out += ch;
        }
    }
    return out;
}

// "1e-08" → "1e-8", "2e+05" → "2e5".
std::string short_exponent(std::string s) {
    size_t e = s.find('e');
    if (e == std::string::npos) return s;
    std::string mant = s.substr(0, e), exp = s.substr(e + 1);
    const bool neg = !exp.empty() && exp[0] == '-';
    if (!exp.empty() && (exp[0] == '-' || exp[0] == '+')) exp.erase(0, 1);
    while (exp.size() > 1 && exp[0] == '0') exp.erase(0, 1);
    if (mant.find('.') != std::string::npos) {
        while (mant.back() == '0') mant.pop_back();
        if (mant.back() == '.') mant.pop_back();
    }
    return mant + "e" + (neg ? "-" : "") + exp;
}

// A number for a label: 4 significant digits, no "-0"; "∞", "−∞" and "NaN" rather
// than printf's "inf" and "nan".
std::string label(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "\u221e" : "\u2212\u221e";
    if (v == 0) v = 0;  // -0 → 0
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", v);
    return short_exponent(buf);
}

// A tick of a log axis: plain in [0.001, 10⁴), else "1e-4", "2.5e6".
std::string log_label(double v) {
    if (v >= 1e-3 && v < 1e4) return label(v);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3e", v);
    return short_exponent(buf);
}

std::string svg_open(double w, double h) {
    std::string s;
    appendf(s,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" viewBox=\"0 0 %g %g\" %s "
            "font-size=\"12\">\n",
            w, h, w, h, kFont);
    appendf(s, "<rect x=\"0\" y=\"0\" width=\"%g\" height=\"%g\" fill=\"#ffffff\"/>\n", w, h);
    return s;
}

void text(std::string& out, double x, double y, const std::string& s, const char* anchor = "middle",
          const char* extra = "") {
    appendf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"%s>%s</text>\n", x, y, anchor, extra,
            xml_escape(s).c_str());
}

void line(std::string& out, double x1, double y1, double x2, double y2, const char* stroke, double width = 1,
          const char* extra = "") {
    appendf(out, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" stroke-width=\"%g\"%s/>\n", x1,
            y1, x2, y2, stroke, width, extra);
}

// Every axis bound is finite, yet the width hi − lo of two finite doubles may
// not be (−1e308 to 1e308): differences are taken as b/2 − a/2, which is.
double half_diff(double a, double b) { return 0.5 * b - 0.5 * a; }

double clamp_finite(double v) {
    return std::max(-std::numeric_limits<double>::max(), std::min(std::numeric_limits<double>::max(), v));
}

// The bounds of a log axis, as log10 of the smallest normal and the largest
// double. (Subnormal values count as 0: training runs flush subnormals to zero,
// engine/blas.h, and so may this process.)
const double kLog10Min = std::log10(std::numeric_limits<double>::min());
const double kLog10Max = std::log10(std::numeric_limits<double>::max());

// No axis gets more ticks than this, whatever its range.
const int kMaxTicks = 16;

// 1, 2 or 5 × 10^k, about (hi − lo) / n, given half_width = (hi − lo) / 2.
double nice_step(double half_width, int n) {
    double raw = 2 * (half_width / n);
    if (!(raw > 0) || !std::isfinite(raw)) return 1;
    double mag = std::pow(10.0, std::floor(std::log10(raw)));
    double r = raw / mag;
    return (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
}

// The multiples of a nice step within [lo, hi] (finite), at most kMaxTicks of them.
std::vector<double> linear_ticks(double lo, double hi, int n, double min_step = 0) {
    std::vector<double> t;
    if (!std::isfinite(lo) || !std::isfinite(hi) || !(lo <= hi)) return t;
    const double step = std::max(nice_step(half_diff(lo, hi), n), min_step);
    const double k0 = std::ceil(lo / step - 1e-9), k1 = std::floor(hi / step + 1e-9);
    for (int i = 0; i < kMaxTicks && k0 + i <= k1; ++i) {
        double v = (k0 + i) * step;
        if (std::fabs(v) < step * 1e-9) v = 0;
        if (std::isfinite(v)) t.push_back(v);
    }
    return t;
}

// Ticks of a log axis over [10^llo, 10^lhi] (llo, lhi within [kLog10Min, kLog10Max]):
// decades, else 1-2-5, else linear ones.
std::vector<double> log_ticks(double llo, double lhi) {
    std::vector<double> t;
    const double tol = 1e-9;
    const int d0 = int(std::floor(llo)), d1 = int(std::ceil(lhi));
    const int every = std::max(1, (d1 - d0 + 5) / 6);
    for (int d = d0; d <= d1; ++d)
        if (d % every == 0 && d >= llo - tol && d <= lhi + tol) t.push_back(std::pow(10.0, d));
    if (t.size() >= 2) return t;
    t.clear();
    for (int d = d0; d <= d1; ++d)
        for (double m : {1.0, 2.0, 5.0}) {
            const double l = std::log10(m) + d, v = m * std::pow(10.0, d);
            if (l >= llo - tol && l <= lhi + tol && v > 0 && std::isfinite(v)) t.push_back(v);
        }
    if (t.size() >= 2) return t;
    t.clear();
    for (double v : linear_ticks(std::pow(10.0, llo), std::pow(10.0, lhi), 4))
        if (v > 0) t.push_back(v);
    return t;
}

// One axis of a panel: where a value falls between its ends (0 at lo, 1 at hi).
// On a log axis lo and hi are log10 of the ends; either way they are finite.
struct Axis {
    bool log = false;
    double lo = 0, hi = 1;
    double frac(double v) const {
        return log ? (std::log10(v) - lo) / (hi - lo) : half_diff(lo, v) / half_diff(lo, hi);
    }
    // What can be drawn: finite, and positive on a log axis.
    bool shows(double v) const { return std::isfinite(v) && (!log || v > 0); }
};

struct Series {
    std::string name;
    std::string color;
    bool dashed = false;
    double opacity = 1;
    double width = 1.6;
    bool markers = false;
    bool in_legend = true;
    std::vector<std::pair<double, double>> pts;  // (iteration, value); NaN values are skipped
};

struct HLine {
    std::string name;
    std::string color;
    double value;
};

struct Panel {
    std::string title, ylabel;
    std::vector<Series> series;
    std::vector<HLine> hlines;
    bool allow_log = false;   // log y when every value is positive
    bool force_log = false;   // log y whatever the values (those <= 0 are not drawn)
    bool include_zero = false;
    std::string xlabel = "iteration";
    bool whole_x = false;     // x ticks that are whole numbers below 10^7 written out ("120000", not "1.2e5")
};

// Points per pixel column above which a series is reduced before drawing.
const int kPointsPerColumn = 4;

// The polylines that draw a series (points as (iteration, value)): runs of points
// the y axis shows, in file order, broken at every other point. A series with more
// than kPointsPerColumn points per pixel column is reduced first, in one pass, to
// each column's first, lowest, highest and last point (M4), joined in iteration
// order: the polyline then covers the pixels the full one would — a noisy loss keeps
// its spikes, which a mean per column would hide — with at most 4 points per column.
// Gaps narrower than a column cannot be seen: the reduced line breaks only across
// whole pixel columns that hold points the y axis cannot show and none it can.
std::vector<std::vector<std::pair<double, double>>> polylines(const std::vector<std::pair<double, double>>& pts,
                                                              const Axis& x, const Axis& y, int columns,
                                                              bool* reduced) {
    std::vector<std::vector<std::pair<double, double>>> lines(1);
    *reduced = pts.size() > size_t(kPointsPerColumn) * size_t(columns);
    if (!*reduced) {
        for (const auto& q : pts) {
            if (!std::isfinite(q.first) || !y.shows(q.second)) {
                if (!lines.back().empty()) lines.emplace_back();
                continue;
            }
            lines.back().push_back(q);
        }
        if (lines.back().empty()) lines.pop_back();
        return lines;
    }
    struct Column {
        long first = -1, last = -1, low = -1, high = -1;  // indices into pts
        bool hidden = false;                              // holds a point the y axis cannot show
    };
    std::vector<Column> cols(static_cast<size_t>(columns));
    for (size_t i = 0; i < pts.size(); ++i) {
        const double it = pts[i].first, v = pts[i].second;
        if (!std::isfinite(it)) continue;
        Column& c = cols[size_t(std::min(columns - 1, std::max(0, int(std::floor(x.frac(it) * columns)))))];
        if (!y.shows(v)) {
            c.hidden = true;
            continue;
        }
        const long k = long(i);
        if (c.first < 0) {
            c.first = c.last = c.low = c.high = k;
            continue;
        }
        if (it < pts[size_t(c.first)].first) c.first = k;
        if (it >= pts[size_t(c.last)].first) c.last = k;
        if (v < pts[size_t(c.low)].second) c.low = k;
        if (v > pts[size_t(c.high)].second) c.high = k;
    }
    lines.back().clear();
    bool gap = false;  // a column of hidden points only since the last kept point
    for (const Column& c : cols) {
        if (c.first < 0) {
            gap = gap || c.hidden;
            continue;
        }
        if (gap && !lines.back().empty()) lines.emplace_back();
        gap = false;
        long keep[4] = {c.first, c.low, c.high, c.last};
        std::sort(keep, keep + 4, [&](long a, long b) {
            return pts[size_t(a)].first != pts[size_t(b)].first ? pts[size_t(a)].first < pts[size_t(b)].first : a < b;
        });
        for (int j = 0; j < 4; ++j)
            if (j == 0 || keep[j] != keep[j - 1]) lines.back().push_back(pts[size_t(keep[j])]);
    }
    if (lines.back().empty()) lines.pop_back();
    return lines;
}

// Draws one panel in the box (bx, by, bw, bh), x over [xmin, xmax].
void draw_panel(std::string& out, const Panel& p, double bx, double by, double bw, double bh, double xmin,
                double xmax) {
    const double left = bx + 74, right = bx + bw - 14, top = by + 34, bottom = by + bh - 46;
    const double pw = right - left, ph = bottom - top;
    text(out, bx + bw / 2, by + 20, p.title, "middle", " font-size=\"14\" font-weight=\"bold\"");
    appendf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444444\"/>\n",
            left, top, pw, ph);

    std::vector<double> ys;
    for (const Series& s : p.series)
        for (const auto& q : s.pts)
            if (std::isfinite(q.second) && (!p.force_log || q.second > 0)) ys.push_back(q.second);
    for (const HLine& h : p.hlines)
        if (std::isfinite(h.value) && (!p.force_log || h.value > 0)) ys.push_back(h.value);
    if (ys.empty()) {
        text(out, left + pw / 2, top + ph / 2, "no data", "middle", " fill=\"#888888\" font-size=\"14\"");
        return;
    }
    // A log y axis needs every value positive; points it cannot show (non-finite) are
    // skipped. Both axes keep finite ends, clamped to the doubles (log: to the positive ones).
    const bool logy =
        p.force_log || (p.allow_log && std::all_of(ys.begin(), ys.end(), [](double v) { return v > 0; }));
    double lo = *std::min_element(ys.begin(), ys.end()), hi = *std::max_element(ys.begin(), ys.end());
    Axis ax, ay;
    ax.lo = xmin, ax.hi = xmax;
    std::vector<double> yt;
    if (logy) {
        double llo = std::log10(lo), lhi = std::log10(hi);
        if (lhi - llo < 1e-9) llo -= 0.5, lhi += 0.5;
        const double pad = 0.05 * (lhi - llo);
        ay.log = true;
        ay.lo = std::max(kLog10Min, llo - pad), ay.hi = std::min(kLog10Max, lhi + pad);
        yt = log_ticks(ay.lo, ay.hi);
    } else {
        if (p.include_zero) lo = std::min(lo, 0.0), hi = std::max(hi, 0.0);
        if (hi - lo < 1e-12 * std::max(1.0, std::fabs(hi))) {
            const double d = std::max(1e-3, 0.1 * std::fabs(hi));
            lo = clamp_finite(lo - d), hi = clamp_finite(hi + d);
        }
        // pad = 5% of hi − lo
        const double pad = 0.1 * half_diff(lo, hi);
        if (!(p.include_zero && lo == 0)) lo = clamp_finite(lo - pad);
        hi = clamp_finite(hi + pad);
        ay.lo = lo, ay.hi = hi;
        yt = linear_ticks(lo, hi, 5);
    }
    auto Y = [&](double v) { return bottom - ay.frac(v) * ph; };
    auto X = [&](double it) { return left + ax.frac(it) * pw; };

    // Grid and ticks.
    for (double v : yt) {
        const double y = Y(v);
        line(out, left, y, right, y, "#e5e5e5");
        line(out, left - 4, y, left, y, "#444444");
        text(out, left - 7, y + 4, logy ? log_label(v) : label(v), "end");
    }
    for (double v : linear_ticks(xmin, xmax, 5, 1.0)) {
        const double x = X(v);
        line(out, x, top, x, bottom, "#f0f0f0");
        line(out, x, bottom, x, bottom + 4, "#444444");
        char whole[32];
        std::snprintf(whole, sizeof whole, "%.0f", v);
        text(out, x, bottom + 17, p.whole_x && v == std::floor(v) && std::fabs(v) < 1e7 ? whole : label(v));
    }
    text(out, left + pw / 2, bottom + 36, p.xlabel);
    appendf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 %.1f %.1f)\">%s%s</text>\n",
            bx + 16, top + ph / 2, bx + 16, top + ph / 2, xml_escape(p.ylabel).c_str(), logy ? " (log scale)" : "");

    // The curves, then the horizontal reference lines on top (visible once a curve reaches them).
    std::vector<std::pair<double, double>> drawn;  // screen points, for the legend's placement
    for (const Series& s : p.series) {
        const std::string style = std::string(" fill=\"none\" stroke=\"") + s.color + "\"" +
                                  (s.dashed ? " stroke-dasharray=\"5 3\"" : "") +
                                  (s.opacity < 1 ? " stroke-opacity=\"" + label(s.opacity) + "\"" : "");
        bool reduced = false;
        for (const auto& seg : polylines(s.pts, ax, ay, int(std::ceil(pw)), &reduced)) {
            std::string pts;
            for (const auto& q : seg) {
                const double x = X(q.first), y = Y(q.second);
                appendf(pts, "%s%.2f,%.2f", pts.empty() ? "" : " ", x, y);
                drawn.emplace_back(x, y);
                if ((s.markers && !reduced) || s.pts.size() == 1)
                    appendf(out, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"2.8\" fill=\"%s\"/>\n", x, y, s.color.c_str());
            }
            if (seg.size() >= 2)
                appendf(out, "<polyline points=\"%s\" stroke-width=\"%g\" stroke-linejoin=\"round\"%s/>\n",
                        pts.c_str(), s.width, style.c_str());
        }
    }
    for (const HLine& h : p.hlines)
        if (std::isfinite(h.value)) {
            line(out, left, Y(h.value), right, Y(h.value), h.color.c_str(), 1.6,
                 " stroke-dasharray=\"7 4\" class=\"true-logz\"");
            for (int k = 0; k <= 10; ++k) drawn.emplace_back(left + pw * k / 10, Y(h.value));
        }

    // Legend in the corner with the fewest drawn points.
    std::vector<std::pair<std::string, std::string>> entries;  // (name, line style)
    for (const Series& s : p.series)
        if (s.in_legend && std::any_of(s.pts.begin(), s.pts.end(), [](auto& q) { return std::isfinite(q.second); }))
            entries.emplace_back(s.name, std::string(" stroke=\"") + s.color + "\"" +
                                             (s.dashed ? " stroke-dasharray=\"5 3\"" : "") +
                                             (s.opacity < 1 ? " stroke-opacity=\"" + label(s.opacity) + "\"" : ""));
    for (const HLine& h : p.hlines)
        if (std::isfinite(h.value))
            entries.emplace_back(h.name, std::string(" stroke=\"") + h.color + "\" stroke-dasharray=\"7 4\"");
    if (entries.empty()) return;
    size_t longest = 0;
    for (const auto& e : entries) longest = std::max(longest, e.first.size());
    // As many columns of entries as the panel's height needs.
    const size_t fit = size_t(std::max(1.0, std::floor((ph - 20) / 16)));
    const size_t n_cols = (entries.size() + fit - 1) / fit, n_rows = (entries.size() + n_cols - 1) / n_cols;
    const double col_w = 38 + 6.6 * double(longest);
    const double lw = col_w * double(n_cols), lh = 8 + 16 * double(n_rows);
    double best_x = right - lw - 6, best_y = top + 6;
    int best = -1;
    for (int corner : {1, 0, 3, 2}) {  // top-right, top-left, bottom-right, bottom-left
        const double cx = corner % 2 ? right - lw - 6 : left + 6, cy = corner < 2 ? top + 6 : bottom - lh - 6;
        int hits = 0;
        for (const auto& q : drawn)
            if (q.first >= cx - 4 && q.first <= cx + lw + 4 && q.second >= cy - 4 && q.second <= cy + lh + 4) ++hits;
        if (best < 0 || hits < best) best = hits, best_x = cx, best_y = cy;
    }
    appendf(out,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#ffffff\" fill-opacity=\"0.85\" "
            "stroke=\"#bbbbbb\" class=\"legend\"/>\n",
            best_x, best_y, lw, lh);
    for (size_t k = 0; k < entries.size(); ++k) {
        const double x = best_x + col_w * double(k / n_rows), y = best_y + 14 + 16 * double(k % n_rows);
        appendf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke-width=\"2\"%s/>\n", x + 6, y - 4,
                x + 30, y - 4, entries[k].second.c_str());
        text(out, x + 35, y, entries[k].first, "start");
    }
}

// A running mean over the last `window` points, in log space when log_space, NaN
// (and, in log space, v ≤ 0) kept out: with J_i the kept j in [i − w + 1, i] and
// u = log v (log space) or u = v,
//   m_i = (1/|J_i|) Σ_{j∈J_i} u_j,   plotted as exp(m_i) or m_i (NaN when J_i is empty).
// O(n) without subtracting sums (a running sum that subtracts the point leaving the
// window would lose, for ever after, the small values a 1e300 spike absorbed): blocks of w
// points; a window starting at a block start lies in that block, any other spans
// the end of one block and the start of the next, so
//   Σ_{j=b}^{i} u_j = prefix_i (within i's block) [+ suffix_b (within b's block)].
// The u are scaled by a power of two (exact) so that no sum overflows.
std::vector<std::pair<double, double>> smooth(const std::vector<std::pair<double, double>>& pts, int window,
                                              bool log_space) {
    const size_t n = pts.size(), w = size_t(std::max(1, window));
    std::vector<double> u(n, 0.0);
    std::vector<size_t> kept_before(n + 1, 0);  // kept points among the first j
    double largest = 0;
    for (size_t j = 0; j < n; ++j) {
        const double v = pts[j].second;
        const bool kept = std::isfinite(v) && (!log_space || v > 0);
        if (kept) u[j] = log_space ? std::log(v) : v, largest = std::max(largest, std::fabs(u[j]));
        kept_before[j + 1] = kept_before[j] + (kept ? 1 : 0);
    }
    // |u| / 2^e < 1, so a window's sum stays below w.
    const int e = largest > 0 ? std::ilogb(largest) + 1 : 0;
    for (double& x : u) x = std::ldexp(x, -e);
    std::vector<double> prefix(n), suffix(n);
    for (size_t j = 0; j < n; ++j) prefix[j] = u[j] + (j % w ? prefix[j - 1] : 0.0);
    for (size_t j = n; j-- > 0;) suffix[j] = u[j] + ((j + 1) % w && j + 1 < n ? suffix[j + 1] : 0.0);
    std::vector<std::pair<double, double>> out;
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        const size_t b = i + 1 >= w ? i + 1 - w : 0;
        const size_t count = kept_before[i + 1] - kept_before[b];
        const double sum = b % w == 0 ? prefix[i] : suffix[b] + prefix[i];
        const double mean = count ? std::ldexp(sum / double(count), e) : NAN;
        out.emplace_back(pts[i].first, log_space ? std::exp(mean) : mean);
    }
    return out;
}

std::string condition_suffix(double c) { return std::isnan(c) ? "" : " c=" + label(c); }

// RGB of the viridis colour map at t in [0, 1] (9 control points, linear between).
std::string viridis(double t) {
    static const int cp[9][3] = {{0x44, 0x01, 0x54}, {0x47, 0x2c, 0x7a}, {0x3b, 0x51, 0x8b},
                                 {0x2c, 0x71, 0x8e}, {0x21, 0x90, 0x8d}, {0x27, 0xad, 0x81},
                                 {0x5c, 0xc8, 0x63}, {0xaa, 0xdc, 0x32}, {0xfd, 0xe7, 0x25}};
    t = std::min(1.0, std::max(0.0, t)) * 8;
    const int k = std::min(7, int(t));
    const double f = t - k;
    char buf[8];
    std::snprintf(buf, sizeof buf, "#%02x%02x%02x", int(std::lround(cp[k][0] + f * (cp[k + 1][0] - cp[k][0]))),
                  int(std::lround(cp[k][1] + f * (cp[k + 1][1] - cp[k][1]))),
                  int(std::lround(cp[k][2] + f * (cp[k + 1][2] - cp[k][2]))));
    return buf;
}

// Attributes name="value" of an element's opening tag text (between "<svg" and ">").
bool parse_attributes(const std::string& tag, std::vector<std::pair<std::string, std::string>>& attrs) {
    size_t i = 0;
    while (true) {
        while (i < tag.size() && std::isspace(static_cast<unsigned char>(tag[i]))) ++i;
        if (i >= tag.size() || tag[i] == '/') return true;
        size_t b = i;
        while (i < tag.size() && tag[i] != '=' && !std::isspace(static_cast<unsigned char>(tag[i]))) ++i;
        std::string name = tag.substr(b, i - b);
        while (i < tag.size() && std::isspace(static_cast<unsigned char>(tag[i]))) ++i;
        if (i >= tag.size() || tag[i] != '=') return false;
        ++i;
        while (i < tag.size() && std::isspace(static_cast<unsigned char>(tag[i]))) ++i;
        if (i >= tag.size() || (tag[i] != '"' && tag[i] != '\'')) return false;
        const char q = tag[i++];
        size_t e = tag.find(q, i);
        if (e == std::string::npos) return false;
        attrs.emplace_back(name, tag.substr(i, e - i));
        i = e + 1;
    }
}

// The root <svg> of a document: its attributes, its body (children) and its size.
struct SvgDoc {
    std::vector<std::pair<std::string, std::string>> attrs;
    std::string body;
    double width = 0, height = 0;
};

SvgDoc parse_svg(const std::string& s, const char* which) {
    const std::string err = std::string("combine_svg: figure ") + which + " is not an <svg> with width and height";
    size_t i = 0;
    while (true) {  // skip the prolog: <?xml ...?>, <!DOCTYPE ...>, comments, white space
        while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
        if (s.compare(i, 2, "<?") == 0) i = s.find("?>", i);
        else if (s.compare(i, 4, "<!--") == 0) i = s.find("-->", i);
        else if (s.compare(i, 2, "<!") == 0) i = s.find('>', i);
        else break;
        if (i == std::string::npos) throw std::invalid_argument(err);
        i = s.find('>', i) + 1;
    }
    if (s.compare(i, 4, "<svg") != 0 || i + 4 >= s.size() || !std::isspace(static_cast<unsigned char>(s[i + 4])))
        throw std::invalid_argument(err);
    const size_t tag_end = s.find('>', i);
    const size_t close = s.rfind("</svg>");
    if (tag_end == std::string::npos || close == std::string::npos || close < tag_end || s[tag_end - 1] == '/')
        throw std::invalid_argument(err);
    SvgDoc d;
    if (!parse_attributes(s.substr(i + 4, tag_end - i - 4), d.attrs)) throw std::invalid_argument(err);
    bool have_w = false, have_h = false;
    for (const auto& a : d.attrs) {
        char* end = nullptr;
        if (a.first == "width" || a.first == "height") {
            double v = std::strtod(a.second.c_str(), &end);
            if (end == a.second.c_str() || !(v > 0)) throw std::invalid_argument(err);
            (a.first == "width" ? d.width : d.height) = v;
            (a.first == "width" ? have_w : have_h) = true;
        }
    }
    if (!have_w || !have_h) throw std::invalid_argument(err);
    d.body = s.substr(tag_end + 1, close - tag_end - 1);
    return d;
}

}  // namespace

std::string training_curves_svg(const std::vector<MetricsRow>& rows) {
    const double panel_w = 430, panel_h = 330, header = 34;
    std::vector<const MetricsRow*> train, val;
    for (const MetricsRow& r : rows) {
        if (r.kind == "train") train.push_back(&r);
        else if (r.kind == "validation") val.push_back(&r);
    }
    if (train.empty() && val.empty()) {
        std::string s = svg_open(480, 240);
        text(s, 240, 126, "no data", "middle", " font-size=\"18\" fill=\"#888888\"");
        return s + "</svg>\n";
    }

    double xmin = INFINITY, xmax = -INFINITY;
    for (const MetricsRow* r : train) xmin = std::min(xmin, double(r->iteration)), xmax = std::max(xmax, double(r->iteration));
    for (const MetricsRow* r : val) xmin = std::min(xmin, double(r->iteration)), xmax = std::max(xmax, double(r->iteration));
    if (xmax - xmin < 1) {
        if (xmin > 0) xmin = 0;
        else xmax = xmin + 1;
    }

    // Validation rows grouped by condition (NaN: the unconditional group), in condition
    // order, file order within a group: a stable sort, O(n log n).
    std::vector<const MetricsRow*> by_condition = val;
    std::stable_sort(by_condition.begin(), by_condition.end(), [](const MetricsRow* a, const MetricsRow* b) {
        return std::isnan(a->condition) ? !std::isnan(b->condition)
                                        : !std::isnan(b->condition) && a->condition < b->condition;
    });
    std::vector<std::pair<size_t, size_t>> groups;  // [begin, end) in by_condition
    for (size_t i = 0, j; i < by_condition.size(); i = j) {
        const double c = by_condition[i]->condition;
        for (j = i + 1; j < by_condition.size(); ++j)
            if (std::isnan(c) ? !std::isnan(by_condition[j]->condition) : by_condition[j]->condition != c) break;
        groups.emplace_back(i, j);
    }
    // More conditions than colours cannot be told apart: kPaletteSize of them are drawn,
    // evenly spaced in condition order from the first to the last, and the header says so.
    const size_t n_conditions = groups.size();
    if (n_conditions > size_t(kPaletteSize)) {
        std::vector<std::pair<size_t, size_t>> shown;
        for (size_t k = 0; k < size_t(kPaletteSize); ++k)
            shown.push_back(groups[k * (n_conditions - 1) / size_t(kPaletteSize - 1)]);
        groups = shown;
    }
    std::vector<double> conds;
    for (const auto& g : groups) conds.push_back(by_condition[g.first]->condition);
    auto rows_of = [&](size_t g) {
        return std::vector<const MetricsRow*>(by_condition.begin() + long(groups[g].first),
                                              by_condition.begin() + long(groups[g].second));
    };
    const bool many = conds.size() > 1;

    // Panel 1: the training loss, raw and smoothed.
    Panel loss;
    loss.title = "training loss";
    loss.ylabel = "loss";
    loss.allow_log = true;
    {
        Series raw{"loss", kPalette[0], false, 1, 1.2, false, true, {}};
        raw.pts.reserve(train.size());
        for (const MetricsRow* r : train) raw.pts.emplace_back(r->iteration, r->loss);
        const bool positive = std::all_of(train.begin(), train.end(),
                                          [](const MetricsRow* r) { return !std::isfinite(r->loss) || r->loss > 0; });
        if (raw.pts.size() >= 50) {
            Series sm{"loss (running mean)", kPalette[0], false, 1, 2.2, false, true, {}};
            sm.pts = smooth(raw.pts, std::max(5, int(raw.pts.size()) / 25), positive);
            raw.opacity = 0.35;
            loss.series.push_back(std::move(raw));
            loss.series.push_back(std::move(sm));
        } else {
            raw.markers = raw.pts.size() <= 60;
            loss.series.push_back(std::move(raw));
        }
    }

    // Panel 2: l1 and exact l1 of the validations.
    Panel l1;
    l1.title = "distance to the target";
    l1.ylabel = "L1";
    l1.include_zero = true;
    for (size_t g = 0; g < conds.size(); ++g) {
        const std::string sfx = condition_suffix(conds[g]);
        Series a{"l1" + sfx, many ? kPalette[g % kPaletteSize] : kPalette[0], false, 1, 1.6, true, true, {}};
        Series b{"exact l1" + sfx, many ? kPalette[g % kPaletteSize] : kPalette[1], true, 1, 1.6, true, true, {}};
        for (const MetricsRow* r : rows_of(g)) {
            a.pts.emplace_back(r->iteration, r->l1);
            b.pts.emplace_back(r->iteration, r->exact_l1);
        }
        l1.series.push_back(std::move(a));
        l1.series.push_back(std::move(b));
    }

    // Panel 3: log Z, learned (training rows; else the validations) and true (dashed).
    Panel lz;
    lz.title = "log Z";
    lz.ylabel = "log Z";
    {
        Series t{"log Z", kPalette[0], false, 1, 1.6, false, true, {}};
        t.pts.reserve(train.size());
        for (const MetricsRow* r : train) t.pts.emplace_back(r->iteration, r->logz);
        t.markers = t.pts.size() <= 60;
        const bool train_has_logz =
            !many && std::any_of(t.pts.begin(), t.pts.end(), [](auto& q) { return std::isfinite(q.second); });
        if (train_has_logz) lz.series.push_back(std::move(t));
        for (size_t g = 0; g < conds.size(); ++g) {
            const std::string sfx = condition_suffix(conds[g]);
            const char* color = many ? kPalette[g % kPaletteSize] : kPalette[0];
            Series v{"log Z" + sfx, color, false, 1, 1.6, true, true, {}};
            double truth = NAN;
            for (const MetricsRow* r : rows_of(g)) {
                v.pts.emplace_back(r->iteration, r->logz);
                if (std::isfinite(r->logz_true)) truth = r->logz_true;
            }
            if (!train_has_logz) lz.series.push_back(std::move(v));
            if (std::isfinite(truth)) lz.hlines.push_back(HLine{"log Z true" + sfx, many ? color : "#d62728", truth});
        }
    }

    const double W = 3 * panel_w, H = header + panel_h;
    std::string s = svg_open(W, H);
    // Header: the last validation, in words.
    std::string summary = "training curves";
    if (n_conditions > conds.size())
        summary += " (" + std::to_string(conds.size()) + " of " + std::to_string(n_conditions) + " conditions)";
    if (!val.empty()) {
        const MetricsRow& r = *val.back();
        summary += " \u2014 last validation (iteration " + std::to_string(r.iteration) + condition_suffix(r.condition) + "):";
        if (std::isfinite(r.l1)) summary += " l1 " + label(r.l1);
        if (std::isfinite(r.exact_l1)) summary += ", exact l1 " + label(r.exact_l1);
        if (std::isfinite(r.logz - r.logz_true))
            summary += ", |log Z \u2212 log Z_true| " + label(std::fabs(r.logz - r.logz_true));
        if (r.n_modes > 0) summary += ", modes " + std::to_string(r.modes_found) + "/" + std::to_string(r.n_modes);
    }
    text(s, W / 2, 22, summary, "middle", " font-size=\"15\"");
    draw_panel(s, loss, 0, header, panel_w, panel_h, xmin, xmax);
    draw_panel(s, l1, panel_w, header, panel_w, panel_h, xmin, xmax);
    draw_panel(s, lz, 2 * panel_w, header, panel_w, panel_h, xmin, xmax);
    return s + "</svg>\n";
}

std::string heatmaps_svg(int height, const std::vector<double>& target, const std::vector<double>& learned,
                         const std::string& title) {
    if (height < 1 || target.size() != size_t(height) * size_t(height) || learned.size() != target.size())
        throw std::invalid_argument("heatmaps_svg: expected " + std::to_string(height) + "\u00b2 = " +
                                    std::to_string(long(height) * height) + " values for each distribution, got " +
                                    std::to_string(target.size()) + " and " + std::to_string(learned.size()));
    const int H = height;
    const double side = 320, cell = side / H;
    const double m_left = 56, m_top = 62, gap = 70, bar_gap = 28, bar_w = 16;
    const double W = m_left + side + gap + side + bar_gap + bar_w + 64, Ht = m_top + side + 52;

    double vmax = 0, l1 = 0;
    bool l1_ok = true;
    for (size_t i = 0; i < target.size(); ++i) {
        if (std::isfinite(target[i])) vmax = std::max(vmax, target[i]);
        if (std::isfinite(learned[i])) vmax = std::max(vmax, learned[i]);
        if (std::isfinite(target[i]) && std::isfinite(learned[i])) l1 += std::fabs(target[i] - learned[i]);
        else l1_ok = false;
    }
    if (!(vmax > 0)) vmax = 1;

    std::string s = svg_open(W, Ht);
    text(s, W / 2, 22,
         (title.empty() ? "HyperGrid " + std::to_string(H) + "\u00d7" + std::to_string(H) : title) +
             (l1_ok && std::isfinite(l1) ? ": L1(target, learned) = " + label(l1) : std::string()),
         "middle", " font-size=\"15\"");
    const std::vector<double>* maps[2] = {&target, &learned};
    const char* titles[2] = {"target R(x)/Z", "learned"};
    for (int m = 0; m < 2; ++m) {
        const double ox = m_left + m * (side + gap), oy = m_top;
        text(s, ox + side / 2, oy - 10, titles[m], "middle", " font-size=\"14\" font-weight=\"bold\"");
        appendf(s, "<g shape-rendering=\"crispEdges\">\n");
        for (int x0 = 0; x0 < H; ++x0)
            for (int x1 = 0; x1 < H; ++x1) {
                const double v = (*maps[m])[size_t(x0) * size_t(H) + size_t(x1)];
                const std::string fill = std::isfinite(v) ? viridis(v / vmax) : "#cccccc";
                appendf(s,
                        "<rect class=\"cell\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\">"
                        "<title>x = (%d, %d): %s</title></rect>\n",
                        ox + x1 * cell, oy + x0 * cell, cell + 0.01, cell + 0.01, fill.c_str(), x0, x1,
                        std::isfinite(v) ? label(v).c_str() : "NaN");
            }
        s += "</g>\n";
        appendf(s, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444444\"/>\n",
                ox, oy, side, side);
        // Ticks at cell centres: x1 along the bottom, x0 down the left side.
        for (double t : linear_ticks(0, H - 1, 8, 1.0)) {
            const int k = int(t);
            const double c = (k + 0.5) * cell;
            line(s, ox + c, oy + side, ox + c, oy + side + 4, "#444444");
            text(s, ox + c, oy + side + 17, std::to_string(k));
            line(s, ox - 4, oy + c, ox, oy + c, "#444444");
            text(s, ox - 7, oy + c + 4, std::to_string(k), "end");
        }
        text(s, ox + side / 2, oy + side + 36, "x1");
        text(s, ox - 40, oy + side / 2 + 4, "x0");
    }

    // The colour bar: a vertical gradient from 0 (bottom) to vmax (top).
    const double bx = m_left + 2 * side + gap + bar_gap, by = m_top;
    s += "<defs><linearGradient id=\"gfn-viridis\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">";
    for (int k = 0; k <= 8; ++k) appendf(s, "<stop offset=\"%g\" stop-color=\"%s\"/>", k / 8.0, viridis(k / 8.0).c_str());
    s += "</linearGradient></defs>\n";
    appendf(s,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"url(#gfn-viridis)\" stroke=\"#444444\" "
            "class=\"colorbar\"/>\n",
            bx, by, bar_w, side);
    for (double v : linear_ticks(0, vmax, 5)) {
        const double y = by + side - v / vmax * side;
        line(s, bx + bar_w, y, bx + bar_w + 4, y, "#444444");
        text(s, bx + bar_w + 7, y + 4, label(v), "start");
    }
    text(s, bx + bar_w / 2, by - 10, "p(x)");
    return s + "</svg>\n";
}

std::string combine_svg(const std::string& a, const std::string& b) {
    SvgDoc da = parse_svg(a, "a"), db = parse_svg(b, "b");
    const double W = std::max(da.width, db.width), H = da.height + db.height;
    std::string s = svg_open(W, H);
    const SvgDoc* docs[2] = {&da, &db};
    double y = 0;
    for (const SvgDoc* d : docs) {
        s += "<svg";
        appendf(s, " x=\"%g\" y=\"%g\"", (W - d->width) / 2, y);
        for (const auto& at : d->attrs)
            if (at.first != "x" && at.first != "y") {  // values come escaped; only a '"' (from '...') needs it
                std::string v;
                for (char ch : at.second) v += ch == '"' ? std::string("&quot;") : std::string(1, ch);
                s += " " + at.first + "=\"" + v + "\"";
            }
        s += ">" + d->body + "</svg>\n";
        y += d->height;
    }
    return s + "</svg>\n";
}

namespace {

bool has_finite(const std::vector<MetricsRow>& rows, const std::string& metric, const char* kind) {
    return std::any_of(rows.begin(), rows.end(), [&](const MetricsRow& r) {
        return (kind == nullptr || r.kind == kind) && std::isfinite(metric_value(r, metric));
    });
}

// "runs/2d_tb.csv" → "2d_tb".
std::string file_stem(const std::string& path) {
    const size_t slash = path.find_last_of('/');
    std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    const size_t dot = name.find_last_of('.');
    if (dot != std::string::npos && dot > 0) name.erase(dot);
    return name.empty() ? path : name;
}

std::vector<std::string> split_commas(const std::string& s) {
    std::vector<std::string> out;
    size_t b = 0;
    while (true) {
        const size_t e = s.find(',', b);
        out.push_back(s.substr(b, e == std::string::npos ? std::string::npos : e - b));
        if (e == std::string::npos) return out;
        b = e + 1;
    }
}

}  // namespace

std::string overlay_svg(const std::vector<OverlayRun>& runs, const OverlayOptions& options) {
    if (runs.empty()) throw std::invalid_argument("overlay: no runs to plot");
    std::string metric = options.metric;
    if (metric.empty()) {
        for (const char* m : {"exact_l1", "l1"})
            if (std::all_of(runs.begin(), runs.end(), [&](const OverlayRun& r) { return has_finite(r.rows, m, nullptr); })) {
                metric = m;
                break;
            }
        if (metric.empty())
            throw std::invalid_argument("overlay: not every file has a finite exact_l1 (or l1); choose the metric with --metric");
    }
    MetricsRow probe;
    metric_value(probe, metric);  // throws for an unknown metric, listing the known ones
    const bool by_trajectories = runs[0].batch_size > 0;
    for (const OverlayRun& r : runs) {
        if (r.batch_size < 0) throw std::invalid_argument(r.source + ": negative batch size");
        if ((r.batch_size > 0) != by_trajectories)
            throw std::invalid_argument(r.source + ": a batch size is given to some runs only (give --batch-size for every file)");
    }

    Panel p;
    p.title = !options.title.empty() ? options.title
                                     : metric + " against " + (by_trajectories ? "trajectories seen" : "iteration");
    p.ylabel = metric;
    p.xlabel = by_trajectories ? "trajectories seen" : "iteration";
    p.force_log = options.logy;
    p.whole_x = true;
    p.include_zero = metric == "l1" || metric == "exact_l1" || metric == "jsd" || metric == "mode_tv";
    double xmin = INFINITY, xmax = -INFINITY;
    for (size_t k = 0; k < runs.size(); ++k) {
        const OverlayRun& run = runs[k];
        // Validation rows when they hold the metric (l1, exact_l1, ...), else training rows (loss).
        const char* kind = has_finite(run.rows, metric, "validation") ? "validation"
                           : has_finite(run.rows, metric, "train")    ? "train"
                                                                      : nullptr;
        if (kind == nullptr)
            throw std::invalid_argument(run.source + ": no finite value of the metric '" + metric +
                                        "' in its rows (choose another with --metric)");
        double condition = NAN;
        bool first = true;
        Series line{run.label, kPalette[k % size_t(kPaletteSize)], (k / size_t(kPaletteSize)) % 2 == 1, 1, 1.8,
                    false, true, {}};
        for (const MetricsRow& r : run.rows) {
            if (r.kind != kind) continue;
            if (first) condition = r.condition, first = false;
            else if (!(std::isnan(condition) && std::isnan(r.condition)) && !(condition == r.condition))
                throw std::invalid_argument(run.source +
                                            ": validations at several conditions; an overlay draws one line per file");
            // x = iteration · batch size (trajectories seen), or the iteration.
            const double x = by_trajectories ? double(r.iteration) * double(run.batch_size) : double(r.iteration);
            line.pts.emplace_back(x, metric_value(r, metric));
            xmin = std::min(xmin, x), xmax = std::max(xmax, x);
        }
        line.markers = line.pts.size() <= 60;
        p.series.push_back(std::move(line));
    }
    if (xmax - xmin < 1) {
        if (xmin > 0) xmin = 0;
        else xmax = xmin + 1;
    }
    const double W = 760, H = 480;
    std::string s = svg_open(W, H);
    draw_panel(s, p, 0, 0, W, H, xmin, xmax);
    return s + "</svg>\n";
}

OverlayFlags parse_overlay_flags(const std::vector<std::string>& args) {
    OverlayFlags f;
    bool have_metric = false, have_labels = false, have_batch = false, have_title = false;
    auto value = [&](size_t& i) -> const std::string& {
        if (i + 1 >= args.size()) throw std::invalid_argument(args[i] + " needs a value");
        return args[++i];
    };
    auto once = [](bool& seen, const std::string& flag) {
        if (seen) throw std::invalid_argument(flag + ": given twice");
        seen = true;
    };
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "-o" || a == "--out") {
            if (!f.out.empty()) throw std::invalid_argument(a + ": the output file is given twice (one -o)");
            f.out = value(i);
            if (f.out.empty()) throw std::invalid_argument(a + ": empty file name");
        } else if (a == "--metric") {
            once(have_metric, a);
            f.metric = value(i);
            MetricsRow probe;
            metric_value(probe, f.metric);  // an unknown name is refused here, listing the metrics
        } else if (a == "--label") {
            once(have_labels, a);
            f.labels = split_commas(value(i));
            for (const std::string& l : f.labels)
                if (l.empty()) throw std::invalid_argument("--label: an empty label in '" + args[i] + "'");
        } else if (a == "--batch-size") {
            once(have_batch, a);
            for (const std::string& b : split_commas(value(i))) {
                char* end = nullptr;
                errno = 0;
                const long long v = std::strtoll(b.c_str(), &end, 10);
                if (b.empty() || end != b.c_str() + b.size() || errno == ERANGE || v <= 0)
                    throw std::invalid_argument("--batch-size: '" + b + "' is not a positive integer");
                f.batch_sizes.push_back(v);
            }
        } else if (a == "--title") {
            once(have_title, a);
            f.title = value(i);
        } else if (a == "--logy") {
            f.logy = true;
        } else if (a == "-h" || a == "--help") {
            f.help = true;
            return f;
        } else if (a.rfind("-", 0) == 0) {
            throw std::invalid_argument("unknown flag " + a + " (see gfn plot --help)");
        } else {
            f.files.push_back(a);
        }
    }
    if (f.files.empty()) throw std::invalid_argument("give the metrics file: gfn plot FILE.csv");
    f.overlay = f.files.size() > 1 || have_metric || have_labels || have_batch || have_title || f.logy;
    if (have_labels && f.labels.size() != f.files.size())
        throw std::invalid_argument("--label: " + std::to_string(f.labels.size()) + " labels for " +
                                    std::to_string(f.files.size()) + " files (one per file)");
    if (have_batch && f.batch_sizes.size() != 1 && f.batch_sizes.size() != f.files.size())
        throw std::invalid_argument("--batch-size: " + std::to_string(f.batch_sizes.size()) + " values for " +
                                    std::to_string(f.files.size()) + " files (one for all, or one per file)");
    if (f.out.empty()) {
        if (f.files.size() > 1) throw std::invalid_argument("several metrics files: give the figure with -o OUT.svg");
        f.out = f.files[0].substr(0, f.files[0].find_last_of('.')) + ".svg";
    }
    for (const std::string& in : f.files)
        if (in == f.out) throw std::invalid_argument("the SVG would overwrite the metrics file '" + in + "'; give -o OUT.svg");
    return f;
}

std::string overlay_files_svg(const OverlayFlags& f) {
    std::vector<OverlayRun> runs;
    for (size_t k = 0; k < f.files.size(); ++k) {
        OverlayRun r;
        r.source = f.files[k];
        r.label = f.labels.empty() ? file_stem(f.files[k]) : f.labels[k];
        r.batch_size = f.batch_sizes.empty() ? 0 : f.batch_sizes[f.batch_sizes.size() == 1 ? 0 : k];
        r.rows = read_metrics(f.files[k]);
        runs.push_back(std::move(r));
    }
    OverlayOptions o;
    o.metric = f.metric;
    o.logy = f.logy;
    o.title = f.title;
    return overlay_svg(runs, o);
}

}  // namespace gfn
