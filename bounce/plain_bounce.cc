#include "bounce/plain_bounce.h"

#include <algorithm>
#include <span>

#include "bounce/dsn.h"
#include "bounce/status_code.h"
#include "common/address.h"
#include "common/ascii.h"

namespace sluice::bounce {
namespace {

constexpr std::size_t kMaxMarkerLine = 120;
constexpr std::size_t kMaxAtSigns = 500;
constexpr std::size_t kMaxReturnedHeaders = 256 * 1024;

// Phrases of the marker line before the quoted original message.
constexpr std::string_view kMarkers[] = {
    "copy of the message",        // Exim "This is a copy of the message, including all the headers."
    "copy of your message",       //
    "below this line is a copy",  // qmail, Yahoo "--- Below this line is a copy of the message."
    "original message",           // Gmail "----- Original message -----", Outlook "Original message headers:"
    "header of the original",     // "--- The header of the original message is following. ---"
    "headers of the original",    //
    "undelivered message",        // "------ Undelivered message headers -----"
    "returned message",           //
    "message headers follow",     //
};

// Phrases of a failure without a code.
constexpr std::string_view kFailureTexts[] = {
    "user unknown", "unknown user", "no such user", "does not exist", "doesn't exist", "mailbox unavailable",
    "mailbox not found", "recipient not found", "address rejected", "invalid recipient", "mailbox is full",
    "mailbox full", "over quota", "quota exceeded", "delivery failed", "permanent error", "failed permanently",
    "could not be delivered", "couldn't be delivered", "undeliverable", "delivery has failed", "unable to deliver",
    "doesn't have a", "account has been disabled", "delivery to the following recipient",
};

constexpr std::string_view kDelayTexts[] = {
    "not yet been delivered", "will retry", "will continue to try", "still trying", "delivery has been delayed",
    "delayed", "warning: message",
};

bool contains_any(std::string_view text, std::span<const std::string_view> needles) {
  return std::any_of(needles.begin(), needles.end(),
                     [&](std::string_view n) { return text.find(n) != std::string_view::npos; });
}

bool is_local_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-/=?^_`{|}~.").find(c) != std::string_view::npos;
}

bool is_domain_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' || text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

bool is_marker_line(std::string_view line) {
  line = trim(line);
  if (line.size() < 10 || line.size() > kMaxMarkerLine) return false;
  if (line.front() != '-' && line.back() != ':' && line.back() != '-') return false;
  return contains_any(ascii_lower(line), kMarkers);
}

// The line of |text| around offset |at|.
std::string_view line_around(std::string_view text, std::size_t at) {
  const std::size_t begin = text.rfind('\n', at);
  const std::size_t start = begin == std::string_view::npos ? 0 : begin + 1;
  const std::size_t end = text.find('\n', at);
  return text.substr(start, (end == std::string_view::npos ? text.size() : end) - start);
}

// Quoted headers are sometimes indented as a block; unfolding would take
// every line for a continuation, so the common indent goes first.
std::string deindent(std::string_view text) {
  std::size_t pos = 0;
  while (pos < text.size()) {  // skip empty lines before the headers
    const std::size_t lf = text.find('\n', pos);
    const std::string_view line = trim(text.substr(pos, (lf == std::string_view::npos ? text.size() : lf) - pos));
    if (!line.empty()) break;
    pos = lf == std::string_view::npos ? text.size() : lf + 1;
  }
  text = text.substr(pos, kMaxReturnedHeaders);
  std::size_t indent = 0;
  while (indent < text.size() && indent < 16 && (text[indent] == ' ' || text[indent] == '\t')) ++indent;
  if (indent == 0) return std::string(text);
  std::string out;
  out.reserve(text.size());
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t lf = text.find('\n', start);
    const std::size_t end = lf == std::string_view::npos ? text.size() : lf + 1;
    std::string_view line = text.substr(start, end - start);
    std::size_t cut = 0;
    while (cut < indent && cut < line.size() && (line[cut] == ' ' || line[cut] == '\t')) ++cut;
    out.append(line.substr(cut));
    start = end;
  }
  return out;
}

}  // namespace

std::vector<std::string> find_addresses(std::string_view text, std::size_t max) {
  std::vector<std::string> out;
  std::size_t seen = 0;
  for (std::size_t at = text.find('@'); at != std::string_view::npos && out.size() < max && seen < kMaxAtSigns;
       at = text.find('@', at + 1)) {
    ++seen;
    std::size_t left = at;
    while (left > 0 && at - left < 64 && is_local_char(text[left - 1])) --left;
    std::size_t right = at + 1;
    while (right < text.size() && right - at < 255 && is_domain_char(text[right])) ++right;
    std::string_view local = text.substr(left, at - left);
    std::string_view domain = text.substr(at + 1, right - at - 1);
    while (!local.empty() && local.front() == '.') local.remove_prefix(1);
    while (!domain.empty() && (domain.back() == '.' || domain.back() == '-')) domain.remove_suffix(1);
    if (local.empty() || domain.find('.') == std::string_view::npos) continue;
    auto mailbox = parse_mailbox(std::string(local) + "@" + std::string(domain), MailboxOptions{.allow_null = false});
    if (!mailbox) continue;
    std::string key = mailbox->lookup_key();
    if (std::find(out.begin(), out.end(), key) == out.end()) out.push_back(std::move(key));
  }
  return out;
}

std::optional<PlainBounce> parse_plain_bounce(std::string_view text, const std::vector<std::string>& exclude) {
  text = text.substr(0, kMaxPlainScan);
  PlainBounce out;
  std::size_t region_end = text.size();
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t lf = text.find('\n', pos);
    const std::size_t next = lf == std::string_view::npos ? text.size() : lf + 1;
    if (is_marker_line(text.substr(pos, next - pos))) {
      region_end = pos;
      out.returned_headers = deindent(text.substr(next));
      break;
    }
    pos = next;
  }
  const std::string_view region = text.substr(0, std::min(region_end, kMaxDiagnosticScan));
  const std::string lower = ascii_lower(region);

  std::size_t code_at = std::string_view::npos;
  std::size_t status_at = 0;
  if (auto status = find_enhanced_status(region, &status_at)) {
    out.status = status->str();
    code_at = status_at;
  }
  std::size_t smtp_at = 0;
  if (auto smtp = find_smtp_code(region, &smtp_at)) {
    out.smtp_code = *smtp;
    if (code_at == std::string_view::npos || smtp_at < code_at) code_at = smtp_at;
  }
  if (code_at == std::string_view::npos) {
    for (std::string_view phrase : kFailureTexts) {
      const std::size_t at = lower.find(phrase);
      if (at != std::string::npos && at < code_at) code_at = at;
    }
  }
  if (code_at == std::string_view::npos) return std::nullopt;
  out.diagnostic = one_line(line_around(region, code_at), 300);
  // Exchange and Gmail put the text on the line before the code: keep both.
  const std::string lower_line = ascii_lower(out.diagnostic);
  if (!contains_any(lower_line, kFailureTexts)) {
    for (std::string_view phrase : kFailureTexts) {
      const std::size_t at = lower.find(phrase);
      if (at == std::string::npos) continue;
      out.diagnostic = one_line(std::string(line_around(region, at)) + " " + out.diagnostic, 300);
      break;
    }
  }

  const bool permanent = out.status.starts_with('5') || out.smtp_code >= 500;
  out.delayed = !permanent && contains_any(lower, kDelayTexts);

  for (std::string& address : find_addresses(region, kMaxPlainRecipients + exclude.size() + 4)) {
    const std::string local = address.substr(0, address.rfind('@'));
    if (local == "postmaster" || local == "mailer-daemon") continue;
    if (std::find(exclude.begin(), exclude.end(), address) != exclude.end()) continue;
    if (out.recipients.size() >= kMaxPlainRecipients) break;
    out.recipients.push_back(std::move(address));
  }
  return out;
}

}  // namespace sluice::bounce
