// Tests for common/tracking_id.*: encoding, parsing of hostile text, and the
// generator's ordering under an injected clock and injected randomness.
#include "common/tracking_id.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/address.h"

namespace sluice {
namespace {

using namespace std::string_view_literals;

// A clock the test moves by hand.
struct FakeClock {
  std::shared_ptr<std::uint64_t> now = std::make_shared<std::uint64_t>(1'700'000'000'000);
  TrackingIdGenerator::Clock fn() const {
    return [now = now] { return *now; };
  }
};

// Deterministic randomness from a seeded PRNG.
TrackingIdGenerator::Random seeded_random(std::uint32_t seed) {
  auto rng = std::make_shared<std::mt19937>(seed);
  return [rng](std::span<std::uint8_t> out) {
    for (auto& b : out) b = static_cast<std::uint8_t>((*rng)() & 0xFFu);
  };
}

// Randomness that always yields the same bytes.
TrackingIdGenerator::Random fixed_random(std::uint8_t byte) {
  return [byte](std::span<std::uint8_t> out) { std::fill(out.begin(), out.end(), byte); };
}

TEST(TrackingIdFormat, MatchesUlidSpecVector) {
  // The example from the ULID spec, 01ARZ3NDEKTSV4RRFFQ69G5FAV, in lowercase.
  TrackingId id{1469922850259, {0xd6, 0x76, 0x4c, 0x61, 0xef, 0xb9, 0x93, 0x02, 0xbd, 0x5b}};
  EXPECT_EQ(format_tracking_id(id), "01arz3ndektsv4rrffq69g5fav");
}

TEST(TrackingIdFormat, EncodesExtremes) {
  // Zero and the largest 48-bit time with all random bits set.
  EXPECT_EQ(format_tracking_id(TrackingId{}), "00000000000000000000000000");
  TrackingId max{kMaxTrackingIdMs, {}};
  max.random.fill(0xFF);
  EXPECT_EQ(format_tracking_id(max), "7zzzzzzzzzzzzzzzzzzzzzzzzz");
}

TEST(TrackingIdParse, RoundTripsRandomIds) {
  // parse(format(x)) == x for many random values, including both extremes.
  std::mt19937_64 rng(42);
  for (int i = 0; i < 2000; ++i) {
    TrackingId id;
    id.unix_ms = rng() & kMaxTrackingIdMs;
    for (auto& b : id.random) b = static_cast<std::uint8_t>(rng());
    const std::string text = format_tracking_id(id);
    ASSERT_EQ(text.size(), kTrackingIdLength);
    auto back = parse_tracking_id(text);
    ASSERT_TRUE(back.ok()) << "got error for " << text;
    EXPECT_EQ(*back, id) << text;
  }
}

TEST(TrackingIdParse, IsCaseInsensitive) {
  // Receivers may uppercase a VERP local part; the ID must survive that.
  auto lower = parse_tracking_id("01arz3ndektsv4rrffq69g5fav");
  auto upper = parse_tracking_id("01ARZ3NDEKTSV4RRFFQ69G5FAV");
  auto mixed = parse_tracking_id("01ArZ3nDeKtSv4RrFfQ69g5FaV");
  ASSERT_TRUE(lower.ok() && upper.ok() && mixed.ok());
  EXPECT_EQ(*upper, *lower);
  EXPECT_EQ(*mixed, *lower);
}

TEST(TrackingIdParse, AcceptsCrockfordAliases) {
  // i, I, l, L read as 1; o, O read as 0 (a human copied the ID by hand).
  auto canonical = parse_tracking_id("0110000000000000000000000a");
  ASSERT_TRUE(canonical.ok());
  for (std::string_view alias : {"0ii0000000000000000000000a"sv, "0LL0000000000000000000000a"sv,
                                 "0Il0000000000000000000000a"sv, "o11ooooooooooOOOOOOOOOOOOa"sv}) {
    auto a = parse_tracking_id(alias);
    ASSERT_TRUE(a.ok()) << alias;
    EXPECT_EQ(*a, *canonical) << alias;
  }
}

TEST(TrackingIdParse, RejectsMalformedText) {
  struct Case {
    std::string_view input;
    const char* why;
  };
  const std::vector<Case> cases = {
      {"", "empty"},
      {"01arz3ndektsv4rrffq69g5fa", "25 characters"},
      {"01arz3ndektsv4rrffq69g5favv", "27 characters"},
      {"01arz3ndektsv4rrffq69g5fau", "u is not in the alphabet"},
      {"01arz3ndektsv4rrffq69g5fU0", "U is not in the alphabet"},
      {"01arz3ndek-sv4rrffq69g5fav", "hyphen (Crockford's optional separator) not accepted"},
      {"01arz3ndek sv4rrffq69g5fav", "space"},
      {"01arz3ndek\0sv4rrffq69g5fav"sv, "NUL byte"},
      {"01arz3ndek\xc3\xa9v4rrffq69g5fav", "non-ASCII bytes"},
      {"01arz3ndektsv4rrffq69g5fa\n", "trailing LF"},
      {"80000000000000000000000000", "first char 8: timestamp over 48 bits"},
      {"zzzzzzzzzzzzzzzzzzzzzzzzzz", "first char z: timestamp over 48 bits"},
  };
  for (const auto& c : cases) {
    auto id = parse_tracking_id(c.input);
    ASSERT_FALSE(id.ok()) << c.why << ": got " << format_tracking_id(*id) << ", want an error";
    EXPECT_EQ(id.error().code, Errc::kInvalidInput) << c.why;
  }
  EXPECT_TRUE(parse_tracking_id("7zzzzzzzzzzzzzzzzzzzzzzzzz").ok()) << "largest valid ID must parse";
}

TEST(TrackingIdGenerator, UsesClockAndRandomness) {
  // A fresh millisecond takes its time from the clock and its bits from Random.
  FakeClock clock;
  TrackingIdGenerator gen(clock.fn(), fixed_random(0xAB));
  const TrackingId id = gen.next_id();
  EXPECT_EQ(id.unix_ms, *clock.now);
  for (auto b : id.random) EXPECT_EQ(b, 0xAB);
}

TEST(TrackingIdGenerator, IncrementsRandomPartWithinSameMillisecond) {
  // Same ms: second ID = first + 1 in the random part, no new randomness.
  FakeClock clock;
  TrackingIdGenerator gen(clock.fn(), fixed_random(0x10));
  const TrackingId a = gen.next_id();
  const TrackingId b = gen.next_id();
  EXPECT_EQ(b.unix_ms, a.unix_ms);
  TrackingId want = a;
  want.random[9] = 0x11;
  EXPECT_EQ(b, want);
}

TEST(TrackingIdGenerator, KeepsLastTimeWhenClockGoesBackwards) {
  // NTP stepped the clock back 5 s: keep counting on the last time.
  FakeClock clock;
  TrackingIdGenerator gen(clock.fn(), seeded_random(1));
  const TrackingId a = gen.next_id();
  *clock.now -= 5000;
  const TrackingId b = gen.next_id();
  EXPECT_EQ(b.unix_ms, a.unix_ms);
  EXPECT_GT(format_tracking_id(b), format_tracking_id(a));
}

TEST(TrackingIdGenerator, AdvancesTimeOnRandomOverflow) {
  // Random part all ones: incrementing wraps, so borrow the next ms.
  FakeClock clock;
  TrackingIdGenerator gen(clock.fn(), fixed_random(0xFF));
  const TrackingId a = gen.next_id();
  const TrackingId b = gen.next_id();
  EXPECT_EQ(b.unix_ms, a.unix_ms + 1);
  EXPECT_GT(format_tracking_id(b), format_tracking_id(a));
  // The clock then catches up with the borrowed ms: still increasing.
  *clock.now += 1;
  const TrackingId c = gen.next_id();
  EXPECT_GT(format_tracking_id(c), format_tracking_id(b));
}

TEST(TrackingIdGenerator, ClampsClockBeyond48Bits) {
  // A broken clock past year 10889 must not yield unparseable IDs.
  TrackingIdGenerator gen([] { return ~std::uint64_t{0}; }, seeded_random(2));
  const std::string a = gen.next();
  const std::string b = gen.next();
  EXPECT_TRUE(parse_tracking_id(a).ok()) << a;
  EXPECT_TRUE(parse_tracking_id(b).ok()) << b;
  EXPECT_GT(b, a);
}

TEST(TrackingIdGenerator, SortsStrictlyOver10000IdsWithRepeatsAndBackwardClock) {
  // A clock that repeats, advances and steps back; the text of every ID must
  // still sort strictly after the previous one.
  FakeClock clock;
  TrackingIdGenerator gen(clock.fn(), seeded_random(3));
  std::string prev;
  for (int i = 0; i < 10000; ++i) {
    switch (i % 7) {
      case 0: *clock.now += 1; break;    // next ms
      case 3: *clock.now -= 250; break;  // step back
      case 5: *clock.now += 300; break;  // jump ahead past the step back
      default: break;                    // same ms
    }
    const std::string id = gen.next();
    ASSERT_EQ(id.size(), kTrackingIdLength);
    ASSERT_GT(id, prev) << "ID " << i << " does not sort after the previous one";
    auto parsed = parse_tracking_id(id);
    ASSERT_TRUE(parsed.ok()) << id;
    ASSERT_LE(parsed->unix_ms, *clock.now + 300) << "time part ran away from the clock";
    prev = id;
  }
}

TEST(TrackingIdGenerator, DifferentRandomnessDoesNotCollide) {
  // Two relay nodes in the same milliseconds, different entropy: no shared ID.
  FakeClock clock;
  TrackingIdGenerator a(clock.fn(), seeded_random(10));
  TrackingIdGenerator b(clock.fn(), seeded_random(11));
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    if (i % 100 == 0) *clock.now += 1;
    ASSERT_TRUE(seen.insert(a.next()).second) << "duplicate from a at " << i;
    ASSERT_TRUE(seen.insert(b.next()).second) << "duplicate from b at " << i;
  }
  EXPECT_EQ(seen.size(), 20000u);
}

TEST(TrackingIdGenerator, IsThreadSafe) {
  // The milter's threads share one generator: all IDs unique, and each
  // thread sees its own IDs increase.
  TrackingIdGenerator gen;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 2000;
  std::vector<std::vector<std::string>> out(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&gen, &mine = out[t]] {
      for (int i = 0; i < kPerThread; ++i) mine.push_back(gen.next());
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::string> all;
  for (const auto& mine : out) {
    EXPECT_TRUE(std::is_sorted(mine.begin(), mine.end()));
    all.insert(mine.begin(), mine.end());
  }
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kThreads * kPerThread));
}

TEST(TrackingIdGenerator, DefaultUsesSystemClock) {
  // The default generator stamps the current time.
  const auto ms = [] {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
  };
  const std::uint64_t before = ms();
  TrackingIdGenerator gen;
  auto id = parse_tracking_id(gen.next());
  const std::uint64_t after = ms();
  ASSERT_TRUE(id.ok());
  EXPECT_GE(id->unix_ms, before);
  EXPECT_LE(id->unix_ms, after);
}

TEST(TrackingIdGenerator, IdIsUrlSafeAndAValidVerpLocalPart) {
  // IDs travel in URLs and as PREFIX+ID@bounce.domain: lowercase alphabet
  // only, and a dot-string that survives address parsing unchanged.
  TrackingIdGenerator gen;
  for (int i = 0; i < 100; ++i) {
    const std::string id = gen.next();
    for (const char c : id) {
      EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')) << id;
    }
    auto m = parse_mailbox("bounce+" + id + "@bounce.example");
    ASSERT_TRUE(m.ok()) << id;
    EXPECT_EQ(m->str(), "bounce+" + id + "@bounce.example");
    EXPECT_EQ(m->lookup_key(), m->str());
  }
}

}  // namespace
}  // namespace sluice
