#include "common/config_values.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

using std::chrono::milliseconds;

TEST(ConfigValues, ParsesBooleans) {
  for (const char* yes : {"yes", "true", "on", "1"}) EXPECT_TRUE(*parse_bool_value(yes)) << yes;
  for (const char* no : {"no", "false", "off", "0"}) EXPECT_FALSE(*parse_bool_value(no)) << no;
  EXPECT_FALSE(parse_bool_value("Yes please").ok());
}

TEST(ConfigValues, ParsesIntegersWithinRange) {
  EXPECT_EQ(*parse_int_value("6379", 1, 65535), 6379);
  struct Case {
    const char* text;
    const char* why;
  } bad[] = {
      {"0", "below the range"},  {"65536", "above the range"}, {"12a", "trailing garbage"},
      {"", "empty"},             {"+5", "explicit sign"},      {"99999999999999999999", "overflow"},
  };
  for (const auto& c : bad) EXPECT_FALSE(parse_int_value(c.text, 1, 65535).ok()) << c.why;
}

TEST(ConfigValues, ParsesDurationsWithUnits) {
  const milliseconds lo{1}, hi{86400000LL * 30};
  EXPECT_EQ(*parse_duration_value("250ms", lo, hi), milliseconds{250});
  EXPECT_EQ(*parse_duration_value("2s", lo, hi), milliseconds{2000});
  EXPECT_EQ(*parse_duration_value("2", lo, hi), milliseconds{2000});  // bare number: seconds
  EXPECT_EQ(*parse_duration_value("5m", lo, hi), milliseconds{300000});
  EXPECT_EQ(*parse_duration_value("1h", lo, hi), milliseconds{3600000});
  EXPECT_EQ(*parse_duration_value("1d", lo, hi), milliseconds{86400000});
  EXPECT_FALSE(parse_duration_value("5 s", lo, hi).ok());
  EXPECT_FALSE(parse_duration_value("5y", lo, hi).ok());
  EXPECT_FALSE(parse_duration_value("ms", lo, hi).ok());
  EXPECT_FALSE(parse_duration_value("31d", lo, hi).ok());
}

TEST(ConfigValues, ErrorNamesTheAllowedRange) {
  auto r = parse_duration_value("1ms", milliseconds{10}, milliseconds{60000});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().detail.find("from 10ms to 1m"), std::string::npos) << r.error().detail;
}

TEST(ConfigValues, FormatsDurationsInTheLargestExactUnit) {
  EXPECT_EQ(format_duration(milliseconds{500}), "500ms");
  EXPECT_EQ(format_duration(milliseconds{5000}), "5s");
  EXPECT_EQ(format_duration(milliseconds{120000}), "2m");
  EXPECT_EQ(format_duration(milliseconds{0}), "0ms");
}

TEST(ConfigValues, SuggestsNearMisses) {
  EXPECT_EQ(closest_match("prot", {"host", "port"}), "port");
  EXPECT_EQ(closest_match("completely_else", {"host", "port"}), "");
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

}  // namespace
}  // namespace sluice
