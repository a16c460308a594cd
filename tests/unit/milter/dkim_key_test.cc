// Tests for milter/dkim_key.*: the key formats we accept, the RFC 8301 size
// rules, the DNS form of the public key, and the file-safety refusals
// (permissions, symlinks, owner, size).
#include "milter/dkim_key.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace sluice::milter {
namespace {

using BioPtr = CHandle<BIO, BIO_free>;

EvpPkeyPtr generate_rsa(unsigned bits) {
  return EvpPkeyPtr{EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits))};
}

EvpPkeyPtr generate_ed25519() { return EvpPkeyPtr{EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")}; }

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

// "BEGIN RSA PRIVATE KEY" (PKCS#1), what opendkim-genkey writes.
std::string pkcs1_pem(EVP_PKEY* key) {
  BioPtr bio{BIO_new(BIO_s_mem())};
  EXPECT_EQ(PEM_write_bio_PrivateKey_traditional(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr), 1);
  return bio_text(bio.get());
}

// "BEGIN PRIVATE KEY" (PKCS#8), what openssl genpkey writes.
std::string pkcs8_pem(EVP_PKEY* key) {
  BioPtr bio{BIO_new(BIO_s_mem())};
  EXPECT_EQ(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr), 1);
  return bio_text(bio.get());
}

std::string spki_base64(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int n = i2d_PUBKEY(key, &der);
  std::string out = base64_encode(std::string_view(reinterpret_cast<char*>(der), static_cast<size_t>(n)));
  OPENSSL_free(der);
  return out;
}

const std::string& rsa2048_pkcs1() {
  static const std::string pem = pkcs1_pem(generate_rsa(2048).get());
  return pem;
}

TEST(DkimKey, LoadsPkcs1Rsa) {
  EvpPkeyPtr key = generate_rsa(2048);
  const std::string pem = pkcs1_pem(key.get());
  ASSERT_NE(pem.find("BEGIN RSA PRIVATE KEY"), std::string::npos);
  auto loaded = DkimKey::from_pem(pem, DkimKeyPolicy{});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  EXPECT_EQ((*loaded)->algorithm(), DkimAlgorithm::kRsaSha256);
  EXPECT_EQ((*loaded)->bits(), 2048);
  EXPECT_EQ((*loaded)->dns_public_key(), spki_base64(key.get()));
  EXPECT_EQ((*loaded)->dns_record(), "v=DKIM1; k=rsa; p=" + spki_base64(key.get()));
}

TEST(DkimKey, LoadsPkcs8Rsa) {
  EvpPkeyPtr key = generate_rsa(2048);
  const std::string pem = pkcs8_pem(key.get());
  ASSERT_NE(pem.find("BEGIN PRIVATE KEY"), std::string::npos);
  auto loaded = DkimKey::from_pem(pem, DkimKeyPolicy{});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  EXPECT_EQ((*loaded)->algorithm(), DkimAlgorithm::kRsaSha256);
  EXPECT_EQ((*loaded)->dns_public_key(), spki_base64(key.get()));
}

TEST(DkimKey, LoadsPkcs8Ed25519WithRawPublicKeyInDns) {
  EvpPkeyPtr key = generate_ed25519();
  auto loaded = DkimKey::from_pem(pkcs8_pem(key.get()), DkimKeyPolicy{});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  EXPECT_EQ((*loaded)->algorithm(), DkimAlgorithm::kEd25519Sha256);
  EXPECT_EQ((*loaded)->bits(), 256);
  unsigned char raw[32];
  size_t len = sizeof raw;
  ASSERT_EQ(EVP_PKEY_get_raw_public_key(key.get(), raw, &len), 1);
  const std::string want = base64_encode(std::string_view(reinterpret_cast<char*>(raw), len));
  EXPECT_EQ((*loaded)->dns_public_key(), want);  // RFC 8463 4: the bare 32 bytes, not an SPKI
  EXPECT_EQ((*loaded)->dns_record(), "v=DKIM1; k=ed25519; p=" + want);
}

// RFC 8463 Appendix A.1 / A.2: this seed has this public key.
TEST(DkimKey, Rfc8463SeedGivesItsPublicKey) {
  auto loaded = DkimKey::from_pem("nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=\n", DkimKeyPolicy{});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  EXPECT_EQ((*loaded)->algorithm(), DkimAlgorithm::kEd25519Sha256);
  EXPECT_EQ((*loaded)->dns_public_key(), "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
  // The same key as PKCS#8 PEM loads to the same public key.
  auto pem = DkimKey::from_pem(pkcs8_pem((*loaded)->pkey()), DkimKeyPolicy{});
  ASSERT_TRUE(pem.ok()) << pem.error().message();
  EXPECT_EQ((*pem)->dns_public_key(), "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
}

TEST(DkimKey, Rsa1024RefusedByDefaultWithHowToAllow) {
  const std::string pem = pkcs1_pem(generate_rsa(1024).get());
  auto refused = DkimKey::from_pem(pem, DkimKeyPolicy{});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::kConfig);
  EXPECT_NE(refused.error().detail.find("1024 bits"), std::string::npos) << refused.error().detail;
  EXPECT_NE(refused.error().detail.find("min_rsa_bits = 1024"), std::string::npos) << refused.error().detail;

  auto allowed = DkimKey::from_pem(pem, DkimKeyPolicy{.min_rsa_bits = 1024});
  ASSERT_TRUE(allowed.ok()) << allowed.error().message();
  EXPECT_EQ((*allowed)->bits(), 1024);
}

TEST(DkimKey, Rsa512AlwaysRefused) {
  const std::string pem = pkcs1_pem(generate_rsa(512).get());
  auto refused = DkimKey::from_pem(pem, DkimKeyPolicy{.min_rsa_bits = 512});  // a policy cannot allow it
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().detail.find("always refused"), std::string::npos) << refused.error().detail;
}

TEST(DkimKey, RsaOverMaxRefused) {
  auto refused = DkimKey::from_pem(rsa2048_pkcs1(), DkimKeyPolicy{.min_rsa_bits = 1024, .max_rsa_bits = 1536});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().detail.find("over the limit"), std::string::npos) << refused.error().detail;
}

