#include "unsubscribe/server.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "common/log.h"
#include "common/stream_io.h"
#include "unsubscribe/unsubscribe_action.h"

namespace sluice::unsubscribe {
namespace {

constexpr int kReadsPerEvent = 4;
constexpr std::size_t kReadChunk = 4096;
constexpr std::size_t kMaxLingerBytes = 64 * 1024;
// Clients over max_connections told 503 (each lingers a moment); beyond
// these, new connections are closed at once, so a flood costs nothing.
constexpr std::size_t kMaxBusyAnswers = 16;
constexpr unsigned kUnixSocketMode = 0666;  // the proxy in front connects; nothing secret is served

std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

}  // namespace

class Server::Connection : public EventLoop::Handler {
 public:
  enum class State { kReading, kWriting, kLingering, kClosed };

  Connection(Server& server, int fd, std::uint64_t id, std::string peer)
      : server_(server),
        fd_(fd),
        id_(id),
        peer_(std::move(peer)),
        reader_(server.limits_.http),
        deadline_(Clock::now() + server.limits_.request_timeout) {}
  ~Connection() override { ::close(fd_); }

  void on_io(std::uint32_t events) override {
    if (state_ == State::kClosed) return;
    if ((events & EPOLLERR) != 0) {
      server_.close(*this);
      return;
    }
    if ((events & (EPOLLOUT | EPOLLHUP)) != 0 && state_ == State::kWriting) write_out();
    if (state_ == State::kReading && (events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) != 0) read_request();
    if (state_ == State::kLingering && (events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) != 0) discard_input();
  }

  // The request did not complete in time: 408 when something came, else
  // just close (a connection that never spoke is not worth an answer).
  void expire() {
    if (state_ == State::kReading && reader_.received() > 0) {
      const RequestPlan plan = plan_timeout();
      server_.log_plan(*this, plan, "-", nullptr);
      send(render_response(plan.response, false, unix_now()));
      return;
    }
    server_.close(*this);
  }

  // Sends a canned answer to a client we will not serve.
  void refuse(const RequestPlan& plan) { send(render_response(plan.response, false, unix_now())); }

  bool expired(Clock::time_point now) const { return now >= deadline_; }
  std::uint64_t id() const { return id_; }
  const std::string& peer() const { return peer_; }
  State state() const { return state_; }
  void mark_closed() { state_ = State::kClosed; }
  int fd() const { return fd_; }

