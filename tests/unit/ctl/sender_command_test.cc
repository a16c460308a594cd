#include "ctl/sender_command.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/policy_check.h"
#include "tests/unit/support/flushed_redis_test.h"

namespace sluice::ctl {
namespace {

using Args = std::vector<std::string>;

TEST(ParseSenderMember, NormalisesLikeThePolicyDaemon) {
  // Each row: argument, want member.
  const struct {
    const char* text;
    const char* want;
  } cases[] = {
      {"Bob@Example.COM", "bob@example.com"},     // lookup key: local part and domain lowercased
      {"<Bob@Example.COM>", "bob@example.com"},   // brackets allowed
      {"@Example.COM", "@example.com"},           // a whole domain, lowercase
      {"@example.com.", "@example.com"},          // trailing dot dropped, as in Mailbox
      {"<>", "<>"},                               // the null sender
      {"\"a b\"@example.com", "\"a b\"@example.com"},  // quoted local part kept quoted
  };
  for (const auto& c : cases) {
    auto got = parse_sender_member(c.text);
    ASSERT_TRUE(got.ok()) << c.text << ": " << got.error().detail;
    EXPECT_EQ(*got, c.want) << c.text;
  }
  for (const char* bad : {"", "@", "bob", "bob@", "@exa mple.com", "a@@b", "@@example.com"}) {
    EXPECT_FALSE(parse_sender_member(bad).ok()) << "\"" << bad << "\": got ok, want an error";
  }
}

TEST(ParseSenderArgs, ActionsAndOperands) {
  auto allow = parse_sender_args({"allow", "alice@example.test", "@Alice.TEST"});
  ASSERT_TRUE(allow.ok()) << allow.error().detail;
  EXPECT_EQ(allow->action, SenderCommandAction::kAllow);
  EXPECT_EQ(allow->login, "alice@example.test") << "logins are kept exactly as Postfix reports them";
  EXPECT_EQ(allow->member, "@alice.test");

  auto check = parse_sender_args({"check", "alice", "Bob@Other.TEST"});
  ASSERT_TRUE(check.ok()) << check.error().detail;
  EXPECT_EQ(check->action, SenderCommandAction::kCheck);
  EXPECT_EQ(check->sender_key, "bob@other.test");
  EXPECT_EQ(check->sender_domain, "other.test");

  auto null_check = parse_sender_args({"check", "alice", "<>"});
  ASSERT_TRUE(null_check.ok());
  EXPECT_EQ(null_check->sender_key, "");

  auto list = parse_sender_args({"list", "Alice"});
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->login, "Alice");

  EXPECT_EQ(parse_sender_args({"--help"})->action, SenderCommandAction::kHelp);
  EXPECT_EQ(parse_sender_args({"allow", "-h"})->action, SenderCommandAction::kHelp);
}

TEST(ParseSenderArgs, UsageErrors) {
  // Each row: arguments, a piece of the wanted error.
  const struct {
    Args args;
    const char* want;
  } cases[] = {
      {{}, "missing action"},
      {{"permit", "alice", "a@b.test"}, "unknown action"},
      {{"allow", "alice"}, "takes LOGIN and ADDRESS or @DOMAIN"},
      {{"allow", "alice", "a@b.test", "c@d.test"}, "takes LOGIN and ADDRESS or @DOMAIN"},
      {{"list"}, "takes LOGIN"},
      {{"list", "alice", "extra"}, "takes LOGIN"},
      {{"check", "alice", "@b.test"}, "not an address or <>"},  // check takes one address
      {{"allow", "", "a@b.test"}, "LOGIN is empty"},
      {{"allow", "al ice", "a@b.test"}, "blanks or control bytes"},
      {{"allow", "alice\n", "a@b.test"}, "blanks or control bytes"},
      {{"allow", std::string(300, 'a'), "a@b.test"}, "longer than 256"},
      {{"deny", "alice", "not-an-address"}, "is not an address, @DOMAIN or <>"},
  };
  for (const auto& c : cases) {
    auto got = parse_sender_args(c.args);
    ASSERT_FALSE(got.ok()) << testing::PrintToString(c.args) << ": got ok, want an error with " << c.want;
    EXPECT_NE(got.error().detail.find(c.want), std::string::npos)
        << testing::PrintToString(c.args) << ": got \"" << got.error().detail << "\", want \"" << c.want << "\"";
  }
}

// ---- against a real Redis ---------------------------------------------------

class SenderCommandRedis : public test::FlushedRedisTest {
 protected:
  void SetUp() override {
    FlushedRedisTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    config_ = default_config();
    config_.redis.connection = server_->client_options();
    config_.policyd.sender_authorisation = true;
  }

