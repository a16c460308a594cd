#include "tests/unit/support/redis_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace sluice::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kReadyTimeout = 5s;
constexpr auto kStopTimeout = 2s;
constexpr int kPortAttempts = 5;

// A port the kernel considers free on 127.0.0.1 right now.
int pick_free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    ::close(fd);
    throw std::runtime_error(std::string("bind 127.0.0.1:0: ") + std::strerror(err));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// True once the server answers anything to PING (PONG, or NOAUTH with a password).
bool answers_ping(int port) {
  const timeval tv{0, 100'000};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (c == nullptr) return false;
  bool ok = false;
  if (c->err == 0 && redisSetTimeout(c, tv) == REDIS_OK) {
    auto* reply = static_cast<redisReply*>(redisCommand(c, "PING"));
    ok = reply != nullptr;
    if (reply != nullptr) freeReplyObject(reply);
  }
  redisFree(c);
  return ok;
}

}  // namespace

bool RedisServer::available() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const std::string candidate = dir + "/redis-server";
    if (::access(candidate.c_str(), X_OK) == 0) return true;
  }
  return false;
}

RedisServer::RedisServer(RedisServerOptions opts) : opts_(std::move(opts)) {
  std::string tmpl = "/tmp/sluice-redis-XXXXXX";  // short: unix socket paths are capped at 108 bytes
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  dir_ = tmpl;
  try {
    start();
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    throw;
  }
}

RedisServer::~RedisServer() {
  stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string RedisServer::unix_socket() const { return opts_.unix_socket ? dir_ + "/redis.sock" : std::string{}; }

RedisOptions RedisServer::client_options() const {
  RedisOptions o;
  o.host = "127.0.0.1";
  o.port = port_;
  o.password = opts_.requirepass;
  o.connect_timeout = 500ms;
  o.command_timeout = 1000ms;
  o.reconnect_min = 10ms;
  o.reconnect_max = 100ms;
  return o;
}

RedisOptions RedisServer::unix_client_options() const {
  RedisOptions o = client_options();
  o.unix_socket = unix_socket();
  return o;
}

void RedisServer::write_config() const {
  // Secrets and ACL rules go in a file, not on the command line.
  std::ofstream conf(dir_ + "/redis.conf", std::ios::trunc);
  if (!opts_.requirepass.empty()) conf << "requirepass \"" << opts_.requirepass << "\"\n";
  for (const std::string& user : opts_.acl_users) conf << "user " << user << "\n";
  if (!conf.flush()) throw std::runtime_error("cannot write " + dir_ + "/redis.conf");
}

void RedisServer::start() {
  if (running()) return;
  write_config();
  const bool fixed_port = port_ != 0;
  for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
    if (!fixed_port) port_ = pick_free_port();
    if (spawn_and_wait()) return;
    if (fixed_port) std::this_thread::sleep_for(20ms);  // e.g. the old process still holds the port
  }
  throw std::runtime_error("redis-server did not start on 127.0.0.1:" + std::to_string(port_) + "; redis.log tail:\n" +
                           log_tail());
}

bool RedisServer::spawn_and_wait() {
  const std::string port = std::to_string(port_);
  // clang-format off
  std::vector<std::string> args = {
      "redis-server", dir_ + "/redis.conf",
      "--port", port,
      "--bind", "127.0.0.1",
      "--save", "",
      "--appendonly", "no",
      "--dir", dir_,
      "--daemonize", "no",
      "--logfile", dir_ + "/redis.log",
      "--enable-debug-command", "local",  // DEBUG SLEEP from loopback clients
      "--hz", "100",                      // SIGTERM is acted on in serverCron: stop in ~10 ms
  };
  // clang-format on
  if (opts_.unix_socket) {
    args.insert(args.end(), {"--unixsocket", unix_socket(), "--unixsocketperm", "700"});
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string out_path = dir_ + "/stdout.log";
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // Child: async-signal-safe calls only.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
    const int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
    }
    ::close_range(3, ~0U, 0);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  pid_ = pid;

  const auto deadline = Clock::now() + kReadyTimeout;
  while (Clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // died: port taken, bad config...
      pid_ = -1;
      return false;
    }
    if (answers_ping(port_)) return true;
    std::this_thread::sleep_for(5ms);
  }
  stop();
  throw std::runtime_error("redis-server on 127.0.0.1:" + port + " did not answer PING within 5 s; redis.log tail:\n" +
                           log_tail());
}

void RedisServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  const auto deadline = Clock::now() + kStopTimeout;
  int status = 0;
  while (Clock::now() < deadline) {
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(2ms);
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string RedisServer::log_tail(size_t lines) const {
  std::string out;
  for (const char* name : {"/redis.log", "/stdout.log"}) {
    std::ifstream in(dir_ + name);
    std::deque<std::string> tail;
    std::string line;
    while (std::getline(in, line)) {
      tail.push_back(line);
      if (tail.size() > lines) tail.pop_front();
    }
    for (const std::string& l : tail) out += l + "\n";
  }
  return out;
}

}  // namespace sluice::test
