// RedisConn: one synchronous (blocking, with timeouts) connection to Redis over
// TCP or a unix socket, for sluicectl, sluice-bounce and tests. The policy
// daemon's non-blocking path is separate.
//
// Owns: the hiredis context (RAII; hiredis enables TCP_NODELAY on TCP
// connections itself) and the reconnect back-off state.
//
// Guarantees:
// - The connection is opened lazily by the first command(), or by connect().
//   On connect it sends AUTH (when a password is set; "AUTH user pass", the
//   Redis 6 ACL form, when a username is set too) and SELECT (when database is
//   not 0) in one round trip.
// - Redis error replies (REDIS_REPLY_ERROR: NOSCRIPT, WRONGTYPE, NOAUTH, a
//   script's error_reply...) come back as replies, not as Errors: use
//   reply_error(). Only failures of the connection itself are Errors:
//     kTimeout      Redis did not answer (or accept the connection) within
//                   command_timeout (connect_timeout); detail names the
//                   endpoint and the timeout in ms.
//     kUnavailable  refused, reset, closed by the server, or the back-off
//                   window below is still open.
//     kConfig       AUTH or SELECT was refused (wrong password or user,
//                   database out of range): a configuration error, permanent.
//     kProtocol     the byte stream could not be parsed.
//     kInvalidInput an empty command (nothing is sent).
// - After any of these except kInvalidInput the context is dropped (the stream
//   is out of sync) and the next attempt to connect waits for a back-off
//   window: exponential from reconnect_min, doubling per consecutive failure
//   up to reconnect_max, with "equal jitter" (uniform in [base/2, base], never
//   below reconnect_min). Inside the window every call fails fast without
//   touching the network (kUnavailable; kConfig if the last failure was a
//   refused AUTH/SELECT, so it still reads as permanent), so a dead Redis
//   cannot stall each request by connect_timeout. A successful connect resets the back-off.
//   Commands are never retried: a write may or may not have been applied.
// - command_timeout bounds each blocking socket read and write (SO_RCVTIMEO,
//   SO_SNDTIMEO), not a whole pipeline.
// - Never raises SIGPIPE: it is blocked in the calling thread during I/O and
//   a pending one is consumed, so callers need not ignore SIGPIPE.
// - Not thread-safe: one RedisConn per thread. Move-only.
#pragma once

#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/backoff.h"
#include "common/c_handle.h"
#include "common/result.h"

namespace sluice {

using RedisContextPtr = CHandle<redisContext, redisFree>;
using RedisReplyPtr = CHandle<redisReply, freeReplyObject>;

struct RedisOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string unix_socket;  // non-empty: connect to this path instead of host:port
  std::string username;     // ACL user (Redis 6+); used only with a password
  std::string password;     // non-empty: AUTH [username] password on connect
  int database = 0;         // non-zero: SELECT database on connect
  std::chrono::milliseconds connect_timeout{500};
  std::chrono::milliseconds command_timeout{500};
  std::chrono::milliseconds reconnect_min{100};
  std::chrono::milliseconds reconnect_max{5000};
};

class RedisConn {
 public:
  using Clock = std::chrono::steady_clock;
  using NowFn = std::function<Clock::time_point()>;

  explicit RedisConn(RedisOptions opts, NowFn now = Clock::now);
  RedisConn(RedisConn&&) noexcept = default;
  RedisConn& operator=(RedisConn&&) noexcept = default;
  RedisConn(const RedisConn&) = delete;
  RedisConn& operator=(const RedisConn&) = delete;
  ~RedisConn() = default;

  // Connects now (AUTH, SELECT) unless already connected; respects the
  // back-off window like command() does.
  Status connect();
  // True while a context is held; a server-side close is noticed on next use.
  bool connected() const { return ctx_ != nullptr; }
  // "127.0.0.1:6379", "[::1]:6379" or "unix:/run/redis.sock", for logs.
  std::string endpoint() const;
  const RedisOptions& options() const { return opts_; }

  // Sends one command (argv[0] is the command name, binary-safe arguments)
  // and reads its reply.
  Result<RedisReplyPtr> command(std::span<const std::string_view> argv);
  Result<RedisReplyPtr> command(std::initializer_list<std::string_view> argv);
  // Appends every command, then reads every reply: one round trip. Replies
  // are in command order; error replies stay in place as replies.
  Result<std::vector<RedisReplyPtr>> pipeline(std::span<const std::vector<std::string>> commands);

  // Network connect attempts made so far (successful or not), for metrics
  // and for tests that check the back-off never touched the network.
  std::uint64_t connect_attempts() const { return connect_attempts_; }
  // Time left in the current back-off window (zero when a call would connect).
  std::chrono::milliseconds backoff_remaining() const;

 private:
  Status ensure_connected();
  Status open_context();
  // Drops the context and opens the next back-off window.
  Error fail(Error error);

  RedisOptions opts_;
  NowFn now_;
  RedisContextPtr ctx_;
  Clock::time_point next_attempt_{};
  std::string last_error_;  // why the back-off window is open
  Errc last_code_ = Errc::kUnavailable;
  std::uint64_t connect_attempts_ = 0;
  Backoff backoff_;
};

// "127.0.0.1:6379", "[::1]:6379" or "unix:/run/redis.sock", for logs.
std::string redis_endpoint(const RedisOptions& opts);
// True when both reach the same server as the same user and database.
bool same_redis_connection(const RedisOptions& a, const RedisOptions& b);

// The text of an error reply ("NOSCRIPT No matching script..."), or empty
// when the reply is not an error.
std::string_view reply_error(const redisReply& reply);
// True when the reply is an error whose first word is `code` ("NOSCRIPT").
bool reply_error_is(const redisReply& reply, std::string_view code);
// An integer reply's value; kProtocol for any other type (an error reply's
// text is in the detail).
Result<long long> reply_integer(const redisReply& reply);
// A bulk string or status reply's bytes, valid while the reply lives;
// kNotFound for nil, kProtocol for any other type.
Result<std::string_view> reply_string(const redisReply& reply);
// Short description of a reply for logs and test failures:
// "string \"abc\"", "integer 3", "error \"ERR ...\"", "array[2]", "nil".
std::string reply_describe(const redisReply& reply);

}  // namespace sluice
