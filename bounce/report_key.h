// The identity of one applied report, for idempotency: Postfix retries a
// delivery whose pipe exited 75, and a receiver may send the same report
// twice; the same identity must change nothing the second time.
#pragma once

#include <string>
#include <string_view>

namespace sluice::bounce {

// Lowercase hex SHA-256 of |data|.
std::string sha256_hex(std::string_view data);

// SHA-256 hex of "tracking_id|recipient|kind|status|source", where source is
// the report's Message-ID, or the digest of its body when it has none.
std::string report_identity(std::string_view tracking_id, std::string_view recipient, std::string_view kind,
                            std::string_view status, std::string_view message_id, std::string_view body_digest);

}  // namespace sluice::bounce
