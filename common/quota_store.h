// QuotaStore: the quota counters and per-key limit overrides in Redis, for
// sluicectl (show, override, reset). sluice-policyd does not use this class:
// it checks and charges inside its one policy script (policy_check.h), using
// the key builders below, which are the only code naming quota keys.
//
// A quota key string names whose usage a rule counts: the rule's key fields
// with their values from the request, in the canonical field order
// sasl_username, sender, sender_domain, client_address, as
// "field=value[,field=value...]" ("sender_domain=example.com,client_address=192.0.2.1").
// In values, '%', ',' and '=' are percent-encoded (%25, %2C, %3D).
// Counters are fixed windows aligned to the Unix epoch: one Redis string per
// (rule, metric, window, window index, key string), expiring at the window's
// end plus kQuotaCounterSlack. An override is a field "<metric>/<window_s>"
// of the key string's override hash, replacing the configured limit of every
// rule with that key shape and that (metric, window). Layout:
// doc/redis-schema.md.
//
// Owns: the key prefix and a copy of the rules; borrows a RedisConn (one per
// thread). Not thread-safe, like the connection.
// Guarantees: the current window is computed from Redis's clock (TIME), never
// this node's. Errors: kInvalidInput for a malformed key string, kNotFound
// when no rule has the key string's shape (or the metric and window), the
// connection's errors for transport, kProtocol for an unexpected reply.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/quota_rule.h"
#include "common/redis_conn.h"
#include "common/result.h"

namespace sluice {

// Counters outlive their window by this much (clock skew between Redis
// replicas, and a "sluicectl quota show" just after the window ends).
inline constexpr std::chrono::milliseconds kQuotaCounterSlack{60'000};
// Limits are handled as Lua numbers (doubles): larger ones are capped here.
inline constexpr std::uint64_t kMaxQuotaLimit = 1ULL << 53;

struct QuotaKeyPart {
  QuotaKeyField field = QuotaKeyField::kSaslUsername;
  std::string value;  // raw (not escaped)
  friend bool operator==(const QuotaKeyPart&, const QuotaKeyPart&) = default;
};

// The canonical key string of `parts` (sorted into canonical field order,
// values escaped). Parts must name distinct fields with non-empty values.
std::string format_quota_key_string(std::vector<QuotaKeyPart> parts);
// Parses a key string (fields in any order, each once, values non-empty) and
// normalises the values as requests carry them: sender_domain lowercased,
// sender as the canonical mailbox. Returns the parts in canonical order.
Result<std::vector<QuotaKeyPart>> parse_quota_key_string(std::string_view text);
// True when `rule` is keyed on exactly the fields of `parts` (any order).
bool quota_rule_has_shape(const QuotaRule& rule, const std::vector<QuotaKeyPart>& parts);

// "<prefix>q:<rule>:<metric>:<window_s>:": a counter key without its window
// index and key string.
std::string quota_counter_stem(std::string_view key_prefix, std::string_view rule, QuotaMetric metric,
                               std::chrono::seconds window);
// The counter of window `index` (floor(unix_ms / window_ms)).
std::string quota_counter_key(std::string_view key_prefix, std::string_view rule, QuotaMetric metric,
                              std::chrono::seconds window, std::int64_t index, std::string_view key_string);
// "<prefix>qo:<key string>": the override hash of a key string.
std::string quota_override_key(std::string_view key_prefix, std::string_view key_string);
// "messages/86400": the override field of a (metric, window).
std::string quota_override_field(QuotaMetric metric, std::chrono::seconds window);

// One limit of one rule for one key string, now.
struct QuotaLimitStatus {
  std::string rule;
  QuotaAction action = QuotaAction::kDefer;
  QuotaLimit configured;                       // from sluice.conf
  std::optional<std::uint64_t> override_limit;  // from the override hash
  std::uint64_t used = 0;                      // in the current window
  std::int64_t reset_at_ms = 0;                // end of the current window (Unix ms)
  std::uint64_t effective_limit() const { return override_limit ? *override_limit : configured.limit; }
};

class QuotaStore {
 public:
  QuotaStore(RedisConn& conn, std::string key_prefix, std::vector<QuotaRule> rules);

  // Every limit of every rule with the key string's shape, in rule order.
  Result<std::vector<QuotaLimitStatus>> show(std::string_view key_string);
  // Sets the limit of (metric, window) for this key string; some rule with
  // its shape must have that (metric, window). limit <= kMaxQuotaLimit.
  Status set_override(std::string_view key_string, QuotaMetric metric, std::chrono::seconds window,
                      std::uint64_t limit);
  // Removes that override; true if there was one.
  Result<bool> clear_override(std::string_view key_string, QuotaMetric metric, std::chrono::seconds window);
  // Deletes the current window's counters of every rule with the key
  // string's shape; returns how many existed.
  Result<std::uint64_t> reset(std::string_view key_string);

 private:
  // The parsed key string and the rules with its shape (kNotFound if none).
  Result<std::vector<const QuotaRule*>> matching(std::string_view key_string, std::string& canonical);
  // Redis's clock, Unix ms.
  Result<std::int64_t> redis_now_ms();

  RedisConn& conn_;
  std::string prefix_;
  std::vector<QuotaRule> rules_;
};

}  // namespace sluice