TEST(DkimKey, RefusesOtherKeyTypesEncryptedAndGarbage) {
  EvpPkeyPtr ec{EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")};
  auto ec_refused = DkimKey::from_pem(pkcs8_pem(ec.get()), DkimKeyPolicy{});
  ASSERT_FALSE(ec_refused.ok());
  EXPECT_NE(ec_refused.error().detail.find("not usable for DKIM"), std::string::npos) << ec_refused.error().detail;

  BioPtr bio{BIO_new(BIO_s_mem())};
  EvpPkeyPtr ed = generate_ed25519();
  static const char kPass[] = "secret";
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(bio.get(), ed.get(), EVP_aes_256_cbc(), kPass, 6, nullptr, nullptr), 1);
  auto encrypted = DkimKey::from_pem(bio_text(bio.get()), DkimKeyPolicy{});
  ASSERT_FALSE(encrypted.ok());
  EXPECT_NE(encrypted.error().detail.find("encrypted"), std::string::npos) << encrypted.error().detail;

  // Each row: text that is not a key.
  for (const char* text : {"", "   \n", "hello", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                           "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" /* 43 chars: not a seed */}) {
    auto bad = DkimKey::from_pem(text, DkimKeyPolicy{});
    EXPECT_FALSE(bad.ok()) << "accepted: " << text;
  }
}

// A private temporary directory, removed with its files at the end.
class KeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/dkim_key_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  std::string write(const std::string& name, const std::string& text, mode_t mode) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << text;
    ::chmod(path.c_str(), mode);
    return path;
  }

  std::string dir_;
};

TEST_F(KeyFileTest, LoadsMode0600) {
  const std::string path = write("ok.pem", rsa2048_pkcs1(), 0600);
  auto key = DkimKey::load_file(path, DkimKeyPolicy{});
  ASSERT_TRUE(key.ok()) << key.error().message();
  EXPECT_EQ((*key)->bits(), 2048);
  const std::string ro = write("ro.pem", rsa2048_pkcs1(), 0400);
  EXPECT_TRUE(DkimKey::load_file(ro, DkimKeyPolicy{}).ok());
}

TEST_F(KeyFileTest, RefusesGroupOrOtherAccessNamingFileAndChmod) {
  // Each row: a mode that lets someone else read or change the key.
  for (mode_t mode : {0644, 0640, 0604, 0620, 0602, 0660}) {
    const std::string path = write("open.pem", rsa2048_pkcs1(), mode);
    auto key = DkimKey::load_file(path, DkimKeyPolicy{});
    ASSERT_FALSE(key.ok()) << "mode " << std::oct << mode;
    EXPECT_EQ(key.error().code, Errc::kConfig);
    EXPECT_NE(key.error().detail.find(path), std::string::npos) << key.error().detail;
    EXPECT_NE(key.error().detail.find("chmod 600"), std::string::npos) << key.error().detail;
  }
}

TEST_F(KeyFileTest, RefusesSymlink) {
  const std::string target = write("real.pem", rsa2048_pkcs1(), 0600);
  const std::string link = dir_ + "/link.pem";
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  auto key = DkimKey::load_file(link, DkimKeyPolicy{});
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.error().detail.find("symbolic link"), std::string::npos) << key.error().detail;
}

TEST_F(KeyFileTest, RefusesDirectoryMissingAndOversized) {
  EXPECT_FALSE(DkimKey::load_file(dir_, DkimKeyPolicy{}).ok());
  auto missing = DkimKey::load_file(dir_ + "/none.pem", DkimKeyPolicy{});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
  const std::string big = write("big.pem", rsa2048_pkcs1() + std::string(70 * 1024, '\n'), 0600);
  auto too_big = DkimKey::load_file(big, DkimKeyPolicy{});
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.error().code, Errc::kTooLong);
}

TEST_F(KeyFileTest, PolicyErrorsNameTheFile) {
  const std::string path = write("small.pem", pkcs1_pem(generate_rsa(1024).get()), 0600);
  auto key = DkimKey::load_file(path, DkimKeyPolicy{});
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.error().detail.rfind(path + ": ", 0), 0u) << key.error().detail;
}

TEST_F(KeyFileTest, RefusesKeyOwnedBySomeoneElse) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give a file away";
  const std::string path = write("theirs.pem", rsa2048_pkcs1(), 0600);
  ASSERT_EQ(::chown(path.c_str(), 65534, 65534), 0);
  auto key = DkimKey::load_file(path, DkimKeyPolicy{});
  // Root may read anyone's file, but the owner check is about who can
  // replace the key, so a root-run milter still refuses it.
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.error().detail.find("owned by uid 65534"), std::string::npos) << key.error().detail;
}

}  // namespace
}  // namespace sluice::milter
