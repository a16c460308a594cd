// What a failed delivery means for the recipient: the classification table
// of sluice-bounce (doc/sluice-bounce.8, CLASSIFICATION). Pure.
//
//   hard   the address does not work: 5.1.x (but 5.1.4, 5.1.5, 5.1.7-5.1.9),
//          5.2.1 disabled, 5.4.4 with "not found", or 5.0.0/5.5.x/no code
//          with an unknown-user text. Suppresses the recipient.
//   soft   may work later: 4.x.x, 5.2.2 mailbox full, 5.2.x, 5.3.x, 5.4.x,
//          5.6.x, and every case in doubt. Counted; soft_bounce_limit of them
//          within soft_bounce_window suppress it for soft_suppress_for.
//   block  refused by policy: 5.7.x, or a spam/blocklist/policy text.
//          Counted for the account's reputation, never suppresses.
//   none   not a failure: Action delivered, relayed, expanded or delayed,
//          or class 2.
#pragma once

#include <string>
#include <string_view>

namespace sluice::bounce {

enum class BounceKind { kNone, kHard, kSoft, kBlock, kComplaint };

// "none", "hard", "soft", "block", "complaint" (also the reputation fields).
std::string_view bounce_kind_name(BounceKind kind);

struct Classification {
  BounceKind kind = BounceKind::kNone;
  std::string status;  // the enhanced status used ("5.1.1"), or "" when none was found
};

// |action| lowercased (RFC 3464 2.3.3, "" when unknown), |status| the Status
// field or "", |diagnostic| the Diagnostic-Code text or a bounce's text.
Classification classify_failure(std::string_view action, std::string_view status, std::string_view diagnostic);

}  // namespace sluice::bounce
