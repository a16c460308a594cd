// Test support: a fake scanner daemon (spamd, rspamd, clamd) serving
// connections in a thread, and the socket helpers its serve functions use.
// Loopback or a temporary unix socket only; every wait is bounded.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace sluice::test {

// A scanner daemon in a thread: accepts connections on 127.0.0.1:0 (or a
// unix socket in a temporary directory) and serves each in turn with
// |serve|, which returns the bytes it read. Stopped and joined on
// destruction; every serve function must be bounded in time.
class FakeDaemon {
 public:
  using Clock = std::chrono::steady_clock;
  // |stopping| turns true when the daemon is being destroyed.
  using Serve = std::function<std::string(int fd, const std::atomic<bool>& stopping)>;

  explicit FakeDaemon(Serve serve, bool on_unix_socket = false) : serve_(std::move(serve)) {
    if (on_unix_socket) {
      char dir[] = "/tmp/sluice-scan-XXXXXX";
      EXPECT_NE(mkdtemp(dir), nullptr);
      dir_ = dir;
      path_ = dir_ + "/daemon.sock";
      listener_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un address{};
      address.sun_family = AF_UNIX;
      std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path_.c_str());
      EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    } else {
      listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
      socklen_t length = sizeof address;
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
      port_ = ntohs(address.sin_port);
    }
    EXPECT_EQ(::listen(listener_, 16), 0);
    thread_ = std::thread([this] { run(); });
  }

  ~FakeDaemon() {
    stop_ = true;
    thread_.join();
    ::close(listener_);
    if (!path_.empty()) {
      ::unlink(path_.c_str());
      ::rmdir(dir_.c_str());
    }
  }

  // Makes accepted sockets' receive buffer small, so a client's writes
  // back up quickly when the daemon does not read.
  void set_receive_buffer(int bytes) { ::setsockopt(listener_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes); }

  std::string address() const {
    return path_.empty() ? "inet:127.0.0.1:" + std::to_string(port_) : "unix:" + path_;
  }
  std::string label() const { return path_.empty() ? "127.0.0.1:" + std::to_string(port_) : path_; }

  // The requests served so far, after waiting up to 3 s for |count|.
  std::vector<std::string> requests(std::size_t count = 1) const {
    const auto until = Clock::now() + std::chrono::seconds{3};
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (requests_.size() >= count || Clock::now() > until) return requests_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{5});
    }
  }
  int connections() const { return connections_; }

 private:
  void run() {
    while (!stop_) {
      pollfd p{listener_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++connections_;
      std::string got = serve_(fd, stop_);
      ::close(fd);
      std::lock_guard<std::mutex> lock(mutex_);
      requests_.push_back(std::move(got));
    }
  }

  Serve serve_;
  int listener_ = -1;
  int port_ = 0;
  std::string dir_, path_;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

using Complete = std::function<bool(std::string_view)>;

// Reads until |complete| says so, the peer closes, or 5 s pass.
inline std::string read_request(int fd, const Complete& complete) {
  std::string got;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds{5};
  char buffer[65536];
  while (!complete(got) && std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    got.append(buffer, static_cast<std::size_t>(n));
  }
  return got;
}

inline void send_text(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace sluice::test
