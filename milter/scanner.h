// Content scanning of one message by spamd, rspamd and clamd ([scanner NAME]
// sections): the milter opens one ScanSession per scanner when the message
// starts, feeds it the header and body as they arrive, and at end of message
// calls finish_scans() once for all of them.
//
// Guarantees:
// - Memory per session is bounded whatever the message size: spamd and
//   rspamd need the length before the message, so they keep it up to
//   max_size; clamd streams it and keeps at most kClamdMaxUnsent bytes unsent.
//   A message over max_size is not scanned by that scanner (kSkipped).
// - Nothing here throws into the milter, raises SIGPIPE, or crashes on what a
//   scanner answers: every failure (refused, reset, timeout, garbage, an
//   answer over its cap) becomes a kFailure verdict with a printable detail.
// - finish_scans() runs every exchange at once in one poll() loop, so end of
//   message waits for the slowest scanner (at most its timeout), not the sum.
// - Blocking: header()/end_of_headers()/body() of spamd and rspamd never
//   block. clamd's may block to drain its socket, at most settings.timeout
//   per message in total (then the session fails and stops sending).
// - A session is owned by one message, used by one thread at a time.
#pragma once

#include <poll.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/scan_settings.h"

namespace sluice::milter {

// What rspamd wants as HTTP headers; spamd and clamd ignore most of it.
struct ScanEnvelope {
  std::string client_address;  // numeric IP; empty for local submission (no IP header then)
  std::string helo, mail_from, auth_authen;
  std::vector<std::string> recipients;
};

enum class ScanVerdictKind {
  kClean,
  kSpam,     // spam, or a virus for clamd
  kFailure,  // unreachable, timeout, garbled answer: settings.on_failure applies
  kSkipped,  // not scanned (over max_size)
};

inline constexpr std::size_t kMaxScanSymbols = 50;
inline constexpr std::size_t kMaxScanSymbolBytes = 64;
inline constexpr std::size_t kMaxVirusNameBytes = 128;
inline constexpr std::size_t kMaxScanDetailBytes = 400;

struct ScanVerdict {
  ScanVerdictKind kind = ScanVerdictKind::kFailure;
  std::optional<double> score, required;  // spam scanners: the score and the threshold that applied
  std::vector<std::string> symbols;       // at most kMaxScanSymbols, each [A-Za-z0-9_.-]{1,64}
  std::string virus;                      // clamd signature name, sanitised, <= kMaxVirusNameBytes
  std::string detail;                     // why kFailure/kSkipped: printable ASCII, <= kMaxScanDetailBytes
  std::chrono::microseconds elapsed{0};   // from the start of finish_scans to the verdict
};

// "clean", "spam", "failure", "skipped".
std::string_view scan_verdict_name(ScanVerdictKind kind);

// One scanner's view of one message. Not thread-safe; owns its socket.
class ScanSession {
 public:
  using Clock = std::chrono::steady_clock;

  virtual ~ScanSession() = default;
  // |value| exactly as in the message, leading space and folding kept.
  virtual void header(std::string_view name, std::string_view value) = 0;
  virtual void end_of_headers() = 0;
  virtual void body(std::string_view chunk) = 0;  // raw CRLF body bytes

  // The rest is finish_scans()'s: the exchange as a poll() state machine.
  // The message is complete; the exchange must end by |start| +
  // settings.timeout. |queue_id| is the MTA's (rspamd's Queue-Id).
  virtual void start_finish(Clock::time_point start, std::string_view queue_id) = 0;
  // The descriptor and events to wait for; fd -1 once the verdict is known.
  virtual pollfd poll_request() const = 0;
  virtual void on_ready(short revents) = 0;
  virtual void on_deadline() = 0;  // the deadline has passed: fail
  virtual Clock::time_point deadline() const = 0;
  virtual bool done() const = 0;
  virtual ScanVerdict take_verdict() = 0;
};

using ScanSessionPtr = std::unique_ptr<ScanSession>;

// The session for one scanner; |account| (the SASL login, may be empty)
// picks the spam threshold (settings.threshold_for). Never fails: a bad
// address or an unreachable clamd yields a session whose verdict is kFailure.
ScanSessionPtr make_scan_session(const ScannerSettings& settings, const ScanEnvelope& envelope,
                                 const std::string& account);

// Drives every session to its verdict concurrently and returns
// verdicts[i] for sessions[i]. Each session's settings.timeout counts from
// this call. |queue_id| (may be empty) goes to rspamd and labels debug
// log lines. A null session gets a kFailure verdict.
std::vector<ScanVerdict> finish_scans(std::span<ScanSession* const> sessions, std::string_view queue_id);

// Helpers shared by the clients.

// A scanner symbol (rule name) cut to kMaxScanSymbolBytes, bytes outside
// [A-Za-z0-9_.-] replaced by '_'; empty if |raw| is empty.
std::string sanitize_scan_symbol(std::string_view raw);
// A virus name: [A-Za-z0-9_.:+/-], others '_', cut to kMaxVirusNameBytes.
std::string sanitize_virus_name(std::string_view raw);
// "label: what" made printable (log_escape) and cut to kMaxScanDetailBytes.
std::string scan_detail(std::string_view label, std::string_view what);
ScanVerdict scan_failure(std::string_view label, std::string_view what);
// Adds |raw| to verdict.symbols, sanitised, unless full or empty.
void add_scan_symbol(ScanVerdict& verdict, std::string_view raw);
// Appends "name:value\r\n" to |out|; a bare LF folding the value becomes
// CRLF, as the body's line ends are.
void append_header_line(std::string& out, std::string_view name, std::string_view value);

// For the answer readers.

// A kProtocol error: |why|, then the offending bytes quoted (escaped, cut).
Error garbled_answer(std::string_view why, std::string_view bytes);
// |text| without leading and trailing blanks (SP, HTAB).
std::string_view trim_blanks(std::string_view text);
// An answer that is not complete yet: nullopt (wait for more) before
// |eof|; at |eof| the error for what came (none at all, or |why|).
template <class Answer>
Result<std::optional<Answer>> incomplete_answer(std::string_view bytes, bool eof, std::string_view why) {
  if (!eof) return std::optional<Answer>();
  if (bytes.empty()) return make_error(Errc::kProtocol, "connection closed without an answer");
  return garbled_answer(why, bytes);
}

}  // namespace sluice::milter
