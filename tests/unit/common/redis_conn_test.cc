#include "common/redis_conn.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/support/redis_server.h"

namespace sluice {
namespace {

using namespace std::chrono_literals;
using sluice::test::RedisServer;
using sluice::test::RedisServerOptions;
using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;

// A hand-driven clock for back-off windows.
struct FakeClock {
  Clock::time_point now = Clock::time_point{} + 1h;
  RedisConn::NowFn fn() {
    return [this] { return now; };
  }
};

// Runs a command that must succeed at the transport level; returns its reply.
RedisReplyPtr must(Result<RedisReplyPtr> r) {
  EXPECT_TRUE(r.ok()) << "got error " << r.error().message() << ", want a reply";
  if (!r.ok()) return nullptr;
  return std::move(r).value();
}

std::string str(const RedisReplyPtr& reply) {
  if (reply == nullptr) return "<no reply>";
  Result<std::string_view> s = reply_string(*reply);
  return s ? std::string(*s) : "<" + reply_describe(*reply) + ">";
}

// Server-side count of read events (Redis 6+ INFO stats), to count round trips.
long long reads_processed(RedisConn& observer) {
  RedisReplyPtr info = must(observer.command({"INFO", "stats"}));
  const std::string text = str(info);
  const std::string key = "total_reads_processed:";
  const size_t at = text.find(key);
  if (at == std::string::npos) return -1;
  return std::stoll(text.substr(at + key.size()));
}

TEST(RedisConn, EndpointNamesHostPortOrUnixPath) {
  RedisOptions o;
  EXPECT_EQ(RedisConn(o).endpoint(), "127.0.0.1:6379");
  o.host = "::1";
  o.port = 6380;
  EXPECT_EQ(RedisConn(o).endpoint(), "[::1]:6380");
  o.unix_socket = "/run/redis/redis.sock";
  EXPECT_EQ(RedisConn(o).endpoint(), "unix:/run/redis/redis.sock");
}

TEST(RedisConn, EmptyCommandIsInvalidInputWithoutConnecting) {
  RedisConn conn(RedisOptions{});
  Result<RedisReplyPtr> r = conn.command(std::span<const std::string_view>{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kInvalidInput);
  const std::vector<std::vector<std::string>> cmds = {{"PING"}, {}};
  Result<std::vector<RedisReplyPtr>> p = conn.pipeline(cmds);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, Errc::kInvalidInput);
  EXPECT_EQ(conn.connect_attempts(), 0u);
}

TEST(RedisConn, ConnectsLazilyOverTcpAndSetsAndGets) {
  SLUICE_REQUIRE_REDIS_SERVER();
  RedisServer server;
  RedisConn conn(server.client_options());
  EXPECT_FALSE(conn.connected());
  RedisReplyPtr set = must(conn.command({"SET", "greeting", std::string_view("hel\0lo", 6)}));
  EXPECT_TRUE(conn.connected());
  EXPECT_EQ(str(set), "OK");
  EXPECT_EQ(str(must(conn.command({"GET", "greeting"}))), std::string("hel\0lo", 6));
  EXPECT_EQ(conn.connect_attempts(), 1u);
}

TEST(RedisConn, ConnectsOverUnixSocket) {
  SLUICE_REQUIRE_REDIS_SERVER();
  RedisServer server(RedisServerOptions{.unix_socket = true});
  RedisConn conn(server.unix_client_options());
  EXPECT_EQ(conn.endpoint(), "unix:" + server.unix_socket());
  ASSERT_TRUE(conn.connect().ok());
  EXPECT_EQ(str(must(conn.command({"PING"}))), "PONG");
  RedisReplyPtr info = must(conn.command({"CLIENT", "INFO"}));
  EXPECT_THAT(str(info), HasSubstr("laddr=" + server.unix_socket()));
}

TEST(RedisConn, MovedConnectionKeepsWorking) {
  SLUICE_REQUIRE_REDIS_SERVER();
  RedisServer server;
  RedisConn a(server.client_options());
  ASSERT_TRUE(a.connect().ok());
  RedisConn b = std::move(a);
  EXPECT_TRUE(b.connected());
  EXPECT_EQ(str(must(b.command({"PING"}))), "PONG");
}

TEST(RedisConn, PipelineOf100CommandsIsOneRoundTrip) {
  SLUICE_REQUIRE_REDIS_SERVER();
  RedisServer server;
  RedisConn conn(server.client_options());
  RedisConn observer(server.client_options());
  ASSERT_TRUE(conn.connect().ok());
  std::vector<std::vector<std::string>> cmds(100, {"INCR", "counter"});
  const long long before = reads_processed(observer);
  Result<std::vector<RedisReplyPtr>> replies = conn.pipeline(cmds);
  const long long after = reads_processed(observer);
  ASSERT_TRUE(replies.ok()) << replies.error().message();
  ASSERT_EQ(replies->size(), 100u);
  for (size_t i = 0; i < replies->size(); ++i) {
    Result<long long> n = reply_integer(*(*replies)[i]);
    ASSERT_TRUE(n.ok()) << n.error().message();
    EXPECT_EQ(*n, static_cast<long long>(i + 1)) << "reply " << i;
  }
  // The server read the 100 commands in a handful of reads (one, plus the
  // observer's INFO), not one read per command.
  ASSERT_GE(before, 0) << "INFO stats has no total_reads_processed";
  EXPECT_LE(after - before, 5) << "got " << after - before << " server reads for a 100-command pipeline";
}

TEST(RedisConn, PipelineKeepsErrorRepliesInPlace) {
  SLUICE_REQUIRE_REDIS_SERVER();
  RedisServer server;
  RedisConn conn(server.client_options());
  const std::vector<std::vector<std::string>> cmds = {{"SET", "s", "text"}, {"INCR", "s"}, {"GET", "s"}};
  Result<std::vector<RedisReplyPtr>> replies = conn.pipeline(cmds);
  ASSERT_TRUE(replies.ok()) << replies.error().message();
  ASSERT_EQ(replies->size(), 3u);
  EXPECT_EQ(str((*replies)[0]), "OK");
  EXPECT_THAT(std::string(reply_error(*(*replies)[1])), HasSubstr("not an integer"));
  EXPECT_EQ(str((*replies)[2]), "text");
}

TEST(RedisConn, ErrorRepliesComeBackAsRepliesAndTheConnectionStaysUsable) {
  SLUICE_REQUIRE_REDIS_SERVER();
  RedisServer server;
  RedisConn conn(server.client_options());
  must(conn.command({"SET", "s", "text"}));
  // Each case: a command Redis answers with an error reply, and its code.
  const struct {
    std::vector<std::string_view> argv;
    std::string_view code;
  } cases[] = {
      {{"INCR", "s"}, "ERR"},              // value is not an integer
      {{"LPUSH", "s", "x"}, "WRONGTYPE"},  // wrong type for the key
      {{"NOSUCHCOMMAND"}, "ERR"},          // unknown command
      {{"EVALSHA", "0000000000000000000000000000000000000000", "0"}, "NOSCRIPT"},
  };
  for (const auto& c : cases) {
    RedisReplyPtr reply = must(conn.command(std::span<const std::string_view>(c.argv)));
    ASSERT_NE(reply, nullptr);
    EXPECT_TRUE(reply_error_is(*reply, c.code))
        << c.argv[0] << ": got " << reply_describe(*reply) << ", want " << c.code;
  }
  EXPECT_TRUE(conn.connected());
  EXPECT_EQ(str(must(conn.command({"GET", "s"}))), "text");
  EXPECT_EQ(conn.connect_attempts(), 1u);
}

TEST(RedisConn, AuthenticatesWithPassword) {
  SLUICE_REQUIRE_REDIS_SERVER();
  RedisServer server(RedisServerOptions{.requirepass = "s3cret"});
  RedisConn conn(server.client_options());
  EXPECT_EQ(str(must(conn.command({"PING"}))), "PONG");

  RedisOptions anonymous = server.client_options();
  anonymous.password.clear();
  RedisConn other(anonymous);
  RedisReplyPtr reply = must(other.command({"GET", "k"}));
  ASSERT_NE(reply, nullptr);
  EXPECT_TRUE(reply_error_is(*reply, "NOAUTH")) << "got " << reply_describe(*reply);
}

TEST(RedisConn, AuthenticatesAsAclUser) {
  SLUICE_REQUIRE_REDIS_SERVER();
  RedisServer server(RedisServerOptions{.acl_users = {"sluice on >relay-pw ~sluice:* +@all"}});
  RedisOptions o = server.client_options();
  o.username = "sluice";
  o.password = "relay-pw";
  RedisConn conn(o);
  EXPECT_EQ(str(must(conn.command({"ACL", "WHOAMI"}))), "sluice");
  EXPECT_EQ(str(must(conn.command({"SET", "sluice:k", "v"}))), "OK");
  RedisReplyPtr denied = must(conn.command({"SET", "other:k", "v"}));
  ASSERT_NE(denied, nullptr);
  EXPECT_TRUE(reply_error_is(*denied, "NOPERM")) << "got " << reply_describe(*denied);
}

TEST(RedisConn, WrongPasswordIsPermanentConfigError) {
  SLUICE_REQUIRE_REDIS_SERVER();
  RedisServer server(RedisServerOptions{.acl_users = {"sluice on >relay-pw ~* +@all"}});
  // Each case: credentials Redis refuses.
  const struct {
    std::string username;
    std::string password;
  } cases[] = {
      {"", "not-the-password"},        // default user has no password here
      {"sluice", "not-the-password"},  // ACL user, wrong password
      {"nobody", "relay-pw"},          // unknown ACL user
  };
  for (const auto& c : cases) {
    RedisOptions o = server.client_options();
    o.username = c.username;
    o.password = c.password;
    RedisConn conn(o);
    Status st = conn.connect();
    ASSERT_FALSE(st.ok()) << "user '" << c.username << "' connected, want an AUTH error";
    EXPECT_EQ(st.error().code, Errc::kConfig) << st.error().message();
    EXPECT_FALSE(st.error().temporary());
    EXPECT_THAT(st.error().detail, HasSubstr("AUTH"));
    EXPECT_THAT(st.error().detail, HasSubstr(server.client_options().host));
    EXPECT_THAT(st.error().detail, Not(HasSubstr(c.password)));  // never log a secret
    EXPECT_FALSE(conn.connected());
    // Inside the back-off window it still reads as a permanent config error.
    Result<RedisReplyPtr> again = conn.command({"PING"});
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().code, Errc::kConfig) << again.error().message();
    EXPECT_THAT(again.error().detail, HasSubstr("next connect attempt in"));
  }
}

TEST(RedisConn, SelectIsolatesDatabases) {
  SLUICE_REQUIRE_REDIS_SERVER();
  RedisServer server;
  RedisOptions o0 = server.client_options();
  RedisOptions o3 = server.client_options();
  o3.database = 3;
  RedisConn db0(o0);
  RedisConn db3(o3);
  must(db0.command({"SET", "k", "zero"}));
  EXPECT_EQ(str(must(db3.command({"GET", "k"}))), "<nil>");
  must(db3.command({"SET", "k", "three"}));
  EXPECT_EQ(str(must(db0.command({"GET", "k"}))), "zero");
  EXPECT_EQ(str(must(db3.command({"GET", "k"}))), "three");
}

TEST(RedisConn, SelectOutOfRangeIsConfigError) {
  SLUICE_REQUIRE_REDIS_SERVER();
  RedisServer server;
  RedisOptions o = server.client_options();
  o.database = 99;  // redis.conf default: 16 databases
  RedisConn conn(o);
  Status st = conn.connect();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kConfig);
  EXPECT_THAT(st.error().detail, HasSubstr("SELECT 99"));
}

