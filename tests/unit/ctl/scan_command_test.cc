#include "ctl/scan_command.h"

#include <gtest/gtest.h>

namespace sluice::ctl {
namespace {

TEST(ScanStats, FieldsAddUpAndJunkIsIgnored) {
  ScanCounts counts;
  add_scan_fields(counts, {"scanned", "10", "spam", "2", "virus", "1", "bogus", "99", "failed", "x"});
  add_scan_fields(counts, {"scanned", "5", "skipped", "1", "spam"});
  EXPECT_EQ(counts.scanned, 15);
  EXPECT_EQ(counts.spam, 2);
  EXPECT_EQ(counts.virus, 1);
  EXPECT_EQ(counts.failed, 0);
  EXPECT_EQ(counts.skipped, 1);
  EXPECT_DOUBLE_EQ(counts.bad_rate(), 0.2);
}

TEST(ScanStats, WorstRateFirstThenVolume) {
  std::map<std::string, ScanCounts> by_account;
  by_account["quiet"] = ScanCounts{10, 0, 0, 0, 0};
  by_account["busy"] = ScanCounts{1000, 0, 0, 0, 0};
  by_account["spammy"] = ScanCounts{100, 30, 0, 0, 0};
  by_account["infected"] = ScanCounts{10, 0, 5, 0, 0};
  std::vector<std::string> order;
  for (const auto& [name, counts] : rank_scan_counts(by_account)) order.push_back(name);
  EXPECT_EQ(order, (std::vector<std::string>{"infected", "spammy", "busy", "quiet"}));
}

}  // namespace
}  // namespace sluice::ctl
