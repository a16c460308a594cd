#include "common/event_loop.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string>

#include "common/log.h"

namespace sluice {

EventLoop::EventLoop() : epoll_fd_(epoll_create1(EPOLL_CLOEXEC)) {
  if (epoll_fd_ < 0) log_fatal("epoll_create1: %s", std::strerror(errno));
}

EventLoop::~EventLoop() {
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

Status EventLoop::add(int fd, std::uint32_t events, Handler* handler) {
  epoll_event event{};
  event.events = events;
  event.data.ptr = handler;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
    return make_error(Errc::kIo, std::string("epoll_ctl add: ") + std::strerror(errno));
  }
  return {};
}

Status EventLoop::modify(int fd, std::uint32_t events, Handler* handler) {
  epoll_event event{};
  event.events = events;
  event.data.ptr = handler;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &event) != 0) {
    return make_error(Errc::kIo, std::string("epoll_ctl mod: ") + std::strerror(errno));
  }
  return {};
}

void EventLoop::remove(int fd) { epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr); }

void EventLoop::run(std::chrono::milliseconds interval, const std::function<void()>& tick,
                    const std::function<void()>& after_batch) {
  running_ = true;
  std::array<epoll_event, 256> events;
  auto next_tick = std::chrono::steady_clock::now() + interval;
  while (running_) {
    const auto now = std::chrono::steady_clock::now();
    // Rounded up: truncating would spin with a zero timeout for the last
    // fraction of a millisecond before every tick.
    const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next_tick - now).count();
    const int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()),
                             static_cast<int>(wait < 0 ? 0 : wait));
    if (n < 0 && errno != EINTR) log_fatal("epoll_wait: %s", std::strerror(errno));
    for (int i = 0; i < n; ++i) {
      static_cast<Handler*>(events[i].data.ptr)->on_io(events[i].events);
    }
    after_batch();
    if (std::chrono::steady_clock::now() >= next_tick) {
      tick();
      after_batch();
      next_tick = std::chrono::steady_clock::now() + interval;
    }
  }
}

}  // namespace sluice