TEST(RedisConn, StoppedServerFailsQuicklyThenFailsFastWithoutConnecting) {
  SLUICE_REQUIRE_REDIS_SERVER();
  RedisServer server;
  RedisOptions o = server.client_options();
  o.reconnect_min = 10s;  // the window stays open for the whole test
  o.reconnect_max = 20s;
  RedisConn conn(o);
  ASSERT_TRUE(conn.connect().ok());
  server.stop();

  auto start = Clock::now();
  Result<RedisReplyPtr> first = conn.command({"PING"});
  auto took = Clock::now() - start;
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.error().code, Errc::kUnavailable) << first.error().message();
  EXPECT_LT(took, 200ms);
  EXPECT_FALSE(conn.connected());
  const auto attempts = conn.connect_attempts();

  start = Clock::now();
  Result<RedisReplyPtr> second = conn.command({"PING"});
  took = Clock::now() - start;
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, Errc::kUnavailable);
  EXPECT_THAT(second.error().detail, HasSubstr("next connect attempt in"));
  // The last error is named; whether the stopped server closed or reset the
  // connection depends on timing, so compare with what the first call saw.
  EXPECT_THAT(second.error().detail, HasSubstr("(last error: " + first.error().message() + ")"));
  EXPECT_EQ(conn.connect_attempts(), attempts) << "the back-off window touched the network";
  EXPECT_LT(took, 20ms);  // generous for loaded CI; the attempt count is the real check
  EXPECT_GE(conn.backoff_remaining(), 9s);
}

