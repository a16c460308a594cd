// Tests for common/address.*: canonical forms, the null sender, size caps and
// hostile input (every failure must be an Error, never a crash or an echo).
#include "common/address.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace sluice {
namespace {

using namespace std::string_view_literals;

struct ValidCase {
  std::string_view input;
  std::string_view want;  // canonical str()
  const char* why;
};

// Each row: input as Postfix or SMTP hands it, the canonical form we want,
// and the rule it exercises.
const std::vector<ValidCase>& valid_cases() {
  static const std::vector<ValidCase> cases = {
      {"user@example.com", "user@example.com", "plain policy-request form"},
      {"<user@example.com>", "user@example.com", "SMTP angle-bracket form"},
      {"  <user@example.com>\t", "user@example.com", "surrounding spaces and tabs are trimmed"},
      {"User@Example.COM", "User@example.com", "domain lowercased, local part case kept"},
      {"user@example.com.", "user@example.com", "one trailing dot (absolute name) dropped"},
      {"user+tag@sub.example.com", "user+tag@sub.example.com", "'+' is atext (VERP, subaddressing)"},
      {"a.b.c@x.org", "a.b.c@x.org", "dot-string with several atoms"},
      {"!#$%&'*+-/=?^_`{|}~@x.org", "!#$%&'*+-/=?^_`{|}~@x.org", "every atext special"},
      {"\"john.doe\"@x.org", "john.doe@x.org", "quotes around a valid dot-string are dropped"},
      {"\"a\\b\"@x.org", "ab@x.org", "needless escape resolved, then unquoted"},
      {"\"john doe\"@x.org", "\"john doe\"@x.org", "space needs quoting"},
      {"\"a..b\"@x.org", "\"a..b\"@x.org", "double dot needs quoting"},
      {"\".a\"@x.org", "\".a\"@x.org", "leading dot needs quoting"},
      {"\"a@b\"@x.org", "\"a@b\"@x.org", "'@' inside quotes is kept"},
      {"\"a\\\"b\"@x.org", "\"a\\\"b\"@x.org", "escaped quote stays escaped"},
      {"\"a\\\\b\"@x.org", "\"a\\\\b\"@x.org", "escaped backslash stays escaped"},
      {"\"a\\ b\"@x.org", "\"a b\"@x.org", "escaped space needs no escape, only quotes"},
      {"<@a.example,@b.example:user@d.example>", "user@d.example", "source route discarded"},
      {"<@a.example:user@d.example>", "user@d.example", "one-hop source route discarded"},
      {"user@[192.0.2.1]", "user@[192.0.2.1]", "IPv4 address literal kept"},
      {"user@[IPv6:2001:DB8::1]", "user@[IPv6:2001:db8::1]", "IPv6 literal kept, hex lowercased"},
      {"user@[ipv6:::1]", "user@[IPv6:::1]", "IPv6 tag spelled one way"},
      {"postmaster@localhost", "postmaster@localhost", "single-label domain is valid RFC 5321"},
      {"user@1-2.example", "user@1-2.example", "digits and inner hyphens in labels"},
      {"J\xc3\xb6hn@B\xc3\xbc" "cher.EXAMPLE", "J\xc3\xb6hn@b\xc3\xbc" "cher.example",
       "UTF-8 kept as-is (no IDNA); only ASCII lowercased"},
      {"\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a",
       "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a", "all-UTF-8 address (RFC 6531)"},
      {"\"\xc3\xbc \xc3\xbc\"@x.org", "\"\xc3\xbc \xc3\xbc\"@x.org", "UTF-8 inside a quoted local part"},
      {"\xf0\x9f\x93\xa7@x.org", "\xf0\x9f\x93\xa7@x.org", "4-byte UTF-8 sequence"},
  };
  return cases;
}

TEST(AddressParse, ProducesCanonicalFormForValidInput) {
  for (const auto& c : valid_cases()) {
    auto m = parse_mailbox(c.input);
    ASSERT_TRUE(m.ok()) << c.why << ": got error " << m.error().message() << ", want " << c.want;
    EXPECT_EQ(m->str(), c.want) << c.why;
    EXPECT_FALSE(m->is_null()) << c.why;
  }
}

TEST(AddressParse, CanonicalFormReparsesToSameMailbox) {
  // str() must be a fixed point: parsing it again gives the same value, so
  // logs and keys built from str() can be parsed back.
  for (const auto& c : valid_cases()) {
    auto first = parse_mailbox(c.input);
    ASSERT_TRUE(first.ok()) << c.why;
    auto second = parse_mailbox(first->str());
    ASSERT_TRUE(second.ok()) << c.why << ": canonical form " << first->str() << " did not reparse";
    EXPECT_EQ(*second, *first) << c.why;
    EXPECT_EQ(second->str(), first->str()) << c.why;
  }
}

TEST(AddressParse, UnquotesNeedlesslyQuotedLocalPart) {
  // The decoded local part carries no quotes; str() adds none for a dot-string.
  auto m = parse_mailbox("\"Fred.Bloggs\"@Example.org");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->local, "Fred.Bloggs");
  EXPECT_EQ(m->domain, "example.org");
  EXPECT_EQ(m->str(), "Fred.Bloggs@example.org");
}

