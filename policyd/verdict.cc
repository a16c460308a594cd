// Verdict rendering: see verdict.h. Reply syntax from SMTPD_POLICY_README and
// access(5); reply codes RFC 5321 4.2, enhanced status codes RFC 3463.
#include "policyd/verdict.h"

#include <utility>

#include "policyd/policy_attr.h"

namespace sluice::policyd {
namespace {

constexpr std::string_view kDefaultTempText = "Service temporarily unavailable";
constexpr std::string_view kDefaultRejectText = "Rejected by policy";
constexpr std::string_view kDefaultWarnText = "policy warning";
// A PREPEND whose header sanitised to nothing would make Postfix log a
// "bad header" warning; a harmless header instead.
constexpr std::string_view kDefaultPrependText = "X-Sluice-Policy: empty";

Verdict make(Verdict::Kind kind, int code, std::string_view enhanced, std::string_view text) {
  Verdict v;
  v.kind = kind;
  v.smtp_code = code;
  v.enhanced_code.assign(enhanced);
  v.text.assign(text);
  return v;
}

bool is_digits(std::string_view s) {
  if (s.empty() || s.size() > 3) return false;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// RFC 3463 2: class "." subject "." detail, 1-3 digits each. Writes the code
// with its class forced to |cls|, or |fallback| if the syntax is wrong.
void append_enhanced(std::string_view code, char cls, std::string_view fallback, std::string& out) {
  const std::size_t dot1 = code.find('.');
  const std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : code.find('.', dot1 + 1);
  const bool valid = dot1 == 1 && dot2 != std::string_view::npos && (code[0] == '4' || code[0] == '5') &&
                     is_digits(code.substr(dot1 + 1, dot2 - dot1 - 1)) && is_digits(code.substr(dot2 + 1));
  if (!valid) code = fallback;
  out += cls;
  out.append(code.substr(1));
}

bool is_blank(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u <= 0x20 || u == 0x7f;  // space, or a control byte that renders as one
}

// Appends |text| with control bytes as spaces and non-ASCII bytes as '?'
// (SMTP replies are ASCII; Postfix's printable() does the same), without
// leading or trailing blanks, cut to |room| bytes; |fallback| when nothing
// visible would remain.
void append_text(std::string_view text, std::string_view fallback, std::size_t room, std::string& out) {
  while (!text.empty() && is_blank(text.front())) text.remove_prefix(1);
  if (text.empty()) text = fallback;
  if (text.size() > room) text = text.substr(0, room);
  while (!text.empty() && is_blank(text.back())) text.remove_suffix(1);
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      out += ' ';
    } else if (u >= 0x80) {
      out += '?';
    } else {
      out += c;
    }
  }
}

void append_code(int code, std::string& out) {
  out += static_cast<char>('0' + code / 100);
  out += static_cast<char>('0' + code / 10 % 10);
  out += static_cast<char>('0' + code % 10);
}

}  // namespace

Verdict verdict_dunno() { return Verdict{}; }
Verdict verdict_ok() { return make(Verdict::Kind::kOk, 0, {}, {}); }
Verdict verdict_defer(std::string_view enhanced_code, std::string_view text, int smtp_code) {
  return make(Verdict::Kind::kDefer, smtp_code, enhanced_code, text);
}
Verdict verdict_reject(std::string_view enhanced_code, std::string_view text, int smtp_code) {
  return make(Verdict::Kind::kReject, smtp_code, enhanced_code, text);
}
Verdict verdict_defer_if_permit(std::string_view enhanced_code, std::string_view text) {
  return make(Verdict::Kind::kDeferIfPermit, 0, enhanced_code, text);
}
Verdict verdict_defer_if_reject(std::string_view enhanced_code, std::string_view text) {
  return make(Verdict::Kind::kDeferIfReject, 0, enhanced_code, text);
}
Verdict verdict_warn(std::string_view text) { return make(Verdict::Kind::kWarn, 0, {}, text); }
Verdict verdict_prepend(std::string_view header_line) { return make(Verdict::Kind::kPrepend, 0, {}, header_line); }
Verdict verdict_tempfail_internal() {
  return verdict_defer_if_permit("4.3.0", kDefaultTempText);
}

void append_verdict(const Verdict& v, std::string& out) {
  const std::size_t start = out.size();
  out.append(policy_attr::kAction);
  out += '=';
  std::string_view fallback_text = kDefaultTempText;
  switch (v.kind) {
    case Verdict::Kind::kDunno:
      out += "DUNNO\n\n";
      return;
    case Verdict::Kind::kOk:
      out += "OK\n\n";
      return;
    case Verdict::Kind::kDefer:
      append_code(v.smtp_code >= 400 && v.smtp_code <= 499 ? v.smtp_code : 450, out);
      out += ' ';
      append_enhanced(v.enhanced_code, '4', "4.7.1", out);
      break;
    case Verdict::Kind::kReject:
      append_code(v.smtp_code >= 500 && v.smtp_code <= 599 ? v.smtp_code : 550, out);
      out += ' ';
      append_enhanced(v.enhanced_code, '5', "5.7.1", out);
      fallback_text = kDefaultRejectText;
      break;
    case Verdict::Kind::kDeferIfPermit:
      out += "DEFER_IF_PERMIT ";
      append_enhanced(v.enhanced_code, '4', "4.7.1", out);
      break;
    case Verdict::Kind::kDeferIfReject:
      out += "DEFER_IF_REJECT ";
      append_enhanced(v.enhanced_code, '4', "4.7.1", out);
      break;
    case Verdict::Kind::kWarn:
      out += "WARN";
      fallback_text = kDefaultWarnText;
      break;
    case Verdict::Kind::kPrepend:
      out += "PREPEND";
      fallback_text = kDefaultPrependText;
      break;
  }
  out += ' ';
  const std::size_t used = out.size() - start;
  append_text(v.text, fallback_text, kMaxActionLine - used, out);
  out += "\n\n";
}

std::string render_verdict(const Verdict& verdict) {
  std::string out;
  out.reserve(64 + verdict.text.size());
  append_verdict(verdict, out);
  return out;
}

std::string_view verdict_kind_name(Verdict::Kind kind) {
  switch (kind) {
    case Verdict::Kind::kDunno: return "dunno";
    case Verdict::Kind::kOk: return "ok";
    case Verdict::Kind::kDefer: return "defer";
    case Verdict::Kind::kReject: return "reject";
    case Verdict::Kind::kDeferIfPermit: return "defer_if_permit";
    case Verdict::Kind::kDeferIfReject: return "defer_if_reject";
    case Verdict::Kind::kWarn: return "warn";
    case Verdict::Kind::kPrepend: return "prepend";
  }
  return "unknown";
}

}  // namespace sluice::policyd
