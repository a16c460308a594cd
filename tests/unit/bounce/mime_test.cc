#include "bounce/mime.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace sluice::bounce {
namespace {

using Clock = std::chrono::steady_clock;

TEST(HeaderSection, UnfoldsContinuationLinesAndFindsTheBody) {
  const HeaderSection h = parse_header_section("Subject: one\r\n\ttwo\r\n  three\r\nTo: a@b.example\r\n\r\nbody");
  ASSERT_EQ(h.fields.size(), 2u);
  EXPECT_EQ(h.fields[0].value, "one\ttwo  three");
  EXPECT_EQ(h.value("to"), "a@b.example");
  EXPECT_EQ(h.body_offset, std::string("Subject: one\r\n\ttwo\r\n  three\r\nTo: a@b.example\r\n\r\n").size());
  EXPECT_FALSE(h.truncated);
}

TEST(HeaderSection, StopsAtALineThatIsNotAField) {
  const std::string text = "From: x@y.example\nthis is body text\nTo: nope\n";
  const HeaderSection h = parse_header_section(text);
  ASSERT_EQ(h.fields.size(), 1u);
  EXPECT_EQ(text.substr(h.body_offset), "this is body text\nTo: nope\n");
}

TEST(HeaderSection, SkipsAnMboxSeparator) {
  const HeaderSection h = parse_header_section("From MAILER-DAEMON Tue Nov 26 10:00:00 2024\nSubject: s\n\nb");
  ASSERT_EQ(h.fields.size(), 1u);
  EXPECT_EQ(h.fields[0].name, "Subject");
}

TEST(HeaderSection, CutsAFiveMegabyteLineInBoundedTime) {
  std::string text = "X-Long: " + std::string(5 * 1024 * 1024, 'a') + "\nSubject: after\n\nbody";
  const auto start = Clock::now();
  const HeaderSection h = parse_header_section(text);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
  EXPECT_TRUE(h.truncated);
  ASSERT_FALSE(h.fields.empty());
  EXPECT_LE(h.fields[0].value.size(), MimeLimits{}.max_field_bytes);
  EXPECT_EQ(text.substr(h.body_offset), "body");
}

TEST(HeaderSection, KeepsAtMostMaxFields) {
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "X-F" + std::to_string(i) + ": v\n";
  text += "\nbody";
  const HeaderSection h = parse_header_section(text);
  EXPECT_EQ(h.fields.size(), MimeLimits{}.max_fields);
  EXPECT_TRUE(h.truncated);
  EXPECT_EQ(text.substr(h.body_offset), "body");
}

TEST(ContentType, ParsesTypeAndQuotedParameters) {
  const ContentType ct =
      parse_content_type("Multipart/Report; report-type=delivery-status;\t boundary=\"a b;\\\"c\"; charset=utf-8");
  EXPECT_EQ(ct.type, "multipart/report");
  EXPECT_EQ(ct.param("report-type"), "delivery-status");
  EXPECT_EQ(ct.param("boundary"), "a b;\"c");
  EXPECT_EQ(ct.param("charset"), "utf-8");
  EXPECT_TRUE(ct.is_multipart());
}

TEST(ContentType, DefaultsToTextPlain) {
  EXPECT_EQ(parse_content_type("").type, "text/plain");
  EXPECT_EQ(parse_content_type("garbage").type, "text/plain");
}

TEST(Decoding, Base64SkipsLineEndsAndJunk) {
  EXPECT_EQ(decode_base64("aGVs\r\nbG8g\nd29y bGQ=", 100), "hello world");
  EXPECT_EQ(decode_base64("aGVsbG8gd29ybGQ=", 5), "hello");
  EXPECT_EQ(decode_base64("!!!", 10), "");
}

TEST(Decoding, QuotedPrintableJoinsSoftBreaksAndDecodesHex) {
  EXPECT_EQ(decode_quoted_printable("caf=C3=A9 and a long=\r\n line=\nend", 100), "caf\xC3\xA9 and a long line" "end");
  EXPECT_EQ(decode_quoted_printable("a=ZZb=", 100), "a=ZZb=");
  EXPECT_EQ(decode_quoted_printable("abcdef", 3), "abc");
}

TEST(Mime, WalksNestedMultiparts) {
  const std::string message =
      "Content-Type: multipart/mixed; boundary=outer\n\npreamble\n--outer\nContent-Type: text/plain\n\nfirst\n"
      "--outer\nContent-Type: multipart/alternative; boundary=\"inner\"\n\n--inner\n\nalt one\n--inner\n"
      "Content-Type: text/html\n\n<p>alt two</p>\n--inner--\n--outer\nContent-Type: message/rfc822\n\n"
      "Subject: returned\n\nold body\n--outer--\nepilogue\n";
  const MimeTree tree = parse_mime(message);
  ASSERT_EQ(tree.parts.size(), 6u);
  EXPECT_FALSE(tree.truncated);
  EXPECT_EQ(tree.parts[1].body, "first");
  EXPECT_EQ(tree.parts[2].content_type.type, "multipart/alternative");
  EXPECT_EQ(tree.parts[3].body, "alt one");
  EXPECT_EQ(tree.parts[3].depth, 2u);
  EXPECT_EQ(tree.parts[3].parent, 2u);
  EXPECT_EQ(tree.parts[4].body, "<p>alt two</p>");
  EXPECT_EQ(tree.parts[5].content_type.type, "message/rfc822");
  EXPECT_EQ(tree.parts[5].body, "Subject: returned\n\nold body");
  EXPECT_EQ(child_parts(tree, 0), (std::vector<std::size_t>{1, 2, 5}));
  EXPECT_EQ(child_parts(tree, 2), (std::vector<std::size_t>{3, 4}));
}

TEST(Mime, IgnoresBoundaryLookalikes) {
  const std::string message =
      "Content-Type: multipart/mixed; boundary=b\n\n--b\n\none --b inside\n--bx not ours\n--b \nsecond\n--b--\n";
  const MimeTree tree = parse_mime(message);
  ASSERT_EQ(tree.parts.size(), 3u);
  EXPECT_EQ(tree.parts[1].body, "one --b inside\n--bx not ours");
  EXPECT_EQ(tree.parts[2].body, "second");
}

TEST(Mime, AnUnterminatedMultipartEndsAtTheEnd) {
  const std::string message = "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nonly part, no close\n";
  const MimeTree tree = parse_mime(message);
  ASSERT_EQ(tree.parts.size(), 2u);
  EXPECT_EQ(tree.parts[1].body, "only part, no close\n");
}

TEST(Mime, NestedUnterminatedBoundariesStayBounded) {
  std::string message = "Content-Type: multipart/mixed; boundary=b0\n\n";
  for (int i = 0; i < 200; ++i) {
    message += "--b" + std::to_string(i) + "\nContent-Type: multipart/mixed; boundary=b" + std::to_string(i + 1) +
               "\n\n";
  }
  const auto start = Clock::now();
  const MimeTree tree = parse_mime(message);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
  EXPECT_TRUE(tree.truncated);
  EXPECT_LE(tree.parts.back().depth, MimeLimits{}.max_depth);
}

TEST(Mime, TenThousandPartsAreCappedInBoundedTime) {
  std::string message = "Content-Type: multipart/mixed; boundary=p\n\n";
  for (int i = 0; i < 10000; ++i) message += "--p\nContent-Type: text/plain\n\npart " + std::to_string(i) + "\n";
  message += "--p--\n";
  const auto start = Clock::now();
  const MimeTree tree = parse_mime(message);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(tree.parts.size(), MimeLimits{}.max_parts);
  EXPECT_TRUE(tree.truncated);
}

TEST(Mime, DecodesABase64Part) {
  const std::string message =
      "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Transfer-Encoding: BASE64\n\naGk=\n--b--\n";
  const MimeTree tree = parse_mime(message);
  ASSERT_EQ(tree.parts.size(), 2u);
  EXPECT_EQ(tree.parts[1].encoding, "base64");
  EXPECT_EQ(decode_body(tree.parts[1], 100), "hi");
}

TEST(Mime, SurvivesEveryPrefixOfAMessage) {
  const std::string message =
      "Content-Type: multipart/report; boundary=\"x\"\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x\r\n"
      "Content-Type: message/delivery-status\r\n\r\nAction: failed\r\n--x--\r\n";
  for (std::size_t n = 0; n <= message.size(); ++n) {
    const MimeTree tree = parse_mime(std::string_view(message).substr(0, n));
    ASSERT_FALSE(tree.parts.empty()) << "prefix " << n;
  }
}

}  // namespace
}  // namespace sluice::bounce
