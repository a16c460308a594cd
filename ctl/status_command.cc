#include "ctl/status_command.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "common/redis_conn.h"

namespace sluice::ctl {
namespace {

// INFO is "key:value" lines grouped under "# Section" headers.
std::map<std::string, std::string> parse_info(std::string_view text) {
  std::map<std::string, std::string> fields;
  while (!text.empty()) {
    const auto eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const auto colon = line.find(':');
    if (line.empty() || line.front() == '#' || colon == std::string_view::npos) continue;
    fields.emplace(line.substr(0, colon), line.substr(colon + 1));
  }
  return fields;
}

std::string field(const std::map<std::string, std::string>& fields, const std::string& name) {
  const auto it = fields.find(name);
  return it == fields.end() ? "?" : it->second;
}

}  // namespace

int run_status(const CommandContext& context) {
  if (!context.args.empty()) {
    std::fprintf(stderr, "usage: sluicectl status\n");
    return kExitUsage;
  }
  RedisConn redis(context.config.redis.connection);
  if (Status connected = redis.connect(); !connected) {
    std::printf("redis      %s: UNREACHABLE (%s)\n", redis.endpoint().c_str(),
                connected.error().message().c_str());
    return connected.error().code == Errc::kConfig ? kExitFailed : kExitUnavailable;
  }

  // Median of a few PINGs: one sample is too noisy to be worth printing.
  std::vector<double> rtt_ms;
  for (int i = 0; i < 5; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto pong = redis.command({"PING"});
    if (!pong) {
      std::printf("redis      %s: UNREACHABLE (%s)\n", redis.endpoint().c_str(), pong.error().message().c_str());
      return kExitUnavailable;
    }
    rtt_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(rtt_ms.begin(), rtt_ms.end());

  auto info = redis.command({"INFO"});
  if (!info) {
    std::printf("redis      %s: UNREACHABLE (%s)\n", redis.endpoint().c_str(), info.error().message().c_str());
    return kExitUnavailable;
  }
  auto text = reply_string(**info);
  const auto fields = parse_info(text ? *text : std::string_view{});

  std::printf("redis      %s: reachable, ping %.3f ms\n", redis.endpoint().c_str(), rtt_ms[rtt_ms.size() / 2]);
  std::printf("version    %s (%s)\n", field(fields, "redis_version").c_str(), field(fields, "role").c_str());
  std::printf("memory     %s used, maxmemory-policy %s\n", field(fields, "used_memory_human").c_str(),
              field(fields, "maxmemory_policy").c_str());
  std::printf("database   %d, key prefix %s\n", context.config.redis.connection.database,
              context.config.redis.key_prefix.c_str());

  int warnings = 0;
  if (field(fields, "aof_enabled") != "1") {
    std::printf("warning    appendonly is off: counters and suppressions written since the last "
                "snapshot are lost if Redis restarts\n");
    ++warnings;
  }
  const std::string policy = field(fields, "maxmemory_policy");
  if (policy != "noeviction" && policy != "?") {
    std::printf("warning    maxmemory-policy %s may evict suppression entries; use noeviction\n",
                policy.c_str());
    ++warnings;
  }
  std::printf("status     %s\n", warnings == 0 ? "OK" : "OK with warnings");
  return kExitOk;
}

}  // namespace sluice::ctl
