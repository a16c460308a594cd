#include "policyd/checks.h"

#include <ctime>

#include "common/address.h"
#include "common/cidr.h"
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

// "sender <a@b> is not authorised for login <alice>": clear, and cut so a
// long address cannot push the login out of the 500-byte reply.
std::string unauthorised_text(std::string_view sender, std::string_view login) {
  return "sender <" + std::string(sender.substr(0, 256)) + "> is not authorised for login " +
         std::string(login.substr(0, 128));
}

}  // namespace

std::optional<Verdict> relay_guard(const PolicyRequest& request, const PolicydSettings& settings) {
  if (!settings.require_authentication || request.authenticated()) return std::nullopt;
  // "unknown" (Postfix could not tell) matches no network: refused.
  if (any_contains(settings.trusted_networks, request.client_address)) return std::nullopt;
  return verdict_reject("5.7.1", "relay access denied: authenticate first", 554);
}

Prepared prepare(const PolicyRequest& request, const PolicydSettings& settings) {
  Prepared prepared;
  PolicyFacts& facts = prepared.facts;
  switch (request.protocol_state) {
    case ProtocolState::kRcpt: facts.stage = PolicyFacts::Stage::kRcpt; break;
    case ProtocolState::kEndOfMessage: facts.stage = PolicyFacts::Stage::kEndOfMessage; break;
    default:
      prepared.immediate = verdict_dunno();
      return prepared;
  }
  if (auto refused = relay_guard(request, settings)) {
    prepared.immediate = std::move(refused);
    prepared.reason = "relay-denied";
    return prepared;
  }
  facts.instance = request.instance;
  facts.client_address = request.client_address;
  facts.sasl_username = request.sasl_username;
  facts.size = request.size;
  if (!request.sender.empty()) {
    if (auto sender = parse_mailbox(request.sender, MailboxOptions{.allow_null = true})) {
      facts.sender = sender->str();
      facts.sender_key = sender->lookup_key();
      facts.sender_domain = sender->domain;
    } else {
      prepared.note = "unparsable sender (" + sender.error().detail + "): sender rules skipped";
      if (settings.sender_authorisation && request.authenticated() && facts.stage == PolicyFacts::Stage::kRcpt) {
        prepared.immediate = verdict_reject("5.7.1", unauthorised_text(request.sender, request.sasl_username));
        prepared.reason = "sender-unparsable";
        return prepared;
      }
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

Verdict verdict_for(const PolicyOutcome& outcome, const PolicyFacts& facts) {
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
    case PolicyOutcome::Kind::kSenderNotAuthorised:
      return verdict_reject("5.7.1", unauthorised_text(facts.sender, facts.sasl_username));
    case PolicyOutcome::Kind::kPaused: {
      // A deferral: the client keeps the mail and retries once the operator
      // resumes the account.
      std::string text = "account paused by the relay operator";
      text += outcome.pause_reason.empty() ? " (no reason given)" : " (" + outcome.pause_reason + ")";
      return verdict_defer("4.7.1", text);
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

std::string_view outcome_reason(const PolicyOutcome& outcome) {
  switch (outcome.kind) {
    case PolicyOutcome::Kind::kAllow: return "allowed";
    case PolicyOutcome::Kind::kSuppressed: return "suppressed";
    case PolicyOutcome::Kind::kOverQuota: return "over-quota";
    case PolicyOutcome::Kind::kSenderNotAuthorised:
      return outcome.sender_set_missing ? "sender-set-missing" : "sender-not-authorised";
    case PolicyOutcome::Kind::kPaused: return "paused";
  }
  return "unknown";
}

Verdict verdict_for_redis_error(RedisErrorAction action) {
  if (action == RedisErrorAction::kAccept) return verdict_dunno();
  return verdict_defer_if_permit("4.3.0", "quota service temporarily unavailable, try again later");
}

std::string decision_log_line(const PolicyRequest& request, const Verdict& verdict, std::string_view reason,
                              std::string_view spf) {
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
  if (!spf.empty()) {
    line += " spf=";
    line += spf;
  }
  return line;
}

}  // namespace sluice::policyd
