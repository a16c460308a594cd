// Header rewrite rules: what sluice-milter removes, adds and changes in each
// message's header before it DKIM-signs it. Parses a rule file once (at start
// and on reload) and, per message, turns the header list into the edits the
// milter must make and the header list the DKIM signer must hash.
//
// RULE FILE FORMAT (also in doc/header-rules.md)
//
//   # Strip what leaks the inside of the network.
//   remove X-Originating-IP
//   remove /^X-Internal-/
//   remove Received /by internal\.example\.com/
//   add X-Relay: sluice
//
//   [domain example.com *.example.com]
//   set Organization: Example Corp
//
//   [account alice bob]
//   rewrite Subject /^\[EXT\] (.*)$/ $1
//
//   [all]
//   remove X-Mailer
//
// One rule per line; blank lines and lines whose first non-blank character is
// '#' are ignored ('#' elsewhere is part of the rule). Keywords are case-
// insensitive. Rules run from top to bottom; each one sees the header as the
// rules before it left it (a header added by "add" can be removed or
// rewritten by a later rule).
//
//   remove NAME                  delete every NAME header
//   remove /REGEX/               delete every header whose name matches
//   remove NAME /REGEX/          delete every NAME header whose value matches
//   remove /REGEX/ /REGEX/       both: name regex, then value regex
//   add NAME: VALUE              append a NAME header (existing ones stay)
//   set NAME: VALUE              afterwards there is exactly one NAME header,
//                                with VALUE: the first existing one gets the
//                                value in place, later ones are deleted; when
//                                there is none, it is appended
//   rewrite NAME /REGEX/ REPL    in every NAME header (or every header whose
//   rewrite /REGEX/ /REGEX/ REPL name matches the first regex) whose value
//                                matches, replace the first match by REPL;
//                                REPL may be empty (delete the matched text)
//
// NAME is a header field name (RFC 5322 3.6.8 ftext: printable ASCII except
// ':'), compared case-insensitively; a trailing ':' after NAME in remove and
// rewrite is tolerated. VALUE is the rest of the line after the ':' with
// surrounding blanks removed; NAME ": " VALUE must fit in 998 bytes (RFC 5322
// 2.1.1). REPL is the rest of the line after the regex, surrounding blanks
// removed; "$0" is the whole match, "$1".."$9" the groups (empty when a group
// did not take part), "$$" is a '$'; any other '$' is literal. A REPL that
// names a group the regex does not have is refused at load.
//
// REGEX is a POSIX extended regular expression (regcomp, REG_EXTENDED |
// REG_ICASE: case-insensitive), between '/' characters; write '/' inside as
// "\/". No flags may follow the closing '/'. To keep matching fast and
// bounded, a regex is refused when it is longer than 1024 bytes, uses back-
// references ("\1".."\9"), or would expand beyond kMaxRegexCost units once
// its counted repetitions ("{n,m}", nested or not) are unrolled.
// Header values are matched with line folding removed (CR and LF dropped,
// the blank after them kept) and without the one space after the colon
// (see "Values" below). A value longer than kMaxRegexInput
// (8 KiB) after unfolding is never matched by a value regex (the rule does
// nothing to it, and a warning says so): Postfix accepts headers up to
// header_size_limit (100 KiB), and no legitimate header the rules target is
// anywhere near 8 KiB. A rewritten value is stored unfolded.
//
// Sections limit the rules that follow them, up to the next section:
//   [all]                        every message (the default at the top)
//   [account NAME ...]           messages whose SASL login is one of the
//                                NAMEs (exact, case-sensitive)
//   [domain DOMAIN ...]          messages whose envelope sender domain is one
//                                of the DOMAINs (case-insensitive);
//                                "*.example.com" matches any subdomain of
//                                example.com but not example.com itself
// Messages without a login never match [account]; the null sender never
// matches [domain].
//
// Header injection: no rule can produce CR, LF or NUL in a header. A rule line
// holding any control byte other than TAB is refused at load (a CR that ends a
// CRLF line end is not part of the line). A rewrite whose result holds CR, LF
// or NUL (copied from the message through a group), or is longer than
// kMaxRegexInput, is skipped and reported in HeaderEdits::warnings.
//
// Owns: the compiled rules (regex_t via RAII). A HeaderRules is immutable
// after parsing; apply() is const and may run on many threads at once
// (glibc regexec is thread-safe on a shared regex_t).
// Errors: parse_header_rules returns kConfig "file:line: reason"; apply()
// never fails: problems become warnings (no message bytes in them except
// header names passed through log_escape).
// Values: HeaderRules::apply takes values as the message carries them, the
// space after the colon included (libmilter with SMFIP_HDR_LEADSPC), and
// returns values in the same form. Rule regexes and replacement values see
// and write the value without that one leading space.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "milter/header_field.h"

