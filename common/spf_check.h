// SPF (RFC 7208) evaluation of a client address against a MAIL FROM domain,
// over libspf2. One small interface so the policy daemon, the milter and
// sluicectl share one mapping of libspf2's results to RFC 7208's names.
//
// libspf2 reports a DNS failure as SPF_RESULT_INVALID with error 26
// (SPF_E_DNS_ERROR): that is temperror. Any other INVALID is permerror.
//
// Not thread-safe: one SpfChecker per thread (libspf2's server holds a
// resolver and a cache). Lookups block for at most the resolver's timeout.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sluice {

enum class SpfResult { kNone, kNeutral, kPass, kFail, kSoftfail, kTempError, kPermError };

// "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror".
std::string_view spf_result_name(SpfResult result);
Result<SpfResult> parse_spf_result(std::string_view name);

struct SpfOutcome {
  SpfResult result = SpfResult::kNone;
  std::string domain;       // the domain checked (MAIL FROM's, or HELO's for a null sender)
  std::string explanation;  // libspf2's reason, for logs (printable ASCII, at most 200 bytes)
};

// A DNS record served by a zone-backed checker (unit tests, no network).
struct SpfZoneRecord {
  enum class Type { kTxt, kA, kAaaa, kMx, kTempFail, kNotFound } type;
  std::string name;
  std::string value;  // TXT text, address, or MX host; unused for kTempFail/kNotFound
};

class SpfChecker {
 public:
  // Uses the system resolver (/etc/resolv.conf) with libspf2's cache.
  static Result<SpfChecker> create();
  // Answers only from |records| (names not listed do not exist).
  static Result<SpfChecker> create_with_zone(const std::vector<SpfZoneRecord>& records);

  SpfChecker(SpfChecker&&) noexcept;
  SpfChecker& operator=(SpfChecker&&) noexcept;
  ~SpfChecker();

  // |client_ip| numeric IPv4 or IPv6; |mail_from| without <>, empty for the
  // null sender (then postmaster@|helo| is checked, as RFC 7208 2.4 says).
  // Invalid input (an unparsable IP) is permerror with the reason, never a crash.
  SpfOutcome check(std::string_view client_ip, std::string_view helo, std::string_view mail_from);

 private:
  struct State;
  explicit SpfChecker(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace sluice
