// ULID-layout tracking IDs; see tracking_id.h for the contract.
#include "common/tracking_id.h"

#include <openssl/rand.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace sluice {
namespace {

// Crockford base32, lowercase: no i, l, o, u, so IDs never spell confusable
// characters (https://www.crockford.com/base32.html).
constexpr std::string_view kAlphabet = "0123456789abcdefghjkmnpqrstvwxyz";
constexpr std::uint8_t kBad = 0xFF;

constexpr std::array<std::uint8_t, 256> make_decode_table() {
  std::array<std::uint8_t, 256> t{};
  for (auto& v : t) v = kBad;
  for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
    const auto c = static_cast<unsigned char>(kAlphabet[i]);
    t[c] = static_cast<std::uint8_t>(i);
    if (c >= 'a' && c <= 'z') t[c - 'a' + 'A'] = static_cast<std::uint8_t>(i);
  }
  // Crockford's decoding aliases for characters humans mistype.
  t['i'] = t['I'] = t['l'] = t['L'] = 1;
  t['o'] = t['O'] = 0;
  return t;
}
constexpr std::array<std::uint8_t, 256> kDecode = make_decode_table();

// Five bytes (40 bits) <-> eight base32 characters, most significant first.
void encode40(const std::uint8_t* bytes, char* out) {
  std::uint64_t v = 0;
  for (int i = 0; i < 5; ++i) v = (v << 8) | bytes[i];
  for (int i = 7; i >= 0; --i) {
    out[i] = kAlphabet[v & 31u];
    v >>= 5;
  }
}

// Adds one to a big-endian number; returns false when it wrapped to zero.
bool increment(std::array<std::uint8_t, 10>& n) {
  for (std::size_t i = n.size(); i-- > 0;) {
    if (++n[i] != 0) return true;
  }
  return false;
}

std::uint64_t system_clock_ms() {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
}

void openssl_random(std::span<std::uint8_t> out) {
  if (out.size() > INT_MAX || RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    // Without entropy, IDs from different relay nodes could collide and a
    // bounce would suppress the wrong recipient: stop rather than guess.
    std::fputs("sluice: RAND_bytes failed; cannot issue tracking IDs\n", stderr);
    std::abort();
  }
}

}  // namespace

Result<TrackingId> parse_tracking_id(std::string_view text) {
  if (text.size() != kTrackingIdLength) return make_error(Errc::kInvalidInput, "tracking id is not 26 characters");
  std::array<std::uint8_t, kTrackingIdLength> v{};
  for (std::size_t i = 0; i < text.size(); ++i) {
    v[i] = kDecode[static_cast<unsigned char>(text[i])];
    if (v[i] == kBad) return make_error(Errc::kInvalidInput, "tracking id has a non-base32 character");
  }
  // 10 characters carry 50 bits; the time part has 48, so the first
  // character holds only 3 bits.
  if (v[0] > 7) return make_error(Errc::kInvalidInput, "tracking id timestamp over 48 bits");
  TrackingId id;
  for (std::size_t i = 0; i < 10; ++i) id.unix_ms = (id.unix_ms << 5) | v[i];
  for (std::size_t group = 0; group < 2; ++group) {
    std::uint64_t bits = 0;
    for (std::size_t i = 0; i < 8; ++i) bits = (bits << 5) | v[10 + group * 8 + i];
    for (std::size_t i = 5; i-- > 0;) {
      id.random[group * 5 + i] = static_cast<std::uint8_t>(bits & 0xFFu);
      bits >>= 8;
    }
  }
  return id;
}

std::string format_tracking_id(const TrackingId& id) {
  if (id.unix_ms > kMaxTrackingIdMs) std::abort();  // broken invariant: see header
  std::string out(kTrackingIdLength, '0');
  std::uint64_t t = id.unix_ms;
  for (std::size_t i = 10; i-- > 0;) {
    out[i] = kAlphabet[t & 31u];
    t >>= 5;
  }
  encode40(id.random.data(), &out[10]);
  encode40(id.random.data() + 5, &out[18]);
  return out;
}

TrackingIdGenerator::TrackingIdGenerator() : TrackingIdGenerator(system_clock_ms, openssl_random) {}

TrackingIdGenerator::TrackingIdGenerator(Clock clock, Random random)
    : clock_(std::move(clock)), random_(std::move(random)) {}

TrackingId TrackingIdGenerator::next_id() {
  // A clock past year 10889 is broken; clamping keeps the output valid and
  // monotonic (later IDs then come from the increment path).
  std::uint64_t now = clock_();
  if (now > kMaxTrackingIdMs) now = kMaxTrackingIdMs;

  std::lock_guard<std::mutex> lock(mu_);
  if (have_last_ && now <= last_.unix_ms) {
    // Same millisecond, or the clock stepped back (NTP): stay on the last
    // time and count up, so IDs keep sorting in issue order.
    if (!increment(last_.random)) {
      // 2^80 IDs in one millisecond: borrow the next millisecond.
      if (last_.unix_ms == kMaxTrackingIdMs) std::abort();  // unreachable in practice
      ++last_.unix_ms;
      random_(last_.random);
    }
  } else {
    last_.unix_ms = now;
    random_(last_.random);
  }
  have_last_ = true;
  return last_;
}

std::string TrackingIdGenerator::next() { return format_tracking_id(next_id()); }

}  // namespace sluice
