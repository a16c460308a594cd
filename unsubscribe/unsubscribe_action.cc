#include "unsubscribe/unsubscribe_action.h"

#include <algorithm>
#include <vector>

#include "common/redis_keys.h"
#include "common/suppression_store.h"

namespace sluice::unsubscribe {
namespace {

constexpr std::string_view kReason = "unsubscribe";
constexpr std::string_view kNote = "one-click";

Error unexpected(std::string_view what, const redisReply& reply) {
  return make_error(Errc::kProtocol, "redis: " + std::string(what) + " answered " + reply_describe(reply));
}

}  // namespace

std::string_view unsubscribe_result_name(UnsubscribeResult result) {
  switch (result) {
    case UnsubscribeResult::kUnsubscribed: return "unsubscribed";
    case UnsubscribeResult::kAlreadySuppressed: return "already-suppressed";
    case UnsubscribeResult::kReplayed: return "replayed";
  }
  return "unknown";
}

std::string used_token_key(std::string_view key_prefix, std::string_view token) {
  return std::string(key_prefix) + "unsubscribed:" + unsubscribe_token_digest(token);
}

Result<UnsubscribeResult> apply_unsubscribe(RedisConn& conn, std::string_view key_prefix,
                                            const UnsubscribeClaim& claim, std::string_view token,
                                            std::chrono::seconds token_ttl, std::int64_t now_unix_s) {
  const std::string used_key = used_token_key(key_prefix, token);
  auto used = conn.command({"EXISTS", used_key});
  if (!used) return used.error();
  auto used_count = reply_integer(**used);
  if (!used_count) return unexpected("EXISTS", **used);
  if (*used_count != 0) return UnsubscribeResult::kReplayed;

  SuppressionStore store(conn, std::string(key_prefix));
  auto existing = store.get(SuppressionScope::kSaslUsername, claim.account, claim.recipient);
  if (!existing) return existing.error();
  // A permanent entry (another token, a hard bounce, the operator) already
  // does what was asked: its reason and note stay. An expiring one (a soft
  // bounce) is made permanent: the recipient asked for good.
  const bool already = existing->has_value() && (*existing)->expires_ms == 0;
  if (!already) {
    SuppressionEntry entry;
    entry.scope = SuppressionScope::kSaslUsername;
    entry.scope_value = claim.account;
    entry.recipient = claim.recipient;
    entry.reason = kReason;
    entry.note = kNote;
    auto added = store.add(entry, SinceOnUpdate::kKeep);
    if (!added) return added.error();
  }

  const std::string ttl = std::to_string(std::max<std::int64_t>(1, token_ttl.count()));
  auto marked = conn.command({"SET", used_key, "1", "NX", "EX", ttl});
  if (!marked) return marked.error();
  if ((*marked)->type == REDIS_REPLY_NIL) return UnsubscribeResult::kReplayed;  // another request got there first
  if ((*marked)->type != REDIS_REPLY_STATUS) return unexpected("SET NX", **marked);

  const std::string bucket = reputation_bucket_key(key_prefix, claim.account, now_unix_s);
  const std::vector<std::vector<std::string>> commands = {
      {"HINCRBY", bucket, "unsubscribe", "1"},
      {"EXPIRE", bucket, std::to_string(kReputationBucketTtl.count())},
  };
  auto counted = conn.pipeline(commands);
  if (!counted) return counted.error();
  for (const RedisReplyPtr& reply : *counted) {
    if (reply->type != REDIS_REPLY_INTEGER) return unexpected("HINCRBY/EXPIRE", *reply);
  }
  return already ? UnsubscribeResult::kAlreadySuppressed : UnsubscribeResult::kUnsubscribed;
}

}  // namespace sluice::unsubscribe
