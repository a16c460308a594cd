// HTTP/1.1 request parsing for sluice-unsubscribe (RFC 9112): bytes in, one
// request out, or the status code to refuse it with. Pure: never sees a
// socket, so tests feed it a byte at a time.
//
// Deliberately small, because it faces the network (behind the operator's
// web server, but still): one request per connection (the server answers
// with Connection: close), origin-form targets only, HTTP/1.0 and 1.1 only,
// a body only with Content-Length. Refusals, each with its status:
//   400 malformed request line or header, obs-fold, bare CR, a missing
//       (HTTP/1.1) or repeated Host, conflicting Content-Length values
//   411 Transfer-Encoding (chunked or any other: RFC 9112 6.1 allows us to
//       insist on Content-Length, and refusing it closes the request
//       smuggling door), or a POST without Content-Length
//   413 Content-Length over the body cap
//   431 request line plus headers over the head cap, or too many headers
//   505 an HTTP version other than 1.0 and 1.1
// Guarantees: memory stays within the head cap plus the body cap (bytes fed
// beyond them are dropped, the request is refused); every length is capped;
// hostile input yields a refusal, never a crash.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace sluice::unsubscribe {

struct HttpLimits {
  std::size_t max_head = 8 * 1024;  // request line + headers + the empty line
  std::size_t max_body = 4 * 1024;
  std::size_t max_headers = 64;
};

struct HttpRequest {
  std::string method;  // as sent, case-sensitive (RFC 9110 9.1)
  std::string target;  // origin-form: "/path?query"
  int minor_version = 1;  // HTTP/1.x
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased, values trimmed
  std::string body;

  // The first value of header |lower_name|, or nullptr.
  const std::string* header(std::string_view lower_name) const;
  // The target without its query.
  std::string_view path() const;
};

class HttpRequestReader {
 public:
  explicit HttpRequestReader(HttpLimits limits = {}) : limits_(limits) {}

  void feed(std::string_view bytes);
  // The request once its head and body are complete; nullopt: need more.
  // After an error, refusal_status() says how to answer; the reader is done.
  Result<std::optional<HttpRequest>> next();
  int refusal_status() const { return refusal_status_; }
  // Bytes received so far (0: the client sent nothing at all).
  std::size_t received() const { return received_; }

 private:
  Error refuse(int status, std::string reason);
  Result<std::optional<HttpRequest>> parse_head(std::string_view head);

  HttpLimits limits_;
  std::string buffer_;
  std::size_t received_ = 0;
  std::size_t scanned_ = 0;    // head end not before this offset
  std::size_t body_start_ = 0;  // 0 until the head is parsed
  std::size_t body_length_ = 0;
  std::optional<HttpRequest> pending_;  // head parsed, body still coming
  bool done_ = false;
  int refusal_status_ = 0;
};

}  // namespace sluice::unsubscribe
