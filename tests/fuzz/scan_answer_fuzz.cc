// libFuzzer target for what sluice-milter reads from its content scanners:
// milter/spamd_client.* (read_spamd_answer, spamd_verdict),
// milter/rspamd_client.* (read_http_answer, rspamd_verdict), milter/
// clamd_client.* (read_clamd_answer, clamd_verdict) and milter/json_reader.*
// (parse_json). The first input byte picks the reader, the chunk sizes, the
// spam threshold and the JSON limits; the rest is the daemon's answer.
// Besides "no crash, no sanitizer report", it checks:
//   - at eof a reader always decides (answer or error), and an answer or
//     error it gave without eof is exactly what it gives with eof on the
//     same bytes;
//   - fed in growing prefixes (as reads arrive), once a reader has decided
//     it never asks for more again, keeps the same answer (or, for a
//     length-delimited answer, refuses the bytes after it) and keeps an
//     error an error of the same kind; the final eof read agrees;
//   - reader errors are kProtocol with printable details;
//   - verdicts respect milter/scanner.h: at most kMaxScanSymbols symbols of
//     [A-Za-z0-9_.-]{1,64}, a virus name of [A-Za-z0-9_.:+/-]{1,128}, a
//     detail of printable ASCII <= kMaxScanDetailBytes, present exactly on
//     failures; the kind and score follow the answer and the threshold;
//   - parse_json: a parsed tree is within the limits (depth, value count),
//     has valid UTF-8 strings and unique keys, and written back out parses
//     to the same tree; tiny and default limits agree where both apply.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "milter/clamd_client.h"
#include "milter/json_reader.h"
#include "milter/rspamd_client.h"
#include "milter/scanner.h"
#include "milter/spamd_client.h"

namespace {

using sluice::Errc;
using sluice::Error;
using sluice::Result;
using sluice::milter::ClamdAnswer;
using sluice::milter::HttpAnswer;
using sluice::milter::JsonLimits;
using sluice::milter::JsonValue;
using sluice::milter::ScanVerdict;
using sluice::milter::ScanVerdictKind;
using sluice::milter::SpamdAnswer;

constexpr std::string_view kLabel = "scanner 127.0.0.1:783";

void check(bool ok) {
  if (!ok) std::abort();  // a property failed: libFuzzer saves the input
}

bool printable(std::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) return false;
  }
  return true;
}

bool symbol_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

void check_verdict(const ScanVerdict& v) {
  check(v.symbols.size() <= sluice::milter::kMaxScanSymbols);
  for (const std::string& s : v.symbols) {
    check(!s.empty() && s.size() <= sluice::milter::kMaxScanSymbolBytes);
    for (const char c : s) check(symbol_char(c));
  }
  check(v.virus.size() <= sluice::milter::kMaxVirusNameBytes);
  for (const char c : v.virus) check(symbol_char(c) || c == ':' || c == '+' || c == '/');
  check(v.detail.size() <= sluice::milter::kMaxScanDetailBytes && printable(v.detail));
  if (v.score) check(std::isfinite(*v.score));
  if (v.required) check(std::isfinite(*v.required));
  check(v.elapsed.count() == 0);
  if (v.kind == ScanVerdictKind::kFailure) {
    check(!v.detail.empty() && v.symbols.empty() && v.virus.empty());
  } else {
    check(v.kind == ScanVerdictKind::kClean || v.kind == ScanVerdictKind::kSpam);
    check(v.detail.empty());
  }
}

ScanVerdict failure_from(const Error& e) {
  check(e.code == Errc::kProtocol);
  check(!e.detail.empty() && printable(e.detail));
  ScanVerdict v = sluice::milter::scan_failure(kLabel, e.detail);
  check(v.kind == ScanVerdictKind::kFailure);
  return v;
}

// ---- Reader consistency, shared by the three line protocols ----

template <class A>
using Read = Result<std::optional<A>>;

bool decided(const auto& r) { return !r.ok() || r->has_value(); }

// The reason of an error without the quoted bytes, which grow with the input.
std::string_view why(const Error& e) { return std::string_view(e.detail).substr(0, e.detail.find('"')); }

template <class A, class Same>
bool same_read(const Read<A>& a, const Read<A>& b, Same same) {
  if (a.ok() != b.ok()) return false;
  if (!a.ok()) return a.error().code == b.error().code && a.error().detail == b.error().detail;
  if (a->has_value() != b->has_value()) return false;
  return !a->has_value() || same(**a, **b);
}

