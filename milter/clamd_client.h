// clamd client: zINSTREAM, streamed while the message arrives.
//
// The connection opens (non-blocking) when the session starts and sends
// "zINSTREAM\0"; header and body bytes follow as [u32 big-endian length]
// [data] chunks of at most kClamdChunkBytes, written as the socket takes
// them. At end of message a zero length ends the stream and clamd answers
// "stream: OK\0", "stream: NAME FOUND\0" or "... ERROR\0".
//
// Memory: at most kClamdChunkBytes staged plus kClamdMaxUnsent unsent.
// Above that the streaming calls block in poll() until clamd reads, for at
// most settings.timeout per message in total; then the session fails and
// stops sending. finish_scans() then has its own settings.timeout, so one
// message can wait at most twice the timeout for clamd. A message over max_size stops the stream and closes the
// connection (kSkipped). A failed connect is reported at finish (kFailure).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "milter/scanner.h"

namespace sluice::milter {

inline constexpr std::size_t kClamdAnswerCap = 64 * 1024;
inline constexpr std::size_t kClamdChunkBytes = 64 * 1024;
inline constexpr std::size_t kClamdMaxUnsent = 256 * 1024;

struct ClamdAnswer {
  enum class Kind { kClean, kFound, kError } kind = Kind::kError;
  std::string text;  // kFound: the signature name (raw); kError: clamd's words
};

// One INSTREAM chunk: |data| (at most kClamdChunkBytes) with its length.
std::string clamd_chunk(std::string_view data);

// The answer in |bytes| so far (NUL-terminated, or ended by the
// connection): nullopt while incomplete (never at |eof|), an Error
// (kProtocol) for anything but the three forms above.
Result<std::optional<ClamdAnswer>> read_clamd_answer(std::string_view bytes, bool eof);

// kClean, kSpam with the sanitised virus name, or kFailure for an ERROR.
ScanVerdict clamd_verdict(const ClamdAnswer& answer, std::string_view label);

ScanSessionPtr make_clamd_session(const ScannerSettings& settings);

}  // namespace sluice::milter
