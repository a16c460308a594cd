#include "common/redis_conn.h"

#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace sluice {
namespace {

using std::chrono::milliseconds;

timeval to_timeval(milliseconds ms) {
  const long long count = std::max<long long>(ms.count(), 1);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(count / 1000);
  tv.tv_usec = static_cast<suseconds_t>((count % 1000) * 1000);
  return tv;
}

bool is_timeout(const redisContext& c, int saved_errno) {
  if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK || saved_errno == ETIMEDOUT) return true;
  // errno may have been overwritten on the way out of hiredis; its errstr is
  // strerror() of the same value.
  return std::strstr(c.errstr, "timed out") != nullptr || std::strstr(c.errstr, "temporarily unavailable") != nullptr;
}

enum class Phase { kConnect, kCommand };

// Maps a failed hiredis context to our Error. `timeout` is the one that
// applied to the failed step.
Error context_error(const redisContext& c, int saved_errno, const std::string& endpoint, Phase phase,
                    milliseconds timeout) {
  const std::string ms = std::to_string(timeout.count());
  switch (c.err) {
    case REDIS_ERR_IO:
      if (is_timeout(c, saved_errno)) {
        if (phase == Phase::kConnect) {
          return make_error(Errc::kTimeout, "redis " + endpoint + " did not accept a connection in " + ms + " ms");
        }
        return make_error(Errc::kTimeout, "redis " + endpoint + " did not answer in " + ms + " ms");
      }
      return make_error(Errc::kUnavailable, "redis " + endpoint + ": " + c.errstr);
    case REDIS_ERR_EOF:
      return make_error(Errc::kUnavailable, "redis " + endpoint + " closed the connection");
    case REDIS_ERR_PROTOCOL:
      return make_error(Errc::kProtocol, "redis " + endpoint + ": protocol error: " + c.errstr);
    case REDIS_ERR_OOM:
      return make_error(Errc::kInternal, "redis " + endpoint + ": out of memory");
    default:
      return make_error(Errc::kUnavailable, "redis " + endpoint + ": " + c.errstr);
  }
}

// Appends one command to the context's output buffer (no I/O).
bool append(redisContext& c, std::span<const std::string_view> argv) {
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  ptrs.reserve(argv.size());
  lens.reserve(argv.size());
  for (std::string_view arg : argv) {
    ptrs.push_back(arg.data());
    lens.push_back(arg.size());
  }
  return redisAppendCommandArgv(&c, static_cast<int>(argv.size()), ptrs.data(), lens.data()) == REDIS_OK;
}

bool append(redisContext& c, const std::vector<std::string>& argv) {
  std::vector<std::string_view> views(argv.begin(), argv.end());
  return append(c, std::span<const std::string_view>(views));
}

// Blocks SIGPIPE in this thread while it lives and swallows one raised
// meanwhile: hiredis writes with write(2), and a write to a connection the
// server reset would otherwise kill a process that did not ignore SIGPIPE.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &block, &old_);
  }
  ~SigpipeGuard() {
    const int saved = errno;
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        sigset_t pipe;
        sigemptyset(&pipe);
        sigaddset(&pipe, SIGPIPE);
        const timespec zero{};
        while (sigtimedwait(&pipe, nullptr, &zero) < 0 && errno == EINTR) {
        }
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    errno = saved;
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t old_{};
  bool was_pending_ = false;
};

// Flushes the output buffer and reads `count` replies. Returns 0, or the
// errno seen right after the failing hiredis call (c.err is then set).
int read_replies(redisContext& c, size_t count, std::vector<RedisReplyPtr>& out) {
  out.reserve(count);
  const SigpipeGuard no_sigpipe;
  for (size_t i = 0; i < count; ++i) {
    void* raw = nullptr;
    errno = 0;
    if (redisGetReply(&c, &raw) != REDIS_OK || raw == nullptr) {
      const int saved = errno;
      if (c.err == 0) c.err = REDIS_ERR_OTHER;
      return saved;
    }
    out.emplace_back(static_cast<redisReply*>(raw));
  }
  return 0;
}

// Escapes and cuts untrusted reply text for logs.
std::string printable(std::string_view text, size_t max = 100) {
  std::string out;
  for (char ch : text.substr(0, max)) {
    const auto u = static_cast<unsigned char>(ch);
    if (u >= 0x20 && u < 0x7f && ch != '"' && ch != '\\') {
      out += ch;
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    }
  }
  if (text.size() > max) out += "...";
  return out;
}

}  // namespace

