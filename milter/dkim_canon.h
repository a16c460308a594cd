// DKIM canonicalisation (RFC 6376 3.4): the header algorithms as pure
// functions, and the body algorithms as a streaming canonicaliser that takes
// body chunks split anywhere (even between CR and LF) and hands canonical
// bytes to a sink, usually a SHA-256 context (BodyHasher).
//
// Owns: nothing but O(1) state per body: a flag for a pending CR, a flag for
// pending white space (relaxed), a COUNT of withheld empty lines (never the
// lines themselves) and a fixed 16 KiB output buffer. Memory stays bounded
// whatever the body: a 20 MB body of empty lines costs one counter.
// Guarantees: no exceptions, no allocation per chunk; not thread-safe (one
// canonicaliser per message).
//
// Line ends: CRLF is a line end; a bare LF is also treated as CRLF, because
// the MTA sends every line with CRLF on the wire and verifiers hash that; a
// bare CR not followed by LF is kept as an ordinary byte. A body whose last
// line lacks CRLF is hashed as if the CRLF were there (RFC 6376 3.4.3, 3.4.4:
// "a CRLF is added"), which is also what SMTP transmission does to it.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/c_handle.h"

namespace sluice::milter {

// c= algorithms, RFC 6376 3.4.
enum class Canon { kSimple, kRelaxed };

// "simple" / "relaxed".
std::string_view canon_name(Canon canon);

// Appends the canonical form of one header field to |out|, with the trailing
// CRLF. |name| is the field name as it appears before the colon; |value| is
// everything after the colon (leading space included), internal folds as
// CRLF or bare LF (a bare LF is read as CRLF).
// simple (3.4.1): "Name:value\r\n", bytes unchanged except LF -> CRLF.
// relaxed (3.4.2): name lowercased and stripped of trailing WSP; value
// unfolded, WSP runs collapsed to one SP, leading/trailing WSP removed.
void append_canonical_header(Canon canon, std::string_view name, std::string_view value, std::string& out);

// append_canonical_header into a new string.
std::string canonical_header(Canon canon, std::string_view name, std::string_view value);

// Receives canonical body bytes, in pieces of at most 16 KiB.
class ByteSink {
 public:
  virtual void write(std::string_view bytes) = 0;

 protected:
  ~ByteSink() = default;
};

// Streaming body canonicaliser (RFC 6376 3.4.3 simple, 3.4.4 relaxed).
// update() any number of times, then finish() once.
class BodyCanonicalizer {
 public:
  explicit BodyCanonicalizer(Canon canon) : canon_(canon) {}

  // Canonicalises |chunk|; the bytes that are certain so far reach |out|
  // before this returns (withheld: a pending CR, pending WSP, empty lines).
  void update(std::string_view chunk, ByteSink& out);
  // Ends the body: adds the missing final CRLF, drops trailing empty lines,
  // applies the empty-body rules (simple: "\r\n"; relaxed: "" per the RFC
  // 6376 errata 3951 reading that dkimpy and Mail::DKIM follow).
  void finish(ByteSink& out);

  // Canonical bytes produced so far (after finish(): the whole length).
  std::uint64_t output_size() const { return output_size_; }

 private:
  void update_simple(const char* p, const char* end);
  void update_relaxed(const char* p, const char* end);
  void content(const char* bytes, std::size_t n);
  void end_of_line();
  void put(const char* bytes, std::size_t n);
  void flush(ByteSink& out);

  Canon canon_;
  bool pending_cr_ = false;        // last byte seen was CR; is it CRLF?
  bool pending_wsp_ = false;       // relaxed: WSP seen since the last content byte
  bool line_has_content_ = false;  // current line has produced output bytes
  std::uint64_t empty_lines_ = 0;  // withheld empty lines (emitted if content follows)
  std::uint64_t output_size_ = 0;
  ByteSink* sink_ = nullptr;       // set only during update() and finish()
  std::size_t used_ = 0;
  std::array<char, 16 * 1024> buf_{};
};

using EvpMdCtxPtr = CHandle<EVP_MD_CTX, EVP_MD_CTX_free>;

// SHA-256 of a streamed, canonicalised body: the DKIM bh= value (raw bytes).
class BodyHasher final : private ByteSink {
 public:
  explicit BodyHasher(Canon canon);
  BodyHasher(BodyHasher&&) noexcept = default;
  BodyHasher& operator=(BodyHasher&&) noexcept = default;

  void update(std::string_view chunk) { canon_.update(chunk, *this); }
  // The 32-byte digest. Call once.
  std::string finish();
  std::uint64_t canonical_size() const { return canon_.output_size(); }

 private:
  void write(std::string_view bytes) override;

  BodyCanonicalizer canon_;
  EvpMdCtxPtr ctx_;
};

// Whole-body convenience (tests, tools): the canonical body as a string.
std::string canonical_body(Canon canon, std::string_view body);

// The SHA-256 algorithm, fetched once per process (EVP_MD_fetch would
// otherwise look the name up on every message).
const EVP_MD* dkim_sha256();

}  // namespace sluice::milter
