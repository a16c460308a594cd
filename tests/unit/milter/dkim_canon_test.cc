// Tests for milter/dkim_canon.*: the RFC 6376 3.4.5 examples, the edge rules
// (empty body, missing final CRLF, trailing empty lines, WSP, bare LF/CR),
// split invariance (a chunk boundary anywhere gives the same bytes), and a
// 20 MB body streamed with bounded memory.
#include "milter/dkim_canon.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <string>
#include <string_view>
#include <vector>

#include "milter/dkim_key.h"  // base64_encode

namespace sluice::milter {
namespace {

std::string b64_sha256_of_canonical(Canon canon, std::string_view body) {
  BodyHasher hasher(canon);
  hasher.update(body);
  return base64_encode(hasher.finish());
}

// RFC 6376 3.4.5, both header fields and the body, exactly.
TEST(DkimCanon, Rfc6376Section345Example) {
  const std::string body = " C \r\nD \t E\r\n\r\n\r\n";
  std::string relaxed;
  append_canonical_header(Canon::kRelaxed, "A", " X", relaxed);
  append_canonical_header(Canon::kRelaxed, "B ", " Y\t\r\n\tZ  ", relaxed);
  EXPECT_EQ(relaxed, "a:X\r\nb:Y Z\r\n");
  EXPECT_EQ(canonical_body(Canon::kRelaxed, body), " C\r\nD E\r\n");

  std::string simple;
  append_canonical_header(Canon::kSimple, "A", " X", simple);
  append_canonical_header(Canon::kSimple, "B ", " Y\t\r\n\tZ  ", simple);
  EXPECT_EQ(simple, "A: X\r\nB : Y\t\r\n\tZ  \r\n");
  EXPECT_EQ(canonical_body(Canon::kSimple, body), " C \r\nD \t E\r\n");
}

struct HeaderCase {
  Canon canon;
  std::string_view name;
  std::string_view value;
  std::string_view want;
  const char* why;
};

TEST(DkimCanon, HeaderCases) {
  // Each row: one field, its canonical form, and the rule it checks.
  const std::vector<HeaderCase> cases = {
      {Canon::kRelaxed, "SUBJECT", " Hello", "subject:Hello\r\n", "name lowercased, leading space dropped"},
      {Canon::kRelaxed, "To", "x@y", "to:x@y\r\n", "no space after colon"},
      {Canon::kRelaxed, "To", " \t a \t b \t ", "to:a b\r\n", "WSP runs collapse, ends trimmed"},
      {Canon::kRelaxed, "Subject", " a\n b", "subject:a b\r\n", "bare LF fold unfolds like CRLF"},
      {Canon::kRelaxed, "Subject", " a\r\n\tb\r\n c", "subject:a b c\r\n", "several folds"},
      {Canon::kRelaxed, "Subject", " caf\xc3\xa9", "subject:caf\xc3\xa9\r\n", "8-bit bytes kept"},
      {Canon::kRelaxed, "X", "", "x:\r\n", "empty value"},
      {Canon::kRelaxed, "X", " \r\n ", "x:\r\n", "value of folding WSP only"},
      {Canon::kSimple, "Subject", " a\n b", "Subject: a\r\n b\r\n", "simple: bare LF fold becomes CRLF"},
      {Canon::kSimple, "Subject", "\ta  b ", "Subject:\ta  b \r\n", "simple: bytes unchanged"},
  };
  for (const HeaderCase& c : cases) {
    EXPECT_EQ(canonical_header(c.canon, c.name, c.value), c.want) << c.why;
  }
}

struct BodyCase {
  std::string_view body;
  std::string_view simple;
  std::string_view relaxed;
  const char* why;
};

const std::vector<BodyCase>& body_cases() {
  // Each row: a body, its simple and relaxed canonical forms, and why.
  static const std::vector<BodyCase> cases = {
      {"", "\r\n", "", "empty body: simple is CRLF, relaxed is empty (errata)"},
      {"\r\n", "\r\n", "", "one empty line is an empty body"},
      {"\r\n\r\n\r\n", "\r\n", "", "only empty lines"},
      {" \r\n\t\r\n", " \r\n\t\r\n", "", "WSP-only lines: content for simple, empty for relaxed"},
      {"abc", "abc\r\n", "abc\r\n", "no final CRLF: one is added"},
      {"abc  ", "abc  \r\n", "abc\r\n", "no final CRLF, trailing WSP"},
      {"a\r\n\r\n\r\n", "a\r\n", "a\r\n", "trailing empty lines dropped"},
      {"a\r\n\r\nb\r\n", "a\r\n\r\nb\r\n", "a\r\n\r\nb\r\n", "inner empty line kept"},
      {"a \t b\t\r\n", "a \t b\t\r\n", "a b\r\n", "WSP runs and trailing WSP"},
      {"\t lead\r\n", "\t lead\r\n", " lead\r\n", "leading WSP is one SP in relaxed"},
      {"a\nb\n", "a\r\nb\r\n", "a\r\nb\r\n", "bare LF is a line end"},
      {"a\n\n\n", "a\r\n", "a\r\n", "bare-LF empty lines at the end"},
      {"a\rb\r\n", "a\rb\r\n", "a\rb\r\n", "bare CR is data"},
      {"a\r", "a\r\r\n", "a\r\r\n", "final bare CR is data"},
      {"a \r\n \r\nb", "a \r\n \r\nb\r\n", "a\r\n\r\nb\r\n", "WSP-only inner line"},
      {"x\r\n  \r\n\r\n", "x\r\n  \r\n", "x\r\n", "trailing WSP-only line"},
      {"\r\n\r\nx", "\r\n\r\nx\r\n", "\r\n\r\nx\r\n", "leading empty lines kept"},
  };
  return cases;
}

TEST(DkimCanon, BodyCases) {
  for (const BodyCase& c : body_cases()) {
    EXPECT_EQ(canonical_body(Canon::kSimple, c.body), c.simple) << "simple: " << c.why;
    EXPECT_EQ(canonical_body(Canon::kRelaxed, c.body), c.relaxed) << "relaxed: " << c.why;
  }
}

// Known body hashes: the empty bodies, and the RFC 6376 / RFC 8463 example
// body whose relaxed hash is the bh= of RFC 8463 A.3.
TEST(DkimCanon, KnownBodyHashes) {
  EXPECT_EQ(b64_sha256_of_canonical(Canon::kSimple, ""), "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=");
  EXPECT_EQ(b64_sha256_of_canonical(Canon::kRelaxed, ""), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
  const std::string rfc_body = "Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n";
  EXPECT_EQ(b64_sha256_of_canonical(Canon::kRelaxed, rfc_body), "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=");
  // dkimpy's rfc6376.signed.msg signs the same body simple/simple.
  EXPECT_EQ(b64_sha256_of_canonical(Canon::kSimple, rfc_body), "4bLNXImK9drULnmePzZNEBleUanJCX5PIsDIFoH4KTQ=");
}

// A body touching every state: CR/LF pairs, bare LF and CR, WSP runs, WSP at
// line ends, empty and WSP-only lines inside and at the end, 8-bit bytes.
const std::string kAwkwardBody =
    " lead\t \r\nmid  dle\t\r\n\r\n \t\r\nbare\nlf\rcr\r\n"
    "caf\xc3\xa9  \xe2\x82\xac\r\n\r\n \r\n\t\r\n\r\nend \t";

TEST(DkimCanon, EverySplitPointGivesTheSameBytes) {
  for (Canon canon : {Canon::kSimple, Canon::kRelaxed}) {
    const std::string whole = canonical_body(canon, kAwkwardBody);
    for (std::size_t cut = 0; cut <= kAwkwardBody.size(); ++cut) {
      for (std::size_t cut2 = cut; cut2 <= kAwkwardBody.size(); ++cut2) {
        BodyHasher split(canon);
        split.update(std::string_view(kAwkwardBody).substr(0, cut));
        split.update(std::string_view(kAwkwardBody).substr(cut, cut2 - cut));
        split.update(std::string_view(kAwkwardBody).substr(cut2));
        BodyHasher one(canon);
        one.update(kAwkwardBody);
        ASSERT_EQ(split.finish(), one.finish()) << canon_name(canon) << " cuts at " << cut << "," << cut2;
      }
    }
    // One byte at a time, checked on the canonical bytes themselves.
    struct Sink final : ByteSink {
      void write(std::string_view b) override { out.append(b); }
      std::string out;
    } sink;
    BodyCanonicalizer bytewise(canon);
    for (char c : kAwkwardBody) bytewise.update(std::string_view(&c, 1), sink);
    bytewise.finish(sink);
    EXPECT_EQ(sink.out, whole) << canon_name(canon);
  }
}

// Table bodies too, at every single split point.
TEST(DkimCanon, TableBodiesSplitAnywhere) {
  for (const BodyCase& c : body_cases()) {
    for (Canon canon : {Canon::kSimple, Canon::kRelaxed}) {
      for (std::size_t cut = 0; cut <= c.body.size(); ++cut) {
        struct Sink final : ByteSink {
          void write(std::string_view b) override { out.append(b); }
          std::string out;
        } sink;
        BodyCanonicalizer canonicalizer(canon);
        canonicalizer.update(c.body.substr(0, cut), sink);
        canonicalizer.update(c.body.substr(cut), sink);
        canonicalizer.finish(sink);
        EXPECT_EQ(sink.out, canon == Canon::kSimple ? c.simple : c.relaxed) << c.why << " cut " << cut;
      }
    }
  }
}

// 20 MB streamed in 64 KiB chunks: the heap does not grow with the body,
// even for 5 MB of empty lines that might turn out to be trailing, and the
// hash equals the one of the whole body canonicalised in memory.
TEST(DkimCanon, TwentyMegabytesStreamInBoundedMemory) {
  std::string body;
  body.reserve(21 << 20);
  while (body.size() < (10u << 20)) body += "Line with  runs \t of WSP and trailing space   \r\n";
  body.append(5u << 20, '\n');  // 5 M bare-LF empty lines, then content
  body += "tail\r\n";
  while (body.size() < (20u << 20)) body += "\r\n";  // trailing empty lines: counted, then dropped

  for (Canon canon : {Canon::kSimple, Canon::kRelaxed}) {
    BodyHasher streamed(canon);
    const std::size_t heap_before = mallinfo2().uordblks;
    std::size_t peak = heap_before;
    for (std::size_t off = 0; off < body.size(); off += 64 * 1024) {
      streamed.update(std::string_view(body).substr(off, 64 * 1024));
      peak = std::max(peak, mallinfo2().uordblks);
    }
    const std::string streamed_hash = streamed.finish();
    EXPECT_LT(peak - heap_before, 4096u) << canon_name(canon) << ": heap grew while streaming";

    const std::string whole = canonical_body(canon, body);
    EXPECT_EQ(streamed.canonical_size(), whole.size());
    unsigned char digest[32];
    unsigned int len = 0;
    ASSERT_EQ(EVP_Digest(whole.data(), whole.size(), digest, &len, EVP_sha256(), nullptr), 1);
    EXPECT_EQ(streamed_hash, std::string(reinterpret_cast<char*>(digest), len)) << canon_name(canon);
    EXPECT_EQ(whole.substr(whole.size() - 6), "tail\r\n");
  }
}

}  // namespace
}  // namespace sluice::milter
