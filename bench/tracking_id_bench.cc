// Micro benchmarks for common/tracking_id.*: one ID per message, and a parse
// per bounce; the shared generator's mutex is measured under contention.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>

#include "common/tracking_id.h"

namespace sluice {
namespace {

// Default generator: system clock + RAND_bytes on each new millisecond.
void BM_GeneratorNextDefault(benchmark::State& state) {
  static TrackingIdGenerator gen;  // shared by the benchmark's threads
  for (auto _ : state) {
    auto id = gen.next();
    benchmark::DoNotOptimize(id);
  }
}
BENCHMARK(BM_GeneratorNextDefault)->Threads(1)->Threads(4);

// Fixed clock: every call after the first takes the same-ms increment path.
void BM_GeneratorNextSameMs(benchmark::State& state) {
  TrackingIdGenerator gen([] { return std::uint64_t{1'700'000'000'000}; },
                          [](std::span<std::uint8_t> out) { std::fill(out.begin(), out.end(), 0x42); });
  for (auto _ : state) {
    auto id = gen.next();
    benchmark::DoNotOptimize(id);
  }
}
BENCHMARK(BM_GeneratorNextSameMs);

void BM_Format(benchmark::State& state) {
  const TrackingId id{1469922850259, {0xd6, 0x76, 0x4c, 0x61, 0xef, 0xb9, 0x93, 0x02, 0xbd, 0x5b}};
  for (auto _ : state) {
    auto s = format_tracking_id(id);
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_Format);

void BM_Parse(benchmark::State& state) {
  const std::string text = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
  for (auto _ : state) {
    auto id = parse_tracking_id(text);
    benchmark::DoNotOptimize(id);
  }
}
BENCHMARK(BM_Parse);

}  // namespace
}  // namespace sluice
