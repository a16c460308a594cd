#include "bounce/plain_bounce.h"

#include <gtest/gtest.h>

#include <chrono>

#include "bounce/mime.h"
#include "tests/unit/bounce/corpus.h"

namespace sluice::bounce {
namespace {

using test::corpus;

// The body of a corpus sample (everything after its header section).
std::string body_of(const std::string& message) {
  return message.substr(parse_header_section(message).body_offset);
}

const std::vector<std::string> kExclude = {"bounce+01jd3xk6m5q3w8r2t4y6z8a0bc@verp.example"};

TEST(PlainBounce, EachSample) {
  struct Case {
    const char* file;
    std::vector<std::string> recipients;
    const char* status;
    int smtp;
    const char* returned_starts;  // the de-indented headers after the marker
  } cases[] = {
      {"exim_plain.eml", {"judy@example.co.uk"}, "5.1.1", 550, "Return-path: <bounce+"},
      {"postfix_plain.eml", {"karl@example.de"}, "5.1.1", 550, "From: alice@example.com"},
      {"gmail_plain.eml", {"leo@example.com"}, "5.1.1", 550, "From: alice@example.com"},
      {"yahoo_plain.eml", {"nina@yahoo.com"}, "", 554, "Received: from relay.example"},
      {"qmail_quota_indented.eml", {"oscar@example.nl"}, "5.2.2", 0, "Return-Path: <bounce+"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file);
    auto got = parse_plain_bounce(body_of(corpus(c.file)), kExclude);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->recipients, c.recipients);
    EXPECT_EQ(got->status, c.status);
    EXPECT_EQ(got->smtp_code, c.smtp);
    EXPECT_FALSE(got->delayed);
    EXPECT_TRUE(got->returned_headers.starts_with(c.returned_starts)) << got->returned_headers.substr(0, 80);
    EXPECT_FALSE(got->diagnostic.empty());
  }
}

TEST(PlainBounce, OutlookTextPart) {
  const std::string text = decode_quoted_printable(
      "Your message to mallory@contoso.example couldn't be delivered.\n\nmallory@contoso.example\n"
      "Remote Server returned '550 5.1.1 RESOLVER.ADR.RecipNotFound; not found'\n\nOriginal message headers:\n\n"
      "From: alice@example.com\nX-Sluice-ID: 01jd3xk6m5q3w8r2t4y6z8a0bc\n",
      100000);
  auto got = parse_plain_bounce(text, {});
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->recipients, std::vector<std::string>{"mallory@contoso.example"});
  EXPECT_EQ(got->status, "5.1.1");
  EXPECT_TRUE(got->returned_headers.starts_with("From: alice@example.com"));
}

TEST(PlainBounce, ADelayWarningIsNotAFailure) {
  auto got = parse_plain_bounce(
      "A message that you sent has not yet been delivered to one or more of its recipients after more than 24 "
      "hours on the queue.\n\n  dave@example.net\n    host mx.example.net: 451 4.3.0 try later\n",
      {});
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->delayed);
  EXPECT_EQ(got->status, "4.3.0");
}

TEST(PlainBounce, TextWithoutAFailureIsNotABounce) {
  EXPECT_FALSE(parse_plain_bounce("I am out of the office until 2 December. Write to trent@example.org.\n", {}));
  EXPECT_FALSE(parse_plain_bounce("", {}));
}

TEST(PlainBounce, PostmasterAndExcludedAddressesAreNoCandidates) {
  auto got = parse_plain_bounce(
      "550 5.1.1 user unknown: walter@example.org\nContact postmaster@example.org or "
      "MAILER-DAEMON@example.org. Sent by bounce+x@verp.example\n",
      {"bounce+x@verp.example"});
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->recipients, std::vector<std::string>{"walter@example.org"});
}

TEST(PlainBounce, HugeTextIsScannedInBoundedTime) {
  std::string text(8 * 1024 * 1024, 'x');
  for (std::size_t i = 100; i < text.size(); i += 101) text[i] = '@';
  const auto start = std::chrono::steady_clock::now();
  (void)parse_plain_bounce(text, {});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST(FindAddresses, TakesAddressesOutOfText) {
  EXPECT_EQ(find_addresses("RCPT TO:<Judy@Example.CO.UK>: (judy@example.co.uk) and x@y", 10),
            std::vector<std::string>{"judy@example.co.uk"});
  EXPECT_EQ(find_addresses("a@b.example, c@d.example, e@f.example", 2),
            (std::vector<std::string>{"a@b.example", "c@d.example"}));
}

}  // namespace
}  // namespace sluice::bounce
