// RFC 5321 mailbox parsing; see address.h for the contract.
#include "common/address.h"

#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace sluice {
namespace {

// Error details name the problem and at most one offending byte in hex: the
// input is untrusted and may be logged, so it is never echoed.
Error invalid(std::string detail) { return make_error(Errc::kInvalidInput, std::move(detail)); }
Error too_long(std::string detail) { return make_error(Errc::kTooLong, std::move(detail)); }

std::string byte_detail(std::string_view what, unsigned char c, std::string_view where) {
  std::array<char, 8> hex{};
  std::snprintf(hex.data(), hex.size(), "0x%02x", static_cast<unsigned>(c));
  std::string out{what};
  out += ' ';
  out += hex.data();
  out += " in ";
  out += where;
  return out;
}

constexpr bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
constexpr unsigned char to_lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c; }

// RFC 5322 3.2.3 atext, extended by RFC 6531 3.3 with any UTF-8 non-ASCII
// byte (well-formedness is checked once, up front, by check_bytes).
constexpr bool is_atext(unsigned char c) {
  if (is_alpha(c) || is_digit(c) || c >= 0x80) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*':
    case '+': case '-': case '/': case '=': case '?': case '^': case '_':
    case '`': case '{': case '|': case '}': case '~':
      return true;
    default:
      return false;
  }
}

// RFC 5321 4.1.2 qtextSMTP (+ RFC 6531 UTF-8): printable ASCII except '"'
// and '\', which must be written as quoted-pairs.
constexpr bool is_qtext(unsigned char c) { return (c >= 32 && c <= 126 && c != '"' && c != '\\') || c >= 0x80; }

// Length of the well-formed UTF-8 sequence (RFC 3629 section 4) starting at
// s[i], whose first byte is >= 0x80; 0 when it is malformed, overlong, a
// surrogate or beyond U+10FFFF.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const auto lead = static_cast<unsigned char>(s[i]);
  std::size_t n = 0;
  std::uint32_t cp = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    n = 2;
    cp = lead & 0x1Fu;
  } else if ((lead & 0xF0u) == 0xE0u) {
    n = 3;
    cp = lead & 0x0Fu;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    n = 4;
    cp = lead & 0x07u;
  } else {
    return 0;
  }
  if (s.size() - i < n) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0u) != 0x80u) return 0;
    cp = (cp << 6) | (b & 0x3Fu);
  }
  if (n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
  if (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
  return n;
}

// Rejects control bytes (C0, DEL, and C1 code points) and malformed UTF-8
// anywhere in the input, so no later stage (log line, Redis key, header
// rewrite) can be handed CR/LF or NUL smuggled inside an address.
Status check_bytes(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) return invalid(byte_detail("control byte", c, "address"));
    if (c < 0x80) {
      ++i;
      continue;
    }
    const std::size_t n = utf8_sequence_length(s, i);
    if (n == 0) return invalid("malformed UTF-8 in address");
    // U+0080..U+009F (C1 controls) are encoded as C2 80..C2 9F.
    if (c == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0) {
      return invalid("C1 control character in address");
    }
    i += n;
  }
  return {};
}

// RFC 5321 4.1.2 Dot-string: atoms of atext joined by single dots.
bool is_dot_string(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  bool prev_dot = false;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '.') {
      if (prev_dot) return false;
      prev_dot = true;
    } else if (is_atext(c)) {
      prev_dot = false;
    } else {
      return false;
    }
  }
  return true;
}

// Length of the canonical spelling of a decoded local part (see encode_local).
std::size_t encoded_local_length(std::string_view local) {
  if (is_dot_string(local)) return local.size();
  std::size_t n = local.size() + 2;
  for (const char c : local) n += (c == '"' || c == '\\') ? 1 : 0;
  return n;
}

