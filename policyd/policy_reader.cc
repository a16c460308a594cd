// PolicyReader: see policy_reader.h. Line framing, limits and attribute
// decoding of the Postfix policy protocol (SMTPD_POLICY_README, "Protocol
// description").
#include "policyd/policy_reader.h"

#include <array>
#include <charconv>
#include <cstring>
#include <limits>
#include <utility>

#include "common/log.h"
#include "policyd/policy_attr.h"

namespace sluice::policyd {
namespace {

namespace attr = policy_attr;

// How a known attribute's value is stored.
enum class Kind { kRequest, kState, kString, kCount, kSize, kPort };

struct AttrSpec {
  std::string_view name;
  Kind kind;
  std::string PolicyRequest::*str = nullptr;
  std::uint32_t PolicyRequest::*count = nullptr;
  std::optional<std::uint16_t> PolicyRequest::*port = nullptr;
};

using R = PolicyRequest;

// In the order Postfix 3.8's smtpd_check.c sends them, so that the lookup,
// which starts after the previous match, usually hits on its first compare.
constexpr std::array kAttrs = {
    AttrSpec{attr::kRequest, Kind::kRequest},
    AttrSpec{attr::kProtocolState, Kind::kState},
    AttrSpec{attr::kProtocolName, Kind::kString, &R::protocol_name},
    AttrSpec{attr::kClientAddress, Kind::kString, &R::client_address},
    AttrSpec{attr::kClientName, Kind::kString, &R::client_name},
    AttrSpec{attr::kClientPort, Kind::kPort, nullptr, nullptr, &R::client_port},
    AttrSpec{attr::kReverseClientName, Kind::kString, &R::reverse_client_name},
    AttrSpec{attr::kServerAddress, Kind::kString, &R::server_address},
    AttrSpec{attr::kServerPort, Kind::kPort, nullptr, nullptr, &R::server_port},
    AttrSpec{attr::kHeloName, Kind::kString, &R::helo_name},
    AttrSpec{attr::kSender, Kind::kString, &R::sender},
    AttrSpec{attr::kRecipient, Kind::kString, &R::recipient},
    AttrSpec{attr::kRecipientCount, Kind::kCount, nullptr, &R::recipient_count},
    AttrSpec{attr::kQueueId, Kind::kString, &R::queue_id},
    AttrSpec{attr::kInstance, Kind::kString, &R::instance},
    AttrSpec{attr::kSize, Kind::kSize},
    AttrSpec{attr::kEtrnDomain, Kind::kString, &R::etrn_domain},
    AttrSpec{attr::kStress, Kind::kString, &R::stress},
    AttrSpec{attr::kSaslMethod, Kind::kString, &R::sasl_method},
    AttrSpec{attr::kSaslUsername, Kind::kString, &R::sasl_username},
    AttrSpec{attr::kSaslSender, Kind::kString, &R::sasl_sender},
    AttrSpec{attr::kCcertSubject, Kind::kString, &R::ccert_subject},
    AttrSpec{attr::kCcertIssuer, Kind::kString, &R::ccert_issuer},
    AttrSpec{attr::kCcertFingerprint, Kind::kString, &R::ccert_fingerprint},
    AttrSpec{attr::kCcertPubkeyFingerprint, Kind::kString, &R::ccert_pubkey_fingerprint},
    AttrSpec{attr::kEncryptionProtocol, Kind::kString, &R::encryption_protocol},
    AttrSpec{attr::kEncryptionCipher, Kind::kString, &R::encryption_cipher},
    AttrSpec{attr::kEncryptionKeysize, Kind::kCount, nullptr, &R::encryption_keysize},
    AttrSpec{attr::kPolicyContext, Kind::kString, &R::policy_context},
    AttrSpec{attr::kCompatibilityLevel, Kind::kString, &R::compatibility_level},
    AttrSpec{attr::kMailVersion, Kind::kString, &R::mail_version},
};
static_assert(kAttrs.size() <= 64, "seen_ has one bit per known attribute");
constexpr std::size_t kRequestIndex = 0;

// Reads a buffer never longer than this once it is empty again: one huge
// feed must not pin its memory for the connection's lifetime.
constexpr std::size_t kKeepCapacityFactor = 4;

// Input quoted in an error detail: escaped and cut to kMaxQuotedInput bytes.
std::string quote(std::string_view untrusted) {
  return "\"" + log_escape(untrusted, kMaxQuotedInput) + "\"";
}

// Bytes allowed in an attribute name: Postfix uses [a-z0-9_]; we also take
// upper case, '-' and '.' so that a future or foreign name is merely unknown.
constexpr std::array<bool, 256> kNameByte = [] {
  std::array<bool, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  t['_'] = t['-'] = t['.'] = true;
  return t;
}();

// Strict unsigned decimal: digits only (no sign, space or hex), no overflow.
template <class T>
std::optional<T> parse_decimal(std::string_view text) {
  if (text.empty()) return std::nullopt;
  T value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value, 10);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

Error invalid(std::string detail) { return make_error(Errc::kInvalidInput, std::move(detail)); }

}  // namespace

ProtocolState parse_protocol_state(std::string_view text) {
  static constexpr std::pair<std::string_view, ProtocolState> kStates[] = {
      {"RCPT", ProtocolState::kRcpt},
      {"END-OF-MESSAGE", ProtocolState::kEndOfMessage},
      {"DATA", ProtocolState::kData},
      {"MAIL", ProtocolState::kMail},
      {"CONNECT", ProtocolState::kConnect},
      {"EHLO", ProtocolState::kEhlo},
      {"HELO", ProtocolState::kHelo},
      {"VRFY", ProtocolState::kVrfy},
      {"ETRN", ProtocolState::kEtrn},
  };
  for (const auto& [name, state] : kStates) {
    if (name.size() != text.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < name.size() && same; ++i) {
      char c = text[i];
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
      same = c == name[i];
    }
    if (same) return state;
  }
  return ProtocolState::kOther;
}

std::string_view protocol_state_name(ProtocolState state) {
  switch (state) {
    case ProtocolState::kConnect: return "CONNECT";
    case ProtocolState::kEhlo: return "EHLO";
    case ProtocolState::kHelo: return "HELO";
    case ProtocolState::kMail: return "MAIL";
    case ProtocolState::kRcpt: return "RCPT";
    case ProtocolState::kData: return "DATA";
    case ProtocolState::kEndOfMessage: return "END-OF-MESSAGE";
    case ProtocolState::kVrfy: return "VRFY";
    case ProtocolState::kEtrn: return "ETRN";
    case ProtocolState::kOther: break;
  }
  return "other";
}

PolicyReader::PolicyReader(PolicyLimits limits) : limits_(limits) {}

void PolicyReader::feed(std::string_view bytes) {
  if (failed_) return;
  if (pos_ == buf_.size()) {
    if (buf_.capacity() > kKeepCapacityFactor * limits_.max_request_bytes) {
      std::string().swap(buf_);
    } else {
      buf_.clear();
    }
    pos_ = scan_ = 0;
  } else if (pos_ > 0) {
    // Keep only the unconsumed tail (a partial request, bounded by the
    // limits), so the buffer never grows with the connection's history.
    buf_.erase(0, pos_);
    scan_ -= pos_;
    pos_ = 0;
  }
  buf_.append(bytes);
}

Result<std::optional<PolicyRequest>> PolicyReader::next() {
  if (failed_) return *failed_;
  for (;;) {
    const char* base = buf_.data();
    const void* lf = std::memchr(base + scan_, '\n', buf_.size() - scan_);
    if (lf == nullptr) {
      scan_ = buf_.size();
      if (Status st = check_line_limits(buf_.size() - pos_); !st.ok()) return fail(st.error());
      return std::optional<PolicyRequest>();
    }
    const std::size_t end = static_cast<std::size_t>(static_cast<const char*>(lf) - base);
    std::string_view line(base + pos_, end - pos_);
    pos_ = scan_ = end + 1;
    if (Status st = check_line_limits(line.size()); !st.ok()) return fail(st.error());
    request_bytes_ += line.size() + 1;
    if (request_bytes_ > limits_.max_request_bytes) return fail(request_too_long());
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) return finish_request();
    if (Status st = take_line(line); !st.ok()) return fail(st.error());
  }
}

