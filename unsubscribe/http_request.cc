#include "unsubscribe/http_request.h"

#include <algorithm>
#include <cstdint>

#include "common/ascii.h"

namespace sluice::unsubscribe {
namespace {

constexpr std::size_t kMaxMethodLength = 16;

// RFC 9110 5.6.2 tchar.
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view text) { return !text.empty() && std::all_of(text.begin(), text.end(), is_tchar); }

// Field values may hold HTAB, visible ASCII and obs-text, no other controls.
bool is_field_value(std::string_view text) {
  return std::none_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
  });
}

bool is_target(std::string_view text) {
  if (text.empty() || text.front() != '/') return false;
  return std::all_of(text.begin(), text.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

std::string_view trim_ows(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// A Content-Length value: digits, or a list of identical ones (RFC 9112
// 6.3 item 5). nullopt: invalid; SIZE_MAX: larger than anything we take.
std::optional<std::size_t> parse_content_length(std::string_view value) {
  std::optional<std::size_t> result;
  while (true) {
    const std::size_t comma = value.find(',');
    const std::string_view item = trim_ows(value.substr(0, comma));
    if (item.empty() || !std::all_of(item.begin(), item.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::nullopt;
    }
    std::size_t n = 0;
    for (char c : item) {
      n = n > SIZE_MAX / 100 ? SIZE_MAX / 100 : n * 10 + static_cast<std::size_t>(c - '0');
    }
    if (result && *result != n) return std::nullopt;
    result = n;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return result;
}

}  // namespace

const std::string* HttpRequest::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return &value;
  }
  return nullptr;
}

std::string_view HttpRequest::path() const {
  const std::string_view t = target;
  return t.substr(0, t.find('?'));
}

void HttpRequestReader::feed(std::string_view bytes) {
  received_ += bytes.size();
  if (done_) return;
  if (buffer_.empty() && !pending_) {
    // RFC 9112 2.2: empty lines before the request line are ignored; they
    // are dropped here, before the cap counts them, wherever reads split.
    const std::size_t start = bytes.find_first_not_of("\r\n");
    bytes.remove_prefix(start == std::string_view::npos ? bytes.size() : start);
  }
  const std::size_t cap = limits_.max_head + limits_.max_body;
  const std::size_t room = cap > buffer_.size() ? cap - buffer_.size() : 0;
  buffer_.append(bytes.substr(0, room));
}

Error HttpRequestReader::refuse(int status, std::string reason) {
  done_ = true;
  refusal_status_ = status;
  buffer_.clear();
  buffer_.shrink_to_fit();
  return make_error(Errc::kInvalidInput, std::move(reason));
}

Result<std::optional<HttpRequest>> HttpRequestReader::next() {
  if (done_) return refuse(refusal_status_ != 0 ? refusal_status_ : 400, "request already complete");
  if (!pending_) {
    std::size_t head_end = std::string::npos;
    std::size_t head_length = 0;
    std::size_t i = scanned_;
    for (; (i = buffer_.find('\n', i)) != std::string::npos; ++i) {
      if (i + 1 < buffer_.size() && buffer_[i + 1] == '\n') {
        head_length = i + 1;
        head_end = i + 2;
        break;
      }
      if (i + 2 < buffer_.size() && buffer_[i + 1] == '\r' && buffer_[i + 2] == '\n') {
        head_length = i + 1;
        head_end = i + 3;
        break;
      }
      if (i + 2 >= buffer_.size()) break;  // the blank line may still be coming
    }
    if (head_end == std::string::npos) {
      if (buffer_.size() >= limits_.max_head) return refuse(431, "request head over the size cap");
      scanned_ = i == std::string::npos ? buffer_.size() : i;
      return std::optional<HttpRequest>{};
    }
    if (head_end > limits_.max_head) return refuse(431, "request head over the size cap");
    auto head = parse_head(std::string_view(buffer_).substr(0, head_length));
    if (!head) return head;
    pending_ = std::move(**head);
    body_start_ = head_end;
  }
  if (buffer_.size() < body_start_ + body_length_) return std::optional<HttpRequest>{};
  pending_->body = buffer_.substr(body_start_, body_length_);
  std::optional<HttpRequest> request = std::move(pending_);
  pending_.reset();
  done_ = true;
  buffer_.clear();
  return request;
}

Result<std::optional<HttpRequest>> HttpRequestReader::parse_head(std::string_view head) {
  std::vector<std::string_view> lines;
  while (!head.empty()) {
    const std::size_t lf = head.find('\n');
    std::string_view line = head.substr(0, lf);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // RFC 9112 2.2: a bare CR is invalid.
    if (line.find('\r') != std::string_view::npos) return refuse(400, "bare CR in the request head");
    lines.push_back(line);
    if (lf == std::string_view::npos) break;
    head.remove_prefix(lf + 1);
  }
  if (lines.empty()) return refuse(400, "empty request");

  HttpRequest request;
  const std::string_view line = lines.front();
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return refuse(400, "malformed request line");
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method) || method.size() > kMaxMethodLength) return refuse(400, "malformed method");
  if (!is_target(target)) return refuse(400, "request target is not an absolute path");
  if (version == "HTTP/1.1") {
    request.minor_version = 1;
  } else if (version == "HTTP/1.0") {
    request.minor_version = 0;
  } else if (version.size() == 8 && version.starts_with("HTTP/") && version[6] == '.' &&
             version[5] >= '0' && version[5] <= '9' && version[7] >= '0' && version[7] <= '9') {
    return refuse(505, "HTTP version not supported");
  } else {
    return refuse(400, "malformed HTTP version");
  }
  request.method = method;
  request.target = target;

  if (lines.size() - 1 > limits_.max_headers) return refuse(431, "too many header fields");
  for (std::size_t n = 1; n < lines.size(); ++n) {
    const std::string_view field = lines[n];
    // RFC 9112 5.2: obs-fold is refused rather than unfolded.
    if (field.empty() || field.front() == ' ' || field.front() == '\t') return refuse(400, "obsolete line folding");
    const std::size_t colon = field.find(':');
    // RFC 9112 5.1: no whitespace between the name and the colon.
    if (colon == std::string_view::npos || !is_token(field.substr(0, colon))) {
      return refuse(400, "malformed header field");
    }
    const std::string_view value = trim_ows(field.substr(colon + 1));
    if (!is_field_value(value)) return refuse(400, "control character in a header field");
    request.headers.emplace_back(ascii_lower(field.substr(0, colon)), std::string(value));
  }

  std::size_t hosts = 0;
  std::optional<std::size_t> length;
  bool has_length = false;
  for (const auto& [name, value] : request.headers) {
    if (name == "host") {
      ++hosts;
    } else if (name == "transfer-encoding") {
      return refuse(411, "Transfer-Encoding is not accepted: send Content-Length");
    } else if (name == "content-length") {
      const auto parsed = parse_content_length(value);
      if (!parsed || (has_length && length != parsed)) return refuse(400, "invalid Content-Length");
      has_length = true;
      length = parsed;
    }
  }
  // RFC 9112 3.2: exactly one Host in HTTP/1.1, at most one in 1.0.
  if (hosts > 1 || (hosts == 0 && request.minor_version == 1)) return refuse(400, "missing or repeated Host");
  if (!has_length && request.method == "POST") return refuse(411, "POST without Content-Length");
  if (has_length && *length > limits_.max_body) return refuse(413, "body over the size cap");
  body_length_ = has_length ? *length : 0;
  return std::optional<HttpRequest>{std::move(request)};
}

}  // namespace sluice::unsubscribe
