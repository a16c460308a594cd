#include "common/stream_listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/listen_socket.h"
#include "common/log.h"

namespace sluice {

void StreamListener::shut() {
  if (fd_ < 0) return;
  loop_.remove(fd_);
  ::close(fd_);
  fd_ = -1;
  if (address_.kind == ListenAddress::Kind::kUnix) unlink(address_.path.c_str());
}

void StreamListener::on_io(std::uint32_t) {
  if (fd_ >= 0 && !paused_) on_ready_(*this);
}

int StreamListener::accept_one(sockaddr_storage& peer) {
  while (true) {
    socklen_t length = sizeof peer;
    const int fd = accept4(fd_, reinterpret_cast<sockaddr*>(&peer), &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return fd;
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return -1;
    log_warn("accept on %s: %s", address_.str().c_str(), std::strerror(errno));
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) pause();
    return -1;
  }
}

void StreamListener::pause() {
  if (fd_ < 0 || paused_) return;
  loop_.remove(fd_);
  paused_ = true;
}

void StreamListener::resume() {
  if (fd_ < 0 || !paused_) return;
  if (loop_.add(fd_, EPOLLIN, this)) paused_ = false;
}

Status open_stream_listeners(EventLoop& loop, const std::vector<std::string>& listen, unsigned unix_mode,
                             const StreamListener::Ready& on_ready, std::vector<StreamListenerPtr>& out) {
  for (const std::string& text : listen) {
    auto address = parse_listen_address(text);
    if (!address) return address.error();
    auto fd = open_listen_socket(*address, unix_mode);
    if (!fd) return fd.error();
    auto listener = std::make_unique<StreamListener>(loop, *fd, *address, on_ready);
    if (Status added = loop.add(*fd, EPOLLIN, listener.get()); !added) return added;
    log_info("listening on %s", address->str().c_str());
    out.push_back(std::move(listener));
  }
  return {};
}

void retire_listeners(std::vector<StreamListenerPtr>& listeners, std::vector<StreamListenerPtr>& retired) {
  for (auto& listener : listeners) {
    listener->shut();
    retired.push_back(std::move(listener));
  }
  listeners.clear();
}

std::string stream_peer_name(const sockaddr_storage& peer, const ListenAddress& listener) {
  if (peer.ss_family != AF_INET && peer.ss_family != AF_INET6) return listener.str();
  char host[INET6_ADDRSTRLEN] = "?";
  const void* addr = peer.ss_family == AF_INET
                         ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(&peer)->sin_addr)
                         : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(&peer)->sin6_addr);
  inet_ntop(peer.ss_family, addr, host, sizeof host);
  return host;
}

}  // namespace sluice
