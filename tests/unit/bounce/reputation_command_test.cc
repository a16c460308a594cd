// sluicectl reputation (ctl/reputation_command.*): tested here, next to the
// breaker whose keys it shares (bounce/reputation.h).
#include "ctl/reputation_command.h"

#include <gtest/gtest.h>

#include "tests/unit/support/flushed_redis_test.h"

namespace sluice::ctl {
namespace {

TEST(ReputationArgs, Parses) {
  auto show = parse_reputation_args({"show"});
  ASSERT_TRUE(show.ok());
  EXPECT_EQ(show->action, ReputationAction::kShow);
  EXPECT_EQ(show->account, "");
  EXPECT_EQ(parse_reputation_args({"show", "alice"})->account, "alice");
  auto pause = parse_reputation_args({"pause", "alice", "--reason", "too many bounces"});
  ASSERT_TRUE(pause.ok());
  EXPECT_EQ(pause->reason, "too many bounces");
  EXPECT_EQ(parse_reputation_args({"pause", "alice"})->reason, kDefaultPauseReason);
  EXPECT_EQ(parse_reputation_args({"pause", "alice", "--reason=x"})->reason, "x");
  EXPECT_EQ(parse_reputation_args({"resume", "alice"})->action, ReputationAction::kResume);
  EXPECT_EQ(parse_reputation_args({"--help"})->action, ReputationAction::kHelp);
}

TEST(ReputationArgs, Refuses) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {}, {"frobnicate"}, {"pause"}, {"resume"}, {"show", "a", "b"}, {"pause", "a", "--reason"},
           {"pause", "a", "--reason", std::string(201, 'x')}, {"pause", "a", "--reason", "two\nlines"},
           {"resume", "a", "extra"}, {"show", std::string("bad\x01", 4)}}) {
    EXPECT_FALSE(parse_reputation_args(args).ok()) << (args.empty() ? "(none)" : args[0]);
  }
}

TEST(ReputationFormat, OneAccountAndTheTable) {
  ReputationSettings settings;
  settings.min_volume = 100;
  settings.pause_bounce_rate = 0.10;
  const AccountReputation paused{"alice", {1000, 125, 3, 1, 0, 2}, "bounce rate 12.5% (125/1000) over 24h"};
  EXPECT_EQ(format_account_reputation(paused, settings),
            "account alice: last 24h, min_volume 100\n"
            "  sent 1000  hard 125  soft 3  block 1  complaint 0  unsubscribe 2\n"
            "  bounce rate 12.5% (warn above 2%, pause above 10%)\n"
            "  complaint rate 0% (warn above 0.1%, pause never)\n"
            "  state paused: bounce rate 12.5% (125/1000) over 24h (sluicectl reputation resume alice)\n");
  const AccountReputation quiet{"bob", {10, 0, 0, 0, 0, 0}, std::nullopt};
  const AccountReputation warned{"carol", {1000, 30, 0, 0, 0, 0}, std::nullopt};
  EXPECT_EQ(reputation_state(quiet, settings), "low volume");
  EXPECT_EQ(reputation_state(warned, settings), "warn: bounce");
  EXPECT_EQ(format_reputation_table({paused, quiet, warned}, settings),
            "ACCOUNT  SENT  HARD  SOFT  BLOCK  COMPLAINT  BOUNCE%  COMPLAINT%  STATE\n"
            "alice    1000  125   3     1      0          12.5%    0%          paused\n"
            "bob      10    0     0     0      0          0%       0%          low volume\n"
            "carol    1000  30    0     0      0          3%       0%          warn: bounce\n");
}

class ReputationCommandTest : public sluice::test::FlushedRedisTest {
 protected:
  int run(std::vector<std::string> args, std::string* out = nullptr) {
    Config config = default_config();
    config.redis.connection = server_->client_options();
    testing::internal::CaptureStdout();
    const int status = run_reputation(CommandContext{config, std::move(args)});
    const std::string printed = testing::internal::GetCapturedStdout();
    if (out != nullptr) *out = printed;
    return status;
  }
};

TEST_F(ReputationCommandTest, PauseShowResume) {
  std::string out;
  EXPECT_EQ(run({"pause", "a:lice", "--reason", "manual check"}), kExitOk);
  auto stored = conn_->command({"GET", "sluice:v1:pause:a%3Alice"});
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(std::string((*stored)->str), "manual check");
  const long long hour = redis_now_ms() / 3'600'000;
  ASSERT_TRUE(conn_->command({"HSET", "sluice:v1:rep:bob:" + std::to_string(hour), "sent", "700", "hard", "7"}).ok());
  ASSERT_TRUE(
      conn_->command({"HSET", "sluice:v1:rep:old:" + std::to_string(hour - 100), "sent", "700", "hard", "7"}).ok());
  EXPECT_EQ(run({"show"}, &out), kExitOk);
  EXPECT_NE(out.find("a:lice"), std::string::npos) << out;
  EXPECT_NE(out.find("bob      700"), std::string::npos) << out;
  EXPECT_EQ(out.find("old"), std::string::npos) << "outside the window: " << out;
  EXPECT_EQ(run({"show", "bob"}, &out), kExitOk);
  EXPECT_NE(out.find("bounce rate 1% (warn above 2%, pause never)"), std::string::npos) << out;
  EXPECT_EQ(run({"resume", "a:lice"}, &out), kExitOk);
  EXPECT_EQ(out, "resumed a:lice (was paused: manual check)\n");
  EXPECT_EQ(run({"resume", "a:lice"}), kExitFailed) << "not paused any more";
}

TEST_F(ReputationCommandTest, RedisDownIsUnavailable) {
  Config config = default_config();
  config.redis.connection = server_->client_options();
  server_->stop();
  testing::internal::CaptureStdout();
  const int status = run_reputation(CommandContext{config, {"show", "alice"}});
  testing::internal::GetCapturedStdout();
  server_->start();
  EXPECT_EQ(status, kExitUnavailable);
}

}  // namespace
}  // namespace sluice::ctl
