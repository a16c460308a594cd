// libFuzzer target for common/unsubscribe_token.*: verify_unsubscribe_token
// against a fixed key set, and make_unsubscribe_token. The first input byte
// picks how the rest becomes a token:
//   0  the rest is the token text, as a client sends it;
//   1  the rest is the token's decoded bytes, base64url-encoded here;
//   2  the rest is the signed part of a token (any layout, any content):
//      the target appends the HMAC under a key the next byte picks (one of
//      the set, the short one, or one outside the set), so the checks after
//      the MAC (account, recipient, times) are reached;
//   3  the rest gives an account, a recipient and an issue time: the token
//      is minted with make_unsubscribe_token, verified, then altered.
// Properties, besides "no crash, no sanitizer report":
//   - verify accepts only what make mints: when it accepts, minting the
//     claim again (same key, account, recipient, issue time) gives exactly
//     the input; the claim lies within the time window;
//   - every refusal's problem word and Errc are the documented pair;
//   - a minted token is [A-Za-z0-9_-], at most 723 characters, verifies to
//     its normalised claim inside the window and says "expired" or "future"
//     outside it; make refuses exactly the documented cases;
//   - any changed, dropped or added character makes a minted token fail,
//     as does another secret under the same key id.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "common/address.h"
#include "common/unsubscribe_token.h"

