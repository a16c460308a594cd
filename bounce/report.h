// A report as sluice-bounce receives it, taken apart: an RFC 3464 DSN, an
// RFC 5965 ARF complaint, a non-standard (plain text) bounce, or an
// auto-reply (ignored). Pure and bounded (see mime.h, dsn.h, plain_bounce.h):
// the caller hands in at most kMaxReportBytes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "bounce/mime.h"
#include "common/result.h"

namespace sluice::bounce {

inline constexpr std::size_t kMaxReportBytes = 10 * 1024 * 1024;
inline constexpr std::size_t kMaxReturnedBytes = 1024 * 1024;  // of the returned message part, decoded

enum class ReportType { kDeliveryStatus, kFeedback, kPlainBounce, kAutoReply };

// "dsn", "arf", "plain", "auto-reply".
std::string_view report_type_name(ReportType type);

struct ReportRecipient {
  std::string address;     // Final-Recipient / Original-Rcpt-To / an address of the text
  std::string original;    // Original-Recipient (DSN), else ""
  std::string action;      // lowercased; "failed" or "delayed" for plain bounces, "" for ARF
  std::string status;      // as reported, "" when none
  std::string diagnostic;  // Diagnostic-Code or the failure line, one line, bounded
};

struct Report {
  ReportType type = ReportType::kPlainBounce;
  std::vector<ReportRecipient> recipients;  // plain bounces: every candidate address, see plain_bounce.h
  std::string feedback_type;                // ARF: lowercased Feedback-Type
  std::string user_agent;                   // ARF: who reported
  std::string queue_id;                     // DSN: X-Postfix-Queue-ID of the original message
  HeaderSection outer;                      // the report's own header section
  HeaderSection returned;                   // the returned message's headers (may be empty)
  std::string tracking_value;               // the tracking header found anywhere (returned headers first)
  std::string message_id;                   // the report's Message-ID, one line, bounded
  std::string body_digest;                  // SHA-256 hex of everything after the report's header
  bool truncated = false;                   // a cap was hit while parsing
};

struct ReportOptions {
  std::string tracking_header = "X-Sluice-ID";
};

// kInvalidInput ("unparsable: ...") when the message is none of the four.
Result<Report> parse_report(std::string_view message, const ReportOptions& options = {});

// Addresses of an address-list header value ("A <a@x>, b@y"), as lookup
// keys; values that are not addresses are skipped. At most |max|.
std::vector<std::string> header_addresses(std::string_view value, std::size_t max);

}  // namespace sluice::bounce
