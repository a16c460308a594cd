// RFC 3464 delivery status notifications: the fields of a
// message/delivery-status body (one per-message group, then one group per
// recipient, separated by empty lines). Pure, bounded.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::bounce {

struct DsnRecipient {
  std::string final_recipient;     // the address after "rfc822;" (RFC 3464 2.3.2)
  std::string original_recipient;  // likewise (2.3.1), "" when absent
  std::string action;              // lowercased: failed, delayed, delivered, relayed, expanded (2.3.3)
  std::string status;              // "5.1.1" as given (2.3.4)
  std::string diagnostic_code;     // the text after "smtp;" (2.3.6), blanks collapsed
  std::string remote_mta;          // after "dns;" (2.3.5)
};

struct DeliveryStatus {
  std::string reporting_mta;
  std::string queue_id;  // X-Postfix-Queue-ID: the original message's queue ID
  std::vector<DsnRecipient> recipients;
  bool truncated = false;  // more recipient groups than max_recipients
};

inline constexpr std::size_t kMaxDsnRecipients = 100;
inline constexpr std::size_t kMaxDsnFieldBytes = 1000;

DeliveryStatus parse_delivery_status(std::string_view text, std::size_t max_recipients = kMaxDsnRecipients);

// "rfc822; user@example.com" -> "user@example.com" (also strips <>); a value
// of another address type ("x400;") -> "".
std::string dsn_address(std::string_view value);

// Collapses runs of blanks and line ends to one space and cuts to |max| bytes.
std::string one_line(std::string_view text, std::size_t max);

}  // namespace sluice::bounce
