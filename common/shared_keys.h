// The Redis keys that more than one program names (doc/redis-schema.md):
// sluice-milter, sluice-policyd, sluice-bounce, sluice-unsubscribe and
// sluicectl read and write them, so each is spelled here once.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/redis_keys.h"

namespace sluice {

// {p}msg:{tracking_id}: the milter's record of one message, for sluice-bounce.
inline std::string message_record_key(std::string_view prefix, std::string_view tracking_id) {
  return std::string(prefix) + "msg:" + redis_key_component(tracking_id);
}

// {p}senders:{login}: the SET of senders a SASL login may use.
inline std::string senders_key(std::string_view prefix, std::string_view login) {
  return std::string(prefix) + "senders:" + redis_key_component(login);
}

// {p}pause:{login}: the STRING (the reason) that pauses a SASL login.
inline std::string pause_key(std::string_view prefix, std::string_view login) {
  return std::string(prefix) + "pause:" + redis_key_component(login);
}

// {p}rep:{account}: ; an hourly bucket is the stem + unix_s / 3600.
inline std::string reputation_bucket_stem(std::string_view prefix, std::string_view account) {
  return std::string(prefix) + "rep:" + redis_key_component(account) + ":";
}
inline std::string reputation_bucket_key(std::string_view prefix, std::string_view account, std::int64_t unix_s) {
  return reputation_bucket_stem(prefix, account) + std::to_string(unix_s / 3600);
}
// Longer than any [reputation] window: a bucket outlives every judgement it is part of.
inline constexpr std::chrono::seconds kReputationBucketTtl{32LL * 86'400};

// {p}scan:{account}:{day}: the scanner verdicts of one account on one day
// (day = unix_s / 86400).
inline std::string scan_stats_key(std::string_view prefix, std::string_view account, std::int64_t day) {
  return std::string(prefix) + "scan:" + redis_key_component(account) + ":" + std::to_string(day);
}
inline constexpr std::chrono::seconds kScanStatsTtl{35LL * 86'400};

}  // namespace sluice
