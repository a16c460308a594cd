#include "ctl/quota_command.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/quota_store.h"

namespace sluice::ctl {
namespace {

using namespace std::chrono_literals;
using Args = std::vector<std::string>;

TEST(ParseQuotaSetting, MetricWindowAndLimit) {
  // Each row: text, with a limit?, want metric, window, limit (nullopt for none).
  const struct {
    const char* text;
    bool with_limit;
    QuotaSetting want;
  } cases[] = {
      {"messages/1d=50000", true, {QuotaMetric::kMessages, 86400s, 50000}},
      {"recipients/1h=2000", true, {QuotaMetric::kRecipients, 3600s, 2000}},
      {"bytes/1d=500M", true, {QuotaMetric::kBytes, 86400s, 500ULL << 20}},
      {"messages/90=0", true, {QuotaMetric::kMessages, 90s, 0}},  // a bare number is seconds; 0 stops all
      {"messages/1d", false, {QuotaMetric::kMessages, 86400s, std::nullopt}},
  };
  for (const auto& c : cases) {
    auto got = parse_quota_setting(c.text, c.with_limit);
    ASSERT_TRUE(got.ok()) << c.text << ": " << got.error().detail;
    EXPECT_EQ(*got, c.want) << c.text;
  }
  for (const char* bad : {"messages=5", "messages/1d", "mails/1d=5", "messages/1d=-1", "messages/1d=5K",
                          "messages/500ms=5", "messages/32d=5", "messages/1d=9007199254740993", "bytes/1d=9000000T"}) {
    EXPECT_FALSE(parse_quota_setting(bad, true).ok()) << bad << ": got ok, want an error";
  }
  EXPECT_FALSE(parse_quota_setting("messages/1d=5", false).ok());
}

TEST(ParseQuotaArgs, KeyIsCanonicalAndSettingsParsed) {
  auto got = parse_quota_args({"set", "client_address=192.0.2.1,sender_domain=Example.COM", "messages/1d=10",
                               "recipients/1h=20"});
  ASSERT_TRUE(got.ok()) << got.error().detail;
  EXPECT_EQ(got->action, QuotaCommandAction::kSet);
  EXPECT_EQ(got->key, "sender_domain=example.com,client_address=192.0.2.1");
  ASSERT_EQ(got->settings.size(), 2u);
  EXPECT_EQ(got->settings[1].metric, QuotaMetric::kRecipients);
}

TEST(ParseQuotaArgs, UsageErrors) {
  // Each row: arguments, a piece of the wanted error.
  const struct {
    Args args;
    const char* want;
  } cases[] = {
      {{}, "missing action"},
      {{"clear", "sasl_username=a"}, "unknown action"},
      {{"show"}, "needs a KEY"},
      {{"show", "user=alice"}, "KEY: unknown quota key field"},
      {{"show", "sasl_username=a", "extra"}, "takes only a KEY"},
      {{"set", "sasl_username=a"}, "needs at least one METRIC/WINDOW=LIMIT"},
      {{"unset", "sasl_username=a", "messages/1d=5"}, "is not METRIC/WINDOW"},
      {{"set", "sasl_username=a", "messages/1d=5", "messages/24h=6"}, "given twice"},
  };
  for (const auto& c : cases) {
    auto got = parse_quota_args(c.args);
    ASSERT_FALSE(got.ok()) << "want error containing " << c.want;
    EXPECT_NE(got.error().detail.find(c.want), std::string::npos) << "got " << got.error().detail << ", want "
                                                                  << c.want;
  }
  auto help = parse_quota_args({"set", "--help"});
  ASSERT_TRUE(help.ok());
  EXPECT_EQ(help->action, QuotaCommandAction::kHelp);
}

TEST(CheckQuotaSettings, NamesWhatExists) {
  const std::vector<QuotaRule> rules = {
      {"per-user", {QuotaKeyField::kSaslUsername}, {{QuotaMetric::kMessages, 100, 86400s}, {QuotaMetric::kRecipients, 50, 3600s}}, QuotaAction::kDefer},
      {"per-domain", {QuotaKeyField::kSenderDomain}, {{QuotaMetric::kMessages, 1000, 86400s}}, QuotaAction::kDefer},
  };
  EXPECT_TRUE(check_quota_settings(rules, "sasl_username=alice", {{QuotaMetric::kMessages, 86400s, 5}}).ok());
  auto window = check_quota_settings(rules, "sasl_username=alice", {{QuotaMetric::kMessages, 3600s, 5}});
  ASSERT_FALSE(window.ok());
  EXPECT_EQ(window.error().detail,
            "no quota rule keyed like sasl_username=alice limits messages/1h (these are limited: messages/1d, "
            "recipients/1h)");
  auto shape = check_quota_settings(rules, "client_address=192.0.2.1", {});
  ASSERT_FALSE(shape.ok());
  EXPECT_EQ(shape.error().detail,
            "no quota rule is keyed on client_address (rules: per-user on sasl_username, per-domain on sender_domain)");
  EXPECT_FALSE(check_quota_settings({}, "sasl_username=alice", {}).ok());
}

}  // namespace
}  // namespace sluice::ctl