  // Runs "sluicectl sender ARGS"; returns the exit status, stdout in |out|.
  int sender(Args args, std::string* out = nullptr) {
    testing::internal::CaptureStdout();
    const int status = run_sender(CommandContext{config_, std::move(args)});
    const std::string printed = testing::internal::GetCapturedStdout();
    if (out != nullptr) *out = printed;
    return status;
  }

  std::vector<std::string> members(const std::string& login) {
    auto reply = conn_->command({"SMEMBERS", senders_key("sluice:v1:", login)});
    EXPECT_TRUE(reply.ok());
    std::vector<std::string> out;
    if (!reply) return out;
    for (std::size_t i = 0; i < (*reply)->elements; ++i) out.emplace_back((*reply)->element[i]->str);
    std::sort(out.begin(), out.end());
    return out;
  }

  Config config_;
};

TEST_F(SenderCommandRedis, AllowDenyAndListWriteTheNormalisedSet) {
  EXPECT_EQ(sender({"allow", "alice", "Alice@Example.COM"}), kExitOk);
  EXPECT_EQ(sender({"allow", "alice", "@Alice.TEST"}), kExitOk);
  std::string out;
  EXPECT_EQ(sender({"allow", "alice", "@alice.test"}, &out), kExitOk);
  EXPECT_EQ(out, "already allowed @alice.test for login alice\n");
  EXPECT_EQ(members("alice"), (std::vector<std::string>{"@alice.test", "alice@example.com"}));
  EXPECT_EQ(sender({"list", "alice"}, &out), kExitOk);
  EXPECT_EQ(out, "@alice.test\nalice@example.com\n");
  EXPECT_EQ(sender({"deny", "alice", "ALICE@example.com"}), kExitOk);
  EXPECT_EQ(members("alice"), (std::vector<std::string>{"@alice.test"}));
  EXPECT_EQ(sender({"deny", "alice", "nobody@example.com"}), kExitFailed) << "was not allowed";
  EXPECT_EQ(sender({"list", "bob"}, &out), kExitOk);
  EXPECT_EQ(out, "");
  EXPECT_EQ(sender({"allow"}), kExitUsage);
}

// check answers as the policy script would, and says why.
TEST_F(SenderCommandRedis, CheckExplainsTheDecision) {
  ASSERT_EQ(sender({"allow", "alice", "@alice.test"}), kExitOk);
  std::string out;
  EXPECT_EQ(sender({"check", "alice", "Carol@Alice.test"}, &out), kExitOk);
  EXPECT_NE(out.find("allowed: login alice may send as carol@alice.test (member @alice.test of "
                     "sluice:v1:senders:alice)"),
            std::string::npos)
      << out;
  EXPECT_EQ(sender({"check", "alice", "bob@other.test"}, &out), kExitFailed);
  EXPECT_NE(out.find("not allowed: bob@other.test is not in the senders of login alice"), std::string::npos) << out;
  EXPECT_EQ(sender({"check", "alice", "<>"}, &out), kExitFailed);
  EXPECT_NE(out.find("<> is not in the senders"), std::string::npos) << out;
  // A login without a set: refused by default, allowed with missing = accept.
  EXPECT_EQ(sender({"check", "bob", "bob@bob.test"}, &out), kExitFailed);
  EXPECT_NE(out.find("has no senders set (sender_authorisation_missing = reject"), std::string::npos) << out;
  config_.policyd.sender_authorisation_missing = MissingSenderSetAction::kAccept;
  EXPECT_EQ(sender({"check", "bob", "bob@bob.test"}, &out), kExitOk);
  // The pause and a disabled check are mentioned.
  config_.policyd.sender_authorisation = false;
  ASSERT_TRUE(conn_->command({"SET", "sluice:v1:pause:alice", "complaints"}).ok());
  EXPECT_EQ(sender({"check", "alice", "carol@alice.test"}, &out), kExitOk);
  EXPECT_NE(out.find("note: [policyd] sender_authorisation = no"), std::string::npos) << out;
  EXPECT_NE(out.find("note: the account is paused: complaints"), std::string::npos) << out;
}

TEST_F(SenderCommandRedis, RedisDownIsExitUnavailable) {
  config_.redis.connection.port = 1;  // nothing listens there
  EXPECT_EQ(sender({"list", "alice"}), kExitUnavailable);
}

}  // namespace
}  // namespace sluice::ctl
