// libFuzzer target for unsubscribe/http_request.* (HttpRequestReader), the
// parser sluice-unsubscribe puts in front of the network, and
// unsubscribe/one_click_body.* on the bodies it yields. The first input
// byte picks the limits (defaults, or small ones so the caps are hit often)
// and the chunk sizes; the rest is what the client sends. Besides "no
// crash, no sanitizer report", it checks:
//   - the same bytes fed in one piece and in chunks give the same request
//     (every field) or the same refusal (status and reason);
//   - a refusal is one of 400, 411, 413, 431, 505, and stays: later calls
//     repeat the status;
//   - a request respects the caps and the syntax the header promises:
//     token method of at most 16 bytes, origin-form target, HTTP/1.0 or
//     1.1, lowercased token header names, trimmed values without control
//     bytes, at most max_headers, one Host in 1.1 (at most one in 1.0), no
//     Transfer-Encoding, Content-Length on a POST, body <= max_body;
//   - against an independent reading of the bytes (leading blank lines
//     skipped, head up to the first empty line): the head ends within
//     max_head, the body is exactly the Content-Length bytes after it, and
//     the reader answers as soon as the request is complete, not before;
//   - while the reader waits for more, the bytes really are incomplete.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "unsubscribe/http_request.h"
#include "unsubscribe/one_click_body.h"

