#include "milter/dkim_signer.h"
#include "milter/openssl_error.h"
#include "common/ascii.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <algorithm>
#include <ctime>
#include <utility>

namespace sluice::milter {
namespace {

constexpr std::size_t kMaxLine = 78;                // RFC 5322 2.1.1 SHOULD
constexpr std::size_t kFieldNameWidth = 15;         // "DKIM-Signature:"
constexpr std::string_view kFold = "\r\n\t";

bool is_wsp(char c) { return c == ' ' || c == '\t'; }


// Field name for matching: trailing WSP dropped ("Subject :"), case folded.
std::string match_name(std::string_view name) {
  while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);
  return ascii_lower(name);
}

// Letters, digits, '-', '_' in dot-separated non-empty labels (d=, s=).
bool valid_dns_name(std::string_view s) {
  if (s.empty() || s.size() > 253 || s.front() == '.' || s.back() == '.') return false;
  char prev = '\0';
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.';
    if (!ok || (c == '.' && prev == '.')) return false;
    prev = c;
  }
  return true;
}

// RFC 5322 ftext (printable ASCII but ':'), and no ';' that would end h=.
bool valid_header_name(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 32 && c < 127 && c != ':' && c != ';'; });
}

// dkim-quoted-printable (RFC 6376 2.11) for the i= local part: everything
// outside printable ASCII, and ';' '=' which would break the tag list.
std::string dkim_quoted_printable(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c > 32 && c < 127 && c != ';' && c != '=') {
      out.push_back(ch);
    } else {
      out.push_back('=');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// Builds a folded tag list: each tag goes on the current line if it fits in
// 78 columns, else on a new line opened by CRLF TAB.
class Folder {
 public:
  Folder() : col_(kFieldNameWidth) {}

  void tag(std::string_view text) {
    if (col_ + 1 + text.size() > kMaxLine && col_ > 1) {
      out_.append(kFold);
      col_ = 1;
    } else {
      out_.push_back(' ');
      ++col_;
    }
    out_.append(text);
    col_ += text.size();
  }

  // "h=a:b:c;": folds between names (FWS is allowed around ':', 3.5 h=).
  void name_list(std::string_view tag_name, const std::vector<std::string>& names) {
    std::string first = std::string(tag_name) + "=" + names.front() + (names.size() == 1 ? ";" : ":");
    tag(first);
    for (std::size_t i = 1; i < names.size(); ++i) {
      const std::string piece = names[i] + (i + 1 == names.size() ? ";" : ":");
      if (col_ + piece.size() > kMaxLine) {
        out_.append(kFold);
        col_ = 1;
      }
      out_.append(piece);
      col_ += piece.size();
    }
  }

  // Appends base64 after "b=", filling lines to 78 columns (whitespace in b=
  // is ignored by verifiers, 3.5).
  static void append_folded_base64(std::string& out, std::size_t col, std::string_view b64) {
    while (!b64.empty()) {
      if (col >= kMaxLine) {
        out.append(kFold);
        col = 1;
      }
      const std::size_t take = std::min(b64.size(), kMaxLine - col);
      out.append(b64.substr(0, take));
      col += take;
      b64.remove_prefix(take);
    }
  }

  std::string& text() { return out_; }
  std::size_t column() const { return col_; }

 private:
  std::string out_;
  std::size_t col_;
};

}  // namespace

Status validate_sign_options(const DkimSignOptions& options) {
  if (!options.key) return make_error(Errc::kConfig, "dkim: no key");
  if (!valid_dns_name(options.domain)) return make_error(Errc::kConfig, "dkim: invalid d= domain");
  if (!valid_dns_name(options.selector)) return make_error(Errc::kConfig, "dkim: invalid s= selector");
  for (const auto* list : {&options.signed_headers, &options.oversigned_headers}) {
    for (const std::string& name : *list) {
      if (!valid_header_name(name)) return make_error(Errc::kConfig, "dkim: invalid header name in the signed list");
    }
  }
  if (options.timestamp < 0 || options.expire_after_seconds < 0) {
    return make_error(Errc::kConfig, "dkim: negative timestamp or expiry");
  }
  if (!options.identity.empty()) {
    const auto at = options.identity.rfind('@');
    if (at == std::string::npos) return make_error(Errc::kConfig, "dkim: i= must contain '@'");
    const std::string_view domain = std::string_view(options.identity).substr(at + 1);
    const std::string_view d = options.domain;
    const bool same = ascii_iequals(domain, d);
    const bool sub = domain.size() > d.size() && ascii_iequals(domain.substr(domain.size() - d.size()), d) &&
                     domain[domain.size() - d.size() - 1] == '.';
    if (!valid_dns_name(domain) || !(same || sub)) {
      return make_error(Errc::kConfig, "dkim: the i= domain must be d= or a subdomain of it (RFC 6376 3.5)");
    }
  }
  return {};
}

