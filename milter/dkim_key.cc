#include "milter/dkim_key.h"
#include "milter/openssl_error.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

namespace sluice::milter {
namespace {

using BioPtr = CHandle<BIO, BIO_free>;
using MdCtxPtr = CHandle<EVP_MD_CTX, EVP_MD_CTX_free>;

Error key_error(std::string detail) { return make_error(Errc::kConfig, std::move(detail)); }

// PEM passphrase callback: always fails, so an encrypted key is an error
// rather than a prompt on a terminal the daemon does not have.
int no_passphrase(char*, int, int, void*) { return -1; }

std::string_view trim(std::string_view s) {
  const auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

// Decodes the bare base64 Ed25519 seed format (dkimpy's dknewkey): exactly 32
// bytes once decoded. Returns false for anything else.
bool decode_ed25519_seed(std::string_view text, unsigned char (&seed)[32]) {
  // 32 bytes are 43 base64 characters and one '=' of padding.
  if (text.size() != 44 || text[43] != '=' || text[42] == '=') return false;
  unsigned char out[33];
  if (EVP_DecodeBlock(out, reinterpret_cast<const unsigned char*>(text.data()), 44) != 33) {
    ERR_clear_error();
    return false;
  }
  std::memcpy(seed, out, 32);
  OPENSSL_cleanse(out, sizeof out);
  return true;
}

// Signs a fixed text and verifies it with the same key: catches a PEM whose
// public half does not match its private half before any mail is signed.
Status pairwise_check(EVP_PKEY* pkey, bool ed25519) {
  static constexpr unsigned char kProbe[] = "sluice dkim key self-test";
  const EVP_MD* md = ed25519 ? nullptr : EVP_sha256();
  MdCtxPtr sign_ctx{EVP_MD_CTX_new()};
  size_t sig_len = 0;
  if (!sign_ctx || EVP_DigestSignInit(sign_ctx.get(), nullptr, md, nullptr, pkey) != 1 ||
      EVP_DigestSign(sign_ctx.get(), nullptr, &sig_len, kProbe, sizeof kProbe) != 1) {
    return key_error("key cannot sign: " + openssl_error());
  }
  std::string sig(sig_len, '\0');
  auto* sig_bytes = reinterpret_cast<unsigned char*>(sig.data());
  if (EVP_DigestSign(sign_ctx.get(), sig_bytes, &sig_len, kProbe, sizeof kProbe) != 1) {
    return key_error("key cannot sign: " + openssl_error());
  }
  MdCtxPtr verify_ctx{EVP_MD_CTX_new()};
  if (!verify_ctx || EVP_DigestVerifyInit(verify_ctx.get(), nullptr, md, nullptr, pkey) != 1 ||
      EVP_DigestVerify(verify_ctx.get(), sig_bytes, sig_len, kProbe, sizeof kProbe) != 1) {
    ERR_clear_error();
    return key_error("private and public key do not match (corrupt key file?)");
  }
  return {};
}

}  // namespace

std::string_view dkim_algorithm_name(DkimAlgorithm algorithm) {
  switch (algorithm) {
    case DkimAlgorithm::kRsaSha256: return "rsa-sha256";
    case DkimAlgorithm::kEd25519Sha256: return "ed25519-sha256";
  }
  return "rsa-sha256";
}

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
  return out;
}

DkimKey::DkimKey(EvpPkeyPtr pkey, DkimAlgorithm algorithm, int bits, std::string dns_public_key)
    : pkey_(std::move(pkey)), algorithm_(algorithm), bits_(bits), dns_public_key_(std::move(dns_public_key)) {}

std::string DkimKey::dns_record() const {
  return std::string("v=DKIM1; k=") + (algorithm_ == DkimAlgorithm::kRsaSha256 ? "rsa" : "ed25519") +
         "; p=" + dns_public_key_;
}

Result<DkimKeyPtr> DkimKey::from_pem(std::string_view pem, const DkimKeyPolicy& policy) {
  const std::string_view text = trim(pem);
  if (text.empty()) return key_error("key file is empty");
  if (text.size() > kMaxDkimKeyFileSize) return make_error(Errc::kTooLong, "key text exceeds 64 KiB");

  EvpPkeyPtr pkey;
  unsigned char seed[32];
  if (text.find("-----BEGIN") == std::string_view::npos && decode_ed25519_seed(text, seed)) {
    pkey.reset(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed, sizeof seed));
    OPENSSL_cleanse(seed, sizeof seed);
    if (!pkey) return key_error("bad Ed25519 seed: " + openssl_error());
  } else {
    if (text.find("ENCRYPTED") != std::string_view::npos) {
      return key_error("key is encrypted; store it unencrypted with mode 600 (openssl pkey -in KEY -out NEW)");
    }
    BioPtr bio{BIO_new_mem_buf(text.data(), static_cast<int>(text.size()))};
    if (!bio) return make_error(Errc::kInternal, "BIO_new_mem_buf failed");
    pkey.reset(PEM_read_bio_PrivateKey_ex(bio.get(), nullptr, no_passphrase, nullptr, nullptr, nullptr));
    if (!pkey) {
      return key_error("not a PEM private key (want BEGIN RSA PRIVATE KEY or BEGIN PRIVATE KEY): " + openssl_error());
    }
  }

