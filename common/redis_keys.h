// Building blocks of Sluice's Redis key names (doc/redis-schema.md): a key
// is ":"-separated components after the configured prefix; any component
// but the last is escaped so that ":" always separates components.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sluice {

// '%' -> "%25", ':' -> "%3A"; everything else as is.
inline std::string redis_key_component(std::string_view part) {
  std::string out;
  out.reserve(part.size());
  for (char ch : part) {
    if (ch == '%') out += "%25";
    else if (ch == ':') out += "%3A";
    else out += ch;
  }
  return out;
}

// The inverse of redis_key_component(): "%25" -> '%', "%3A" -> ':'; any
// other byte (a lone '%' too) as is.
inline std::string redis_key_component_decode(std::string_view escaped) {
  std::string out;
  out.reserve(escaped.size());
  for (std::size_t i = 0; i < escaped.size(); ++i) {
    if (escaped.substr(i, 3) == "%3A") {
      out += ':';
      i += 2;
    } else if (escaped.substr(i, 3) == "%25") {
      out += '%';
      i += 2;
    } else {
      out += escaped[i];
    }
  }
  return out;
}

}  // namespace sluice
