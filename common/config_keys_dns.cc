// [dns]: what `sluicectl dns check` compares the published records with.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <string>

#include "common/config_key_helpers.h"

namespace sluice {
namespace {

using namespace config_detail;

// More outgoing addresses than this is a mistake, not a relay.
constexpr std::size_t kMaxRelayAddresses = 64;

// Numeric IPv4 or IPv6 (no prefix, no zone index), in inet_ntop's form so
// that "2001:DB8::0:1" and "2001:db8::1" are one address.
Result<std::string> canonical_address(std::string_view text) {
  const std::string copy(text);
  unsigned char bytes[sizeof(in6_addr)];
  char out[INET6_ADDRSTRLEN];
  for (const int family : {AF_INET, AF_INET6}) {
    if (inet_pton(family, copy.c_str(), bytes) == 1 && inet_ntop(family, bytes, out, sizeof out) != nullptr) {
      return std::string(out);
    }
  }
  return config_error("\"" + log_escape(text, 64) + "\" is not an IPv4 or IPv6 address");
}

Status store_relay_addresses(Config& c, std::string_view value, const ConfigContext&) {
  std::vector<std::string> addresses;
  for (std::string_view item : split_list(value)) {
    if (item.empty()) continue;
    auto address = canonical_address(item);
    if (!address) return address.error();
    if (std::find(addresses.begin(), addresses.end(), *address) != addresses.end()) {
      return config_error("relay address " + *address + " is listed twice");
    }
    if (addresses.size() >= kMaxRelayAddresses) return config_error("at most 64 relay addresses");
    addresses.push_back(std::move(address).value());
  }
  c.dns.relay_addresses = std::move(addresses);
  return {};
}

const ConfigKey kKeys[] = {
    {"dns", "relay_addresses", "IP list", "",
     "IPv4/IPv6 addresses the relay sends from; `sluicectl dns check` wants SPF to pass for each",
     store_relay_addresses},
};

const ConfigSection kSections[] = {
    {"dns", false, "what `sluicectl dns check` expects the published SPF, DKIM and DMARC records to allow", nullptr},
};

}  // namespace

ConfigPart dns_config_part() { return ConfigPart{kSections, kKeys, nullptr}; }

}  // namespace sluice
