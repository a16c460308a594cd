#include "bounce/arf.h"

#include "bounce/dsn.h"
#include "bounce/mime.h"
#include "common/ascii.h"

namespace sluice::bounce {

FeedbackReport parse_feedback_report(std::string_view text) {
  MimeLimits limits;
  limits.max_fields = 100;
  limits.max_field_bytes = 1000;
  const HeaderSection fields = parse_header_section(text, limits);
  FeedbackReport out;
  out.feedback_type = ascii_lower(one_line(fields.value("Feedback-Type"), 32));
  out.user_agent = one_line(fields.value("User-Agent"), 100);
  out.original_mail_from = dsn_address(fields.value("Original-Mail-From"));
  out.reported_domain = one_line(fields.value("Reported-Domain"), 255);
  out.source_ip = one_line(fields.value("Source-IP"), 64);
  for (const HeaderField& field : fields.fields) {
    if (!ascii_iequals(field.name, "Original-Rcpt-To") || out.original_rcpt_to.size() >= kMaxArfRecipients) continue;
    std::string address = dsn_address(field.value);
    if (!address.empty()) out.original_rcpt_to.push_back(std::move(address));
  }
  return out;
}

bool is_complaint_type(std::string_view feedback_type) {
  return feedback_type == "abuse" || feedback_type == "fraud" || feedback_type == "virus" ||
         feedback_type == "other";
}

}  // namespace sluice::bounce
