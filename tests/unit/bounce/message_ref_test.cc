#include "bounce/message_ref.h"

#include <gtest/gtest.h>

#include "tests/unit/bounce/corpus.h"

namespace sluice::bounce {
namespace {

using test::corpus;
using test::kTrackingId;

const VerpSettings kVerp{"bounce", "verp.example"};

TEST(Verp, ParsesOurAddressesOnly) {
  struct Case {
    const char* address;
    const char* want;  // "" : not ours
  } cases[] = {
      {"bounce+01jd3xk6m5q3w8r2t4y6z8a0bc@verp.example", kTrackingId},
      {"<BOUNCE+01JD3XK6M5Q3W8R2T4Y6Z8A0BC@VERP.EXAMPLE>", kTrackingId},  // receivers may change case
      {"bounce+01jd3xk6m5q3w8r2t4y6z8a0bc@other.example", ""},            // another domain
      {"bouncer+01jd3xk6m5q3w8r2t4y6z8a0bc@verp.example", ""},            // another prefix
      {"bounce-01jd3xk6m5q3w8r2t4y6z8a0bc@verp.example", ""},
      {"bounce+01jd3xk6m5q3w8r2t4y6z8a0b@verp.example", ""},  // 25 characters
      {"bounce+u1jd3xk6m5q3w8r2t4y6z8a0bc@verp.example", ""},  // 'u' is not Crockford base32
      {"", ""},
      {"not an address", ""},
  };
  for (const Case& c : cases) {
    auto got = tracking_id_from_verp(c.address, kVerp);
    EXPECT_EQ(got.value_or(""), c.want) << c.address;
  }
  EXPECT_EQ(tracking_id_from_verp("bounce+01jd3xk6m5q3w8r2t4y6z8a0bc@anything.example", VerpSettings{"bounce", ""})
                .value_or(""),
            kTrackingId);
}

TEST(MessageRef, PrefersTheEnvelopeRecipient) {
  auto report = parse_report(corpus("postfix_dsn_user_unknown.eml"));
  ASSERT_TRUE(report.ok());
  auto ref = find_message_ref(*report, "bounce+7zzzzzzzzzzzzzzzzzzzzzzzzz@verp.example", kVerp);
  ASSERT_TRUE(ref.has_value());
  EXPECT_EQ(ref->tracking_id, "7zzzzzzzzzzzzzzzzzzzzzzzzz");
  EXPECT_EQ(ref->source, "envelope");
  ref = find_message_ref(*report, "", kVerp);
  ASSERT_TRUE(ref.has_value());
  EXPECT_EQ(ref->tracking_id, kTrackingId);
  EXPECT_EQ(ref->source, "to");
}

TEST(MessageRef, FallsBackToTheTrackingHeaderAndReturnPath) {
  auto arf = parse_report(corpus("arf_abuse.eml"));  // sent to the feedback address
  ASSERT_TRUE(arf.ok());
  auto ref = find_message_ref(*arf, "fbl@feedback.example", kVerp);
  ASSERT_TRUE(ref.has_value());
  EXPECT_EQ(ref->tracking_id, kTrackingId);
  EXPECT_EQ(ref->source, "header");

  Report stripped = *arf;
  stripped.tracking_value.clear();
  ref = find_message_ref(stripped, "fbl@feedback.example", kVerp);
  ASSERT_TRUE(ref.has_value());
  EXPECT_EQ(ref->source, "return-path");

  stripped.returned = HeaderSection{};
  EXPECT_FALSE(find_message_ref(stripped, "fbl@feedback.example", kVerp).has_value());
}

}  // namespace
}  // namespace sluice::bounce
