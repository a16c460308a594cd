// sluice-policyd's network side: listeners (TCP and unix), one Connection
// per Postfix smtpd process, and the hand-off of each request to SPF (a
// worker pool, spf_service.h) and Redis. No policy lives here: checks.cc
// and spf_policy.cc decide, this file moves bytes.
//
// One request: prepare() (local answers: other states, the relay guard) ->
// SPF when spf_applies() (first RCPT of a message; later RCPTs reuse the
// connection's memo) -> when SPF's action is accept, the Redis check.
//
// Guarantees:
// - Single-threaded, non-blocking: a slow Redis or a slow client stalls
//   nobody else. One request per connection is in flight at a time (Postfix
//   waits for each answer); while it is, the connection is not read, so the
//   bytes buffered per connection stay within the reader's limits.
// - Every request gets exactly one answer, or the connection is closed: a
//   malformed request is logged and the connection closed (Postfix then
//   answers per its own default_action and retries).
// - reload() swaps the configuration snapshot for requests that start after
//   it; connections stay open. drain() stops accepting, lets the requests in
//   flight finish and closes the rest.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/config.h"
#include "common/listen_address.h"
#include "common/policy_check.h"
#include "common/event_loop.h"
#include "common/stream_listener.h"
#include "policyd/policy_reader.h"
#include "policyd/redis_async.h"
#include "policyd/spf_service.h"
#include "policyd/verdict.h"

namespace sluice::policyd {

// A configuration and what is derived from it, shared by the requests that
// started under it.
struct Snapshot {
  ConfigPtr config;
  PolicyCheck check;
};
using SnapshotPtr = std::shared_ptr<const Snapshot>;
SnapshotPtr make_snapshot(ConfigPtr config);

class Server : public ReplySink, public SpfSink {
 public:
  Server(EventLoop& loop, SnapshotPtr snapshot);
  ~Server() override;

  // Opens every listen address of the configuration (before dropping root).
  Status open_listeners();
  // Starts the SPF worker threads ([policyd] spf): after daemonizing, whose
  // fork keeps only the calling thread.
  void start_spf();
  void reload(SnapshotPtr snapshot);
  // Stops accepting; the loop ends once no request is in flight (or after
  // |grace|).
  void drain(std::chrono::milliseconds grace);
  bool drained() const;

  void tick();         // timeouts; called by the loop
  void after_batch();  // flushes Redis writes, frees closed connections

  void on_redis_reply(std::uint64_t token, Result<const redisReply*> reply) override;
  void on_spf_result(std::uint64_t waiter, const SpfOutcome& outcome, bool timed_out) override;

  std::size_t connection_count() const { return connections_.size(); }

 private:
  using Listener = StreamListener;
  class Connection;
  friend class Connection;

  void accept_from(Listener& listener);
  void start_request(Connection& connection, PolicyRequest request);
  // After SPF (or without it): its verdict, or on to Redis.
  void after_spf(Connection& connection, const SpfOutcome* outcome);
  void check_redis(Connection& connection);
  void answer(Connection& connection, const Verdict& verdict, std::string_view reason);
  void close(Connection& connection, const char* why);

  EventLoop& loop_;
  SnapshotPtr snapshot_;
  AsyncRedis redis_;
  SpfService spf_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections_;
  std::vector<std::unique_ptr<Connection>> closed_;  // freed after the batch
  std::vector<std::unique_ptr<Listener>> retired_listeners_;  // likewise
  std::uint64_t next_id_ = 1;
  bool draining_ = false;
  std::chrono::steady_clock::time_point drain_deadline_{};
  std::chrono::steady_clock::time_point next_idle_sweep_{};
};

}  // namespace sluice::policyd
