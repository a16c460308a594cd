// RFC 5965 Abuse Reporting Format: the fields of a message/feedback-report
// body (one header-like group). Pure, bounded.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sluice::bounce {

struct FeedbackReport {
  std::string feedback_type;  // lowercased: abuse, fraud, virus, other, not-spam, auth-failure (RFC 5965 3.1, 6591)
  std::string user_agent;
  std::string original_mail_from;
  std::vector<std::string> original_rcpt_to;  // every Original-Rcpt-To (RFC 5965 3.2), address only
  std::string reported_domain;
  std::string source_ip;
};

inline constexpr std::size_t kMaxArfRecipients = 20;

FeedbackReport parse_feedback_report(std::string_view text);

// True for the types that mean "the recipient did not want this mail".
bool is_complaint_type(std::string_view feedback_type);

}  // namespace sluice::bounce
