#include "common/csv.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice {
namespace {

using Fields = std::vector<std::string>;

// What reading `text` gives: each record's fields, or "ERROR@LINE: detail".
struct Outcome {
  std::vector<Fields> records;
  std::vector<std::size_t> lines;
  std::vector<std::string> errors;
};

Outcome read_all(std::string_view text, bool byte_at_a_time, CsvLimits limits = {}) {
  CsvReader reader(limits);
  Outcome out;
  auto drain = [&] {
    while (true) {
      auto r = reader.next();
      if (!r) {
        out.errors.push_back(std::to_string(reader.line()) + ": " + r.error().detail);
        continue;
      }
      if (!*r) return;
      out.records.push_back((*r)->fields);
      out.lines.push_back((*r)->line);
    }
  };
  if (byte_at_a_time) {
    for (char ch : text) {
      reader.feed(std::string_view(&ch, 1));
      drain();
    }
  } else {
    reader.feed(text);
  }
  reader.finish();
  drain();
  return out;
}

TEST(CsvReader, ParsesRecordsWholeAndByteAtATime) {
  const struct {
    const char* comment;
    std::string text;
    std::vector<Fields> want;
  } cases[] = {
      {"plain fields, LF", "a,b,c\nd,e,f\n", {{"a", "b", "c"}, {"d", "e", "f"}}},
      {"CRLF line ends", "a,b\r\nc,d\r\n", {{"a", "b"}, {"c", "d"}}},
      {"no line end after the last record", "a,b\nc,d", {{"a", "b"}, {"c", "d"}}},
      {"empty fields", ",a,,\n", {{"", "a", "", ""}}},
      {"quoted comma", "\"a,b\",c\n", {{"a,b", "c"}}},
      {"doubled quote is one quote", "\"say \"\"hi\"\"\",x\n", {{"say \"hi\"", "x"}}},
      {"embedded LF and CRLF in quotes", "\"line1\nline2\r\nline3\",z\r\n", {{"line1\nline2\r\nline3", "z"}}},
      {"quoted empty field", "\"\",\"\"\n", {{"", ""}}},
      {"one quoted empty field is a record", "\"\"\n", {{""}}},
      {"blank lines are skipped", "\n\r\na\n\n\r\nb\n", {{"a"}, {"b"}}},
      {"blanks are kept", " a , b \n", {{" a ", " b "}}},
      {"quoted field last without line end", "a,\"b\"", {{"a", "b"}}},
      {"UTF-8 passes through", "J\xc3\xbcrgen,x\n", {{"J\xc3\xbcrgen", "x"}}},
  };
  for (const auto& c : cases) {
    for (bool bytewise : {false, true}) {
      const Outcome got = read_all(c.text, bytewise);
      EXPECT_TRUE(got.errors.empty()) << c.comment << (bytewise ? " (bytewise)" : "") << ": got error "
                                      << (got.errors.empty() ? "" : got.errors.front());
      EXPECT_EQ(got.records, c.want) << c.comment << (bytewise ? " (bytewise)" : "");
    }
  }
}

TEST(CsvReader, RecordLineIsWhereItBegins) {
  const Outcome got = read_all("h1,h2\n\"multi\nline\",x\nlast,y\n", false);
  ASSERT_EQ(got.records.size(), 3u);
  EXPECT_EQ(got.lines, (std::vector<std::size_t>{1, 2, 4}));
}

TEST(CsvReader, ReportsEachBadRecordAndResynchronises) {
  const struct {
    const char* comment;
    std::string text;
    std::vector<Fields> want_records;
    std::vector<std::string> want_errors;
  } cases[] = {
      {"quote inside an unquoted field", "ok,1\na\"b,2\nok,3\n", {{"ok", "1"}, {"ok", "3"}},
       {"2: quote inside an unquoted field (quote the whole field)"}},
      {"text after a closing quote", "\"a\"b,1\nok,2\n", {{"ok", "2"}}, {"1: text after a closing quote"}},
      {"bare CR", "a\rb\nok\n", {{"ok"}}, {"1: CR not followed by LF outside quotes"}},
      {"unterminated quote at the end", "ok\n\"abc\n", {{"ok"}},
       {"2: quoted field not closed before the end of the input"}},
      {"two bad lines, both reported", "a\"\nb\"\nc\n", {{"c"}},
       {"1: quote inside an unquoted field (quote the whole field)",
        "2: quote inside an unquoted field (quote the whole field)"}},
  };
  for (const auto& c : cases) {
    for (bool bytewise : {false, true}) {
      const Outcome got = read_all(c.text, bytewise);
      EXPECT_EQ(got.records, c.want_records) << c.comment << (bytewise ? " (bytewise)" : "");
      EXPECT_EQ(got.errors, c.want_errors) << c.comment << (bytewise ? " (bytewise)" : "");
    }
  }
}

TEST(CsvReader, CapsAreErrorsAndTheRestOfTheRecordIsSkipped) {
  CsvLimits limits;
  limits.max_field_bytes = 4;
  limits.max_record_bytes = 16;
  limits.max_fields = 3;
  const struct {
    const char* comment;
    std::string text;
    std::vector<Fields> want_records;
    std::vector<std::string> want_errors;
  } cases[] = {
      {"field at the cap is fine", "abcd\n", {{"abcd"}}, {}},
      {"field over the cap", "abcde,x\nok\n", {{"ok"}}, {"1: field longer than 4 bytes"}},
      {"quoted field over the cap, with a newline inside", "\"ab\ncde\",x\nok\n", {{"ok"}},
       {"1: field longer than 4 bytes"}},
      {"too many fields", "a,b,c,d\nok\n", {{"ok"}}, {"1: more than 3 fields"}},
      {"too many fields at the end of input", "ok\na,b,c,d", {{"ok"}}, {"2: more than 3 fields"}},
      {"record over the cap, fields within theirs", "\"abcd\",\"abcd\",\"abcd\"\nok\n", {{"ok"}},
       {"1: record longer than 16 bytes"}},
  };
  for (const auto& c : cases) {
    for (bool bytewise : {false, true}) {
      const Outcome got = read_all(c.text, bytewise, limits);
      EXPECT_EQ(got.records, c.want_records) << c.comment << (bytewise ? " (bytewise)" : "");
      EXPECT_EQ(got.errors, c.want_errors) << c.comment << (bytewise ? " (bytewise)" : "");
    }
  }
}

TEST(CsvWriter, QuotesOnlyWhenNeeded) {
  const struct {
    const char* field;
    const char* want;
  } cases[] = {
      {"plain", "plain"},
      {"", ""},
      {"a,b", "\"a,b\""},
      {"say \"hi\"", "\"say \"\"hi\"\"\""},
      {"two\nlines", "\"two\nlines\""},
      {"cr\r", "\"cr\r\""},
      {" padded", "\" padded\""},
  };
  for (const auto& c : cases) EXPECT_EQ(format_csv_field(c.field), c.want) << "field " << c.field;
  EXPECT_EQ(format_csv_record({"a", "b,c", ""}), "a,\"b,c\",\r\n");
  EXPECT_EQ(format_csv_record({""}, "\n"), "\"\"\n");
}

TEST(CsvWriter, WhatItWritesReadsBack) {
  const std::vector<Fields> records = {
      {"address", "note"},
      {"a@example.com", "with, comma"},
      {"b@example.com", "with \"quotes\" and\r\nCRLF"},
      {""},
      {"", "", ""},
      {" x ", "\t"},
  };
  std::string text;
  for (const Fields& r : records) text += format_csv_record(r);
  for (bool bytewise : {false, true}) {
    const Outcome got = read_all(text, bytewise);
    EXPECT_TRUE(got.errors.empty());
    EXPECT_EQ(got.records, records);
  }
}

}  // namespace
}  // namespace sluice
