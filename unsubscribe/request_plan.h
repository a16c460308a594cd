// What sluice-unsubscribe does with one request, decided without a socket
// or Redis: route (path, method), verify the token, check the RFC 8058
// body. A POST that passes everything needs Redis: the plan says so and
// finish_plan() turns apply_unsubscribe()'s result into the answer.
//
// Answers:
//   GET/HEAD <prefix>TOKEN   valid: 200 confirmation page with a POST form;
//                            never writes anything
//   POST <prefix>TOKEN       List-Unsubscribe=One-Click and a valid token:
//                            200 after the write, 503 + Retry-After when
//                            Redis fails (the provider retries)
//   bad token                400 malformed, truncated, too-long;
//                            403 forged, unknown-key, expired, future
//   POST without the pair    400
//   other methods            405 with Allow
//   other paths              404
// One log line per request: request_log_line().
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/feedback_settings.h"
#include "common/result.h"
#include "common/unsubscribe_token.h"
#include "unsubscribe/http_request.h"
#include "unsubscribe/http_response.h"
#include "unsubscribe/unsubscribe_action.h"

namespace sluice::unsubscribe {

inline constexpr std::string_view kDefaultPathPrefix = "/unsubscribe/";
inline constexpr int kRetryAfterSeconds = 120;

enum class Outcome {
  kForm,               // GET: the confirmation page
  kApply,              // POST passed every check: Redis decides (finish_plan)
  kUnsubscribed,
  kAlreadySuppressed,
  kReplayed,
  kTokenRejected,      // see token_problem
  kNoOneClickPair,     // POST body without List-Unsubscribe=One-Click
  kNotFound,
  kMethodNotAllowed,
  kBadRequest,         // the reader refused it (400, 411, 413, 431, 505)
  kRedisFailed,        // 503
  kTimeout,            // 408: the request did not arrive in time
  kBusy,               // 503: too many connections
};
std::string_view outcome_name(Outcome outcome);

struct PlanContext {
  std::string_view path_prefix = kDefaultPathPrefix;  // starts and ends with '/'
  std::span<const UnsubscribeKey> keys;
  std::int64_t now_unix_s = 0;
  std::chrono::seconds token_ttl{0};
};

struct RequestPlan {
  Outcome outcome = Outcome::kBadRequest;
  HttpResponse response;    // meaningless while outcome == kApply
  bool head_only = false;   // HEAD: headers only
  std::string token;        // as found in the path
  std::optional<UnsubscribeClaim> claim;  // once the token verified
  std::string detail;       // for the log: the token problem, Redis error, reader's reason
};

// The path prefix from [unsubscribe] url_base ("https://host/u/" -> "/u/"),
// kDefaultPathPrefix when it is empty or has no path.
std::string path_prefix_from_url_base(std::string_view url_base);

RequestPlan plan_request(const HttpRequest& request, const PlanContext& context);
// The plan for a request the reader refused with |status|.
RequestPlan plan_refusal(int status, std::string_view reason);
// The plans for the two ways a connection ends before a request.
RequestPlan plan_timeout();
RequestPlan plan_busy();
// Completes a kApply plan with apply_unsubscribe()'s result.
void finish_plan(RequestPlan& plan, const Result<UnsubscribeResult>& result);

// "method=POST status=200 outcome=unsubscribed account=alice
// recipient=bob@example.com key=k1": escaped, one line.
std::string request_log_line(const RequestPlan& plan, std::string_view method);

}  // namespace sluice::unsubscribe
