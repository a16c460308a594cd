// [dns]: settings of `sluicectl dns check`, which compares the SPF, DKIM and
// DMARC records a domain publishes with what this relay sends (see
// doc/dns-check.md).
#pragma once

#include <string>
#include <vector>

namespace sluice {

struct DnsSettings {
  // Addresses of the relay's outgoing interfaces, numeric IPv4 or IPv6 in
  // canonical form (inet_ntop), in file order, no duplicates. Every one must
  // pass SPF for each domain the relay signs.
  std::vector<std::string> relay_addresses;
};

}  // namespace sluice
