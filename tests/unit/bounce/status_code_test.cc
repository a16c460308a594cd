#include "bounce/status_code.h"

#include <gtest/gtest.h>

namespace sluice::bounce {
namespace {

TEST(EnhancedStatus, ParsesWholeCodes) {
  EXPECT_EQ(parse_enhanced_status(" 5.1.10 ")->str(), "5.1.10");
  EXPECT_EQ(parse_enhanced_status("4.2.2")->str(), "4.2.2");
  EXPECT_FALSE(parse_enhanced_status("5.1"));
  EXPECT_FALSE(parse_enhanced_status("3.1.1"));
  EXPECT_FALSE(parse_enhanced_status("5.8.1"));  // subjects are 0-7
  EXPECT_FALSE(parse_enhanced_status("5.1.1 extra"));
  EXPECT_FALSE(parse_enhanced_status("5.1.1000"));
}

TEST(EnhancedStatus, FindsTheFirstCodeInText) {
  struct Case {
    const char* text;
    const char* want;  // "" : none
  } cases[] = {
      {"said: 550 5.1.1 <a@b>: User unknown", "5.1.1"},
      {"550-5.7.26 Unauthenticated", "5.7.26"},
      {"(#5.2.2)", "5.2.2"},
      {"host [192.5.1.10] said 550 no", ""},       // inside an address
      {"Exim 4.94.2 then 5.1.1", "5.1.1"},          // 4.94.2: subject over 7
      {"version 5.1.1.2", ""},                      // a dotted number
      {"back on 5.1.2024", ""},                     // a date
      {"", ""},
  };
  for (const Case& c : cases) {
    auto got = find_enhanced_status(c.text);
    EXPECT_EQ(got ? got->str() : "", c.want) << c.text;
  }
}

TEST(SmtpCode, FindsReplyCodesWithContext) {
  EXPECT_EQ(find_smtp_code("Remote host said: 554 delivery error"), 554);
  EXPECT_EQ(find_smtp_code("returned '550 5.1.1 RESOLVER'"), 550);
  EXPECT_EQ(find_smtp_code("550-5.1.1 The email"), 550);
  EXPECT_FALSE(find_smtp_code("we have 5500 users and 250 ok"));
  EXPECT_FALSE(find_smtp_code("room 451b"));
}

}  // namespace
}  // namespace sluice::bounce
