// A quota rule from sluice.conf ([quota NAME] sections): which request
// attributes form the key ("sasl_username", "sender_domain", ...), the limits
// on messages, recipients and bytes per fixed window, and what to answer when
// one is exceeded. Counting is done by the quota store in Redis.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sluice {

enum class QuotaMetric { kMessages, kRecipients, kBytes };
enum class QuotaKeyField { kSaslUsername, kSender, kSenderDomain, kClientAddress };
enum class QuotaAction { kDefer, kReject };

struct QuotaLimit {
  QuotaMetric metric = QuotaMetric::kMessages;
  std::uint64_t limit = 0;
  std::chrono::seconds window{0};
  friend bool operator==(const QuotaLimit&, const QuotaLimit&) = default;
};

struct QuotaRule {
  std::string name;
  std::vector<QuotaKeyField> key;  // all must be present in a request for the rule to apply
  std::vector<QuotaLimit> limits;
  QuotaAction action = QuotaAction::kDefer;
};

std::string_view quota_metric_name(QuotaMetric metric);      // "messages"
std::string_view quota_key_field_name(QuotaKeyField field);  // "sasl_username"
Result<QuotaMetric> parse_quota_metric(std::string_view name);

// "sasl_username" or "sasl_username+client_address"; no field twice.
Result<std::vector<QuotaKeyField>> parse_quota_key(std::string_view text);

// "100/1m, 10000/1d" for |metric|; for bytes the count takes K, M, G
// suffixes (powers of 1024). Windows from 1s to 31d. No window twice.
Result<std::vector<QuotaLimit>> parse_quota_limits(QuotaMetric metric, std::string_view text);

// "messages/1d" style label of a limit, used in replies and overrides.
std::string quota_limit_label(const QuotaLimit& limit);

}  // namespace sluice
