// One run of sluice-bounce: a report in, its effects in Redis, one log line
// per recipient, and the exit status pipe(8) acts on (sysexits.h):
//   0  EX_OK       applied; or nothing to do (applied before, a message we
//                  do not know, an auto-reply, a delay warning): logged
//   75 EX_TEMPFAIL Redis could not be reached or a write failed; or an
//                  unparsable report could not be kept in unparsed_dir.
//                  Postfix keeps the report queued and retries: nothing is lost.
// An unparsable report is kept in [bounce] unparsed_dir and logged: 0.
// A configuration that does not load is 75 too (main.cc): the report waits
// in Postfix's queue for the fix instead of being returned.
#pragma once

#include <string>
#include <string_view>

#include "common/config.h"
#include "common/redis_conn.h"

namespace sluice::bounce {

inline constexpr int kExitOk = 0;          // EX_OK
inline constexpr int kExitUsage = 64;      // EX_USAGE
inline constexpr int kExitTempfail = 75;   // EX_TEMPFAIL

struct BounceInput {
  std::string_view message;        // at most kMaxReportBytes
  bool cut = false;                // the report was longer and was cut there
  std::string envelope_recipient;  // --recipient: where Postfix delivered it (the VERP address)
  std::string queue_id;            // --queue-id: the report's own Postfix queue ID, for the log
};

int process_report(const Config& config, RedisConn& conn, const BounceInput& input);

}  // namespace sluice::bounce
