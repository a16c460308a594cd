// The reputation breaker: after a report is applied, the account's rates
// over the [reputation] window are judged; above a warn level a warning is
// logged (at most once per hour per account and rate, through a marker key
// with a TTL); above a pause level {p}pause:{account} is set with the
// reason, and sluice-policyd defers the account's mail until an operator
// runs `sluicectl reputation resume`. An existing pause (set by an operator
// or earlier) is never overwritten.
//
// Borrows a RedisConn. Errors are RedisConn's (temporary); the writes are
// idempotent, so a retry after an error is harmless.
#pragma once

#include <string>
#include <string_view>

#include "bounce/reputation.h"
#include "common/feedback_settings.h"
#include "common/redis_conn.h"
#include "common/result.h"

namespace sluice::bounce {

struct BreakerOutcome {
  ReputationCounts counts;
  ReputationVerdict verdict;
  bool warn_bounce_logged = false;     // this run logged the bounce-rate warning
  bool warn_complaint_logged = false;
  bool paused_now = false;             // this run set the pause key
};

// Judges |account| and logs what it finds (log_warn, key=value).
Result<BreakerOutcome> run_breaker(RedisConn& conn, std::string_view prefix, std::string_view account,
                                   const ReputationSettings& settings);

}  // namespace sluice::bounce
