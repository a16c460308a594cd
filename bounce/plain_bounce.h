// Bounces that are not RFC 3464 reports: a text saying which address failed
// and why ("550 5.1.1 ... User unknown"), often followed by a marker line
// ("------ This is a copy of the message, including all the headers. ------")
// and the original headers. Covers the layouts of Postfix, Exim, qmail/Yahoo,
// Gmail and Exchange/Outlook; doc/sluice-bounce.8 lists the markers. Pure,
// bounded: at most kMaxPlainScan bytes of text are looked at.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::bounce {

inline constexpr std::size_t kMaxPlainScan = 1024 * 1024;      // text searched for the marker
inline constexpr std::size_t kMaxDiagnosticScan = 64 * 1024;   // text before it, searched for codes and addresses
inline constexpr std::size_t kMaxPlainRecipients = 10;

struct PlainBounce {
  std::vector<std::string> recipients;  // addresses named before the marker, in order, no duplicates
  std::string status;                   // the first enhanced status code ("5.1.1"), or ""
  int smtp_code = 0;                    // the first SMTP reply code (550), or 0
  std::string diagnostic;               // the line carrying the code or the failure text, one line
  bool delayed = false;                 // a delay warning ("will retry"), not a failure
  std::string returned_headers;         // the text after the marker, de-indented; "" if no marker
};

// nullopt when |text| shows no sign of a failed delivery (no code, no
// failure phrase). Addresses whose lookup key is in |exclude| (the bounce's
// own From and To) and postmaster/mailer-daemon are not candidates.
std::optional<PlainBounce> parse_plain_bounce(std::string_view text, const std::vector<std::string>& exclude);

// Every address-looking token of |text| that parse_mailbox accepts, as
// lookup keys, in order, without duplicates, at most |max|.
std::vector<std::string> find_addresses(std::string_view text, std::size_t max);

}  // namespace sluice::bounce
