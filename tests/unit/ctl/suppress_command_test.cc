#include "ctl/suppress_command.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice::ctl {
namespace {

using Args = std::vector<std::string>;

TEST(ParseSuppressArgs, AddTakesEveryOptionInAnyPosition) {
  auto got = parse_suppress_args({"add", "--reason", "complaint", "Bob@Example.NET", "--scope=sasl_username=alice",
                                  "--expires", "30d", "--note", "from the ISP", "--tracking-id", "01jd"});
  ASSERT_TRUE(got.ok()) << got.error().detail;
  EXPECT_EQ(got->action, SuppressAction::kAdd);
  EXPECT_EQ(got->address, "Bob@Example.NET");  // the store normalises
  EXPECT_EQ(got->reason, "complaint");
  ASSERT_TRUE(got->scope.has_value());
  EXPECT_EQ(*got->scope, (SuppressScopeArg{SuppressionScope::kSaslUsername, "alice"}));
  EXPECT_EQ(got->expires, std::chrono::milliseconds(30LL * 86400 * 1000));
  EXPECT_EQ(got->note, "from the ISP");
  EXPECT_EQ(got->tracking_id, "01jd");
}

TEST(ParseSuppressArgs, Defaults) {
  auto add = parse_suppress_args({"add", "a@example.com"});
  ASSERT_TRUE(add.ok());
  EXPECT_EQ(add->reason, "manual");
  EXPECT_FALSE(add->scope.has_value());
  EXPECT_FALSE(add->expires.has_value());
  auto list = parse_suppress_args({"list"});
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->limit, 100u);
  auto import = parse_suppress_args({"import", "-", "--dry-run"});
  ASSERT_TRUE(import.ok());
  EXPECT_EQ(import->file, "-");
  EXPECT_TRUE(import->dry_run);
}

TEST(ParseSuppressArgs, HelpAnywhere) {
  for (const Args& args : {Args{"--help"}, Args{"help"}, Args{"add", "--help"}, Args{"import", "-h"}}) {
    auto got = parse_suppress_args(args);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->action, SuppressAction::kHelp);
  }
}

TEST(ParseSuppressArgs, UsageErrors) {
  // Each row: arguments, a piece of the wanted error.
  const struct {
    Args args;
    const char* want;
  } cases[] = {
      {{}, "missing action"},
      {{"delete", "a@example.com"}, "unknown action \"delete\""},
      {{"add"}, "needs ADDRESS"},
      {{"add", "a@example.com", "b@example.com"}, "takes one ADDRESS"},
      {{"list", "x"}, "takes no operand"},
      {{"import"}, "needs FILE"},
      {{"add", "a@example.com", "--reason", "spam"}, "unknown reason \"spam\""},
      {{"add", "a@example.com", "--expires", "soon"}, "--expires:"},
      {{"add", "a@example.com", "--expires"}, "needs a value"},
      {{"remove", "a@example.com", "--reason", "manual"}, "unknown option --reason"},  // add only
      {{"list", "--limit", "0"}, "--limit:"},
      {{"show", "a@example.com", "--scope", "account=x"}, "unknown suppression scope"},
      {{"show", "a@example.com", "--scope", "sasl_username"}, "needs a value"},
      {{"show", "a@example.com", "--scope", "global=x"}, "takes no value"},
      {{"show", "a@example.com", "--scope", "global", "--scope", "global"}, "given twice"},
      {{"import", "f.csv", "--dry-run=yes"}, "takes no value"},
  };
  for (const auto& c : cases) {
    auto got = parse_suppress_args(c.args);
    ASSERT_FALSE(got.ok()) << "want error containing " << c.want;
    EXPECT_NE(got.error().detail.find(c.want), std::string::npos) << "got " << got.error().detail << ", want "
                                                                  << c.want;
  }
}

TEST(SuppressScope, ParsesNormalisesAndFormats) {
  auto domain = parse_suppress_scope("sender_domain=Example.COM");
  ASSERT_TRUE(domain.ok());
  EXPECT_EQ(domain->value, "example.com");
  EXPECT_EQ(format_suppress_scope(domain->scope, domain->value), "sender_domain=example.com");
  EXPECT_EQ(format_suppress_scope(SuppressionScope::kGlobal, ""), "global");
  auto user = parse_suppress_scope("sasl_username=a=b");
  ASSERT_TRUE(user.ok());
  EXPECT_EQ(user->value, "a=b");
}

