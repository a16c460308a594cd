#include "common/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "common/config_keys.h"

namespace sluice {
namespace {

using std::chrono::milliseconds;

std::string error_of(std::string_view text) {
  auto r = parse_config(text, "/etc/sluice/sluice.conf");
  return r.ok() ? std::string("(parsed fine)") : r.error().detail;
}

TEST(Config, DefaultsMatchTheDocumentedTable) {
  const Config c = default_config();
  EXPECT_EQ(c.redis.connection.host, "127.0.0.1");
  EXPECT_EQ(c.redis.connection.port, 6379);
  EXPECT_EQ(c.redis.connection.command_timeout, milliseconds{500});
  EXPECT_EQ(c.redis.key_prefix, "sluice:v1:");
  EXPECT_EQ(c.log.facility, LOG_MAIL);
  EXPECT_EQ(c.log.level, LogLevel::kInfo);
}

TEST(Config, EveryKeyHasHelpTypeAndAValidDefault) {
  for (const ConfigKey& key : config_keys()) {
    EXPECT_FALSE(key.help.empty()) << key.section << "." << key.name;
    EXPECT_FALSE(key.type.empty()) << key.section << "." << key.name;
    const ConfigSection* section = find_config_section(key.section);
    ASSERT_NE(section, nullptr) << key.section;
    Config c;
    if (section->named) {
      ASSERT_TRUE(section->open(c, "t").ok());
    }
    if (key.default_value.empty()) continue;  // unset by default
    EXPECT_TRUE(key.apply(c, key.default_value, ConfigContext{}).ok()) << key.section << "." << key.name;
  }
}

TEST(Config, ReadsSectionsKeysCommentsAndQuotes) {
  auto r = parse_config(
      "# Sluice test config\n"
      "; another comment style\n"
      "\n"
      "[redis]\n"
      "host = 10.0.0.5\r\n"
      "  port=6380  \n"
      "password = \" spaced #secret \"\n"
      "command_timeout = 2s\n"
      "[log]\n"
      "level = debug\n"
      "facility = local3\n",
      "/etc/sluice/sluice.conf");
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(r->redis.connection.host, "10.0.0.5");
  EXPECT_EQ(r->redis.connection.port, 6380);
  EXPECT_EQ(r->redis.connection.password, " spaced #secret ");
  EXPECT_EQ(r->redis.connection.command_timeout, milliseconds{2000});
  EXPECT_EQ(r->log.level, LogLevel::kDebug);
  EXPECT_EQ(r->log.facility, LOG_LOCAL3);
  EXPECT_EQ(r->path, "/etc/sluice/sluice.conf");
}

// Each mistake an operator can make is reported as file:line: reason.
TEST(Config, ReportsErrorsWithFileLineAndReason) {
  struct Case {
    const char* text;
    const char* want;
  } cases[] = {
      // a key before any section
      {"host = x\n", "sluice.conf:1: key \"host\" outside any [section]"},
      // unknown section, with a suggestion
      {"[rediss]\n", "sluice.conf:1: unknown section [rediss] (did you mean [redis]?)"},
      // unknown key, with a suggestion
      {"[redis]\n\nprot = 1\n", "sluice.conf:3: unknown key \"prot\" in [redis] (did you mean \"port\"?)"},
      // unknown key, nothing close
      {"[redis]\nfrobnicate = 1\n", "sluice.conf:2: unknown key \"frobnicate\" in [redis]"},
      // bad value names the range
      {"[redis]\nport = 70000\n", "sluice.conf:2: [redis] port: invalid value \"70000\": want an integer from 1 to 65535"},
      // duplicate key
      {"[redis]\nport = 1\nport = 2\n", "sluice.conf:3: \"port\" already set on line 2"},
      // not key = value
      {"[log]\nlevel debug\n", "sluice.conf:2: expected \"key = value\" or \"[section]\""},
      // section header not closed
      {"[log\n", "sluice.conf:1: section header without closing ']'"},
      // unterminated quote
      {"[redis]\npassword = \"abc\n", "sluice.conf:2: unterminated quoted value"},
      // mutually exclusive keys
      {"[redis]\npassword = a\npassword_file = /x\n",
       "sluice.conf:3: \"password_file\" cannot be used together with \"password\" (line 2)"},
      // relative unix socket
      {"[redis]\nunix_socket = redis.sock\n", "sluice.conf:2: [redis] unix_socket: unix_socket must be an absolute path"},
      // rule spanning two keys blames the right line
      {"[redis]\nreconnect_max = 50ms\n", "sluice.conf:2: reconnect_max (50ms) is shorter than reconnect_min (100ms)"},
      {"[redis]\nusername = app\n", "sluice.conf:2: username is set but no password or password_file"},
      // an invalid key prefix
      {"[redis]\nkey_prefix = a b\n", "sluice.conf:2: [redis] key_prefix: key_prefix must be 1 to 64 of letters, digits and : . _ -"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(error_of(c.text), std::string("/etc/sluice/") + c.want) << "input: " << c.text;
  }
}

TEST(Config, ReadsPolicydSettings) {
  auto r = parse_config(
      "[policyd]\n"
      "listen = inet:127.0.0.1:10040, unix:/run/sluice/policyd.sock, inet:[::1]:10041\n"
      "on_redis_error = accept\n"
      "suppression_scopes = global, sender_domain\n",
      "/etc/sluice/sluice.conf");
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(r->policyd.listen, (std::vector<std::string>{"inet:127.0.0.1:10040", "unix:/run/sluice/policyd.sock",
                                                         "inet:[::1]:10041"}));
  EXPECT_EQ(r->policyd.on_redis_error, RedisErrorAction::kAccept);
  EXPECT_EQ(r->policyd.suppression_scopes,
            (std::vector<SuppressionScope>{SuppressionScope::kGlobal, SuppressionScope::kSenderDomain}));
  EXPECT_EQ(r->policyd.idle_timeout, milliseconds{600000});
  EXPECT_EQ(default_config().policyd.on_redis_error, RedisErrorAction::kTempfail);
}

TEST(Config, ReadsNamedQuotaRulesInOrderWithDefaults) {
  auto r = parse_config(
      "[quota per-user]\n"
      "messages = 100/1m, 10000/1d\n"
      "bytes = 1G/1d\n"
      "[quota per-domain-ip]\n"
      "key = sender_domain+client_address\n"
      "recipients = 500/1h\n"
      "action = reject\n",
      "/etc/sluice/sluice.conf");
  ASSERT_TRUE(r.ok()) << r.error().detail;
  ASSERT_EQ(r->quota_rules.size(), 2u);
  const QuotaRule& user = r->quota_rules[0];
  EXPECT_EQ(user.name, "per-user");
  EXPECT_EQ(user.key, (std::vector<QuotaKeyField>{QuotaKeyField::kSaslUsername}));  // the default key
  EXPECT_EQ(user.action, QuotaAction::kDefer);                                      // the default action
  EXPECT_EQ(user.limits, (std::vector<QuotaLimit>{{QuotaMetric::kMessages, 100, std::chrono::seconds{60}},
                                                  {QuotaMetric::kMessages, 10000, std::chrono::seconds{86400}},
                                                  {QuotaMetric::kBytes, 1ULL << 30, std::chrono::seconds{86400}}}));
  const QuotaRule& domain = r->quota_rules[1];
  EXPECT_EQ(domain.key, (std::vector<QuotaKeyField>{QuotaKeyField::kSenderDomain, QuotaKeyField::kClientAddress}));
  EXPECT_EQ(domain.action, QuotaAction::kReject);
}

TEST(Config, ReportsQuotaAndPolicydMistakes) {
  struct Case {
    const char* text;
    const char* want;
  } cases[] = {
      {"[quota]\n", "sluice.conf:1: section [quota] needs a name: [quota NAME]"},
      {"[redis main]\n", "sluice.conf:1: section [redis] takes no name"},
      {"[quota a]\nmessages = 1/1m\n[quota a]\n", "sluice.conf:3: [quota a] already defined on line 1"},
      {"[quota a]\nkey = sasl_username\n", "sluice.conf:1: quota rule \"a\" has no messages, recipients or bytes limit"},
      {"[quota a]\nmessages = 100\n", "sluice.conf:2: [quota a] messages: limit \"100\" is not COUNT/WINDOW (e.g. 100/1m)"},
      {"[quota a]\nmessages = 1/1m, 2/60s\n", "sluice.conf:2: [quota a] messages: window 1m given twice"},
      {"[quota a]\nkey = sasl_username+sasl_username\n",
       "sluice.conf:2: [quota a] key: key field \"sasl_username\" given twice"},
      {"[quota a]\nkey = recipient\n",
       "sluice.conf:2: [quota a] key: unknown key field \"recipient\" (want sasl_username, sender, sender_domain or "
       "client_address, joined with +)"},
      {"[policyd]\nlisten = tcp:1\n",
       "sluice.conf:2: [policyd] listen: listen address \"tcp:1\": want inet:HOST:PORT or unix:/PATH"},
      {"[policyd]\nlisten = inet:localhost:10040\n",
       "sluice.conf:2: [policyd] listen: listen address \"inet:localhost:10040\": the host must be a numeric IPv4 or "
       "IPv6 address"},
      {"[policyd]\non_redis_error = ignore\n",
       "sluice.conf:2: [policyd] on_redis_error: on_redis_error must be tempfail or accept"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(error_of(c.text), std::string("/etc/sluice/") + c.want) << "input: " << c.text;
  }
}

TEST(Config, RejectsOverlongLinesAndNulBytes) {
  const std::string long_line = "[redis]\nhost = " + std::string(5000, 'a') + "\n";
  EXPECT_EQ(error_of(long_line), "/etc/sluice/sluice.conf:2: line longer than 4096 bytes");
  EXPECT_EQ(error_of(std::string_view("[redis]\nhost = a\0b\n", 18)), "/etc/sluice/sluice.conf:2: NUL byte in line");
}

class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sluice-config-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string write(const std::string& name, const std::string& text, mode_t mode = 0600) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    chmod(path.c_str(), mode);
    return path;
  }
  std::string dir_;
};

TEST_F(ConfigFileTest, MissingFileIsAnErrorNamingIt) {
  auto r = load_config(dir_ + "/absent.conf");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().detail, dir_ + "/absent.conf: cannot open: No such file or directory");
}

TEST_F(ConfigFileTest, DirectoryIsNotAConfig) {
  auto r = load_config(dir_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().detail, dir_ + ": not a regular file");
}

TEST_F(ConfigFileTest, ReadsPasswordFileRelativeToTheConfig) {
  write("redis.pw", "s3cret\n", 0640);
  const std::string conf = write("sluice.conf", "[redis]\npassword_file = redis.pw\n");
  auto r = load_config(conf);
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(r->redis.connection.password, "s3cret");
}

// A secret everybody can read is refused rather than used.
TEST_F(ConfigFileTest, RefusesWorldReadablePasswordFile) {
  write("redis.pw", "s3cret\n", 0644);
  const std::string conf = write("sluice.conf", "[redis]\npassword_file = redis.pw\n");
  auto r = load_config(conf);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().detail,
            conf + ":2: [redis] password_file: password_file " + dir_ + "/redis.pw is readable by others (chmod o-r it)");
}

TEST_F(ConfigFileTest, ShippedExampleConfigIsValid) {
  const char* srcdir = std::getenv("SLUICE_SRCDIR");
  const std::string path = std::string(srcdir ? srcdir : "../..") + "/contrib/sluice.conf.example";
  auto r = load_config(path);
  ASSERT_TRUE(r.ok()) << r.error().detail;
}

}  // namespace
}  // namespace sluice
