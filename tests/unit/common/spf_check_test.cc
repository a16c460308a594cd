// Tests for common/spf_check.*: libspf2's answers mapped to RFC 7208 result
// names, over its zone layer (no network), and hostile input.
#include "common/spf_check.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice {
namespace {

using Type = SpfZoneRecord::Type;

// One small world of domains, each showing one SPF outcome.
std::vector<SpfZoneRecord> zone() {
  return {
      {Type::kTxt, "example.test", "v=spf1 ip4:192.0.2.0/28 include:esp.test mx ip6:2001:db8:25::/48 -all"},
      {Type::kTxt, "esp.test", "v=spf1 ip4:198.51.100.0/24 -all"},
      {Type::kMx, "example.test", "mx.example.test"},
      {Type::kA, "mx.example.test", "203.0.113.25"},
      {Type::kTxt, "soft.test", "v=spf1 ip4:192.0.2.1 ~all"},
      {Type::kTxt, "neutral.test", "v=spf1 ?all"},
      {Type::kTxt, "nospf.test", "google-site-verification=abc"},
      {Type::kTempFail, "temp.test", ""},
      {Type::kTxt, "syntax.test", "v=spf1 ip4:not-an-address -all"},
      {Type::kTxt, "two.test", "v=spf1 -all"},
      {Type::kTxt, "two.test", "v=spf1 +all"},
      {Type::kTxt, "dangling.test", "v=spf1 include:missing.test -all"},
      {Type::kNotFound, "missing.test", ""},
      {Type::kTxt, "helo.test", "v=spf1 ip4:192.0.2.99 -all"},
      {Type::kTxt, "exp.test", "v=spf1 -all exp=why.exp.test"},
      {Type::kTxt, "why.exp.test", std::string("bad\x01\x7f text ") + std::string(400, 'x')},
  };
}

class SpfCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto created = SpfChecker::create_with_zone(zone());
    ASSERT_TRUE(created.ok()) << created.error().message();
    checker_.emplace(std::move(created).value());
  }
  std::optional<SpfChecker> checker_;
};

struct Case {
  const char* ip;
  const char* mail_from;
  SpfResult want;
  const char* why;
};

TEST_F(SpfCheckTest, MapsEachOutcomeToItsRfc7208Name) {
  const Case cases[] = {
      {"192.0.2.5", "alice@example.test", SpfResult::kPass, "ip4: mechanism"},
      {"198.51.100.77", "alice@example.test", SpfResult::kPass, "include: of another domain"},
      {"203.0.113.25", "alice@example.test", SpfResult::kPass, "mx: mechanism"},
      {"2001:db8:25::7", "alice@example.test", SpfResult::kPass, "ip6: mechanism"},
      {"192.0.2.200", "alice@example.test", SpfResult::kFail, "-all"},
      {"192.0.2.200", "bob@soft.test", SpfResult::kSoftfail, "~all"},
      {"192.0.2.200", "bob@neutral.test", SpfResult::kNeutral, "?all"},
      {"192.0.2.200", "bob@nospf.test", SpfResult::kNone, "TXT records, none of them SPF"},
      {"192.0.2.200", "bob@nowhere.test", SpfResult::kNone, "domain does not exist"},
      {"192.0.2.200", "bob@temp.test", SpfResult::kTempError, "TRY_AGAIN from DNS"},
      {"192.0.2.200", "bob@syntax.test", SpfResult::kPermError, "syntax error in the record"},
      {"192.0.2.200", "bob@two.test", SpfResult::kPermError, "two SPF records (RFC 7208 4.5)"},
      {"192.0.2.200", "bob@dangling.test", SpfResult::kPermError, "include: of a missing domain (RFC 7208 5.2)"},
  };
  for (const Case& c : cases) {
    const SpfOutcome got = checker_->check(c.ip, "client.example.net", c.mail_from);
    EXPECT_EQ(spf_result_name(got.result), spf_result_name(c.want))
        << c.why << ": " << c.ip << " " << c.mail_from << " (" << got.explanation << ")";
  }
}