std::vector<std::string> dkim_signed_header_names(std::span<const DkimHeader> headers,
                                                  const DkimSignOptions& options) {
  std::vector<std::string> lowered;
  lowered.reserve(headers.size());
  for (const DkimHeader& h : headers) lowered.push_back(match_name(h.name));
  const auto count = [&](const std::string& lc) {
    return static_cast<std::size_t>(std::count(lowered.begin(), lowered.end(), lc));
  };
  std::vector<std::string> oversigned;
  for (const std::string& n : options.oversigned_headers) oversigned.push_back(ascii_lower(n));
  const auto is_oversigned = [&](const std::string& lc) {
    return lc == "from" || std::find(oversigned.begin(), oversigned.end(), lc) != oversigned.end();
  };

  std::vector<std::string> names;
  std::vector<std::string> seen;
  const auto add = [&](const std::string& spelled) {
    const std::string lc = ascii_lower(spelled);
    if (std::find(seen.begin(), seen.end(), lc) != seen.end()) return;
    seen.push_back(lc);
    const std::size_t times = count(lc) + (is_oversigned(lc) ? 1 : 0);
    for (std::size_t i = 0; i < times; ++i) names.push_back(spelled);
  };
  for (const std::string& n : options.signed_headers) add(n);
  for (const std::string& n : options.oversigned_headers) add(n);
  add("From");  // RFC 6376 5.4: From MUST be signed; DESIGN: and oversigned
  return names;
}

std::string dkim_header_hash_input(Canon canon, std::span<const DkimHeader> headers,
                                   std::span<const std::string> h_names) {
  std::vector<std::string> lowered;
  lowered.reserve(headers.size());
  for (const DkimHeader& h : headers) lowered.push_back(match_name(h.name));
  std::vector<bool> used(headers.size(), false);
  std::string out;
  for (const std::string& name : h_names) {
    const std::string lc = match_name(name);
    for (std::size_t i = headers.size(); i-- > 0;) {  // 5.4.2: bottom-up
      if (!used[i] && lowered[i] == lc) {
        used[i] = true;
        append_canonical_header(canon, headers[i].name, headers[i].value, out);
        break;
      }
    }
  }
  return out;
}

Result<std::string> dkim_sign_data(const DkimKey& key, std::string_view data) {
  EvpMdCtxPtr ctx{EVP_MD_CTX_new()};
  if (!ctx) return make_error(Errc::kInternal, "dkim: out of memory");
  const auto* input = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t input_len = data.size();
  const EVP_MD* md = dkim_sha256();
  unsigned char digest[EVP_MAX_MD_SIZE];
  if (key.algorithm() == DkimAlgorithm::kEd25519Sha256) {
    // RFC 8463 3: Ed25519 (PureEdDSA) signs the SHA-256 hash, not the data.
    unsigned int digest_len = 0;
    if (EVP_Digest(data.data(), data.size(), digest, &digest_len, md, nullptr) != 1) {
      return make_error(Errc::kInternal, "dkim: sha256: " + openssl_error());
    }
    input = digest;
    input_len = digest_len;
    md = nullptr;  // Ed25519 takes no digest parameter
  }
  std::size_t sig_len = 0;
  if (EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key.pkey()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &sig_len, input, input_len) != 1) {
    return make_error(Errc::kInternal, "dkim: sign init: " + openssl_error());
  }
  std::string sig(sig_len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &sig_len, input, input_len) != 1) {
    return make_error(Errc::kInternal, "dkim: sign: " + openssl_error());
  }
  sig.resize(sig_len);
  return sig;
}

DkimSigner::DkimSigner(DkimSignOptions options) : options_(std::move(options)), body_(options_.body_canon) {}

