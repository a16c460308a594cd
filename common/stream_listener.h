// The listening side of the daemons' epoll servers (sluice-policyd,
// sluice-unsubscribe): a listening socket as an EventLoop handler that tells
// its owner when connections wait, and the helpers around it. What is done
// with an accepted connection stays with each server.
//
// Single-threaded, like EventLoop. A listener may be named by an event of
// the batch being dispatched, so owners free retired ones only after the
// batch (retire_listeners()).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/event_loop.h"
#include "common/listen_address.h"
#include "common/result.h"

namespace sluice {

class StreamListener : public EventLoop::Handler {
 public:
  // Called when connections wait to be accepted (level-triggered: again
  // while any is left).
  using Ready = std::function<void(StreamListener&)>;

  StreamListener(EventLoop& loop, int fd, ListenAddress address, Ready on_ready)
      : loop_(loop), fd_(fd), address_(std::move(address)), on_ready_(std::move(on_ready)) {}
  ~StreamListener() override { shut(); }
  StreamListener(const StreamListener&) = delete;
  StreamListener& operator=(const StreamListener&) = delete;

  // Stops listening now (a unix socket's file is removed).
  void shut();
  void on_io(std::uint32_t events) override;
  // Out of descriptors: a level-triggered listener would report the same
  // pending connection again at once (a spin), so it is unwatched until
  // resume() (the owner's next tick).
  void pause();
  void resume();
  // The next pending connection (non-blocking, close-on-exec) and its peer,
  // or -1 when none is left or accept failed: a failure is logged, and one
  // that would repeat at once (out of descriptors or memory) pauses the
  // listener.
  int accept_one(sockaddr_storage& peer);

  int fd() const { return fd_; }
  const ListenAddress& address() const { return address_; }

 private:
  EventLoop& loop_;
  int fd_;
  ListenAddress address_;
  Ready on_ready_;
  bool paused_ = false;
};

using StreamListenerPtr = std::unique_ptr<StreamListener>;

// Opens each address of |listen| (Postfix notation; unix sockets get
// |unix_mode|), watches it on |loop|, logs "listening on ADDRESS" and
// appends it to |out|. The first failure is returned.
Status open_stream_listeners(EventLoop& loop, const std::vector<std::string>& listen, unsigned unix_mode,
                             const StreamListener::Ready& on_ready, std::vector<StreamListenerPtr>& out);

// Stops every listener of |listeners| and moves it to |retired|, to be
// freed after the current batch of events.
void retire_listeners(std::vector<StreamListenerPtr>& listeners, std::vector<StreamListenerPtr>& retired);

// For log lines: an inet peer's IP address; for a unix-socket peer the
// listener's address.
std::string stream_peer_name(const sockaddr_storage& peer, const ListenAddress& listener);

}  // namespace sluice
