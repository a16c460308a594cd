#include "bounce/breaker.h"

#include "common/log.h"

namespace sluice::bounce {
namespace {

// SET key value NX [EX seconds]: true when this call set it.
Result<bool> set_once(RedisConn& conn, const std::string& key, std::string_view value, long long ttl_seconds) {
  auto reply = ttl_seconds > 0 ? conn.command({"SET", key, value, "NX", "EX", std::to_string(ttl_seconds)})
                               : conn.command({"SET", key, value, "NX"});
  if (!reply) return reply.error();
  const redisReply& r = **reply;
  if (r.type == REDIS_REPLY_NIL) return false;
  if (r.type == REDIS_REPLY_STATUS) return true;
  return make_error(Errc::kProtocol, "redis: SET NX answered " + reply_describe(r));
}

}  // namespace

Result<BreakerOutcome> run_breaker(RedisConn& conn, std::string_view prefix, std::string_view account,
                                   const ReputationSettings& settings) {
  BreakerOutcome out;
  auto counts = read_reputation(conn, prefix, account, settings);
  if (!counts) return counts.error();
  out.counts = *counts;
  out.verdict = judge_reputation(out.counts, settings);
  const long long hours = reputation_window_hours(settings);
  const std::string who = log_escape(account, 64);
  if (out.verdict.warn_bounce) {
    auto first = set_once(conn, reputation_warn_key(prefix, account, "bounce"), "1", kReputationWarnIntervalSeconds);
    if (!first) return first.error();
    if (*first) {
      out.warn_bounce_logged = true;
      log_warn("reputation: account=%s %s, above warn_bounce_rate %s", who.c_str(),
               rate_reason("bounce", out.counts.hard, out.counts.sent, hours).c_str(),
               format_rate(settings.warn_bounce_rate).c_str());
    }
  }
  if (out.verdict.warn_complaint) {
    auto first =
        set_once(conn, reputation_warn_key(prefix, account, "complaint"), "1", kReputationWarnIntervalSeconds);
    if (!first) return first.error();
    if (*first) {
      out.warn_complaint_logged = true;
      log_warn("reputation: account=%s %s, above warn_complaint_rate %s", who.c_str(),
               rate_reason("complaint", out.counts.complaint, out.counts.sent, hours).c_str(),
               format_rate(settings.warn_complaint_rate).c_str());
    }
  }
  if (!out.verdict.pause_reason.empty()) {
    auto first = set_once(conn, pause_key(prefix, account), out.verdict.pause_reason, 0);
    if (!first) return first.error();
    if (*first) {
      out.paused_now = true;
      log_warn("reputation: account=%s paused: %s (sluicectl reputation resume %s)", who.c_str(),
               out.verdict.pause_reason.c_str(), who.c_str());
    }
  }
  return out;
}

}  // namespace sluice::bounce
