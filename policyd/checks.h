// The policy daemon's decisions, without sockets: which requests need Redis,
// the facts the Redis check is given, the local checks that need no Redis
// (the relay guard), and the Postfix answer and log line for each outcome.
// The server (server.cc) only moves bytes. SPF has its own file
// (spf_policy.h): it runs between prepare() and the Redis check.
//
// Pure functions, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/config.h"
#include "common/policy_check.h"
#include "common/result.h"
#include "policyd/policy_request.h"
#include "policyd/verdict.h"

namespace sluice::policyd {

// What one request needs: an immediate answer, or a Redis check first.
struct Prepared {
  std::optional<Verdict> immediate;  // set: answer this without Redis
  std::string_view reason = "not-checked";  // for the log, with immediate
  PolicyFacts facts;                 // otherwise: the facts for the check
  std::string note;                  // for the log: why facts are partial
};

// RCPT and END-OF-MESSAGE go to Redis; every other state gets DUNNO.
// Addresses are normalised with common/address; one that does not parse
// is logged and left out of the facts (its lookups are skipped), never
// guessed at, except that an authenticated client whose sender does not
// parse is refused outright when sender_authorisation is on (its set
// cannot be asked). The relay guard (relay_guard()) answers first.
Prepared prepare(const PolicyRequest& request, const PolicydSettings& settings = {});

// require_authentication: a client neither authenticated nor in
// trusted_networks gets "554 5.7.1 relay access denied: authenticate
// first" (Postfix's smtpd_relay_restrictions should have refused it
// already; this guards a permissive main.cf). nullopt: no objection.
std::optional<Verdict> relay_guard(const PolicyRequest& request, const PolicydSettings& settings);

// The answer to an outcome of the Redis check; |facts| name the sender and
// login in a sender-authorisation refusal.
Verdict verdict_for(const PolicyOutcome& outcome, const PolicyFacts& facts = {});
Verdict verdict_for_redis_error(RedisErrorAction action);
// The log's reason= for an outcome: "allowed", "suppressed", "over-quota",
// "sender-not-authorised", "sender-set-missing", "paused".
std::string_view outcome_reason(const PolicyOutcome& outcome);

// One line per decision: "3F2A1C: policy state=RCPT decision=reject
// reason=suppressed ... sasl=alice sender=<a@x> rcpt=<b@y> client=192.0.2.1",
// with " spf=<result>" at the end when SPF was evaluated for the request.
std::string decision_log_line(const PolicyRequest& request, const Verdict& verdict, std::string_view reason,
                              std::string_view spf = {});

}  // namespace sluice::policyd
