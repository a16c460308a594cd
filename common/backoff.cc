#include "common/backoff.h"

#include <algorithm>

namespace sluice {

Backoff::Backoff(std::chrono::milliseconds min, std::chrono::milliseconds max)
    : min_(min), max_(max), rng_(std::random_device{}()) {}

void Backoff::set_limits(std::chrono::milliseconds min, std::chrono::milliseconds max) {
  min_ = min;
  max_ = max;
}

std::chrono::milliseconds Backoff::next_delay() {
  if (failures_ < 64) ++failures_;
  const long long lo_limit = std::max<long long>(min_.count(), 1);
  const long long hi_limit = std::max<long long>(max_.count(), lo_limit);
  long long base = lo_limit;
  for (std::uint32_t i = 1; i < failures_ && base < hi_limit; ++i) base *= 2;
  base = std::min(base, hi_limit);
  const long long lo = std::max(base / 2, lo_limit);
  std::uniform_int_distribution<long long> dist(std::min(lo, base), base);
  return std::chrono::milliseconds{dist(rng_)};
}

}  // namespace sluice
