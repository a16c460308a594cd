// The one write sluice-unsubscribe makes: a verified token becomes a
// suppression of its recipient for its account, once.
//
// Redis keys (SPEC.md, doc/redis-schema.md):
//   {p}sup:sasl_username:{account}:{recipient}  via SuppressionStore::add,
//       reason "unsubscribe", note "one-click", no expiry
//   {p}unsubscribed:{sha256hex(token)}  "1", SET NX, TTL = the token TTL:
//       a token already used, so that a replay after an operator removed the
//       suppression does not bring it back
//   {p}rep:{account}:{unix_s/3600}  HINCRBY unsubscribe 1, TTL 32 days: the
//       account's reputation bucket, counted once per token
//
// Order, so that a Redis failure halfway never loses an unsubscribe: the
// replay mark is checked first (read only), the suppression written second,
// the mark set last (NX) and the counter bumped only by whoever set it.
// A failure before the mark is returned, the mailbox provider retries (503),
// and the retry finds the suppression in place (add() keeps the original
// since) and completes. Only a failure of the counter itself, after the
// mark, loses that one count; a count is never doubled.
//
// Borrows a RedisConn (blocking, short timeouts); not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/shared_keys.h"
#include "common/redis_conn.h"
#include "common/result.h"
#include "common/unsubscribe_token.h"

namespace sluice::unsubscribe {

enum class UnsubscribeResult {
  kUnsubscribed,       // suppression added (or an expiring one made permanent)
  kAlreadySuppressed,  // a permanent suppression was there; left as it was
  kReplayed,           // this token was used before: nothing changed
};
std::string_view unsubscribe_result_name(UnsubscribeResult result);

// {p}unsubscribed:{sha256hex(token)}
std::string used_token_key(std::string_view key_prefix, std::string_view token);

// Applies a verified claim. Errors are RedisConn's (kTimeout, kUnavailable,
// kConfig...) or kProtocol for an unexpected reply.
Result<UnsubscribeResult> apply_unsubscribe(RedisConn& conn, std::string_view key_prefix,
                                            const UnsubscribeClaim& claim, std::string_view token,
                                            std::chrono::seconds token_ttl, std::int64_t now_unix_s);

}  // namespace sluice::unsubscribe
