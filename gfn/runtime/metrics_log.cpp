// metrics_log.cpp — see metrics_log.h.
#include "gfn/runtime/metrics_log.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "gfn/runtime/training.h"

namespace gfn {

namespace {

enum Column {
    kKind, kIteration, kLoss, kLogZ, kLogZTrue, kL1, kExactL1, kJsd, kModesFound, kNModes, kWallSeconds,
    kCondition, kElbo, kIwElbo, kEubo, kEss, kModeTv, kNumColumns
};

const char* const kColumnNames[kNumColumns] = {"kind", "iteration", "loss", "logz", "logz_true", "l1",
                                               "exact_l1", "jsd", "modes_found", "n_modes", "wall_seconds",
                                               "condition", "elbo", "iw_elbo", "eubo", "ess", "mode_tv"};

double* real_field(MetricsRow& r, int c) {
    switch (c) {
        case kLoss: return &r.loss;
        case kLogZ: return &r.logz;
        case kLogZTrue: return &r.logz_true;
        case kL1: return &r.l1;
        case kExactL1: return &r.exact_l1;
        case kJsd: return &r.jsd;
        case kWallSeconds: return &r.wall_seconds;
        case kCondition: return &r.condition;
        case kElbo: return &r.elbo;
        case kIwElbo: return &r.iw_elbo;
        case kEubo: return &r.eubo;
        case kEss: return &r.ess;
        case kModeTv: return &r.mode_tv;
        default: return nullptr;
    }
}

int* int_field(MetricsRow& r, int c) {
    switch (c) {
        case kIteration: return &r.iteration;
        case kModesFound: return &r.modes_found;
        case kNModes: return &r.n_modes;
        default: return nullptr;
    }
}

bool ends_with(const std::string& s, const char* suffix) {
    const size_t n = std::strlen(suffix);
    return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// %.17g round-trips a double; non-finite values are the caller's business.
std::string format_real(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

// CSV: NaN empty, ±inf as "inf"/"-inf" (strtod reads them back).
std::string csv_real(double v) {
    if (std::isnan(v)) return "";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    return format_real(v);
}

std::string csv_text(const std::string& s) {
    if (s.find_first_of(",\"") == std::string::npos) return s;
    std::string out = "\"";
    for (char ch : s) {
        if (ch == '"') out += '"';
        out += ch;
    }
    return out + "\"";
}

std::string json_real(double v) { return std::isfinite(v) ? format_real(v) : "null"; }

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (unsigned char ch : s) {
        if (ch == '"' || ch == '\\') {
            out += '\\';
            out += char(ch);
        } else if (ch < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", ch);
            out += buf;
        } else {
            out += char(ch);
        }
    }
    return out + "\"";
}

[[noreturn]] void malformed(const std::string& path, int line, const std::string& what) {
    throw std::runtime_error(path + ":" + std::to_string(line) + ": " + what);
}

// Strict number parsing: the whole token must be consumed.
bool parse_real(const std::string& s, double* out) {
    if (s.empty()) return false;
    errno = 0;
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size()) return false;
    *out = v;
    return true;
}

bool parse_int(const std::string& s, int* out) {
    if (s.empty()) return false;
    errno = 0;
    char* end = nullptr;
    long v = std::strtol(s.c_str(), &end, 10);
    if (end != s.c_str() + s.size() || errno == ERANGE || v < -2147483647L - 1 || v > 2147483647L) return false;
    *out = int(v);
    return true;
}

// Sets column c of r from its text; empty means "does not apply".
void set_field(MetricsRow& r, int c, const std::string& text, bool is_null, const std::string& path, int line) {
    if (c == kKind) {
        if (is_null || text.empty()) malformed(path, line, "empty kind");
        r.kind = text;
    } else if (int* p = int_field(r, c)) {
        if (is_null || text.empty()) {
            if (c == kIteration) malformed(path, line, "missing iteration");
            *p = -1;
        } else if (!parse_int(text, p)) {
            malformed(path, line, std::string(kColumnNames[c]) + ": not an integer: '" + text + "'");
        }
    } else if (double* p = real_field(r, c)) {
        if (is_null || text.empty()) *p = NAN;
        else if (!parse_real(text, p))
            malformed(path, line, std::string(kColumnNames[c]) + ": not a number: '" + text + "'");
    }
}

int column_of(const std::string& name) {
    for (int c = 0; c < kNumColumns; ++c)
        if (name == kColumnNames[c]) return c;
    return -1;
}

// Splits one CSV line (RFC 4180 quoting, no line breaks inside fields).
bool split_csv(const std::string& line, std::vector<std::string>& fields, std::string& err) {
    fields.clear();
    size_t i = 0;
    while (true) {
        std::string f;
        if (i < line.size() && line[i] == '"') {
            ++i;
            while (true) {
                if (i >= line.size()) {
                    err = "unterminated quoted field";
                    return false;
                }
                if (line[i] == '"') {
                    if (i + 1 < line.size() && line[i + 1] == '"') {
                        f += '"';
                        i += 2;
                        continue;
                    }
                    ++i;
                    break;
                }
                f += line[i++];
            }
            if (i < line.size() && line[i] != ',') {
                err = "text after a quoted field";
                return false;
            }
        } else {
            while (i < line.size() && line[i] != ',') {
                if (line[i] == '"') {
                    err = "quote inside an unquoted field";
                    return false;
                }
                f += line[i++];
            }
        }
        fields.push_back(f);
        if (i >= line.size()) return true;
        ++i;  // the comma
    }
}

// A flat JSON object: string keys; values string, number, null (true/false accepted, ignored).
struct JsonValue {
    enum Type { Null, String, Number, Bool } type = Null;
    std::string text;
};

class JsonLine {
public:
    explicit JsonLine(const std::string& s) : s_(s) {}

