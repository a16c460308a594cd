// The policy daemon's non-blocking Redis client: one hiredis async context
// driven by the EventLoop, so a slow Redis never stalls other connections.
//
// Owns: the hiredis async context, the FIFO of commands in flight (Redis
// answers in order), the reconnect back-off.
//
// Guarantees:
// - Every eval() is answered exactly once through ReplySink::on_redis_reply:
//   with the reply, or with an Error when Redis is down, in back-off, or
//   slower than command_timeout. When not connected the answer comes from
//   inside eval() itself (callers check available() first to avoid that).
// - A command slower than command_timeout fails every command in flight and
//   drops the connection (the stream can no longer be trusted); the next
//   connect waits for the back-off window. Commands are never retried after
//   a timeout: the script may have run.
// - Scripts are loaded right after connecting (SCRIPT LOAD, pipelined before
//   any EVALSHA); a NOSCRIPT answer (someone ran SCRIPT FLUSH) is retried
//   once with EVAL and the full source.
// - Writes are batched: commands issued while handling one batch of events
//   leave in one write() at flush().
#pragma once

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "common/backoff.h"
#include "common/policy_check.h"
#include "common/redis_conn.h"
#include "common/result.h"
#include "common/event_loop.h"

namespace sluice::policyd {

class ReplySink {
 public:
  virtual ~ReplySink() = default;
  // |reply| is valid only during the call.
  virtual void on_redis_reply(std::uint64_t token, Result<const redisReply*> reply) = 0;
};

class AsyncRedis : public EventLoop::Handler {
 public:
  using Clock = std::chrono::steady_clock;

  AsyncRedis(EventLoop& loop, ReplySink& sink, RedisOptions options, std::vector<const RedisScript*> scripts);
  ~AsyncRedis() override;
  AsyncRedis(const AsyncRedis&) = delete;
  AsyncRedis& operator=(const AsyncRedis&) = delete;

  // False while disconnected inside a back-off window: callers answer at
  // once instead of queueing behind an outage.
  bool available(Clock::time_point now);
  void eval(RedisCall call, std::uint64_t token);

  // Sends what eval() queued. Called after each batch of events.
  void flush();
  // Timeouts and reconnects; called periodically.
  void tick(Clock::time_point now);
  // New settings take effect at the next connect.
  void set_options(RedisOptions options);
  // Closes the connection gracefully (replies already asked for still
  // arrive) and connects again at once, with the current options.
  void reconnect();
  std::size_t in_flight() const { return pending_.size(); }
  std::string endpoint() const { return redis_endpoint(options_); }

  void on_io(std::uint32_t events) override;

 private:
  struct Pending {
    std::uint64_t token;
    Clock::time_point deadline;
    RedisCall call;
    bool retried;
  };
  enum class State { kDisconnected, kConnecting, kConnected };

  void connect(Clock::time_point now);
  void send_eval(Pending pending, bool with_source);
  void drop(const std::string& why, Clock::time_point now);
  void fail_all(const Error& error);
  void update_interest();

  static void on_connect(const redisAsyncContext* ctx, int status);
  static void on_disconnect(const redisAsyncContext* ctx, int status);
  static void on_eval_reply(redisAsyncContext* ctx, void* reply, void* privdata);
  static void on_setup_reply(redisAsyncContext* ctx, void* reply, void* privdata);
  static void add_read(void* self);
  static void del_read(void* self);
  static void add_write(void* self);
  static void del_write(void* self);
  static void cleanup(void* self);

  EventLoop& loop_;
  ReplySink& sink_;
  RedisOptions options_;
  std::vector<const RedisScript*> scripts_;
  redisAsyncContext* ctx_ = nullptr;  // owned by hiredis once connected; freed via redisAsyncFree
  State state_ = State::kDisconnected;
  int fd_ = -1;
  bool want_read_ = false;
  bool want_write_ = false;
  bool registered_ = false;
  bool reconnect_now_ = false;  // the next drop() skips the back-off
  std::uint32_t registered_events_ = 0;
  Clock::time_point connect_deadline_{};
  Clock::time_point next_attempt_{};
  Backoff backoff_;
  std::string last_error_;
  std::deque<Pending> pending_;
};

}  // namespace sluice::policyd
