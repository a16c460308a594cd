#include "bounce/classify.h"

#include <gtest/gtest.h>

namespace sluice::bounce {
namespace {

// The classification table of doc/sluice-bounce.8, row by row.
TEST(Classify, Table) {
  struct Case {
    const char* action;
    const char* status;
    const char* diagnostic;
    BounceKind want;
    const char* want_status;
    const char* why;
  } cases[] = {
      {"failed", "5.1.1", "550 5.1.1 User unknown", BounceKind::kHard, "5.1.1", "unknown user"},
      {"failed", "5.1.2", "", BounceKind::kHard, "5.1.2", "bad destination system"},
      {"failed", "5.1.10", "556 5.1.10 null MX", BounceKind::kHard, "5.1.10", "null MX (RFC 7505)"},
      {"failed", "5.1.6", "", BounceKind::kHard, "5.1.6", "mailbox moved"},
      {"failed", "5.2.1", "mailbox disabled", BounceKind::kHard, "5.2.1", "disabled"},
      {"failed", "5.2.2", "552 5.2.2 Mailbox full", BounceKind::kSoft, "5.2.2", "full: may empty"},
      {"failed", "5.2.3", "", BounceKind::kSoft, "5.2.3", "message too big"},
      {"failed", "5.1.7", "", BounceKind::kSoft, "5.1.7", "our sender's syntax, not the recipient"},
      {"failed", "4.4.1", "connection timed out", BounceKind::kSoft, "4.4.1", "expired after retries"},
      {"failed", "4.2.2", "over quota", BounceKind::kSoft, "4.2.2", "temporary"},
      {"failed", "5.7.1", "550 5.7.1 user unknown", BounceKind::kBlock, "5.7.1", "5.7 never suppresses"},
      {"failed", "5.7.26", "DMARC policy", BounceKind::kBlock, "5.7.26", "policy"},
      {"failed", "5.0.0", "550 5.1.1 no such user", BounceKind::kHard, "5.1.1", "the text's code is more precise"},
      {"failed", "5.0.0", "550 User unknown", BounceKind::kHard, "5.0.0", "generic code, unknown-user text"},
      {"failed", "5.0.0", "550 blocked by spamhaus", BounceKind::kBlock, "5.0.0", "generic code, block text"},
      {"failed", "5.0.0", "550 rejected", BounceKind::kSoft, "5.0.0", "in doubt: soft"},
      {"failed", "", "554 delivery error: This user doesn't have a yahoo.com account", BounceKind::kHard, "5.0.0",
       "SMTP code only"},
      {"failed", "", "452 try later", BounceKind::kSoft, "4.0.0", "4xx SMTP code"},
      {"failed", "", "User unknown", BounceKind::kHard, "", "no code, unknown-user text"},
      {"failed", "", "something odd happened", BounceKind::kSoft, "", "no code, no text: soft"},
      {"failed", "5.4.4", "Host or domain name not found", BounceKind::kHard, "5.4.4", "domain does not exist"},
      {"failed", "5.4.4", "unable to route", BounceKind::kSoft, "5.4.4", "routing trouble"},
      {"failed", "5.5.0", "550 5.5.0 user unknown", BounceKind::kHard, "5.5.0", "protocol code, user text"},
      {"failed", "5.3.0", "", BounceKind::kSoft, "5.3.0", "system problem"},
      {"failed", "5.1.0", "550 5.1.0 blocked by policy", BounceKind::kBlock, "5.1.0", "5.1.0 with block text"},
      {"delayed", "4.4.1", "", BounceKind::kNone, "", "a warning, not a failure"},
      {"delivered", "2.0.0", "", BounceKind::kNone, "", "delivered"},
      {"relayed", "2.0.0", "", BounceKind::kNone, "", "relayed"},
      {"", "2.1.5", "", BounceKind::kNone, "2.1.5", "success code"},
      {"", "5.1.1", "", BounceKind::kHard, "5.1.1", "no Action: the code decides"},
  };
  for (const Case& c : cases) {
    const Classification got = classify_failure(c.action, c.status, c.diagnostic);
    EXPECT_EQ(got.kind, c.want) << c.why << ": got " << bounce_kind_name(got.kind) << ", want "
                                << bounce_kind_name(c.want);
    EXPECT_EQ(got.status, c.want_status) << c.why;
  }
}

TEST(Classify, KindNames) {
  EXPECT_EQ(bounce_kind_name(BounceKind::kHard), "hard");
  EXPECT_EQ(bounce_kind_name(BounceKind::kSoft), "soft");
  EXPECT_EQ(bounce_kind_name(BounceKind::kBlock), "block");
  EXPECT_EQ(bounce_kind_name(BounceKind::kComplaint), "complaint");
}

}  // namespace
}  // namespace sluice::bounce
