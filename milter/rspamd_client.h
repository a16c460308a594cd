// rspamd client: one HTTP/1.1 POST /checkv2 per message (rspamd's normal
// worker protocol), the envelope in request headers, a JSON answer.
//
// The message is buffered up to max_size (Content-Length goes first) and
// sent at end of message on a fresh connection ("Connection: close").
// The answer is capped at kRspamdAnswerCap and parsed strictly
// (milter/json_reader.h); chunked transfer coding is understood, any
// content coding is refused (none is asked for).
//
// Verdict: with a threshold, spam iff score >= threshold; without, rspamd's
// action: "reject", "add header", "rewrite subject" (and the stronger
// "quarantine", "discard") are spam; "no action", "greylist", "soft reject"
// are clean; any other action is a kFailure. Note that rspamd sets
// "is_skipped": true on a GTUBE match, so that flag is not a skip.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "milter/json_reader.h"
#include "milter/scanner.h"

namespace sluice::milter {

inline constexpr std::size_t kRspamdAnswerCap = 1024 * 1024;

struct HttpAnswer {
  int status = 0;
  std::string reason;
  std::string body;  // decoded from chunked if it was
};

// The request line and headers for a |content_length|-byte message. Envelope
// values lose control characters (no header injection) and empty ones are
// left out, except From, which is "<>" for the null sender.
std::string rspamd_request_head(const ScanEnvelope& envelope, std::string_view host, std::size_t content_length,
                                std::string_view queue_id);

// The HTTP answer in |bytes| so far: nullopt while incomplete (never at
// |eof|), an Error (kProtocol) when it is not HTTP/1.x.
Result<std::optional<HttpAnswer>> read_http_answer(std::string_view bytes, bool eof);

// The verdict from rspamd's JSON (see above). |label| prefixes details.
ScanVerdict rspamd_verdict(const JsonValue& answer, std::optional<double> threshold, std::string_view label);

ScanSessionPtr make_rspamd_session(const ScannerSettings& settings, const ScanEnvelope& envelope,
                                   const std::string& account);

}  // namespace sluice::milter
