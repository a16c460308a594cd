// The text of OpenSSL's oldest queued error, for messages that say why a key
// or a signature failed.
#pragma once

#include <string>

namespace sluice::milter {

// Takes the oldest error as text and empties this thread's queue, so no
// stale error is blamed on a later, unrelated call.
std::string openssl_error();

}  // namespace sluice::milter