namespace {

using sluice::Errc;
using sluice::UnsubscribeKey;

constexpr std::int64_t kNow = 1'700'000'000;
constexpr std::chrono::seconds kTtl{90LL * 86'400};
constexpr std::size_t kLongestToken = 723;  // documented in unsubscribe_token.h
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void check(bool ok) {
  if (!ok) std::abort();  // a property failed: libFuzzer saves the input
}

// The configured keys; "weak" is too short to sign with and never verifies.
const std::vector<UnsubscribeKey>& keys() {
  static const std::vector<UnsubscribeKey> k{
      {"k1", std::string(32, 'K')},
      {"Key2", "0123456789abcdefghijklmnopqrstuvwxyz+/ABCDEFGHIJ"},
      {"weak", "sixteen-byte-key"},
  };
  return k;
}

const UnsubscribeKey* find_key(std::string_view id) {
  for (const UnsubscribeKey& k : keys()) {
    if (k.id == id) return &k;
  }
  return nullptr;
}

std::string base64url(std::string_view bytes) {
  std::string out;
  std::uint32_t bits = 0;
  int nbits = 0;
  for (const char c : bytes) {
    bits = (bits << 8) | static_cast<unsigned char>(c);
    nbits += 8;
    while (nbits >= 6) {
      nbits -= 6;
      out += kAlphabet[(bits >> nbits) & 63];
    }
  }
  if (nbits > 0) out += kAlphabet[(bits << (6 - nbits)) & 63];
  return out;
}

std::string hmac16(std::string_view secret, std::string_view signed_bytes) {
  const std::string input = "sluice-unsubscribe" + std::string(signed_bytes);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  check(HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
             reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &length) != nullptr);
  return std::string(reinterpret_cast<const char*>(mac), 16);
}

bool valid_account(std::string_view a) {
  if (a.empty() || a.size() > 255) return false;
  for (const char c : a) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

// The documented problem words and their Errc.
void check_refusal(const sluice::Error& e) {
  const std::string_view word = sluice::unsubscribe_token_problem(e);
  check(e.detail == word || e.detail.starts_with(std::string(word) + ": "));
  if (word == "too-long") {
    check(e.code == Errc::kTooLong);
  } else if (word == "unknown-key") {
    check(e.code == Errc::kNotFound);
  } else {
    check(e.code == Errc::kInvalidInput);
    check(word == "malformed" || word == "truncated" || word == "forged" || word == "future" || word == "expired");
  }
}

// Verifies |token|; an accepted token must be exactly what make mints for its claim.
sluice::Result<sluice::UnsubscribeClaim> verify(std::string_view token) {
  auto claim = sluice::verify_unsubscribe_token(keys(), token, kNow, kTtl);
  if (!claim) {
    check_refusal(claim.error());
    if (token.size() > sluice::kMaxUnsubscribeTokenLength) {
      check(sluice::unsubscribe_token_problem(claim.error()) == "too-long");
    }
    return claim;
  }
  const UnsubscribeKey* key = find_key(claim->key_id);
  check(key != nullptr && key->secret.size() >= sluice::kMinUnsubscribeSecretLength);
  check(sluice::make_unsubscribe_token(*key, claim->account, claim->recipient, claim->issued) == token);
  check(claim->issued <= kNow + sluice::kUnsubscribeFutureSkewS && claim->issued + kTtl.count() >= kNow);
  check(token.size() <= kLongestToken);
  return claim;
}

void try_token(std::string_view token) { static_cast<void>(verify(token)); }

// Mode 2: |signed_part| is everything before the MAC.
void fuzz_signed(std::string_view rest) {
  if (rest.empty()) return;
  const auto selector = static_cast<unsigned char>(rest[0]);
  std::string signed_part(rest.substr(1));
  // Bit 2: put a fresh issue time where the layout has it, so the
  // account and recipient checks are reached more often than "expired".
  if ((selector & 4) && !signed_part.empty()) {
    const std::size_t at = 1 + (static_cast<unsigned char>(signed_part[0]) & 0x0f);
    const std::int64_t issued = kNow - 3600;
    for (std::size_t i = 0; i < 5 && at + i < signed_part.size(); ++i) {
      signed_part[at + i] = static_cast<char>((issued >> (8 * (4 - i))) & 0xff);
    }
  }
  static const std::string kOutsider(32, 'X');
  const std::string& secret = (selector & 3) == 3 ? kOutsider : keys()[selector & 3].secret;
  std::string bytes = signed_part + hmac16(secret, signed_part);
  if (selector & 8) bytes.pop_back();  // cut
  const std::string token = base64url(bytes);
  try_token(token);
  if (selector & 16) try_token(token + "A");
}

// Mode 3: mint, verify, alter.
void fuzz_minted(std::string_view rest) {
  if (rest.size() < 4) return;
  const auto control = static_cast<unsigned char>(rest[0]);
  const auto days = static_cast<std::int8_t>(rest[1]);
  const std::size_t account_length = static_cast<unsigned char>(rest[2]);
  rest.remove_prefix(3);
  const std::string_view account = rest.substr(0, account_length);
  const std::string_view recipient = rest.substr(std::min(rest.size(), account_length));
  const std::int64_t issued = (control & 0x80) ? kNow + days * std::int64_t{86'400} + (control & 0x7f) : days;
  static const UnsubscribeKey kBadId{"bad-id", std::string(32, 'B')};
  const UnsubscribeKey& key = (control & 3) == 3 ? kBadId : keys()[control & 3];

  const std::string token = sluice::make_unsubscribe_token(key, account, recipient, issued);
  auto mailbox = sluice::parse_mailbox(recipient, sluice::MailboxOptions{.allow_null = false});
  const std::string lookup = mailbox ? mailbox->lookup_key() : std::string();
  const bool mintable = sluice::is_unsubscribe_key_id(key.id) && key.secret.size() >= 32 && valid_account(account) &&
                        mailbox.ok() && lookup.size() >= 3 && lookup.size() <= 255 && issued >= 0 &&
                        issued < (std::int64_t{1} << 40);
  check(token.empty() != mintable);
  if (token.empty()) return;

  check(token.size() <= kLongestToken);
  for (const char c : token) check(std::string_view(kAlphabet).find(c) != std::string_view::npos);
  auto claim = verify(token);
  if (issued > kNow + sluice::kUnsubscribeFutureSkewS) {
    check(!claim && sluice::unsubscribe_token_problem(claim.error()) == "future");
  } else if (issued + kTtl.count() < kNow) {
    check(!claim && sluice::unsubscribe_token_problem(claim.error()) == "expired");
  } else {
    check(claim.ok());
    check(*claim == (sluice::UnsubscribeClaim{std::string(account), lookup, issued, key.id}));
  }

  // Every change of a character fails (canonical encoding, MAC over all).
  const std::string_view tail = rest.substr(0, 8);
  for (std::size_t i = 0; i < tail.size(); ++i) {
    const auto b = static_cast<unsigned char>(tail[i]);
    std::string altered = token;
    const std::size_t at = (b * 131u + i * 17u) % altered.size();
    const char replacement = (b & 0x40) ? static_cast<char>(b) : kAlphabet[b & 63];
    if (replacement == altered[at]) continue;
    altered[at] = replacement;
    check(!verify(altered).ok());
  }
  check(!verify(token.substr(0, token.size() - 1)).ok());
  check(!verify(token + kAlphabet[control & 63]).ok());
  // The same key id with another secret: forged.
  const std::vector<UnsubscribeKey> rotated{{key.id, std::string(40, 'R')}};
  auto other = sluice::verify_unsubscribe_token(rotated, token, kNow, kTtl);
  check(!other && sluice::unsubscribe_token_problem(other.error()) == "forged");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] & 3) {
    case 0:
      try_token(rest);
      break;
    case 1:
      try_token(base64url(rest));
      break;
    case 2:
      fuzz_signed(rest);
      break;
    default:
      fuzz_minted(rest);
      break;
  }
  return 0;
}
