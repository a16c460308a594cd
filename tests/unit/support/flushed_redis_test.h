// A GoogleTest fixture for tests against a real Redis: one private
// redis-server per test suite (started on first use, stopped after the
// suite), a fresh connection and an empty database for every test. Skips
// the test when redis-server is not installed.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>

#include "common/redis_conn.h"
#include "tests/unit/support/redis_server.h"

namespace sluice::test {

class FlushedRedisTest : public ::testing::Test {
 protected:
  static void TearDownTestSuite() { server_.reset(); }

  // Derived fixtures call this first and return when IsSkipped() or
  // HasFatalFailure().
  void SetUp() override {
    SLUICE_REQUIRE_REDIS_SERVER();
    if (!server_) server_ = std::make_unique<RedisServer>();
    conn_ = std::make_unique<RedisConn>(server_->client_options());
    ASSERT_TRUE(conn_->command({"FLUSHALL"}).ok());
  }

  // Redis's clock (the one the scripts use), in Unix milliseconds.
  std::int64_t redis_now_ms() {
    auto r = conn_->command({"TIME"});
    EXPECT_TRUE(r.ok());
    if (!r) return 0;
    const redisReply& t = **r;
    return std::stoll(t.element[0]->str) * 1000 + std::stoll(t.element[1]->str) / 1000;
  }

  static inline std::unique_ptr<RedisServer> server_;
  std::unique_ptr<RedisConn> conn_;
};

}  // namespace sluice::test
