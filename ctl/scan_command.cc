#include "ctl/scan_command.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>

#include "common/log.h"
#include "common/redis_conn.h"
#include "common/shared_keys.h"
#include "common/redis_keys.h"

namespace sluice::ctl {
namespace {

constexpr const char* kUsage = "usage: sluicectl scan stats [ACCOUNT] [--days N]   (N: 1..35, default 7)\n";
// A bound on the keys one listing reads: enough for 10,000 accounts x 35 days.
constexpr std::size_t kMaxKeys = 350'000;

std::int64_t to_int(std::string_view text) {
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size() && value >= 0 ? value : 0;
}

// Key names are {prefix}scan:{account}:{day}; the account is escaped, so
// the last ':' separates the day.
bool account_of(std::string_view key, std::string_view scan_prefix, std::string& account) {
  if (!key.starts_with(scan_prefix)) return false;
  key.remove_prefix(scan_prefix.size());
  const auto colon = key.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  account = redis_key_component_decode(key.substr(0, colon));
  return true;
}

int fail_redis(const RedisConn& redis, const Error& error) {
  std::fprintf(stderr, "sluicectl: Redis %s: %s\n", redis.endpoint().c_str(), error.message().c_str());
  return error.code == Errc::kConfig ? kExitFailed : kExitUnavailable;
}

Result<std::vector<std::string>> strings_of(const redisReply& reply) {
  if (reply.type != REDIS_REPLY_ARRAY) return make_error(Errc::kProtocol, "expected an array, got " + reply_describe(reply));
  std::vector<std::string> out;
  for (std::size_t i = 0; i < reply.elements; ++i) {
    auto text = reply_string(*reply.element[i]);
    if (!text) return text.error();
    out.emplace_back(*text);
  }
  return out;
}

}  // namespace

void add_scan_fields(ScanCounts& counts, const std::vector<std::string>& fields_and_values) {
  for (std::size_t i = 0; i + 1 < fields_and_values.size(); i += 2) {
    const std::string& name = fields_and_values[i];
    const std::int64_t value = to_int(fields_and_values[i + 1]);
    if (name == "scanned") counts.scanned += value;
    else if (name == "spam") counts.spam += value;
    else if (name == "virus") counts.virus += value;
    else if (name == "failed") counts.failed += value;
    else if (name == "skipped") counts.skipped += value;
  }
}

std::vector<std::pair<std::string, ScanCounts>> rank_scan_counts(const std::map<std::string, ScanCounts>& by_account) {
  std::vector<std::pair<std::string, ScanCounts>> rows(by_account.begin(), by_account.end());
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    if (a.second.bad_rate() != b.second.bad_rate()) return a.second.bad_rate() > b.second.bad_rate();
    return a.second.scanned > b.second.scanned;
  });
  return rows;
}

int run_scan(const CommandContext& context) {
  std::vector<std::string> args = context.args;
  if (args.empty() || args.front() != "stats") {
    std::fprintf(stderr, "%s", kUsage);
    return kExitUsage;
  }
  std::string account;
  int days = 7;
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--days" && i + 1 < args.size()) {
      days = static_cast<int>(to_int(args[++i]));
      if (days < 1 || days > 35) {
        std::fprintf(stderr, "%s", kUsage);
        return kExitUsage;
      }
    } else if (account.empty() && !args[i].starts_with("-")) {
      account = args[i];
    } else {
      std::fprintf(stderr, "%s", kUsage);
      return kExitUsage;
    }
  }

  RedisConn redis(context.config.redis.connection);
  const std::string scan_prefix = context.config.redis.key_prefix + "scan:";
  const std::int64_t today = static_cast<std::int64_t>(std::time(nullptr)) / 86'400;
  std::vector<std::string> keys;
  if (!account.empty()) {
    for (int d = 0; d < days; ++d) keys.push_back(scan_stats_key(context.config.redis.key_prefix, account, today - d));
  } else {
    for (int d = 0; d < days && keys.size() < kMaxKeys; ++d) {
      std::string cursor = "0";
      const std::string pattern = scan_prefix + "*:" + std::to_string(today - d);
      do {
        auto reply = redis.command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
        if (!reply) return fail_redis(redis, reply.error());
        const redisReply& r = **reply;
        if (r.type != REDIS_REPLY_ARRAY || r.elements != 2) {
          std::fprintf(stderr, "sluicectl: SCAN answered %s\n", reply_describe(r).c_str());
          return kExitFailed;
        }
        auto next = reply_string(*r.element[0]);
        auto found = strings_of(*r.element[1]);
        if (!next || !found) {
          std::fprintf(stderr, "sluicectl: SCAN answered %s\n", reply_describe(r).c_str());
          return kExitFailed;
        }
        cursor = std::string(*next);
        for (std::string& key : *found) keys.push_back(std::move(key));
      } while (cursor != "0" && keys.size() < kMaxKeys);
    }
  }

  std::map<std::string, ScanCounts> by_account;
  constexpr std::size_t kBatch = 500;
  for (std::size_t start = 0; start < keys.size(); start += kBatch) {
    std::vector<std::vector<std::string>> commands;
    for (std::size_t i = start; i < std::min(keys.size(), start + kBatch); ++i) commands.push_back({"HGETALL", keys[i]});
    auto replies = redis.pipeline(commands);
    if (!replies) return fail_redis(redis, replies.error());
    for (std::size_t i = 0; i < replies->size(); ++i) {
      std::string name;
      if (!account_of(keys[start + i], scan_prefix, name)) continue;
      auto fields = strings_of(*(*replies)[i]);
      if (!fields || fields->empty()) continue;
      add_scan_fields(by_account[name], *fields);
    }
  }

  if (by_account.empty()) {
    std::printf("no scanned mail in the last %d day%s%s\n", days, days == 1 ? "" : "s",
                account.empty() ? "" : (" for " + log_escape(account, 64)).c_str());
    return kExitOk;
  }
  std::printf("%-32s %9s %8s %8s %8s %8s %7s\n", "account", "scanned", "spam", "virus", "failed", "skipped", "bad%");
  for (const auto& [name, counts] : rank_scan_counts(by_account)) {
    std::printf("%-32s %9lld %8lld %8lld %8lld %8lld %6.1f%%\n", log_escape(name, 32).c_str(),
                static_cast<long long>(counts.scanned), static_cast<long long>(counts.spam),
                static_cast<long long>(counts.virus), static_cast<long long>(counts.failed),
                static_cast<long long>(counts.skipped), 100.0 * counts.bad_rate());
  }
  return kExitOk;
}

}  // namespace sluice::ctl
