// The policy daemon's decisions, without sockets: which requests need Redis,
// the facts the Redis check is given, and the Postfix answer and log line
// for each outcome. The server (server.cc) only moves bytes.
#pragma once

#include <optional>
#include <string>

#include "common/config.h"
#include "common/policy_check.h"
#include "common/result.h"
#include "policyd/policy_request.h"
#include "policyd/verdict.h"

namespace sluice::policyd {

// What one request needs: an immediate answer, or a Redis check first.
struct Prepared {
  std::optional<Verdict> immediate;  // set: answer this without Redis
  PolicyFacts facts;                 // otherwise: the facts for the check
  std::string note;                  // for the log: why facts are partial
};

// RCPT and END-OF-MESSAGE go to Redis; every other state gets DUNNO.
// Addresses are normalised with common/address; one that does not parse
// is logged and left out of the facts (its lookups are skipped), never
// guessed at.
Prepared prepare(const PolicyRequest& request);

Verdict verdict_for(const PolicyOutcome& outcome);
Verdict verdict_for_redis_error(RedisErrorAction action);

// One line per decision: "3F2A1C: policy state=RCPT decision=reject
// reason=suppressed ... sasl=alice sender=<a@x> rcpt=<b@y> client=192.0.2.1".
std::string decision_log_line(const PolicyRequest& request, const Verdict& verdict, std::string_view reason);

}  // namespace sluice::policyd
