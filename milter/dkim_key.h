// DKIM private keys, parsed once: a DkimKey holds an OpenSSL EVP_PKEY loaded
// from a key file (or PEM text) at start-up or reload, checked against the
// RFC 8301 / RFC 8463 rules, and shared read-only by every signer.
//
// Owns: the EVP_PKEY and the DNS form of its public key (computed once).
// Guarantees: a DkimKey is immutable after load; OpenSSL allows concurrent
// signing with one EVP_PKEY from many threads (openssl-threads(7)), so one
// std::shared_ptr<const DkimKey> may serve every connection. Loading never
// throws; every refusal is an Error whose detail names the file and the fix.
// Accepted inputs: PKCS#1 RSA PEM ("BEGIN RSA PRIVATE KEY", opendkim-genkey),
// PKCS#8 PEM ("BEGIN PRIVATE KEY") holding RSA or Ed25519 (openssl genpkey),
// and the bare base64 32-byte Ed25519 seed that dkimpy's dknewkey writes.
// Encrypted PEM is refused (the milter cannot ask for a passphrase).
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/c_handle.h"
#include "common/result.h"

namespace sluice::milter {

using EvpPkeyPtr = CHandle<EVP_PKEY, EVP_PKEY_free>;

// The two signing algorithms Sluice emits: RFC 8301 removed rsa-sha1.
enum class DkimAlgorithm { kRsaSha256, kEd25519Sha256 };

// "rsa-sha256" / "ed25519-sha256", the a= tag value.
std::string_view dkim_algorithm_name(DkimAlgorithm algorithm);

// RSA size limits (RFC 8301 3.2): under 1024 bits is always refused whatever
// min_rsa_bits says; under min_rsa_bits is refused with a hint to lower it.
struct DkimKeyPolicy {
  int min_rsa_bits = 2048;
  int max_rsa_bits = 4096;
};

// Largest key file accepted, in bytes (an RSA-8192 PEM is about 6.4 KiB).
inline constexpr std::size_t kMaxDkimKeyFileSize = 64 * 1024;

class DkimKey {
 public:
  // Opens |path| with O_NOFOLLOW (a symlink is refused), refuses a file that
  // is not a regular file, is group/other readable or writable (mode & 077),
  // is owned by neither the current user nor root, or exceeds 64 KiB; then
  // parses it with from_pem(). Errors are kConfig ("PATH: reason") or kIo.
  static Result<std::shared_ptr<const DkimKey>> load_file(const std::string& path, const DkimKeyPolicy& policy);

  // Parses key text (PEM or bare Ed25519 seed) and applies |policy|; checks
  // that the private and public halves match by one sign/verify round trip.
  static Result<std::shared_ptr<const DkimKey>> from_pem(std::string_view pem, const DkimKeyPolicy& policy);

  DkimAlgorithm algorithm() const { return algorithm_; }
  // RSA modulus size; 256 for Ed25519.
  int bits() const { return bits_; }
  // Owned by this DkimKey; valid as long as it lives. Never modified.
  EVP_PKEY* pkey() const { return pkey_.get(); }
  // The p= value of the DNS record: base64 of the DER SubjectPublicKeyInfo
  // (RSA, RFC 6376 3.6.1) or of the raw 32-byte public key (RFC 8463 4).
  const std::string& dns_public_key() const { return dns_public_key_; }
  // "v=DKIM1; k=rsa; p=..." or "v=DKIM1; k=ed25519; p=...".
  std::string dns_record() const;

  DkimKey(EvpPkeyPtr pkey, DkimAlgorithm algorithm, int bits, std::string dns_public_key);

 private:
  EvpPkeyPtr pkey_;
  DkimAlgorithm algorithm_;
  int bits_;
  std::string dns_public_key_;
};

using DkimKeyPtr = std::shared_ptr<const DkimKey>;

// Standard base64 (RFC 4648 4) without line breaks.
std::string base64_encode(std::string_view bytes);

}  // namespace sluice::milter
