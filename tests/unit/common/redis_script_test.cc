#include "common/redis_script.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/unit/support/redis_server.h"

namespace sluice {
namespace {

using sluice::test::RedisServer;
using ::testing::HasSubstr;

constexpr std::string_view kEcho =
    "-- KEYS: any; ARGV: any. Returns {KEYS..., ARGV..., #KEYS, #ARGV}.\n"
    "local out = {}\n"
    "for _, k in ipairs(KEYS) do out[#out + 1] = k end\n"
    "for _, a in ipairs(ARGV) do out[#out + 1] = a end\n"
    "out[#out + 1] = #KEYS\n"
    "out[#out + 1] = #ARGV\n"
    "return out\n";

std::string element(const redisReply& array, size_t i) {
  if (array.type != REDIS_REPLY_ARRAY || i >= array.elements) return "<missing>";
  const redisReply& e = *array.element[i];
  if (e.type == REDIS_REPLY_INTEGER) return std::to_string(e.integer);
  Result<std::string_view> s = reply_string(e);
  return s ? std::string(*s) : "<" + reply_describe(e) + ">";
}

TEST(RedisScript, Sha1IsLowercaseHexComputedLocally) {
  // Each row: input, its SHA1 (FIPS 180 test vectors).
  const struct {
    std::string_view in, sha1;
  } cases[] = {
      {"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
      {"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
  };
  for (const auto& c : cases) EXPECT_EQ(sha1_hex(c.in), c.sha1) << "input \"" << c.in << "\"";
  RedisScript script("echo", std::string(kEcho));
  EXPECT_EQ(script.name(), "echo");
  EXPECT_EQ(script.source(), kEcho);
  EXPECT_EQ(script.sha1(), sha1_hex(kEcho));
}

TEST(RedisScript, Sha1MatchesScriptLoad) {
  SLUICE_REQUIRE_REDIS_SERVER();
  RedisServer server;
  RedisConn conn(server.client_options());
  RedisScript script("echo", std::string(kEcho));
  Result<RedisReplyPtr> reply = conn.command({"SCRIPT", "LOAD", script.source()});
  ASSERT_TRUE(reply.ok()) << reply.error().message();
  Result<std::string_view> sha = reply_string(**reply);
  ASSERT_TRUE(sha.ok()) << sha.error().message();
  EXPECT_EQ(*sha, script.sha1());
  EXPECT_TRUE(script.load(conn).ok());
}

TEST(RedisScript, PassesKeysAndArgv) {
  SLUICE_REQUIRE_REDIS_SERVER();
  RedisServer server;
  RedisConn conn(server.client_options());
  RedisScript script("echo", std::string(kEcho));
  ASSERT_TRUE(script.load(conn).ok());
  const std::vector<std::string> keys = {"sluice:v1:a", "sluice:v1:b"};
  const std::vector<std::string> args = {"1", "two words", std::string("bin\0ary", 7)};
  Result<RedisReplyPtr> reply = script.eval(conn, keys, args);
  ASSERT_TRUE(reply.ok()) << reply.error().message();
  const redisReply& r = **reply;
  ASSERT_EQ(r.type, REDIS_REPLY_ARRAY) << "got " << reply_describe(r);
  const std::vector<std::string> want = {
      "sluice:v1:a", "sluice:v1:b", "1", "two words", std::string("bin\0ary", 7), "2", "3"};
  ASSERT_EQ(r.elements, want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(element(r, i), want[i]) << "element " << i;
}

TEST(RedisScript, EvalLoadsOnNoscriptAfterScriptFlush) {
  SLUICE_REQUIRE_REDIS_SERVER();
  RedisServer server;
  RedisConn conn(server.client_options());
  RedisScript script("echo", std::string(kEcho));
  ASSERT_TRUE(script.load(conn).ok());
  ASSERT_TRUE(conn.command({"SCRIPT", "FLUSH"}).ok());

  const std::vector<std::string> keys = {"k"};
  const std::vector<std::string> args = {"a"};
  Result<RedisReplyPtr> reply = script.eval(conn, keys, args);
  ASSERT_TRUE(reply.ok()) << reply.error().message();
  ASSERT_TRUE(reply_error((**reply)).empty()) << "got " << reply_describe(**reply);
  EXPECT_EQ(element(**reply, 0), "k");
  EXPECT_EQ(element(**reply, 1), "a");

  Result<RedisReplyPtr> exists = conn.command({"SCRIPT", "EXISTS", script.sha1()});
  ASSERT_TRUE(exists.ok());
  EXPECT_EQ(element(**exists, 0), "1");
}

TEST(RedisScript, EvalWithoutPreloadLoadsOnDemand) {
  SLUICE_REQUIRE_REDIS_SERVER();
  RedisServer server;
  RedisConn conn(server.client_options());
  RedisScript script("incr", "return redis.call('INCRBY', KEYS[1], ARGV[1])");
  const std::vector<std::string> keys = {"n"};
  const std::vector<std::string> args = {"5"};
  for (long long want : {5, 10}) {
    Result<RedisReplyPtr> reply = script.eval(conn, keys, args);
    ASSERT_TRUE(reply.ok()) << reply.error().message();
    Result<long long> n = reply_integer(**reply);
    ASSERT_TRUE(n.ok()) << n.error().message();
    EXPECT_EQ(*n, want);  // ran exactly once per eval, even the first time
  }
}

TEST(RedisScript, ScriptErrorReplyComesBackAsReply) {
  SLUICE_REQUIRE_REDIS_SERVER();
  RedisServer server;
  RedisConn conn(server.client_options());
  RedisScript script("refuse", "return redis.error_reply('QUOTA over limit')");
  Result<RedisReplyPtr> reply = script.eval(conn, {}, {});
  ASSERT_TRUE(reply.ok()) << reply.error().message();
  EXPECT_EQ(reply_error(**reply), "QUOTA over limit");
  EXPECT_TRUE(conn.connected());
}

TEST(RedisScript, CompileErrorIsInternalOnLoadAndAnErrorReplyOnEval) {
  SLUICE_REQUIRE_REDIS_SERVER();
  RedisServer server;
  RedisConn conn(server.client_options());
  RedisScript script("broken", "return (");
  Status st = script.load(conn);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kInternal);
  EXPECT_THAT(st.error().detail, HasSubstr("broken"));
  Result<RedisReplyPtr> reply = script.eval(conn, {}, {});
  ASSERT_TRUE(reply.ok()) << reply.error().message();
  EXPECT_THAT(std::string(reply_error(**reply)), HasSubstr("compiling"));
}

TEST(RedisScript, EvalReportsTransportErrors) {
  SLUICE_REQUIRE_REDIS_SERVER();
  RedisServer server;
  RedisOptions o = server.client_options();
  server.stop();
  RedisConn conn(o);
  RedisScript script("echo", std::string(kEcho));
  Result<RedisReplyPtr> reply = script.eval(conn, {}, {});
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().code, Errc::kUnavailable);
  EXPECT_EQ(script.load(conn).error().code, Errc::kUnavailable);
}

}  // namespace
}  // namespace sluice
