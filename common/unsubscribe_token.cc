#include "common/unsubscribe_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <optional>

#include "common/address.h"

namespace sluice {
namespace {

constexpr unsigned kVersion = 1;
constexpr std::size_t kIssuedBytes = 5;
constexpr std::int64_t kMaxIssued = (std::int64_t{1} << (8 * kIssuedBytes)) - 1;
constexpr std::size_t kMaxFieldLength = 255;  // one length byte
constexpr std::size_t kMinRecipientLength = 3;  // "a@b"
constexpr std::string_view kMacContext = "sluice-unsubscribe";
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const auto b0 = static_cast<unsigned char>(bytes[i]);
    const auto b1 = static_cast<unsigned char>(bytes[i + 1]);
    const auto b2 = static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[b0 >> 2];
    out += kAlphabet[((b0 & 0x03) << 4) | (b1 >> 4)];
    out += kAlphabet[((b1 & 0x0f) << 2) | (b2 >> 6)];
    out += kAlphabet[b2 & 0x3f];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    const auto b0 = static_cast<unsigned char>(bytes[i]);
    out += kAlphabet[b0 >> 2];
    out += kAlphabet[(b0 & 0x03) << 4];
  } else if (rest == 2) {
    const auto b0 = static_cast<unsigned char>(bytes[i]);
    const auto b1 = static_cast<unsigned char>(bytes[i + 1]);
    out += kAlphabet[b0 >> 2];
    out += kAlphabet[((b0 & 0x03) << 4) | (b1 >> 4)];
    out += kAlphabet[(b1 & 0x0f) << 2];
  }
  return out;
}

int base64url_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

Error problem(Errc code, std::string_view word, std::string_view detail) {
  std::string text(word);
  if (!detail.empty()) {
    text += ": ";
    text += detail;
  }
  return make_error(code, std::move(text));
}

// Unpadded base64url. A length of 4n+1 is a cut token. |canonical| is false
// when the unused low bits of the last character are not zero: such a
// spelling is refused (after the layout check, so that a cut token reads as
// "truncated"), so that no two spellings decode to the same bytes and a
// changed character always fails.
struct Decoded {
  std::string bytes;
  bool canonical = true;
};

Result<Decoded> base64url_decode(std::string_view text) {
  const bool alphabet_only = std::all_of(text.begin(), text.end(), [](char c) { return base64url_value(c) >= 0; });
  if (!alphabet_only) return problem(Errc::kInvalidInput, "malformed", "a character outside base64url");
  if (text.size() % 4 == 1) return problem(Errc::kInvalidInput, "truncated", "impossible base64url length");
  Decoded out;
  out.bytes.reserve(text.size() * 3 / 4);
  std::uint32_t bits = 0;
  int nbits = 0;
  for (char c : text) {
    bits = (bits << 6) | static_cast<std::uint32_t>(base64url_value(c));
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      out.bytes += static_cast<char>((bits >> nbits) & 0xff);
    }
  }
  out.canonical = (bits & ((1u << nbits) - 1)) == 0;
  return out;
}

bool has_control_bytes(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char ch) {
    const auto u = static_cast<unsigned char>(ch);
    return u < 0x20 || u == 0x7f;
  });
}

bool valid_account(std::string_view account) {
  return !account.empty() && account.size() <= kMaxFieldLength && !has_control_bytes(account);
}

std::optional<std::string> normalized_recipient(std::string_view recipient) {
  auto parsed = parse_mailbox(recipient, MailboxOptions{.allow_null = false});
  if (!parsed) return std::nullopt;
  std::string key = parsed->lookup_key();
  if (key.size() < kMinRecipientLength || key.size() > kMaxFieldLength) return std::nullopt;
  return key;
}

std::array<unsigned char, kUnsubscribeMacLength> mac_of(std::string_view secret, std::string_view signed_bytes) {
  std::string input;
  input.reserve(kMacContext.size() + signed_bytes.size());
  input += kMacContext;
  input += signed_bytes;
  unsigned char full[EVP_MAX_MD_SIZE];
  unsigned int full_length = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(input.data()), input.size(), full, &full_length) == nullptr ||
      full_length < kUnsubscribeMacLength) {
    std::abort();  // HMAC-SHA256 over memory cannot fail unless OpenSSL is broken
  }
  std::array<unsigned char, kUnsubscribeMacLength> mac{};
  std::copy_n(full, mac.size(), mac.begin());
  return mac;
}

// The signed bytes of a token, split into their fields without checking
// the MAC yet.
struct Layout {
  std::string_view key_id;
  std::int64_t issued = 0;
  std::string_view account;
  std::string_view recipient;
  std::string_view signed_bytes;
  std::string_view mac;
};

