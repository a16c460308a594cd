// sluice-unsubscribe's network side: listeners, one Connection per HTTP
// client, timeouts. No policy lives here: request_plan.cc decides,
// unsubscribe_action.cc writes, this file moves bytes.
//
// Guarantees:
// - Single-threaded, non-blocking sockets; at most max_connections clients
//   (a few more are told 503, any beyond are closed unanswered), each
//   buffering at most the reader's caps (8 KiB head, 4 KiB body). Out of
//   descriptors, a listener rests until the next tick instead of spinning.
// - Slow-loris safe: each connection has one deadline from accept
//   (request_timeout) for the whole request, however slowly it trickles in;
//   then 408 and close. After the answer, a short lingering close (read and
//   discard until the client closes, bounded in time) so that an answer
//   sent before the request was fully read is not lost to a TCP reset.
// - One request per connection (Connection: close), one log line each.
// - Redis is asked through a blocking RedisConn with the [redis] timeouts
//   and its back-off: a dead Redis costs each POST at most one
//   command_timeout, and nothing while the back-off window is open. Only a
//   POST with a valid token and body reaches Redis; GETs never do.
// - reload() swaps the configuration (keys, url_base, ttl, Redis) for
//   requests parsed after it; listen addresses need a restart.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/config.h"
#include "common/listen_address.h"
#include "common/redis_conn.h"
#include "common/event_loop.h"
#include "common/stream_listener.h"
#include "unsubscribe/http_request.h"
#include "unsubscribe/request_plan.h"

namespace sluice::unsubscribe {


struct ServerLimits {
  std::size_t max_connections = 256;
  std::chrono::milliseconds request_timeout{10'000};  // accept to complete request
  std::chrono::milliseconds linger_timeout{2'000};    // after the answer
  HttpLimits http;
};

class Server {
 public:
  Server(EventLoop& loop, ConfigPtr config, ServerLimits limits = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Opens every [unsubscribe] listen address (before dropping root).
  Status open_listeners();
  void reload(ConfigPtr config);
  // Stops accepting; the loop ends once every connection is gone or after
  // |grace|.
  void drain(std::chrono::milliseconds grace);
  bool drained() const;

  void tick();         // deadlines; called by the loop
  void after_batch();  // frees closed connections

 private:
  using Listener = StreamListener;
  class Connection;
  friend class Connection;
  using Clock = std::chrono::steady_clock;

  void accept_from(Listener& listener);
  // Decides, applies and renders the answer to one complete request.
  std::string answer(const Connection& connection, const HttpRequest& request);
  void log_plan(const Connection& connection, const RequestPlan& plan, std::string_view method,
                const std::string* forwarded);
  void close(Connection& connection);

  EventLoop& loop_;
  ConfigPtr config_;
  std::string path_prefix_;
  ServerLimits limits_;
  RedisConn redis_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections_;
  std::vector<std::unique_ptr<Connection>> closed_;  // freed after the batch
  std::vector<std::unique_ptr<Listener>> retired_listeners_;
  std::uint64_t next_id_ = 1;
  bool draining_ = false;
  Clock::time_point drain_deadline_{};
};

}  // namespace sluice::unsubscribe
