// Tests for unsubscribe/request_plan.*: routing, the answer to each kind of
// bad token, GET never reaching Redis, the RFC 8058 body check, and the
// log line.
#include "unsubscribe/request_plan.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice::unsubscribe {
namespace {

constexpr std::int64_t kNow = 1'700'000'000;
constexpr std::chrono::seconds kTtl{90 * 86'400};

class RequestPlanTest : public ::testing::Test {
 protected:
  std::vector<UnsubscribeKey> keys_ = {UnsubscribeKey{"k1", std::string(32, 'K')}};
  std::string token_ = make_unsubscribe_token(keys_[0], "alice", "Bob@Example.com", kNow - 60);

  PlanContext context() const { return PlanContext{"/unsubscribe/", keys_, kNow, kTtl}; }

  static HttpRequest request(std::string method, std::string target, std::string body = "") {
    HttpRequest r;
    r.method = std::move(method);
    r.target = std::move(target);
    r.headers.emplace_back("host", "relay.example");
    if (!body.empty()) r.headers.emplace_back("content-type", "application/x-www-form-urlencoded");
    r.body = std::move(body);
    return r;
  }
  RequestPlan plan(std::string method, std::string target, std::string body = "") const {
    return plan_request(request(std::move(method), std::move(target), std::move(body)), context());
  }
};

TEST_F(RequestPlanTest, ValidPostNeedsRedisWithTheVerifiedClaim) {
  const RequestPlan p = plan("POST", "/unsubscribe/" + token_, "List-Unsubscribe=One-Click");
  EXPECT_EQ(p.outcome, Outcome::kApply);
  ASSERT_TRUE(p.claim.has_value());
  EXPECT_EQ(p.claim->account, "alice");
  EXPECT_EQ(p.claim->recipient, "bob@example.com");
  EXPECT_EQ(p.token, token_);
}

TEST_F(RequestPlanTest, GetAndHeadShowTheFormAndNeverApply) {
  const RequestPlan get = plan("GET", "/unsubscribe/" + token_);
  EXPECT_EQ(get.outcome, Outcome::kForm);
  EXPECT_EQ(get.response.status, 200);
  EXPECT_NE(get.response.body.find("bob@example.com"), std::string::npos);
  EXPECT_NE(get.response.body.find("method=\"post\""), std::string::npos);
  const RequestPlan head = plan("HEAD", "/unsubscribe/" + token_ + "?utm_source=x");
  EXPECT_EQ(head.outcome, Outcome::kForm);
  EXPECT_TRUE(head.head_only);
  // Even with the one-click body, a GET only shows the page.
  EXPECT_EQ(plan("GET", "/unsubscribe/" + token_, "List-Unsubscribe=One-Click").outcome, Outcome::kForm);
}

TEST_F(RequestPlanTest, RoutesOtherPathsAndMethods) {
  struct Case {
    const char* why;
    std::string method;
    std::string target;
    int want_status;
  } cases[] = {
      {"root", "GET", "/", 404},
      {"prefix only", "POST", "/unsubscribe/", 404},
      {"prefix without slash", "GET", "/unsubscribe", 404},
      {"other prefix", "GET", "/unsub/" + token_, 404},
      {"deeper path", "GET", "/unsubscribe/" + token_ + "/x", 404},
      {"PUT", "PUT", "/unsubscribe/" + token_, 405},
      {"DELETE", "DELETE", "/unsubscribe/" + token_, 405},
      {"lowercase get is another method", "get", "/unsubscribe/" + token_, 405},
  };
  for (const Case& c : cases) {
    const RequestPlan p = plan(c.method, c.target);
    EXPECT_EQ(p.response.status, c.want_status) << c.why;
    EXPECT_FALSE(p.claim.has_value()) << c.why;
  }
  const RequestPlan put = plan("PUT", "/unsubscribe/" + token_);
  ASSERT_EQ(put.response.headers.size(), 1u);
  EXPECT_EQ(put.response.headers[0], (std::pair<std::string, std::string>{"Allow", "GET, HEAD, POST"}));
}

TEST_F(RequestPlanTest, BadTokensAre403Or400AndCarryNoClaim) {
  std::string altered = token_;
  // Inside the MAC (the last character also holds padding bits).
  altered[altered.size() - 5] = altered[altered.size() - 5] == 'A' ? 'B' : 'A';
  const std::string expired = make_unsubscribe_token(keys_[0], "alice", "bob@example.com", kNow - kTtl.count() - 1);
  const std::string future = make_unsubscribe_token(keys_[0], "alice", "bob@example.com", kNow + 2 * 86'400);
  const std::string other_key =
      make_unsubscribe_token(UnsubscribeKey{"k9", std::string(32, 'K')}, "alice", "bob@example.com", kNow);
  const std::string forged =
      make_unsubscribe_token(UnsubscribeKey{"k1", std::string(32, 'F')}, "alice", "bob@example.com", kNow);
  struct Case {
    const char* why;
    std::string token;
    int want_status;
    const char* want_problem;
  } cases[] = {
      {"altered", altered, 403, "forged"},
      {"forged with another secret", forged, 403, "forged"},
      {"unknown key id", other_key, 403, "unknown-key"},
      {"expired", expired, 403, "expired"},
      {"issued two days ahead", future, 403, "future"},
      {"truncated", token_.substr(0, 20), 400, "truncated"},
      {"garbage", "not*a*token", 400, "malformed"},
      {"huge", std::string(5000, 'A'), 400, "too-long"},
  };
  for (const Case& c : cases) {
    for (const char* method : {"POST", "GET"}) {
      const RequestPlan p = plan(method, "/unsubscribe/" + c.token, "List-Unsubscribe=One-Click");
      EXPECT_EQ(p.outcome, Outcome::kTokenRejected) << c.why << " " << method;
      EXPECT_EQ(p.response.status, c.want_status) << c.why << " " << method;
      EXPECT_FALSE(p.claim.has_value()) << c.why;
      EXPECT_TRUE(p.detail.starts_with(c.want_problem)) << c.why << ": got " << p.detail;
    }
  }
}

TEST_F(RequestPlanTest, PostWithoutTheOneClickPairIs400) {
  for (const char* body : {"", "List-Unsubscribe=Yes", "hello"}) {
    const RequestPlan p = plan("POST", "/unsubscribe/" + token_, body);
    EXPECT_EQ(p.outcome, Outcome::kNoOneClickPair) << body;
    EXPECT_EQ(p.response.status, 400) << body;
  }
}

TEST_F(RequestPlanTest, FinishPlanMapsRedisResults) {
  struct Case {
    Result<UnsubscribeResult> result;
    Outcome want;
    int want_status;
  } cases[] = {
      {UnsubscribeResult::kUnsubscribed, Outcome::kUnsubscribed, 200},
      {UnsubscribeResult::kAlreadySuppressed, Outcome::kAlreadySuppressed, 200},
      {UnsubscribeResult::kReplayed, Outcome::kReplayed, 200},
      {make_error(Errc::kUnavailable, "redis down"), Outcome::kRedisFailed, 503},
      {make_error(Errc::kTimeout, "redis slow"), Outcome::kRedisFailed, 503},
  };
  for (const Case& c : cases) {
    RequestPlan p = plan("POST", "/unsubscribe/" + token_, "List-Unsubscribe=One-Click");
    finish_plan(p, c.result);
    EXPECT_EQ(p.outcome, c.want) << outcome_name(c.want);
    EXPECT_EQ(p.response.status, c.want_status) << outcome_name(c.want);
  }
  RequestPlan p = plan("POST", "/unsubscribe/" + token_, "List-Unsubscribe=One-Click");
  finish_plan(p, make_error(Errc::kUnavailable, "redis down"));
  ASSERT_EQ(p.response.headers.size(), 1u);
  EXPECT_EQ(p.response.headers[0].first, "Retry-After");
}

TEST_F(RequestPlanTest, LogLineNamesAccountRecipientAndOutcome) {
  RequestPlan p = plan("POST", "/unsubscribe/" + token_, "List-Unsubscribe=One-Click");
  finish_plan(p, UnsubscribeResult::kReplayed);
  EXPECT_EQ(request_log_line(p, "POST"),
            "method=POST status=200 outcome=replayed account=alice recipient=bob@example.com key=k1");
  // A rejected token is named by its first characters only, escaped.
  const RequestPlan bad = plan("POST", "/unsubscribe/\x01" + std::string(40, 'x'));
  EXPECT_EQ(request_log_line(bad, "POST"),
            "method=POST status=400 outcome=rejected token=\\x01xxxxxxxxxxxxxxx... "
            "detail=\"malformed: a character outside base64url\"");
}

TEST(PathPrefix, ComesFromUrlBase) {
  struct Case {
    const char* url_base;
    const char* want;
  } cases[] = {
      {"", "/unsubscribe/"},
      {"https://relay.example/unsubscribe/", "/unsubscribe/"},
      {"https://relay.example/u", "/u/"},
      {"https://relay.example/a/b/?x=1", "/a/b/"},
      {"https://relay.example", "/unsubscribe/"},
      {"https://relay.example/", "/unsubscribe/"},
  };
  for (const Case& c : cases) EXPECT_EQ(path_prefix_from_url_base(c.url_base), c.want) << c.url_base;
}

}  // namespace
}  // namespace sluice::unsubscribe
