// A minimal epoll loop for sluice-policyd: file descriptors with a handler
// each, and a periodic tick for timeouts. Single-threaded: every handler runs
// on the loop's thread, so handlers need no locks.
//
// Handlers may be destroyed while a batch of events is being dispatched;
// the server defers destruction to after_batch() so no event reaches a freed
// handler.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include "common/result.h"

namespace sluice {

class EventLoop {
 public:
  class Handler {
   public:
    virtual ~Handler() = default;
    virtual void on_io(std::uint32_t events) = 0;
  };

  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  Status add(int fd, std::uint32_t events, Handler* handler);
  Status modify(int fd, std::uint32_t events, Handler* handler);
  void remove(int fd);

  // Dispatches events until stop(). |tick| runs at least every |interval|
  // (timeouts); |after_batch| after each batch of events (deferred frees).
  void run(std::chrono::milliseconds interval, const std::function<void()>& tick,
           const std::function<void()>& after_batch);
  void stop() { running_ = false; }

 private:
  int epoll_fd_ = -1;
  bool running_ = false;
};

}  // namespace sluice