    bool parse(std::vector<std::pair<std::string, JsonValue>>& out, std::string& err) {
        out.clear();
        ws();
        if (!eat('{')) return fail(err, "expected '{'");
        ws();
        if (eat('}')) return end(err);
        while (true) {
            ws();
            std::string key;
            if (!string(key)) return fail(err, error_.empty() ? "expected a string key" : error_);
            ws();
            if (!eat(':')) return fail(err, "expected ':' after \"" + key + "\"");
            ws();
            JsonValue v;
            if (!value(v)) return fail(err, error_.empty() ? "bad value for \"" + key + "\"" : error_);
            out.emplace_back(key, v);
            ws();
            if (eat(',')) continue;
            if (eat('}')) return end(err);
            return fail(err, "expected ',' or '}'");
        }
    }

private:
    const std::string& s_;
    size_t i_ = 0;
    std::string error_;

    void ws() {
        while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\r')) ++i_;
    }
    bool eat(char ch) {
        if (i_ < s_.size() && s_[i_] == ch) {
            ++i_;
            return true;
        }
        return false;
    }
    bool literal(const char* word) {
        size_t n = std::strlen(word);
        if (s_.compare(i_, n, word) != 0) return false;
        i_ += n;
        return true;
    }
    bool fail(std::string& err, const std::string& what) {
        err = what + " at column " + std::to_string(i_ + 1);
        return false;
    }
    bool end(std::string& err) {
        ws();
        if (i_ != s_.size()) return fail(err, "text after the object");
        return true;
    }
    static void append_utf8(std::string& out, unsigned cp) {
        if (cp < 0x80) {
            out += char(cp);
        } else if (cp < 0x800) {
            out += char(0xC0 | (cp >> 6));
            out += char(0x80 | (cp & 0x3F));
        } else {
            out += char(0xE0 | (cp >> 12));
            out += char(0x80 | ((cp >> 6) & 0x3F));
            out += char(0x80 | (cp & 0x3F));
        }
    }
    bool string(std::string& out) {
        if (!eat('"')) return false;
        while (i_ < s_.size()) {
            char ch = s_[i_++];
            if (ch == '"') return true;
            if (static_cast<unsigned char>(ch) < 0x20) {
                error_ = "control character in a string";
                return false;
            }
            if (ch != '\\') {
                out += ch;
                continue;
            }
            if (i_ >= s_.size()) break;
            char e = s_[i_++];
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    if (i_ + 4 > s_.size()) break;
                    unsigned cp = 0;
                    for (int k = 0; k < 4; ++k) {
                        char h = s_[i_++];
                        cp <<= 4;
                        if (h >= '0' && h <= '9') cp |= unsigned(h - '0');
                        else if (h >= 'a' && h <= 'f') cp |= unsigned(h - 'a' + 10);
                        else if (h >= 'A' && h <= 'F') cp |= unsigned(h - 'A' + 10);
                        else {
                            error_ = "bad \\u escape";
                            return false;
                        }
                    }
                    append_utf8(out, cp);
                    break;
                }
                default: error_ = std::string("bad escape \\") + e; return false;
            }
        }
        error_ = "unterminated string";
        return false;
    }
    bool value(JsonValue& v) {
        if (i_ < s_.size() && s_[i_] == '"') {
            v.type = JsonValue::String;
            return string(v.text);
        }
        if (literal("null")) {
            v.type = JsonValue::Null;
            return true;
        }
        if (literal("true") || literal("false")) {
            v.type = JsonValue::Bool;
            return true;
        }
        size_t b = i_;
        while (i_ < s_.size() && (std::strchr("+-.0123456789eE", s_[i_]) != nullptr) && s_[i_] != '\0') ++i_;
        if (i_ == b) return false;
        v.type = JsonValue::Number;
        v.text = s_.substr(b, i_ - b);
        double d;
        if (!parse_real(v.text, &d)) {
            error_ = "bad number '" + v.text + "'";
            return false;
        }
        return true;
    }
};

