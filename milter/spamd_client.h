// spamd (SpamAssassin) client: the SPAMC/1.5 protocol's SYMBOLS command.
//
// Request:  SYMBOLS SPAMC/1.5\r\nContent-length: N\r\n[User: LOGIN\r\n]\r\n<message>
// Answer:   SPAMD/1.1 0 EX_OK\r\nContent-length: M\r\nSpam: True ; 1000.0 / 5.0\r\n\r\nGTUBE,...
//           or SPAMD/1.0 76 Bad header line: ...\r\n (a sysexits code, then close)
//
// spamd 4.0 also accepts a request without Content-length, ended by a
// half-close, which would let the message stream. It is buffered instead
// (up to max_size): a streaming session would hold one of spamd's few
// preforked children (--max-children, default 5) for the whole SMTP DATA
// phase of a slow client, and spamd's own read timeout would cut it; with
// Content-length spamd also detects a truncated message ("76 ...
// Content-Length mismatch"). The connection opens at end of message.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "milter/scanner.h"

namespace sluice::milter {

inline constexpr std::size_t kSpamdAnswerCap = 64 * 1024;

struct SpamdAnswer {
  int code = 0;         // sysexits: 0 EX_OK, 76 EX_PROTOCOL...
  std::string message;  // "EX_OK", or spamd's complaint
  bool spam = false;    // "Spam: True"
  double score = 0;
  double required = 0;  // after the "/"
  std::vector<std::string> symbols;  // the body, split at commas (raw)
};

// The request head for a message of |content_length| bytes; |user| is
// omitted when empty or not a plain token.
std::string spamd_request_head(std::size_t content_length, std::string_view user);

// The answer in |bytes| so far: nullopt while it is incomplete (never at
// |eof|), an Error (kProtocol) when it is not spamd's protocol.
Result<std::optional<SpamdAnswer>> read_spamd_answer(std::string_view bytes, bool eof);

// With a |threshold|, spam iff score >= threshold; without, spamd's own
// "Spam: True". A non-zero code is a kFailure naming it. |label| prefixes
// details ("spamd 127.0.0.1:783").
ScanVerdict spamd_verdict(const SpamdAnswer& answer, std::optional<double> threshold, std::string_view label);

ScanSessionPtr make_spamd_session(const ScannerSettings& settings, const std::string& account);

}  // namespace sluice::milter
