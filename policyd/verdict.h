// Verdict: the answer sluice-policyd gives Postfix for one policy request,
// and its rendering as the reply Postfix expects (SMTPD_POLICY_README:
// "action=..." then an empty line; the actions are those of access(5)).
//
// Owns: plain values. Pure functions, thread-safe.
// Guarantees: render_verdict() always produces one well-formed reply,
// whatever the Verdict holds: text is sanitised (no CR, LF, NUL or other
// control byte, no non-ASCII byte reaches the wire), the reply line is at
// most kMaxActionLine bytes, a defer is always 4xx and a reject always 5xx
// (a code of the wrong class is replaced by the kind's default), and the
// enhanced status code (RFC 3463) always has the reply's class.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sluice::policyd {

// Longest "action=..." line, LF excluded. Postfix relays "NNN x.y.z text" as
// the SMTP reply, whose line must fit 512 bytes with CRLF (RFC 5321
// 4.5.3.1.5): 500 - "action=" + CRLF leaves room to spare.
inline constexpr std::size_t kMaxActionLine = 500;

struct Verdict {
  enum class Kind {
    kDunno,          // "DUNNO": no opinion, the next restriction decides
    kOk,             // "OK": accept, skipping later restrictions of this class
    kDefer,          // "4NN x.y.z text": temporary failure, text required
    kReject,         // "5NN x.y.z text": permanent failure, text required
    kDeferIfPermit,  // "DEFER_IF_PERMIT x.y.z text": 4xx unless a later restriction rejects
    kDeferIfReject,  // "DEFER_IF_REJECT x.y.z text": 4xx if a later restriction rejects
    kWarn,           // "WARN text": Postfix logs the text and carries on
    kPrepend,        // "PREPEND Name: value": adds a header, the next restriction decides
  };

  Kind kind = Kind::kDunno;
  int smtp_code = 0;          // kDefer: 400-499 (else 450); kReject: 500-599 (else 550)
  std::string enhanced_code;  // "4.7.1"; for the four failure kinds (else a default)
  std::string text;           // human text (kPrepend: the header line), raw: sanitised when rendered

  friend bool operator==(const Verdict&, const Verdict&) = default;
};

Verdict verdict_dunno();
Verdict verdict_ok();
// "action=450 4.7.1 text": a temporary failure of this request.
Verdict verdict_defer(std::string_view enhanced_code, std::string_view text, int smtp_code = 450);
// "action=550 5.7.1 text": a permanent failure of this request.
Verdict verdict_reject(std::string_view enhanced_code, std::string_view text, int smtp_code = 550);
Verdict verdict_defer_if_permit(std::string_view enhanced_code, std::string_view text);
Verdict verdict_defer_if_reject(std::string_view enhanced_code, std::string_view text);
Verdict verdict_warn(std::string_view text);
// "action=PREPEND Name: value": Postfix adds the header to the message
// (access(5); at RCPT, not at END-OF-MESSAGE) and goes on as for DUNNO.
Verdict verdict_prepend(std::string_view header_line);
// What we answer when we cannot decide (Redis down, a bug survived):
// "DEFER_IF_PERMIT 4.3.0 Service temporarily unavailable", Postfix's own
// convention for a failed lookup; never OK, never 5xx.
Verdict verdict_tempfail_internal();

// The whole reply, "action=...\n\n".
std::string render_verdict(const Verdict& verdict);
// Appends the reply to |out| (a connection's write buffer): no allocation
// once |out| has room.
void append_verdict(const Verdict& verdict, std::string& out);

// Short name for logs: "dunno", "ok", "defer", "reject", "defer_if_permit",
// "defer_if_reject", "warn", "prepend".
std::string_view verdict_kind_name(Verdict::Kind kind);

}  // namespace sluice::policyd
