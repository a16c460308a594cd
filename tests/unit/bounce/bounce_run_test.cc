#include "bounce/bounce_run.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "bounce/reputation.h"
#include "common/log.h"
#include "common/suppression_store.h"
#include "tests/unit/bounce/corpus.h"
#include "tests/unit/support/flushed_redis_test.h"

namespace sluice::bounce {
namespace {

using test::corpus;
using test::kTrackingId;

constexpr const char* kVerp = "bounce+01jd3xk6m5q3w8r2t4y6z8a0bc@verp.example";

// A port nothing listens on: bound by the kernel, then closed.
int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::abort();
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

class BounceRunTest : public sluice::test::FlushedRedisTest {
 protected:
  void SetUp() override {
    FlushedRedisTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    config_ = default_config();
    config_.redis.connection = server_->client_options();
    config_.milter.verp_domain = "verp.example";
    char dir[] = "/tmp/sluice-bounce-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    config_.feedback.bounce.unparsed_dir = dir_;
    log_set_sink([this](LogLevel, std::string_view line) {
      std::lock_guard<std::mutex> lock(mu_);
      lines_.emplace_back(line);
    });
    record("alice", "alice@example.com", "bob@example.net");
  }
  void TearDown() override {
    log_set_sink(nullptr);
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // The message went to |rcpt| and to everyone the corpus samples name
  // (sluice-bounce acts only on the message's own recipients).
  void record(std::string account, std::string sender, std::string rcpt, std::string tracking_id = kTrackingId) {
    const std::string rcpts = rcpt + "\nbob@example.net\ncarol@example.org\ndave@example.net\nerin@gmail.com\n"
                              "frank@example.net\ngrace@example.net\nheidi@example.net\nivan@nomail.example\n"
                              "judy@example.co.uk\nkarl@example.de\nleo@example.com\nmallory@contoso.example\n"
                              "nina@yahoo.com\noscar@example.nl\npeggy@hotmail.example\nquentin@isp.example\n"
                              "rupert@isp.example\n";
    ASSERT_TRUE(conn_->command({"HSET", "sluice:v1:msg:" + tracking_id, "account", account, "sender",
                                sender, "from_domain", "example.com", "nrcpt", "1", "rcpt", rcpt, "ts_ms", "1",
                                "rcpts", rcpts})
                    .ok());
  }

  int run(const std::string& message, std::string recipient = kVerp) {
    RedisConn conn(config_.redis.connection);
    BounceInput input;
    input.message = message;
    input.envelope_recipient = std::move(recipient);
    input.queue_id = "9QQ1";
    return process_report(config_, conn, input);
  }

  std::optional<SuppressionEntry> entry(std::string_view recipient) {
    SuppressionStore store(*conn_, "sluice:v1:");
    auto got = store.get(SuppressionScope::kSaslUsername, "alice", recipient);
    EXPECT_TRUE(got.ok());
    return got ? *got : std::nullopt;
  }

  std::string log_text() {
    std::lock_guard<std::mutex> lock(mu_);
    std::string all;
    for (const std::string& l : lines_) all += l + "\n";
    return all;
  }

  std::vector<std::string> kept_files() {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) out.push_back(e.path().string());
    return out;
  }

