#include "ctl/command_util.h"

#include <algorithm>
#include <cstdio>

#include "ctl/command.h"

namespace sluice::ctl {

Error usage(std::string detail) { return make_error(Errc::kInvalidInput, std::move(detail)); }

bool wants_help(const std::vector<std::string>& args) {
  return (!args.empty() && args[0] == "help") ||
         std::any_of(args.begin(), args.end(), [](const std::string& a) { return a == "--help" || a == "-h"; });
}

int report_usage(const Error& error, std::string_view command) {
  std::fprintf(stderr, "sluicectl: %s (try sluicectl %.*s --help)\n", error.detail.c_str(),
               static_cast<int>(command.size()), command.data());
  return kExitUsage;
}

int print_help(const char* usage_text) {
  std::fputs(usage_text, stdout);
  return kExitOk;
}

int report(const Error& error) {
  // Bad input reads best as the reason alone; transport errors keep their class.
  const bool data = error.code == Errc::kInvalidInput || error.code == Errc::kTooLong || error.code == Errc::kNotFound;
  std::fprintf(stderr, "sluicectl: %s\n", data ? error.detail.c_str() : error.message().c_str());
  if (error.code == Errc::kUnavailable || error.code == Errc::kTimeout) return kExitUnavailable;
  return kExitFailed;
}

}  // namespace sluice::ctl
