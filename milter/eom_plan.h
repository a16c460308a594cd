// What sluice-milter asks the MTA to do at the end of one message, as a
// value: Message::finish() computes it without touching libmilter, and
// callbacks.cc applies it with smfi_* calls in the order given here.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "milter/header_rules.h"

namespace sluice::milter {

struct EomPlan {
  enum class Reply { kContinue, kTempfail, kReject };
  Reply reply = Reply::kContinue;
  // With kTempfail / kReject: "4.7.1 text" / "5.7.1 text" for smfi_setreply.
  std::string reply_text;
  // With kContinue: hold the message in the MTA's quarantine for this reason.
  std::optional<std::string> quarantine_reason;

  // Header changes and deletions, already ordered so that deleting by index
  // is safe (highest index first per name: OpenDKIM CVE-2022-48521).
  std::vector<HeaderChange> changes;
  // Appended at the end of the header (smfi_addheader), in order.
  std::vector<HeaderField> additions;
  // Inserted at the very top (smfi_insheader index 0), in order: the first
  // one ends up topmost. DKIM-Signature goes here, as MTAs expect.
  std::vector<HeaderField> prepend;
  std::optional<std::string> new_envelope_from;  // VERP (smfi_chgfrom)

  // Redis commands to run once the MTA took the message (message record,
  // reputation and scan counters); a failure is logged, never fatal.
  std::vector<std::vector<std::string>> redis_writes;

  std::string log_line;  // the message's one log line
};

}  // namespace sluice::milter