  Config config_;
  std::string dir_;
  std::mutex mu_;
  std::vector<std::string> lines_;
};

TEST_F(BounceRunTest, AHardBounceSuppressesOnceAndLogsOneLine) {
  EXPECT_EQ(run(corpus("postfix_dsn_user_unknown.eml")), kExitOk);
  auto stored = entry("bob@example.net");
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->reason, "hard-bounce");
  EXPECT_EQ(stored->tracking_id, kTrackingId);
  const std::string log = log_text();
  EXPECT_NE(log.find("9QQ1: sluice_id=01jd3xk6m5q3w8r2t4y6z8a0bc queue_id=4XyZ1Q2b3Cz9sT account=alice "
                     "rcpt=<bob@example.net> kind=hard status=5.1.1 report=dsn action=suppressed"),
            std::string::npos)
      << log;
  EXPECT_EQ(run(corpus("postfix_dsn_user_unknown.eml")), kExitOk);
  EXPECT_NE(log_text().find("action=duplicate"), std::string::npos);
  auto hard = conn_->command(
      {"HGET", reputation_bucket_stem("sluice:v1:", "alice") + std::to_string(redis_now_ms() / 3'600'000), "hard"});
  ASSERT_TRUE(hard.ok());
  EXPECT_EQ(std::string((*hard)->str), "1");
}

TEST_F(BounceRunTest, EveryCorpusSampleEndsWithExitZero) {
  for (const char* file :
       {"dsn_mailbox_full_headers_only.eml", "dsn_delayed.eml", "dsn_policy_block.eml", "dsn_two_recipients.eml",
        "dsn_null_mx_base64.eml", "exim_plain.eml", "postfix_plain.eml", "gmail_plain.eml", "outlook_plain.eml",
        "yahoo_plain.eml", "qmail_quota_indented.eml", "arf_abuse.eml", "arf_headers_only_no_rcpt.eml",
        "arf_not_spam.eml", "auto_reply.eml", "garbage.eml"}) {
    EXPECT_EQ(run(corpus(file)), kExitOk) << file;
  }
  EXPECT_EQ(entry("judy@example.co.uk")->reason, "hard-bounce");
  EXPECT_EQ(entry("peggy@hotmail.example")->reason, "complaint");
  EXPECT_EQ(entry("quentin@isp.example")->reason, "complaint");
  EXPECT_FALSE(entry("erin@gmail.com").has_value()) << "a policy block never suppresses";
  EXPECT_FALSE(entry("dave@example.net").has_value()) << "a delay warning is not a bounce";
  EXPECT_FALSE(entry("rupert@isp.example").has_value()) << "not-spam is not a complaint";
  EXPECT_EQ(kept_files().size(), 1u) << "garbage.eml is kept";
}

TEST_F(BounceRunTest, TheFeedbackAddressFindsTheMessageThroughItsHeader) {
  EXPECT_EQ(run(corpus("arf_abuse.eml"), "fbl@feedback.example"), kExitOk);
  EXPECT_EQ(entry("peggy@hotmail.example")->reason, "complaint");
}

TEST_F(BounceRunTest, AnUnknownMessageChangesNothing) {
  ASSERT_TRUE(conn_->command({"FLUSHALL"}).ok());
  EXPECT_EQ(run(corpus("postfix_dsn_user_unknown.eml")), kExitOk);
  EXPECT_FALSE(entry("bob@example.net").has_value());
  EXPECT_NE(log_text().find("unknown message"), std::string::npos);
}

TEST_F(BounceRunTest, AnUnparsableReportIsKeptPrivately) {
  const std::string garbage = corpus("garbage.eml");
  EXPECT_EQ(run(garbage), kExitOk);
  const auto files = kept_files();
  ASSERT_EQ(files.size(), 1u);
  struct stat st {};
  ASSERT_EQ(::stat(files[0].c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(std::filesystem::file_size(files[0]), garbage.size());
  EXPECT_TRUE(files[0].ends_with(".eml"));
  EXPECT_EQ(run(garbage), kExitOk);
  EXPECT_EQ(kept_files().size(), 2u) << "each copy gets its own name";
}

TEST_F(BounceRunTest, AnUnparsableReportThatCannotBeKeptIsRetried) {
  config_.feedback.bounce.unparsed_dir = dir_ + "/missing";
  EXPECT_EQ(run(corpus("garbage.eml")), kExitTempfail);
  config_.feedback.bounce.unparsed_dir.clear();
  EXPECT_EQ(run(corpus("garbage.eml")), kExitOk) << "not kept on purpose: logged only";
}

TEST_F(BounceRunTest, RedisDownMeansTempfail) {
  config_.redis.connection.port = closed_port();
  EXPECT_EQ(run(corpus("postfix_dsn_user_unknown.eml")), kExitTempfail);
  EXPECT_NE(log_text().find("exit 75"), std::string::npos);
}

TEST_F(BounceRunTest, SoftBouncesFromThreeReportsSuppress) {
  const std::string report = corpus("dsn_mailbox_full_headers_only.eml");
  for (int i = 1; i <= 3; ++i) {
    // Three messages to carol, each bouncing (a message counts once per recipient).
    const std::string id = "01jd3xk6m5q3w8r2t4y6z8a0b" + std::to_string(i);
    record("alice", "alice@example.com", "carol@example.org", id);
    EXPECT_EQ(run(report, "bounce+" + id + "@verp.example"), kExitOk);
    EXPECT_EQ(entry("carol@example.org").has_value(), i == 3) << "after soft bounce " << i;
  }
  EXPECT_EQ(entry("carol@example.org")->reason, "soft-bounce");
  EXPECT_NE(log_text().find("action=counted soft=3/3 suppressed"), std::string::npos) << log_text();
}

TEST_F(BounceRunTest, TheBreakerPausesTheAccount) {
  config_.feedback.reputation.min_volume = 100;
  config_.feedback.reputation.pause_bounce_rate = 0.10;
  const std::string bucket =
      reputation_bucket_stem("sluice:v1:", "alice") + std::to_string(redis_now_ms() / 3'600'000);
  ASSERT_TRUE(conn_->command({"HSET", bucket, "sent", "200", "hard", "20"}).ok());
  EXPECT_EQ(run(corpus("postfix_dsn_user_unknown.eml")), kExitOk);
  auto pause = conn_->command({"GET", pause_key("sluice:v1:", "alice")});
  ASSERT_TRUE(pause.ok());
  ASSERT_EQ((*pause)->type, REDIS_REPLY_STRING);
  EXPECT_EQ(std::string((*pause)->str), "bounce rate 10.5% (21/200) over 24h");
}

TEST_F(BounceRunTest, NoAccountUsesTheSenderDomainList) {
  record("", "news@lists.example.com", "bob@example.net");
  EXPECT_EQ(run(corpus("postfix_dsn_user_unknown.eml")), kExitOk);
  SuppressionStore store(*conn_, "sluice:v1:");
  auto got = store.get(SuppressionScope::kSenderDomain, "lists.example.com", "bob@example.net");
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->has_value());
}

}  // namespace
}  // namespace sluice::bounce
