// sluicectl quota: show the usage and limits of one quota key, override or
// restore its limits, reset its current counters (common/quota_store.h).
//
// Argument parsing and the check of settings against the configured rules
// are pure functions declared here; run_quota() applies them through a
// QuotaStore built from the config's [quota NAME] rules. Every setting of a
// "set" is checked before any is written.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/quota_rule.h"
#include "common/result.h"
#include "ctl/command.h"

namespace sluice::ctl {

enum class QuotaCommandAction { kHelp, kShow, kSet, kUnset, kReset };

// "messages/1d=50000" (set) or "messages/1d" (unset).
struct QuotaSetting {
  QuotaMetric metric = QuotaMetric::kMessages;
  std::chrono::seconds window{0};
  std::optional<std::uint64_t> limit;  // set only
  friend bool operator==(const QuotaSetting&, const QuotaSetting&) = default;
};

struct QuotaArgs {
  QuotaCommandAction action = QuotaCommandAction::kHelp;
  std::string key;  // canonical key string
  std::vector<QuotaSetting> settings;
};

// Parses "METRIC/WINDOW=LIMIT" (`with_limit`) or "METRIC/WINDOW". WINDOW is
// a duration (1s to 31d, whole seconds); LIMIT a count from 0 to
// kMaxQuotaLimit, for bytes with an optional K, M, G or T (powers of 1024).
Result<QuotaSetting> parse_quota_setting(std::string_view text, bool with_limit);

// Parses the arguments after "quota"; the key string is checked and made
// canonical. Errors are usage errors.
Result<QuotaArgs> parse_quota_args(const std::vector<std::string>& args);

// Checks that some rule is keyed on the key string's fields and, for each
// setting, that such a rule limits its (metric, window); the error names the
// rules or limits that do exist. kNotFound.
Status check_quota_settings(const std::vector<QuotaRule>& rules, std::string_view key,
                            const std::vector<QuotaSetting>& settings);

int run_quota(const CommandContext& context);

}  // namespace sluice::ctl
