// SIGHUP, SIGTERM and SIGINT for a daemon built on EventLoop (sluice-policyd,
// sluice-unsubscribe): they arrive as readable events on a signalfd, so
// reload and shutdown run on the loop's thread between requests, never
// inside a handler. SIGHUP calls |on_reload| each time; the first SIGTERM or
// SIGINT is logged and calls |on_stop|, later ones are ignored.
#pragma once

#include <cstdint>
#include <functional>

#include "common/event_loop.h"

namespace sluice {

class DaemonSignals : public EventLoop::Handler {
 public:
  // Blocks the three signals in the calling thread; a signalfd that cannot
  // be made or watched is fatal (start-up only).
  DaemonSignals(EventLoop& loop, std::function<void()> on_reload, std::function<void()> on_stop);
  ~DaemonSignals() override;
  DaemonSignals(const DaemonSignals&) = delete;
  DaemonSignals& operator=(const DaemonSignals&) = delete;

  void on_io(std::uint32_t events) override;
  bool stopping() const { return stopping_; }

 private:
  EventLoop& loop_;
  std::function<void()> on_reload_;
  std::function<void()> on_stop_;
  int fd_ = -1;
  bool stopping_ = false;
};

// Runs |loop| until |server| has drained after a stop: |server|'s tick()
// at least every |interval|, its after_batch() after each batch of events.
template <class Server>
void run_until_drained(EventLoop& loop, Server& server, std::chrono::milliseconds interval) {
  loop.run(
      interval,
      [&] {
        server.tick();
        if (server.drained()) loop.stop();
      },
      [&] {
        server.after_batch();
        if (server.drained()) loop.stop();
      });
}

}  // namespace sluice
