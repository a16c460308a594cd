#include "policyd/server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "common/stream_io.h"
#include "common/lua_scripts.h"
#include "policyd/checks.h"
#include "policyd/spf_policy.h"

namespace sluice::policyd {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kIdleSweepInterval = std::chrono::seconds{1};
constexpr std::size_t kMaxPendingOutput = 64 * 1024;
constexpr int kReadsPerEvent = 8;

}  // namespace

SnapshotPtr make_snapshot(ConfigPtr config) {
  PolicyCheck check(config->redis.key_prefix, config->quota_rules, config->policyd.suppression,
                    config->policyd.suppression_scopes,
                    SenderAuthorisation{config->policyd.sender_authorisation,
                                        config->policyd.sender_authorisation_missing});
  return std::make_shared<const Snapshot>(Snapshot{std::move(config), std::move(check)});
}

class Server::Connection : public EventLoop::Handler {
 public:
  Connection(Server& server, int fd, std::uint64_t id, std::string peer)
      : server_(server), fd_(fd), id_(id), peer_(std::move(peer)), last_active_(Clock::now()) {}
  ~Connection() override { ::close(fd_); }

  void on_io(std::uint32_t events) override {
    if (closed_) return;
    if ((events & (EPOLLHUP | EPOLLERR)) != 0) {
      // Reported whatever the interest mask; the peer is gone either way,
      // and ignoring it would make epoll report it again at once (a spin).
      server_.close(*this, in_flight_ ? "client gone with a request in flight" : nullptr);
      return;
    }
    if ((events & EPOLLOUT) != 0) {
      write_out();
      if (closed_) return;
      process_buffered();  // requests held back while replies were piling up
    }
    if ((events & EPOLLIN) != 0 && accepting_requests()) read_in();
  }

  // A connection takes requests while none is in flight and its unread
  // replies stay small: a client that sends without reading stops being
  // read (and costs no memory) until it reads.
  bool accepting_requests() const { return !in_flight_ && !closed_ && out_.size() < kMaxPendingOutput; }

