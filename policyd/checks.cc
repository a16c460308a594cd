#include "policyd/checks.h"

#include <ctime>

#include "common/address.h"
#include "common/log.h"

namespace sluice::policyd {
namespace {

std::string utc_time(std::int64_t unix_ms, const char* format) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[40];
  std::strftime(text, sizeof text, format, &tm);
  return text;
}

}  // namespace

Prepared prepare(const PolicyRequest& request) {
  Prepared prepared;
  PolicyFacts& facts = prepared.facts;
  switch (request.protocol_state) {
    case ProtocolState::kRcpt: facts.stage = PolicyFacts::Stage::kRcpt; break;
    case ProtocolState::kEndOfMessage: facts.stage = PolicyFacts::Stage::kEndOfMessage; break;
    default:
      prepared.immediate = verdict_dunno();
      return prepared;
  }
  facts.instance = request.instance;
  facts.client_address = request.client_address;
  facts.sasl_username = request.sasl_username;
  facts.size = request.size;
  if (!request.sender.empty()) {
    if (auto sender = parse_mailbox(request.sender, MailboxOptions{.allow_null = true})) {
      facts.sender = sender->str();
      facts.sender_domain = sender->domain;
    } else {
      prepared.note = "unparsable sender (" + sender.error().detail + "): sender rules skipped";
    }
  }
  if (facts.stage == PolicyFacts::Stage::kRcpt) {
    if (auto recipient = parse_mailbox(request.recipient, MailboxOptions{.allow_null = false})) {
      facts.recipient = recipient->lookup_key();
    } else {
      prepared.note = "unparsable recipient (" + recipient.error().detail + "): suppression lookup skipped";
    }
  }
  return prepared;
}

Verdict verdict_for(const PolicyOutcome& outcome) {
  switch (outcome.kind) {
    case PolicyOutcome::Kind::kAllow:
      return verdict_dunno();
    case PolicyOutcome::Kind::kSuppressed: {
      // Postfix prefixes "<address>: Recipient address rejected: " itself;
      // the text says why, so the sender's own logs explain the refusal.
      std::string text = "recipient suppressed (" + outcome.reason;
      if (outcome.since_ms > 0) text += ", since " + utc_time(outcome.since_ms, "%Y-%m-%d");
      text += ")";
      return verdict_reject("5.7.1", text);
    }
    case PolicyOutcome::Kind::kOverQuota: {
      std::string text = "sending quota exceeded: " + std::to_string(outcome.limit.limit) + " " +
                         quota_limit_label(outcome.limit) + " (rule " + outcome.rule + ")";
      if (outcome.reset_at_ms > 0) text += ", resets at " + utc_time(outcome.reset_at_ms, "%Y-%m-%d %H:%M:%S UTC");
      if (outcome.action == QuotaAction::kReject) return verdict_reject("5.7.1", text);
      return verdict_defer("4.7.1", text);
    }
  }
  return verdict_tempfail_internal();
}

Verdict verdict_for_redis_error(RedisErrorAction action) {
  if (action == RedisErrorAction::kAccept) return verdict_dunno();
  return verdict_defer_if_permit("4.3.0", "quota service temporarily unavailable, try again later");
}

std::string decision_log_line(const PolicyRequest& request, const Verdict& verdict, std::string_view reason) {
  std::string line = request.queue_id.empty() ? "NOQUEUE" : log_escape(request.queue_id, 32);
  line += ": policy state=";
  line += protocol_state_name(request.protocol_state);
  line += " decision=";
  line += verdict_kind_name(verdict.kind);
  line += " reason=";
  line += reason;
  if (!verdict.text.empty()) line += " text=\"" + log_escape(verdict.text, 200) + "\"";
  if (!request.sasl_username.empty()) line += " sasl=" + log_escape(request.sasl_username, 64);
  line += " sender=<" + log_escape(request.sender, 100) + ">";
  if (!request.recipient.empty()) line += " rcpt=<" + log_escape(request.recipient, 100) + ">";
  if (request.recipient_count != 0) line += " nrcpt=" + std::to_string(request.recipient_count);
  if (request.size != 0) line += " size=" + std::to_string(request.size);
  line += " client=" + log_escape(request.client_address, 64);
  return line;
}

}  // namespace sluice::policyd