RedisConn::RedisConn(RedisOptions opts, NowFn now)
    : opts_(std::move(opts)),
      now_(std::move(now)),
      next_attempt_(Clock::time_point::min()),
      backoff_(opts_.reconnect_min, opts_.reconnect_max) {}

std::string RedisConn::endpoint() const { return redis_endpoint(opts_); }

bool same_redis_connection(const RedisOptions& a, const RedisOptions& b) {
  return redis_endpoint(a) == redis_endpoint(b) && a.username == b.username && a.password == b.password &&
         a.database == b.database;
}

std::string redis_endpoint(const RedisOptions& opts) {
  if (!opts.unix_socket.empty()) return "unix:" + opts.unix_socket;
  if (opts.host.find(':') != std::string::npos) return "[" + opts.host + "]:" + std::to_string(opts.port);
  return opts.host + ":" + std::to_string(opts.port);
}

std::chrono::milliseconds RedisConn::backoff_remaining() const {
  if (ctx_ != nullptr) return milliseconds{0};
  const Clock::time_point now = now_();
  if (now >= next_attempt_) return milliseconds{0};
  return std::chrono::ceil<milliseconds>(next_attempt_ - now);
}

Status RedisConn::connect() { return ensure_connected(); }

Status RedisConn::ensure_connected() {
  if (ctx_ != nullptr) return {};
  const Clock::time_point now = now_();
  if (now < next_attempt_) {
    const auto wait = std::chrono::ceil<milliseconds>(next_attempt_ - now);
    // A refused AUTH/SELECT stays a (permanent) config error; anything else
    // is an outage that may end.
    const Errc code = last_code_ == Errc::kConfig ? Errc::kConfig : Errc::kUnavailable;
    return make_error(code, "redis " + endpoint() + " unavailable, next connect attempt in " +
                                std::to_string(wait.count()) + " ms (last error: " + last_error_ + ")");
  }
  return open_context();
}

Status RedisConn::open_context() {
  ++connect_attempts_;
  const std::string ep = endpoint();
  const timeval connect_tv = to_timeval(opts_.connect_timeout);
  errno = 0;
  RedisContextPtr ctx{opts_.unix_socket.empty() ? redisConnectWithTimeout(opts_.host.c_str(), opts_.port, connect_tv)
                                                : redisConnectUnixWithTimeout(opts_.unix_socket.c_str(), connect_tv)};
  const int connect_errno = errno;
  if (ctx == nullptr) return fail(make_error(Errc::kInternal, "redis " + ep + ": cannot allocate a context"));
  if (ctx->err != 0) {
    return fail(context_error(*ctx, connect_errno, ep, Phase::kConnect, opts_.connect_timeout));
  }
  if (redisSetTimeout(ctx.get(), to_timeval(opts_.command_timeout)) != REDIS_OK) {
    return fail(context_error(*ctx, errno, ep, Phase::kConnect, opts_.connect_timeout));
  }

  // AUTH and SELECT in one round trip.
  const std::string db = std::to_string(opts_.database);
  size_t sent = 0;
  bool appended = true;
  if (!opts_.password.empty()) {
    if (opts_.username.empty()) {
      const std::string_view auth[] = {"AUTH", opts_.password};
      appended = append(*ctx, auth);
    } else {
      const std::string_view auth[] = {"AUTH", opts_.username, opts_.password};
      appended = append(*ctx, auth);
    }
    ++sent;
  }
  if (appended && opts_.database != 0) {
    const std::string_view select[] = {"SELECT", db};
    appended = append(*ctx, select);
    ++sent;
  }
  if (!appended) return fail(make_error(Errc::kInternal, "redis " + ep + ": cannot build the handshake"));
  std::vector<RedisReplyPtr> replies;
  if (sent > 0) {
    if (const int saved = read_replies(*ctx, sent, replies); ctx->err != 0) {
      return fail(context_error(*ctx, saved, ep, Phase::kCommand, opts_.command_timeout));
    }
  }
  size_t next = 0;
  if (!opts_.password.empty()) {
    const std::string_view err = reply_error(*replies[next++]);
    if (!err.empty()) {
      const std::string who = opts_.username.empty() ? std::string{} : " as user '" + printable(opts_.username) + "'";
      return fail(make_error(Errc::kConfig, "redis " + ep + " refused AUTH" + who + ": " + printable(err)));
    }
  }
  if (opts_.database != 0) {
    const std::string_view err = reply_error(*replies[next++]);
    if (!err.empty()) {
      return fail(make_error(Errc::kConfig, "redis " + ep + " refused SELECT " + db + ": " + printable(err)));
    }
  }

  ctx_ = std::move(ctx);
  backoff_.reset();
  next_attempt_ = Clock::time_point::min();
  last_error_.clear();
  return {};
}