namespace {

using sluice::unsubscribe::HttpLimits;
using sluice::unsubscribe::HttpRequest;
using sluice::unsubscribe::HttpRequestReader;

void check(bool ok) {
  if (!ok) std::abort();  // a property failed: libFuzzer saves the input
}

struct Outcome {
  std::optional<HttpRequest> request;
  int status = 0;  // the refusal's; 0 while undecided or on success
  std::string reason;
  bool decided() const { return request.has_value() || status != 0; }
};

bool same_request(const HttpRequest& a, const HttpRequest& b) {
  return a.method == b.method && a.target == b.target && a.minor_version == b.minor_version && a.headers == b.headers &&
         a.body == b.body;
}

bool same_outcome(const Outcome& a, const Outcome& b) {
  if (a.request.has_value() != b.request.has_value()) return false;
  if (a.request) return same_request(*a.request, *b.request);
  return a.status == b.status && a.reason == b.reason;
}

// Asks the reader; on a decision records it and checks that it sticks.
bool ask(HttpRequestReader& reader, Outcome& out) {
  auto next = reader.next();
  if (!next) {
    const int s = reader.refusal_status();
    check(s == 400 || s == 411 || s == 413 || s == 431 || s == 505);
    check(next.error().code == sluice::Errc::kInvalidInput && !next.error().detail.empty());
    out.status = s;
    out.reason = next.error().detail;
    reader.feed("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    check(!reader.next().ok() && reader.refusal_status() == s);
    return true;
  }
  if (!next->has_value()) return false;
  out.request = std::move(**next);
  return true;
}

// Feeds |in| in chunks cycling through kChunks from |step| (0: in one piece).
Outcome run(std::string_view in, const HttpLimits& limits, std::optional<unsigned> step) {
  static constexpr std::size_t kChunks[] = {1, 2, 3, 7, 16, 64, 509, 4096};
  HttpRequestReader reader(limits);
  Outcome out;
  std::size_t pos = 0;
  do {
    const std::size_t n = step ? std::min(kChunks[(*step)++ % 8], in.size() - pos) : in.size();
    reader.feed(in.substr(pos, n));
    pos += n;
    check(reader.received() == pos);
    if (ask(reader, out)) break;
  } while (pos < in.size());
  return out;
}

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

// Where the head ends in |s| (after its empty line), or npos; |length| is
// the head without that empty line.
std::size_t head_end(std::string_view s, std::size_t& length) {
  for (std::size_t i = s.find('\n'); i != std::string_view::npos; i = s.find('\n', i + 1)) {
    length = i + 1;
    if (s.substr(i + 1, 1) == "\n") return i + 2;
    if (s.substr(i + 1, 2) == "\r\n") return i + 3;
  }
  return std::string_view::npos;
}

void check_request(const HttpRequest& r, std::string_view in, const HttpLimits& limits) {
  check(is_token(r.method) && r.method.size() <= 16);
  check(!r.target.empty() && r.target.front() == '/');
  for (const char c : r.target) check(c > 0x20 && c < 0x7f);
  check(r.path() == std::string_view(r.target).substr(0, r.target.find('?')));
  check(r.minor_version == 0 || r.minor_version == 1);
  check(r.headers.size() <= limits.max_headers);
  std::size_t hosts = 0;
  const std::string* length = nullptr;
  for (const auto& [name, value] : r.headers) {
    check(is_token(name));
    for (const char c : name) check(!(c >= 'A' && c <= 'Z'));
    check(value.empty() ||
          (value.front() != ' ' && value.front() != '\t' && value.back() != ' ' && value.back() != '\t'));
    for (const char c : value) {
      const auto u = static_cast<unsigned char>(c);
      check((u >= 0x20 || c == '\t') && u != 0x7f);
    }
    check(name != "transfer-encoding");
    if (name == "host") ++hosts;
    if (name == "content-length" && length == nullptr) length = &value;
    check(r.header(name) != nullptr);
  }
  check(hosts <= 1 && (hosts == 1 || r.minor_version == 0));
  check(r.body.size() <= limits.max_body);
  if (r.method == "POST") check(length != nullptr);
  if (length == nullptr) {
    check(r.body.empty());
  } else {
    // "N" or "N, N, ...": the body is N bytes.
    std::string_view first = std::string_view(*length).substr(0, length->find(','));
    while (!first.empty() && (first.front() == ' ' || first.front() == '\t' || first.front() == '0')) {
      first.remove_prefix(1);
    }
    while (!first.empty() && (first.back() == ' ' || first.back() == '\t')) first.remove_suffix(1);
    check(first == (r.body.empty() ? "" : std::to_string(r.body.size())));
  }

  // The independent reading of the same bytes.
  const std::size_t lead = std::min(in.find_first_not_of("\r\n"), in.size());
  const std::string_view s = in.substr(lead);
  std::size_t head_length = 0;
  const std::size_t end = head_end(s, head_length);
  check(end != std::string_view::npos && end <= limits.max_head);
  check(s.substr(end, r.body.size()) == r.body);
  const std::string line = r.method + " " + r.target + " HTTP/1." + std::to_string(r.minor_version);
  check(s.substr(0, line.size()) == line);
  check(r.headers.size() + 1 == static_cast<std::size_t>(std::count(s.begin(), s.begin() + head_length, '\n')));

  // Answered as soon as complete, not before.
  const std::string_view exact = in.substr(0, lead + end + r.body.size());
  const Outcome again = run(exact, limits, std::nullopt);
  check(again.request && same_request(*again.request, r));
  const Outcome early = run(exact.substr(0, exact.size() - 1), limits, std::nullopt);
  check(!early.decided());

  const std::string* type = r.header("content-type");
  static_cast<void>(sluice::unsubscribe::has_one_click_pair(type ? *type : std::string_view{}, r.body));
}

// The reader waits: the bytes must be an unfinished request within the caps.
void check_waiting(std::string_view in, const HttpLimits& limits) {
  const std::size_t lead = std::min(in.find_first_not_of("\r\n"), in.size());
  const std::string_view s = in.substr(lead);
  std::size_t head_length = 0;
  const std::size_t end = head_end(s, head_length);
  if (end == std::string_view::npos) {
    check(s.size() < limits.max_head);
  } else {
    check(end <= limits.max_head && s.size() - end < limits.max_body);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  static constexpr HttpLimits kLimits[] = {
      HttpLimits{},
      HttpLimits{.max_head = 64, .max_body = 32, .max_headers = 4},
      HttpLimits{.max_head = 256, .max_body = 64, .max_headers = 8},
      HttpLimits{.max_head = 8 * 1024, .max_body = 0, .max_headers = 1},
  };
  const HttpLimits& limits = kLimits[mode & 3];

  const Outcome whole = run(in, limits, std::nullopt);
  const Outcome split = run(in, limits, (mode >> 2) & 7);
  check(same_outcome(whole, split));
  if (whole.request) check_request(*whole.request, in, limits);
  if (!whole.decided()) check_waiting(in, limits);
  return 0;
}
