// Tests for milter/header_rules.*: each rule kind, rule order, sections,
// duplicated and folded headers, regex captures, the milter edit order
// (CVE-2022-48521), header-injection attempts and file:line load errors.
#include "milter/header_rules.h"

#include <gtest/gtest.h>

#include <cctype>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::milter {
namespace {

using Fields = std::vector<HeaderField>;

}  // namespace

// Readable failure output ("got X, want Y").
void PrintTo(const HeaderField& f, std::ostream* os) { *os << '{' << f.name << ": \"" << f.value << "\"}"; }
void PrintTo(const HeaderChange& c, std::ostream* os) {
  *os << '{' << c.name << " #" << c.index << ' ' << (c.value ? "= \"" + *c.value + "\"" : std::string("delete")) << '}';
}

namespace {

HeaderRules rules_ok(std::string_view text) {
  auto r = parse_header_rules(text, "rules.conf");
  if (!r.ok()) {
    ADD_FAILURE() << r.error().message();
    return parse_header_rules("", "rules.conf").value();
  }
  return std::move(r).value();
}

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

// What an MTA does with the edits, as Postfix's cleanup_milter does with
// smfi_chgheader/smfi_addheader: the index counts the *current* headers of
// that name, so each call sees the effect of the calls before it.
Fields simulate_mta(Fields headers, const HeaderEdits& edits) {
  for (const HeaderChange& c : edits.ordered_for_milter()) {
    int seen = 0;
    for (auto it = headers.begin(); it != headers.end(); ++it) {
      if (!iequal(it->name, c.name) || ++seen != c.index) continue;
      if (c.value) {
        it->value = *c.value;
      } else {
        headers.erase(it);
      }
      break;
    }
  }
  for (const HeaderField& f : edits.additions) headers.push_back(f);
  return headers;
}

struct ApplyCase {
  const char* why;
  std::string_view rules;
  Fields in;
  HeaderContext ctx;
  Fields want;  // the resulting header
};

// The cases are written as a person reads headers; the milter hands values
// with the space after the colon (SMFIP_HDR_LEADSPC), so both sides get it.
Fields as_on_the_wire(Fields fields) {
  for (HeaderField& f : fields) f.value.insert(0, " ");
  return fields;
}

void run_cases(const std::vector<ApplyCase>& raw_cases) {
  for (const ApplyCase& raw : raw_cases) {
    ApplyCase c = raw;
    c.in = as_on_the_wire(raw.in);
    c.want = as_on_the_wire(raw.want);
    const HeaderRules rules = rules_ok(c.rules);
    const HeaderEdits edits = rules.apply(c.in, c.ctx);
    EXPECT_EQ(edits.result, c.want) << c.why;
    EXPECT_EQ(simulate_mta(c.in, edits), c.want) << c.why << ": the MTA, applying the edits, must get the same header";
    EXPECT_TRUE(edits.warnings.empty()) << c.why << ": " << edits.warnings.front();
  }
}

const Fields kBase = {
    {"Received", "from a by internal.example.com"},
    {"From", "alice@example.com"},
    {"X-Originating-IP", "[10.0.0.1]"},
    {"Subject", "[EXT] hello"},
    {"X-Internal-Route", "r1"},
    {"x-internal-queue", "q7"},
};

TEST(HeaderRules, AppliesEachRuleKind) {
  run_cases({
      {"no rules: nothing changes", "", kBase, {}, kBase},
      {"remove by name, case-insensitive", "remove x-originating-ip", kBase, {},
       {kBase[0], kBase[1], kBase[3], kBase[4], kBase[5]}},
      {"remove by name regex", "remove /^X-Internal-/", kBase, {}, {kBase[0], kBase[1], kBase[2], kBase[3]}},
      {"remove by value regex", "remove Received /by internal\\.example\\.com/", kBase, {},
       {kBase[1], kBase[2], kBase[3], kBase[4], kBase[5]}},
      {"value regex that does not match keeps the header", "remove Received /by other\\.example/", kBase, {}, kBase},
      {"name regex + value regex", "remove /^x-internal/ /^q/", kBase, {},
       {kBase[0], kBase[1], kBase[2], kBase[3], kBase[4]}},
      {"trailing ':' after a name is tolerated", "remove X-Originating-IP:", kBase, {},
       {kBase[0], kBase[1], kBase[3], kBase[4], kBase[5]}},
      {"add appends at the end", "add X-Relay: sluice", {{"A", "1"}}, {}, {{"A", "1"}, {"X-Relay", "sluice"}}},
      {"add keeps existing ones", "add A: 2", {{"A", "1"}}, {}, {{"A", "1"}, {"A", "2"}}},
      {"add with an empty value", "add X-Empty:", {}, {}, {{"X-Empty", ""}}},
      {"set adds when absent", "set Organization: Example Corp", {{"A", "1"}}, {},
       {{"A", "1"}, {"Organization", "Example Corp"}}},
      {"set replaces in place", "set Organization: Example Corp", {{"organization", "Old"}, {"B", "2"}}, {},
       {{"organization", "Example Corp"}, {"B", "2"}}},
      {"set leaves exactly one", "set Organization: New",
       {{"Organization", "a"}, {"B", "2"}, {"ORGANIZATION", "b"}, {"Organization", "c"}}, {},
       {{"Organization", "New"}, {"B", "2"}}},
      {"set to the current value changes nothing", "set A: 1", {{"A", "1"}}, {}, {{"A", "1"}}},
      {"rewrite with a capture", "rewrite Subject /^\\[EXT\\] (.*)$/ $1", kBase, {},
       {kBase[0], kBase[1], kBase[2], {"Subject", "hello"}, kBase[4], kBase[5]}},
      {"rewrite replaces only the first match; text around it stays", "rewrite X /b+/ <$0>", {{"X", "abbcbb"}}, {},
       {{"X", "a<bb>cbb"}}},
      {"rewrite with $$ and literal $", "rewrite X /([0-9]+)/ $$$1 $x", {{"X", "cost 42"}}, {},
       {{"X", "cost $42 $x"}}},
      {"rewrite with an empty replacement deletes the match", "rewrite Subject /^\\[EXT\\] /", kBase, {},
       {kBase[0], kBase[1], kBase[2], {"Subject", "hello"}, kBase[4], kBase[5]}},
      {"a group that did not take part is empty", "rewrite X /(a)|(b)/ [$1$2]", {{"X", "b"}}, {}, {{"X", "[b]"}}},
      {"regexes are case-insensitive", "rewrite Subject /^\\[ext\\] /", {{"Subject", "[EXT] hi"}}, {},
       {{"Subject", "hi"}}},
      {"'/' inside a regex written as \\/", "remove X /a\\/b/", {{"X", "a/b"}, {"X", "ab"}}, {}, {{"X", "ab"}}},
      {"rules run in order and see earlier rules' work", "add X-Tag: one\nrewrite X-Tag /one/ two\nadd X-Tag: three\n",
       {}, {}, {{"X-Tag", "two"}, {"X-Tag", "three"}}},
      {"an added header can be removed again", "add X-T: 1\nremove X-T", {{"A", "1"}}, {}, {{"A", "1"}}},
      {"keywords are case-insensitive, comments and blanks skipped",
       "# comment\n\n   # indented comment\nREMOVE X-Originating-IP\r\n", kBase, {},
       {kBase[0], kBase[1], kBase[3], kBase[4], kBase[5]}},
      {"'#' inside a value is kept", "add X-Ticket: #1234", {}, {}, {{"X-Ticket", "#1234"}}},
  });
}

TEST(HeaderRules, DeletesSameNameHeadersHighestIndexFirst) {
  // Three Received headers; the rule deletes the 1st and the 3rd. Applied in
  // ascending order (1 then 3), the MTA would delete #1 and then find no #3
  // (or, with four, the wrong one): CVE-2022-48521.
  const Fields in = {
      {"Received", " from x by internal.example.com"},
      {"Received", " from y by mx.example.net"},
      {"From", " a@example.com"},
      {"Received", " from z by internal.example.com"},
  };
  const HeaderRules rules = rules_ok("remove Received /internal\\.example\\.com/\n");
  const HeaderEdits edits = rules.apply(in, {});
  const std::vector<HeaderChange> want_changes = {
      {"Received", 1, std::nullopt},
      {"Received", 3, std::nullopt},
  };
  EXPECT_EQ(edits.changes, want_changes) << "changes are listed in message order";
  const std::vector<HeaderChange> want_order = {
      {"Received", 3, std::nullopt},
      {"Received", 1, std::nullopt},
  };
  EXPECT_EQ(edits.ordered_for_milter(), want_order) << "highest index first";
  const Fields want = {{"Received", " from y by mx.example.net"}, {"From", " a@example.com"}};
  EXPECT_EQ(edits.result, want);
  EXPECT_EQ(simulate_mta(in, edits), want);
}

TEST(HeaderRules, MixedNamesDeletesAndValueChangesStayConsistent) {
  // Several names, deletions and value changes interleaved; indexes count per
  // name case-insensitively, and the simulated MTA must end with |result|.
  const Fields in = {
      {"X-A", " 1"}, {"x-b", " keep"}, {"X-a", " 2"}, {"X-B", " drop"}, {"X-A", " 3"}, {"x-b", " drop"}, {"X-A", " 4"},
  };
  const HeaderRules rules = rules_ok(
      "remove X-B /drop/\n"
      "remove X-A /^[13]$/\n"
      "rewrite X-A /^([0-9])$/ n$1\n"
      "add X-A: 5\n");
  const HeaderEdits edits = rules.apply(in, {});
  const Fields want = {{"x-b", " keep"}, {"X-a", " n2"}, {"X-A", " n4"}, {"X-A", " 5"}};
  EXPECT_EQ(edits.result, want);
  EXPECT_EQ(simulate_mta(in, edits), want);
  const std::vector<HeaderChange> want_changes = {
      {"X-A", 1, std::nullopt}, {"X-a", 2, " n2"},        {"X-B", 2, std::nullopt},
      {"X-A", 3, std::nullopt}, {"x-b", 3, std::nullopt}, {"X-A", 4, " n4"},
  };
  EXPECT_EQ(edits.changes, want_changes);
}

TEST(HeaderRules, MatchesFoldedValuesUnfolded) {
  // A Received header folded over two lines (as the MTA passes it): the regex
  // sees it unfolded, so a match across the fold works.
  const Fields in = {
      {"Received", " from host.example.net (host [192.0.2.1])\r\n\tby internal.example.com with ESMTP"},
      {"Subject", " [EXT] a long\n subject"},
      {"X-Keep", " line1\r\n line2"},
  };
  const HeaderRules rules = rules_ok(
      "remove Received /\\[192\\.0\\.2\\.1\\]\\)[[:space:]]+by internal/\n"
      "rewrite Subject /^\\[EXT\\] (.*)$/ $1\n"
      "rewrite X-Keep /nomatch/ x\n");
  const HeaderEdits edits = rules.apply(in, {});
  const Fields want = {{"Subject", " a long subject"}, {"X-Keep", " line1\r\n line2"}};
  EXPECT_EQ(edits.result, want) << "rewritten value is unfolded; untouched value keeps its folding";
  EXPECT_EQ(simulate_mta(in, edits), want);
}

TEST(HeaderRules, SectionsLimitRulesToAccountOrDomain) {
  const std::string_view text =
      "add X-All: 1\n"
      "[account alice bob]\n"
      "add X-Acct: 1\n"
      "[domain example.com *.example.org]\n"
      "add X-Dom: 1\n"
      "[all]\n"
      "add X-End: 1\n";
  struct Case {
    HeaderContext ctx;
    Fields want;
    const char* why;
  };
  const std::vector<Case> cases = {
      {{"alice", "example.com"}, {{"X-All", " 1"}, {"X-Acct", " 1"}, {"X-Dom", " 1"}, {"X-End", " 1"}},
       "both sections"},
      {{"bob", "other.net"}, {{"X-All", " 1"}, {"X-Acct", " 1"}, {"X-End", " 1"}}, "second account name"},
      {{"Alice", "EXAMPLE.COM"}, {{"X-All", " 1"}, {"X-Dom", " 1"}, {"X-End", " 1"}},
       "accounts case-sensitive, domains not"},
      {{"", "mail.example.org"}, {{"X-All", " 1"}, {"X-Dom", " 1"}, {"X-End", " 1"}}, "*.example.org: a subdomain"},
      {{"", "example.org"}, {{"X-All", " 1"}, {"X-End", " 1"}}, "*.example.org: not the domain itself"},
      {{"", "sub.example.com"}, {{"X-All", " 1"}, {"X-End", " 1"}}, "plain domain: exact only"},
      {{"", ""}, {{"X-All", " 1"}, {"X-End", " 1"}}, "no login, null sender"},
      {{"carol", "example.com."}, {{"X-All", " 1"}, {"X-Dom", " 1"}, {"X-End", " 1"}}, "trailing dot ignored"},
  };
  const HeaderRules rules = rules_ok(text);
  for (const Case& c : cases) EXPECT_EQ(rules.apply({}, c.ctx).result, c.want) << c.why;
}

TEST(HeaderRules, InjectionAttemptsAreRefusedAtLoadOrSkipped) {
  // At load: a CR, NUL or other control byte anywhere in a rule line.
  for (const std::string& text : {std::string("add X-A: a\rInjected: b\n"), std::string("add X-A: a\0b\n", 12),
                                 std::string("rewrite X /a/ b\rc\n"), std::string("add X-A: \x1b[31m\n")}) {
    auto r = parse_header_rules(text, "rules.conf");
    ASSERT_FALSE(r.ok()) << "must refuse a control byte";
    EXPECT_TRUE(r.error().detail.starts_with("rules.conf:1: control byte 0x")) << r.error().detail;
  }
  // A LF ends the line: what follows is a (bad) rule of its own.
  auto r = parse_header_rules("add X-A: a\nInjected: b\n", "rules.conf");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().detail.starts_with("rules.conf:2: unknown rule")) << r.error().detail;

