// The [bounce], [reputation] and [unsubscribe] keys (common/config_keys_feedback.cc).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/config.h"

namespace sluice {
namespace {

class FeedbackConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/sluice-feedback-config-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text, mode_t mode) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    return path;
  }

  Result<Config> parse(const std::string& text) { return parse_config(text, dir_ + "/sluice.conf"); }

  std::string dir_;
};

const std::string kSecret = std::string(64, 'a');  // 32 bytes

TEST_F(FeedbackConfigTest, Defaults) {
  const Config c = default_config();
  EXPECT_EQ(c.feedback.bounce.soft_bounce_limit, 3);
  EXPECT_EQ(c.feedback.bounce.soft_bounce_window, std::chrono::hours(72));
  EXPECT_EQ(c.feedback.bounce.soft_suppress_for, std::chrono::hours(168));
  EXPECT_EQ(c.feedback.bounce.report_ttl, std::chrono::hours(720));
  EXPECT_EQ(c.feedback.bounce.unparsed_dir, "");
  EXPECT_EQ(c.feedback.reputation.window, std::chrono::hours(24));
  EXPECT_EQ(c.feedback.reputation.min_volume, 500);
  EXPECT_DOUBLE_EQ(c.feedback.reputation.warn_bounce_rate, 0.02);
  EXPECT_DOUBLE_EQ(c.feedback.reputation.warn_complaint_rate, 0.001);
  EXPECT_FALSE(c.feedback.reputation.pause_bounce_rate.has_value());
  EXPECT_TRUE(c.feedback.unsubscribe.accounts.empty());
  EXPECT_EQ(c.feedback.unsubscribe.mailto_local, "unsubscribe");
  EXPECT_EQ(c.feedback.unsubscribe.listen, std::vector<std::string>{"inet:127.0.0.1:8026"});
  EXPECT_EQ(c.feedback.unsubscribe.token_ttl, std::chrono::hours(90 * 24));
}

TEST_F(FeedbackConfigTest, ReadsEveryKey) {
  const std::string keys = write("keys", "# comment\n\nk2 " + kSecret + "\nk1\t" + std::string(80, 'F') + "\n", 0640);
  auto c = parse("[bounce]\nunparsed_dir = unparsed\nsoft_bounce_limit = 5\nsoft_bounce_window = 2d\n"
                 "soft_suppress_for = 14d\nreport_ttl = 60d\n"
                 "[reputation]\nwindow = 48h\nmin_volume = 1000\nwarn_bounce_rate = 3%\nwarn_complaint_rate = 0.0005\n"
                 "pause_bounce_rate = 10%\npause_complaint_rate = 0.5%\n"
                 "[unsubscribe]\naccounts = alice, bob@example.com\nkey_file = keys\nmailto_domain = Unsub.Example\n"
                 "mailto_local = unsub\nurl_base = https://relay.example/u/\nlisten = inet:127.0.0.1:9000, unix:/run/u.sock\n"
                 "token_ttl = 30d\n");
  ASSERT_TRUE(c.ok()) << c.error().detail;
  const FeedbackSettings& f = c->feedback;
  EXPECT_EQ(f.bounce.unparsed_dir, dir_ + "/unparsed");
  EXPECT_EQ(f.bounce.soft_bounce_limit, 5);
  EXPECT_EQ(f.bounce.soft_bounce_window, std::chrono::hours(48));
  EXPECT_EQ(f.bounce.soft_suppress_for, std::chrono::hours(14 * 24));
  EXPECT_EQ(f.bounce.report_ttl, std::chrono::hours(60 * 24));
  EXPECT_EQ(f.reputation.window, std::chrono::hours(48));
  EXPECT_EQ(f.reputation.min_volume, 1000);
  EXPECT_DOUBLE_EQ(f.reputation.warn_bounce_rate, 0.03);
  EXPECT_DOUBLE_EQ(f.reputation.warn_complaint_rate, 0.0005);
  EXPECT_DOUBLE_EQ(*f.reputation.pause_bounce_rate, 0.10);
  EXPECT_DOUBLE_EQ(*f.reputation.pause_complaint_rate, 0.005);
  EXPECT_EQ(f.unsubscribe.accounts, (std::vector<std::string>{"alice", "bob@example.com"}));
  EXPECT_EQ(f.unsubscribe.key_file, keys);
  ASSERT_EQ(f.unsubscribe.keys.size(), 2u);
  EXPECT_EQ(f.unsubscribe.keys[0].id, "k2");
  EXPECT_EQ(f.unsubscribe.keys[0].secret, std::string(32, '\xaa'));
  EXPECT_EQ(f.unsubscribe.keys[1].secret, std::string(40, '\xff'));
  EXPECT_EQ(f.unsubscribe.mailto_domain, "unsub.example");
  EXPECT_EQ(f.unsubscribe.mailto_local, "unsub");
  EXPECT_EQ(f.unsubscribe.url_base, "https://relay.example/u/");
  EXPECT_EQ(f.unsubscribe.listen.size(), 2u);
  EXPECT_EQ(f.unsubscribe.token_ttl, std::chrono::hours(30 * 24));
  EXPECT_TRUE(f.unsubscribe.enabled_for("alice"));
  EXPECT_FALSE(f.unsubscribe.enabled_for("carol"));
}