// The byte that breaks a limit decides which error we report, so the
// answer does not depend on how the input was split across feeds: a line of
// |length| bytes (no LF yet, or LF excluded) breaks the line cap at byte
// max_line_bytes + 1 and the request cap at the byte that makes the request
// max_request_bytes + 1 long; the earlier one wins.
Status PolicyReader::check_line_limits(std::size_t length) const {
  const std::size_t line_break = limits_.max_line_bytes + 1;
  const std::size_t request_break =
      limits_.max_request_bytes >= request_bytes_ ? limits_.max_request_bytes - request_bytes_ + 1 : 0;
  if (length >= line_break && line_break <= request_break) {
    return make_error(Errc::kTooLong, "line longer than " + std::to_string(limits_.max_line_bytes) + " bytes");
  }
  if (length >= request_break) return request_too_long();
  return {};
}

Error PolicyReader::request_too_long() const {
  return make_error(Errc::kTooLong,
                    "request longer than " + std::to_string(limits_.max_request_bytes) + " bytes");
}

Status PolicyReader::take_line(std::string_view line) {
  if (++attributes_ > limits_.max_attributes) {
    return make_error(Errc::kTooLong, "more than " + std::to_string(limits_.max_attributes) +
                                          " attributes in one request");
  }
  // One pass over the name: find '=' and check each byte on the way.
  std::size_t eq = 0;
  while (eq < line.size() && kNameByte[static_cast<unsigned char>(line[eq])]) ++eq;
  if (eq == line.size()) return invalid("attribute without '=': " + quote(line));
  const std::string_view name = line.substr(0, eq);
  if (line[eq] != '=') {
    if (line.find('=', eq) == std::string_view::npos) return invalid("attribute without '=': " + quote(line));
    return invalid("bad byte in attribute name " + quote(line.substr(0, line.find('='))));
  }
  const std::string_view value = line.substr(eq + 1);
  if (name.empty()) return invalid("attribute with an empty name");
  if (name.size() > kMaxAttributeName) {
    return invalid("attribute name longer than " + std::to_string(kMaxAttributeName) +
                   " bytes: " + quote(name));
  }
  // LF cannot occur (it ends the line); NUL and CR must not.
  for (const char c : value) {
    if (c == '\0') return invalid("NUL byte in attribute " + quote(name));
    if (c == '\r') return invalid("CR inside attribute " + quote(name));
  }

  // Postfix sends attributes in a fixed order: start after the last match.
  for (std::size_t i = 0; i < kAttrs.size(); ++i) {
    std::size_t index = hint_ + i;
    if (index >= kAttrs.size()) index -= kAttrs.size();
    if (kAttrs[index].name == name) {
      hint_ = index + 1 == kAttrs.size() ? 0 : index + 1;
      return take_attribute(index, name, value);
    }
  }

  // Unknown: ignored, counted, but still never twice (Postfix sends no
  // duplicates; a repeat means we are not talking to Postfix).
  for (std::size_t at = 0; at < unknown_seen_.size();) {
    std::size_t stop = unknown_seen_.find('\0', at);
    if (std::string_view(unknown_seen_).substr(at, stop - at) == name) {
      return invalid("attribute " + quote(name) + " given twice");
    }
    at = stop + 1;
  }
  unknown_seen_.append(name);
  unknown_seen_.push_back('\0');
  ++cur_.unknown_attributes;
  return {};
}

