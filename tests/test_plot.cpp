// test_plot.cpp — the SVG figures are well-formed XML (checked by a small XML
// reader below: one root, balanced tags, quoted attributes, only the five named
// entities and character references) and standalone SVG, and hold what they
// should: a <rect class="cell"> per heatmap cell, a polyline per curve, the
// dashed true log Z; no rows → "no data"; NaN values never reach a coordinate.
// Overlays (suite plot_overlay): a polyline per run at x = iteration × batch size,
// hand-placed on the axes, the legend's labels in order, bad runs and flags refused.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

#include "gfn/runtime/plot.h"

using namespace gfn;

namespace {

struct Element {
    std::string name;
    std::map<std::string, std::string> attrs;
    std::string text;  // character data directly inside (unescaped)
    int depth = 0;
};

// Reads an XML document into its elements in document order; returns "" when
// well-formed, else what is wrong and where.
std::string check_xml(const std::string& s, std::vector<Element>& out) {
    out.clear();
    std::vector<size_t> open;  // indices into out
    size_t i = 0;
    int roots = 0;
    auto where = [&](size_t k) { return " at offset " + std::to_string(k); };
    auto is_name_char = [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ':' || c == '.';
    };
    // Character data and attribute values: '&' only as an entity, never '<'.
    auto check_chars = [&](const std::string& t, size_t at, std::string* decoded) -> std::string {
        for (size_t k = 0; k < t.size(); ++k) {
            if (t[k] == '<') return "raw '<'" + where(at + k);
            if (t[k] != '&') {
                if (decoded) *decoded += t[k];
                continue;
            }
            size_t semi = t.find(';', k);
            if (semi == std::string::npos) return "raw '&'" + where(at + k);
            std::string ent = t.substr(k + 1, semi - k - 1);
            static const std::map<std::string, char> named = {
                {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
            bool ok = named.count(ent) > 0;
            if (!ok && ent.size() > 1 && ent[0] == '#') {
                ok = true;
                const bool hex = ent[1] == 'x';
                for (size_t j = hex ? 2 : 1; j < ent.size(); ++j)
                    ok = ok && (hex ? std::isxdigit(static_cast<unsigned char>(ent[j]))
                                    : std::isdigit(static_cast<unsigned char>(ent[j])));
            }
            if (!ok) return "bad entity '&" + ent + ";'" + where(at + k);
            if (decoded) *decoded += named.count(ent) ? named.at(ent) : '?';
            k = semi;
        }
        return "";
    };
    while (i < s.size()) {
        if (s[i] != '<') {
            size_t e = s.find('<', i);
            if (e == std::string::npos) e = s.size();
            const std::string t = s.substr(i, e - i);
            if (open.empty() && t.find_first_not_of(" \t\r\n") != std::string::npos)
                return "text outside the root" + where(i);
            std::string err = check_chars(t, i, open.empty() ? nullptr : &out[open.back()].text);
            if (!err.empty()) return err;
            i = e;
            continue;
        }
        if (s.compare(i, 4, "<!--") == 0) {
            size_t e = s.find("-->", i);
            if (e == std::string::npos) return "unterminated comment" + where(i);
            i = e + 3;
            continue;
        }
        if (s.compare(i, 2, "<?") == 0) {
            size_t e = s.find("?>", i);
            if (e == std::string::npos) return "unterminated processing instruction" + where(i);
            i = e + 2;
            continue;
        }
        if (s.compare(i, 2, "</") == 0) {
            size_t b = i + 2, e = b;
            while (e < s.size() && is_name_char(s[e])) ++e;
            const std::string name = s.substr(b, e - b);
            while (e < s.size() && std::isspace(static_cast<unsigned char>(s[e]))) ++e;
            if (e >= s.size() || s[e] != '>') return "bad end tag" + where(i);
            if (open.empty() || out[open.back()].name != name)
                return "end tag </" + name + "> does not match" +
                       (open.empty() ? std::string(" anything") : " <" + out[open.back()].name + ">") + where(i);
            open.pop_back();
            i = e + 1;
            continue;
        }
        // A start tag.
        size_t k = i + 1, b = k;
        while (k < s.size() && is_name_char(s[k])) ++k;
        Element el;
        el.name = s.substr(b, k - b);
        el.depth = int(open.size());
        if (el.name.empty()) return "'<' without a tag name" + where(i);
        bool self_closing = false;
        while (true) {
            const size_t before = k;
            while (k < s.size() && std::isspace(static_cast<unsigned char>(s[k]))) ++k;
            if (k >= s.size()) return "unterminated tag <" + el.name + ">" + where(i);
            if (s[k] == '>') { ++k; break; }
            if (s.compare(k, 2, "/>") == 0) { k += 2; self_closing = true; break; }
            if (k == before) return "no space before an attribute" + where(k);
            size_t nb = k;
            while (k < s.size() && is_name_char(s[k])) ++k;
            const std::string an = s.substr(nb, k - nb);
            if (an.empty() || k >= s.size() || s[k] != '=') return "attribute without '=value'" + where(nb);
            ++k;
            if (k >= s.size() || (s[k] != '"' && s[k] != '\'')) return "unquoted attribute '" + an + "'" + where(k);
            const char q = s[k++];
            size_t e = s.find(q, k);
            if (e == std::string::npos) return "unterminated attribute '" + an + "'" + where(nb);
            std::string value;
            std::string err = check_chars(s.substr(k, e - k), k, &value);
            if (!err.empty()) return err;
            if (el.attrs.count(an)) return "attribute '" + an + "' twice" + where(nb);
            el.attrs[an] = value;
            k = e + 1;
        }
        if (open.empty() && ++roots > 1) return "a second root element" + where(i);
        out.push_back(el);
        if (!self_closing) open.push_back(out.size() - 1);
        i = k;
    }
    if (!open.empty()) return "<" + out[open.back()].name + "> is never closed";
    if (roots != 1) return "no root element";
    return "";
}

// printf writes a non-finite double as "nan" or "inf" (signed or not): such text
// anywhere in a figure is a number that escaped its checks. (The one word we mean,
// the tooltip of a NaN heatmap cell, is spelled "NaN".)
void check_no_nan_or_inf(const std::string& svg) {
    for (const char* bad : {"nan", "inf"}) {
        const size_t at = svg.find(bad);
        if (at != std::string::npos)
            BOOST_ERROR("'" << bad << "' in the SVG: ..." << svg.substr(at > 60 ? at - 60 : 0, 90) << "...");
    }
}

std::vector<Element> parse_ok(const std::string& svg) {
    std::vector<Element> els;
    const std::string err = check_xml(svg, els);
    BOOST_REQUIRE_MESSAGE(err.empty(), "not well-formed: " << err);
    // A standalone SVG document.
    BOOST_REQUIRE(!els.empty());
    BOOST_CHECK_EQUAL(els[0].name, "svg");
    BOOST_CHECK_EQUAL(els[0].attrs["xmlns"], "http://www.w3.org/2000/svg");
    BOOST_CHECK(els[0].attrs.count("width") && els[0].attrs.count("height") && els[0].attrs.count("viewBox"));
    check_no_nan_or_inf(svg);
    return els;
}

// Every coordinate of a drawn element (polyline points, line ends, circle centres,
// text and rect positions) is a number inside the figure.
void check_inside(const std::vector<Element>& els) {
    const double W = std::stod(els.at(0).attrs.at("width")), H = std::stod(els.at(0).attrs.at("height"));
    auto check = [&](const Element& e, const std::string& x, const std::string& y) {
        char* end = nullptr;
        const double vx = std::strtod(x.c_str(), &end);
        const bool ok_x = !x.empty() && *end == '\0';
        const double vy = std::strtod(y.c_str(), &end);
        const bool ok_y = !y.empty() && *end == '\0';
        BOOST_CHECK_MESSAGE(ok_x && ok_y && vx >= 0 && vx <= W && vy >= 0 && vy <= H,
                            "<" << e.name << "> at (" << x << ", " << y << ") outside the " << W << " x " << H << " figure");
    };
    for (const Element& e : els) {
        auto at = [&](const char* a) { return e.attrs.count(a) ? e.attrs.at(a) : std::string(); };
        if (e.name == "polyline") {
            std::istringstream in(at("points"));
            std::string xy;
            while (in >> xy) check(e, xy.substr(0, xy.find(',')), xy.substr(xy.find(',') + 1));
        } else if (e.name == "line") {
            check(e, at("x1"), at("y1"));
            check(e, at("x2"), at("y2"));
        } else if (e.name == "circle") {
            check(e, at("cx"), at("cy"));
        } else if (e.name == "text" || (e.name == "rect" && e.depth > 0)) {
            check(e, at("x"), at("y"));
        }
    }
}

// The (x, y) points of a polyline.
std::vector<std::pair<double, double>> points_of(const Element& polyline) {
    std::vector<std::pair<double, double>> pts;
    std::istringstream in(polyline.attrs.at("points"));
    std::string xy;
    while (in >> xy) pts.emplace_back(std::stod(xy.substr(0, xy.find(','))), std::stod(xy.substr(xy.find(',') + 1)));
    return pts;
}

int count(const std::vector<Element>& els, const std::string& name, const std::string& attr = "",
          const std::string& value = "") {
    int n = 0;
    for (const Element& e : els)
        if (e.name == name && (attr.empty() || (e.attrs.count(attr) && (value.empty() || e.attrs.at(attr) == value))))
            ++n;
    return n;
}

bool has_text(const std::vector<Element>& els, const std::string& needle) {
    for (const Element& e : els)
        if (e.text.find(needle) != std::string::npos) return true;
    return false;
}

std::vector<MetricsRow> training_rows(double logz_true, bool conditional = false) {
    std::vector<MetricsRow> rows;
    for (int it = 1; it <= 100; ++it) {
        MetricsRow r;
        r.kind = "train";
        r.iteration = it;
        r.loss = 10.0 * std::exp(-0.05 * it) + 0.01;
        r.logz = logz_true * (1 - std::exp(-0.04 * it));
        if (it == 40) r.loss = NAN;  // skipped, never drawn
        rows.push_back(r);
        if (it % 25 == 0)
            for (double c : conditional ? std::vector<double>{0.0, 1.0} : std::vector<double>{NAN}) {
                MetricsRow v;
                v.kind = "validation";
                v.iteration = it;
                v.l1 = 1.0 / it;
                v.exact_l1 = 0.5 / it;
                v.logz = r.logz;
                v.logz_true = logz_true + (std::isnan(c) ? 0 : c);
                v.condition = c;
                v.modes_found = 4;
                v.n_modes = 4;
                rows.push_back(v);
            }
    }
    return rows;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(plot)

BOOST_AUTO_TEST_CASE(the_xml_checker_rejects_what_it_should) {
    std::vector<Element> els;
    BOOST_CHECK(check_xml("<svg a=\"1\"><g><rect/></g><text>a &amp; b</text></svg>", els).empty());
    BOOST_CHECK_EQUAL(els.size(), 4u);
    BOOST_CHECK_EQUAL(els[3].text, "a & b");
    BOOST_CHECK(!check_xml("<svg><g></svg>", els).empty());
    BOOST_CHECK(!check_xml("<svg a=1></svg>", els).empty());
    BOOST_CHECK(!check_xml("<svg><text>a & b</text></svg>", els).empty());
    BOOST_CHECK(!check_xml("<svg><text>a < b</text></svg>", els).empty());
    BOOST_CHECK(!check_xml("<svg a=\"<\"></svg>", els).empty());
    BOOST_CHECK(!check_xml("<svg></svg><svg></svg>", els).empty());
    BOOST_CHECK(!check_xml("<svg>", els).empty());
    BOOST_CHECK(!check_xml("<svg a=\"1\"b=\"2\"></svg>", els).empty());
}

BOOST_AUTO_TEST_CASE(training_curves_have_panels_curves_and_the_true_log_z) {
    const std::string svg = training_curves_svg(training_rows(3.10906));
    std::vector<Element> els = parse_ok(svg);
    BOOST_CHECK(has_text(els, "training loss"));
    BOOST_CHECK(has_text(els, "distance to the target"));
    BOOST_CHECK(has_text(els, "log Z"));
    BOOST_CHECK(has_text(els, "iteration"));
    BOOST_CHECK(has_text(els, "(log scale)"));  // the loss is positive
    BOOST_CHECK(has_text(els, "exact l1"));
    BOOST_CHECK(has_text(els, "log Z true"));
    BOOST_CHECK(has_text(els, "modes 4/4"));
    // loss: two segments around the NaN at iteration 40, plus the running mean; l1 and
    // exact l1; the training log Z.
    BOOST_CHECK_EQUAL(count(els, "polyline"), 2 + 1 + 2 + 1);
    BOOST_CHECK_EQUAL(count(els, "line", "class", "true-logz"), 1);
    for (const Element& e : els)
        if (e.name == "line" && e.attrs.count("class") && e.attrs.at("class") == "true-logz")
            BOOST_CHECK(e.attrs.count("stroke-dasharray"));
    BOOST_CHECK_EQUAL(count(els, "rect", "class", "legend"), 3);

    // Without a finite log Z_true there is no dashed line.
    std::vector<MetricsRow> rows = training_rows(NAN);
    els = parse_ok(training_curves_svg(rows));
    BOOST_CHECK_EQUAL(count(els, "line", "class", "true-logz"), 0);
}

BOOST_AUTO_TEST_CASE(a_negative_loss_gets_a_linear_axis_and_conditions_their_own_lines) {
    std::vector<MetricsRow> rows = training_rows(2.0, /*conditional=*/true);
    rows[0].loss = -1;
    std::vector<Element> els = parse_ok(training_curves_svg(rows));
    BOOST_CHECK(!has_text(els, "(log scale)"));
    BOOST_CHECK(has_text(els, "l1 c=0"));
    BOOST_CHECK(has_text(els, "exact l1 c=1"));
    BOOST_CHECK_EQUAL(count(els, "line", "class", "true-logz"), 2);  // one per condition
}

BOOST_AUTO_TEST_CASE(no_data_is_still_a_figure) {
    std::vector<Element> els = parse_ok(training_curves_svg({}));
    BOOST_CHECK(has_text(els, "no data"));
    BOOST_CHECK_EQUAL(count(els, "polyline"), 0);

    // Only NaN values: three panels saying "no data".
    MetricsRow r;
    r.kind = "train";
    r.iteration = 5;
    els = parse_ok(training_curves_svg({r, r}));
    int no_data = 0;
    for (const Element& e : els) no_data += e.text == "no data";
    BOOST_CHECK_EQUAL(no_data, 3);
    BOOST_CHECK_EQUAL(count(els, "polyline"), 0);

    // One validation row: a marker, no line.
    MetricsRow v;
    v.kind = "validation";
    v.iteration = 250;
    v.l1 = 0.01;
    els = parse_ok(training_curves_svg({v}));
    BOOST_CHECK_EQUAL(count(els, "circle"), 1);
}

BOOST_AUTO_TEST_CASE(text_is_escaped) {
    MetricsRow v;
    v.kind = "validation";
    v.iteration = 3;
    v.l1 = 0.5;
    v.logz = 1;
    v.logz_true = 1.25;
    std::vector<Element> els = parse_ok(training_curves_svg({v}));
    BOOST_CHECK(has_text(els, "|log Z \u2212 log Z_true| 0.25"));
    // The escaping itself: an attribute value with quotes and ampersands survives combine_svg.
    const std::string a = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"5\" viewBox=\"0 0 10 5\" "
                          "data-x='say \"a&amp;b\"'><text>&lt;&amp;&gt;</text></svg>";
    els = parse_ok(combine_svg(a, a));
    BOOST_CHECK(has_text(els, "<&>"));
    BOOST_CHECK_EQUAL(els[2].attrs["data-x"], "say \"a&b\"");
}

BOOST_AUTO_TEST_CASE(heatmaps_have_one_rect_per_cell) {
    const int H = 8;
    std::vector<double> target(H * H), learned(H * H);
    double zt = 0, zl = 0;
    for (int i = 0; i < H * H; ++i) zt += target[size_t(i)] = 1 + (i % 7), zl += learned[size_t(i)] = 1 + (i % 5);
    for (int i = 0; i < H * H; ++i) target[size_t(i)] /= zt, learned[size_t(i)] /= zl;
    learned[3] = NAN;
    std::vector<Element> els = parse_ok(heatmaps_svg(H, target, learned));
    BOOST_CHECK_EQUAL(count(els, "rect", "class", "cell"), 2 * H * H);
    BOOST_CHECK_EQUAL(count(els, "rect", "class", "colorbar"), 1);
    BOOST_CHECK(has_text(els, "target R(x)/Z"));
    BOOST_CHECK(has_text(els, "learned"));
    // Cell (x0, x1) = (0, 3) is index 3: row 0, column 3 of the learned map, grey for NaN.
    int seen = 0;
    for (const Element& e : els)
        if (e.name == "title" && e.text.find("x = (0, 3): NaN") != std::string::npos) ++seen;
    BOOST_CHECK_EQUAL(seen, 1);
    // Index i sits at row i / H, column i % H: same x for indices 1 and H + 1, next row down.
    std::vector<const Element*> cells;
    for (const Element& e : els)
        if (e.name == "rect" && e.attrs.count("class") && e.attrs.at("class") == "cell") cells.push_back(&e);
    BOOST_CHECK_EQUAL(cells[1]->attrs.at("x"), cells[H + 1]->attrs.at("x"));
    BOOST_CHECK_LT(std::stod(cells[1]->attrs.at("y")), std::stod(cells[H + 1]->attrs.at("y")));
    BOOST_CHECK_LT(std::stod(cells[1]->attrs.at("x")), std::stod(cells[2]->attrs.at("x")));

    BOOST_CHECK_THROW(heatmaps_svg(H, target, std::vector<double>(10)), std::invalid_argument);
    BOOST_CHECK_THROW(heatmaps_svg(0, {}, {}), std::invalid_argument);
    // All zeros: a valid figure all the same.
    parse_ok(heatmaps_svg(2, std::vector<double>(4, 0.0), std::vector<double>(4, 0.0)));
}

BOOST_AUTO_TEST_CASE(combined_figures_stack_vertically) {
    const std::string a = training_curves_svg(training_rows(3.0));
    const std::string b = heatmaps_svg(4, std::vector<double>(16, 1.0 / 16), std::vector<double>(16, 1.0 / 16));
    std::vector<Element> ea = parse_ok(a), eb = parse_ok(b);
    std::vector<Element> els = parse_ok(combine_svg(a, b));
    const double wa = std::stod(ea[0].attrs["width"]), ha = std::stod(ea[0].attrs["height"]);
    const double wb = std::stod(eb[0].attrs["width"]), hb = std::stod(eb[0].attrs["height"]);
    BOOST_CHECK_EQUAL(std::stod(els[0].attrs["width"]), std::max(wa, wb));
    BOOST_CHECK_EQUAL(std::stod(els[0].attrs["height"]), ha + hb);
    std::vector<const Element*> nested;
    for (const Element& e : els)
        if (e.name == "svg" && e.depth == 1) nested.push_back(&e);
    BOOST_REQUIRE_EQUAL(nested.size(), 2u);
    BOOST_CHECK_EQUAL(std::stod(nested[0]->attrs.at("y")), 0.0);
    BOOST_CHECK_EQUAL(std::stod(nested[1]->attrs.at("y")), ha);
    BOOST_CHECK_EQUAL(count(els, "rect", "class", "cell"), 32);
    BOOST_CHECK_EQUAL(count(els, "polyline"), count(ea, "polyline"));
    // A combined figure combines again; an XML prolog is skipped.
    parse_ok(combine_svg("<?xml version=\"1.0\"?>\n" + combine_svg(a, b), b));
    BOOST_CHECK_THROW(combine_svg("<g></g>", b), std::invalid_argument);
    BOOST_CHECK_THROW(combine_svg(a, "<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>"), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(files_are_written_atomically) {
    char tmpl[] = "/tmp/gfn_plot_XXXXXX";
    BOOST_REQUIRE(mkdtemp(tmpl) != nullptr);
    const std::string path = std::string(tmpl) + "/f.svg";
    write_file_atomically(path, "old");
    write_file_atomically(path, "<svg/>\n");
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    BOOST_CHECK_EQUAL(text, "<svg/>\n");
    std::remove(path.c_str());
    rmdir(tmpl);
    try {
        write_file_atomically("/nonexistent-gfn-dir/f.svg", "x");
        BOOST_ERROR("no error for an unwritable path");
    } catch (const std::runtime_error& e) {
        BOOST_CHECK(std::string(e.what()).find("/nonexistent-gfn-dir/f.svg") != std::string::npos);
    }
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

// The first panel's frame: the plot area of the training loss.
struct Frame {
    double left = 0, top = 0, width = 0, height = 0;
};
Frame first_frame(const std::vector<Element>& els) {
    for (const Element& e : els)
        if (e.name == "rect" && e.attrs.count("fill") && e.attrs.at("fill") == "none" && !e.attrs.count("class"))
            return {std::stod(e.attrs.at("x")), std::stod(e.attrs.at("y")), std::stod(e.attrs.at("width")),
                    std::stod(e.attrs.at("height"))};
    BOOST_FAIL("no panel frame");
    return {};
}

MetricsRow train(int it, double loss, double logz) {
    MetricsRow r;
    r.kind = "train";
    r.iteration = it;
    r.loss = loss;
    r.logz = logz;
    return r;
}

MetricsRow validation(int it, double l1, double logz, double logz_true, double condition) {
    MetricsRow v;
    v.kind = "validation";
    v.iteration = it;
    v.l1 = l1;
    v.exact_l1 = -l1;
    v.logz = logz;
    v.logz_true = logz_true;
    v.condition = condition;
    return v;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(plot_hostile)

// Values from −DBL_MAX to DBL_MAX (a width no double holds), ±inf and NaN: a small
// figure with every coordinate inside it and no "nan"/"inf" in its text.
BOOST_AUTO_TEST_CASE(ranges_wider_than_a_double_plot_within_the_figure) {
    const double big = std::numeric_limits<double>::max(), inf = INFINITY;
    std::vector<MetricsRow> rows = {train(1, -big, -1e308), train(2, big, 1e308), train(3, inf, -inf),
                                    train(4, NAN, 0),       train(5, 0, big),     train(6, -1e308, -big)};
    rows.push_back(validation(2, big, -big, big, inf));
    rows.push_back(validation(4, -big, big, -big, -inf));
    rows.push_back(validation(6, 1e308, 1e308, -1e308, NAN));
    const std::string svg = training_curves_svg(rows);
    BOOST_CHECK_LT(svg.size(), 100000u);
    std::vector<Element> els = parse_ok(svg);
    check_inside(els);
    BOOST_CHECK(!has_text(els, "(log scale)"));
    // The loss line runs from −DBL_MAX at iteration 1 up to DBL_MAX at iteration 2.
    const auto loss = points_of(*std::find_if(els.begin(), els.end(), [](const Element& e) { return e.name == "polyline"; }));
    BOOST_REQUIRE_GE(loss.size(), 2u);
    BOOST_CHECK_LT(loss[0].first, loss[1].first);
    BOOST_CHECK_GT(loss[0].second, loss[1].second);
    // Infinite conditions are named, not printed as "inf".
    BOOST_CHECK(has_text(els, "l1 c=\u221e"));
    BOOST_CHECK(has_text(els, "l1 c=\u2212\u221e"));

    // The same values in a heatmap: its L1 overflows, and is then left out.
    const std::vector<double> a = {big, -big, 0, 1}, b = {-big, big, 0, 1};
    els = parse_ok(heatmaps_svg(2, a, b));
    check_inside(els);
}

// A log axis whose data reach the smallest normal double and the largest one (and
// +inf, which it skips): its padded ends stay finite and positive. (Subnormal
// doubles read as 0 once set_num_threads has turned on flush-to-zero.)
BOOST_AUTO_TEST_CASE(a_log_axis_reaching_zero_and_infinity_stays_finite) {
    const double tiny = std::numeric_limits<double>::min(), big = std::numeric_limits<double>::max();
    std::vector<MetricsRow> rows = {train(1, tiny, 1), train(2, big, 2), train(3, INFINITY, 3), train(4, 1, 4)};
    const std::string svg = training_curves_svg(rows);
    BOOST_CHECK_LT(svg.size(), 100000u);
    std::vector<Element> els = parse_ok(svg);
    check_inside(els);
    BOOST_CHECK(has_text(els, "(log scale)"));
    // Two segments (inf breaks the line): tiny → big, then 1 alone (not drawn as a line).
    const auto loss = points_of(*std::find_if(els.begin(), els.end(), [](const Element& e) { return e.name == "polyline"; }));
    BOOST_REQUIRE_EQUAL(loss.size(), 2u);
    BOOST_CHECK_GT(loss[0].second, loss[1].second);  // the tiny loss is drawn below the big one

    // A zero loss cannot go on a log axis: the axis is linear.
    rows[2].loss = 0;
    els = parse_ok(training_curves_svg(rows));
    check_inside(els);
    BOOST_CHECK(!has_text(els, "(log scale)"));
}

// The running mean never overflows: two losses of DBL_MAX in a window sum past the
// largest double, yet the mean line runs on unbroken through them; and the running
// mean of a constant run is that constant once the spike has left the window.
BOOST_AUTO_TEST_CASE(the_running_mean_survives_the_largest_losses) {
    const double big = std::numeric_limits<double>::max();
    std::vector<MetricsRow> rows;
    for (int it = 1; it <= 200; ++it) rows.push_back(train(it, it == 20 || it == 21 ? big : it == 30 ? -1.0 : 1.0, 0));
    std::vector<Element> els = parse_ok(training_curves_svg(rows));  // linear axis: a negative loss
    check_inside(els);
    std::vector<std::vector<std::pair<double, double>>> lines;
    for (const Element& e : els)
        if (e.name == "polyline" && lines.size() < 2) lines.push_back(points_of(e));  // raw loss, its running mean
    BOOST_REQUIRE_EQUAL(lines.size(), 2u);
    BOOST_REQUIRE_EQUAL(lines[0].size(), 200u);
    BOOST_REQUIRE_EQUAL(lines[1].size(), 200u);
    // The window is 200 / 25 = 8 points: at iteration 26 it holds both, 2·DBL_MAX / 8 far
    // above 1; from iteration 38 on it holds only 1s.
    BOOST_CHECK_LT(lines[1][25].second, lines[0][25].second - 10);
    for (size_t i = 37; i < 200; ++i) BOOST_CHECK_EQUAL(lines[1][i].second, lines[0][i].second);
}

// 200,000 training rows (deterministic noise around 1, a spike of 1000 and a dip to
// 0.001, NaN every third row and over iterations 80,000 to 119,999) draw with at most
// 4 points per pixel column; the spike and the dip survive, the NaN block is a gap,
// and the NaN every third row (far less than a pixel apart) is not. The work is linear
// in the rows: 1e6 rows take five times as long (and memory), not more.
BOOST_AUTO_TEST_CASE(many_training_rows_draw_a_bounded_figure) {
    const int n = 200000, spike = 24691, dip = 153089;
    std::vector<MetricsRow> rows;
    rows.reserve(size_t(n));
    unsigned state = 12345;
    for (int it = 1; it <= n; ++it) {
        state = state * 1103515245u + 12345u;
        double loss = 0.5 + 1.5 * double((state >> 8) & 0xffff) / 65535.0;
        if (it % 3 == 0 || (it >= 80000 && it < 120000)) loss = NAN;
        if (it == spike) loss = 1000;
        if (it == dip) loss = 0.001;
        rows.push_back(train(it, loss, 1.0 - 1.0 / it));
    }
    const std::string svg = training_curves_svg(rows);
    BOOST_CHECK_LT(svg.size(), 300000u);
    std::vector<Element> els = parse_ok(svg);
    BOOST_CHECK(has_text(els, "(log scale)"));
    const Frame f = first_frame(els);
    std::vector<const Element*> raw;
    size_t total_points = 0;
    for (const Element& e : els)
        if (e.name == "polyline") {
            total_points += points_of(e).size();
            if (e.attrs.count("stroke-opacity")) raw.push_back(&e);
        }
    BOOST_CHECK_LE(total_points, size_t(3 * 4 * (f.width + 1)));  // raw loss, its running mean, log Z
    BOOST_REQUIRE_EQUAL(raw.size(), 2u);  // the gap of 40,000 iterations
    // The axis spans 0.001 to 1000 (6 decades) padded by 5% (0.3 decade) each side.
    double highest = INFINITY, lowest = -INFINITY;
    for (const Element* e : raw)
        for (const auto& q : points_of(*e)) highest = std::min(highest, q.second), lowest = std::max(lowest, q.second);
    BOOST_CHECK_CLOSE(highest, f.top + f.height * 0.3 / 6.6, 0.5);
    BOOST_CHECK_CLOSE(lowest, f.top + f.height - f.height * 0.3 / 6.6, 0.5);
}

// 1e5 validation rows, each its own condition: 10 conditions drawn, the first and
// the last among them, and the header says how many there are.
BOOST_AUTO_TEST_CASE(a_hundred_thousand_conditions_draw_a_bounded_figure) {
    const int n = 100000;
    std::vector<MetricsRow> rows;
    for (int k = n - 1; k >= 0; --k) rows.push_back(validation(1 + k % 7, 1.0 / (k + 1), k, k + 0.5, k));
    std::string svg = training_curves_svg(rows);
    BOOST_CHECK_LT(svg.size(), 300000u);
    std::vector<Element> els = parse_ok(svg);
    check_inside(els);
    BOOST_CHECK(has_text(els, "(10 of 100000 conditions)"));
    int legend_l1 = 0;
    for (const Element& e : els) legend_l1 += e.name == "text" && e.text.rfind("l1 c=", 0) == 0;
    BOOST_CHECK_EQUAL(legend_l1, 10);
    BOOST_CHECK(has_text(els, "l1 c=0"));
    BOOST_CHECK(has_text(els, "l1 c=1e5"));  // 99,999 to 4 significant digits

    // 1e5 rows of 4 conditions, over 25,000 iterations: 4 lines of at most 4 points per column.
    rows.clear();
    for (int it = 1; it <= n / 4; ++it)
        for (int c = 0; c < 4; ++c) rows.push_back(validation(it, 1.0 / it + c, 1, 2, c));
    svg = training_curves_svg(rows);
    BOOST_CHECK_LT(svg.size(), 300000u);
    els = parse_ok(svg);
    check_inside(els);
    const Frame f = first_frame(els);
    size_t total_points = 0;
    int lines = 0;
    for (const Element& e : els)
        if (e.name == "polyline") total_points += points_of(e).size(), ++lines;
    BOOST_CHECK_EQUAL(lines, 4 * 3);  // l1, exact l1 and log Z per condition
    BOOST_CHECK_LE(total_points, size_t(12 * 4 * (f.width + 1)));
    BOOST_CHECK_EQUAL(count(els, "circle"), 0);  // no markers on reduced lines
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

// A run of the overlay tests: validations at iterations 25, 50, 75, 100 with
// exact l1 = scale / iteration and l1 twice that, and a training row per iteration.
OverlayRun overlay_run(const std::string& label, double scale, long long batch_size) {
    OverlayRun r;
    r.label = label;
    r.source = label + ".csv";
    r.batch_size = batch_size;
    r.rows = training_rows(3.0);
    for (MetricsRow& row : r.rows)
        if (row.kind == "validation") row.exact_l1 = scale / row.iteration, row.l1 = 2 * row.exact_l1;
    return r;
}

std::vector<const Element*> all_named(const std::vector<Element>& els, const std::string& name) {
    std::vector<const Element*> out;
    for (const Element& e : els)
        if (e.name == name) out.push_back(&e);
    return out;
}

// The texts of the legend: the <text> elements after its box.
std::vector<std::string> legend_labels(const std::vector<Element>& els) {
    std::vector<std::string> out;
    bool in = false;
    for (const Element& e : els) {
        if (e.name == "rect" && e.attrs.count("class") && e.attrs.at("class") == "legend") in = true;
        else if (in && e.name == "text") out.push_back(e.text);
    }
    return out;
}

template <class F>
void expect_refused(F f, const std::string& needle) {
    try {
        f();
        BOOST_ERROR("no error; expected one mentioning '" << needle << "'");
    } catch (const std::invalid_argument& e) {
        BOOST_CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos,
                            "'" << e.what() << "' does not mention '" << needle << "'");
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(plot_overlay)

// Three runs at batch 16: one polyline each with its four validations, in the order
// given, each its own colour, the legend naming them in that order; x = iteration × 16
// spans 400 to 1600, so the validation at 50 (800 trajectories) is a third of the way.
BOOST_AUTO_TEST_CASE(one_line_per_run_against_trajectories_seen) {
    const std::vector<OverlayRun> runs = {overlay_run("tb", 0.5, 16), overlay_run("subtb", 1.0, 16),
                                          overlay_run("vpg", 2.0, 16)};
    const std::string svg = overlay_svg(runs);
    const std::vector<Element> els = parse_ok(svg);
    check_inside(els);
    const auto lines = all_named(els, "polyline");
    BOOST_REQUIRE_EQUAL(lines.size(), 3u);
    const Frame f = first_frame(els);
    std::vector<std::string> colours;
    for (const Element* l : lines) {
        const auto pts = points_of(*l);
        BOOST_REQUIRE_EQUAL(pts.size(), 4u);
        BOOST_CHECK_CLOSE(pts[0].first, f.left, 1e-3);
        BOOST_CHECK_CLOSE(pts[1].first, f.left + f.width / 3, 1e-2);
        BOOST_CHECK_CLOSE(pts[3].first, f.left + f.width, 1e-3);
        for (size_t k = 1; k < pts.size(); ++k) BOOST_CHECK(pts[k].second > pts[k - 1].second);  // l1 falls: y grows down
        colours.push_back(l->attrs.at("stroke"));
    }
    BOOST_CHECK(colours[0] != colours[1] && colours[1] != colours[2] && colours[0] != colours[2]);
    // exact l1 at iteration 25 is 0.02, 0.04, 0.08: on a linear axis from 0, the
    // heights above the bottom double from run to run.
    const double bottom = f.top + f.height;
    const double h0 = bottom - points_of(*lines[0])[0].second, h1 = bottom - points_of(*lines[1])[0].second,
                 h2 = bottom - points_of(*lines[2])[0].second;
    BOOST_CHECK_CLOSE(h1, 2 * h0, 0.5);
    BOOST_CHECK_CLOSE(h2, 2 * h1, 0.5);
    BOOST_CHECK(legend_labels(els) == (std::vector<std::string>{"tb", "subtb", "vpg"}));
    BOOST_CHECK(has_text(els, "exact_l1 against trajectories seen"));
    BOOST_CHECK(has_text(els, "trajectories seen"));
}

// Batch sizes per run: x = iteration × batch size, over [25·16, 100·128] = [400, 12800].
BOOST_AUTO_TEST_CASE(batch_sizes_per_run_scale_each_line) {
    const std::string svg = overlay_svg({overlay_run("small", 1, 16), overlay_run("large", 1, 128)});
    const std::vector<Element> els = parse_ok(svg);
    const Frame f = first_frame(els);
    const auto lines = all_named(els, "polyline");
    BOOST_REQUIRE_EQUAL(lines.size(), 2u);
    BOOST_CHECK_CLOSE(points_of(*lines[0]).back().first, f.left + f.width * (1600.0 - 400) / (12800 - 400), 0.1);
    BOOST_CHECK_CLOSE(points_of(*lines[1])[0].first, f.left + f.width * (3200.0 - 400) / (12800 - 400), 0.1);
    BOOST_CHECK_CLOSE(points_of(*lines[1]).back().first, f.left + f.width, 1e-3);
    // Ticks every 2000 trajectories, written out: "10000", not "1e4".
    BOOST_CHECK(has_text(els, "10000") && has_text(els, "12000"));
    BOOST_CHECK(!has_text(els, "1e4"));
    // Without batch sizes the x axis is the iteration.
    const std::vector<Element> by_it = parse_ok(overlay_svg({overlay_run("a", 1, 0)}));
    BOOST_CHECK(has_text(by_it, "exact_l1 against iteration"));
    OverlayOptions o;
    o.title = "HyperGrid <2D> & more";  // escaped in the SVG, read back by the XML checker
    BOOST_CHECK(has_text(parse_ok(overlay_svg({overlay_run("a", 1, 0)}, o)), "HyperGrid <2D> & more"));
}

// The default metric is exact_l1; a run without it makes it l1; --metric loss draws
// the training rows (100, the NaN at iteration 40 breaking the line into 39 + 60).
BOOST_AUTO_TEST_CASE(the_metric_picks_the_rows) {
    OverlayRun no_exact = overlay_run("b", 1, 16);
    for (MetricsRow& r : no_exact.rows) r.exact_l1 = NAN;
    const std::vector<Element> els = parse_ok(overlay_svg({overlay_run("a", 1, 16), no_exact}));
    BOOST_CHECK(has_text(els, "l1 against trajectories seen"));
    BOOST_CHECK(!has_text(els, "exact_l1"));
    OverlayOptions o;
    o.metric = "loss";
    const std::vector<Element> loss = parse_ok(overlay_svg({overlay_run("a", 1, 16)}, o));
    const auto lines = all_named(loss, "polyline");
    BOOST_REQUIRE_EQUAL(lines.size(), 2u);
    BOOST_CHECK_EQUAL(points_of(*lines[0]).size(), 39u);
    BOOST_CHECK_EQUAL(points_of(*lines[1]).size(), 60u);
    BOOST_CHECK_EQUAL(count(loss, "circle"), 0);  // more than 60 points: no markers
    BOOST_CHECK(legend_labels(loss) == std::vector<std::string>{"a"});
}

// --logy: a log axis even with a 0 among the values; the 0 is not drawn and breaks the
// line. The four values 0.5/25 ... 0.5/100 then sit at log-spaced heights:
// height(v) ∝ log10(v) − lo, so equal ratios give equal steps (0.02 → 0.01 → 0.005).
BOOST_AUTO_TEST_CASE(a_log_axis_skips_zeros) {
    OverlayRun r = overlay_run("a", 0.5, 16);
    OverlayRun z = overlay_run("z", 0.5, 16);
    for (MetricsRow& row : z.rows)
        if (row.kind == "validation" && row.iteration == 50) row.exact_l1 = 0;
    OverlayOptions o;
    o.logy = true;
    const std::vector<Element> els = parse_ok(overlay_svg({r, z}, o));
    check_inside(els);
    BOOST_CHECK(has_text(els, "exact_l1 (log scale)"));
    const auto lines = all_named(els, "polyline");
    BOOST_REQUIRE_EQUAL(lines.size(), 2u);  // run z: the points at 25 (alone: a circle) and 75, 100
    const auto p = points_of(*lines[0]);
    BOOST_REQUIRE_EQUAL(p.size(), 4u);
    BOOST_CHECK_CLOSE(p[3].second - p[1].second, p[1].second - p[0].second, 0.5);  // 100/50 = 50/25 = 2
    BOOST_CHECK_EQUAL(points_of(*lines[1]).size(), 2u);
}

BOOST_AUTO_TEST_CASE(bad_runs_are_refused_naming_the_file) {
    expect_refused([] { overlay_svg({}); }, "no runs");
    OverlayOptions o;
    o.metric = "elbo";
    expect_refused([&] { overlay_svg({overlay_run("a", 1, 16)}, o); }, "a.csv: no finite value of the metric 'elbo'");
    o.metric = "nonsense";
    expect_refused([&] { overlay_svg({overlay_run("a", 1, 16)}, o); }, "unknown metric 'nonsense'");
    OverlayRun none = overlay_run("none", 1, 16);
    for (MetricsRow& r : none.rows) r.l1 = r.exact_l1 = NAN;
    expect_refused([&] { overlay_svg({overlay_run("a", 1, 16), none}); }, "--metric");
    OverlayRun cond = overlay_run("cond", 1, 16);
    cond.rows = training_rows(3.0, /*conditional=*/true);
    expect_refused([&] { overlay_svg({cond}); }, "cond.csv: validations at several conditions");
    expect_refused([] { overlay_svg({overlay_run("a", 1, 16), overlay_run("b", 1, 0)}); }, "b.csv: a batch size");
}

BOOST_AUTO_TEST_CASE(flags) {
    OverlayFlags f = parse_overlay_flags({"m.csv"});
    BOOST_CHECK(!f.overlay);  // one file, no overlay flag: the training curves
    f = parse_overlay_flags({"m.csv", "--logy"});
    BOOST_CHECK(f.overlay && f.logy);
    BOOST_CHECK_EQUAL(f.out, "m.svg");
    f = parse_overlay_flags({"m.csv", "--title", "HyperGrid <2D>"});
    BOOST_CHECK(f.overlay);
    BOOST_CHECK_EQUAL(f.title, "HyperGrid <2D>");
    f = parse_overlay_flags({"runs/a.csv", "b.jsonl", "-o", "c.svg", "--metric", "l1", "--label", "A,B",
                             "--batch-size", "16,128"});
    BOOST_CHECK(f.overlay);
    BOOST_CHECK(f.files == (std::vector<std::string>{"runs/a.csv", "b.jsonl"}));
    BOOST_CHECK_EQUAL(f.out, "c.svg");
    BOOST_CHECK_EQUAL(f.metric, "l1");
    BOOST_CHECK(f.labels == (std::vector<std::string>{"A", "B"}));
    BOOST_CHECK(f.batch_sizes == (std::vector<long long>{16, 128}));
    BOOST_CHECK(parse_overlay_flags({"a.csv", "b.csv", "-o", "c.svg", "--batch-size", "16"}).batch_sizes ==
                std::vector<long long>{16});
    expect_refused([] { parse_overlay_flags({"a.csv", "b.csv"}); }, "-o OUT.svg");
    expect_refused([] { parse_overlay_flags({"a.csv", "b.csv", "-o", "b.csv"}); }, "overwrite the metrics file 'b.csv'");
    expect_refused([] { parse_overlay_flags({"a.csv", "b.csv", "-o", "c.svg", "--label", "x"}); }, "1 labels for 2 files");
    expect_refused([] { parse_overlay_flags({"a.csv", "-o", "c.svg", "--label", "x,"}); }, "--label: an empty label");
    expect_refused([] { parse_overlay_flags({"a.csv", "b.csv", "c.csv", "-o", "c.svg", "--batch-size", "1,2"}); },
                   "--batch-size: 2 values for 3 files");
    for (const char* bad : {"0", "-3", "16x", "", "1e3"})
        expect_refused([&] { parse_overlay_flags({"a.csv", "--batch-size", bad}); }, "--batch-size");
    expect_refused([] { parse_overlay_flags({"a.csv", "--metric", "foo"}); }, "unknown metric 'foo'");
    expect_refused([] { parse_overlay_flags({"a.csv", "--metric", "l1", "--metric", "loss"}); }, "--metric: given twice");
    expect_refused([] { parse_overlay_flags({"a.csv", "--metric"}); }, "--metric needs a value");
    expect_refused([] { parse_overlay_flags({"a.csv", "--smooth"}); }, "unknown flag --smooth");
    expect_refused([] { parse_overlay_flags({"--logy"}); }, "give the metrics file");
}

// Files: labels default to the stems; a missing or malformed file is refused by name.
BOOST_AUTO_TEST_CASE(files_are_read_and_bad_ones_refused) {
    char tmpl[] = "/tmp/gfn_overlay_XXXXXX";
    BOOST_REQUIRE(mkdtemp(tmpl) != nullptr);
    const std::string dir = tmpl, a = dir + "/run_tb.csv", b = dir + "/run_ppo.jsonl", bad = dir + "/bad.csv";
    for (const std::string& path : {a, b}) {
        MetricsLogger log(path);
        log.write(overlay_run("x", 1, 16).rows);
    }
    {
        std::ofstream out(bad);
        out << "kind,iteration,exact_l1\nvalidation,ten,0.5\n";
    }
    OverlayFlags f = parse_overlay_flags({a, b, "-o", dir + "/o.svg", "--batch-size", "16"});
    const std::vector<Element> els = parse_ok(overlay_files_svg(f));
    BOOST_CHECK_EQUAL(count(els, "polyline"), 2);
    BOOST_CHECK(legend_labels(els) == (std::vector<std::string>{"run_tb", "run_ppo"}));
    f.files.push_back(dir + "/missing.csv");
    f.batch_sizes.clear();
    try {
        overlay_files_svg(f);
        BOOST_ERROR("no error for a missing file");
    } catch (const std::runtime_error& e) {
        BOOST_CHECK(std::string(e.what()).find("missing.csv") != std::string::npos);
    }
    f.files.back() = bad;
    try {
        overlay_files_svg(f);
        BOOST_ERROR("no error for a malformed file");
    } catch (const std::runtime_error& e) {
        BOOST_CHECK(std::string(e.what()).find("bad.csv:2") != std::string::npos);
    }
    for (const std::string& p : {a, b, bad}) std::remove(p.c_str());
    rmdir(tmpl);
}

BOOST_AUTO_TEST_SUITE_END()