  DkimAlgorithm algorithm;
  int bits = 0;
  std::string dns_key;
  if (EVP_PKEY_is_a(pkey.get(), "RSA")) {
    algorithm = DkimAlgorithm::kRsaSha256;
    bits = EVP_PKEY_get_bits(pkey.get());
    if (bits < 1024) {
      return key_error("RSA key has " + std::to_string(bits) +
                       " bits; keys under 1024 bits are always refused (RFC 8301 3.2); generate a 2048-bit key");
    }
    if (bits < policy.min_rsa_bits) {
      return key_error("RSA key has " + std::to_string(bits) + " bits, under min_rsa_bits = " +
                       std::to_string(policy.min_rsa_bits) +
                       " (RFC 8301 3.2); generate a 2048-bit key, or set min_rsa_bits = " + std::to_string(bits) +
                       " in the [milter] section to accept it");
    }
    if (bits > policy.max_rsa_bits) {
      return key_error("RSA key has " + std::to_string(bits) + " bits, over the limit of " +
                       std::to_string(policy.max_rsa_bits) + " (verifiers need not support more than 4096)");
    }
    unsigned char* der = nullptr;
    const int der_len = i2d_PUBKEY(pkey.get(), &der);
    if (der_len <= 0) return make_error(Errc::kInternal, "cannot encode the public key: " + openssl_error());
    dns_key = base64_encode(std::string_view(reinterpret_cast<const char*>(der), static_cast<std::size_t>(der_len)));
    OPENSSL_free(der);
  } else if (EVP_PKEY_is_a(pkey.get(), "ED25519")) {
    algorithm = DkimAlgorithm::kEd25519Sha256;
    bits = 256;
    unsigned char raw[32];
    size_t raw_len = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(pkey.get(), raw, &raw_len) != 1 || raw_len != sizeof raw) {
      return make_error(Errc::kInternal, "cannot read the Ed25519 public key: " + openssl_error());
    }
    dns_key = base64_encode(std::string_view(reinterpret_cast<const char*>(raw), raw_len));
  } else {
    return key_error(std::string("key type ") + EVP_PKEY_get0_type_name(pkey.get()) +
                     " is not usable for DKIM; use RSA (rsa-sha256) or Ed25519 (ed25519-sha256)");
  }

  if (Status s = pairwise_check(pkey.get(), algorithm == DkimAlgorithm::kEd25519Sha256); !s) return s.error();
  return DkimKeyPtr{std::make_shared<const DkimKey>(std::move(pkey), algorithm, bits, std::move(dns_key))};
}

Result<DkimKeyPtr> DkimKey::load_file(const std::string& path, const DkimKeyPolicy& policy) {
  // O_NONBLOCK: opening a FIFO planted at the path must not hang start-up.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    if (err == ELOOP) {
      return key_error(path + ": is a symbolic link; refusing it (name the key file itself in the key table)");
    }
    return make_error(err == ENOENT ? Errc::kNotFound : Errc::kIo, path + ": cannot open: " + std::strerror(err));
  }
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};

  struct stat st {};
  if (::fstat(fd, &st) != 0) return make_error(Errc::kIo, path + ": fstat: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return key_error(path + ": not a regular file");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return key_error(path + ": private key is readable or writable by group or others (mode " + mode +
                     "); run chmod 600 " + path);
  }
  if (st.st_uid != ::geteuid() && st.st_uid != 0) {
    return key_error(path + ": private key is owned by uid " + std::to_string(st.st_uid) +
                     ", neither this user (uid " + std::to_string(::geteuid()) +
                     ") nor root; chown it to the milter user and chmod 600 " + path);
  }
  if (static_cast<std::size_t>(st.st_size) > kMaxDkimKeyFileSize) {
    return make_error(Errc::kTooLong, path + ": key file is larger than 64 KiB");
  }

  // Read to EOF (the file may change size after fstat), never past the cap.
  std::string text(kMaxDkimKeyFileSize + 1, '\0');
  std::size_t used = 0;
  while (used < text.size()) {
    const ssize_t n = ::read(fd, text.data() + used, text.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      OPENSSL_cleanse(text.data(), text.size());
      return make_error(Errc::kIo, path + ": read: " + std::strerror(err));
    }
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  if (used > kMaxDkimKeyFileSize) {
    OPENSSL_cleanse(text.data(), text.size());
    return make_error(Errc::kTooLong, path + ": key file is larger than 64 KiB");
  }
  auto key = from_pem(std::string_view(text.data(), used), policy);
  OPENSSL_cleanse(text.data(), text.size());  // no copy of the secret lingers on the heap
  if (!key) {
    Error e = std::move(key).error();
    e.detail = path + ": " + e.detail;
    return e;
  }
  return key;
}

}  // namespace sluice::milter
