// The identity of one applied report, for idempotency: Postfix retries a
// delivery whose pipe exited 75, and a receiver may send the same report
// twice; the same identity must change nothing the second time.
#pragma once

#include <string>
#include <string_view>

namespace sluice::bounce {

// Lowercase hex SHA-256 of |data|.
std::string sha256_hex(std::string_view data);

// SHA-256 hex of "tracking_id|recipient|kind": one message can bounce (or be
// complained about) once per recipient and kind, however many reports say
// so, so a forger who knows a tracking ID cannot count it again and again.
std::string report_identity(std::string_view tracking_id, std::string_view recipient, std::string_view kind);

}  // namespace sluice::bounce
