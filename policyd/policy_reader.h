// PolicyReader: the Postfix SMTP access policy protocol (SMTPD_POLICY_README)
// as a pure parser. Bytes in through feed(), whole requests out through
// next(), in the style of hiredis' redisReaderFeed/redisReaderGetReply; it
// never sees a socket, a clock or a config file.
//
// Wire format: "name=value" lines ended by LF (CRLF accepted); an empty line
// ends a request; a connection carries any number of requests, back to back.
//
// Owns: a per-connection byte buffer and the request under construction.
// Not thread-safe: one reader per connection, used by one thread at a time.
// Guarantees:
//  - every line is scanned once, however the bytes are split across feeds;
//  - after next() returns nullopt, buffered() < max_request_bytes: memory per
//    connection is bounded by the limits plus the caller's largest feed;
//  - hostile input yields an Error (kTooLong for a limit, kInvalidInput for
//    anything malformed) whose detail quotes at most kMaxQuotedInput bytes of
//    input, escaped; never a crash. After an error the reader stays failed:
//    next() repeats the error and feed() discards its bytes (the server
//    closes the connection: resynchronising on a stream we misread is
//    guesswork).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "policyd/policy_request.h"

namespace sluice::policyd {

// Caps per connection. The defaults admit anything Postfix sends: its values
// come from SMTP command lines, which smtpd cuts at line_length_limit (2048)
// bytes, from SASL, or from a certificate name Postfix caps itself; Postfix
// 3.8 sends 31 attributes, about 700 bytes for a typical RCPT request.
struct PolicyLimits {
  // Longest line, counting the bytes before LF (a CR included). Twice
  // line_length_limit, so a 2 KiB address with UTF-8 and a long name fits.
  std::size_t max_line_bytes = 4096;
  // Most attribute lines in one request (Postfix 3.8 sends 31).
  std::size_t max_attributes = 64;
  // Most bytes in one request, every LF and the ending empty line included.
  std::size_t max_request_bytes = 16384;
};

// Longest stretch of input an error detail quotes (before escaping).
inline constexpr std::size_t kMaxQuotedInput = 24;
// Longest attribute name; longer names are an error (Postfix's longest is 24).
inline constexpr std::size_t kMaxAttributeName = 64;

class PolicyReader {
 public:
  explicit PolicyReader(PolicyLimits limits = {});

  // Appends bytes read from the connection. Call next() until it returns
  // nullopt or an error before feeding again, so buffered() stays bounded.
  void feed(std::string_view bytes);

  // The next complete request; nullopt when more bytes are needed.
  Result<std::optional<PolicyRequest>> next();

  // Bytes fed but not yet consumed by a returned request (0 once failed).
  std::size_t buffered() const { return buf_.size() - pos_; }

  // True once next() has returned an error.
  bool failed() const { return failed_.has_value(); }

 private:
  // kTooLong if a line of |length| bytes (LF excluded) breaks a cap.
  Status check_line_limits(std::size_t length) const;
  Error request_too_long() const;
  // Parses one complete line (terminator already removed); Error ends the
  // connection.
  Status take_line(std::string_view line);
  Status take_attribute(std::size_t index, std::string_view name, std::string_view value);
  Result<std::optional<PolicyRequest>> finish_request();
  Error fail(Error error);
  void reset_request();

  PolicyLimits limits_;
  std::string buf_;
  std::size_t pos_ = 0;   // first byte not yet consumed
  std::size_t scan_ = 0;  // bytes in [pos_, scan_) hold no LF
  std::size_t request_bytes_ = 0;  // bytes of the current request consumed so far
  std::size_t attributes_ = 0;     // attribute lines in the current request
  std::size_t hint_ = 0;           // where the next name lookup starts
  std::uint64_t seen_ = 0;         // bit per known attribute already given
  std::string unknown_seen_;       // names of unknown attributes given, NUL-separated
  PolicyRequest cur_;
  std::optional<Error> failed_;
};

}  // namespace sluice::policyd
