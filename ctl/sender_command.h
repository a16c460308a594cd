// sluicectl sender: which envelope senders a SASL login may use, the set
// sluice-policyd checks with [policyd] sender_authorisation = yes
// ({p}senders:{login}, doc/redis-schema.md): allow, deny, list, check.
//
// Members are normalised exactly as the policy daemon looks them up
// (common/policy_check.h sender_set_members): an address as its
// Mailbox::lookup_key(), "@domain" in lowercase, "<>" for the null sender.
// Parsing and normalising are pure and declared here; run_sender() applies
// them over a RedisConn, and check_sender() answers "would policyd allow
// it" with the same rules as the Lua script.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/redis_conn.h"
#include "common/result.h"
#include "ctl/command.h"

namespace sluice::ctl {

enum class SenderCommandAction { kHelp, kAllow, kDeny, kList, kCheck };

struct SenderArgs {
  SenderCommandAction action = SenderCommandAction::kHelp;
  std::string login;   // the SASL user name, as Postfix reports it
  std::string member;  // allow, deny: the normalised member
  // check: the sender to test (lookup key, empty for <>) and its domain.
  std::string sender_key;
  std::string sender_domain;
};

// Longest login accepted (Postfix sends what the SASL library returns).
inline constexpr std::size_t kMaxSaslLogin = 256;

// "Bob@Example.COM" -> "bob@example.com", "@Example.COM" -> "@example.com",
// "<>" -> "<>". kInvalidInput with the reason otherwise.
Result<std::string> parse_sender_member(std::string_view text);
// A non-empty login of printable bytes, at most kMaxSaslLogin.
Status check_sasl_login(std::string_view login);
// Parses the arguments after "sender". Errors are usage errors.
Result<SenderArgs> parse_sender_args(const std::vector<std::string>& args);

struct SenderVerdict {
  bool allowed = false;
  std::string why;  // one line: which member allowed it, or why not
};

// What sluice-policyd would decide for |login| sending as |sender_key|
// (empty: the null sender) at |sender_domain|, under |settings|.
Result<SenderVerdict> check_sender(RedisConn& conn, std::string_view prefix, const PolicydSettings& settings,
                                   std::string_view login, std::string_view sender_key,
                                   std::string_view sender_domain);

int run_sender(const CommandContext& context);

}  // namespace sluice::ctl
