// sluicectl scan stats [ACCOUNT] [--days N]: how each account's mail
// scanned (sluice-milter counts per account and day in Redis), so an
// operator finds the customer whose spam rate climbs.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ctl/command.h"

namespace sluice::ctl {

struct ScanCounts {
  std::int64_t scanned = 0, spam = 0, virus = 0, failed = 0, skipped = 0;
  double bad_rate() const { return scanned == 0 ? 0.0 : static_cast<double>(spam + virus) / static_cast<double>(scanned); }
};

// Adds one day's hash (HGETALL's field/value pairs) to |counts|; unknown
// fields and non-numbers are ignored (the hash is ours, but Redis is shared).
void add_scan_fields(ScanCounts& counts, const std::vector<std::string>& fields_and_values);

// Rows for the table: worst (spam + virus) rate first, then most scanned.
std::vector<std::pair<std::string, ScanCounts>> rank_scan_counts(const std::map<std::string, ScanCounts>& by_account);

int run_scan(const CommandContext& context);

}  // namespace sluice::ctl
