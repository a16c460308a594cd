#include "common/cidr.h"

#include <arpa/inet.h>

#include <cstring>

#include "common/config_values.h"
#include "common/log.h"

namespace sluice {
namespace {

// Parses a numeric address into 16 bytes (IPv4 in the first 4); false if
// it is neither. IPv4-mapped IPv6 ("::ffff:192.0.2.1") counts as IPv4, as
// Postfix and Sendmail may hand either form for the same client.
bool parse_address(std::string_view text, bool& v6, std::array<std::uint8_t, 16>& out) {
  const std::string s(text);
  out.fill(0);
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    v6 = false;
    std::memcpy(out.data(), &v4, 4);
    return true;
  }
  in6_addr addr{};
  if (inet_pton(AF_INET6, s.c_str(), &addr) != 1) return false;
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(addr.s6_addr, kMapped, 12) == 0) {
    v6 = false;
    std::memcpy(out.data(), addr.s6_addr + 12, 4);
    return true;
  }
  v6 = true;
  std::memcpy(out.data(), addr.s6_addr, 16);
  return true;
}

void mask(std::array<std::uint8_t, 16>& bytes, int prefix) {
  for (int i = 0; i < 16; ++i) {
    const int bits = prefix - i * 8;
    if (bits >= 8) continue;
    bytes[i] &= bits <= 0 ? 0 : static_cast<std::uint8_t>(0xff << (8 - bits));
  }
}

}  // namespace

Result<Cidr> parse_cidr(std::string_view text) {
  const auto slash = text.find('/');
  Cidr cidr;
  if (!parse_address(text.substr(0, slash), cidr.v6, cidr.bytes)) {
    return make_error(Errc::kInvalidInput, "\"" + log_escape(text, 64) + "\" is not an IP address or network");
  }
  const int max_prefix = cidr.v6 ? 128 : 32;
  cidr.prefix = max_prefix;
  if (slash != std::string_view::npos) {
    auto prefix = parse_int_value(text.substr(slash + 1), 0, max_prefix);
    if (!prefix) {
      return make_error(Errc::kInvalidInput, "\"" + log_escape(text, 64) + "\": prefix length must be 0 to " +
                                                 std::to_string(max_prefix));
    }
    cidr.prefix = static_cast<int>(*prefix);
  }
  mask(cidr.bytes, cidr.prefix);
  return cidr;
}

bool Cidr::contains(std::string_view address) const {
  bool is_v6 = false;
  std::array<std::uint8_t, 16> bytes{};
  if (!parse_address(address, is_v6, bytes) || is_v6 != v6) return false;
  mask(bytes, prefix);
  return bytes == this->bytes;
}

std::string Cidr::str() const {
  char text[INET6_ADDRSTRLEN] = "";
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), text, sizeof text);
  return std::string(text) + "/" + std::to_string(prefix);
}

bool any_contains(std::span<const Cidr> networks, std::string_view address) {
  for (const Cidr& network : networks) {
    if (network.contains(address)) return true;
  }
  return false;
}

}  // namespace sluice