Result<Layout> split_layout(std::string_view bytes) {
  const auto truncated = [] { return problem(Errc::kInvalidInput, "truncated", "shorter than its lengths say"); };
  Layout layout;
  std::size_t pos = 0;
  if (bytes.empty()) return truncated();
  const auto head = static_cast<unsigned char>(bytes[pos++]);
  if ((head >> 4) != kVersion) return problem(Errc::kInvalidInput, "malformed", "unknown token version");
  const std::size_t id_length = head & 0x0f;
  if (id_length == 0 || id_length > kMaxUnsubscribeKeyIdLength) {
    return problem(Errc::kInvalidInput, "malformed", "bad key id length");
  }
  if (bytes.size() < pos + id_length + kIssuedBytes + 1) return truncated();
  layout.key_id = bytes.substr(pos, id_length);
  pos += id_length;
  for (std::size_t i = 0; i < kIssuedBytes; ++i) {
    layout.issued = (layout.issued << 8) | static_cast<unsigned char>(bytes[pos++]);
  }
  const std::size_t account_length = static_cast<unsigned char>(bytes[pos++]);
  if (bytes.size() < pos + account_length + 1) return truncated();
  layout.account = bytes.substr(pos, account_length);
  pos += account_length;
  const std::size_t recipient_length = static_cast<unsigned char>(bytes[pos++]);
  if (bytes.size() < pos + recipient_length + kUnsubscribeMacLength) return truncated();
  if (bytes.size() > pos + recipient_length + kUnsubscribeMacLength) {
    return problem(Errc::kInvalidInput, "malformed", "bytes after the MAC");
  }
  layout.recipient = bytes.substr(pos, recipient_length);
  pos += recipient_length;
  layout.signed_bytes = bytes.substr(0, pos);
  layout.mac = bytes.substr(pos);
  return layout;
}

}  // namespace

bool is_unsubscribe_key_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxUnsubscribeKeyIdLength) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  });
}

std::string make_unsubscribe_token(const UnsubscribeKey& key, std::string_view account, std::string_view recipient,
                                   std::int64_t issued_unix_s) {
  if (!is_unsubscribe_key_id(key.id) || key.secret.size() < kMinUnsubscribeSecretLength) return {};
  if (!valid_account(account) || issued_unix_s < 0 || issued_unix_s > kMaxIssued) return {};
  const std::optional<std::string> rcpt = normalized_recipient(recipient);
  if (!rcpt) return {};

  std::string bytes;
  bytes.reserve(1 + key.id.size() + kIssuedBytes + 2 + account.size() + rcpt->size() + kUnsubscribeMacLength);
  bytes += static_cast<char>((kVersion << 4) | key.id.size());
  bytes += key.id;
  for (int shift = 8 * (kIssuedBytes - 1); shift >= 0; shift -= 8) {
    bytes += static_cast<char>((issued_unix_s >> shift) & 0xff);
  }
  bytes += static_cast<char>(account.size());
  bytes += account;
  bytes += static_cast<char>(rcpt->size());
  bytes += *rcpt;
  const auto mac = mac_of(key.secret, bytes);
  bytes.append(reinterpret_cast<const char*>(mac.data()), mac.size());
  return base64url_encode(bytes);
}

std::string_view unsubscribe_token_problem(const Error& error) {
  const std::string_view detail = error.detail;
  return detail.substr(0, detail.find(':'));
}

Result<UnsubscribeClaim> verify_unsubscribe_token(std::span<const UnsubscribeKey> keys, std::string_view token,
                                                  std::int64_t now_unix_s, std::chrono::seconds ttl) {
  if (token.size() > kMaxUnsubscribeTokenLength) {
    return problem(Errc::kTooLong, "too-long", std::to_string(token.size()) + " characters");
  }
  auto decoded = base64url_decode(token);
  if (!decoded) return std::move(decoded).error();
  auto layout = split_layout(decoded->bytes);
  if (!layout) return std::move(layout).error();
  if (!decoded->canonical) return problem(Errc::kInvalidInput, "malformed", "non-canonical base64url ending");

  const UnsubscribeKey* key = nullptr;
  for (const UnsubscribeKey& candidate : keys) {
    if (candidate.id == layout->key_id) {
      key = &candidate;
      break;
    }
  }
  if (key == nullptr) {
    // The id is not yet authenticated: say only whether it is well formed.
    const std::string id(layout->key_id);
    return problem(Errc::kNotFound, "unknown-key", is_unsubscribe_key_id(id) ? "key id " + id : "bad key id");
  }
  // A key too short to sign with never verifies either (config checks this
  // too; a short secret would make forgery easier).
  const auto mac = mac_of(key->secret, layout->signed_bytes);
  if (key->secret.size() < kMinUnsubscribeSecretLength ||
      CRYPTO_memcmp(mac.data(), layout->mac.data(), mac.size()) != 0) {
    return problem(Errc::kInvalidInput, "forged", "MAC mismatch under key " + key->id);
  }

  // Authentic from here on; the fields are still checked, as a key may
  // have signed with an older layout rule.
  const std::optional<std::string> recipient = normalized_recipient(layout->recipient);
  if (!valid_account(layout->account) || !recipient || *recipient != layout->recipient) {
    return problem(Errc::kInvalidInput, "malformed", "signed fields are not an account and an address");
  }
  if (layout->issued > now_unix_s + kUnsubscribeFutureSkewS) {
    return problem(Errc::kInvalidInput, "future", "issued " + std::to_string(layout->issued));
  }
  if (layout->issued + ttl.count() < now_unix_s) {
    return problem(Errc::kInvalidInput, "expired", "issued " + std::to_string(layout->issued));
  }
  return UnsubscribeClaim{std::string(layout->account), std::string(layout->recipient), layout->issued, key->id};
}

bool unsubscribe_mailto_fits(std::string_view mailto_local, std::string_view token) {
  return mailto_local.size() + 1 + token.size() <= kMaxLocalPartLength;
}

std::string unsubscribe_token_digest(std::string_view token) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(token.data(), token.size(), digest, &length, EVP_sha256(), nullptr) != 1) std::abort();
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0x0f];
  }
  return out;
}

}  // namespace sluice
