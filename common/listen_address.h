// Socket addresses in Postfix's notation, as operators already write them in
// main.cf's check_policy_service: "inet:127.0.0.1:10040", "inet:[::1]:10040",
// "unix:/run/sluice/policyd.sock".
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace sluice {

struct ListenAddress {
  enum class Kind { kInet, kUnix } kind = Kind::kInet;
  std::string host;  // inet: numeric IPv4 or IPv6 address (no brackets)
  int port = 0;      // inet: 1..65535
  std::string path;  // unix: absolute path

  std::string str() const;  // back in the notation it was parsed from
};

Result<ListenAddress> parse_listen_address(std::string_view text);

}  // namespace sluice
