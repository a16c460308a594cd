// PolicyCheck: the one atomic Redis decision sluice-policyd makes per policy
// request (RCPT or END-OF-MESSAGE): one run of lua/policy_check.lua, one
// round trip. The server (async hiredis) uses the pure halves: build() gives
// the script, KEYS and ARGV for a request; parse() maps the script's reply to
// a PolicyOutcome. run_policy_check() joins them over a blocking RedisConn
// for tests and tools.
//
// Semantics (doc/redis-schema.md has the key layout):
// - Account checks first, for authenticated requests (sasl_username set):
//   with sender authorisation on, at RCPT the sender must be a member of
//   the login's senders set ({p}senders:{login}): its lookup key, or
//   "@" + its domain; "<>" for the null sender. A login with no set at all
//   is refused unless MissingSenderSetAction::kAccept (kSenderNotAuthorised).
//   Then, at RCPT and END-OF-MESSAGE, {p}pause:{login} existing pauses the
//   account (kPaused, with the key's text as the reason). Either refusal
//   charges nothing and skips the checks below.
// - RCPT: the recipient is looked up in the configured suppression lists
//   (global; the account = sasl_username when present; the sender_domain
//   when present), in that configured order; the first live entry wins
//   (kSuppressed). Otherwise every quota rule whose key fields are all
//   present (non-empty) in the request is checked: recipients + 1 against
//   each recipients window, and messages and bytes must not be at or over
//   their limits already (they are not charged at RCPT). If all pass, the
//   recipients counters are charged by 1; otherwise kOverQuota with the
//   first limit exceeded (rules in config order, limits in rule order).
// - END-OF-MESSAGE: messages + 1 and bytes + size against every messages and
//   bytes window of every applicable rule; all are charged only if all pass.
// - Windows are fixed and aligned to the Unix epoch, timed by Redis (TIME);
//   a per-key-string override replaces a configured limit.
// - Idempotency: when the request has an instance, an answer that charged
//   something (an admission) is recorded in a hash per (instance,
//   client_address), field "<stage>:<recipient>", for kPolicyReplayTtl. The
//   same request again (Postfix resends a request whose reply it lost) gets
//   the recorded answer with replayed = true and charges nothing, even when
//   it would be refused now. An answer that charged nothing (a refusal, or
//   an admission with nothing to charge) is not recorded: a resend is decided
//   again on the current state and charges at most once, since Postfix acts
//   only on the reply it receives (doc/redis-schema.md).
// Guarantees: build() and parse() are pure and thread-safe (the object is
// immutable); exact under any concurrency while one Redis primary is
// reachable (the script is atomic). parse() never trusts the reply: a shape
// other than the script's documented ones is kProtocol.
//
// For the async caller: send evalsha_command(call). If the reply is the
// error NOSCRIPT (reply_error_is(reply, "NOSCRIPT"): Redis restarted, failed
// over or flushed its scripts; the script did NOT run), resend once as
// eval_command(call), which runs the script from source and caches it.
// Any other error reply, or a parse() error, is a temporary failure
// (on_redis_error applies); never retry a reply you got: it may have charged.
#pragma once

#include <hiredis/hiredis.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/shared_keys.h"
#include "common/config.h"
#include "common/quota_rule.h"
#include "common/redis_conn.h"
#include "common/redis_script.h"
#include "common/result.h"