TEST(Iso8601, FormatsAndParsesUtc) {
  // Each row: text, Unix ms (-1: invalid).
  const struct {
    const char* text;
    std::int64_t ms;
  } cases[] = {
      {"1970-01-01T00:00:00Z", 0},
      {"2026-11-27T10:00:00Z", 1795773600000},
      {"2026-11-27T10:00:00.123Z", 1795773600123},
      {"2026-11-27T10:00:00.5Z", 1795773600500},
      {"2026-11-27 10:00:00", 1795773600000},         // spreadsheet style, read as UTC
      {"2026-11-27T10:00:00+00:00", 1795773600000},
      {"2026-11-27", 1795737600000},                 // midnight UTC
      {"2026-11-27T10:00:00+01:00", -1},             // only UTC
      {"2026-02-30T00:00:00Z", -1},
      {"2026-11-27T24:00:00Z", -1},
      {"27/11/2026", -1},
      {"", -1},
      {"2026-11-27T10:00Z", -1},
  };
  for (const auto& c : cases) {
    auto got = parse_iso8601_utc(c.text);
    if (c.ms < 0) {
      EXPECT_FALSE(got.ok()) << c.text << ": got " << (got.ok() ? *got : 0) << ", want an error";
    } else {
      ASSERT_TRUE(got.ok()) << c.text << ": " << got.error().detail;
      EXPECT_EQ(*got, c.ms) << c.text;
    }
  }
  EXPECT_EQ(format_iso8601_utc(1795773600000), "2026-11-27T10:00:00Z");
  EXPECT_EQ(format_iso8601_utc(1795773600123), "2026-11-27T10:00:00.123Z");
  EXPECT_EQ(format_iso8601_utc(1795773600007), "2026-11-27T10:00:00.007Z");
}

TEST(SuppressCsv, HeaderInAnyOrderNoUnknownColumns) {
  auto cols = parse_suppress_csv_header({"note", "address"});
  ASSERT_TRUE(cols.ok());
  EXPECT_EQ((*cols)[0], 1);  // address
  EXPECT_EQ((*cols)[6], 0);  // note
  EXPECT_EQ((*cols)[1], -1);
  EXPECT_FALSE(parse_suppress_csv_header({"address", "comment"}).ok());
  EXPECT_FALSE(parse_suppress_csv_header({"reason"}).ok());
  EXPECT_FALSE(parse_suppress_csv_header({"address", "address"}).ok());
  EXPECT_FALSE(parse_suppress_csv_header({"bob@example.net", "manual"}).ok());  // no header row
}

TEST(SuppressCsv, RowsAreCheckedAndNormalised) {
  const std::vector<std::string> header(std::begin(kSuppressCsvColumns), std::end(kSuppressCsvColumns));
  auto cols = parse_suppress_csv_header(header);
  ASSERT_TRUE(cols.ok());
  const SuppressScopeArg fallback{SuppressionScope::kSenderDomain, "example.org"};

  auto row = parse_suppress_csv_row(*cols, {"Bob@Example.NET", "", "", "2026-11-27T10:00:00Z", "", "id1", "n"}, fallback);
  ASSERT_TRUE(row.ok()) << row.error().detail;
  EXPECT_EQ(row->recipient, "bob@example.net");
  EXPECT_EQ(row->scope, SuppressionScope::kSenderDomain);  // no scope in the row: --scope
  EXPECT_EQ(row->scope_value, "example.org");
  EXPECT_EQ(row->reason, "manual");  // missing reason
  EXPECT_EQ(row->since_ms, 1795773600000);
  EXPECT_EQ(row->expires_ms, 0);

  // Each row: fields, a piece of the wanted error.
  const struct {
    std::vector<std::string> fields;
    const char* want;
  } bad[] = {
      {{"a@example.com", "global"}, "2 fields, the header has 7"},
      {{"", "", "", "", "", "", ""}, "address is empty"},
      {{"not an address", "", "", "", "", "", ""}, "bad recipient"},
      {{"a@example.com", "everywhere", "", "", "", "", ""}, "scope:"},
      {{"a@example.com", "", "spam", "", "", "", ""}, "unknown reason"},
      {{"a@example.com", "", "", "yesterday", "", "", ""}, "since:"},
      {{"a@example.com", "", "", "", "never", "", ""}, "expires:"},
      {{"a@example.com", "", "", "", "", std::string(200, 'x'), ""}, "tracking_id longer"},
      {{"a@example.com", "", "", "", "", "", "two\nlines"}, "CR, LF or NUL"},
      {{"a@example.com", "", "", "", "", "", std::string(1001, 'n')}, "note longer"},
  };
  for (const auto& c : bad) {
    auto got = parse_suppress_csv_row(*cols, c.fields, fallback);
    ASSERT_FALSE(got.ok()) << "want error containing " << c.want;
    EXPECT_NE(got.error().detail.find(c.want), std::string::npos) << "got " << got.error().detail << ", want "
                                                                  << c.want;
  }
}

TEST(SuppressCsv, ExportRowReadsBackAsTheSameEntry) {
  SuppressionEntry e{SuppressionScope::kSaslUsername, "alice", "bob@example.net", "complaint", 1795773600123,
                     1795860000000, "01jd", "said so, \"loudly\""};
  const std::vector<std::string> header(std::begin(kSuppressCsvColumns), std::end(kSuppressCsvColumns));
  auto cols = parse_suppress_csv_header(header);
  ASSERT_TRUE(cols.ok());
  auto back = parse_suppress_csv_row(*cols, suppress_csv_row(e), SuppressScopeArg{});
  ASSERT_TRUE(back.ok()) << back.error().detail;
  EXPECT_EQ(*back, e);
}

}  // namespace
}  // namespace sluice::ctl