TEST(RedisConn, BackoffWindowsGrowExponentiallyAndResetOnSuccess) {
  SLUICE_REQUIRE_REDIS_SERVER();
  RedisServer server;
  FakeClock clock;
  RedisOptions o = server.client_options();
  o.reconnect_min = 100ms;
  o.reconnect_max = 400ms;
  RedisConn conn(o, clock.fn());
  ASSERT_TRUE(conn.connect().ok());
  server.stop();
  ASSERT_FALSE(conn.command({"PING"}).ok());

  // Each row: window bounds after the n-th consecutive failure (equal
  // jitter in [base/2, base], never below reconnect_min, base capped).
  const struct {
    std::chrono::milliseconds lo, hi;
  } windows[] = {{100ms, 100ms}, {100ms, 200ms}, {200ms, 400ms}, {200ms, 400ms}};
  for (size_t n = 0; n < std::size(windows); ++n) {
    const auto wait = conn.backoff_remaining();
    EXPECT_GE(wait, windows[n].lo) << "failure " << n + 1;
    EXPECT_LE(wait, windows[n].hi) << "failure " << n + 1;
    const auto attempts = conn.connect_attempts();
    clock.now += wait - 1ms;
    Result<RedisReplyPtr> inside = conn.command({"PING"});
    ASSERT_FALSE(inside.ok());
    EXPECT_EQ(inside.error().code, Errc::kUnavailable);
    EXPECT_EQ(conn.connect_attempts(), attempts) << "connected inside the window, failure " << n + 1;
    clock.now += 1ms;
    Result<RedisReplyPtr> after = conn.command({"PING"});
    ASSERT_FALSE(after.ok());
    EXPECT_EQ(after.error().code, Errc::kUnavailable);
    EXPECT_THAT(after.error().detail, HasSubstr("refused"));
    EXPECT_EQ(conn.connect_attempts(), attempts + 1) << "no connect after the window, failure " << n + 1;
  }

  // Back on the same port: the client reconnects once the window is over.
  server.start();
  clock.now += conn.backoff_remaining();
  EXPECT_EQ(str(must(conn.command({"PING"}))), "PONG");
  EXPECT_EQ(conn.backoff_remaining(), 0ms);

  // A success reset the back-off: the next window is reconnect_min again.
  server.stop();
  ASSERT_FALSE(conn.command({"PING"}).ok());
  EXPECT_EQ(conn.backoff_remaining(), 100ms);
}

