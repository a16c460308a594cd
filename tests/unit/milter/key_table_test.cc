// Tests for milter/key_table.*: OpenDKIM KeyTable compatibility, relative key
// paths, table-name prefixes, and a file:line error for every kind of mistake.
#include "milter/key_table.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace sluice::milter {
namespace {

TEST(KeyTable, ParsesOpenDkimDocumentationExample) {
  // The shape of opendkim.conf(5) / OpenDKIM README examples, with comments,
  // tabs, blank lines and a comment after the value.
  const std::string_view text =
      "# key table\n"
      "\n"
      "mail._domainkey.example.com\texample.com:mail:/etc/opendkim/keys/example.com/mail.private\n"
      "  sel2._domainkey.Example.ORG   Example.ORG.:sel2:/etc/opendkim/keys/example.org.private  # rsa\r\n";
  auto table = parse_key_table(text, "refile:/etc/opendkim/KeyTable");
  ASSERT_TRUE(table.ok()) << table.error().message();
  ASSERT_EQ(table->entries().size(), 2u);
  const KeyTableEntry* a = table->find("mail._domainkey.example.com");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->domain, "example.com");
  EXPECT_EQ(a->selector, "mail");
  EXPECT_EQ(a->key_path, "/etc/opendkim/keys/example.com/mail.private");
  EXPECT_EQ(a->line, 3);
  const KeyTableEntry* b = table->find("sel2._domainkey.Example.ORG");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->domain, "example.org") << "domain lowercased, trailing dot dropped";
  EXPECT_EQ(b->selector, "sel2");
  EXPECT_EQ(b->line, 4);
  EXPECT_EQ(table->find("mail._domainkey.EXAMPLE.com"), nullptr) << "key names are exact";
  EXPECT_EQ(table->file_name(), "/etc/opendkim/KeyTable");
}

TEST(KeyTable, ResolvesRelativeKeyPathsAgainstTableDirectory) {
  struct Case {
    std::string_view table_name;
    std::string_view key;
    std::string_view want;
    const char* why;
  };
  const std::vector<Case> cases = {
      {"/etc/sluice/keys.table", "keys/a.key", "/etc/sluice/keys/a.key", "relative to the table's directory"},
      {"file:/etc/sluice/keys.table", "./a.key", "/etc/sluice/./a.key", "./ is relative too"},
      {"/etc/sluice/keys.table", "../k/a.key", "/etc/sluice/../k/a.key", "../ stays as written"},
      {"/etc/sluice/keys.table", "/srv/a.key", "/srv/a.key", "absolute path kept"},
      {"keys.table", "a.key", "a.key", "table without a directory: path unchanged"},
      {"conf/keys.table", "a.key", "conf/a.key", "relative table directory is prefixed"},
  };
  for (const Case& c : cases) {
    auto table = parse_key_table("k example.com:s:" + std::string(c.key) + "\n", c.table_name);
    ASSERT_TRUE(table.ok()) << c.why << ": " << table.error().message();
    EXPECT_EQ(table->find("k")->key_path, c.want) << c.why;
  }
}