void DkimSigner::body(std::string_view chunk) {
  if (!finished_) body_.update(chunk);
}

Result<std::string> DkimSigner::finish(std::span<const DkimHeader> headers) {
  if (finished_) return make_error(Errc::kInternal, "dkim: finish() called twice");
  finished_ = true;
  if (Status s = validate_sign_options(options_); !s) return s.error();

  std::size_t from_count = 0;
  for (const DkimHeader& h : headers) from_count += match_name(h.name) == "from" ? 1 : 0;
  if (from_count != 1) {
    return make_error(Errc::kInvalidInput, from_count == 0 ? "dkim: message has no From header; not signed"
                                                           : "dkim: message has " + std::to_string(from_count) +
                                                                 " From headers; not signed");
  }
  const std::vector<std::string> h_names = dkim_signed_header_names(headers, options_);
  if (h_names.size() > kMaxSignedHeaderInstances) {
    return make_error(Errc::kTooLong, "dkim: message has more than " + std::to_string(kMaxSignedHeaderInstances) +
                                          " signed header fields; not signed");
  }

  const std::string body_hash = base64_encode(body_.finish());
  const std::int64_t t = options_.timestamp != 0 ? options_.timestamp : static_cast<std::int64_t>(std::time(nullptr));

  Folder f;
  f.tag("v=1;");
  f.tag("a=" + std::string(dkim_algorithm_name(options_.key->algorithm())) + ";");
  f.tag("c=" + std::string(canon_name(options_.header_canon)) + "/" + std::string(canon_name(options_.body_canon)) +
        ";");
  f.tag("d=" + options_.domain + ";");
  f.tag("s=" + options_.selector + ";");
  f.tag("t=" + std::to_string(t) + ";");
  if (options_.expire_after_seconds > 0) f.tag("x=" + std::to_string(t + options_.expire_after_seconds) + ";");
  if (!options_.identity.empty()) {
    const auto at = options_.identity.rfind('@');
    f.tag("i=" + dkim_quoted_printable(std::string_view(options_.identity).substr(0, at)) +
          options_.identity.substr(at) + ";");
  }
  f.name_list("h", h_names);
  f.tag("bh=" + body_hash + ";");
  f.tag("b=");
  std::string value = std::move(f.text());
  const std::size_t b_column = f.column();

  // RFC 6376 3.7: the signed headers, then this header with b= empty and no
  // trailing CRLF, all in the header canonicalisation.
  std::string input = dkim_header_hash_input(options_.header_canon, headers, h_names);
  append_canonical_header(options_.header_canon, "DKIM-Signature", value, input);
  input.resize(input.size() - 2);

  auto sig = dkim_sign_data(*options_.key, input);
  if (!sig) return std::move(sig).error();
  Folder::append_folded_base64(value, b_column, base64_encode(*sig));
  return value;
}

Result<SplitMessage> split_message(std::string_view message) {
  SplitMessage out;
  std::size_t pos = 0;
  while (pos < message.size()) {
    std::size_t eol = message.find('\n', pos);
    const std::size_t next = eol == std::string_view::npos ? message.size() : eol + 1;
    std::size_t line_end = eol == std::string_view::npos ? message.size() : eol;
    if (line_end > pos && message[line_end - 1] == '\r') --line_end;
    const std::string_view line = message.substr(pos, line_end - pos);
    if (line.empty()) {
      out.body = message.substr(next);
      return out;
    }
    if (is_wsp(line.front())) {
      if (out.headers.empty()) return make_error(Errc::kInvalidInput, "message starts with a continuation line");
      out.headers.back().value.append("\r\n").append(line);
    } else {
      const auto colon = line.find(':');
      if (colon == std::string_view::npos || colon == 0) {
        return make_error(Errc::kInvalidInput, "header line without a field name and colon");
      }
      out.headers.push_back(DkimHeader{std::string(line.substr(0, colon)), std::string(line.substr(colon + 1))});
    }
    pos = next;
  }
  out.body = message.substr(message.size());
  return out;
}

Result<std::string> sign_message(std::string_view whole_message, const DkimSignOptions& options) {
  auto split = split_message(whole_message);
  if (!split) return std::move(split).error();
  DkimSigner signer(options);
  signer.body(split->body);
  return signer.finish(split->headers);
}

}  // namespace sluice::milter
