// SPF in sluice-policyd, the pure half: which requests are checked, what the
// query is, and how a result maps to Postfix's answer (RFC 7208 8, reply
// codes RFC 7372 3: X.7.23 "SPF validation failed", X.7.24 "SPF validation
// error"). The blocking evaluation itself runs on SpfPool's threads.
//
// Pure functions, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/config.h"
#include "common/spf_check.h"
#include "policyd/policy_request.h"
#include "policyd/verdict.h"

namespace sluice::policyd {

// What one SPF evaluation needs, copied from the request (it crosses to a
// worker thread).
struct SpfQuery {
  std::string client_ip;
  std::string helo;
  std::string mail_from;  // without <>; empty for the null sender
  friend bool operator==(const SpfQuery&, const SpfQuery&) = default;
};

// spf = yes, a RCPT, an unauthenticated client outside spf_exempt_networks.
bool spf_applies(const PolicyRequest& request, const PolicydSettings& settings);
SpfQuery spf_query_for(const PolicyRequest& request);
// The domain an SPF check of |query| is about: MAIL FROM's, or HELO's for
// the null sender (RFC 7208 2.4), lowercase; for messages when the checker
// did not say.
std::string spf_query_domain(const SpfQuery& query);

SpfAction spf_action_for(SpfResult result, const SpfActions& actions);

// The answer for an SPF outcome of |query|; nullopt when its action is
// accept (the Redis checks decide). reject: "550 5.7.23 SPF check failed:
// example.com does not authorise 192.0.2.1 (result fail)"; defer: the same
// as 450 4.7.23, or 450 4.7.24 for temperror and permerror.
std::optional<Verdict> spf_verdict(const SpfOutcome& outcome, const SpfQuery& query, const SpfActions& actions);

// "Received-SPF: fail (explanation) client-ip=192.0.2.1;
// envelope-from="a@example.com"; helo=mx.example.com;" (RFC 7208 9.1), for
// verdict_prepend().
std::string received_spf_header(const SpfOutcome& outcome, const SpfQuery& query);

// An outcome for an evaluation that did not finish: temperror.
SpfOutcome spf_temperror(const SpfQuery& query, std::string why);

}  // namespace sluice::policyd