// Canonical spelling: unquoted when the value is a Dot-string, else a
// Quoted-string escaping only what RFC 5321 4.1.2 requires ('"' and '\').
void append_encoded_local(std::string& out, std::string_view local) {
  if (is_dot_string(local)) {
    out += local;
    return;
  }
  out += '"';
  for (const char c : local) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

// Parses an RFC 5321 Domain (not an address literal) into lowercase form.
// One trailing dot (an absolute name) is accepted and dropped.
Result<std::string> parse_domain_name(std::string_view d) {
  if (!d.empty() && d.back() == '.') d.remove_suffix(1);
  if (d.empty()) return invalid("missing domain");
  if (d.size() > kMaxDomainLength) return too_long("domain over 255 octets");
  std::string out;
  out.reserve(d.size());
  std::size_t label_start = 0;
  bool label_ascii = true;
  for (std::size_t i = 0; i <= d.size(); ++i) {
    if (i == d.size() || d[i] == '.') {
      const std::size_t len = i - label_start;
      if (len == 0) return invalid("empty label in domain");
      if (d[label_start] == '-' || d[i - 1] == '-') return invalid("domain label starts or ends with '-'");
      // RFC 1035 2.3.4 caps a label at 63 octets. A UTF-8 U-label is only
      // capped by the domain length: its A-label (what DNS sees) is shorter
      // than its UTF-8 bytes for most scripts, and we do not convert IDNs.
      if (label_ascii && len > 63) return too_long("domain label over 63 octets");
      if (i < d.size()) out += '.';
      label_start = i + 1;
      label_ascii = true;
      continue;
    }
    const auto c = static_cast<unsigned char>(d[i]);
    if (c >= 0x80) {
      label_ascii = false;
    } else if (!is_alpha(c) && !is_digit(c) && c != '-') {
      return invalid(byte_detail("invalid byte", c, "domain"));
    }
    out += static_cast<char>(to_lower(c));
  }
  return out;
}

// Parses an RFC 5321 4.1.3 address literal "[...]" (d includes the brackets).
// Only IPv4 and IPv6 literals are accepted: a General-address-literal has no
// meaning we could route or look up.
Result<std::string> parse_address_literal(std::string_view d) {
  if (d.size() < 2 || d.back() != ']') return invalid("unterminated address literal");
  std::string_view inner = d.substr(1, d.size() - 2);
  constexpr std::string_view kV6Tag = "ipv6:";
  bool v6 = inner.size() >= kV6Tag.size();
  for (std::size_t i = 0; v6 && i < kV6Tag.size(); ++i) {
    v6 = to_lower(static_cast<unsigned char>(inner[i])) == kV6Tag[i];
  }
  if (v6) inner.remove_prefix(kV6Tag.size());
  // inet_pton needs a NUL-terminated string; INET6_ADDRSTRLEN bounds both
  // families' text forms.
  std::array<char, INET6_ADDRSTRLEN> text{};
  if (inner.empty() || inner.size() >= text.size()) return invalid("invalid address literal");
  std::memcpy(text.data(), inner.data(), inner.size());
  std::array<unsigned char, sizeof(struct in6_addr)> bin{};
  if (inet_pton(v6 ? AF_INET6 : AF_INET, text.data(), bin.data()) != 1) {
    return invalid(v6 ? "invalid IPv6 address literal" : "invalid IPv4 address literal");
  }
  // Spell the tag one way and hex digits in lowercase so one literal has one
  // lookup key; the address itself is kept as written (not re-compressed).
  std::string out = v6 ? "[IPv6:" : "[";
  for (const char c : inner) out += static_cast<char>(to_lower(static_cast<unsigned char>(c)));
  out += ']';
  return out;
}

// Decodes a local part at the start of s (Dot-string or Quoted-string) and
// returns it with the offset of the '@' that must follow it.
struct LocalPart {
  std::string value;
  std::size_t at = 0;
};

Result<LocalPart> parse_local_part(std::string_view s) {
  LocalPart lp;
  if (!s.empty() && s.front() == '"') {
    std::size_t i = 1;
    for (;;) {
      if (i >= s.size()) return invalid("unterminated quoted local part");
      const auto c = static_cast<unsigned char>(s[i]);
      if (c == '"') break;
      if (c == '\\') {
        // RFC 5321 4.1.2 quoted-pairSMTP: '\' then one printable ASCII byte.
        if (i + 1 >= s.size()) return invalid("unterminated quoted local part");
        const auto e = static_cast<unsigned char>(s[i + 1]);
        if (e < 32 || e > 126) return invalid(byte_detail("invalid escaped byte", e, "local part"));
        lp.value += static_cast<char>(e);
        i += 2;
        continue;
      }
      if (!is_qtext(c)) return invalid(byte_detail("invalid byte", c, "quoted local part"));
      lp.value += static_cast<char>(c);
      ++i;
    }
    lp.at = i + 1;
    if (lp.at >= s.size() || s[lp.at] != '@') return invalid("missing '@' after quoted local part");
  } else {
    const std::size_t at = s.find('@');
    if (at == std::string_view::npos) return invalid("missing '@' in mailbox");
    const std::string_view raw = s.substr(0, at);
    if (raw.empty()) return invalid("empty local part");
    if (!is_dot_string(raw)) {
      for (const char ch : raw) {
        const auto c = static_cast<unsigned char>(ch);
        if (c != '.' && !is_atext(c)) return invalid(byte_detail("invalid byte", c, "local part"));
      }
      return invalid("leading, trailing or double dot in local part");
    }
    lp.value.assign(raw);
    lp.at = at;
  }
  // An empty quoted local part ("\"\"@example.com") is legal RFC 5321 syntax
  // but names no real mailbox, and its lookup key "@example.com" would read
  // like a domain-wide entry; refuse it.
  if (lp.value.empty()) return invalid("empty local part");
  return lp;
}

// Parses RFC 5321 Mailbox = Local-part "@" ( Domain / address-literal ).
Result<Mailbox> parse_bare_mailbox(std::string_view s) {
  if (s.empty()) return invalid("empty mailbox");
  auto lp = parse_local_part(s);
  if (!lp) return std::move(lp).error();
  if (encoded_local_length(lp->value) > kMaxLocalPartLength) return too_long("local part over 64 octets");
  const std::string_view d = s.substr(lp->at + 1);
  if (d.empty()) return invalid("missing domain");
  auto domain = d.front() == '[' ? parse_address_literal(d) : parse_domain_name(d);
  if (!domain) return std::move(domain).error();
  if (domain->size() > kMaxDomainLength) return too_long("domain over 255 octets");
  return Mailbox{std::move(lp->value), std::move(domain).value()};
}

// Skips an RFC 5321 4.1.2 source route (A-d-l ":", "@a,@b:") at the start of
// a path, checking each hop's syntax. RFC 5321 C says receivers must accept
// and ignore it; we keep only the final mailbox.
Result<std::size_t> skip_source_route(std::string_view path) {
  const std::size_t colon = path.find(':');
  if (colon == std::string_view::npos) return invalid("source route without ':'");
  std::string_view route = path.substr(0, colon);
  while (true) {
    if (route.empty() || route.front() != '@') return invalid("source route hop without '@'");
    const std::size_t comma = route.find(',');
    const std::string_view hop = route.substr(1, comma == std::string_view::npos ? route.npos : comma - 1);
    // RFC 5321 At-domain is a Domain; a trailing dot there is not allowed.
    if (!hop.empty() && hop.back() == '.') return invalid("empty label in source route");
    auto d = parse_domain_name(hop);
    if (!d) return std::move(d).error();
    if (comma == std::string_view::npos) break;
    route.remove_prefix(comma + 1);
  }
  return colon + 1;
}

constexpr bool is_wsp(char c) { return c == ' ' || c == '\t'; }

}  // namespace

