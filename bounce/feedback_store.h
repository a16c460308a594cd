// FeedbackStore: what sluice-bounce reads and writes in Redis. It reads the
// message record the milter wrote ({p}msg:{id}) and applies one report for
// one recipient with a single script (lua/feedback_apply.lua): the
// idempotency marker ({p}report:{sha256}), the reputation bucket
// ({p}rep:{account}:{hour}), the soft-bounce counter ({p}soft:...), and the
// suppression entry, all or nothing. Key layout: doc/redis-schema.md.
//
// Owns: the key prefix; borrows a RedisConn (blocking; not thread-safe).
// Guarantees: a report applied once changes nothing when applied again
// (same identity) while its marker lives ([bounce] report_ttl). A transport
// failure or an error reply is an Error (temporary: the caller exits 75 and
// Postfix retries; the script either ran whole or not at all).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "bounce/classify.h"
#include "common/config.h"
#include "common/redis_conn.h"
#include "common/redis_script.h"
#include "common/result.h"

namespace sluice::bounce {

// The fields sluice-milter keeps per message (doc/redis-schema.md).
struct MessageRecord {
  std::string account;      // SASL login, "" when the client did not authenticate
  std::string sender;       // envelope sender as the client gave it
  std::string from_domain;
  std::string rcpt;         // the recipient, only when there was exactly one
  long long nrcpt = 0;
  std::int64_t ts_ms = 0;
  std::vector<std::string> rcpts;  // every recipient the milter remembered (the first 100)
};

// One report's effect on one recipient.
struct FeedbackEvent {
  std::string identity;       // report_identity(): the idempotency key
  BounceKind kind = BounceKind::kNone;  // hard, soft, block or complaint
  std::string recipient;      // lookup key (normalize_suppression_recipient)
  std::string account;        // "" : no reputation bucket
  SuppressionScope scope = SuppressionScope::kSaslUsername;  // where a suppression goes
  std::string scope_value;    // the account, or the sender's domain
  std::string tracking_id;
  std::string note;           // at most kMaxSuppressionNoteLength, no CR/LF/NUL
};

struct ApplyOutcome {
  bool duplicate = false;      // applied before: nothing changed
  long long soft_count = 0;    // soft bounces in the window, this one included
  bool suppressed = false;     // a suppression entry was written
  bool already_suppressed = false;  // a permanent entry was there and kept
};

class FeedbackStore {
 public:
  FeedbackStore(RedisConn& conn, std::string key_prefix);

  // The message record, or nullopt when Redis has none (unknown or expired).
  Result<std::optional<MessageRecord>> message(std::string_view tracking_id);
  // Applies |event| once. kInvalidInput for an event that cannot be stored.
  Result<ApplyOutcome> apply(const FeedbackEvent& event, const BounceSettings& settings);

 private:
  RedisConn& conn_;
  std::string prefix_;
};

// feedback_apply.lua with suppression_add.lua prepended (one per process).
const RedisScript& feedback_apply_script();

}  // namespace sluice::bounce
