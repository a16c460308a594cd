#include "common/log.h"

#include <gtest/gtest.h>
#include <syslog.h>

#include <string>
#include <vector>

namespace sluice {
namespace {

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LogOptions options;
    options.ident = "sluice-test";
    options.to_stderr = true;
    options.level = LogLevel::kInfo;
    log_init(options);
    log_set_sink([this](LogLevel level, std::string_view line) { lines_.emplace_back(level, line); });
  }
  void TearDown() override { log_set_sink(nullptr); }

  std::vector<std::pair<LogLevel, std::string>> lines_;
};

TEST_F(LogTest, FiltersBelowConfiguredLevel) {
  log_debug("hidden %d", 1);
  log_info("shown %d", 2);
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0].second, "shown 2");
}

// Postfix prefixes severities the same way; operators grep for "warning:".
TEST_F(LogTest, PrefixesSeverityLikePostfix) {
  log_warn("redis %s", "down");
  log_error("disk %s", "full");
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_EQ(lines_[0].second, "warning: redis down");
  EXPECT_EQ(lines_[1].second, "error: disk full");
}

TEST_F(LogTest, CutsOverlongLines) {
  const std::string huge(10000, 'x');
  log_info("%s", huge.c_str());
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_LT(lines_[0].second.size(), 2100u);
}

TEST(LogEscape, EscapesControlBytesSoOneEventStaysOneLine) {
  EXPECT_EQ(log_escape("a\r\nb"), "a\\x0d\\x0ab");
  EXPECT_EQ(log_escape(std::string_view("nul\0x", 5)), "nul\\x00x");
  EXPECT_EQ(log_escape("back\\slash"), "back\\x5cslash");
  EXPECT_EQ(log_escape("caf\xc3\xa9"), "caf\\xc3\\xa9");
}

TEST(LogEscape, CutsLongTextAndMarksTheCut) {
  EXPECT_EQ(log_escape("abcdefgh", 3), "abc...");
  EXPECT_EQ(log_escape("abc", 3), "abc");
}

TEST(LogConfigValues, ParsesFacilitiesAndLevels) {
  EXPECT_EQ(*parse_syslog_facility("mail"), LOG_MAIL);
  EXPECT_EQ(*parse_syslog_facility("local7"), LOG_LOCAL7);
  EXPECT_FALSE(parse_syslog_facility("kern").ok());
  EXPECT_EQ(*parse_log_level("warning"), LogLevel::kWarning);
  EXPECT_FALSE(parse_log_level("verbose").ok());
  EXPECT_EQ(log_level_name(LogLevel::kError), "error");
}

}  // namespace
}  // namespace sluice