std::vector<MetricsRow> read_csv(const std::string& path, std::ifstream& in) {
    std::vector<MetricsRow> rows;
    std::string line, err;
    std::vector<std::string> fields;
    std::vector<int> cols;  // file column -> Column, or −1
    int lineno = 0;
    bool have_header = false;
    while (std::getline(in, line)) {
        ++lineno;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        if (line.back() == '\r') line.pop_back();
        if (!split_csv(line, fields, err)) malformed(path, lineno, err);
        if (!have_header) {
            have_header = true;
            std::vector<int> seen(kNumColumns, 0);
            for (const std::string& f : fields) {
                int c = column_of(f);
                if (c >= 0 && seen[size_t(c)]++) malformed(path, lineno, "column '" + f + "' appears twice");
                cols.push_back(c);
            }
            if (!seen[kKind] || !seen[kIteration])
                malformed(path, lineno, "the header must name the columns 'kind' and 'iteration' (got '" + line + "')");
            continue;
        }
        if (fields.size() != cols.size())
            malformed(path, lineno, "expected " + std::to_string(cols.size()) + " fields, found " +
                                        std::to_string(fields.size()));
        MetricsRow r;
        for (size_t k = 0; k < fields.size(); ++k)
            if (cols[k] >= 0) set_field(r, cols[k], fields[k], false, path, lineno);
        rows.push_back(r);
    }
    return rows;
}

std::vector<MetricsRow> read_jsonl(const std::string& path, std::ifstream& in) {
    std::vector<MetricsRow> rows;
    std::string line, err;
    std::vector<std::pair<std::string, JsonValue>> members;
    int lineno = 0;
    while (std::getline(in, line)) {
        ++lineno;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        JsonLine parser(line);
        if (!parser.parse(members, err)) malformed(path, lineno, err);
        MetricsRow r;
        std::vector<int> seen(kNumColumns, 0);
        for (const auto& kv : members) {
            int c = column_of(kv.first);
            if (c < 0) continue;
            if (seen[size_t(c)]++) malformed(path, lineno, "key \"" + kv.first + "\" appears twice");
            const JsonValue& v = kv.second;
            if (v.type == JsonValue::Bool) malformed(path, lineno, "\"" + kv.first + "\": unexpected boolean");
            if (c == kKind && v.type != JsonValue::String) malformed(path, lineno, "\"kind\" must be a string");
            if (c != kKind && v.type == JsonValue::String)
                malformed(path, lineno, "\"" + kv.first + "\" must be a number or null");
            set_field(r, c, v.text, v.type == JsonValue::Null, path, lineno);
        }
        if (!seen[kKind] || !seen[kIteration]) malformed(path, lineno, "an object needs \"kind\" and \"iteration\"");
        rows.push_back(r);
    }
    return rows;
}

}  // namespace

const std::vector<std::string>& metrics_columns() {
    static const std::vector<std::string> cols(kColumnNames, kColumnNames + kNumColumns);
    return cols;
}

double metric_value(const MetricsRow& row, const std::string& name) {
    const int c = column_of(name);
    MetricsRow r = row;  // a copy: the field accessors hand out writable pointers
    if (c >= 0 && c != kIteration && c != kCondition)
        if (const double* p = real_field(r, c)) return *p;
    if (c == kModesFound || c == kNModes) {
        const int v = *int_field(r, c);
        return v == -1 ? NAN : double(v);
    }
    std::string numeric;
    for (int k = 0; k < kNumColumns; ++k)
        if (k != kKind && k != kIteration && k != kCondition) numeric += std::string(numeric.empty() ? "" : ", ") + kColumnNames[k];
    throw std::invalid_argument("unknown metric '" + name + "' (the metrics: " + numeric + ")");
}

MetricsRow train_row(int iteration, const StepStats& st, double wall_seconds) {
    MetricsRow r;
    r.kind = "train";
    r.iteration = iteration;
    r.loss = st.loss;
    r.logz = st.log_z;
    r.wall_seconds = wall_seconds;
    return r;
}

