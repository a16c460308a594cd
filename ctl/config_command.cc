#include "ctl/config_command.h"

#include <cstdio>
#include <string>

#include "common/config_keys.h"

namespace sluice::ctl {

int run_config(const CommandContext& context) {
  if (context.args.size() != 1 || context.args[0] != "keys") {
    std::fputs("usage: sluicectl config keys\n", stderr);
    return kExitUsage;
  }
  std::string_view section;
  for (const ConfigKey& key : config_keys()) {
    if (key.section != section) {
      section = key.section;
      std::printf("%s[%.*s]\n", section == config_keys().front().section ? "" : "\n",
                  static_cast<int>(section.size()), section.data());
    }
    const std::string default_text = key.default_value.empty() ? "(unset)" : std::string(key.default_value);
    std::printf("%-16.*s %-26.*s default %s\n%16s %.*s\n", static_cast<int>(key.name.size()), key.name.data(),
                static_cast<int>(key.type.size()), key.type.data(), default_text.c_str(), "",
                static_cast<int>(key.help.size()), key.help.data());
  }
  return kExitOk;
}

}  // namespace sluice::ctl
