// Tests for policyd/verdict.*: the exact bytes Postfix receives for each
// action, and that no text (a recipient, a reason from Redis) can break the
// reply: no CR, LF, NUL or control byte on the wire, bounded length, right
// reply class.
#include "policyd/verdict.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace sluice::policyd {
namespace {

using namespace std::string_literals;

TEST(Verdict, RendersExactPostfixReplies) {
  struct Case {
    Verdict verdict;
    std::string want;
    const char* why;
  };
  const std::vector<Case> cases = {
      {verdict_dunno(), "action=DUNNO\n\n", "no opinion"},
      {verdict_ok(), "action=OK\n\n", "accept"},
      {verdict_tempfail_internal(), "action=DEFER_IF_PERMIT 4.3.0 Service temporarily unavailable\n\n",
       "internal error: Postfix's convention"},
      {verdict_defer("4.7.1", "Rate limit exceeded for acct-42, try again later"),
       "action=450 4.7.1 Rate limit exceeded for acct-42, try again later\n\n", "quota defer"},
      {verdict_defer("4.3.2", "System not accepting network messages", 421),
       "action=421 4.3.2 System not accepting network messages\n\n", "explicit 4xx code"},
      {verdict_reject("5.7.1", "<bob@example.com>: recipient suppressed (complaint, since 2026-11-27)"),
       "action=550 5.7.1 <bob@example.com>: recipient suppressed (complaint, since 2026-11-27)\n\n",
       "suppression reject"},
      {verdict_reject("5.7.1", "Sender address not owned by acct-42", 553),
       "action=553 5.7.1 Sender address not owned by acct-42\n\n", "explicit 5xx code"},
      {verdict_defer_if_permit("4.7.1", "SPF temporary error"),
       "action=DEFER_IF_PERMIT 4.7.1 SPF temporary error\n\n", "defer if permit"},
      {verdict_defer_if_reject("4.7.1", "Quota check failed"),
       "action=DEFER_IF_REJECT 4.7.1 Quota check failed\n\n", "defer if reject"},
      {verdict_warn("quota at 90% for acct-42"), "action=WARN quota at 90% for acct-42\n\n", "warn"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(render_verdict(c.verdict), c.want) << c.why;
  }
}

TEST(Verdict, KeepsReplyClassWhateverTheCode) {
  struct Case {
    Verdict verdict;
    std::string want;
    const char* why;
  };
  const std::vector<Case> cases = {
      {verdict_defer("4.7.1", "x", 550), "action=450 4.7.1 x\n\n", "5xx code on a defer: default 450"},
      {verdict_defer("4.7.1", "x", 250), "action=450 4.7.1 x\n\n", "2xx code on a defer"},
      {verdict_defer("4.7.1", "x", 0), "action=450 4.7.1 x\n\n", "no code"},
      {verdict_reject("5.7.1", "x", 450), "action=550 5.7.1 x\n\n", "4xx code on a reject: default 550"},
      {verdict_reject("5.7.1", "x", 9999), "action=550 5.7.1 x\n\n", "out of range"},
      {verdict_reject("5.7.1", "x", -550), "action=550 5.7.1 x\n\n", "negative"},
      {verdict_defer("5.7.1", "x"), "action=450 4.7.1 x\n\n", "enhanced class follows the reply: 4"},
      {verdict_reject("4.2.2", "x"), "action=550 5.2.2 x\n\n", "enhanced class follows the reply: 5"},
      {verdict_defer_if_permit("5.3.0", "x"), "action=DEFER_IF_PERMIT 4.3.0 x\n\n", "defer_if_permit is 4"},
      {verdict_reject("", "x"), "action=550 5.7.1 x\n\n", "missing enhanced code: default"},
      {verdict_reject("5.7", "x"), "action=550 5.7.1 x\n\n", "two parts"},
      {verdict_reject("5.7.1234", "x"), "action=550 5.7.1 x\n\n", "four-digit detail"},
      {verdict_reject("2.0.0", "x"), "action=550 5.7.1 x\n\n", "success class"},
      {verdict_reject("5.7.1 extra", "x"), "action=550 5.7.1 x\n\n", "trailing text in code"},
      {verdict_reject("5.7.1\r\n", "x"), "action=550 5.7.1 x\n\n", "CRLF in code"},
      {verdict_reject("5.100.999", "x"), "action=550 5.100.999 x\n\n", "three-digit parts are valid"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(render_verdict(c.verdict), c.want) << c.why;
  }
}

TEST(Verdict, SanitisesText) {
  struct Case {
    std::string text;
    std::string want_line;  // without the final "\n\n"
    const char* why;
  };
  const std::vector<Case> cases = {
      {"a\r\naction=OK", "action=550 5.7.1 a  action=OK", "CRLF injection of a second attribute"},
      {"a\n\naction=OK\n\n", "action=550 5.7.1 a  action=OK", "reply-ending injection"},
      {"a"s + '\0' + "b", "action=550 5.7.1 a b", "NUL"},
      {"a\tb\x1b[31mc\x7f", "action=550 5.7.1 a b [31mc", "tab, escape sequence, DEL"},
      {"J\xc3\xb6hn", "action=550 5.7.1 J??hn", "non-ASCII becomes '?' like Postfix printable()"},
      {"", "action=550 5.7.1 Rejected by policy", "empty text: default"},
      {"  \r\n\t ", "action=550 5.7.1 Rejected by policy", "only blanks: default"},
      {"  padded  ", "action=550 5.7.1 padded", "blanks trimmed"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(render_verdict(verdict_reject("5.7.1", c.text)), c.want_line + "\n\n") << c.why;
  }
  EXPECT_EQ(render_verdict(verdict_defer("4.7.1", "")), "action=450 4.7.1 Service temporarily unavailable\n\n");
  EXPECT_EQ(render_verdict(verdict_warn("\r\n")), "action=WARN policy warning\n\n");
}

TEST(Verdict, IgnoresTextOnDunnoAndOk) {
  Verdict v = verdict_dunno();
  v.text = "\r\naction=REJECT";
  EXPECT_EQ(render_verdict(v), "action=DUNNO\n\n");
  v = verdict_ok();
  v.text = "hello";
  EXPECT_EQ(render_verdict(v), "action=OK\n\n");
}

TEST(Verdict, CapsReplyLineLength) {
  const std::vector<Verdict> verdicts = {
      verdict_reject("5.7.1", std::string(5000, 'x')),
      verdict_defer("4.7.1", std::string(5000, '\n')),
      verdict_defer_if_permit("4.3.0", std::string(1000, ' ') + std::string(1000, 'y')),
      verdict_warn(std::string(600, '\xc3')),
      verdict_reject("5.7.1", std::string(490, 'x') + "          tail"),
  };
  for (const auto& v : verdicts) {
    const std::string reply = render_verdict(v);
    ASSERT_GE(reply.size(), 2u);
    EXPECT_EQ(reply.substr(reply.size() - 2), "\n\n");
    const std::string_view line(reply.data(), reply.size() - 2);
    EXPECT_LE(line.size(), kMaxActionLine) << "got a " << line.size() << "-byte line";
    EXPECT_NE(line.back(), ' ') << "a cut leaves no trailing blank";
    for (const char c : line) {
      const auto u = static_cast<unsigned char>(c);
      ASSERT_TRUE(u >= 0x20 && u < 0x7f) << "byte 0x" << std::hex << int{u} << " on the wire";
    }
  }
  // A long text fills the line exactly.
  EXPECT_EQ(render_verdict(verdict_reject("5.7.1", std::string(5000, 'x'))).size(), kMaxActionLine + 2);
}

TEST(Verdict, AppendsToExistingBuffer) {
  std::string out = "action=DUNNO\n\n";
  append_verdict(verdict_reject("5.7.1", std::string(5000, 'x')), out);
  EXPECT_EQ(out.size(), 14 + kMaxActionLine + 2) << "the cap applies to the new line, not the buffer";
  EXPECT_EQ(out.substr(0, 30), "action=DUNNO\n\naction=550 5.7.1");
}

TEST(Verdict, NamesKindsForLogs) {
  EXPECT_EQ(verdict_kind_name(Verdict::Kind::kDunno), "dunno");
  EXPECT_EQ(verdict_kind_name(Verdict::Kind::kReject), "reject");
  EXPECT_EQ(verdict_kind_name(Verdict::Kind::kDeferIfPermit), "defer_if_permit");
  EXPECT_EQ(verdict_kind_name(verdict_tempfail_internal().kind), "defer_if_permit");
  EXPECT_EQ(verdict_kind_name(Verdict::Kind::kPrepend), "prepend");
}

// A PREPEND carries a header line: it must stay one line on the wire.
TEST(Verdict, PrependRendersOneHeaderLine) {
  EXPECT_EQ(render_verdict(verdict_prepend("Received-SPF: pass (x) client-ip=192.0.2.1;")),
            "action=PREPEND Received-SPF: pass (x) client-ip=192.0.2.1;\n\n");
  EXPECT_EQ(render_verdict(verdict_prepend("X-A: 1\r\nX-Injected: 2")), "action=PREPEND X-A: 1  X-Injected: 2\n\n");
  EXPECT_EQ(render_verdict(verdict_prepend("")), "action=PREPEND X-Sluice-Policy: empty\n\n");
  EXPECT_EQ(render_verdict(verdict_prepend(std::string(5000, 'h'))).size(), kMaxActionLine + 2);
}

}  // namespace
}  // namespace sluice::policyd
