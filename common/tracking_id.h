// Tracking IDs: the per-message identifier Sluice logs and embeds in VERP
// return paths (PREFIX+ID@bounce.example), so a bounce names the message.
//
// Layout is ULID (https://github.com/ulid/spec): 48 bits of milliseconds since
// the Unix epoch, then 80 random bits, written as 26 Crockford base32
// characters. We write them in lowercase because they travel in email local
// parts, where receivers may change case: parsing is case-insensitive and
// also accepts Crockford's aliases (i, l -> 1; o -> 0). The text sorts in
// time order, needs no URL escaping, and is a valid RFC 5321 Dot-string.
//
// Owns: a generator's last-issued ID (the only mutable state).
// Guarantees: IDs from one generator sort strictly increasing, even within
// one millisecond or when the clock steps back; TrackingIdGenerator::next()
// is thread-safe; parse_tracking_id never crashes on hostile input.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"

namespace sluice {

inline constexpr std::size_t kTrackingIdLength = 26;
inline constexpr std::uint64_t kMaxTrackingIdMs = (std::uint64_t{1} << 48) - 1;  // year 10889

struct TrackingId {
  std::uint64_t unix_ms = 0;  // must be <= kMaxTrackingIdMs
  std::array<std::uint8_t, 10> random{};

  friend bool operator==(const TrackingId&, const TrackingId&) = default;
};

// Parses a 26-character ID in any case (aliases i/l/o accepted). Errors:
// kInvalidInput for a wrong length, a byte outside the alphabet, or a
// timestamp that does not fit 48 bits (first character above '7').
Result<TrackingId> parse_tracking_id(std::string_view text);

// Writes the canonical lowercase form. Aborts if id.unix_ms > kMaxTrackingIdMs:
// only a programming error can build such a value.
std::string format_tracking_id(const TrackingId& id);

// Issues IDs; one instance per process is expected (shared by the milter's
// threads). Clock and randomness are injected so tests are deterministic.
class TrackingIdGenerator {
 public:
  using Clock = std::function<std::uint64_t()>;  // milliseconds since the Unix epoch
  using Random = std::function<void(std::span<std::uint8_t>)>;  // fills every byte

  // System clock and OpenSSL RAND_bytes (aborts if the CSPRNG fails: IDs
  // without entropy could collide across relay nodes).
  TrackingIdGenerator();
  TrackingIdGenerator(Clock clock, Random random);

  // Returns a new ID, strictly greater than every earlier one from this
  // generator. In the same millisecond as the last ID (or when the clock went
  // back) it reuses the last time and increments the 80-bit random part; if
  // that overflows, the time part advances by 1 ms with fresh random bits.
  std::string next();

  // As next(), without formatting.
  TrackingId next_id();

 private:
  Clock clock_;
  Random random_;
  std::mutex mu_;  // guards last_ and have_last_
  TrackingId last_;
  bool have_last_ = false;
};

}  // namespace sluice