  // At apply: a rewrite copying a NUL from the message into the value is
  // skipped and reported; the header stays as it was.
  // ('.' never matches NUL in glibc's POSIX syntax, but the text around a
  // match is copied too.)
  const HeaderRules rules = rules_ok("rewrite Subject /^a/ [$0]\n");
  const Fields in = {{"Subject", std::string(" a\0b", 4)}, {"Subject", " abc"}};
  const HeaderEdits edits = rules.apply(in, {});
  const Fields want = {{"Subject", std::string(" a\0b", 4)}, {"Subject", " [a]bc"}};
  EXPECT_EQ(edits.result, want);
  ASSERT_EQ(edits.warnings.size(), 1u);
  EXPECT_EQ(edits.warnings[0], "rules.conf:1: Subject: rewrite skipped: result would contain CR, LF or NUL");
  for (const HeaderField& f : edits.result) {
    if (f.value.find_first_of("\r\n") != std::string::npos) ADD_FAILURE() << "CR/LF in result";
  }
}

TEST(HeaderRules, LongValuesAreNotFedToRegexes) {
  const HeaderRules rules = rules_ok("remove X-Big /a/\nrewrite X-Big /a/ b\nremove X-Big\n");
  const Fields in = {{"X-Big", " " + std::string(kMaxRegexInput + 1, 'a')},
                     {"X-Big", " " + std::string(kMaxRegexInput, 'c')}};
  const HeaderEdits edits = rules.apply(in, {});
  EXPECT_TRUE(edits.result.empty()) << "remove by name still works";
  ASSERT_EQ(edits.warnings.size(), 2u);
  EXPECT_EQ(edits.warnings[0], "rules.conf:1: X-Big: value longer than 8192 bytes not matched");
  EXPECT_EQ(edits.warnings[1], "rules.conf:2: X-Big: value longer than 8192 bytes not matched");
}