Status PolicyReader::take_attribute(std::size_t index, std::string_view name, std::string_view value) {
  const std::uint64_t bit = std::uint64_t{1} << index;
  if ((seen_ & bit) != 0) return invalid("attribute " + quote(name) + " given twice");
  seen_ |= bit;
  const AttrSpec& spec = kAttrs[index];
  switch (spec.kind) {
    case Kind::kRequest:
      if (value != policy_attr::kRequestSmtpdAccessPolicy) return invalid("unsupported request " + quote(value));
      return {};
    case Kind::kState:
      cur_.protocol_state = parse_protocol_state(value);
      return {};
    case Kind::kString:
      (cur_.*spec.str).assign(value);
      return {};
    case Kind::kCount:
      if (auto n = parse_decimal<std::uint32_t>(value)) {
        cur_.*spec.count = *n;
        return {};
      }
      break;
    case Kind::kSize:
      if (auto n = parse_decimal<std::uint64_t>(value)) {
        cur_.size = *n;
        return {};
      }
      break;
    case Kind::kPort:
      if (value.empty() || value == policy_attr::kPortUnknown) {
        cur_.*spec.port = std::nullopt;
        return {};
      }
      if (auto n = parse_decimal<std::uint16_t>(value)) {
        cur_.*spec.port = *n;
        return {};
      }
      break;
  }
  return invalid("attribute " + quote(name) + " is not a number: " + quote(value));
}

Result<std::optional<PolicyRequest>> PolicyReader::finish_request() {
  if ((seen_ & (std::uint64_t{1} << kRequestIndex)) == 0) {
    return fail(invalid(attributes_ == 0 ? "empty request" : "request without request=smtpd_access_policy"));
  }
  cur_.attribute_count = static_cast<std::uint32_t>(attributes_);
  std::optional<PolicyRequest> done(std::move(cur_));
  reset_request();
  return done;
}

void PolicyReader::reset_request() {
  cur_ = PolicyRequest();
  request_bytes_ = 0;
  attributes_ = 0;
  hint_ = 0;
  seen_ = 0;
  unknown_seen_.clear();
}

Error PolicyReader::fail(Error error) {
  failed_ = error;
  std::string().swap(buf_);
  pos_ = scan_ = 0;
  reset_request();
  return error;
}

}  // namespace sluice::policyd
