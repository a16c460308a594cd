// IP networks in CIDR notation ("10.0.0.0/8", "2001:db8::/32", or a bare
// address meaning /32 or /128), for "which clients are internal" decisions.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"

namespace sluice {

struct Cidr {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // network address, host bits zero
  int prefix = 0;

  bool contains(std::string_view address) const;  // numeric address text
  std::string str() const;
  friend bool operator==(const Cidr&, const Cidr&) = default;
};

Result<Cidr> parse_cidr(std::string_view text);
bool any_contains(std::span<const Cidr> networks, std::string_view address);

}  // namespace sluice
