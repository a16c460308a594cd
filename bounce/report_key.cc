#include "bounce/report_key.h"

#include <openssl/evp.h>

#include <cstdlib>

namespace sluice::bounce {

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1) std::abort();
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out;
}

std::string report_identity(std::string_view tracking_id, std::string_view recipient, std::string_view kind) {
  std::string text;
  text.append(tracking_id).append("|").append(recipient).append("|").append(kind);
  return sha256_hex(text);
}

}  // namespace sluice::bounce
