// DKIM signing (RFC 6376 with RFC 8463 ed25519-sha256 and RFC 8301 rules) on
// OpenSSL EVP, with keys parsed once (DkimKey): one DkimSigner per message and
// key; the body is streamed in as it arrives (xxfi_body), the headers are
// given at the end (xxfi_eom), and finish() returns the value of a new
// DKIM-Signature header field.
//
// Owns: the body hash state (O(1) memory, see dkim_canon.h) and a reference
// to the shared, immutable key. No I/O, no global state besides the
// once-fetched SHA-256 method; one signer per thread at a time.
// Guarantees: never emits l= (DESIGN: a signed body cannot be extended);
// only rsa-sha256 and ed25519-sha256; From is always signed and oversigned
// even if the option lists forget it (RFC 6376 5.4: From MUST be signed);
// a message with zero or several From fields is refused (kInvalidInput);
// bad options are kConfig; OpenSSL failures are kInternal. Never throws.
//
// Header values: DkimHeader::value is the field body exactly as it follows
// the colon, leading space included. libmilter strips that leading space
// unless the milter negotiated SMFIP_HDR_LEADSPC: without it, a caller must
// add " " back itself, or simple header canonicalisation will not match
// what the verifier sees (relaxed does not care).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "milter/dkim_canon.h"
#include "milter/header_field.h"
#include "milter/dkim_key.h"

namespace sluice::milter {

// One header field of the message, top to bottom order in a span.
using DkimHeader = HeaderField;

struct DkimSignOptions {
  std::string domain;    // d=
  std::string selector;  // s=
  std::shared_ptr<const DkimKey> key;
  Canon header_canon = Canon::kRelaxed;
  Canon body_canon = Canon::kRelaxed;
  // Names signed if present, each instance (bottom-up, RFC 6376 5.4.2).
  std::vector<std::string> signed_headers;
  // Names listed once more than they occur, so none can be added after
  // signing (RFC 6376 8.15); a name in both lists is oversigned.
  std::vector<std::string> oversigned_headers;
  std::int64_t timestamp = 0;              // t=; 0: now
  std::int64_t expire_after_seconds = 0;   // x= t + this; 0: no x=
  std::string identity;                    // i=; optional; "@d" or "user@sub.d"
};

// The longest h= list accepted (instances of signed names plus oversigning);
// a message with more signed header instances is refused with kTooLong.
inline constexpr std::size_t kMaxSignedHeaderInstances = 1000;

// Checks domain, selector, identity (its domain must be d= or under it,
// RFC 6376 3.5 i=) and header names. finish() runs it too; callers may run
// it at config load to report errors early.
Status validate_sign_options(const DkimSignOptions& options);

class DkimSigner {
 public:
  explicit DkimSigner(DkimSignOptions options);

  // Feeds body bytes, split anywhere (even inside CRLF).
  void body(std::string_view chunk);

  // Signs: returns the complete field value for a new "DKIM-Signature"
  // header (everything after "DKIM-Signature:", starting with a space),
  // folded with CRLF TAB at 78 columns, tags in the order v a c d s t x i h
  // bh b. Call once; the body is complete when it is called.
  Result<std::string> finish(std::span<const DkimHeader> headers);

 private:
  DkimSignOptions options_;
  BodyHasher body_;
  bool finished_ = false;
};

// Test and benchmark convenience: signs a whole message (CRLF or LF line
// ends), whose header section ends at the first empty line.
Result<std::string> sign_message(std::string_view whole_message, const DkimSignOptions& options);

// Splits a whole message into header fields and the body (what follows the
// empty line). A line that is neither a field nor a continuation is refused.
struct SplitMessage {
  std::vector<DkimHeader> headers;
  std::string_view body;
};
Result<SplitMessage> split_message(std::string_view whole_message);

// Lower-level steps, public so tests can check them against RFC examples.

// The h= name list for |headers| under |options| (signed + oversigned + From).
std::vector<std::string> dkim_signed_header_names(std::span<const DkimHeader> headers,
                                                  const DkimSignOptions& options);

// The header part of the signing input (RFC 6376 3.7 and 5.4.2): for each
// name of |h_names|, the next unused instance of that field counted from the
// bottom, canonicalised; a name with no instance left contributes nothing.
std::string dkim_header_hash_input(Canon canon, std::span<const DkimHeader> headers,
                                   std::span<const std::string> h_names);

// Signs the complete signing input (headers + DKIM-Signature with empty b=,
// no final CRLF): RSASSA-PKCS1-v1_5 over SHA-256 for RSA; for Ed25519,
// PureEdDSA over the SHA-256 digest of |data| (RFC 8463 3). Raw bytes.
Result<std::string> dkim_sign_data(const DkimKey& key, std::string_view data);

}  // namespace sluice::milter
