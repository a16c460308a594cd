// sluicectl reputation: an account's bounce and complaint rates over the
// [reputation] window, its warn and pause state; pause and resume by hand.
// The pause key is what sluice-policyd checks at RCPT (450 4.7.1 account
// paused ...); sluice-bounce's breaker sets it too (bounce/breaker.h).
//
// Argument parsing and the rendering of `show` are pure functions declared
// here; run_reputation() reads and writes Redis (bounce/reputation.h names
// the keys).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "bounce/reputation.h"
#include "common/feedback_settings.h"
#include "common/result.h"
#include "ctl/command.h"

namespace sluice::ctl {

enum class ReputationAction { kHelp, kShow, kPause, kResume };

struct ReputationArgs {
  ReputationAction action = ReputationAction::kHelp;
  std::string account;  // empty for "show" of every active account
  std::string reason;   // pause: printable, at most 200 bytes
};

inline constexpr const char* kDefaultPauseReason = "paused by the operator";
inline constexpr std::size_t kMaxShownAccounts = 1000;  // "show" without ACCOUNT lists at most this many

// Parses the arguments after "reputation". Errors are usage errors.
Result<ReputationArgs> parse_reputation_args(const std::vector<std::string>& args);

// One account's state, as "show ACCOUNT" prints it (several lines).
struct AccountReputation {
  std::string account;
  bounce::ReputationCounts counts;
  std::optional<std::string> pause_reason;  // set: paused
};
std::string format_account_reputation(const AccountReputation& account, const ReputationSettings& settings);
// A table of accounts, as "show" prints it (header line first).
std::string format_reputation_table(const std::vector<AccountReputation>& accounts,
                                    const ReputationSettings& settings);
// "ok", "low volume", "warn: bounce", "warn: bounce, complaint", "paused".
std::string reputation_state(const AccountReputation& account, const ReputationSettings& settings);

int run_reputation(const CommandContext& context);

}  // namespace sluice::ctl
