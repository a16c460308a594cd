// Non-blocking socket output for the daemons' epoll servers. Inline and
// allocation-free: it sits on sluice-policyd's per-request path.
#pragma once

#include <sys/socket.h>

#include <cerrno>
#include <cstddef>
#include <string>

namespace sluice {

enum class FlushResult { kDone, kBlocked, kFailed };

// Sends |out| until it is empty (kDone) or the socket takes no more
// (kBlocked: wait for EPOLLOUT); what went out is erased. kFailed: the
// connection is broken. MSG_NOSIGNAL: no SIGPIPE.
inline FlushResult flush_output(int fd, std::string& out) {
  while (!out.empty()) {
    const ssize_t n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      out.erase(0, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return FlushResult::kBlocked;
    return FlushResult::kFailed;
  }
  return FlushResult::kDone;
}

}  // namespace sluice
