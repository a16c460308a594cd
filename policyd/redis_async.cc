#include "policyd/redis_async.h"

#include <sys/epoll.h>

#include <utility>

#include "common/log.h"
#include "common/redis_script.h"

namespace sluice::policyd {
namespace {

using std::chrono::milliseconds;

AsyncRedis* owner(const redisAsyncContext* ctx) { return static_cast<AsyncRedis*>(ctx->data); }

// hiredis takes argv as parallel arrays of pointers and lengths.
struct Argv {
  std::vector<const char*> ptrs;
  std::vector<std::size_t> lens;
  void push(std::string_view s) {
    ptrs.push_back(s.data());
    lens.push_back(s.size());
  }
};

}  // namespace

AsyncRedis::AsyncRedis(EventLoop& loop, ReplySink& sink, RedisOptions options,
                       std::vector<const RedisScript*> scripts)
    : loop_(loop),
      sink_(sink),
      options_(std::move(options)),
      scripts_(std::move(scripts)),
      backoff_(options_.reconnect_min, options_.reconnect_max) {}

AsyncRedis::~AsyncRedis() {
  if (ctx_ != nullptr) {
    redisAsyncContext* ctx = ctx_;
    ctx_ = nullptr;
    ctx->data = nullptr;  // callbacks from the free below find no owner
    redisAsyncFree(ctx);
  }
}

void AsyncRedis::set_options(RedisOptions options) {
  options_ = std::move(options);
  backoff_.set_limits(options_.reconnect_min, options_.reconnect_max);
}

void AsyncRedis::reconnect() {
  reconnect_now_ = true;
  if (ctx_ != nullptr) {
    redisAsyncDisconnect(ctx_);  // on_disconnect -> drop() once pending replies are in
  } else {
    next_attempt_ = Clock::time_point{};
    reconnect_now_ = false;
  }
}

bool AsyncRedis::available(Clock::time_point now) {
  if (state_ != State::kDisconnected) return true;
  if (now < next_attempt_) return false;
  connect(now);
  return state_ != State::kDisconnected;
}

void AsyncRedis::connect(Clock::time_point now) {
  redisAsyncContext* ctx = options_.unix_socket.empty()
                               ? redisAsyncConnect(options_.host.c_str(), options_.port)
                               : redisAsyncConnectUnix(options_.unix_socket.c_str());
  if (ctx == nullptr || ctx->err != 0) {
    const std::string why = ctx == nullptr ? "cannot allocate a context" : ctx->errstr;
    if (ctx != nullptr) redisAsyncFree(ctx);
    drop(why, now);
    return;
  }
  ctx_ = ctx;
  ctx_->data = this;
  fd_ = ctx_->c.fd;
  ctx_->ev.data = this;
  ctx_->ev.addRead = add_read;
  ctx_->ev.delRead = del_read;
  ctx_->ev.addWrite = add_write;
  ctx_->ev.delWrite = del_write;
  ctx_->ev.cleanup = cleanup;
  redisAsyncSetConnectCallback(ctx_, on_connect);
  redisAsyncSetDisconnectCallback(ctx_, on_disconnect);
  state_ = State::kConnecting;
  connect_deadline_ = now + options_.connect_timeout;
  // Non-blocking connect completes when the socket turns writable.
  want_write_ = true;
  update_interest();

  // The handshake and the scripts go first; hiredis keeps them in order
  // ahead of every EVALSHA queued later.
  if (!options_.password.empty()) {
    Argv argv;
    argv.push("AUTH");
    if (!options_.username.empty()) argv.push(options_.username);
    argv.push(options_.password);
    redisAsyncCommandArgv(ctx_, on_setup_reply, const_cast<char*>("AUTH"), static_cast<int>(argv.ptrs.size()),
                          argv.ptrs.data(), argv.lens.data());
  }
  if (options_.database != 0) {
    const std::string db = std::to_string(options_.database);
    Argv argv;
    argv.push("SELECT");
    argv.push(db);
    redisAsyncCommandArgv(ctx_, on_setup_reply, const_cast<char*>("SELECT"), 2, argv.ptrs.data(), argv.lens.data());
  }
  for (const RedisScript* script : scripts_) {
    Argv argv;
    argv.push("SCRIPT");
    argv.push("LOAD");
    argv.push(script->source());
    redisAsyncCommandArgv(ctx_, on_setup_reply, const_cast<char*>("SCRIPT LOAD"), 3, argv.ptrs.data(),
                          argv.lens.data());
  }
}

void AsyncRedis::eval(RedisCall call, std::uint64_t token) {
  Pending pending{token, Clock::now() + options_.command_timeout, std::move(call), false};
  if (state_ == State::kDisconnected) {
    // Callers check available() first; answer anyway, never synchronously
    // lost. The sink is told from here, which is safe: eval() is not called
    // from inside a hiredis callback.
    sink_.on_redis_reply(token, make_error(Errc::kUnavailable, "redis " + endpoint() + " not connected"));
    return;
  }
  send_eval(std::move(pending), false);
}

void AsyncRedis::send_eval(Pending pending, bool with_source) {
  const RedisCall& call = pending.call;
  Argv argv;
  argv.push(with_source ? "EVAL" : "EVALSHA");
  argv.push(with_source ? std::string_view(call.script->source()) : std::string_view(call.script->sha1()));
  const std::string numkeys = std::to_string(call.keys.size());
  argv.push(numkeys);
  for (const std::string& key : call.keys) argv.push(key);
  for (const std::string& arg : call.args) argv.push(arg);
  pending.retried = pending.retried || with_source;
  pending_.push_back(std::move(pending));
  if (redisAsyncCommandArgv(ctx_, on_eval_reply, nullptr, static_cast<int>(argv.ptrs.size()), argv.ptrs.data(),
                            argv.lens.data()) != REDIS_OK) {
    Pending failed = std::move(pending_.back());
    pending_.pop_back();
    sink_.on_redis_reply(failed.token, make_error(Errc::kUnavailable, "redis " + endpoint() + ": cannot queue command"));
  }
}

void AsyncRedis::on_eval_reply(redisAsyncContext* ctx, void* reply_ptr, void* /*privdata*/) {
  AsyncRedis* self = owner(ctx);
  if (self == nullptr || self->pending_.empty()) return;
  Pending pending = std::move(self->pending_.front());
  self->pending_.pop_front();
  const auto* reply = static_cast<const redisReply*>(reply_ptr);
  if (reply == nullptr) {
    const std::string why = ctx->errstr[0] != '\0' ? ctx->errstr : "connection closed";
    self->sink_.on_redis_reply(pending.token, make_error(Errc::kUnavailable, "redis " + self->endpoint() + ": " + why));
    return;
  }
  if (!pending.retried && reply_error_is(*reply, "NOSCRIPT")) {
    log_warn("redis %s: script %s not loaded (SCRIPT FLUSH?), sending it again", self->endpoint().c_str(),
             pending.call.script->name().c_str());
    self->send_eval(std::move(pending), true);
    return;
  }
  self->sink_.on_redis_reply(pending.token, reply);
}

void AsyncRedis::on_setup_reply(redisAsyncContext* ctx, void* reply_ptr, void* privdata) {
  AsyncRedis* self = owner(ctx);
  const auto* reply = static_cast<const redisReply*>(reply_ptr);
  if (self == nullptr || reply == nullptr) return;
  const std::string_view error = reply_error(*reply);
  if (error.empty()) return;
  // A refused AUTH or SELECT, or a script that does not compile, will not
  // get better by itself: say so loudly; requests will fail per policy.
  log_error("redis %s: %s failed: %s", self->endpoint().c_str(), static_cast<const char*>(privdata),
            log_escape(error).c_str());
  redisAsyncDisconnect(ctx);
}

void AsyncRedis::on_connect(const redisAsyncContext* ctx, int status) {
  AsyncRedis* self = owner(ctx);
  if (self == nullptr) return;
  if (status != REDIS_OK) {
    // hiredis frees the context after this callback, calling the queued
    // callbacks; detach so they do not find us (drop answers them).
    const_cast<redisAsyncContext*>(ctx)->data = nullptr;
    self->ctx_ = nullptr;
    self->fd_ = -1;
    self->registered_ = false;
    self->drop(std::string("connect failed: ") + ctx->errstr, Clock::now());
    return;
  }
  self->state_ = State::kConnected;
  self->backoff_.reset();
  self->last_error_.clear();
  log_info("redis %s: connected", self->endpoint().c_str());
}

void AsyncRedis::on_disconnect(const redisAsyncContext* ctx, int status) {
  AsyncRedis* self = owner(ctx);
  if (self == nullptr) return;
  // hiredis frees the context after this callback; pending callbacks have
  // already been called with a null reply.
  self->ctx_ = nullptr;
  self->fd_ = -1;
  self->registered_ = false;
  if (status != REDIS_OK) {
    self->drop(std::string("connection lost: ") + (ctx->errstr[0] != '\0' ? ctx->errstr : "closed"), Clock::now());
  } else {
    self->drop("disconnected", Clock::now());
  }
}

void AsyncRedis::drop(const std::string& why, Clock::time_point now) {
  if (reconnect_now_) backoff_.reset();
  const auto delay = reconnect_now_ ? std::chrono::milliseconds{0} : backoff_.next_delay();
  reconnect_now_ = false;
  next_attempt_ = now + delay;
  if (why != last_error_ && delay.count() > 0) {
    log_warn("redis %s: %s; next attempt in %lld ms", endpoint().c_str(), why.c_str(),
             static_cast<long long>(delay.count()));
  }
  last_error_ = why;
  state_ = State::kDisconnected;
  if (ctx_ != nullptr) {
    redisAsyncContext* ctx = ctx_;
    ctx_ = nullptr;
    // Detached first: the free calls every queued callback (and the
    // disconnect callback), which must not find us; fail_all answers them.
    ctx->data = nullptr;
    redisAsyncFree(ctx);
  }
  // The socket is closed: forget it, or a later flush() would register
  // whatever file reuses its number.
  fd_ = -1;
  registered_ = false;
  want_read_ = false;
  want_write_ = false;
  fail_all(make_error(Errc::kUnavailable, "redis " + endpoint() + ": " + why));
}

void AsyncRedis::fail_all(const Error& error) {
  while (!pending_.empty()) {
    Pending pending = std::move(pending_.front());
    pending_.pop_front();
    sink_.on_redis_reply(pending.token, error);
  }
}

void AsyncRedis::tick(Clock::time_point now) {
  if (state_ == State::kConnecting && now >= connect_deadline_) {
    drop("connect timed out after " + std::to_string(options_.connect_timeout.count()) + " ms", now);
    return;
  }
  if (!pending_.empty() && now >= pending_.front().deadline) {
    // Replies come in order: the oldest is overdue, so is the stream.
    drop("no answer within " + std::to_string(options_.command_timeout.count()) + " ms", now);
  }
}

void AsyncRedis::flush() {
  if (ctx_ != nullptr && state_ == State::kConnected && want_write_) {
    redisAsyncHandleWrite(ctx_);  // may call del_write when everything left
  }
  update_interest();
}

void AsyncRedis::on_io(std::uint32_t events) {
  if (ctx_ == nullptr) return;
  if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) redisAsyncHandleRead(ctx_);
  if (ctx_ != nullptr && (events & EPOLLOUT) != 0) redisAsyncHandleWrite(ctx_);
  update_interest();
}

void AsyncRedis::update_interest() {
  if (fd_ < 0) return;
  const std::uint32_t events = (want_read_ ? EPOLLIN : 0u) | (want_write_ ? EPOLLOUT : 0u);
  if (!registered_) {
    if (loop_.add(fd_, events, this)) {
      registered_ = true;
      registered_events_ = events;
    }
  } else if (events != registered_events_) {
    if (loop_.modify(fd_, events, this)) registered_events_ = events;
  }
}

void AsyncRedis::add_read(void* self) { static_cast<AsyncRedis*>(self)->want_read_ = true; }
void AsyncRedis::del_read(void* self) { static_cast<AsyncRedis*>(self)->want_read_ = false; }
void AsyncRedis::add_write(void* self) { static_cast<AsyncRedis*>(self)->want_write_ = true; }
void AsyncRedis::del_write(void* self) { static_cast<AsyncRedis*>(self)->want_write_ = false; }

void AsyncRedis::cleanup(void* self_ptr) {
  auto* self = static_cast<AsyncRedis*>(self_ptr);
  if (self->registered_ && self->fd_ >= 0) self->loop_.remove(self->fd_);
  self->registered_ = false;
  self->want_read_ = false;
  self->want_write_ = false;
}

}  // namespace sluice::policyd