std::vector<MetricsRow> validation_rows(const Metrics& m, double wall_seconds) {
    std::vector<MetricsRow> rows;
    for (size_t k = 0; k < m.validation.size(); ++k) {
        const ValidationResult& v = m.validation[k];
        MetricsRow r;
        r.kind = "validation";
        r.iteration = m.iteration;
        r.logz = v.logz;
        r.logz_true = v.logz_true;
        r.l1 = v.l1;
        r.exact_l1 = v.exact_l1;
        r.jsd = v.jsd;
        r.modes_found = m.n_modes > 0 ? m.modes_found : -1;
        r.n_modes = m.n_modes > 0 ? m.n_modes : -1;
        r.wall_seconds = wall_seconds;
        if (k < m.conditions.size()) r.condition = m.conditions[k];
        r.elbo = m.elbo;
        r.iw_elbo = m.iw_elbo;
        r.eubo = m.eubo;
        r.ess = m.ess;
        r.mode_tv = m.mode_tv;
        rows.push_back(r);
    }
    return rows;
}

MetricsLogger::Format MetricsLogger::format_of(const std::string& path) {
    if (ends_with(path, ".csv")) return Format::Csv;
    if (ends_with(path, ".jsonl")) return Format::Jsonl;
    throw std::invalid_argument("metrics file '" + path + "': unknown extension (use .csv or .jsonl)");
}

MetricsLogger::MetricsLogger(const std::string& path, bool append) : path_(path), format_(format_of(path)) {
    std::string header;
    for (int c = 0; c < kNumColumns; ++c) header += std::string(c ? "," : "") + kColumnNames[c];
    bool has_rows = false;
    if (append) {
        std::ifstream in(path, std::ios::binary);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        has_rows = text.find_first_not_of(" \t\r\n") != std::string::npos;
        auto refuse = [&](const std::string& why) {
            throw std::invalid_argument("cannot append to metrics file '" + path + "': " + why +
                                        " (the file is left as it is; give another file)");
        };
        if (has_rows && text.back() != '\n') refuse("its last line is incomplete");
        if (has_rows) {
            std::string first = text.substr(text.find_first_not_of(" \t\r\n"));
            first = first.substr(0, first.find('\n'));
            if (!first.empty() && first.back() == '\r') first.pop_back();
            std::string columns;
            if (format_ == Format::Csv) {
                columns = first;
            } else {
                std::vector<std::pair<std::string, JsonValue>> members;
                std::string err;
                if (!JsonLine(first).parse(members, err)) refuse("its first line is not a JSON object (" + err + ")");
                for (const auto& kv : members) columns += (columns.empty() ? "" : ",") + kv.first;
            }
            if (columns != header) refuse("its columns are '" + columns + "', not '" + header + "'");
        }
    }
    file_ = std::fopen(path.c_str(), append ? "a" : "w");
    if (!file_)
        throw std::runtime_error("cannot open metrics file '" + path + "' for writing: " + std::strerror(errno));
    if (format_ == Format::Csv && !has_rows) {
        header += "\n";
        if (std::fputs(header.c_str(), file_) < 0 || std::fflush(file_) != 0) {
            std::fclose(file_);
            file_ = nullptr;
            throw std::runtime_error("cannot write metrics file '" + path + "': " + std::strerror(errno));
        }
    }
}

MetricsLogger::~MetricsLogger() {
    if (file_) std::fclose(file_);
}

void MetricsLogger::write(const MetricsRow& r) {
    if (r.kind.find_first_of("\r\n") != std::string::npos)
        throw std::invalid_argument("metrics row: the kind '" + r.kind + "' contains a line break");
    MetricsRow row = r;
    std::string line;
    for (int c = 0; c < kNumColumns; ++c) {
        std::string value;
        if (c == kKind) {
            value = format_ == Format::Csv ? csv_text(row.kind) : json_string(row.kind);
        } else if (const int* p = int_field(row, c)) {
            const bool na = *p == -1 && c != kIteration;
            value = na ? (format_ == Format::Csv ? "" : "null") : std::to_string(*p);
        } else {
            const double v = *real_field(row, c);
            value = format_ == Format::Csv ? csv_real(v) : json_real(v);
        }
        if (format_ == Format::Csv) line += (c ? "," : "") + value;
        else line += std::string(c ? ", " : "{") + "\"" + kColumnNames[c] + "\": " + value;
    }
    line += format_ == Format::Csv ? "\n" : "}\n";
    if (std::fputs(line.c_str(), file_) < 0 || std::fflush(file_) != 0)
        throw std::runtime_error("cannot write metrics file '" + path_ + "': " + std::strerror(errno));
}

void MetricsLogger::write(const std::vector<MetricsRow>& rows) {
    for (const MetricsRow& r : rows) write(r);
}

std::vector<MetricsRow> read_metrics(const std::string& path) {
    const MetricsLogger::Format fmt = MetricsLogger::format_of(path);
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open metrics file '" + path + "': " + std::strerror(errno));
    return fmt == MetricsLogger::Format::Csv ? read_csv(path, in) : read_jsonl(path, in);
}

}  // namespace gfn
