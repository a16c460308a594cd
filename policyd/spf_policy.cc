// SPF decisions: see spf_policy.h.
#include "policyd/spf_policy.h"

#include <utility>

#include "common/ascii.h"
#include "common/cidr.h"

namespace sluice::policyd {
namespace {

// RFC 7208 9.1: a key-value-pair value is a dot-atom or a quoted-string.
bool is_dot_atom(std::string_view text) {
  if (text.empty() || text.front() == '.' || text.back() == '.') return false;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    const bool atext = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       std::string_view("!#$%&'*+-/=?^_`{|}~.@").find(c) != std::string_view::npos;
    if (!atext || u >= 0x80) return false;
  }
  return true;
}

std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

std::string kv_value(std::string_view text) { return is_dot_atom(text) ? std::string(text) : quoted(text); }

// A header comment must keep its parentheses balanced: the explanation's
// own become brackets.
std::string comment_text(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '(') c = '[';
    if (c == ')') c = ']';
  }
  return out;
}

}  // namespace

bool spf_applies(const PolicyRequest& request, const PolicydSettings& settings) {
  return settings.spf && request.protocol_state == ProtocolState::kRcpt && !request.authenticated() &&
         !any_contains(settings.spf_exempt_networks, request.client_address);
}

SpfQuery spf_query_for(const PolicyRequest& request) {
  std::string_view from = request.sender;
  // Postfix sends the address without brackets; be lenient with "<a@b>".
  if (from.size() >= 2 && from.front() == '<' && from.back() == '>') from = from.substr(1, from.size() - 2);
  return SpfQuery{request.client_address, request.helo_name, std::string(from)};
}

std::string spf_query_domain(const SpfQuery& query) {
  std::string_view identity = query.mail_from;
  if (identity.empty()) return ascii_lower(query.helo);
  const auto at = identity.rfind('@');
  return ascii_lower(at == std::string_view::npos ? identity : identity.substr(at + 1));
}

SpfAction spf_action_for(SpfResult result, const SpfActions& actions) {
  switch (result) {
    case SpfResult::kPass: return SpfAction::kAccept;
    case SpfResult::kFail: return actions.fail;
    case SpfResult::kSoftfail: return actions.softfail;
    case SpfResult::kNeutral: return actions.neutral;
    case SpfResult::kNone: return actions.none;
    case SpfResult::kPermError: return actions.permerror;
    case SpfResult::kTempError: return actions.temperror;
  }
  return actions.temperror;
}

std::optional<Verdict> spf_verdict(const SpfOutcome& outcome, const SpfQuery& query, const SpfActions& actions) {
  const SpfAction action = spf_action_for(outcome.result, actions);
  if (action == SpfAction::kAccept) return std::nullopt;
  const std::string domain = outcome.domain.empty() ? spf_query_domain(query) : outcome.domain;
  const std::string result(spf_result_name(outcome.result));
  const bool reject = action == SpfAction::kReject;
  std::string text;
  std::string detail = "x.7.23";  // RFC 7372: SPF validation failed
  switch (outcome.result) {
    case SpfResult::kNone:
      text = "SPF check failed: " + domain + " publishes no SPF record (result none)";
      break;
    case SpfResult::kTempError:
      detail = "x.7.24";  // RFC 7372: SPF validation error
      text = "SPF check of " + domain + " could not complete (result temperror";
      if (!outcome.explanation.empty()) text += ": " + outcome.explanation;
      text += reject ? ")" : "), try again later";
      break;
    case SpfResult::kPermError:
      detail = "x.7.24";
      text = "SPF record of " + domain + " is unusable (result permerror)";
      break;
    default:
      text = "SPF check failed: " + domain + " does not authorise " + query.client_ip + " (result " + result + ")";
      break;
  }
  const std::string code = (reject ? "5" : "4") + detail.substr(1);
  return reject ? verdict_reject(code, text) : verdict_defer(code, text);
}

std::string received_spf_header(const SpfOutcome& outcome, const SpfQuery& query) {
  std::string line = "Received-SPF: ";
  line += spf_result_name(outcome.result);
  const std::string domain = outcome.domain.empty() ? spf_query_domain(query) : outcome.domain;
  line += " (" +
          comment_text(outcome.explanation.empty() ? "sluice-policyd: SPF of " + domain : outcome.explanation) +
          ")";
  line += " client-ip=" + kv_value(query.client_ip) + ";";
  if (!query.mail_from.empty()) line += " envelope-from=" + quoted(query.mail_from) + ";";
  if (!query.helo.empty()) line += " helo=" + kv_value(query.helo) + ";";
  return line;
}

SpfOutcome spf_temperror(const SpfQuery& query, std::string why) {
  return SpfOutcome{SpfResult::kTempError, spf_query_domain(query), std::move(why)};
}

}  // namespace sluice::policyd