namespace sluice::milter {

// Longest header value (after unfolding) a regex is run on, and longest
// value a rewrite may produce.
inline constexpr std::size_t kMaxRegexInput = 8 * 1024;
// Longest regex source accepted.
inline constexpr std::size_t kMaxRegexLength = 1024;
// Budget for a regex's size with counted repetitions unrolled (one unit per
// atom), which bounds what regcomp builds and regexec walks.
inline constexpr std::size_t kMaxRegexCost = 4096;
// Caps on the rule file.
inline constexpr std::size_t kMaxRulesFileBytes = 1024 * 1024;
inline constexpr std::size_t kMaxRuleLineLength = 4096;
inline constexpr std::size_t kMaxRules = 10000;

// Who is sending: selects [account] and [domain] sections.
struct HeaderContext {
  std::string account;        // SASL login ("" when not authenticated)
  std::string sender_domain;  // envelope sender domain ("" for the null sender)
};

// One change to a header the MTA already has, as smfi_chgheader takes it.
struct HeaderChange {
  std::string name;                  // spelled as in the message
  int index = 0;                     // 1-based among the message's headers of this name (case-insensitive)
  std::optional<std::string> value;  // new value; nullopt deletes the header
  friend bool operator==(const HeaderChange&, const HeaderChange&) = default;
};

// What apply() decided, in milter terms.
struct HeaderEdits {
  // Changes to existing headers, in the order of the message's headers.
  // Indexes refer to the header as it was before any change; apply them with
  // ordered_for_milter(), not in this order.
  std::vector<HeaderChange> changes;
  // Headers to append, in order (smfi_addheader), after the changes.
  std::vector<HeaderField> additions;
  // The header after the edits: the remaining original headers in their
  // order (with new values), then the additions. The DKIM signer hashes this.
  std::vector<HeaderField> result;
  // Rules that were skipped for this message, "file:line: reason".
  std::vector<std::string> warnings;

  bool empty() const { return changes.empty() && additions.empty(); }

  // |changes| in the order smfi_chgheader must receive them: highest index
  // first for each name. Deleting header i shifts every later header of the
  // same name down by one, so ascending order deletes the wrong ones
  // (OpenDKIM CVE-2022-48521). Changes to different names do not interact;
  // value changes shift nothing. Call smfi_addheader for |additions| after
  // all of these.
  std::vector<HeaderChange> ordered_for_milter() const;
};

struct HeaderRulesImpl;  // compiled rules, private to header_rules.cc

class HeaderRules {
 public:
  HeaderRules();
  ~HeaderRules();
  HeaderRules(HeaderRules&&) noexcept;
  HeaderRules& operator=(HeaderRules&&) noexcept;
  HeaderRules(const HeaderRules&) = delete;
  HeaderRules& operator=(const HeaderRules&) = delete;

  // Runs the rules over |headers| (as the milter received them, in order).
  HeaderEdits apply(std::span<const HeaderField> headers, const HeaderContext& context) const;

  std::size_t size() const;  // number of rules (not sections)

 private:
  friend Result<HeaderRules> parse_header_rules(std::string_view text, std::string_view file_name);
  std::unique_ptr<HeaderRulesImpl> impl_;
};

// Parses a rule file; |file_name| is used in error details and warnings.
Result<HeaderRules> parse_header_rules(std::string_view text, std::string_view file_name);

// True when |name| is a valid header field name (RFC 5322 3.6.8: 1*ftext,
// ftext = %d33-57 / %d59-126) of at most 996 bytes.
bool is_valid_header_name(std::string_view name);

}  // namespace sluice::milter
