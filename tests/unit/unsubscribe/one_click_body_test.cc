// Tests for unsubscribe/one_click_body.*: the RFC 8058 pair in both form
// encodings, and bodies that must not count as a one-click request.
#include "unsubscribe/one_click_body.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice::unsubscribe {
namespace {

constexpr const char* kForm = "application/x-www-form-urlencoded";

TEST(OneClickBody, FindsThePairInUrlencodedBodies) {
  struct Case {
    const char* why;
    const char* content_type;
    const char* body;
    bool want;
  } cases[] = {
      {"exact, as RFC 8058 shows it", kForm, "List-Unsubscribe=One-Click", true},
      {"among other pairs", kForm, "a=b&List-Unsubscribe=One-Click&c=d", true},
      {"percent-encoded", kForm, "List%2DUnsubscribe=One%2dClick", true},
      {"case and a trailing newline forgiven", kForm, "list-unsubscribe=one-click\r\n", true},
      {"no content type", "", "List-Unsubscribe=One-Click", true},
      {"empty body", kForm, "", false},
      {"wrong value", kForm, "List-Unsubscribe=Yes", false},
      {"name only", kForm, "List-Unsubscribe", false},
      {"value in another name", kForm, "X-List-Unsubscribe=One-Click", false},
      {"plus is a space", kForm, "List-Unsubscribe=One+Click", false},
      {"broken escape", kForm, "List-Unsubscribe=One-Click%", false},
  };
  for (const Case& c : cases) EXPECT_EQ(has_one_click_pair(c.content_type, c.body), c.want) << c.why;
}

TEST(OneClickBody, FindsThePairInMultipartBodies) {
  const std::string body =
      "--XyZ\r\n"
      "Content-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n"
      "--XyZ\r\n"
      "Content-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n"
      "--XyZ--\r\n";
  EXPECT_TRUE(has_one_click_pair("multipart/form-data; boundary=XyZ", body));
  EXPECT_TRUE(has_one_click_pair("multipart/form-data; boundary=\"XyZ\"", body));
  EXPECT_FALSE(has_one_click_pair("multipart/form-data; boundary=Other", body));
  EXPECT_FALSE(has_one_click_pair("multipart/form-data", body));
  const std::string wrong =
      "--XyZ\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nNo\r\n--XyZ--\r\n";
  EXPECT_FALSE(has_one_click_pair("multipart/form-data; boundary=XyZ", wrong));
  // A multipart body is not read as urlencoded text.
  EXPECT_FALSE(has_one_click_pair("multipart/form-data; boundary=XyZ", "List-Unsubscribe=One-Click"));
}

TEST(OneClickBody, SurvivesHostileMultipart) {
  for (const char* body : {"--B", "--B\r\n", "--B\r\n\r\n", "--B\r\nContent-Disposition: form-data; name=\"",
                           "--B--", "----B\r\n--B\r\n--B"}) {
    EXPECT_FALSE(has_one_click_pair("multipart/form-data; boundary=B", body)) << body;
  }
  EXPECT_FALSE(has_one_click_pair("multipart/form-data; boundary=\"B", "--B"));
}

}  // namespace
}  // namespace sluice::unsubscribe