TEST(RedisConn, ReconnectsAfterServerRestartsOnSamePort) {
  SLUICE_REQUIRE_REDIS_SERVER();
  RedisServer server;
  RedisOptions o = server.client_options();
  o.reconnect_min = 20ms;
  o.reconnect_max = 20ms;
  RedisConn conn(o);
  must(conn.command({"SET", "k", "v"}));
  server.stop();
  ASSERT_FALSE(conn.command({"PING"}).ok());
  server.start();
  std::this_thread::sleep_for(25ms);
  EXPECT_EQ(str(must(conn.command({"PING"}))), "PONG");
}

TEST(RedisConn, ConnectRefusedIsUnavailable) {
  SLUICE_REQUIRE_REDIS_SERVER();
  RedisServer server;
  RedisOptions o = server.client_options();
  server.stop();
  RedisConn conn(o);
  Status st = conn.connect();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kUnavailable);
  EXPECT_TRUE(st.error().temporary());
  EXPECT_THAT(st.error().detail, HasSubstr(conn.endpoint()));
}

TEST(RedisConn, CommandTimeoutIsTimeoutAndConnectionRecovers) {
  SLUICE_REQUIRE_REDIS_SERVER();
  RedisServer server;
  FakeClock clock;
  RedisOptions o = server.client_options();
  o.command_timeout = 100ms;
  RedisConn conn(o, clock.fn());
  ASSERT_TRUE(conn.connect().ok());

  const auto start = Clock::now();
  Result<RedisReplyPtr> r = conn.command({"DEBUG", "SLEEP", "0.3"});
  const auto took = Clock::now() - start;
  ASSERT_FALSE(r.ok()) << "got " << reply_describe(*r.value()) << ", want a timeout";
  EXPECT_EQ(r.error().code, Errc::kTimeout) << r.error().message();
  EXPECT_THAT(r.error().detail, HasSubstr(conn.endpoint()));
  EXPECT_THAT(r.error().detail, HasSubstr("100 ms"));
  EXPECT_GE(took, 90ms);
  EXPECT_LT(took, 290ms);  // DEBUG SLEEP itself takes 300 ms
  EXPECT_FALSE(conn.connected());

  std::this_thread::sleep_for(300ms - took + 20ms);  // let the server wake up
  clock.now += conn.backoff_remaining();
  EXPECT_EQ(str(must(conn.command({"PING"}))), "PONG");
}

