// Keeps a report sluice-bounce could not parse, as one file in [bounce]
// unparsed_dir, for a human to look at (and to extend the corpus with).
//
// Guarantees: the file appears complete or not at all: written to a hidden
// temporary name (O_EXCL, mode 0600), fsync'ed, then renamed to
// "<unix seconds>.<pid>.<16 hex>.eml", a name no other process picks. An
// Error (kIo, temporary) when any step fails; nothing is left behind then.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace sluice::bounce {

// Returns the path of the new file.
Result<std::string> keep_unparsed(const std::string& dir, std::string_view message);

}  // namespace sluice::bounce
