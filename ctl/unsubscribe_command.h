// sluicectl unsubscribe token | verify: mint a List-Unsubscribe token with
// the configured keys (to test the endpoint, or to hand a recipient a
// working link), and decode one (which account and recipient, issued when,
// under which key, or why it is refused).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "ctl/command.h"

namespace sluice::ctl {

struct UnsubscribeArgs {
  enum class Action { kToken, kVerify } action = Action::kToken;
  std::string account;                 // token --account
  std::string recipient;               // token --recipient
  std::optional<std::int64_t> issued;  // token --issued UNIX (default: now)
  std::string key_id;                  // token --key ID (default: the first key)
  std::string token;                   // verify TOKEN
};

// Parses the arguments after "unsubscribe"; errors are usage errors.
Result<UnsubscribeArgs> parse_unsubscribe_args(const std::vector<std::string>& args);

int run_unsubscribe(const CommandContext& context);

}  // namespace sluice::ctl
