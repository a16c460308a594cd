// RedisServer: a private, real redis-server for tests (as KumoMTA's
// RedisServer). Each instance runs its own process on a kernel-chosen free
// 127.0.0.1 port, with no persistence, in a private mkdtemp directory (also
// holding the optional unix socket and redis.log), and with DEBUG enabled for
// local clients (DEBUG SLEEP simulates a stalled server).
//
// Guarantees: the constructor returns only once the server answers PING
// (bounded, ~5 s), otherwise it throws std::runtime_error carrying the tail of
// the server's log, which GoogleTest reports as the test's failure. The server
// never outlives the test process: the child sets PR_SET_PDEATHSIG=SIGKILL
// (tied to the thread that started it, so start servers from the test's main
// thread). The destructor stops it (SIGTERM, SIGKILL after ~2 s) and removes
// the directory. stop()/start() restart it on the same port for outage tests.
// Tests call SLUICE_REQUIRE_REDIS_SERVER() first: it skips the test when no
// redis-server is on PATH.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/redis_conn.h"

namespace sluice::test {

struct RedisServerOptions {
  std::string requirepass{};             // non-empty: requirepass for the default user
  std::vector<std::string> acl_users{};  // redis.conf "user" rules, e.g. "alice on >pw ~* &* +@all"
  bool unix_socket = false;              // also listen on <dir>/redis.sock (mode 700)
};

class RedisServer {
 public:
  // True when a redis-server executable is on PATH.
  static bool available();

  explicit RedisServer(RedisServerOptions opts = {});
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  // Path of the unix socket, or empty when the server has none.
  std::string unix_socket() const;
  const std::string& dir() const { return dir_; }
  bool running() const { return pid_ > 0; }

  // Stops the server (SIGTERM, then SIGKILL); the port stays reserved for start().
  void stop();
  // Starts it (again, on the same port once one was chosen); throws on failure.
  void start();

  // Client options for this server over TCP: host, port, requirepass as the
  // password; short timeouts so failing tests fail fast.
  RedisOptions client_options() const;
  // The same over the unix socket (requires opts.unix_socket).
  RedisOptions unix_client_options() const;

  // The last `lines` lines of redis.log, for failure messages.
  std::string log_tail(size_t lines = 20) const;

 private:
  // One attempt to run on port_: true once PING answers; false if the process
  // died (e.g. the port was taken meanwhile); throws on a timeout.
  bool spawn_and_wait();
  void write_config() const;

  RedisServerOptions opts_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace sluice::test

// Skips the current test when redis-server is not installed.
#define SLUICE_REQUIRE_REDIS_SERVER()                \
  do {                                               \
    if (!::sluice::test::RedisServer::available()) { \
      GTEST_SKIP() << "redis-server is not on PATH"; \
    }                                                \
  } while (0)
