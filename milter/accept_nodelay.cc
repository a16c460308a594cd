// Replaces accept() for this program (and the libmilter it links) so every
// TCP connection from the MTA gets TCP_NODELAY. libmilter writes each action
// of the end-of-message reply separately (one header, then the signature,
// then the verdict); without TCP_NODELAY Nagle holds the later small writes
// until the MTA's delayed ACK, ~40 ms per message over TCP (OpenDKIM has the
// same stall). libmilter offers no hook on its sockets, hence the override.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

extern "C" int accept(int fd, sockaddr* address, socklen_t* length) {
  const int connection = accept4(fd, address, length, 0);
  if (connection < 0) return connection;
  sockaddr_storage local{};
  socklen_t local_length = sizeof local;
  if (getsockname(connection, reinterpret_cast<sockaddr*>(&local), &local_length) == 0 &&
      (local.ss_family == AF_INET || local.ss_family == AF_INET6)) {
    const int one = 1;
    setsockopt(connection, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return connection;
}
