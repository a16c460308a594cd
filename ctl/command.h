// What a sluicectl subcommand gets and returns. Exit statuses follow
// sysexits(3) where one fits, so scripts can tell "Redis is down, retry"
// from "you typed it wrong".
#pragma once

#include <string>
#include <vector>

#include "common/config.h"

namespace sluice::ctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;       // the check or action found a problem
inline constexpr int kExitUsage = 2;        // bad arguments
inline constexpr int kExitUnavailable = 69; // EX_UNAVAILABLE: Redis cannot be reached

struct CommandContext {
  const Config& config;
  std::vector<std::string> args;  // after the subcommand name
};

}  // namespace sluice::ctl
