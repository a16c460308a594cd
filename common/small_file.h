// Reading a whole small file (tables, rules, key lists) with one clear
// error: missing, not a regular file, over the cap, unreadable.
#pragma once

#include <cstddef>
#include <string>

#include "common/result.h"

namespace sluice {

// The file's bytes; kConfig errors name the path and the reason.
Result<std::string> read_small_file(const std::string& path, std::size_t cap);

}  // namespace sluice