TEST(AddressParse, DecodesQuotedLocalPartIntoField) {
  // Escapes are resolved in the field; str() re-escapes only '"' and '\'.
  auto m = parse_mailbox("<\"a\\\"b c\"@x.org>");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->local, "a\"b c");
  EXPECT_EQ(m->str(), "\"a\\\"b c\"@x.org");
}

TEST(AddressParse, AcceptsNullSenderForms) {
  // Postfix sends "sender=" for the null sender; SMTP writes "<>".
  for (std::string_view in : {""sv, "<>"sv, "  "sv, " <> "sv}) {
    auto m = parse_mailbox(in);
    ASSERT_TRUE(m.ok()) << "input [" << in << "]: got error " << m.error().message();
    EXPECT_TRUE(m->is_null());
    EXPECT_EQ(m->local, "");
    EXPECT_EQ(m->domain, "");
    EXPECT_EQ(m->str(), "");
    EXPECT_EQ(m->lookup_key(), "");
  }
}

TEST(AddressParse, RejectsNullSenderWhenNotAllowed) {
  // A recipient can never be null: callers parsing one pass allow_null=false.
  for (std::string_view in : {""sv, "<>"sv}) {
    auto m = parse_mailbox(in, MailboxOptions{.allow_null = false});
    ASSERT_FALSE(m.ok()) << "input [" << in << "]";
    EXPECT_EQ(m.error().code, Errc::kInvalidInput);
  }
  EXPECT_TRUE(parse_mailbox("a@b", MailboxOptions{.allow_null = false}).ok());
}

struct BadCase {
  std::string_view input;
  Errc want;
  const char* why;
};

