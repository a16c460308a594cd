#include "ctl/id_command.h"

#include <cstdio>
#include <ctime>

#include "common/config_values.h"
#include "common/log.h"
#include "common/tracking_id.h"

namespace sluice::ctl {
namespace {

constexpr const char* kUsage = "usage: sluicectl id new [COUNT] | sluicectl id show ID\n";

int show(const std::string& text) {
  auto id = parse_tracking_id(text);
  if (!id) {
    std::fprintf(stderr, "sluicectl: %s is not a tracking ID: %s\n", log_escape(text, 64).c_str(),
                 id.error().detail.c_str());
    return kExitFailed;
  }
  const std::time_t seconds = static_cast<std::time_t>(id->unix_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &utc);
  std::printf("%s created %s.%03lluZ\n", format_tracking_id(*id).c_str(), when,
              static_cast<unsigned long long>(id->unix_ms % 1000));
  return kExitOk;
}

}  // namespace

int run_id(const CommandContext& context) {
  const auto& args = context.args;
  if (args.size() == 2 && args[0] == "show") return show(args[1]);
  if (!args.empty() && args[0] == "new" && args.size() <= 2) {
    std::int64_t count = 1;
    if (args.size() == 2) {
      auto parsed = parse_int_value(args[1], 1, 100000);
      if (!parsed) {
        std::fprintf(stderr, "sluicectl: COUNT: %s\n", parsed.error().detail.c_str());
        return kExitUsage;
      }
      count = *parsed;
    }
    TrackingIdGenerator generator;
    for (std::int64_t i = 0; i < count; ++i) std::printf("%s\n", generator.next().c_str());
    return kExitOk;
  }
  std::fputs(kUsage, stderr);
  return kExitUsage;
}

}  // namespace sluice::ctl
