// Micro benchmarks for the DKIM signer (milter/dkim_signer.*): signing a 4 KB
// and a 100 KB message with RSA-2048 and Ed25519 (body hash + header hash +
// signature, keys parsed once), against the cost of parsing the PEM key,
// which libopendkim pays on every message.
#include <benchmark/benchmark.h>
#include <openssl/bio.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <string>

#include "milter/dkim_key.h"
#include "milter/dkim_signer.h"

namespace sluice::milter {
namespace {

using BioPtr = CHandle<BIO, BIO_free>;

std::string pem_of(const char* type, bool traditional) {
  EvpPkeyPtr pkey{std::string(type) == "RSA" ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048})
                                             : EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")};
  BioPtr bio{BIO_new(BIO_s_mem())};
  if (traditional) {
    PEM_write_bio_PrivateKey_traditional(bio.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr);
  } else {
    PEM_write_bio_PrivateKey(bio.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr);
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

const std::string& rsa_pem() {
  static const std::string pem = pem_of("RSA", true);  // PKCS#1, as opendkim-genkey writes
  return pem;
}

const std::string& ed_pem() {
  static const std::string pem = pem_of("ED25519", false);
  return pem;
}

DkimKeyPtr load(const std::string& pem) {
  auto key = DkimKey::from_pem(pem, DkimKeyPolicy{});
  if (!key) std::abort();
  return *key;
}

std::string message_of_size(std::size_t size) {
  std::string m =
      "Received: from client.example.net by mx.example.com; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
      "From: Alice Example <alice@example.com>\r\n"
      "To: Bob Example <bob@example.net>\r\n"
      "Subject: Quarterly report and a few words about the meeting\r\n"
      "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
      "Message-ID: <20240101000000.12345@example.com>\r\n"
      "MIME-Version: 1.0\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n"
      "\r\n";
  while (m.size() < size) m += "The quick brown fox jumps over the lazy dog;  again and again.\t \r\n";
  return m;
}

void sign_loop(benchmark::State& state, const DkimKeyPtr& key) {
  const std::string message = message_of_size(static_cast<std::size_t>(state.range(0)));
  auto split = split_message(message);
  DkimSignOptions o;
  o.domain = "example.com";
  o.selector = "s1";
  o.key = key;
  o.timestamp = 1700000000;
  o.signed_headers = {"from", "to", "cc", "subject", "date", "message-id", "mime-version", "content-type"};
  o.oversigned_headers = {"from", "to", "cc", "subject", "date", "message-id", "mime-version", "content-type"};
  for (auto _ : state) {
    DkimSigner signer(o);
    // 64 KiB chunks, as libmilter hands the body over.
    for (std::size_t off = 0; off < split->body.size(); off += 65535) signer.body(split->body.substr(off, 65535));
    auto value = signer.finish(split->headers);
    benchmark::DoNotOptimize(value);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(message.size()));
}

void BM_SignRsa2048(benchmark::State& state) { sign_loop(state, load(rsa_pem())); }
void BM_SignEd25519(benchmark::State& state) { sign_loop(state, load(ed_pem())); }
BENCHMARK(BM_SignRsa2048)->Arg(4 * 1024)->Arg(100 * 1024);
BENCHMARK(BM_SignEd25519)->Arg(4 * 1024)->Arg(100 * 1024);

// Body canonicalisation + SHA-256 alone, relaxed, per 100 KB.
void BM_BodyHashRelaxed(benchmark::State& state) {
  const std::string body = message_of_size(100 * 1024);
  for (auto _ : state) {
    BodyHasher hasher(Canon::kRelaxed);
    hasher.update(body);
    benchmark::DoNotOptimize(hasher.finish());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(body.size()));
}
BENCHMARK(BM_BodyHashRelaxed);

// What libopendkim does per message: PEM_read_bio_PrivateKey.
void pem_parse_loop(benchmark::State& state, const std::string& pem) {
  for (auto _ : state) {
    BioPtr bio{BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()))};
    EvpPkeyPtr key{PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)};
    benchmark::DoNotOptimize(key.get());
  }
}
void BM_PemParseRsa2048(benchmark::State& state) { pem_parse_loop(state, rsa_pem()); }
void BM_PemParseEd25519(benchmark::State& state) { pem_parse_loop(state, ed_pem()); }
BENCHMARK(BM_PemParseRsa2048);
BENCHMARK(BM_PemParseEd25519);

// DkimKey::from_pem: parse + policy + the one-time sign/verify self-test
// (paid once per key at start-up or reload, never per message).
void BM_DkimKeyLoadRsa2048(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(DkimKey::from_pem(rsa_pem(), DkimKeyPolicy{}));
}
BENCHMARK(BM_DkimKeyLoadRsa2048);

}  // namespace
}  // namespace sluice::milter
