// SuppressionStore: the suppression lists in Redis (recipients mail must not
// go to), for sluicectl and sluice-bounce. sluice-policyd does not use this
// class: it looks entries up inside its one policy script (policy_check.h),
// through suppression_entry_key() below.
//
// A list is global, per sending account (scope sasl_username, value = the
// SASL login) or per sender domain (scope sender_domain, value = the domain).
// Each entry is one Redis hash that expires by itself (PEXPIREAT) when it has
// an expiry; two sorted sets per list index it for export and counting, and
// expired members are dropped from them lazily (before every list and
// count), so neither ever shows an expired entry. Key layout:
// doc/redis-schema.md.
//
// Owns: nothing but the key prefix; borrows a RedisConn (blocking, one per
// thread). Not thread-safe, like the connection.
// Guarantees: inputs are validated and normalised here, at the API boundary:
// recipients through parse_mailbox() + lookup_key(), sender domains to
// lowercase, reasons to the four known ones. Time (since_ms when not given,
// "is it expired") is Redis's clock (TIME inside the scripts), never this
// node's. Errors: kInvalidInput for bad input, RedisConn's for transport,
// kProtocol for an unexpected reply.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/redis_conn.h"
#include "common/result.h"

namespace sluice {

// "global", "sasl_username", "sender_domain" (config and CLI spelling).
std::string_view suppression_scope_name(SuppressionScope scope);
Result<SuppressionScope> parse_suppression_scope(std::string_view name);

// True for "hard-bounce", "soft-bounce", "complaint", "unsubscribe", "manual".
bool is_suppression_reason(std::string_view reason);

inline constexpr std::size_t kMaxSuppressionNoteLength = 1000;
inline constexpr std::size_t kMaxSuppressionTrackingIdLength = 128;
inline constexpr std::size_t kMaxSuppressionScopeValueLength = 256;

struct SuppressionEntry {
  SuppressionScope scope = SuppressionScope::kGlobal;
  std::string scope_value;  // account name or domain; empty for global
  std::string recipient;    // normalised: Mailbox::lookup_key()
  std::string reason;       // hard-bounce | soft-bounce | complaint | unsubscribe | manual
  std::int64_t since_ms = 0;    // Unix ms; 0 in add(): now (Redis time)
  std::int64_t expires_ms = 0;  // Unix ms; 0 = never
  std::string tracking_id;      // message that caused it, may be empty
  std::string note;             // free text, may be empty (no CR, LF, NUL)
  friend bool operator==(const SuppressionEntry&, const SuppressionEntry&) = default;
};

// What add() does with the since of an entry that already exists.
enum class SinceOnUpdate {
  kKeep,     // keep the original since (the default: re-adding is idempotent)
  kReplace,  // take since_ms from the new entry (0: now)
};

struct SuppressionAdded {
  SuppressionEntry entry;  // as stored: normalised, since_ms filled in
  bool created = false;    // false: an existing entry was updated
};

struct SuppressionPage {
  std::vector<SuppressionEntry> entries;  // ordered by recipient (bytewise)
  std::string next_cursor;                // empty: no more entries
};

// Normalises and validates the (scope, value) pair: global wants an empty
// value, sasl_username any non-empty value without control bytes,
// sender_domain a domain (lowercased). Returns the value to store.
Result<std::string> normalize_suppression_scope_value(SuppressionScope scope, std::string_view value);
// Normalises a recipient address to its lookup key (kInvalidInput if it is not one).
Result<std::string> normalize_suppression_recipient(std::string_view recipient);

// The Redis key of one entry; `scope_value` and `recipient` already normalised.
std::string suppression_entry_key(std::string_view key_prefix, SuppressionScope scope, std::string_view scope_value,
                                  std::string_view recipient);

// The two indexes of a list ("<prefix>supidx:<scope>[:<value>]" by
// recipient, "supexp" by expiry); |scope_value| already normalised.
std::string suppression_name_index_key(std::string_view key_prefix, SuppressionScope scope,
                                       std::string_view scope_value);
std::string suppression_expiry_index_key(std::string_view key_prefix, SuppressionScope scope,
                                         std::string_view scope_value);

class SuppressionStore {
 public:
  SuppressionStore(RedisConn& conn, std::string key_prefix);

  // Adds `entry` or updates the existing one with the same (scope, value,
  // recipient): reason, expiry, tracking_id and note are replaced; since is
  // kept unless `since` says kReplace. An expires_ms not in the future is
  // kInvalidInput (nothing written).
  Result<SuppressionAdded> add(const SuppressionEntry& entry, SinceOnUpdate since = SinceOnUpdate::kKeep);
  // Removes one entry; true if it existed.
  Result<bool> remove(SuppressionScope scope, std::string_view scope_value, std::string_view recipient);
  // The live entry, or nullopt.
  Result<std::optional<SuppressionEntry>> get(SuppressionScope scope, std::string_view scope_value,
                                              std::string_view recipient);
  // Up to `limit` (1..10000) live entries of one list whose recipient sorts
  // after `cursor` (empty: from the start). Pass next_cursor back for the
  // next page. Entries added or removed meanwhile may or may not show.
  Result<SuppressionPage> list(SuppressionScope scope, std::string_view scope_value, std::string_view cursor,
                               std::size_t limit);
  // Number of live entries in one list.
  Result<std::uint64_t> count(SuppressionScope scope, std::string_view scope_value);

 private:
  // Drops expired members from the list's indexes.
  Status prune(const std::string& name_index, const std::string& expiry_index);

  RedisConn& conn_;
  std::string prefix_;
};

}  // namespace sluice