 private:
  void read_request() {
    std::array<char, kReadChunk> buffer;
    for (int round = 0; round < kReadsPerEvent && state_ == State::kReading; ++round) {
      const ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
      if (n > 0) {
        reader_.feed(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
        auto next = reader_.next();
        if (!next) {
          const RequestPlan plan = plan_refusal(reader_.refusal_status(), next.error().detail);
          server_.log_plan(*this, plan, "-", nullptr);
          send(render_response(plan.response, false, unix_now()));
          return;
        }
        if (next->has_value()) {
          send(server_.answer(*this, **next));
          return;
        }
        continue;
      }
      if (n == 0) {
        if (reader_.received() > 0) log_debug("client %s closed before its request was complete", peer_.c_str());
        server_.close(*this);
        return;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) server_.close(*this);
      return;
    }
  }

  void send(std::string bytes) {
    out_ = std::move(bytes);
    state_ = State::kWriting;
    write_out();
  }

  void write_out() {
    switch (flush_output(fd_, out_)) {
      case FlushResult::kDone: break;
      case FlushResult::kBlocked: watch(EPOLLOUT); return;
      case FlushResult::kFailed: server_.close(*this); return;
    }
    // The whole answer is out: half-close, then read and drop what the
    // client still sends until it closes too (nginx's lingering close), so
    // that our answer is not destroyed by a reset for unread input.
    ::shutdown(fd_, SHUT_WR);
    state_ = State::kLingering;
    deadline_ = std::min(deadline_ + server_.limits_.linger_timeout, Clock::now() + server_.limits_.linger_timeout);
    watch(EPOLLIN | EPOLLRDHUP);
  }

  void discard_input() {
    std::array<char, kReadChunk> buffer;
    for (int round = 0; round < kReadsPerEvent; ++round) {
      const ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
      if (n > 0) {
        lingered_ += static_cast<std::size_t>(n);
        if (lingered_ > kMaxLingerBytes) break;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      break;  // EOF or error
    }
    server_.close(*this);
  }

  void watch(std::uint32_t events) {
    if (events == watched_) return;
    if (server_.loop_.modify(fd_, events, this)) watched_ = events;
  }

  Server& server_;
  int fd_;
  std::uint64_t id_;
  std::string peer_;
  HttpRequestReader reader_;
  std::string out_;
  State state_ = State::kReading;
  Clock::time_point deadline_;
  std::size_t lingered_ = 0;
  std::uint32_t watched_ = EPOLLIN | EPOLLRDHUP;
};

Server::Server(EventLoop& loop, ConfigPtr config, ServerLimits limits)
    : loop_(loop),
      config_(std::move(config)),
      path_prefix_(path_prefix_from_url_base(config_->feedback.unsubscribe.url_base)),
      limits_(limits),
      redis_(config_->redis.connection) {}

Server::~Server() {
  connections_.clear();
  closed_.clear();
  listeners_.clear();
}

Status Server::open_listeners() {
  if (Status opened = open_stream_listeners(loop_, config_->feedback.unsubscribe.listen, kUnixSocketMode,
                                            [this](Listener& listener) { accept_from(listener); }, listeners_);
      !opened) {
    return opened;
  }
  if (listeners_.empty()) return make_error(Errc::kConfig, "[unsubscribe] listen names no address");
  return {};
}

void Server::reload(ConfigPtr config) {
  const UnsubscribeSettings& old_settings = config_->feedback.unsubscribe;
  const UnsubscribeSettings& new_settings = config->feedback.unsubscribe;
  if (old_settings.listen != new_settings.listen) {
    log_warn("reload: listen addresses changed; they take effect at the next restart");
  }
  if (!same_redis_connection(config_->redis.connection, config->redis.connection) ||
      config_->redis.connection.command_timeout != config->redis.connection.command_timeout ||
      config_->redis.connection.connect_timeout != config->redis.connection.connect_timeout) {
    log_info("reload: redis connection settings changed, now %s", redis_endpoint(config->redis.connection).c_str());
    redis_ = RedisConn(config->redis.connection);
  }
  path_prefix_ = path_prefix_from_url_base(new_settings.url_base);
  config_ = std::move(config);
  log_info("reload: configuration %s loaded (%zu keys, path %s, token_ttl %llds)", config_->path.c_str(),
           new_settings.keys.size(), path_prefix_.c_str(),
           static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(new_settings.token_ttl).count()));
}

void Server::drain(std::chrono::milliseconds grace) {
  draining_ = true;
  drain_deadline_ = Clock::now() + grace;
  retire_listeners(listeners_, retired_listeners_);
}

bool Server::drained() const { return draining_ && (connections_.empty() || Clock::now() >= drain_deadline_); }

void Server::tick() {
  for (auto& listener : listeners_) listener->resume();
  const auto now = Clock::now();
  std::vector<Connection*> late;
  for (auto& [id, connection] : connections_) {
    if (connection->expired(now)) late.push_back(connection.get());
  }
  for (Connection* connection : late) {
    // A reading connection gets its 408 and a fresh (linger) deadline; any
    // other is closed.
    if (connection->state() == Connection::State::kReading) {
      connection->expire();
    } else {
      close(*connection);
    }
  }
}

void Server::after_batch() {
  closed_.clear();
  retired_listeners_.clear();
}

void Server::accept_from(Listener& listener) {
  while (true) {
    sockaddr_storage peer{};
    const int fd = listener.accept_one(peer);
    if (fd < 0) return;  // a paused listener is resumed at the next tick
    if (connections_.size() >= limits_.max_connections + kMaxBusyAnswers) {
      ::close(fd);  // a flood: not even a 503 for these
      continue;
    }
    const std::uint64_t id = next_id_++;
    auto connection = std::make_unique<Connection>(*this, fd, id, stream_peer_name(peer, listener.address()));
    if (!loop_.add(fd, EPOLLIN | EPOLLRDHUP, connection.get())) continue;  // the destructor closes fd
    Connection& added = *connection;
    connections_.emplace(id, std::move(connection));
    if (connections_.size() > limits_.max_connections) {
      // One over the cap: told to come back, at the cost of one small write.
      const RequestPlan plan = plan_busy();
      log_plan(added, plan, "-", nullptr);
      added.refuse(plan);
    }
  }
}

std::string Server::answer(const Connection& connection, const HttpRequest& request) {
  const UnsubscribeSettings& settings = config_->feedback.unsubscribe;
  const auto ttl = std::chrono::duration_cast<std::chrono::seconds>(settings.token_ttl);
  const std::int64_t now = unix_now();
  const PlanContext context{path_prefix_, settings.keys, now, ttl};
  RequestPlan plan = plan_request(request, context);
  if (plan.outcome == Outcome::kApply) {
    finish_plan(plan, apply_unsubscribe(redis_, config_->redis.key_prefix, *plan.claim, plan.token, ttl, now));
  }
  log_plan(connection, plan, request.method, request.header("x-forwarded-for"));
  return render_response(plan.response, plan.head_only, now);
}

void Server::log_plan(const Connection& connection, const RequestPlan& plan, std::string_view method,
                      const std::string* forwarded) {
  std::string line = "client=" + connection.peer();
  if (forwarded != nullptr) line += " forwarded=" + log_escape(*forwarded, 64);
  line += ' ';
  line += request_log_line(plan, method);
  switch (plan.outcome) {
    case Outcome::kTokenRejected:
    case Outcome::kRedisFailed:
    case Outcome::kBusy:
      log_warn("%s", line.c_str());
      break;
    default:
      log_info("%s", line.c_str());
  }
}

void Server::close(Connection& connection) {
  if (connection.state() == Connection::State::kClosed) return;
  connection.mark_closed();
  loop_.remove(connection.fd());
  const auto it = connections_.find(connection.id());
  if (it == connections_.end()) return;
  // Freed after the batch: an event of this batch may still name it.
  closed_.push_back(std::move(it->second));
  connections_.erase(it);
}

}  // namespace sluice::unsubscribe
