// HTTP/1.1 responses of sluice-unsubscribe, rendered to bytes. Pure.
//
// Every response closes the connection (one request per connection), is
// never cached (a token's page must not outlive a suppression in a shared
// cache), leaks no Referer (the URL holds the token) and carries headers
// that keep a browser from running anything (RFC 9110 for the framing).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::unsubscribe {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra: Allow, Retry-After

  friend bool operator==(const HttpResponse&, const HttpResponse&) = default;
};

// "OK", "Forbidden"...; "Unknown" for a code we never send.
std::string_view http_reason_phrase(int status);

// Status line, Date (|now_unix_s|), the fixed headers, |response.headers|,
// Content-Length and the body (left out for HEAD: |head_only|).
std::string render_response(const HttpResponse& response, bool head_only, std::int64_t now_unix_s);

// A short text/plain response "<text>\n".
HttpResponse text_response(int status, std::string_view text);

}  // namespace sluice::unsubscribe