// |later| (a longer prefix, or eof) may follow |first|, a decision.
template <class A, class Same>
void check_follows(const Read<A>& first, const Read<A>& later, Same same) {
  check(decided(later));
  if (!first.ok()) {
    check(!later.ok() && later.error().code == first.error().code && why(later.error()) == why(first.error()));
    return;
  }
  if (later.ok()) {
    check(same(**first, **later));
  } else {
    check(later.error().detail.starts_with("bytes after the answer"));
  }
}

// Feeds growing prefixes of |in| as reads would arrive; returns what a
// session would settle on: the first decision, else the eof read.
template <class A, class ReadFn, class Same>
Read<A> run_reader(std::string_view in, std::uint8_t mode, ReadFn read, Same same) {
  static constexpr std::size_t kChunks[] = {1, 2, 3, 7, 16, 64, 509, 4096};
  const std::size_t min_chunk = in.size() / 48 + 1;  // bounds the number of prefixes
  std::vector<std::size_t> cuts{0};
  for (unsigned step = (mode >> 2) & 7; cuts.back() < in.size(); ++step) {
    cuts.push_back(std::min(in.size(), cuts.back() + std::max(kChunks[step % 8], min_chunk)));
  }
  std::optional<Read<A>> first;
  for (const std::size_t cut : cuts) {
    const std::string_view prefix = in.substr(0, cut);
    Read<A> partial = read(prefix, false);
    Read<A> at_eof = read(prefix, true);
    check(decided(at_eof));  // never "need more" at eof
    if (decided(partial)) check(same_read<A>(partial, at_eof, same));
    if (first) {
      check_follows<A>(*first, partial, same);
    } else if (decided(partial)) {
      first.emplace(std::move(partial));
    }
  }
  Read<A> final_read = read(in, true);
  if (first) {
    check_follows<A>(*first, final_read, same);
    return std::move(*first);
  }
  return final_read;
}

// ---- spamd ----

bool same_spamd(const SpamdAnswer& a, const SpamdAnswer& b) {
  return a.code == b.code && a.message == b.message && a.spam == b.spam && a.score == b.score &&
         a.required == b.required && a.symbols == b.symbols;
}

void fuzz_spamd(std::string_view in, std::uint8_t mode, std::optional<double> threshold) {
  auto read = run_reader<SpamdAnswer>(in, mode, sluice::milter::read_spamd_answer, same_spamd);
  if (!read.ok()) {
    check_verdict(failure_from(read.error()));
    return;
  }
  const SpamdAnswer& a = **read;
  check(a.code >= 0 && a.code <= 999);
  const ScanVerdict v = sluice::milter::spamd_verdict(a, threshold, kLabel);
  check_verdict(v);
  if (a.code != 0) {
    check(v.kind == ScanVerdictKind::kFailure);
    return;
  }
  check(std::isfinite(a.score) && std::isfinite(a.required));
  check(a.symbols.size() <= sluice::milter::kMaxScanSymbols);
  std::vector<std::string> want;
  for (const std::string& s : a.symbols) {
    check(!s.empty() && s.find(',') == std::string::npos);
    check(s.front() != ' ' && s.front() != '\t' && s.back() != ' ' && s.back() != '\t');
    want.push_back(sluice::milter::sanitize_scan_symbol(s));
  }
  check(v.symbols == want);
  check(v.score == a.score && v.required == (threshold ? *threshold : a.required));
  const bool spam = threshold ? a.score >= *threshold : a.spam;
  check(v.kind == (spam ? ScanVerdictKind::kSpam : ScanVerdictKind::kClean));
}

// ---- rspamd ----

bool same_http(const HttpAnswer& a, const HttpAnswer& b) {
  return a.status == b.status && a.reason == b.reason && a.body == b.body;
}

bool spam_action(std::string_view a) {
  return a == "reject" || a == "add header" || a == "rewrite subject" || a == "quarantine" || a == "discard";
}

bool clean_action(std::string_view a) { return a == "no action" || a == "greylist" || a == "soft reject"; }

void check_rspamd_verdict(const JsonValue& json, std::optional<double> threshold) {
  const ScanVerdict v = sluice::milter::rspamd_verdict(json, threshold, kLabel);
  check_verdict(v);
  if (v.kind == ScanVerdictKind::kFailure) return;
  const JsonValue* action = json.find("action");
  const JsonValue* score = json.find("score");
  const JsonValue* required = json.find("required_score");
  check(action && action->string() && score && score->number() && required && required->number());
  check(v.score == score->number());
  if (threshold) {
    check(v.required == threshold);
    check(v.kind == (*score->number() >= *threshold ? ScanVerdictKind::kSpam : ScanVerdictKind::kClean));
  } else {
    check(v.required == required->number());
    check(v.kind == (spam_action(*action->string()) ? ScanVerdictKind::kSpam : ScanVerdictKind::kClean));
    check(spam_action(*action->string()) || clean_action(*action->string()));
  }
  std::size_t named = 0;
  if (const JsonValue* symbols = json.find("symbols")) {
    check(symbols->object() != nullptr);
    for (const auto& [name, detail] : *symbols->object()) named += name.empty() ? 0 : 1;
  }
  check(v.symbols.size() == std::min(named, sluice::milter::kMaxScanSymbols));
}