  void read_in() {
    std::array<char, 16384> buffer;
    // A bounded number of reads per event, so one busy client cannot starve
    // the others; epoll is level-triggered and calls again for the rest.
    for (int round = 0; round < kReadsPerEvent && accepting_requests(); ++round) {
      const ssize_t n = ::read(fd_, buffer.data(), buffer.size());
      if (n > 0) {
        last_active_ = Clock::now();
        reader_.feed(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
        process_buffered();
        continue;
      }
      if (n == 0) {
        server_.close(*this, nullptr);
        return;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) server_.close(*this, "read error");
      return;
    }
  }

  // Takes complete requests one at a time; stops while one is in flight.
  // Never re-entered: an answer given synchronously inside start_request()
  // returns here and the loop goes on, instead of recursing once per
  // pipelined request (a flood of them would otherwise exhaust the stack).
  void process_buffered() {
    if (processing_) return;
    processing_ = true;
    while (accepting_requests()) {
      auto next = reader_.next();
      if (!next) {
        log_warn("policy client %s: malformed request: %s; closing", peer_.c_str(),
                 next.error().message().c_str());
        server_.close(*this, nullptr);
        break;
      }
      if (!next->has_value()) break;
      server_.start_request(*this, std::move(**next));
    }
    processing_ = false;
    if (!closed_) update_interest();
  }

  void send(std::string_view bytes) {
    out_.append(bytes);
    write_out();
  }

  void write_out() {
    if (flush_output(fd_, out_) == FlushResult::kFailed) {
      server_.close(*this, "write error");
      return;
    }
    if (out_.empty() && server_.draining_ && !in_flight_) {
      server_.close(*this, nullptr);  // its last answer is out
      return;
    }
    update_interest();
  }

  void update_interest() {
    const std::uint32_t events = (accepting_requests() ? static_cast<std::uint32_t>(EPOLLIN) : 0u) |
                                 (out_.empty() ? 0u : static_cast<std::uint32_t>(EPOLLOUT));
    if (events != registered_events_) {
      if (server_.loop_.modify(fd_, events, this)) registered_events_ = events;
    }
  }

  Server& server_;
  int fd_;
  std::uint64_t id_;
  std::string peer_;
  PolicyReader reader_;
  std::string out_;
  std::uint32_t registered_events_ = EPOLLIN;
  bool in_flight_ = false;
  bool closed_ = false;
  bool processing_ = false;  // inside process_buffered()
  Clock::time_point last_active_;
  // The request being answered and the snapshot it started under.
  PolicyRequest request_;
  Prepared prepared_;
  SnapshotPtr snapshot_;
  bool spf_waiting_ = false;  // a job of server_.spf_ is out for this request
  std::string spf_log_;       // "spf=" of this request's log line; empty: not checked

  // The last SPF evaluation on this connection: Postfix asks at every RCPT
  // of a message, over the same connection (one smtpd process), so a
  // 100-recipient message costs one evaluation.
  struct SpfMemo {
    std::string instance;
    SpfQuery query;
    SpfOutcome outcome;
    bool header_sent = false;  // its Received-SPF went out in a PREPEND
  };
  std::optional<SpfMemo> spf_memo_;
};

Server::Server(EventLoop& loop, SnapshotPtr snapshot)
    : loop_(loop),
      snapshot_(std::move(snapshot)),
      redis_(loop, *this, snapshot_->config->redis.connection, {&policy_check_script()}),
      spf_(loop, *this) {}

void Server::start_spf() { spf_.configure(snapshot_->config->policyd); }

Server::~Server() {
  connections_.clear();
  closed_.clear();
  listeners_.clear();
}

Status Server::open_listeners() {
  return open_stream_listeners(loop_, snapshot_->config->policyd.listen, snapshot_->config->policyd.unix_socket_mode,
                               [this](Listener& listener) { accept_from(listener); }, listeners_);
}

void Server::reload(SnapshotPtr snapshot) {
  const Config& old_config = *snapshot_->config;
  const Config& new_config = *snapshot->config;
  if (old_config.policyd.listen != new_config.policyd.listen) {
    log_warn("reload: listen addresses changed; they take effect at the next restart");
  }
  if (!same_redis_connection(old_config.redis.connection, new_config.redis.connection)) {
    // The old server may be a demoted primary: switch now, after the
    // replies already asked for (a graceful disconnect delivers them).
    log_info("reload: redis connection settings changed, reconnecting to %s",
             redis_endpoint(new_config.redis.connection).c_str());
    redis_.set_options(new_config.redis.connection);
    redis_.reconnect();
  } else {
    redis_.set_options(new_config.redis.connection);
  }
  spf_.configure(new_config.policyd);
  snapshot_ = std::move(snapshot);
  log_info("reload: configuration %s loaded (%zu quota rules); %zu connections kept",
           new_config.path.c_str(), new_config.quota_rules.size(), connections_.size());
}

void Server::accept_from(Listener& listener) {
  while (true) {
    sockaddr_storage peer{};
    const int fd = listener.accept_one(peer);
    if (fd < 0) return;  // a paused listener is resumed at the next tick
    if (draining_) {
      ::close(fd);
      continue;
    }
    if (connections_.size() >= static_cast<std::size_t>(snapshot_->config->policyd.max_connections)) {
      log_warn("max_connections (%d) reached: refusing a connection on %s",
               snapshot_->config->policyd.max_connections, listener.address().str().c_str());
      ::close(fd);
      continue;
    }
    std::string peer_name = stream_peer_name(peer, listener.address());
    if (peer.ss_family == AF_INET || peer.ss_family == AF_INET6) {
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // one small reply per request
    }
    const std::uint64_t id = next_id_++;
    auto connection = std::make_unique<Connection>(*this, fd, id, std::move(peer_name));
    if (!loop_.add(fd, EPOLLIN, connection.get())) {
      continue;  // the unique_ptr closes it
    }
    connections_.emplace(id, std::move(connection));
  }
}

void Server::start_request(Connection& connection, PolicyRequest request) {
  connection.in_flight_ = true;
  connection.update_interest();
  connection.snapshot_ = snapshot_;
  connection.request_ = std::move(request);
  connection.spf_log_.clear();
  const PolicydSettings& settings = connection.snapshot_->config->policyd;
  connection.prepared_ = prepare(connection.request_, settings);
  if (!connection.prepared_.note.empty()) {
    log_warn("%s: %s", connection.request_.queue_id.empty() ? "NOQUEUE" : connection.request_.queue_id.c_str(),
             connection.prepared_.note.c_str());
  }
  if (connection.prepared_.immediate) {
    answer(connection, *connection.prepared_.immediate, connection.prepared_.reason);
    return;
  }
  const PolicyRequest& req = connection.request_;
  if (!spf_applies(req, settings)) {
    // END-OF-MESSAGE: the log names the result its RCPTs had.
    if (connection.spf_memo_ && !req.instance.empty() && connection.spf_memo_->instance == req.instance) {
      connection.spf_log_ = spf_result_name(connection.spf_memo_->outcome.result);
    }
    check_redis(connection);
    return;
  }
  SpfQuery query = spf_query_for(req);
  if (connection.spf_memo_ && !req.instance.empty() && connection.spf_memo_->instance == req.instance &&
      connection.spf_memo_->query == query) {
    after_spf(connection, &connection.spf_memo_->outcome);
    return;
  }
  connection.spf_memo_.reset();
  if (spf_.start(connection.id_, query, settings.spf_timeout)) {
    connection.spf_waiting_ = true;
    return;
  }
  // Not queued (queue full, no pool): temperror now, and not remembered:
  // the next RCPT tries again.
  const SpfOutcome busy = spf_temperror(query, "SPF service busy");
  after_spf(connection, &busy);
}

void Server::on_spf_result(std::uint64_t waiter, const SpfOutcome& outcome, bool timed_out) {
  const auto it = connections_.find(waiter);
  if (it == connections_.end()) return;
  Connection& connection = *it->second;
  if (!connection.in_flight_ || !connection.spf_waiting_) return;
  connection.spf_waiting_ = false;
  const char* queue_id = connection.request_.queue_id.empty() ? "NOQUEUE" : connection.request_.queue_id.c_str();
  if (timed_out) {
    log_warn("%s: spf: no answer within %lld ms for client %s", queue_id,
             static_cast<long long>(connection.snapshot_->config->policyd.spf_timeout.count()),
             log_escape(connection.request_.client_address, 64).c_str());
  } else if (log_enabled(LogLevel::kDebug)) {
    log_debug("%s: spf: evaluated result=%s domain=%s client=%s (%s)", queue_id,
              std::string(spf_result_name(outcome.result)).c_str(), log_escape(outcome.domain, 100).c_str(),
              log_escape(connection.request_.client_address, 64).c_str(),
              log_escape(outcome.explanation, 200).c_str());
  }
  connection.spf_memo_ = Connection::SpfMemo{connection.request_.instance, spf_query_for(connection.request_),
                                             outcome, false};
  after_spf(connection, &connection.spf_memo_->outcome);
}

void Server::after_spf(Connection& connection, const SpfOutcome* outcome) {
  connection.spf_log_ = spf_result_name(outcome->result);
  const PolicydSettings& settings = connection.snapshot_->config->policyd;
  if (auto refused = spf_verdict(*outcome, spf_query_for(connection.request_), settings.spf_actions)) {
    answer(connection, *refused, "spf-" + connection.spf_log_);
    return;
  }
  check_redis(connection);
}

void Server::check_redis(Connection& connection) {
  std::optional<RedisCall> call = connection.snapshot_->check.build(connection.prepared_.facts);
  if (!call) {
    answer(connection, verdict_dunno(), "no-rule");
    return;
  }
  if (!redis_.available(Clock::now())) {
    const Verdict verdict = verdict_for_redis_error(connection.snapshot_->config->policyd.on_redis_error);
    answer(connection, verdict, "redis-unavailable");
    return;
  }
  redis_.eval(std::move(*call), connection.id_);
}

void Server::on_redis_reply(std::uint64_t token, Result<const redisReply*> reply) {
  const auto it = connections_.find(token);
  if (it == connections_.end()) return;  // the client left meanwhile
  Connection& connection = *it->second;
  if (!connection.in_flight_) return;
  if (!reply) {
    log_warn("%s: redis: %s", connection.request_.queue_id.empty() ? "NOQUEUE" : connection.request_.queue_id.c_str(),
             reply.error().message().c_str());
    answer(connection, verdict_for_redis_error(connection.snapshot_->config->policyd.on_redis_error), "redis-error");
    return;
  }
  auto outcome = connection.snapshot_->check.parse(connection.prepared_.facts, **reply);
  if (!outcome) {
    log_error("policy check reply: %s", outcome.error().message().c_str());
    answer(connection, verdict_tempfail_internal(), "internal-error");
    return;
  }
  answer(connection, verdict_for(*outcome, connection.prepared_.facts),
         outcome->replayed ? "replayed" : outcome_reason(*outcome));
}

void Server::answer(Connection& connection, const Verdict& given, std::string_view reason) {
  Verdict verdict = given;
  // An admission of a message whose SPF was checked carries Received-SPF,
  // once per message (PREPEND works at RCPT, not at END-OF-MESSAGE).
  auto& memo = connection.spf_memo_;
  if (verdict.kind == Verdict::Kind::kDunno && !connection.spf_log_.empty() && memo && !memo->header_sent &&
      connection.request_.protocol_state == ProtocolState::kRcpt && connection.snapshot_ &&
      connection.snapshot_->config->policyd.spf_received_header && memo->instance == connection.request_.instance) {
    verdict = verdict_prepend(received_spf_header(memo->outcome, memo->query));
    memo->header_sent = true;
  }
  // Decisions that change what Postfix does are logged at info; the (many)
  // DUNNOs (and PREPENDs, which admit too) only at debug, so a busy relay's
  // log stays readable.
  const bool admits = verdict.kind == Verdict::Kind::kDunno || verdict.kind == Verdict::Kind::kPrepend;
  const LogLevel level =
      admits && reason != "redis-unavailable" && reason != "redis-error" ? LogLevel::kDebug : LogLevel::kInfo;
  if (log_enabled(level)) {
    const std::string line = decision_log_line(connection.request_, verdict, reason, connection.spf_log_);
    if (level == LogLevel::kDebug) log_debug("%s", line.c_str());
    else log_info("%s", line.c_str());
  }
  connection.in_flight_ = false;
  connection.snapshot_.reset();
  std::string wire;
  append_verdict(verdict, wire);
  connection.send(wire);
  if (connection.closed_) return;
  if (draining_) {
    if (connection.out_.empty()) close(connection, nullptr);  // else write_out() closes it when flushed
    return;
  }
  // Requests that arrived while this one was in flight (a no-op when this
  // answer was given from inside process_buffered itself).
  connection.process_buffered();
}

void Server::close(Connection& connection, const char* why) {
  if (connection.closed_) return;
  connection.closed_ = true;
  if (connection.spf_waiting_) spf_.cancel(connection.id_);
  if (why != nullptr) log_info("policy client %s: %s; closing", connection.peer_.c_str(), why);
  loop_.remove(connection.fd_);
  const auto it = connections_.find(connection.id_);
  if (it != connections_.end()) {
    closed_.push_back(std::move(it->second));
    connections_.erase(it);
  }
}

void Server::drain(std::chrono::milliseconds grace) {
  draining_ = true;
  drain_deadline_ = Clock::now() + grace;
  retire_listeners(listeners_, retired_listeners_);
  // Close only connections with nothing to answer: no request in flight,
  // none buffered or waiting in the socket, no answer still being written.
  // The others are closed once their answer has been written.
  std::vector<Connection*> idle;
  for (auto& [id, connection] : connections_) {
    int unread = 0;
    ioctl(connection->fd_, FIONREAD, &unread);
    if (!connection->in_flight_ && connection->reader_.buffered() == 0 && unread == 0 && connection->out_.empty()) {
      idle.push_back(connection.get());
    }
  }
  for (Connection* connection : idle) close(*connection, nullptr);
  log_info("draining: %zu connections still have a request to answer", connections_.size());
}

bool Server::drained() const {
  return draining_ && (connections_.empty() || Clock::now() >= drain_deadline_);
}

void Server::tick() {
  for (auto& listener : listeners_) listener->resume();
  const auto now = Clock::now();
  redis_.tick(now);
  spf_.tick(now);
  if (now < next_idle_sweep_) return;
  next_idle_sweep_ = now + kIdleSweepInterval;
  const auto idle_limit = snapshot_->config->policyd.idle_timeout;
  std::vector<Connection*> idle;
  for (auto& [id, connection] : connections_) {
    if (!connection->in_flight_ && now - connection->last_active_ > idle_limit) idle.push_back(connection.get());
  }
  for (Connection* connection : idle) close(*connection, "idle timeout");
}

void Server::after_batch() {
  redis_.flush();
  closed_.clear();
  retired_listeners_.clear();
}

}  // namespace sluice::policyd