TEST(KeyTable, ReportsFileAndLineForEveryMistake) {
  struct Case {
    std::string text;
    std::string_view want;  // expected prefix + a fragment of the reason
    const char* why;
  };
  const std::vector<Case> cases = {
      {"k\n", "t:1: missing DOMAIN:SELECTOR:KEYPATH", "key name alone"},
      {"# c\nk example.com:s\n", "t:2: value \"example.com:s\" is not DOMAIN:SELECTOR:KEYPATH", "two parts only"},
      {"k example.com\n", "t:1: value \"example.com\" is not", "no colon at all"},
      {"k example.com:s:/k extra\n", "t:1: unexpected text after", "a third field"},
      {"k a.com:s:/k\nk b.com:s:/k\n", "t:2: duplicate key name \"k\" (first at line 1)", "duplicate name"},
      {"k :s:/k\n", "t:1: missing domain", "empty domain"},
      {"k ex_ample.com:s:/k\n", "t:1: invalid domain \"ex_ample.com\"", "underscore in domain"},
      {"k -a.com:s:/k\n", "t:1: invalid domain", "leading hyphen"},
      {"k a-.com:s:/k\n", "t:1: invalid domain", "trailing hyphen"},
      {"k a..com:s:/k\n", "t:1: invalid domain", "empty label"},
      {"k " + std::string(64, 'a') + ".com:s:/k\n", "t:1: invalid domain", "64-octet label"},
      {"k a.com::/k\n", "t:1: missing selector", "empty selector"},
      {"k a.com:s s:/k\n", "t:1: unexpected text", "space splits the value"},
      {"k a.com:s_1:/k\n", "t:1: invalid selector \"s_1\"", "underscore in selector"},
      {"k a.com:s.:/k\n", "t:1: invalid selector", "selector with trailing dot"},
      {"k a.com:s:\n", "t:1: missing key path", "empty key path"},
      {"k %:s:/k/%.key\n", "t:1: domain \"%\" (the sender's domain) is not supported", "OpenDKIM % domain"},
      {"k a.com:s:/keys/%.key\n", "t:1: '%' in key path", "OpenDKIM % in path"},
      {"k a.com:s:" + std::string(300, 'A') + "\n", "t:1: inline key data is not supported", "base64 DER inline"},
      {"k a.com:s:-----BEGIN\n", "t:1: inline key data", "PEM inline"},
      {"k\x01 a.com:s:/k\n", "t:1: control byte 0x01", "control byte"},
      {"\n\nk\xc3\xa9 a.com:s:/k\n", "t:3: key name \"k\\xc3\\xa9\" is not printable ASCII", "non-ASCII key name, escaped"},
      {std::string(5000, 'x') + "\n", "t:1: line longer than 4096", "overlong line"},
  };
  for (const Case& c : cases) {
    auto table = parse_key_table(c.text, "t");
    ASSERT_FALSE(table.ok()) << c.why;
    EXPECT_EQ(table.error().code, Errc::kConfig) << c.why;
    EXPECT_NE(table.error().detail.find(c.want), std::string::npos)
        << c.why << ": got \"" << table.error().detail << "\", want it to contain \"" << c.want << "\"";
    EXPECT_TRUE(table.error().detail.starts_with("t:")) << c.why;
  }
}

TEST(KeyTable, RefileKeyNamesMayNotBeWildcards) {
  // refile: is accepted for migration, but a key name is looked up exactly.
  auto table = parse_key_table("*.example.com example.com:s:/k\n", "refile:/etc/kt");
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.error().detail, "/etc/kt:1: key name \"*.example.com\" has a '*': key names are looked up exactly");
  EXPECT_TRUE(parse_key_table("*.example.com example.com:s:/k\n", "file:/etc/kt").ok()) << "literal in file:";
}

TEST(KeyTable, EmptyTableIsValid) {
  auto table = parse_key_table("# nothing yet\n\n", "/etc/kt");
  ASSERT_TRUE(table.ok());
  EXPECT_TRUE(table->entries().empty());
}

TEST(TableSpec, SplitsOpenDkimPrefixes) {
  struct Case {
    std::string_view name;
    bool ok;
    TableKind kind;
    std::string_view path;
    const char* why;
  };
  const std::vector<Case> cases = {
      {"/etc/t", true, TableKind::kFile, "/etc/t", "bare absolute path is file:"},
      {"file:/etc/t", true, TableKind::kFile, "/etc/t", "file: prefix"},
      {"refile:/etc/t", true, TableKind::kRefile, "/etc/t", "refile: prefix"},
      {"t", true, TableKind::kFile, "t", "bare relative path"},
      {"csl:a=b", false, TableKind::kFile, "", "comma-separated list refused"},
      {"dsn:mysql://u@h/db", false, TableKind::kFile, "", "SQL refused"},
      {"keys:v2", true, TableKind::kFile, "keys:v2", "an unknown prefix is part of a file name"},
      {"ldap:h", false, TableKind::kFile, "", "ldap: refused"},
      {"file:", false, TableKind::kFile, "", "empty path"},
  };
  for (const Case& c : cases) {
    auto spec = parse_table_spec(c.name);
    ASSERT_EQ(spec.ok(), c.ok) << c.why;
    if (!c.ok) continue;
    EXPECT_EQ(spec->kind, c.kind) << c.why;
    EXPECT_EQ(spec->path, c.path) << c.why;
  }
}

TEST(DnsName, FollowsLabelRules) {
  EXPECT_TRUE(is_valid_dns_name("a"));
  EXPECT_TRUE(is_valid_dns_name("1-2.example"));
  EXPECT_TRUE(is_valid_dns_name(std::string(63, 'a') + ".com"));
  EXPECT_FALSE(is_valid_dns_name(""));
  EXPECT_FALSE(is_valid_dns_name("a."));
  EXPECT_FALSE(is_valid_dns_name(".a"));
  EXPECT_FALSE(is_valid_dns_name("a b"));
  std::string long_name;
  for (int i = 0; i < 51; ++i) long_name += "abcd.";
  long_name += "ab";  // 257 octets
  EXPECT_FALSE(is_valid_dns_name(long_name));
}

}  // namespace
}  // namespace sluice::milter
