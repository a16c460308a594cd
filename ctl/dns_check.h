// The analysis behind `sluicectl dns check DOMAIN`: are the SPF, DKIM and
// DMARC records a domain publishes right for mail this relay sends? Pure
// over two injected lookups (a DnsResolver for TXT records, an SpfChecker for
// SPF evaluation), so every verdict is unit-tested without a name server;
// ctl/dns_command.cc does the arguments, the key files and the printing.
//
// What is checked, and why, is in doc/dns-check.md. Untrusted text (record
// contents from DNS) is escaped before it reaches a line of the report.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/dns_lookup.h"
#include "common/spf_check.h"

namespace sluice::ctl {

// Exit statuses of `dns check` (besides kExitUsage = 2 from ctl/command.h).
inline constexpr int kDnsExitOk = 0;
inline constexpr int kDnsExitProblems = 1;
inline constexpr int kDnsExitDnsFailed = 3;  // SERVFAIL, timeout, temperror: retry later

// RFC 7208 4.6.4: at most 10 terms that cause DNS queries per evaluation.
inline constexpr int kMaxSpfLookups = 10;

// One DKIM key of the key table, as far as the check needs it.
struct DkimKeyExpectation {
  std::string selector;
  std::string key_file;     // for messages; empty when the selector came from --selector only
  std::string key_type;     // "rsa" or "ed25519"; empty when there is no key to compare
  std::string public_key;   // the p= value derived from our private key
  std::string record;       // "v=DKIM1; k=...; p=...", DkimKey::dns_record()
  std::string load_error;   // why the key could not be loaded (then nothing to compare)
};

struct DnsCheckInput {
  std::string domain;                   // lowercase, no trailing dot
  std::vector<std::string> relay_ips;   // numeric; each must pass SPF for postmaster@domain
  std::vector<DkimKeyExpectation> dkim;  // one per selector to check
};

enum class CheckStatus { kOk, kNote, kWarn, kFail, kDnsError };

struct CheckLine {
  CheckStatus status = CheckStatus::kOk;
  std::string area;  // "spf", "dkim", "dmarc"
  std::string text;  // printable ASCII
  friend bool operator==(const CheckLine&, const CheckLine&) = default;
};

struct DnsCheckReport {
  std::vector<CheckLine> lines;
  // Zone-file lines (zone_txt_record) for what is missing or wrong.
  std::vector<std::string> records_to_publish;

  // 3 when a lookup failed (nothing can be concluded), else 1 when a line
  // is FAIL, else 0 (warnings and notes are advice).
  int exit_status() const;
};

DnsCheckReport check_domain_dns(const DnsCheckInput& input, DnsResolver& resolver, SpfChecker& spf);

// The report as printed: one "ok   spf  text" line per check, a blank line,
// then "Records to publish:" and the records (or "none").
std::string render_dns_report(const DnsCheckReport& report);

// "ok", "note", "warn", "FAIL", "ERR".
std::string_view check_status_name(CheckStatus status);

// A TXT record in zone-file form, as `sluicectl dkim record` prints it:
//   OWNER. 3600 IN TXT (
//       "first 250 bytes"
//       "next..." )
// Character-strings hold at most 255 bytes (RFC 1035 3.3.14), so the text is
// cut every 250; '"' and '\' are escaped and other bytes outside printable
// ASCII written as \DDD (RFC 1035 5.1).
std::string zone_txt_record(std::string_view owner, std::string_view text);

// One SPF term, split but not checked (RFC 7208 4.6.1, 12).
struct SpfTerm {
  char qualifier = '+';
  std::string name;   // lowercase: "ip4", "include", "all", "redirect", ...
  std::string value;  // after ':' or '=' ("" when absent); a mechanism's "/cidr" stays here
  bool modifier = false;
};
// The terms after "v=spf1"; an empty vector when |record| is not SPF.
std::vector<SpfTerm> split_spf_terms(std::string_view record);
// True when |text| is an SPF record: "v=spf1" then a space or the end (RFC 7208 4.5).
bool is_spf_record(std::string_view text);

// RFC 6376 3.2 tag=value list (DKIM keys, and DMARC records per RFC 7489
// 6.4). Tag names are kept as written; values have surrounding whitespace
// removed. A duplicate tag or a malformed one is an error.
Result<std::vector<std::pair<std::string, std::string>>> parse_tag_list(std::string_view text);

}  // namespace sluice::ctl
