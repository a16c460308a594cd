// Tests for unsubscribe/http_response.* and unsubscribe/pages.*: framing,
// the fixed safety headers, HEAD, and escaping of what a token carries.
#include "unsubscribe/http_response.h"

#include <gtest/gtest.h>

#include "unsubscribe/pages.h"

namespace sluice::unsubscribe {
namespace {

constexpr std::int64_t kNow = 1'700'000'000;  // Tue, 14 Nov 2023 22:13:20 GMT

TEST(HttpResponse, RendersStatusDateFramingAndSafetyHeaders) {
  HttpResponse response = text_response(503, "later");
  response.headers.emplace_back("Retry-After", "120");
  const std::string out = render_response(response, false, kNow);
  EXPECT_TRUE(out.starts_with("HTTP/1.1 503 Service Unavailable\r\n")) << out;
  for (const char* want : {"\r\nDate: Tue, 14 Nov 2023 22:13:20 GMT\r\n", "\r\nConnection: close\r\n",
                           "\r\nCache-Control: no-store\r\n", "\r\nReferrer-Policy: no-referrer\r\n",
                           "\r\nRetry-After: 120\r\n", "\r\nContent-Type: text/plain; charset=utf-8\r\n",
                           "\r\nContent-Length: 6\r\n\r\nlater\n"}) {
    EXPECT_NE(out.find(want), std::string::npos) << "missing " << want << " in\n" << out;
  }
  EXPECT_TRUE(out.ends_with("\r\n\r\nlater\n"));
}

TEST(HttpResponse, HeadKeepsTheLengthButSendsNoBody) {
  const std::string out = render_response(text_response(200, "hello"), true, kNow);
  EXPECT_NE(out.find("Content-Length: 6\r\n"), std::string::npos);
  EXPECT_TRUE(out.ends_with("\r\n\r\n")) << out;
}

TEST(Pages, ConfirmationPagePostsTheOneClickPairAndEscapesTheRecipient) {
  const HttpResponse page = confirmation_page("\"<script>\"@example.com");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(page.body.find("<script>"), std::string::npos) << page.body;
  EXPECT_NE(page.body.find("&quot;&lt;script&gt;&quot;@example.com"), std::string::npos) << page.body;
  EXPECT_NE(page.body.find("<form method=\"post\">"), std::string::npos);
  EXPECT_NE(page.body.find("name=\"List-Unsubscribe\" value=\"One-Click\""), std::string::npos);
}

TEST(Pages, HtmlEscapeCoversAllFiveCharacters) { EXPECT_EQ(html_escape("&<>\"'a"), "&amp;&lt;&gt;&quot;&#39;a"); }

}  // namespace
}  // namespace sluice::unsubscribe