TEST(RedisConn, StoppedServerMidPipelineDoesNotRaiseSigpipe) {
  SLUICE_REQUIRE_REDIS_SERVER();
  RedisServer server;
  RedisConn conn(server.client_options());
  ASSERT_TRUE(conn.connect().ok());
  server.stop();
  // Megabytes to a reset connection: write(2) fails with EPIPE; without
  // the guard SIGPIPE would end the test binary here.
  const std::vector<std::vector<std::string>> cmds(8, {"SET", "big", std::string(1 << 20, 'x')});
  Result<std::vector<RedisReplyPtr>> r = conn.pipeline(cmds);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kUnavailable) << r.error().message();
}

TEST(RedisReply, HelpersReadTypedValuesSafely) {
  redisReply integer{};
  integer.type = REDIS_REPLY_INTEGER;
  integer.integer = 42;
  char text[] = "hello";
  redisReply string{};
  string.type = REDIS_REPLY_STRING;
  string.str = text;
  string.len = 5;
  redisReply status = string;
  status.type = REDIS_REPLY_STATUS;
  char err_text[] = "NOSCRIPT No matching script. Please use EVAL.";
  redisReply error{};
  error.type = REDIS_REPLY_ERROR;
  error.str = err_text;
  error.len = sizeof err_text - 1;
  redisReply nil{};
  nil.type = REDIS_REPLY_NIL;

  EXPECT_EQ(*reply_integer(integer), 42);
  EXPECT_EQ(reply_integer(string).error().code, Errc::kProtocol);
  EXPECT_THAT(reply_integer(error).error().detail, HasSubstr("NOSCRIPT"));
  EXPECT_EQ(*reply_string(string), "hello");
  EXPECT_EQ(*reply_string(status), "hello");
  EXPECT_EQ(reply_string(nil).error().code, Errc::kNotFound);
  EXPECT_EQ(reply_string(integer).error().code, Errc::kProtocol);
  EXPECT_EQ(reply_error(string), "");
  EXPECT_EQ(reply_error(error), err_text);
  EXPECT_TRUE(reply_error_is(error, "NOSCRIPT"));
  EXPECT_FALSE(reply_error_is(error, "NOSCRIPTX"));
  EXPECT_FALSE(reply_error_is(error, "NOSC"));
  EXPECT_FALSE(reply_error_is(string, "hello"));
  EXPECT_EQ(reply_describe(integer), "integer 42");
  EXPECT_EQ(reply_describe(nil), "nil");
}

}  // namespace
}  // namespace sluice
