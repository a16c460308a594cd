#include "common/listen_socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace sluice {
namespace {

Error socket_error(int fd, const std::string& what) {
  Error error = make_error(Errc::kIo, what + ": " + std::strerror(errno));
  if (fd >= 0) ::close(fd);
  return error;
}

}  // namespace

Result<int> open_listen_socket(const ListenAddress& address, unsigned unix_mode) {
  if (address.kind == ListenAddress::Kind::kUnix) {
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return socket_error(-1, "socket");
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, address.path.c_str(), address.path.size() + 1);
    struct stat st {};
    if (lstat(address.path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) unlink(address.path.c_str());
    if (bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0 || listen(fd, SOMAXCONN) != 0 ||
        chmod(address.path.c_str(), unix_mode) != 0) {
      return socket_error(fd, "listen on " + address.str());
    }
    return fd;
  }
  const bool v6 = address.host.find(':') != std::string::npos;
  const int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return socket_error(-1, "socket");
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage storage{};
  socklen_t length = 0;
  if (v6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&storage);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<std::uint16_t>(address.port));
    inet_pton(AF_INET6, address.host.c_str(), &sin6->sin6_addr);
    length = sizeof *sin6;
  } else {
    auto* sin = reinterpret_cast<sockaddr_in*>(&storage);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<std::uint16_t>(address.port));
    inet_pton(AF_INET, address.host.c_str(), &sin->sin_addr);
    length = sizeof *sin;
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0 || listen(fd, SOMAXCONN) != 0) {
    return socket_error(fd, "listen on " + address.str());
  }
  return fd;
}

}  // namespace sluice
