#include "unsubscribe/request_plan.h"

#include "common/log.h"
#include "unsubscribe/one_click_body.h"
#include "unsubscribe/pages.h"

namespace sluice::unsubscribe {
namespace {

// Enough of a rejected token to find it in a mail log, not the whole of it.
constexpr std::size_t kLoggedTokenPrefix = 16;

RequestPlan answer(Outcome outcome, int status, std::string_view text) {
  RequestPlan plan;
  plan.outcome = outcome;
  plan.response = text_response(status, text);
  return plan;
}

int status_for_problem(std::string_view problem) {
  if (problem == "malformed" || problem == "truncated" || problem == "too-long") return 400;
  return 403;
}

std::string_view text_for_problem(std::string_view problem) {
  if (problem == "expired") return "This unsubscribe link has expired. Please use the link in a more recent message.";
  if (status_for_problem(problem) == 400) return "This unsubscribe link is incomplete or damaged.";
  return "This unsubscribe link is not valid.";
}

}  // namespace

std::string_view outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::kForm: return "form";
    case Outcome::kApply: return "apply";
    case Outcome::kUnsubscribed: return "unsubscribed";
    case Outcome::kAlreadySuppressed: return "already-suppressed";
    case Outcome::kReplayed: return "replayed";
    case Outcome::kTokenRejected: return "rejected";
    case Outcome::kNoOneClickPair: return "no-one-click-pair";
    case Outcome::kNotFound: return "not-found";
    case Outcome::kMethodNotAllowed: return "method-not-allowed";
    case Outcome::kBadRequest: return "bad-request";
    case Outcome::kRedisFailed: return "redis-failed";
    case Outcome::kTimeout: return "timeout";
    case Outcome::kBusy: return "busy";
  }
  return "unknown";
}

std::string path_prefix_from_url_base(std::string_view url_base) {
  const std::size_t scheme = url_base.find("://");
  if (scheme == std::string_view::npos) return std::string(kDefaultPathPrefix);
  const std::size_t slash = url_base.find('/', scheme + 3);
  if (slash == std::string_view::npos) return std::string(kDefaultPathPrefix);
  std::string prefix(url_base.substr(slash));
  prefix = prefix.substr(0, prefix.find_first_of("?#"));
  if (prefix == "/") return std::string(kDefaultPathPrefix);
  if (prefix.back() != '/') prefix += '/';
  return prefix;
}

RequestPlan plan_request(const HttpRequest& request, const PlanContext& context) {
  const std::string_view path = request.path();
  if (!path.starts_with(context.path_prefix)) return answer(Outcome::kNotFound, 404, "Not found.");
  const std::string_view token = path.substr(context.path_prefix.size());
  if (token.empty() || token.find('/') != std::string_view::npos) {
    return answer(Outcome::kNotFound, 404, "Not found.");
  }
  const bool get = request.method == "GET" || request.method == "HEAD";
  if (!get && request.method != "POST") {
    RequestPlan plan = answer(Outcome::kMethodNotAllowed, 405, "Method not allowed.");
    plan.response.headers.emplace_back("Allow", "GET, HEAD, POST");
    return plan;
  }

  RequestPlan plan;
  plan.head_only = request.method == "HEAD";
  plan.token = token;
  auto claim = verify_unsubscribe_token(context.keys, token, context.now_unix_s, context.token_ttl);
  if (!claim) {
    const std::string_view problem = unsubscribe_token_problem(claim.error());
    plan.outcome = Outcome::kTokenRejected;
    plan.response = text_response(status_for_problem(problem), text_for_problem(problem));
    plan.detail = claim.error().detail;
    return plan;
  }
  plan.claim = std::move(claim).value();
  if (get) {
    plan.outcome = Outcome::kForm;
    plan.response = confirmation_page(plan.claim->recipient);
    return plan;
  }
  const std::string* content_type = request.header("content-type");
  if (!has_one_click_pair(content_type != nullptr ? *content_type : std::string_view{}, request.body)) {
    plan.outcome = Outcome::kNoOneClickPair;
    plan.response = text_response(400, "The request must carry List-Unsubscribe=One-Click (RFC 8058).");
    return plan;
  }
  plan.outcome = Outcome::kApply;
  return plan;
}

RequestPlan plan_refusal(int status, std::string_view reason) {
  RequestPlan plan = answer(Outcome::kBadRequest, status, std::string(reason) + ".");
  plan.detail = reason;
  return plan;
}

RequestPlan plan_timeout() { return answer(Outcome::kTimeout, 408, "Request timeout."); }

RequestPlan plan_busy() {
  RequestPlan plan = answer(Outcome::kBusy, 503, "Busy, please retry later.");
  plan.response.headers.emplace_back("Retry-After", std::to_string(kRetryAfterSeconds));
  return plan;
}

void finish_plan(RequestPlan& plan, const Result<UnsubscribeResult>& result) {
  if (!result) {
    plan.outcome = Outcome::kRedisFailed;
    plan.response = text_response(503, "Temporarily unavailable, please retry later.");
    plan.response.headers.emplace_back("Retry-After", std::to_string(kRetryAfterSeconds));
    plan.detail = result.error().message();
    return;
  }
  switch (*result) {
    case UnsubscribeResult::kUnsubscribed: plan.outcome = Outcome::kUnsubscribed; break;
    case UnsubscribeResult::kAlreadySuppressed: plan.outcome = Outcome::kAlreadySuppressed; break;
    case UnsubscribeResult::kReplayed: plan.outcome = Outcome::kReplayed; break;
  }
  // The same answer each time: the address is (and stays) unsubscribed.
  plan.response = text_response(200, "You have been unsubscribed.");
}

std::string request_log_line(const RequestPlan& plan, std::string_view method) {
  std::string line = "method=" + log_escape(method, 16);
  line += " status=" + std::to_string(plan.response.status);
  line += " outcome=";
  line += outcome_name(plan.outcome);
  if (plan.claim) {
    line += " account=" + log_escape(plan.claim->account);
    line += " recipient=" + log_escape(plan.claim->recipient);
    line += " key=" + log_escape(plan.claim->key_id, 8);
  } else if (!plan.token.empty()) {
    line += " token=" + log_escape(plan.token, kLoggedTokenPrefix);
  }
  if (!plan.detail.empty()) line += " detail=\"" + log_escape(plan.detail, 160) + "\"";
  return line;
}

}  // namespace sluice::unsubscribe