TEST(AddressParse, RejectsHostileAndMalformedInput) {
  const std::string huge(2000, 'a');
  const std::vector<BadCase> cases = {
      {"user@example.com\r\nRCPT TO:<victim@x.org>", Errc::kInvalidInput, "CRLF injection"},
      {"user@example.com\n", Errc::kInvalidInput, "trailing LF is not trimmed"},
      {"user@example.com\r", Errc::kInvalidInput, "trailing CR is not trimmed"},
      {"us\0er@example.com"sv, Errc::kInvalidInput, "NUL byte"},
      {"user@exa\x7fmple.com", Errc::kInvalidInput, "DEL byte"},
      {"\"a\rb\"@x.org", Errc::kInvalidInput, "CR inside quotes"},
      {"\"a\\\x01\"@x.org", Errc::kInvalidInput, "escaped control byte"},
      {"us\ter@x.org", Errc::kInvalidInput, "inner tab"},
      {huge, Errc::kTooLong, "2000-byte input rejected before parsing"},
      {"\"", Errc::kInvalidInput, "lone quote"},
      {"\"abc@example.com", Errc::kInvalidInput, "unterminated quoted string"},
      {"\"a\\", Errc::kInvalidInput, "escape at end of input"},
      {"\"a\"b@x.org", Errc::kInvalidInput, "text after closing quote"},
      {"\"a\"", Errc::kInvalidInput, "quoted local part without domain"},
      {"\"\"@example.com", Errc::kInvalidInput, "empty quoted local part"},
      {"<user@example.com", Errc::kInvalidInput, "unterminated '<'"},
      {"<", Errc::kInvalidInput, "lone '<'"},
      {"user@example.com>", Errc::kInvalidInput, "'>' without '<'"},
      {"<<user@x.org>>", Errc::kInvalidInput, "nested brackets"},
      {"< user@x.org>", Errc::kInvalidInput, "space inside brackets"},
      {"<user@x.org >", Errc::kInvalidInput, "space before '>'"},
      {"a@b@c", Errc::kInvalidInput, "two '@'"},
      {"user", Errc::kInvalidInput, "no '@'"},
      {"user@", Errc::kInvalidInput, "no domain"},
      {"user@.", Errc::kInvalidInput, "domain of only a dot"},
      {"@example.com", Errc::kInvalidInput, "no local part"},
      {"user@example..com", Errc::kInvalidInput, "empty label"},
      {"user@.example.com", Errc::kInvalidInput, "leading empty label"},
      {"user@example.com..", Errc::kInvalidInput, "two trailing dots"},
      {"user@-example.com", Errc::kInvalidInput, "label starts with hyphen"},
      {"user@example-.com", Errc::kInvalidInput, "label ends with hyphen"},
      {"user@exa_mple.com", Errc::kInvalidInput, "underscore is not LDH"},
      {"user@exa mple.com", Errc::kInvalidInput, "space in domain"},
      {"user@x.org\"", Errc::kInvalidInput, "quote in domain"},
      {".user@x.org", Errc::kInvalidInput, "leading dot in local part"},
      {"user.@x.org", Errc::kInvalidInput, "trailing dot in local part"},
      {"us..er@x.org", Errc::kInvalidInput, "double dot in local part"},
      {"us er@x.org", Errc::kInvalidInput, "space in unquoted local part"},
      {"us(er)@x.org", Errc::kInvalidInput, "RFC 5322 comment syntax is not SMTP"},
      {"Name <user@x.org>", Errc::kInvalidInput, "display name is not SMTP"},
      {"user@[192.0.2.1", Errc::kInvalidInput, "unterminated address literal"},
      {"user@[]", Errc::kInvalidInput, "empty address literal"},
      {"user@[300.1.1.1]", Errc::kInvalidInput, "IPv4 octet out of range"},
      {"user@[192.0.2]", Errc::kInvalidInput, "short IPv4 literal"},
      {"user@[2001:db8::1]", Errc::kInvalidInput, "IPv6 literal without tag"},
      {"user@[IPv6:2001:db8::g]", Errc::kInvalidInput, "bad IPv6 hex"},
      {"user@[IPv6:]", Errc::kInvalidInput, "empty IPv6 literal"},
      {"user@[x400:foo]", Errc::kInvalidInput, "general address literal"},
      {"user@[192.0.2.1]]", Errc::kInvalidInput, "extra ']'"},
      {"user@[192.0.2.1].com", Errc::kInvalidInput, "text after literal"},
      {"@a.example:user@x.org", Errc::kInvalidInput, "source route outside brackets"},
      {"<@a.example>", Errc::kInvalidInput, "source route without ':'"},
      {"<@a.example:>", Errc::kInvalidInput, "source route without mailbox"},
      {"<@:user@x.org>", Errc::kInvalidInput, "empty source route hop"},
      {"<@a..b:user@x.org>", Errc::kInvalidInput, "bad source route domain"},
      {"<@a.,@b:user@x.org>", Errc::kInvalidInput, "trailing dot in source route hop"},
      {"<@a,b:user@x.org>", Errc::kInvalidInput, "source route hop without '@'"},
      {"<@a,:user@x.org>", Errc::kInvalidInput, "empty source route hop after comma"},
      {"\xff@x.org", Errc::kInvalidInput, "invalid UTF-8 lead byte"},
      {"\xc3@x.org", Errc::kInvalidInput, "truncated UTF-8 sequence"},
      {"\xc0\xaf@x.org", Errc::kInvalidInput, "overlong UTF-8 ('/')"},
      {"\xe0\x80\xaf@x.org", Errc::kInvalidInput, "overlong 3-byte UTF-8"},
      {"\xed\xa0\x80@x.org", Errc::kInvalidInput, "UTF-16 surrogate in UTF-8"},
      {"\xf4\x90\x80\x80@x.org", Errc::kInvalidInput, "code point above U+10FFFF"},
      {"\xc2\x85@x.org", Errc::kInvalidInput, "C1 control NEL"},
      {"user@\xc3", Errc::kInvalidInput, "truncated UTF-8 at end of domain"},
      {"\"a\\\xc3\xbc\"@x.org", Errc::kInvalidInput, "escape before a non-ASCII byte"},
  };
  for (const auto& c : cases) {
    auto m = parse_mailbox(c.input);
    ASSERT_FALSE(m.ok()) << c.why << ": got " << m->str() << ", want an error";
    EXPECT_EQ(m.error().code, c.want) << c.why << ": got " << errc_name(m.error().code);
    EXPECT_FALSE(m.error().detail.empty()) << c.why;
  }
}

