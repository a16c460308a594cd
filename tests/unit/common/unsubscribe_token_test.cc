// Tests for common/unsubscribe_token.*: round trips, the distinct rejections
// (every single-character change, wrong and rotated keys, expiry, clock
// skew, garbage, huge input) and the token's alphabet and length.
#include "common/unsubscribe_token.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice {
namespace {

using std::chrono::seconds;

constexpr std::int64_t kNow = 1'700'000'000;
constexpr seconds kTtl{90 * 86'400};

UnsubscribeKey key(std::string id, char fill) { return UnsubscribeKey{std::move(id), std::string(32, fill)}; }

std::string problem_of(const Result<UnsubscribeClaim>& result) {
  if (result.ok()) return "ok";
  return std::string(unsubscribe_token_problem(result.error()));
}

std::vector<UnsubscribeKey> keys_a() { return {key("a1", 'A')}; }

TEST(UnsubscribeToken, RoundTripsAccountRecipientTimeAndKey) {
  const auto keys = keys_a();
  const std::string token = make_unsubscribe_token(keys[0], "alice", "Bob.Smith@Example.COM", kNow);
  ASSERT_FALSE(token.empty());
  auto claim = verify_unsubscribe_token(keys, token, kNow + 10, kTtl);
  ASSERT_TRUE(claim.ok()) << claim.error().message();
  // The recipient comes back normalised (lookup_key: lowercase).
  EXPECT_EQ(*claim, (UnsubscribeClaim{"alice", "bob.smith@example.com", kNow, "a1"}));
}

TEST(UnsubscribeToken, UsesOnlyUrlAndLocalPartSafeCharactersAndStaysShort) {
  const auto keys = keys_a();
  const std::string token = make_unsubscribe_token(keys[0], "alice", "bob@example.com", kNow);
  for (char c : token) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    EXPECT_TRUE(ok) << "got character '" << c << "' in " << token;
  }
  EXPECT_EQ(token.size(), 62u) << token;
  // Typical 40-byte account and recipient stay well under 200 characters.
  const std::string account(40, 'u');
  const std::string recipient = std::string(28, 'r') + "@example.com";
  EXPECT_LE(make_unsubscribe_token(keys[0], account, recipient, kNow).size(), 200u);
}

TEST(UnsubscribeToken, MailtoFitsOnlyShortTokens) {
  EXPECT_TRUE(unsubscribe_mailto_fits("unsubscribe", std::string(52, 'x')));
  EXPECT_FALSE(unsubscribe_mailto_fits("unsubscribe", std::string(53, 'x')));
}

TEST(UnsubscribeToken, RefusesToMintFromBadInput) {
  const UnsubscribeKey good = key("a1", 'A');
  struct Case {
    const char* why;
    UnsubscribeKey key;
    std::string account;
    std::string recipient;
    std::int64_t issued;
  } cases[] = {
      {"empty account", good, "", "bob@example.com", kNow},
      {"account with a newline", good, "al\nice", "bob@example.com", kNow},
      {"account over 255 bytes", good, std::string(256, 'a'), "bob@example.com", kNow},
      {"recipient not an address", good, "alice", "not an address", kNow},
      {"null recipient", good, "alice", "<>", kNow},
      {"negative issue time", good, "alice", "bob@example.com", -1},
      {"issue time over 40 bits", good, "alice", "bob@example.com", std::int64_t{1} << 40},
      {"key id with a dash", key("a-1", 'A'), "alice", "bob@example.com", kNow},
      {"key id over 8 characters", key("abcdefghi", 'A'), "alice", "bob@example.com", kNow},
      {"secret under 32 bytes", UnsubscribeKey{"a1", std::string(31, 'A')}, "alice", "bob@example.com", kNow},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(make_unsubscribe_token(c.key, c.account, c.recipient, c.issued), "") << c.why;
  }
}

TEST(UnsubscribeToken, RejectsEverySingleCharacterChange) {
  const auto keys = keys_a();
  const std::string token = make_unsubscribe_token(keys[0], "alice", "bob@example.com", kNow);
  ASSERT_TRUE(verify_unsubscribe_token(keys, token, kNow, kTtl).ok());
  int tried = 0;
  for (std::size_t pos = 0; pos < token.size(); ++pos) {
    for (int byte = 0; byte < 256; ++byte) {
      if (static_cast<char>(byte) == token[pos]) continue;
      std::string altered = token;
      altered[pos] = static_cast<char>(byte);
      auto result = verify_unsubscribe_token(keys, altered, kNow, kTtl);
      ++tried;
      EXPECT_FALSE(result.ok()) << "position " << pos << " byte " << byte << " verified";
      if (!result.ok()) {
        // Every rejection names one of the known problems.
        const std::string p = problem_of(result);
        EXPECT_TRUE(p == "malformed" || p == "truncated" || p == "unknown-key" || p == "forged")
            << "position " << pos << ": got " << p;
      }
    }
  }
  EXPECT_EQ(tried, static_cast<int>(token.size()) * 255);
}

TEST(UnsubscribeToken, RejectsTruncationAndExtension) {
  const auto keys = keys_a();
  const std::string token = make_unsubscribe_token(keys[0], "alice", "bob@example.com", kNow);
  for (std::size_t cut = 1; cut < token.size(); ++cut) {
    const std::string shorter = token.substr(0, token.size() - cut);
    EXPECT_EQ(problem_of(verify_unsubscribe_token(keys, shorter, kNow, kTtl)), "truncated") << "cut " << cut;
  }
  EXPECT_EQ(problem_of(verify_unsubscribe_token(keys, token + "AAAA", kNow, kTtl)), "malformed");
  EXPECT_EQ(problem_of(verify_unsubscribe_token(keys, "", kNow, kTtl)), "truncated");
}

TEST(UnsubscribeToken, RejectsANonCanonicalLastCharacter) {
  // 62 characters: the last one carries 4 unused bits, which must be zero.
  // Setting one decodes to the same bytes, so only this check catches it.
  const auto keys = keys_a();
  std::string token = make_unsubscribe_token(keys[0], "alice", "bob@example.com", kNow);
  ASSERT_EQ(token.size() % 4, 2u);
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  token.back() = alphabet[alphabet.find(token.back()) | 1];
  EXPECT_EQ(problem_of(verify_unsubscribe_token(keys, token, kNow, kTtl)), "malformed");
}

TEST(UnsubscribeToken, RejectsAWrongKeyWithTheSameIdAsForged) {
  const std::string token = make_unsubscribe_token(key("a1", 'A'), "alice", "bob@example.com", kNow);
  const std::vector<UnsubscribeKey> other = {key("a1", 'B')};
  EXPECT_EQ(problem_of(verify_unsubscribe_token(other, token, kNow, kTtl)), "forged");
}

TEST(UnsubscribeToken, RejectsAnUnknownKeyId) {
  const std::string token = make_unsubscribe_token(key("old", 'A'), "alice", "bob@example.com", kNow);
  const std::vector<UnsubscribeKey> keys = {key("new", 'A')};
  auto result = verify_unsubscribe_token(keys, token, kNow, kTtl);
  EXPECT_EQ(problem_of(result), "unknown-key");
  EXPECT_EQ(result.error().code, Errc::kNotFound);
  EXPECT_EQ(problem_of(verify_unsubscribe_token({}, token, kNow, kTtl)), "unknown-key");
}

TEST(UnsubscribeToken, RotatedKeysOldStillVerifiesNewSigns) {
  // After rotation the new key is listed first (it signs) and the old one
  // stays listed until the old tokens have expired.
  const std::vector<UnsubscribeKey> before = {key("k1", '1')};
  const std::vector<UnsubscribeKey> after = {key("k2", '2'), key("k1", '1')};
  const std::string old_token = make_unsubscribe_token(before.front(), "alice", "bob@example.com", kNow);
  const std::string new_token = make_unsubscribe_token(after.front(), "alice", "bob@example.com", kNow);
  auto old_claim = verify_unsubscribe_token(after, old_token, kNow, kTtl);
  auto new_claim = verify_unsubscribe_token(after, new_token, kNow, kTtl);
  ASSERT_TRUE(old_claim.ok() && new_claim.ok());
  EXPECT_EQ(old_claim->key_id, "k1");
  EXPECT_EQ(new_claim->key_id, "k2");
  // Once k1 is dropped its tokens stop working; k2's never worked before.
  const std::vector<UnsubscribeKey> retired = {key("k2", '2')};
  EXPECT_EQ(problem_of(verify_unsubscribe_token(retired, old_token, kNow, kTtl)), "unknown-key");
  EXPECT_EQ(problem_of(verify_unsubscribe_token(before, new_token, kNow, kTtl)), "unknown-key");
}

TEST(UnsubscribeToken, ExpiresAfterTtlAndRefusesFarFutureIssueTimes) {
  const auto keys = keys_a();
  const std::string token = make_unsubscribe_token(keys[0], "alice", "bob@example.com", kNow);
  struct Case {
    const char* why;
    std::int64_t now;
    const char* want;
  } cases[] = {
      {"at issue time", kNow, "ok"},
      {"on the last valid second", kNow + kTtl.count(), "ok"},
      {"one second after", kNow + kTtl.count() + 1, "expired"},
      {"a day of clock skew is tolerated", kNow - kUnsubscribeFutureSkewS, "ok"},
      {"more than a day ahead", kNow - kUnsubscribeFutureSkewS - 1, "future"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(problem_of(verify_unsubscribe_token(keys, token, c.now, kTtl)), c.want) << c.why;
  }
}

TEST(UnsubscribeToken, RejectsGarbage) {
  const auto keys = keys_a();
  struct Case {
    const char* why;
    std::string token;
    const char* want;
  } cases[] = {
      {"slash", "abc/def", "malformed"},
      {"padding", "AAAA==", "malformed"},
      {"standard base64 plus", "ab+cd", "malformed"},
      {"dot", "abc.def", "malformed"},
      {"NUL byte", std::string("ab\0cd", 5), "malformed"},
      {"impossible length", "AAAAA", "truncated"},
      {"version 0", "AA", "malformed"},
      {"all zero bytes", std::string(40, 'A'), "malformed"},
      {"version 1, key id length 0", "EA", "malformed"},
      {"version 1, key id length 9", "GQ", "malformed"},
      {"version 1, id but nothing else", "EmEx", "truncated"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(problem_of(verify_unsubscribe_token(keys, c.token, kNow, kTtl)), c.want) << c.why;
  }
}

TEST(UnsubscribeToken, RefusesHugeInputBeforeDecoding) {
  const auto keys = keys_a();
  const std::string huge(10 * 1024 * 1024, 'A');
  auto result = verify_unsubscribe_token(keys, huge, kNow, kTtl);
  EXPECT_EQ(problem_of(result), "too-long");
  EXPECT_EQ(result.error().code, Errc::kTooLong);
  // The largest valid token fits the cap.
  const std::string longest =
      make_unsubscribe_token(key("abcdefgh", 'A'), std::string(255, 'a'), std::string(64, 'r') + "@" +
                                                                              std::string(63, 'd') + "." +
                                                                              std::string(63, 'd') + "." +
                                                                              std::string(61, 'd'),
                             kNow);
  ASSERT_FALSE(longest.empty());
  EXPECT_LE(longest.size(), kMaxUnsubscribeTokenLength);
  EXPECT_TRUE(verify_unsubscribe_token(std::vector<UnsubscribeKey>{key("abcdefgh", 'A')}, longest, kNow, kTtl).ok());
}

TEST(UnsubscribeToken, DigestIsLowercaseSha256Hex) {
  EXPECT_EQ(unsubscribe_token_digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace sluice