std::string Mailbox::str() const {
  if (is_null()) return {};
  std::string out;
  out.reserve(local.size() + domain.size() + 3);
  append_encoded_local(out, local);
  out += '@';
  out += domain;
  return out;
}

// Receivers treat local parts case-insensitively in practice (RFC 5321 2.4
// allows case-sensitivity, but virtually no MTA uses it), so a bounce for
// John@example.com must suppress later mail to john@example.com. The domain
// is already lowercase.
std::string Mailbox::lookup_key() const {
  std::string key = str();
  if (key.empty()) return key;
  const std::size_t at = key.size() - domain.size() - 1;  // the '@' after the local part
  for (std::size_t i = 0; i < at; ++i) {
    key[i] = static_cast<char>(to_lower(static_cast<unsigned char>(key[i])));
  }
  return key;
}

Result<Mailbox> parse_mailbox(std::string_view text, MailboxOptions opts) {
  if (text.size() > kMaxMailboxInputLength) return too_long("address input over 1024 bytes");
  while (!text.empty() && is_wsp(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_wsp(text.back())) text.remove_suffix(1);
  if (auto st = check_bytes(text); !st) return st.error();

  std::string_view path = text;
  const bool bracketed = !path.empty() && path.front() == '<';
  if (bracketed) {
    if (path.size() < 2 || path.back() != '>') return invalid("unterminated '<'");
    path = path.substr(1, path.size() - 2);
  } else if (!path.empty() && path.back() == '>') {
    return invalid("'>' without '<'");
  }

  if (path.empty()) {
    if (!opts.allow_null) return invalid("null sender not allowed");
    return Mailbox{};
  }
  // RFC 5321 4.5.3.1.3 counts the whole path, brackets and source route
  // included; canonical output is never longer than its input.
  if (path.size() + 2 > kMaxPathLength) return too_long("path over 256 octets");

  if (path.front() == '@') {
    if (!bracketed) return invalid("source route outside '<>'");
    auto skip = skip_source_route(path);
    if (!skip) return std::move(skip).error();
    path.remove_prefix(*skip);
  }
  return parse_bare_mailbox(path);
}

}  // namespace sluice
