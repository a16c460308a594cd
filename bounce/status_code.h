// SMTP reply codes (RFC 5321 4.2) and enhanced status codes (RFC 3463) as
// they appear in bounce texts: found, not trusted. Pure.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::bounce {

// "class.subject.detail" (RFC 3463 2): class 2, 4 or 5; subject 0-7 (1-3
// digits); detail 1-3 digits.
struct EnhancedStatus {
  int klass = 0;
  int subject = 0;
  int detail = 0;
  std::string str() const;
  friend bool operator==(const EnhancedStatus&, const EnhancedStatus&) = default;
};

// The whole of |text| (blanks around allowed) as an enhanced status code.
std::optional<EnhancedStatus> parse_enhanced_status(std::string_view text);

// The first enhanced status code inside free text, not part of a longer
// dotted number ("5.1.1" yes, "192.5.1.10" and "4.94.2" no). |at| gets its offset.
std::optional<EnhancedStatus> find_enhanced_status(std::string_view text, std::size_t* at = nullptr);

// The first SMTP reply code 4xx or 5xx inside free text: three digits
// after a line start, blank, ':' or '(' and followed by a blank, '-' or the
// end ("said: 550 5.1.1", "550-5.1.1"). |at| gets its offset.
std::optional<int> find_smtp_code(std::string_view text, std::size_t* at = nullptr);

}  // namespace sluice::bounce
