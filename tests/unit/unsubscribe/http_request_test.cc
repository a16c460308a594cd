// Tests for unsubscribe/http_request.*: requests split across reads (down to
// one byte at a time), the caps, and every refusal with its status code.
#include "unsubscribe/http_request.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice::unsubscribe {
namespace {

const std::string kPost =
    "POST /unsubscribe/TOKEN HTTP/1.1\r\n"
    "Host: relay.example\r\n"
    "Content-Type: application/x-www-form-urlencoded\r\n"
    "Content-Length: 26\r\n"
    "\r\n"
    "List-Unsubscribe=One-Click";

// Feeds |text| in pieces of |step| bytes; returns the request, or the
// refusal status as a negative number, or 0 when it is still incomplete.
struct Fed {
  std::optional<HttpRequest> request;
  int status = 0;
};
Fed feed_in_steps(const std::string& text, std::size_t step, HttpLimits limits = {}) {
  HttpRequestReader reader(limits);
  Fed fed;
  for (std::size_t pos = 0; pos < text.size(); pos += step) {
    reader.feed(std::string_view(text).substr(pos, step));
    auto next = reader.next();
    if (!next) {
      fed.status = reader.refusal_status();
      return fed;
    }
    if (next->has_value()) {
      fed.request = std::move(**next);
      return fed;
    }
  }
  return fed;
}

int status_of(const std::string& text) { return feed_in_steps(text, text.size() + 1).status; }

TEST(HttpRequestReader, ParsesAPostWhetherFedAtOnceOrByteByByte) {
  for (std::size_t step : {kPost.size(), std::size_t{1}, std::size_t{7}}) {
    const Fed fed = feed_in_steps(kPost, step);
    ASSERT_TRUE(fed.request.has_value()) << "step " << step << ": got status " << fed.status;
    EXPECT_EQ(fed.request->method, "POST");
    EXPECT_EQ(fed.request->target, "/unsubscribe/TOKEN");
    EXPECT_EQ(fed.request->minor_version, 1);
    EXPECT_EQ(fed.request->body, "List-Unsubscribe=One-Click");
    ASSERT_NE(fed.request->header("content-type"), nullptr);
    EXPECT_EQ(*fed.request->header("content-type"), "application/x-www-form-urlencoded");
  }
}

TEST(HttpRequestReader, WaitsForTheWholeBody) {
  HttpRequestReader reader;
  reader.feed(kPost.substr(0, kPost.size() - 1));
  auto next = reader.next();
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->has_value());
  reader.feed(kPost.substr(kPost.size() - 1));
  next = reader.next();
  ASSERT_TRUE(next.ok() && next->has_value());
  EXPECT_EQ((*next)->body, "List-Unsubscribe=One-Click");
}

TEST(HttpRequestReader, AcceptsBareLfLeadingBlankLinesHttp10AndAQuery) {
  const Fed fed = feed_in_steps("\r\n\nGET /u/T?utm=x HTTP/1.0\nX-A:  spaced value \t\n\n", 3);
  ASSERT_TRUE(fed.request.has_value()) << fed.status;
  EXPECT_EQ(fed.request->minor_version, 0);
  EXPECT_EQ(fed.request->path(), "/u/T");
  EXPECT_EQ(*fed.request->header("x-a"), "spaced value");
  EXPECT_EQ(fed.request->body, "");
}

TEST(HttpRequestReader, LeadingBlankLinesDoNotCountAgainstTheCap) {
  // Found by fuzzing: blank lines were counted before being dropped, so a
  // request behind many of them parsed when split but not when whole.
  const HttpLimits tiny{64, 32, 4};
  const std::string request = std::string(100, '\r') + "\nGET /u/T HTTP/1.0\r\n\r\n";
  for (std::size_t step : {request.size(), std::size_t{1}, std::size_t{13}}) {
    const Fed fed = feed_in_steps(request, step, tiny);
    ASSERT_TRUE(fed.request.has_value()) << "step " << step << ": got status " << fed.status;
    EXPECT_EQ(fed.request->target, "/u/T");
  }
}