void fuzz_rspamd(std::string_view in, std::uint8_t mode, std::optional<double> threshold) {
  auto read = run_reader<HttpAnswer>(in, mode, sluice::milter::read_http_answer, same_http);
  if (!read.ok()) {
    check_verdict(failure_from(read.error()));
    return;
  }
  const HttpAnswer& http = **read;
  check(http.status >= 0 && http.status <= 999);
  // As RspamdSession::interpret: a non-200 answer is a failure naming it.
  auto json = sluice::milter::parse_json(http.body);
  if (http.status != 200) {
    std::string what = "HTTP " + std::to_string(http.status) + " " + http.reason;
    if (json) {
      if (const JsonValue* error = json->find("error"); error && error->string()) what += ": " + *error->string();
    }
    check_verdict(sluice::milter::scan_failure(kLabel, what));
    return;
  }
  if (!json) {
    check_verdict(sluice::milter::scan_failure(kLabel, "bad JSON answer: " + json.error().detail));
    return;
  }
  check_rspamd_verdict(*json, threshold);
}

// ---- clamd ----

bool same_clamd(const ClamdAnswer& a, const ClamdAnswer& b) { return a.kind == b.kind && a.text == b.text; }

void fuzz_clamd(std::string_view in, std::uint8_t mode) {
  auto read = run_reader<ClamdAnswer>(in, mode, sluice::milter::read_clamd_answer, same_clamd);
  if (!read.ok()) {
    check_verdict(failure_from(read.error()));
    return;
  }
  const ClamdAnswer& a = **read;
  const ScanVerdict v = sluice::milter::clamd_verdict(a, kLabel);
  check_verdict(v);
  switch (a.kind) {
    case ClamdAnswer::Kind::kClean:
      check(v.kind == ScanVerdictKind::kClean && v.virus.empty());
      break;
    case ClamdAnswer::Kind::kFound:
      check(v.kind == ScanVerdictKind::kSpam && !v.virus.empty());
      check(v.virus == sluice::milter::sanitize_virus_name(a.text));
      break;
    case ClamdAnswer::Kind::kError:
      check(v.kind == ScanVerdictKind::kFailure);
      break;
  }
}

// ---- JSON ----

struct Shape {
  std::size_t values = 0;
  int depth = 0;  // a scalar 0, a container 1 + its deepest member
};

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (b < 0x80) {
      ++i;
      continue;
    } else if ((b & 0xE0) == 0xC0) {
      n = 2;
      cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      n = 3;
      cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      n = 4;
      cp = b & 0x07;
    } else {
      return false;
    }
    if (s.size() - i < n) return false;
    for (std::size_t k = 1; k < n; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

Shape shape_of(const JsonValue& v) {
  Shape s{1, 0};
  if (const auto* text = v.string()) check(valid_utf8(*text));
  if (const auto n = v.number()) check(std::isfinite(*n));
  if (const auto* items = v.array()) {
    for (const JsonValue& item : *items) {
      const Shape c = shape_of(item);
      s.values += c.values;
      s.depth = std::max(s.depth, c.depth);
    }
    ++s.depth;
  }
  if (const auto* members = v.object()) {
    for (std::size_t i = 0; i < members->size(); ++i) {
      check(valid_utf8((*members)[i].first));
      for (std::size_t j = 0; j < i; ++j) check((*members)[j].first != (*members)[i].first);
      check(v.find((*members)[i].first) == &(*members)[i].second);
      const Shape c = shape_of((*members)[i].second);
      s.values += c.values;
      s.depth = std::max(s.depth, c.depth);
    }
    ++s.depth;
  }
  return s;
}

void write_json(const JsonValue& v, std::string& out) {
  switch (v.kind()) {
    case JsonValue::Kind::kNull:
      out += "null";
      return;
    case JsonValue::Kind::kBool:
      out += *v.boolean() ? "true" : "false";
      return;
    case JsonValue::Kind::kNumber: {
      char buffer[40];
      std::snprintf(buffer, sizeof buffer, "%.17g", *v.number());
      out += buffer;
      return;
    }
    case JsonValue::Kind::kString:
      out += '"';
      for (const char c : *v.string()) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
          out += '\\';
          out += c;
        } else if (u < 0x20) {
          char buffer[8];
          std::snprintf(buffer, sizeof buffer, "\\u%04x", u);
          out += buffer;
        } else {
          out += c;
        }
      }
      out += '"';
      return;
    case JsonValue::Kind::kArray: {
      out += '[';
      const char* sep = "";
      for (const JsonValue& item : *v.array()) {
        out += sep;
        write_json(item, out);
        sep = ",";
      }
      out += ']';
      return;
    }
    case JsonValue::Kind::kObject: {
      out += '{';
      const char* sep = "";
      for (const auto& [key, value] : *v.object()) {
        out += sep;
        write_json(JsonValue(key), out);
        out += ':';
        write_json(value, out);
        sep = ",";
      }
      out += '}';
      return;
    }
  }
}