TEST(AddressParse, ErrorDetailNeverEchoesInput) {
  // Details are logged; they must not carry attacker bytes (CRLF, long text).
  const std::vector<std::string> inputs = {
      "user@example.com\r\nX-Injected: yes",
      std::string(300, 'x') + "@example.com",
      "\"" + std::string(100, 'q'),
      "user@" + std::string(100, 'd') + "..com",
  };
  for (const auto& in : inputs) {
    auto m = parse_mailbox(in);
    ASSERT_FALSE(m.ok());
    const std::string& detail = m.error().detail;
    EXPECT_LE(detail.size(), 64u) << "got detail " << detail;
    EXPECT_EQ(detail.find("Injected"), std::string::npos) << "got detail " << detail;
    EXPECT_EQ(detail.find("xxxx"), std::string::npos) << "got detail " << detail;
    EXPECT_EQ(detail.find("qqqq"), std::string::npos) << "got detail " << detail;
    EXPECT_EQ(detail.find("dddd"), std::string::npos) << "got detail " << detail;
  }
}

TEST(AddressParse, EnforcesLocalPartCapOnCanonicalForm) {
  // RFC 5321 4.5.3.1.1: 64 octets. Measured on the canonical spelling, which
  // is what we emit downstream.
  const std::string a64(64, 'a');
  EXPECT_TRUE(parse_mailbox(a64 + "@x.org").ok()) << "64-octet local part must pass";
  auto over = parse_mailbox(a64 + "a@x.org");
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, Errc::kTooLong);
  // Needless quotes vanish in the canonical form, so this fits.
  EXPECT_TRUE(parse_mailbox("\"" + a64 + "\"@x.org").ok());
  // Needed quotes count: 62 + 2 fits, 63 + 2 does not.
  EXPECT_TRUE(parse_mailbox("\"" + std::string(61, 'a') + " \"@x.org").ok());
  auto quoted_over = parse_mailbox("\"" + std::string(62, 'a') + " \"@x.org");
  ASSERT_FALSE(quoted_over.ok());
  EXPECT_EQ(quoted_over.error().code, Errc::kTooLong);
}

TEST(AddressParse, EnforcesDomainLabelCap) {
  // RFC 1035 2.3.4: an ASCII label is at most 63 octets.
  EXPECT_TRUE(parse_mailbox("u@" + std::string(63, 'd') + ".org").ok());
  auto over = parse_mailbox("u@" + std::string(64, 'd') + ".org");
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, Errc::kTooLong);
}

