// Tests for milter/signing_table.*: OpenDKIM's exact lookup order (file:),
// glob patterns in file order (refile:), dual signing, case rules, the check
// against the key table, and a file:line error for every kind of mistake.
#include "milter/signing_table.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace sluice::milter {
namespace {

using Names = std::vector<std::string>;

Mailbox mbox(std::string_view text) {
  auto m = parse_mailbox(text);
  if (!m.ok()) ADD_FAILURE() << "bad test address " << text;
  return m.ok() ? *m : Mailbox{};
}

SigningTable parse_ok(std::string_view text, std::string_view name) {
  auto t = parse_signing_table(text, name);
  if (!t.ok()) {
    ADD_FAILURE() << t.error().message();
    return parse_signing_table("", name).value();
  }
  return std::move(t).value();
}

struct LookupCase {
  std::string_view from;
  bool all;
  Names want;
  const char* why;
};

void run_cases(const SigningTable& table, const std::vector<LookupCase>& cases) {
  for (const LookupCase& c : cases) {
    EXPECT_EQ(table.lookup(mbox(c.from), c.all), c.want) << c.why << " (from " << c.from << ")";
  }
}

TEST(SigningTableExact, FollowsOpenDkimLookupOrder) {
  // One line per lookup key OpenDKIM tries, deliberately listed in reverse
  // order to show that lookup order, not file order, decides.
  const SigningTable table = parse_ok(
      "*                     k-star\n"
      "user@*                k-user-any\n"
      ".com                  k-dot-com\n"
      "user@.com             k-user-dot-com\n"
      ".example.com          k-dot-example\n"
      "user@.example.com     k-user-dot-example\n"
      "host.example.com      k-host\n"
      "user@host.example.com k-full\n",
      "file:/etc/st");
  run_cases(table, {
      {"user@host.example.com", false, {"k-full"}, "1. full address first"},
      {"other@host.example.com", false, {"k-host"}, "2. then the domain"},
      {"user@a.example.com", false, {"k-user-dot-example"}, "3. user@.parent before .parent"},
      {"other@a.example.com", false, {"k-dot-example"}, "3. .parent"},
      {"user@example.net", false, {"k-user-any"}, "4. user@* (no .net line)"},
      {"user@b.a.example.com", false, {"k-user-dot-example"}, "3. nearest parent first: .a.example.com absent"},
      {"other@example.org", false, {"k-star"}, "5. '*' last"},
      {"user@host.example.com", true,
       {"k-full", "k-host", "k-user-dot-example", "k-dot-example", "k-user-dot-com", "k-dot-com", "k-user-any",
        "k-star"},
       "all matches, in lookup order"},
      {"other@x.com", true, {"k-dot-com", "k-star"}, "all matches for another sender"},
  });
}

TEST(SigningTableExact, OpenDkimDocumentationExample) {
  // The classic per-domain exact table: domain keys, one user override.
  const SigningTable table = parse_ok(
      "example.com        default._domainkey.example.com\n"
      "boss@example.com   boss._domainkey.example.com   # special key\n"
      "example.net        default._domainkey.example.net\n",
      "/etc/opendkim/SigningTable");
  run_cases(table, {
      {"anyone@example.com", false, {"default._domainkey.example.com"}, "domain entry"},
      {"boss@example.com", false, {"boss._domainkey.example.com"}, "address entry wins over domain"},
      {"boss@example.com", true, {"boss._domainkey.example.com", "default._domainkey.example.com"}, "both with all"},
      {"x@sub.example.com", false, {}, "no '.example.com' line: subdomains are not implied"},
      {"x@example.org", false, {}, "no match"},
      {"", false, {}, "null sender"},
  });
}

TEST(SigningTableExact, DualSigningWithTwoLinesPerPattern) {
  const SigningTable table = parse_ok(
      "example.com ed.example.com\n"
      "example.com rsa.example.com\n"
      "example.com ed.example.com\n",  // repeated: reported once
      "file:/t");
  run_cases(table, {
      {"a@example.com", false, {"ed.example.com"}, "first match only: the first line"},
      {"a@example.com", true, {"ed.example.com", "rsa.example.com"}, "dual signing, deduplicated, file order"},
  });
  EXPECT_EQ(table.match(mbox("a@example.com"), true).size(), 3u) << "match() keeps one entry per line";
}

TEST(SigningTableExact, DomainIsCaseInsensitiveLocalPartIsNot) {
  const SigningTable table = parse_ok("Alice@Example.COM k-alice\nEXAMPLE.com k-domain\n", "/t");
  run_cases(table, {
      {"Alice@example.com", false, {"k-alice"}, "domain case ignored"},
      {"Alice@EXAMPLE.COM", false, {"k-alice"}, "sender domain case ignored too"},
      {"alice@example.com", false, {"k-domain"}, "local part compared as written"},
  });
}

TEST(SigningTableExact, AddressLiteralsMatchNothing) {
  const SigningTable table = parse_ok("* k\n", "/t");
  EXPECT_TRUE(table.lookup(mbox("user@[192.0.2.1]"), true).empty());
}

TEST(SigningTableRefile, GlobPatternsInFileOrder) {
  // OpenDKIM README style refile table.
  const SigningTable table = parse_ok(
      "# SigningTable (refile)\n"
      "ceo@example.com        ceo.example.com\n"
      "*@example.com          ed.example.com\n"
      "*@example.com          rsa.example.com\n"
      "*@*.example.com        sub.example.com\n"
      "*@EXAMPLE.org          org\n"
      "Sales*@example.net     sales\n"
      "*                      catchall\n",
      "refile:/etc/opendkim/SigningTable");
  run_cases(table, {
      {"ceo@example.com", false, {"ceo.example.com"}, "first matching line wins"},
      {"ceo@example.com", true, {"ceo.example.com", "ed.example.com", "rsa.example.com", "catchall"},
       "all matching lines in file order"},
      {"bob@example.com", true, {"ed.example.com", "rsa.example.com", "catchall"}, "dual signing"},
      {"bob@mail.example.com", false, {"sub.example.com"}, "'*' spans a label"},
      {"bob@a.b.example.com", false, {"sub.example.com"}, "'*' spans dots too"},
      {"bob@example.org", false, {"org"}, "pattern domain lowercased at load"},
      {"bob@Example.ORG", false, {"org"}, "sender domain lowercased by parse_mailbox"},
      {"Sales-eu@example.net", false, {"sales"}, "'*' inside a local part"},
      {"sales-eu@example.net", false, {"catchall"}, "local part case kept"},
      {"x@examplexcom", false, {"catchall"}, "'.' is literal, not regex any-char"},
      {"", true, {}, "null sender signs nothing"},
  });
}

TEST(Glob, MatchesStarsOnly) {
  struct Case {
    std::string_view pattern;
    std::string text;  // owns it: one case is built from a temporary
    bool want;
    const char* why;
  };
  const std::vector<Case> cases = {
      {"", "", true, "empty matches empty"},
      {"*", "", true, "star matches nothing"},
      {"*", "anything@x", true, "star matches all"},
      {"a*b", "ab", true, "inner star empty"},
      {"a*b", "axxb", true, "inner star some"},
      {"a*b", "axxbc", false, "anchored at the end"},
      {"*b", "abab", true, "backtracks to the last b"},
      {"a**b", "ab", true, "double star"},
      {"*@*.example.com", "u@example.com", false, "needs a subdomain"},
      {"a.c", "abc", false, "dot is literal"},
      {"a*a*a*a*a*b", std::string(4000, 'a') + "c", false, "no exponential backtracking"},
  };
  for (const Case& c : cases) EXPECT_EQ(glob_match(c.pattern, c.text), c.want) << c.why;
}

TEST(SigningTable, ReportsFileAndLineForEveryMistake) {
  struct Case {
    std::string_view name;
    std::string_view text;
    std::string_view want;
    const char* why;
  };
  const std::vector<Case> cases = {
      {"/t", "example.com\n", "/t:1: missing key name after pattern \"example.com\"", "pattern alone"},
      {"/t", "# x\na k s@a.com extra\n", "/t:2: unexpected text after SIGNER", "four fields"},
      {"/t", "a %\n", "/t:1: key name \"%\" (the sender's domain) is not supported", "OpenDKIM % key"},
      {"/t", "a k %@a.com\n", "/t:1: '%' in signer", "OpenDKIM % signer"},
      {"/t", "a k nobody\n", "/t:1: signer \"nobody\" is not [user]@domain", "signer without @"},
      {"/t", "*@example.com k\n", "/t:1: '*' in pattern \"*@example.com\" never matches in an exact", "glob in file:"},
      {"file:/t", "a*b k\n", "/t:1: '*' in pattern", "inner star in file:"},
      {"refile:/t", "user?@a.com k\n", "/t:1: '?' in pattern: OpenDKIM reads it as a regular expression", "regex '?'"},
      {"refile:/t", "[ab]@a.com k\n", "/t:1: '[' in pattern", "regex bracket"},
      {"refile:/t", "a|b k\n", "/t:1: '|' in pattern", "regex alternation"},
      {"/t", "a k\x7f\n", "/t:1: control byte 0x7f", "DEL"},
      {"/t", "a k\xc3\xa9\n", "/t:1: invalid key name \"k\\xc3\\xa9\"", "non-ASCII key name"},
      {"dsn:x", "", "OpenDKIM data set type \"dsn\" is not supported", "SQL data set"},
  };
  for (const Case& c : cases) {
    auto t = parse_signing_table(c.text, c.name);
    ASSERT_FALSE(t.ok()) << c.why;
    EXPECT_EQ(t.error().code, Errc::kConfig) << c.why;
    EXPECT_NE(t.error().detail.find(c.want), std::string::npos)
        << c.why << ": got \"" << t.error().detail << "\", want it to contain \"" << c.want << "\"";
  }
}

TEST(SigningTable, ExactCatchAllFormsAreAccepted) {
  EXPECT_TRUE(parse_signing_table("* k\nuser@* k\n", "/t").ok());
}

TEST(SigningTable, CheckAgainstKeyTableNamesFirstMissingKey) {
  auto keys = parse_key_table("ed example.com:ed:/k/ed\nrsa example.com:rsa:/k/rsa\n", "file:/etc/sluice/keys");
  ASSERT_TRUE(keys.ok());
  const SigningTable good = parse_ok("example.com ed\nexample.com rsa\n", "/etc/sluice/signing");
  EXPECT_TRUE(check_signing_table(good, *keys).ok());
  const SigningTable bad = parse_ok("example.com ed\n\n# x\nexample.org missing\n", "refile:/etc/sluice/signing");
  Status st = check_signing_table(bad, *keys);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kConfig);
  EXPECT_EQ(st.error().detail, "/etc/sluice/signing:4: key \"missing\" is not in the key table /etc/sluice/keys");
}

}  // namespace
}  // namespace sluice::milter
