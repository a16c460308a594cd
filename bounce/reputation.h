// An account's sending reputation over the [reputation] window: the hourly
// buckets {p}rep:{account}:{hour} (fields sent, hard, soft, block,
// complaint, unsubscribe; doc/redis-schema.md) summed, the rates judged
// against the warn and pause levels, and the key names of the pause and
// warning markers. Used by sluice-bounce's breaker (breaker.h) and by
// `sluicectl reputation`.
//
// Header-only on purpose: sluicectl is built before bounce/ and does not
// link libsluice_bounce.a. (The natural home is common/reputation_store.*;
// moving it there is mechanical.)
// Guarantees: pure functions except read_reputation(), which costs two
// round trips (TIME, then one pipeline of HMGETs) and uses Redis's clock.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/shared_keys.h"
#include "common/feedback_settings.h"
#include "common/redis_conn.h"
#include "common/shared_keys.h"
#include "common/redis_keys.h"
#include "common/result.h"

namespace sluice::bounce {

inline constexpr std::string_view kReputationFields[] = {"sent", "hard", "soft", "block", "complaint", "unsubscribe"};
inline constexpr long long kReputationWarnIntervalSeconds = 3600;  // one warning per account and rate per hour
inline constexpr std::size_t kMaxPauseReasonLength = 200;

struct ReputationCounts {
  long long sent = 0;
  long long hard = 0;
  long long soft = 0;
  long long block = 0;
  long long complaint = 0;
  long long unsubscribe = 0;
  friend bool operator==(const ReputationCounts&, const ReputationCounts&) = default;
};

struct ReputationVerdict {
  bool counted = false;  // sent >= min_volume: the rates mean something
  double bounce_rate = 0;     // hard / sent
  double complaint_rate = 0;  // complaint / sent
  bool warn_bounce = false;   // above warn_bounce_rate
  bool warn_complaint = false;
  std::string pause_reason;   // non-empty: above a pause level, "bounce rate 12.5% (125/1000) over 24h"
};

// {p}repwarn:{account}:{bounce|complaint}: a warning was logged this hour.
inline std::string reputation_warn_key(std::string_view prefix, std::string_view account, std::string_view metric) {
  return std::string(prefix) + "repwarn:" + redis_key_component(account) + ":" + std::string(metric);
}

inline long long reputation_window_hours(const ReputationSettings& settings) {
  const long long hours = settings.window.count() / 3'600'000;
  return hours < 1 ? 1 : hours;
}

// "12.5%", "0.1%", "100%": three significant digits.
inline std::string format_rate(double rate) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3g%%", rate * 100);
  return text;
}

// "bounce rate 12.5% (125/1000) over 24h".
inline std::string rate_reason(std::string_view what, long long count, long long sent, long long window_hours) {
  return std::string(what) + " rate " + format_rate(sent > 0 ? static_cast<double>(count) / sent : 0) + " (" +
         std::to_string(count) + "/" + std::to_string(sent) + ") over " + std::to_string(window_hours) + "h";
}

inline ReputationVerdict judge_reputation(const ReputationCounts& counts, const ReputationSettings& settings) {
  ReputationVerdict v;
  if (counts.sent <= 0) return v;
  v.bounce_rate = static_cast<double>(counts.hard) / counts.sent;
  v.complaint_rate = static_cast<double>(counts.complaint) / counts.sent;
  v.counted = counts.sent >= settings.min_volume;
  if (!v.counted) return v;
  v.warn_bounce = v.bounce_rate > settings.warn_bounce_rate;
  v.warn_complaint = v.complaint_rate > settings.warn_complaint_rate;
  const long long hours = reputation_window_hours(settings);
  if (settings.pause_bounce_rate && v.bounce_rate > *settings.pause_bounce_rate) {
    v.pause_reason = rate_reason("bounce", counts.hard, counts.sent, hours);
  } else if (settings.pause_complaint_rate && v.complaint_rate > *settings.pause_complaint_rate) {
    v.pause_reason = rate_reason("complaint", counts.complaint, counts.sent, hours);
  }
  return v;
}

// Redis's current hour (unix seconds / 3600).
inline Result<long long> redis_current_hour(RedisConn& conn) {
  auto reply = conn.command({"TIME"});
  if (!reply) return reply.error();
  const redisReply& t = **reply;
  if (t.type != REDIS_REPLY_ARRAY || t.elements != 2 || t.element[0]->type != REDIS_REPLY_STRING) {
    return make_error(Errc::kProtocol, "redis: TIME answered " + reply_describe(t));
  }
  return std::stoll(std::string(t.element[0]->str, t.element[0]->len)) / 3600;
}

// The counts of |account| over the window ending with Redis's current hour.
inline Result<ReputationCounts> read_reputation(RedisConn& conn, std::string_view prefix, std::string_view account,
                                                const ReputationSettings& settings) {
  auto hour = redis_current_hour(conn);
  if (!hour) return hour.error();
  const std::string stem = reputation_bucket_stem(prefix, account);
  std::vector<std::vector<std::string>> commands;
  for (long long h = *hour - reputation_window_hours(settings) + 1; h <= *hour; ++h) {
    std::vector<std::string> hmget = {"HMGET", stem + std::to_string(h)};
    for (std::string_view field : kReputationFields) hmget.emplace_back(field);
    commands.push_back(std::move(hmget));
  }
  auto replies = conn.pipeline(commands);
  if (!replies) return replies.error();
  ReputationCounts counts;
  long long* fields[] = {&counts.sent, &counts.hard, &counts.soft, &counts.block, &counts.complaint,
                         &counts.unsubscribe};
  for (const RedisReplyPtr& reply : *replies) {
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != std::size(fields)) {
      return make_error(Errc::kProtocol, "redis: HMGET of a reputation bucket answered " + reply_describe(*reply));
    }
    for (std::size_t i = 0; i < std::size(fields); ++i) {
      const redisReply& e = *reply->element[i];
      if (e.type != REDIS_REPLY_STRING) continue;
      *fields[i] += std::strtoll(std::string(e.str, e.len).c_str(), nullptr, 10);
    }
  }
  return counts;
}

// The account and hour of a bucket key, or nullopt for another key.
inline std::optional<std::pair<std::string, long long>> parse_reputation_bucket_key(std::string_view prefix,
                                                                                     std::string_view key) {
  const std::string head = std::string(prefix) + "rep:";
  if (!key.starts_with(head)) return std::nullopt;
  key.remove_prefix(head.size());
  const std::size_t colon = key.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == key.size()) return std::nullopt;
  long long hour = 0;
  for (char c : key.substr(colon + 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    hour = hour * 10 + (c - '0');
    if (hour > 1'000'000'000) return std::nullopt;
  }
  std::string account = redis_key_component_decode(key.substr(0, colon));
  return std::pair<std::string, long long>{std::move(account), hour};
}

}  // namespace sluice::bounce
