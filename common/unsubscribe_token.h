// List-Unsubscribe tokens (RFC 8058 one-click, RFC 2369 mailto): a token
// names one sending account and one recipient, and proves that this relay
// issued it. sluice-milter mints one per message (recipient) and puts it in
// the List-Unsubscribe URL and mailto address; sluice-unsubscribe verifies it
// and suppresses the recipient for that account.
//
// Stateless by design: everything the endpoint needs is inside the token,
// authenticated with HMAC-SHA256 under a key from [unsubscribe] key_file. So
// minting costs no Redis write per message, a token keeps working as long as
// its key is listed (whatever Redis has forgotten meanwhile), and there is no
// per-message storage growing with volume. Not confidential: the account and
// recipient are only encoded, not encrypted; the token travels in mail to
// that very recipient.
//
// Layout (then base64url without padding, RFC 4648 section 5):
//   byte 0       version (high nibble, 1) | key id length (low nibble, 1..8)
//   key id       [A-Za-z0-9]{1,8}: selects the key among those configured
//   issued       5 bytes, big-endian Unix seconds (good until year 36812)
//   account      1 length byte, then the SASL login (1..255 bytes)
//   recipient    1 length byte, then Mailbox::lookup_key() (3..255 bytes)
//   MAC          first 16 bytes (128 bits) of HMAC-SHA256(secret,
//                "sluice-unsubscribe" || every byte above)
// The lengths make a cut token detectable ("truncated") before the MAC is
// checked; the encoding is canonical (unused trailing bits must be zero), so
// every change of a character changes the decoded bytes and fails.
//
// Length: 24 bytes of overhead plus the key id, account and recipient, times
// 4/3: "k1", "alice", "bob@example.com" give 62 characters; accounts and
// recipients of 40 bytes each about 140; the largest possible token 723.
// Only [A-Za-z0-9_-] appear, so a token fits a URL path segment and an RFC
// 5321 dot-atom as is.
//
// mailto and the 64-octet local part (RFC 5321 4.5.3.1.1): with the data
// inside the token, "unsubscribe+TOKEN" exceeds 64 octets for nearly every
// real recipient. We accept that rather than keep the data in Redis under a
// short random id: RFC 5321 4.5.3.1 itself asks implementations to impose no
// such limits where possible, Postfix (which receives these replies here) and
// the large providers' MTAs accept longer local parts, and RFC 8058 one-click
// (what the mailbox providers use) is the https URL, not mailto. A sender
// that must stay within 64 can check unsubscribe_mailto_fits() and leave the
// mailto form out. Whoever reads the mailto replies must not case-fold the
// local part (base64url is case-sensitive); Postfix's pipe(8) ${extension}
// keeps case.
//
// Owns: nothing; pure functions, thread-safe. Keys are the caller's.
// Guarantees: verify never crashes and never allocates more than a bounded
// amount on hostile input; every failure is an Error whose detail starts with
// a stable word (unsubscribe_token_problem()), and none of them changes anything.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/feedback_settings.h"
#include "common/result.h"

namespace sluice {

inline constexpr std::size_t kUnsubscribeMacLength = 16;
inline constexpr std::size_t kMinUnsubscribeSecretLength = 32;
inline constexpr std::size_t kMaxUnsubscribeKeyIdLength = 8;
// Longer input is refused before decoding (the largest valid token is 723).
inline constexpr std::size_t kMaxUnsubscribeTokenLength = 1024;
// How far in the future an issue time may lie (clock skew between relay nodes).
inline constexpr std::int64_t kUnsubscribeFutureSkewS = 86'400;

struct UnsubscribeClaim {
  std::string account;    // SASL login, as signed
  std::string recipient;  // Mailbox::lookup_key() form
  std::int64_t issued = 0;  // Unix seconds
  std::string key_id;     // the key that verified it
  friend bool operator==(const UnsubscribeClaim&, const UnsubscribeClaim&) = default;
};

// True for 1-8 of [A-Za-z0-9].
bool is_unsubscribe_key_id(std::string_view id);

// Mints a token for (account, recipient) issued at |issued_unix_s| under
// |key| (the first configured key signs). The recipient is normalised
// (parse_mailbox + lookup_key). Returns "" when no token can be made: an
// empty account or one over 255 bytes or with control bytes, a recipient
// that is not an address, a bad key id or a secret under 32 bytes, an issue
// time outside [0, 2^40).
std::string make_unsubscribe_token(const UnsubscribeKey& key, std::string_view account, std::string_view recipient,
                                   std::int64_t issued_unix_s);

// Checks |token| against |keys| (its key id picks one) at |now_unix_s|.
// Errors, by the first word of the detail (unsubscribe_token_problem()):
//   too-long     kTooLong       over kMaxUnsubscribeTokenLength characters
//   malformed    kInvalidInput  not canonical base64url, bad version or layout
//   truncated    kInvalidInput  shorter than its own lengths say
//   unknown-key  kNotFound      its key id is not among |keys|
//   forged       kInvalidInput  the MAC does not match (altered, wrong key)
//   future       kInvalidInput  issued more than kUnsubscribeFutureSkewS ahead
//   expired      kInvalidInput  issued + ttl < now
std::string_view unsubscribe_token_problem(const Error& error);
Result<UnsubscribeClaim> verify_unsubscribe_token(std::span<const UnsubscribeKey> keys, std::string_view token,
                                                  std::int64_t now_unix_s, std::chrono::seconds ttl);

// True when "<local>+<token>" stays within RFC 5321's 64-octet local part.
bool unsubscribe_mailto_fits(std::string_view mailto_local, std::string_view token);

// Lowercase hex SHA-256 of the token: names it in Redis without storing it.
std::string unsubscribe_token_digest(std::string_view token);

}  // namespace sluice