TEST(HeaderRules, RewriteResultIsCapped) {
  const HeaderRules rules = rules_ok("rewrite X /^(.*)$/ $1$1$1\n");
  const Fields in = {{"X", " " + std::string(4000, 'a')}};
  const HeaderEdits edits = rules.apply(in, {});
  EXPECT_EQ(edits.result, in);
  ASSERT_EQ(edits.warnings.size(), 1u);
  EXPECT_EQ(edits.warnings[0], "rules.conf:1: X: rewrite skipped: result longer than 8192 bytes");
}

TEST(HeaderRules, WarningsEscapeHeaderNames) {
  const HeaderRules rules = rules_ok("rewrite /./ /v/ w\n");
  const Fields in = {{"X-\x1b", std::string(" v\0", 3)}};
  const HeaderEdits edits = rules.apply(in, {});
  ASSERT_EQ(edits.warnings.size(), 1u);
  EXPECT_EQ(edits.warnings[0].find('\x1b'), std::string::npos) << edits.warnings[0];
}

TEST(HeaderRules, ReportsFileAndLineForEveryMistake) {
  struct Case {
    std::string text;
    std::string_view want;
    const char* why;
  };
  const std::vector<Case> cases = {
      {"frobnicate X", "rules.conf:1: unknown rule \"frobnicate\"", "unknown keyword"},
      {"\n\nremove", "rules.conf:3: missing header name or /regex/", "remove without a name"},
      {"remove X Y", "rules.conf:1: expected /regex/ or end of line", "two names"},
      {"remove Bad:Name", "rules.conf:1: invalid header name \"Bad:Name\"", "colon inside a name"},
      {"remove X\xc3\xa9", "rules.conf:1: invalid header name \"X\\xc3\\xa9\"", "non-ASCII name, escaped"},
      {"remove /abc", "rules.conf:1: regex not closed", "unclosed regex"},
      {"remove //", "rules.conf:1: empty regex", "empty regex"},
      {"remove /a/i", "rules.conf:1: unexpected 'i' after the closing '/'", "flags"},
      {"remove /(/", "rules.conf:1: bad regex: ", "regcomp error"},
      {"remove X /a/ extra", "rules.conf:1: unexpected text after the value regex", "trailing text"},
      {"remove X /(a)\\1/", "rules.conf:1: regex refused: back-references", "back-reference"},
      {"remove X /a{256}/", "rules.conf:1: regex refused: a repetition count above 255", "big count"},
      {"remove X /((a{200}){200})/", "rules.conf:1: regex refused: too complex", "nested counts"},
      {"remove X /" + std::string(1025, 'a') + "/", "rules.conf:1: regex longer than 1024", "long regex"},
      {"add X-A", "rules.conf:1: add needs \"NAME: VALUE\"", "add without colon"},
      {"add X A: v", "rules.conf:1: invalid header name \"X A\"", "space in name"},
      {"add : v", "rules.conf:1: invalid header name \"\"", "empty name"},
      {"set X: " + std::string(996, 'v'), "rules.conf:1: header longer than 998 bytes", "overlong header"},
      {"rewrite Subject", "rules.conf:1: rewrite needs a /regex/", "rewrite without regex"},
      {"rewrite Subject /(a)/ $2", "rules.conf:1: replacement uses $2 but the regex has 1 group(s)", "bad group"},
      {"[account]", "rules.conf:1: [account] needs at least one name", "empty account section"},
      {"[domain bad_domain]", "rules.conf:1: invalid domain \"bad_domain\"", "bad domain"},
      {"[all extra]", "rules.conf:1: [all] takes no names", "[all] with names"},
      {"[sender x]", "rules.conf:1: unknown section \"sender\"", "unknown section"},
      {"[all", "rules.conf:1: section line must end with ']'", "unclosed section"},
      {std::string(5000, 'x'), "rules.conf:1: line longer than 4096", "overlong line"},
  };
  for (const Case& c : cases) {
    auto r = parse_header_rules(c.text, "rules.conf");
    ASSERT_FALSE(r.ok()) << c.why;
    EXPECT_EQ(r.error().code, Errc::kConfig) << c.why;
    EXPECT_NE(r.error().detail.find(c.want), std::string::npos)
        << c.why << ": got \"" << r.error().detail << "\", want it to contain \"" << c.want << "\"";
  }
}

TEST(HeaderRules, ParsesTheDocumentedExample) {
  auto r = parse_header_rules(
      "# Strip what leaks the inside of the network.\n"
      "remove X-Originating-IP\n"
      "remove /^X-Internal-/\n"
      "remove Received /by internal\\.example\\.com/\n"
      "add X-Relay: sluice\n"
      "\n"
      "[domain example.com *.example.com]\n"
      "set Organization: Example Corp\n"
      "\n"
      "[account alice bob]\n"
      "rewrite Subject /^\\[EXT\\] (.*)$/ $1\n"
      "\n"
      "[all]\n"
      "remove X-Mailer\n",
      "/etc/sluice/header_rules");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->size(), 7u);
}

TEST(HeaderRules, MovedRulesStillWork) {
  HeaderRules a = rules_ok("add X: 1");
  HeaderRules b = std::move(a);
  const Fields want = {{"X", " 1"}};
  EXPECT_EQ(b.apply({}, {}).result, want);
}

}  // namespace
}  // namespace sluice::milter
