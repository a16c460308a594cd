// Exponential back-off with "equal jitter" for reconnecting to a peer that
// failed: the n-th consecutive failure waits uniformly in [base/2, base] with
// base = min * 2^(n-1) capped at max, never below min. Shared by the
// blocking and the non-blocking Redis clients so both behave the same.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace sluice {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds min, std::chrono::milliseconds max);

  // Records one more failure and returns how long to wait before retrying.
  std::chrono::milliseconds next_delay();
  void reset() { failures_ = 0; }
  std::uint32_t failures() const { return failures_; }
  void set_limits(std::chrono::milliseconds min, std::chrono::milliseconds max);

 private:
  std::chrono::milliseconds min_;
  std::chrono::milliseconds max_;
  std::uint32_t failures_ = 0;
  std::minstd_rand rng_;
};

}  // namespace sluice