std::string to_json(const JsonValue& v) {
  std::string out;
  write_json(v, out);
  return out;
}

void check_json_error(const Error& e, std::size_t size) {
  check(e.code == Errc::kInvalidInput || e.code == Errc::kTooLong);
  check(printable(e.detail));
  if (e.detail.starts_with("JSON longer than ")) {
    check(e.code == Errc::kTooLong);
    return;
  }
  check(e.detail.starts_with("JSON at byte "));
  check(std::strtoull(e.detail.c_str() + 13, nullptr, 10) <= size);
}

void fuzz_json(std::string_view in, std::uint8_t mode, std::optional<double> threshold) {
  static constexpr JsonLimits kTiny{.max_bytes = 512, .max_depth = 3, .max_values = 40};
  const JsonLimits defaults;
  const JsonLimits& limits = (mode & 0x80) ? kTiny : defaults;
  auto parsed = sluice::milter::parse_json(in, limits);
  auto other = sluice::milter::parse_json(in, (mode & 0x80) ? defaults : kTiny);
  if (!parsed) {
    check_json_error(parsed.error(), in.size());
    if (in.size() > limits.max_bytes) check(parsed.error().code == Errc::kTooLong);
    if (parsed.error().code == Errc::kInvalidInput && other) {
      check(false);  // a grammar error does not depend on the limits
    }
    return;
  }
  const Shape shape = shape_of(*parsed);
  check(shape.values <= limits.max_values && shape.depth <= limits.max_depth && in.size() <= limits.max_bytes);
  // The other limits: the same tree when within them, a cap error if not.
  const JsonLimits& o = (mode & 0x80) ? defaults : kTiny;
  if (shape.values <= o.max_values && shape.depth <= o.max_depth && in.size() <= o.max_bytes) {
    check(other.ok() && to_json(*other) == to_json(*parsed));
  } else {
    check(!other.ok() && other.error().code == Errc::kTooLong);
  }

  // Written out again, the tree reads back the same; whitespace around is fine.
  const std::string text = to_json(*parsed);
  const JsonLimits roomy{.max_bytes = text.size() + 8, .max_depth = 64, .max_values = shape.values};
  auto again = sluice::milter::parse_json(" \r\n" + text + "\t", roomy);
  check(again.ok() && to_json(*again) == text);
  check(!sluice::milter::parse_json(text + ",", roomy).ok());

  check_rspamd_verdict(*parsed, threshold);
}

void fuzz_helpers(std::string_view in) {
  const std::string symbol = sluice::milter::sanitize_scan_symbol(in);
  check(symbol.size() == std::min(in.size(), sluice::milter::kMaxScanSymbolBytes));
  for (const char c : symbol) check(symbol_char(c));
  const std::string virus = sluice::milter::sanitize_virus_name(in);
  check(virus.size() == std::min(in.size(), sluice::milter::kMaxVirusNameBytes));
  const std::string detail = sluice::milter::scan_detail(in, in);
  check(detail.size() <= sluice::milter::kMaxScanDetailBytes && printable(detail));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  static constexpr std::optional<double> kThresholds[] = {std::nullopt, 5.0, 0.0, -3.5};
  const std::optional<double> threshold = kThresholds[(mode >> 5) & 3];
  switch (mode & 3) {
    case 0:
      fuzz_spamd(in, mode, threshold);
      break;
    case 1:
      fuzz_rspamd(in, mode, threshold);
      break;
    case 2:
      fuzz_clamd(in, mode);
      break;
    default:
      fuzz_json(in, mode, threshold);
      fuzz_helpers(in);
      break;
  }
  return 0;
}
