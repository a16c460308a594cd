// Micro benchmarks for policyd/policy_reader.* and policyd/verdict.*: every
// policy request Postfix sends (one per RCPT, one per END-OF-MESSAGE) goes
// through PolicyReader::next() and render_verdict().
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "policyd/policy_reader.h"
#include "policyd/verdict.h"

namespace sluice::policyd {
namespace {

// A RCPT request as Postfix 3.8 sends it for an authenticated TLS submission.
const std::string kRcpt =
    "request=smtpd_access_policy\n"
    "protocol_state=RCPT\n"
    "protocol_name=ESMTP\n"
    "client_address=192.0.2.10\n"
    "client_name=laptop.example.net\n"
    "client_port=53122\n"
    "reverse_client_name=laptop.example.net\n"
    "server_address=192.0.2.1\n"
    "server_port=587\n"
    "helo_name=laptop.example.net\n"
    "sender=newsletter+campaign-2291@mail.example.com\n"
    "recipient=bob.smith@example.org\n"
    "recipient_count=0\n"
    "queue_id=4Yz3Kq1Ry2z9xVb\n"
    "instance=a1b2.65f0c3d1.9e7a2.0\n"
    "size=48213\n"
    "etrn_domain=\n"
    "stress=\n"
    "sasl_method=PLAIN\n"
    "sasl_username=acct-42\n"
    "sasl_sender=\n"
    "ccert_subject=\n"
    "ccert_issuer=\n"
    "ccert_fingerprint=\n"
    "ccert_pubkey_fingerprint=\n"
    "encryption_protocol=TLSv1.3\n"
    "encryption_cipher=TLS_AES_256_GCM_SHA384\n"
    "encryption_keysize=256\n"
    "policy_context=submission\n"
    "compatibility_level=3.6\n"
    "mail_version=3.8.1\n"
    "\n";

// One request per feed on a long-lived reader: the server's steady state.
void BM_ParseRcptRequest(benchmark::State& state) {
  PolicyReader reader;
  for (auto _ : state) {
    reader.feed(kRcpt);
    auto r = reader.next();
    if (!r.ok() || !r->has_value()) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kRcpt.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_ParseRcptRequest);

// The same request arriving in 64-byte pieces (a slow or fragmented peer).
void BM_ParseRcptRequestFragmented(benchmark::State& state) {
  PolicyReader reader;
  const std::string_view in(kRcpt);
  for (auto _ : state) {
    for (std::size_t at = 0; at < in.size(); at += 64) {
      reader.feed(in.substr(at, 64));
      auto r = reader.next();
      benchmark::DoNotOptimize(r);
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kRcpt.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_ParseRcptRequestFragmented);

// 16 pipelined requests per feed.
void BM_ParsePipelined16(benchmark::State& state) {
  std::string batch;
  for (int i = 0; i < 16; ++i) batch += kRcpt;
  PolicyReader reader;
  for (auto _ : state) {
    reader.feed(batch);
    for (int i = 0; i < 16; ++i) {
      auto r = reader.next();
      benchmark::DoNotOptimize(r);
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * batch.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * 16));
}
BENCHMARK(BM_ParsePipelined16);

void BM_RenderReject(benchmark::State& state) {
  const Verdict v =
      verdict_reject("5.7.1", "<bob.smith@example.org>: recipient suppressed (complaint, since 2026-11-27)");
  std::string out;
  for (auto _ : state) {
    out.clear();
    append_verdict(v, out);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_RenderReject);

void BM_RenderDunno(benchmark::State& state) {
  const Verdict v = verdict_dunno();
  std::string out;
  for (auto _ : state) {
    out.clear();
    append_verdict(v, out);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_RenderDunno);

}  // namespace
}  // namespace sluice::policyd
