#include "bounce/dsn.h"

#include "bounce/mime.h"
#include "common/ascii.h"

namespace sluice::bounce {
namespace {

// After "type;": the value proper (RFC 3464 2.1.2 "address-type ; generic-address").
// A value without a type token before its first ';' is kept whole.
std::string_view after_type(std::string_view value) {
  const std::size_t semicolon = value.find(';');
  if (semicolon == std::string_view::npos || semicolon > 32) return value;
  for (char c : value.substr(0, semicolon)) {
    const bool token = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                       c == ' ' || c == '\t';
    if (!token) return value;
  }
  return value.substr(semicolon + 1);
}

std::string trimmed(std::string_view text, std::size_t max) { return one_line(text, max); }

}  // namespace

std::string one_line(std::string_view text, std::size_t max) {
  std::string out;
  bool blank = false;
  for (char c : text) {
    if (out.size() >= max) break;
    const auto u = static_cast<unsigned char>(c);
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || u < 0x20 || u == 0x7f) {
      blank = !out.empty();
      continue;
    }
    if (blank) {
      out += ' ';
      blank = false;
      if (out.size() >= max) break;
    }
    out += c;
  }
  return out;
}

std::string dsn_address(std::string_view value) {
  const std::size_t semicolon = value.find(';');
  if (semicolon != std::string_view::npos) {
    const std::string type = ascii_lower(one_line(value.substr(0, semicolon), 32));
    if (type != "rfc822" && type != "utf-8") return {};
    value = value.substr(semicolon + 1);
  }
  std::string address = one_line(value, 512);
  if (address.size() >= 2 && address.front() == '<' && address.back() == '>') {
    address = address.substr(1, address.size() - 2);
  }
  return address;
}

DeliveryStatus parse_delivery_status(std::string_view text, std::size_t max_recipients) {
  DeliveryStatus out;
  MimeLimits limits;
  limits.max_fields = 100;
  limits.max_field_bytes = kMaxDsnFieldBytes;
  std::size_t pos = 0;
  bool first = true;
  while (pos < text.size()) {
    // Extra empty lines between groups are tolerated.
    while (pos < text.size() && (text[pos] == '\r' || text[pos] == '\n')) ++pos;
    if (pos >= text.size()) break;
    const HeaderSection group = parse_header_section(text.substr(pos), limits);
    if (group.body_offset == 0) break;  // not a field: no more groups
    pos += group.body_offset;
    if (first) {
      out.reporting_mta = trimmed(after_type(group.value("Reporting-MTA")), 255);
      out.queue_id = trimmed(group.value("X-Postfix-Queue-ID"), 64);
    }
    first = false;
    if (group.find("Final-Recipient") == nullptr && group.find("Original-Recipient") == nullptr &&
        group.find("Action") == nullptr) {
      continue;  // the per-message group (or junk)
    }
    if (out.recipients.size() >= max_recipients) {
      out.truncated = true;
      break;
    }
    DsnRecipient r;
    r.final_recipient = dsn_address(group.value("Final-Recipient"));
    r.original_recipient = dsn_address(group.value("Original-Recipient"));
    r.action = ascii_lower(trimmed(group.value("Action"), 32));
    const std::string status = trimmed(group.value("Status"), 64);
    r.status = status.substr(0, status.find(' '));
    r.diagnostic_code = trimmed(after_type(group.value("Diagnostic-Code")), kMaxDsnFieldBytes);
    r.remote_mta = trimmed(after_type(group.value("Remote-MTA")), 255);
    out.recipients.push_back(std::move(r));
  }
  return out;
}

}  // namespace sluice::bounce