TEST_F(FeedbackConfigTest, RefusesBadValues) {
  struct Case {
    const char* text;
    const char* want;  // part of the error
  } cases[] = {
      {"[bounce]\nsoft_bounce_limit = 0\n", "sluice.conf:2"},
      {"[bounce]\nsoft_bounce_window = 10m\n", "sluice.conf:2"},
      {"[reputation]\nwindow = 90m\n", "whole hours"},
      {"[reputation]\nwarn_bounce_rate = 120%\n", "between 0% and 100%"},
      {"[reputation]\nwarn_bounce_rate = lots\n", "is not a rate"},
      {"[reputation]\nwarn_bounce_rate = 5%\npause_bounce_rate = 1%\n", "below warn_bounce_rate"},
      {"[reputation]\npause_complaint_rate = 0.01%\n", "below warn_complaint_rate"},
      {"[unsubscribe]\nmailto_domain = not a domain\n", "domain"},
      {"[unsubscribe]\nmailto_local = a b\n", "mailto_local"},
      {"[unsubscribe]\nurl_base = ftp://x/\n", "url_base"},
      {"[unsubscribe]\nurl_base = https://\n", "url_base"},
      {"[unsubscribe]\nlisten =\n", "listen"},
      {"[unsubscribe]\naccounts = alice\n", "no key_file"},
      {"[unsubscribe]\nkey_file = /nonexistent/keys\n", "cannot read key_file"},
  };
  for (const Case& c : cases) {
    auto got = parse(c.text);
    ASSERT_FALSE(got.ok()) << c.text;
    EXPECT_NE(got.error().detail.find(c.want), std::string::npos) << c.text << " -> " << got.error().detail;
  }
}

TEST_F(FeedbackConfigTest, ChecksTheKeyFile) {
  struct Case {
    const char* name;
    std::string text;
    mode_t mode;
    const char* want;
  } cases[] = {
      {"world", "k1 " + kSecret + "\n", 0644, "readable by others"},
      {"worldwrite", "k1 " + kSecret + "\n", 0602, "writable by others"},
      {"groupwrite", "k1 " + kSecret + "\n", 0660, "writable by its group"},
      {"short", "k1 " + std::string(62, 'a') + "\n", 0600, "at least 32"},
      {"odd", "k1 " + std::string(65, 'a') + "\n", 0600, "even number"},
      {"nothex", "k1 " + std::string(62, 'a') + "zz\n", 0600, "not hex"},
      {"badid", "key-one " + kSecret + "\n", 0600, "key id"},
      {"longid", "abcdefghi " + kSecret + "\n", 0600, "key id"},
      {"twice", "k1 " + kSecret + "\nk1 " + kSecret + "\n", 0600, "twice"},
      {"empty", "# nothing\n", 0600, "holds no key"},
      {"noid", kSecret + "\n", 0600, "ID HEX-SECRET"},
  };
  for (const Case& c : cases) {
    const std::string path = write(c.name, c.text, c.mode);
    auto got = parse("[unsubscribe]\nkey_file = " + path + "\n");
    ASSERT_FALSE(got.ok()) << c.name;
    EXPECT_NE(got.error().detail.find(c.want), std::string::npos) << c.name << " -> " << got.error().detail;
  }
}

// A link could point the secrets at a file someone else controls.
TEST_F(FeedbackConfigTest, RefusesASymbolicLinkAsTheKeyFile) {
  const std::string keys = write("keys", "k1 " + kSecret + "\n", 0600);
  const std::string link = dir_ + "/link";
  ASSERT_EQ(::symlink(keys.c_str(), link.c_str()), 0);
  auto got = parse("[unsubscribe]\nkey_file = " + link + "\n");
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.error().detail.find("(a symbolic link)"), std::string::npos) << got.error().detail;
  EXPECT_TRUE(parse("[unsubscribe]\nkey_file = " + keys + "\n").ok());
}

TEST_F(FeedbackConfigTest, AccountsNeedAWayToUnsubscribe) {
  const std::string keys = write("keys", "k1 " + kSecret + "\n", 0600);
  auto got = parse("[unsubscribe]\naccounts = *\nkey_file = " + keys + "\n");
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.error().detail.find("neither mailto_domain nor url_base"), std::string::npos) << got.error().detail;
  got = parse("[unsubscribe]\naccounts = *\nkey_file = " + keys + "\nmailto_domain = relay.example\n");
  ASSERT_TRUE(got.ok()) << got.error().detail;
  EXPECT_TRUE(got->feedback.unsubscribe.enabled_for("anyone"));
  EXPECT_FALSE(got->feedback.unsubscribe.enabled_for(""));
}

}  // namespace
}  // namespace sluice
