#include "common/listen_address.h"

#include <arpa/inet.h>
#include <sys/un.h>

#include "common/config_values.h"
#include "common/log.h"

namespace sluice {

std::string ListenAddress::str() const {
  if (kind == Kind::kUnix) return "unix:" + path;
  if (host.find(':') != std::string::npos) return "inet:[" + host + "]:" + std::to_string(port);
  return "inet:" + host + ":" + std::to_string(port);
}

Result<ListenAddress> parse_listen_address(std::string_view text) {
  ListenAddress address;
  const auto bad = [&](std::string_view why) {
    return make_error(Errc::kConfig, "listen address \"" + log_escape(text, 80) + "\": " + std::string(why));
  };
  if (text.starts_with("unix:")) {
    address.kind = ListenAddress::Kind::kUnix;
    address.path = text.substr(5);
    if (address.path.empty() || address.path.front() != '/') return bad("a unix socket path must be absolute");
    if (address.path.size() >= sizeof(sockaddr_un::sun_path)) return bad("unix socket path too long");
    return address;
  }
  if (!text.starts_with("inet:")) return bad("want inet:HOST:PORT or unix:/PATH");
  std::string_view rest = text.substr(5);
  std::string_view host;
  if (rest.starts_with("[")) {
    const auto close = rest.find("]:");
    if (close == std::string_view::npos) return bad("want inet:[IPv6]:PORT");
    host = rest.substr(1, close - 1);
    rest = rest.substr(close + 2);
  } else {
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) return bad("want inet:HOST:PORT");
    host = rest.substr(0, colon);
    rest = rest.substr(colon + 1);
  }
  in6_addr scratch{};
  address.host = host;
  if (inet_pton(AF_INET, address.host.c_str(), &scratch) != 1 &&
      inet_pton(AF_INET6, address.host.c_str(), &scratch) != 1) {
    return bad("the host must be a numeric IPv4 or IPv6 address");
  }
  auto port = parse_int_value(rest, 1, 65535);
  if (!port) return bad("the port must be 1 to 65535");
  address.port = static_cast<int>(*port);
  return address;
}

}  // namespace sluice
