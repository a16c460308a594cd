// Micro benchmarks for common/address.*: parse_mailbox runs once per sender
// and recipient in both daemons, lookup_key once per suppression check.
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>

#include "common/address.h"

namespace sluice {
namespace {

// Parses one input repeatedly; the label says which path of the parser runs.
void run_parse(benchmark::State& state, std::string_view input) {
  for (auto _ : state) {
    auto m = parse_mailbox(input);
    benchmark::DoNotOptimize(m);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(input.size()));
}

void BM_ParsePlain(benchmark::State& state) { run_parse(state, "john.smith@example.com"); }
BENCHMARK(BM_ParsePlain);

void BM_ParseSmtpForm(benchmark::State& state) { run_parse(state, "<John.Smith+tag@Mail.Example.COM>"); }
BENCHMARK(BM_ParseSmtpForm);

void BM_ParseQuoted(benchmark::State& state) { run_parse(state, "\"john \\\"jj\\\" smith\"@example.com"); }
BENCHMARK(BM_ParseQuoted);

void BM_ParseUtf8(benchmark::State& state) {
  run_parse(state, "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a");
}
BENCHMARK(BM_ParseUtf8);

void BM_ParseIpv6Literal(benchmark::State& state) { run_parse(state, "user@[IPv6:2001:db8::1]"); }
BENCHMARK(BM_ParseIpv6Literal);

// Hostile input is rejected by the raw cap before any scan: this must be cheap.
void BM_RejectOverlong(benchmark::State& state) {
  const std::string huge(2000, 'a');
  run_parse(state, huge);
}
BENCHMARK(BM_RejectOverlong);

void BM_LookupKey(benchmark::State& state) {
  const Mailbox m = parse_mailbox("John.Smith@example.com").value();
  for (auto _ : state) {
    auto key = m.lookup_key();
    benchmark::DoNotOptimize(key);
  }
}
BENCHMARK(BM_LookupKey);

}  // namespace
}  // namespace sluice