// Builds a domain of exactly n octets from labels of at most 63 octets.
std::string domain_of_length(std::size_t n) {
  std::string d;
  while (d.size() < n) {
    if (!d.empty()) d += '.';
    const std::size_t left = n - d.size();
    // Never leave a 1-octet remainder that would force an empty label.
    const std::size_t take = left > 63 ? (left - 63 == 1 ? 62 : 63) : left;
    d.append(take, 'd');
  }
  return d;
}

TEST(AddressParse, EnforcesPathCap) {
  // RFC 5321 4.5.3.1.3: "<" mailbox ">" is at most 256 octets, so a bare
  // mailbox may have 254.
  const std::string ok_domain = domain_of_length(254 - 2);
  ASSERT_EQ(ok_domain.size(), 252u);
  EXPECT_TRUE(parse_mailbox("u@" + ok_domain).ok());
  EXPECT_TRUE(parse_mailbox("<u@" + ok_domain + ">").ok());
  auto over = parse_mailbox("uu@" + ok_domain);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, Errc::kTooLong);
  // A source route counts towards the path, even though it is discarded.
  auto routed = parse_mailbox("<@a.example:u@" + ok_domain + ">");
  ASSERT_FALSE(routed.ok());
  EXPECT_EQ(routed.error().code, Errc::kTooLong);
}

TEST(AddressParse, RejectsInputOverRawCapBeforeParsing) {
  // 1025 bytes of spaces would trim to a valid null sender; the raw cap
  // fires first, so no input over 1024 bytes is ever scanned.
  auto m = parse_mailbox(std::string(1025, ' '));
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, Errc::kTooLong);
  EXPECT_TRUE(parse_mailbox(std::string(1024, ' ')).ok());
}

TEST(AddressParse, ParsesOneByteAtATimePrefixesWithoutCrashing) {
  // Every prefix of a tricky valid address is either an error or a mailbox
  // whose canonical form reparses: no prefix may crash or misbehave.
  const std::string full = "<@a.example,@b.example:\"a\\\"b c\"@[IPv6:2001:db8::1]>";
  for (std::size_t n = 0; n <= full.size(); ++n) {
    auto m = parse_mailbox(std::string_view(full).substr(0, n));
    if (m.ok() && !m->is_null()) {
      EXPECT_TRUE(parse_mailbox(m->str()).ok()) << "prefix length " << n;
    }
  }
}

TEST(AddressLookupKey, LowercasesLocalPart) {
  // A bounce for John@x must suppress john@x.
  struct Case {
    std::string_view input;
    std::string_view want;
    const char* why;
  };
  const std::vector<Case> cases = {
      {"John.Smith@Example.COM", "john.smith@example.com", "ASCII local part lowercased"},
      {"john.smith@example.com", "john.smith@example.com", "already lowercase is unchanged"},
      {"\"John Smith\"@x.org", "\"john smith\"@x.org", "quoted local part keeps quotes in key"},
      {"\"JOHN\"@x.org", "john@x.org", "needless quotes do not split keys"},
      {"J\xc3\x96HN@x.org", "j\xc3\x96hn@x.org", "non-ASCII bytes untouched (no Unicode case folding)"},
      {"USER@[IPv6:2001:DB8::1]", "user@[IPv6:2001:db8::1]", "literal already canonical"},
  };
  for (const auto& c : cases) {
    auto m = parse_mailbox(c.input);
    ASSERT_TRUE(m.ok()) << c.why;
    EXPECT_EQ(m->lookup_key(), c.want) << c.why;
  }
}

TEST(AddressLookupKey, DiffersOnlyByCaseGivesSameKey) {
  auto a = parse_mailbox("<John@Example.com>");
  auto b = parse_mailbox("john@example.COM");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->str(), b->str());
  EXPECT_EQ(a->lookup_key(), b->lookup_key());
}

}  // namespace
}  // namespace sluice