TEST(HttpRequestReader, RefusesEachMalformedRequestWithItsStatus) {
  struct Case {
    const char* why;
    std::string request;
    int want;
  } cases[] = {
      {"chunked body", "POST /u/T HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", 411},
      {"TE and Content-Length (smuggling)",
       "POST /u/T HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 411},
      {"POST without a length", "POST /u/T HTTP/1.1\r\nHost: h\r\n\r\n", 411},
      {"body over 4 KiB", "POST /u/T HTTP/1.1\r\nHost: h\r\nContent-Length: 4097\r\n\r\n", 413},
      {"absurd length", "POST /u/T HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413},
      {"conflicting lengths", "POST /u/T HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
       400},
      {"negative length", "POST /u/T HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400},
      {"missing Host in 1.1", "GET /u/T HTTP/1.1\r\n\r\n", 400},
      {"two Hosts", "GET /u/T HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"HTTP/2.0", "GET /u/T HTTP/2.0\r\nHost: h\r\n\r\n", 505},
      {"HTTP/0.9 style", "GET /u/T\r\n\r\n", 400},
      {"lowercase version", "GET /u/T http/1.1\r\nHost: h\r\n\r\n", 400},
      {"absolute-form target", "GET http://h/u/T HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"asterisk target", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"two spaces", "GET  /u/T HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"bad method byte", "G(T /u/T HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"obs-fold", "GET /u/T HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n", 400},
      {"space before colon", "GET /u/T HTTP/1.1\r\nHost : h\r\n\r\n", 400},
      {"header without colon", "GET /u/T HTTP/1.1\r\nHost h\r\n\r\n", 400},
      {"bare CR", "GET /u/T HTTP/1.1\r\nHost: h\rX\r\n\r\n", 400},
      {"NUL in a value", std::string("GET /u/T HTTP/1.1\r\nHost: h") + '\0' + "\r\n\r\n", 400},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(status_of(c.request), c.want) << c.why;
    // Split delivery must not change the verdict.
    EXPECT_EQ(feed_in_steps(c.request, 1).status, c.want) << c.why << " (byte by byte)";
  }
}

TEST(HttpRequestReader, RefusesAnOversizedHeadWith431EvenWithoutItsEnd) {
  // 8 KiB of header that never ends: refused once the cap is reached, not
  // buffered forever.
  std::string head = "GET /u/T HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(9000, 'a');
  EXPECT_EQ(feed_in_steps(head, 1000).status, 431);
  // Complete but too large.
  EXPECT_EQ(status_of(head + "\r\n\r\n"), 431);
  // Just under the cap is fine.
  HttpLimits limits;
  std::string fits = "GET /u/T HTTP/1.1\r\nHost: h\r\nX-Big: ";
  fits += std::string(limits.max_head - fits.size() - 4, 'a') + "\r\n\r\n";
  ASSERT_EQ(fits.size(), limits.max_head);
  EXPECT_TRUE(feed_in_steps(fits, 100).request.has_value());
}

TEST(HttpRequestReader, RefusesTooManyHeaderFields) {
  std::string request = "GET /u/T HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 70; ++i) request += "X-" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(status_of(request + "\r\n"), 431);
}

TEST(HttpRequestReader, KeepsMemoryBoundedUnderAFlood) {
  HttpRequestReader reader;
  const std::string chunk(64 * 1024, 'x');
  for (int i = 0; i < 64; ++i) reader.feed(chunk);  // 4 MiB, no line end
  auto next = reader.next();
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(reader.refusal_status(), 431);
  EXPECT_EQ(reader.received(), 64u * chunk.size());
}

TEST(HttpRequestReader, IgnoresBytesAfterTheRequest) {
  const Fed fed = feed_in_steps(kPost + "GET /next HTTP/1.1\r\n\r\n", 1000);
  ASSERT_TRUE(fed.request.has_value());
  EXPECT_EQ(fed.request->body, "List-Unsubscribe=One-Click");
}

TEST(HttpRequestReader, ReadsAGetBodyWhenALengthIsGiven) {
  const Fed fed = feed_in_steps("GET /u/T HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc", 2);
  ASSERT_TRUE(fed.request.has_value());
  EXPECT_EQ(fed.request->body, "abc");
}

}  // namespace
}  // namespace sluice::unsubscribe