Error RedisConn::fail(Error error) {
  ctx_.reset();
  next_attempt_ = now_() + backoff_.next_delay();
  last_error_ = error.message();
  last_code_ = error.code;
  return error;
}

Result<RedisReplyPtr> RedisConn::command(std::span<const std::string_view> argv) {
  if (argv.empty()) return make_error(Errc::kInvalidInput, "empty redis command");
  if (Status st = ensure_connected(); !st) return st.error();
  if (!append(*ctx_, argv)) return fail(make_error(Errc::kInternal, "redis " + endpoint() + ": out of memory"));
  std::vector<RedisReplyPtr> replies;
  if (const int saved = read_replies(*ctx_, 1, replies); ctx_->err != 0) {
    return fail(context_error(*ctx_, saved, endpoint(), Phase::kCommand, opts_.command_timeout));
  }
  return std::move(replies.front());
}

Result<RedisReplyPtr> RedisConn::command(std::initializer_list<std::string_view> argv) {
  return command(std::span<const std::string_view>(argv.begin(), argv.size()));
}

Result<std::vector<RedisReplyPtr>> RedisConn::pipeline(std::span<const std::vector<std::string>> commands) {
  for (const auto& argv : commands) {
    if (argv.empty()) return make_error(Errc::kInvalidInput, "empty redis command in a pipeline");
  }
  if (commands.empty()) return std::vector<RedisReplyPtr>{};
  if (Status st = ensure_connected(); !st) return st.error();
  for (const auto& argv : commands) {
    if (!append(*ctx_, argv)) return fail(make_error(Errc::kInternal, "redis " + endpoint() + ": out of memory"));
  }
  std::vector<RedisReplyPtr> replies;
  if (const int saved = read_replies(*ctx_, commands.size(), replies); ctx_->err != 0) {
    return fail(context_error(*ctx_, saved, endpoint(), Phase::kCommand, opts_.command_timeout));
  }
  return replies;
}

std::string_view reply_error(const redisReply& reply) {
  if (reply.type != REDIS_REPLY_ERROR || reply.str == nullptr) return {};
  return {reply.str, reply.len};
}

bool reply_error_is(const redisReply& reply, std::string_view code) {
  const std::string_view err = reply_error(reply);
  if (err.size() < code.size() || err.substr(0, code.size()) != code) return false;
  return err.size() == code.size() || err[code.size()] == ' ';
}

Result<long long> reply_integer(const redisReply& reply) {
  if (reply.type == REDIS_REPLY_INTEGER) return reply.integer;
  return make_error(Errc::kProtocol, "redis: want an integer reply, got " + reply_describe(reply));
}

Result<std::string_view> reply_string(const redisReply& reply) {
  if (reply.type == REDIS_REPLY_STRING || reply.type == REDIS_REPLY_STATUS) {
    if (reply.str == nullptr) return std::string_view{};
    return std::string_view{reply.str, reply.len};
  }
  if (reply.type == REDIS_REPLY_NIL) return make_error(Errc::kNotFound, "redis: nil reply");
  return make_error(Errc::kProtocol, "redis: want a string reply, got " + reply_describe(reply));
}

std::string reply_describe(const redisReply& reply) {
  const std::string_view text = reply.str != nullptr ? std::string_view{reply.str, reply.len} : std::string_view{};
  switch (reply.type) {
    case REDIS_REPLY_STRING:
      return "string \"" + printable(text) + "\"";
    case REDIS_REPLY_STATUS:
      return "status \"" + printable(text) + "\"";
    case REDIS_REPLY_ERROR:
      return "error \"" + printable(text) + "\"";
    case REDIS_REPLY_INTEGER:
      return "integer " + std::to_string(reply.integer);
    case REDIS_REPLY_NIL:
      return "nil";
    case REDIS_REPLY_ARRAY:
      return "array[" + std::to_string(reply.elements) + "]";
    default:
      return "reply type " + std::to_string(reply.type);
  }
}

}  // namespace sluice