namespace sluice {

// How long the answer to a request is kept for a resend of the same request.
inline constexpr std::chrono::milliseconds kPolicyReplayTtl{10 * 60 * 1000};

// What the check needs from one policy request, already normalised.
struct PolicyFacts {
  enum class Stage { kRcpt, kEndOfMessage };
  Stage stage = Stage::kRcpt;
  std::string instance;        // Postfix's per-message "instance" attribute
  std::string client_address;  // "192.0.2.1", "2001:db8::1"
  std::string sasl_username;   // empty: not authenticated
  std::string sender;          // canonical Mailbox::str(), empty for <>
  std::string sender_key;      // Mailbox::lookup_key() of the sender, empty for <>
  std::string sender_domain;   // Mailbox::domain of the sender, empty for <>
  std::string recipient;       // Mailbox::lookup_key(), RCPT only
  std::uint64_t size = 0;      // message size in bytes, END-OF-MESSAGE only
};

// One script invocation: EVALSHA script->sha1() keys.size() keys... args...
struct RedisCall {
  const RedisScript* script = nullptr;
  std::vector<std::string> keys;
  std::vector<std::string> args;
};

// {"EVALSHA", sha1, numkeys, keys..., args...}: the first try.
std::vector<std::string> evalsha_command(const RedisCall& call);
// {"EVAL", source, numkeys, keys..., args...}: the retry after NOSCRIPT.
std::vector<std::string> eval_command(const RedisCall& call);

// The senders-set members that authorise an envelope sender: its lookup
// key and "@" + its domain, or "<>" alone for the null sender.
std::vector<std::string> sender_set_members(std::string_view sender_key, std::string_view sender_domain);

// Longest pause reason the answer quotes (the key holds at most 200 bytes).
inline constexpr std::size_t kMaxPauseReason = 200;

struct PolicyOutcome {
  enum class Kind { kAllow, kSuppressed, kOverQuota, kSenderNotAuthorised, kPaused };
  Kind kind = Kind::kAllow;
  bool replayed = false;  // the answer came from the idempotency record

  // kSuppressed:
  std::string scope;  // "global", "sasl_username alice", "sender_domain example.com"
  std::string reason;  // hard-bounce | soft-bounce | complaint | unsubscribe | manual
  std::int64_t since_ms = 0;
  std::int64_t expires_ms = 0;  // 0 = never

  // kOverQuota:
  std::string rule;
  QuotaLimit limit;  // metric, window and the limit in force (an override if set)
  std::uint64_t used = 0;  // in the current window, before this request
  std::int64_t reset_at_ms = 0;  // end of the window (Unix ms, Redis clock)
  QuotaAction action = QuotaAction::kDefer;

  // kSenderNotAuthorised: true when the login has no senders set at all
  // (else the sender is simply not in it).
  bool sender_set_missing = false;

  // kPaused: the pause key's text, at most kMaxPauseReason bytes.
  std::string pause_reason;
};

// Sender authorisation settings for PolicyCheck ([policyd] sender_authorisation*).
struct SenderAuthorisation {
  bool enabled = false;
  MissingSenderSetAction missing = MissingSenderSetAction::kReject;
};

class PolicyCheck {
 public:
  // `rules` in config order; `scopes` in lookup order (ignored when
  // `suppression` is false).
  PolicyCheck(std::string key_prefix, std::vector<QuotaRule> rules, bool suppression,
              std::vector<SuppressionScope> scopes, SenderAuthorisation senders = {});

  // The script call for this request; nullopt when there is nothing to check
  // (unauthenticated, no suppression lookup and no applicable rule): the
  // answer is then allow. An authenticated request always has its pause check.
  std::optional<RedisCall> build(const PolicyFacts& facts) const;
  // The outcome from the script's reply to build(facts)'s call. Error
  // replies (NOSCRIPT included: handle it before) and unexpected shapes are
  // kProtocol.
  Result<PolicyOutcome> parse(const PolicyFacts& facts, const redisReply& reply) const;

  const std::string& key_prefix() const { return prefix_; }

 private:
  std::string prefix_;
  std::vector<QuotaRule> rules_;
  bool suppression_;
  std::vector<SuppressionScope> scopes_;
  SenderAuthorisation senders_;
};

// build(), eval over `conn` (loading the script on NOSCRIPT), parse().
Result<PolicyOutcome> run_policy_check(RedisConn& conn, const PolicyCheck& check, const PolicyFacts& facts);

}  // namespace sluice
