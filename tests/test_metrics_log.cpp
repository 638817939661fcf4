// test_metrics_log.cpp — metrics files: CSV and JSONL round trips (NaN included),
// the rows made from training statistics, empty files (no rows, both formats alike),
// and the errors: malformed files (with their line number), unknown extensions,
// unwritable paths.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

#include "gfn/runtime/metrics_log.h"
#include "gfn/runtime/training.h"

using namespace gfn;

namespace {

// A fresh directory under /tmp, removed with its files at the end of the test.
struct TempDir {
    std::string path;
    std::vector<std::string> files;
    TempDir() {
        char tmpl[] = "/tmp/gfn_metrics_log_XXXXXX";
        BOOST_REQUIRE(mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        for (const std::string& f : files) std::remove(f.c_str());
        rmdir(path.c_str());
    }
    std::string file(const std::string& name) {
        files.push_back(path + "/" + name);
        return files.back();
    }
};

void write_text(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

void check_equal(const MetricsRow& a, const MetricsRow& b) {
    BOOST_CHECK_EQUAL(a.kind, b.kind);
    BOOST_CHECK_EQUAL(a.iteration, b.iteration);
    BOOST_CHECK(same(a.loss, b.loss));
    BOOST_CHECK(same(a.logz, b.logz));
    BOOST_CHECK(same(a.logz_true, b.logz_true));
    BOOST_CHECK(same(a.l1, b.l1));
    BOOST_CHECK(same(a.exact_l1, b.exact_l1));
    BOOST_CHECK(same(a.jsd, b.jsd));
    BOOST_CHECK_EQUAL(a.modes_found, b.modes_found);
    BOOST_CHECK_EQUAL(a.n_modes, b.n_modes);
    BOOST_CHECK(same(a.wall_seconds, b.wall_seconds));
    BOOST_CHECK(same(a.condition, b.condition));
}

std::vector<MetricsRow> sample_rows() {
    std::vector<MetricsRow> rows;
    MetricsRow t;  // a training step: everything but loss, log Z and time is NaN / −1
    t.kind = "train";
    t.iteration = 25;
    t.loss = 0.1234567890123456789;
    t.logz = -1.0 / 3.0;
    t.wall_seconds = 0.5;
    rows.push_back(t);
    t.iteration = 50;
    t.loss = 1e-300;
    t.logz = NAN;  // an objective with no log Z
    rows.push_back(t);
    MetricsRow v;
    v.kind = "validation";
    v.iteration = 50;
    v.logz = 3.1;
    v.logz_true = 3.10906;
    v.l1 = 0.25;
    v.exact_l1 = 0.125;
    v.jsd = 1e-5;
    v.modes_found = 3;
    v.n_modes = 4;
    v.wall_seconds = 1.75;
    v.condition = 0.5;
    rows.push_back(v);
    v.condition = NAN;
    v.l1 = INFINITY;  // survives CSV; JSON has no infinity (null → NaN)
    rows.push_back(v);
    return rows;
}

void check_malformed(const std::string& path, const std::string& text, const std::string& expect) {
    write_text(path, text);
    try {
        read_metrics(path);
        BOOST_ERROR("no error for a malformed file, expected '" << expect << "'");
    } catch (const std::runtime_error& e) {
        const std::string msg = e.what();
        BOOST_CHECK_MESSAGE(msg.find(expect) != std::string::npos, "'" << msg << "' does not contain '" << expect << "'");
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(metrics_log)

BOOST_AUTO_TEST_CASE(csv_round_trip) {
    TempDir dir;
    const std::string path = dir.file("m.csv");
    const std::vector<MetricsRow> rows = sample_rows();
    {
        MetricsLogger log(path);
        BOOST_CHECK(log.format() == MetricsLogger::Format::Csv);
        log.write(rows);
    }
    const std::string text = read_text(path);
    BOOST_CHECK_EQUAL(text.substr(0, text.find('\n')),
                      "kind,iteration,loss,logz,logz_true,l1,exact_l1,jsd,modes_found,n_modes,wall_seconds,condition,elbo,iw_elbo,eubo,ess,mode_tv");
    BOOST_CHECK(text.find("\ntrain,25,0.12345678901234568,-0.33333333333333331,,,,,,,0.5,,,,,,\n") != std::string::npos);
    const std::vector<MetricsRow> back = read_metrics(path);
    BOOST_REQUIRE_EQUAL(back.size(), rows.size());
    for (size_t i = 0; i < rows.size(); ++i) check_equal(back[i], rows[i]);
}

BOOST_AUTO_TEST_CASE(jsonl_round_trip) {
    TempDir dir;
    const std::string path = dir.file("m.jsonl");
    std::vector<MetricsRow> rows = sample_rows();
    {
        MetricsLogger log(path);
        BOOST_CHECK(log.format() == MetricsLogger::Format::Jsonl);
        log.write(rows);
    }
    const std::string text = read_text(path);
    BOOST_CHECK(text.find("{\"kind\": \"train\", \"iteration\": 25, \"loss\": 0.12345678901234568, ") == 0);
    BOOST_CHECK(text.find("\"l1\": null") != std::string::npos);
    const std::vector<MetricsRow> back = read_metrics(path);
    BOOST_REQUIRE_EQUAL(back.size(), rows.size());
    rows[3].l1 = NAN;  // inf was written as null
    for (size_t i = 0; i < rows.size(); ++i) check_equal(back[i], rows[i]);
}

BOOST_AUTO_TEST_CASE(each_row_is_on_disk_once_written) {
    TempDir dir;
    const std::string path = dir.file("m.jsonl");
    MetricsLogger log(path);
    log.write(sample_rows()[0]);
    BOOST_CHECK_EQUAL(read_metrics(path).size(), 1u);  // while the logger is still open
    log.write(sample_rows()[1]);
    BOOST_CHECK_EQUAL(read_metrics(path).size(), 2u);
}

BOOST_AUTO_TEST_CASE(readers_accept_other_column_orders_and_unknown_columns) {
    TempDir dir;
    const std::string csv = dir.file("o.csv");
    write_text(csv, "iteration,extra,kind,l1\r\n10,x,validation,0.5\r\n\n\"11\",,\"a,\"\"b\",\r\n");
    std::vector<MetricsRow> r = read_metrics(csv);
    BOOST_REQUIRE_EQUAL(r.size(), 2u);
    BOOST_CHECK_EQUAL(r[0].kind, "validation");
    BOOST_CHECK_EQUAL(r[0].iteration, 10);
    BOOST_CHECK_EQUAL(r[0].l1, 0.5);
    BOOST_CHECK(std::isnan(r[0].loss));
    BOOST_CHECK_EQUAL(r[0].n_modes, -1);
    BOOST_CHECK_EQUAL(r[1].kind, "a,\"b");
    BOOST_CHECK(std::isnan(r[1].l1));

    const std::string jsonl = dir.file("o.jsonl");
    write_text(jsonl, "  {\"note\": \"x\\u00e9\\n\", \"ok\": true, \"iteration\": 3, \"kind\": \"tr\\u0061in\"}\n\n");
    r = read_metrics(jsonl);
    BOOST_REQUIRE_EQUAL(r.size(), 1u);
    BOOST_CHECK_EQUAL(r[0].kind, "train");
    BOOST_CHECK_EQUAL(r[0].iteration, 3);
}

BOOST_AUTO_TEST_CASE(malformed_files_name_the_line) {
    TempDir dir;
    const std::string csv = dir.file("bad.csv");
    const std::string header = "kind,iteration,loss\n";
    check_malformed(csv, "iteration,loss\n", "bad.csv:1: the header must name the columns 'kind' and 'iteration'");
    check_malformed(csv, header + "train,1,0.5\ntrain,2\n", "bad.csv:3: expected 3 fields, found 2");
    check_malformed(csv, header + "train,1,0.5\ntrain,2,abc\n", "bad.csv:3: loss: not a number: 'abc'");
    check_malformed(csv, header + "train,1.5,0.5\n", "bad.csv:2: iteration: not an integer: '1.5'");
    check_malformed(csv, header + "train,,0.5\n", "bad.csv:2: missing iteration");
    check_malformed(csv, header + "\"train,1,0.5\n", "bad.csv:2: unterminated quoted field");
    check_malformed(csv, "kind,kind,iteration\n", "bad.csv:1: column 'kind' appears twice");

    const std::string jsonl = dir.file("bad.jsonl");
    const std::string ok = "{\"kind\": \"train\", \"iteration\": 1, \"loss\": 0.5}\n";
    check_malformed(jsonl, ok + ok + "{\"kind\": \"train\", \"iteration\": 3, \"loss\": 0.5\n", "bad.jsonl:3: expected ',' or '}'");
    check_malformed(jsonl, ok + "{\"kind\": \"train\", \"iteration\": 2, \"loss\": \"0.5\"}\n",
                    "bad.jsonl:2: \"loss\" must be a number or null");
    check_malformed(jsonl, ok + "{\"kind\": \"train\"}\n", "bad.jsonl:2: an object needs \"kind\" and \"iteration\"");
    check_malformed(jsonl, "[1, 2]\n", "bad.jsonl:1: expected '{'");
    check_malformed(jsonl, ok + "{\"kind\": \"train\", \"iteration\": 1} x\n", "bad.jsonl:2: text after the object");
    check_malformed(jsonl, "{\"kind\": \"train\", \"iteration\": 1, \"loss\": 1.2.3}\n", "bad.jsonl:1: bad number '1.2.3'");
    check_malformed(jsonl, "{\"kind\": 7, \"iteration\": 1}\n", "bad.jsonl:1: \"kind\" must be a string");
    check_malformed(jsonl, "{\"kind\": \"train\", \"iteration\": null}\n", "bad.jsonl:1: missing iteration");
}

// A file with no rows reads as no rows in both formats, whatever holds the nothing:
// 0 bytes, blank lines, or (CSV) a header alone.
BOOST_AUTO_TEST_CASE(empty_files_read_as_no_rows_in_both_formats) {
    TempDir dir;
    const std::string csv = dir.file("empty.csv"), jsonl = dir.file("empty.jsonl");
    for (const std::string& text : {std::string(), std::string("\n \t\r\n\n")}) {
        write_text(csv, text);
        write_text(jsonl, text);
        BOOST_CHECK_NO_THROW(BOOST_CHECK(read_metrics(csv).empty()));
        BOOST_CHECK_NO_THROW(BOOST_CHECK(read_metrics(jsonl).empty()));
    }
    write_text(csv, "kind,iteration,loss\r\n\n");
    BOOST_CHECK_NO_THROW(BOOST_CHECK(read_metrics(csv).empty()));
}

BOOST_AUTO_TEST_CASE(unknown_extension_and_unwritable_path) {
    try {
        MetricsLogger log("/tmp/metrics.txt");
        BOOST_ERROR("no error for .txt");
    } catch (const std::invalid_argument& e) {
        const std::string msg = e.what();
        BOOST_CHECK(msg.find("/tmp/metrics.txt") != std::string::npos);
        BOOST_CHECK(msg.find(".csv") != std::string::npos);
        BOOST_CHECK(msg.find(".jsonl") != std::string::npos);
    }
    BOOST_CHECK_THROW(read_metrics("/tmp/metrics.json"), std::invalid_argument);
    BOOST_CHECK_THROW(MetricsLogger("metrics"), std::invalid_argument);

    const std::string bad = "/nonexistent-gfn-dir/metrics.csv";
    try {
        MetricsLogger log(bad);
        BOOST_ERROR("no error for an unwritable path");
    } catch (const std::runtime_error& e) {
        BOOST_CHECK(std::string(e.what()).find(bad) != std::string::npos);
    }
    try {
        read_metrics("/nonexistent-gfn-dir/metrics.jsonl");
        BOOST_ERROR("no error for a missing file");
    } catch (const std::runtime_error& e) {
        BOOST_CHECK(std::string(e.what()).find("/nonexistent-gfn-dir/metrics.jsonl") != std::string::npos);
    }
    MetricsRow r;
    r.kind = "two\nlines";
    TempDir dir;
    MetricsLogger log(dir.file("k.csv"));
    BOOST_CHECK_THROW(log.write(r), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(rows_from_training_statistics) {
    StepStats st;
    st.loss = 0.75;
    st.log_z = 2.5;
    MetricsRow t = train_row(40, st, 1.5);
    BOOST_CHECK_EQUAL(t.kind, "train");
    BOOST_CHECK_EQUAL(t.iteration, 40);
    BOOST_CHECK_EQUAL(t.loss, 0.75);
    BOOST_CHECK_EQUAL(t.logz, 2.5);
    BOOST_CHECK(std::isnan(t.l1) && std::isnan(t.condition) && t.n_modes == -1);

    Metrics m;
    m.iteration = 100;
    m.modes_found = 2;
    m.n_modes = 4;
    ValidationResult a, b;
    a.l1 = 0.5, a.exact_l1 = 0.25, a.jsd = 0.01, a.logz = 1, a.logz_true = 1.5;
    b = a;
    b.l1 = 0.125;
    m.validation = {a, b};
    m.conditions = {0.f, 1.f};
    std::vector<MetricsRow> v = validation_rows(m, 9.0);
    BOOST_REQUIRE_EQUAL(v.size(), 2u);
    BOOST_CHECK_EQUAL(v[0].kind, "validation");
    BOOST_CHECK_EQUAL(v[0].iteration, 100);
    BOOST_CHECK_EQUAL(v[0].condition, 0.0);
    BOOST_CHECK_EQUAL(v[1].condition, 1.0);
    BOOST_CHECK_EQUAL(v[1].l1, 0.125);
    BOOST_CHECK_EQUAL(v[1].exact_l1, 0.25);
    BOOST_CHECK_EQUAL(v[1].logz_true, 1.5);
    BOOST_CHECK_EQUAL(v[1].modes_found, 2);
    BOOST_CHECK_EQUAL(v[1].wall_seconds, 9.0);
    BOOST_CHECK(std::isnan(v[0].loss));
    m.conditions.clear();
    m.validation = {a};
    BOOST_CHECK(std::isnan(validation_rows(m, 0)[0].condition));
}

BOOST_AUTO_TEST_SUITE_END()
