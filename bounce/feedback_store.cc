#include "bounce/feedback_store.h"

#include <charconv>

#include "bounce/feedback_lua.h"
#include "common/shared_keys.h"
#include "common/log.h"
#include "common/lua_scripts.h"
#include "common/redis_keys.h"
#include "common/suppression_store.h"

namespace sluice::bounce {
namespace {

long long to_number(std::string_view text) {
  long long value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

bool note_is_clean(std::string_view note) {
  return note.size() <= kMaxSuppressionNoteLength &&
         note.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

}  // namespace

const RedisScript& feedback_apply_script() {
  static const RedisScript script("feedback_apply", "local function suppression_add(KEYS, ARGV)\n" +
                                                        suppression_add_script().source() + "\nend\n\n" +
                                                        std::string(feedback_apply_lua()));
  return script;
}

FeedbackStore::FeedbackStore(RedisConn& conn, std::string key_prefix) : conn_(conn), prefix_(std::move(key_prefix)) {}

Result<std::optional<MessageRecord>> FeedbackStore::message(std::string_view tracking_id) {
  const std::string key = message_record_key(prefix_, tracking_id);
  auto reply = conn_.command({"HMGET", key, "account", "sender", "from_domain", "rcpt", "nrcpt", "ts_ms", "rcpts"});
  if (!reply) return reply.error();
  const redisReply& r = **reply;
  if (r.type != REDIS_REPLY_ARRAY || r.elements != 7) {
    return make_error(Errc::kProtocol, "redis: HMGET of a message record answered " + reply_describe(r));
  }
  std::string_view fields[7];
  bool any = false;
  for (std::size_t i = 0; i < 7; ++i) {
    if (r.element[i]->type == REDIS_REPLY_NIL) continue;
    auto s = reply_string(*r.element[i]);
    if (!s) return make_error(Errc::kProtocol, "redis: message record field: " + s.error().detail);
    fields[i] = *s;
    any = true;
  }
  if (!any) return std::optional<MessageRecord>{};
  MessageRecord record{std::string(fields[0]), std::string(fields[1]), std::string(fields[2]),
                       std::string(fields[3]), to_number(fields[4]), to_number(fields[5]), {}};
  // "rcpts": the recipients, one per line (the milter writes at most 100).
  for (std::string_view rest = fields[6]; !rest.empty() && record.rcpts.size() < 1000;) {
    const auto eol = rest.find('\n');
    if (std::string_view one = rest.substr(0, eol); !one.empty()) record.rcpts.emplace_back(one);
    rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 1);
  }
  return std::optional<MessageRecord>{std::move(record)};
}

Result<ApplyOutcome> FeedbackStore::apply(const FeedbackEvent& event, const BounceSettings& settings) {
  if (event.kind == BounceKind::kNone) return make_error(Errc::kInvalidInput, "nothing to apply");
  if (event.identity.empty() || !note_is_clean(event.note)) {
    return make_error(Errc::kInvalidInput, "a feedback event needs an identity and a clean note");
  }
  auto value = normalize_suppression_scope_value(event.scope, event.scope_value);
  if (!value) return value.error();
  auto recipient = normalize_suppression_recipient(event.recipient);
  if (!recipient) return recipient.error();

  const std::vector<std::string> keys = {
      prefix_ + "report:" + event.identity,
      prefix_ + "soft:" + redis_key_component(*value) + ":" + redis_key_component(*recipient),
      suppression_entry_key(prefix_, event.scope, *value, *recipient),
      suppression_name_index_key(prefix_, event.scope, *value),
      suppression_expiry_index_key(prefix_, event.scope, *value)};
  const std::vector<std::string> args = {
      std::to_string(settings.report_ttl.count()),
      std::string(bounce_kind_name(event.kind)),
      event.account.empty() ? std::string() : reputation_bucket_stem(prefix_, event.account),
      std::to_string(kReputationBucketTtl.count()),
      std::to_string(settings.soft_bounce_window.count()),
      std::to_string(settings.soft_bounce_limit),
      std::to_string(settings.soft_suppress_for.count()),
      *recipient,
      event.tracking_id,
      event.note};
  auto reply = feedback_apply_script().eval(conn_, keys, args);
  if (!reply) return reply.error();
  const redisReply& r = **reply;
  if (r.type != REDIS_REPLY_ARRAY || r.elements != 3 || r.element[0]->type != REDIS_REPLY_STRING ||
      r.element[1]->type != REDIS_REPLY_INTEGER || r.element[2]->type != REDIS_REPLY_INTEGER) {
    return make_error(Errc::kProtocol, "redis: script feedback_apply answered " + reply_describe(r));
  }
  ApplyOutcome outcome;
  outcome.duplicate = std::string_view(r.element[0]->str, r.element[0]->len) == "duplicate";
  outcome.soft_count = r.element[1]->integer;
  outcome.suppressed = r.element[2]->integer == 1;
  outcome.already_suppressed = r.element[2]->integer == 2;
  return outcome;
}

}  // namespace sluice::bounce
