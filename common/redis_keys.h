// Building blocks of Sluice's Redis key names (doc/redis-schema.md): a key
// is ":"-separated components after the configured prefix; any component
// but the last is escaped so that ":" always separates components.
#pragma once

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

}  // namespace sluice
