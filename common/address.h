// Mailbox addresses: parses a sender or recipient as Postfix hands it to a
// policy server ("user@example.com", "" for the null sender) or as it appears
// in SMTP ("<user@example.com>", "<>"), and normalises it to one canonical
// spelling so that logs, suppression keys and VERP rewrites agree.
//
// Owns: nothing; pure functions over caller-supplied bytes, no I/O, no global
// state, safe to call from any thread.
// Guarantees: hostile input (control bytes, overlong input, malformed UTF-8,
// broken quoting) yields an Error (kInvalidInput or kTooLong), never a crash;
// error details never echo the input (at most one offending byte, in hex).
// A parsed Mailbox obeys the RFC 5321 4.5.3.1 size caps in its canonical form.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/result.h"

namespace sluice {

// RFC 5321 4.5.3.1.1-3 size caps, in octets.
inline constexpr std::size_t kMaxLocalPartLength = 64;
inline constexpr std::size_t kMaxDomainLength = 255;
inline constexpr std::size_t kMaxPathLength = 256;  // "<" mailbox ">", incl. any source route
// Input longer than this is rejected before any parsing, so a hostile peer
// cannot make us scan megabytes for an address.
inline constexpr std::size_t kMaxMailboxInputLength = 1024;

struct MailboxOptions {
  bool allow_null = true;  // accept "" and "<>" (the null reverse-path)
};

// A parsed mailbox. Fields hold the decoded values produced by parse_mailbox;
// build one by hand only from values that parse_mailbox would produce.
struct Mailbox {
  // Local part with quoting removed and \-escapes resolved; case preserved.
  // May contain UTF-8 (RFC 6531). Empty only for the null sender.
  std::string local;
  // Domain with ASCII letters lowercased and any trailing dot removed, or an
  // address literal such as "[192.0.2.1]" or "[IPv6:2001:db8::1]". UTF-8
  // labels are kept as sent (no IDNA conversion). Empty only for the null
  // sender.
  std::string domain;

  // True for the null reverse-path ("" or "<>").
  bool is_null() const { return local.empty() && domain.empty(); }

  // Canonical "local@domain", "" for the null sender. The local part is
  // written as a dot-string when it is one, else quoted with only '"' and
  // '\' escaped (RFC 5321 4.1.2).
  std::string str() const;

  // Key for suppression-list lookups: str() with the local part
  // ASCII-lowercased. "" for the null sender.
  std::string lookup_key() const;

  friend bool operator==(const Mailbox&, const Mailbox&) = default;
};

// Parses one mailbox (RFC 5321 4.1.2 Path / Mailbox, RFC 6531 UTF-8).
// Accepts optional surrounding spaces or tabs and optional angle brackets;
// a source route ("<@a.example,@b.example:user@d.example>") is checked for
// syntax and discarded. Errors: kTooLong for a size cap, kInvalidInput for
// everything else (including the null sender when !opts.allow_null).
Result<Mailbox> parse_mailbox(std::string_view text, MailboxOptions opts = {});

}  // namespace sluice