TEST_F(SpfCheckTest, ReportsTheDomainCheckedAndWhy) {
  const SpfOutcome got = checker_->check("192.0.2.200", "client.example.net", "Alice@Example.TEST");
  EXPECT_EQ(got.result, SpfResult::kFail);
  EXPECT_EQ(got.domain, "example.test");
  EXPECT_NE(got.explanation.find("does not designate 192.0.2.200 as permitted sender"), std::string::npos)
      << got.explanation;
}

TEST_F(SpfCheckTest, NullSenderChecksPostmasterAtHelo) {
  SpfOutcome got = checker_->check("192.0.2.99", "helo.test", "");
  EXPECT_EQ(got.result, SpfResult::kPass) << got.explanation;
  EXPECT_EQ(got.domain, "helo.test");
  got = checker_->check("192.0.2.98", "helo.test", "");
  EXPECT_EQ(got.result, SpfResult::kFail) << got.explanation;
}

TEST_F(SpfCheckTest, NullSenderWithoutHeloIsNone) {
  const SpfOutcome got = checker_->check("192.0.2.99", "", "");
  EXPECT_EQ(got.result, SpfResult::kNone);
  EXPECT_FALSE(got.explanation.empty());
}

TEST_F(SpfCheckTest, GarbageAddressIsPermerrorWithReason) {
  const char* garbage[] = {"", "not-an-ip", "192.0.2.300", "192.0.2.1 ", "2001:db8:::1", "192.0.2.1/24"};
  for (const char* ip : garbage) {
    const SpfOutcome got = checker_->check(ip, "client.example.net", "alice@example.test");
    EXPECT_EQ(got.result, SpfResult::kPermError) << "ip \"" << ip << "\"";
    EXPECT_NE(got.explanation.find("not an IP address"), std::string::npos) << got.explanation;
  }
  const std::string with_nul("192.0.2.5\0junk", 14);
  EXPECT_EQ(checker_->check(with_nul, "h.test", "alice@example.test").result, SpfResult::kPermError);
}

TEST_F(SpfCheckTest, HostileSenderIsPermerrorNotACrash) {
  EXPECT_EQ(checker_->check("192.0.2.5", "h.test", std::string("a@example.test\0x", 16)).result,
            SpfResult::kPermError);
  EXPECT_EQ(checker_->check("192.0.2.5", "h.test", "a@exam\nple.test").result, SpfResult::kPermError);
  EXPECT_EQ(checker_->check("192.0.2.5", "h.test", std::string(300, 'a') + "@example.test").result,
            SpfResult::kPermError);
  EXPECT_EQ(checker_->check("192.0.2.5", "h.test", "alice@").result, SpfResult::kPermError);
}

TEST_F(SpfCheckTest, ExplanationIsPrintableAndBounded) {
  const SpfOutcome got = checker_->check("192.0.2.200", "h.test", "bob@exp.test");
  EXPECT_EQ(got.result, SpfResult::kFail);
  EXPECT_LE(got.explanation.size(), 200u);
  for (char c : got.explanation) {
    EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "byte " << static_cast<int>(static_cast<unsigned char>(c));
  }
}

TEST_F(SpfCheckTest, CheckerCanBeMovedAndReused) {
  SpfChecker moved = std::move(*checker_);
  checker_.reset();
  EXPECT_EQ(moved.check("192.0.2.5", "h.test", "a@example.test").result, SpfResult::kPass);
  EXPECT_EQ(moved.check("192.0.2.5", "h.test", "a@example.test").result, SpfResult::kPass);
}

TEST(SpfResultName, RoundTripsEveryResult) {
  const SpfResult all[] = {SpfResult::kNone,     SpfResult::kNeutral,   SpfResult::kPass,     SpfResult::kFail,
                           SpfResult::kSoftfail, SpfResult::kTempError, SpfResult::kPermError};
  for (SpfResult result : all) {
    auto parsed = parse_spf_result(spf_result_name(result));
    ASSERT_TRUE(parsed.ok()) << spf_result_name(result);
    EXPECT_EQ(*parsed, result);
  }
  EXPECT_EQ(spf_result_name(SpfResult::kTempError), "temperror");
  EXPECT_EQ(*parse_spf_result("SoftFail"), SpfResult::kSoftfail);  // RFC 7208 8: names are case-insensitive
  EXPECT_FALSE(parse_spf_result("unknown").ok());
}

}  // namespace
}  // namespace sluice
