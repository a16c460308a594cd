// The state sluice-milter shares between libmilter's threads: the current
// snapshot (swapped whole on reload; each connection keeps the one it
// started with) and the tracking-ID generator. libmilter callbacks carry no
// user pointer besides per-connection data, so this is reached through one
// process-wide instance, set up in main() before smfi_main().
#pragma once

#include <atomic>
#include <memory>

#include "common/tracking_id.h"
#include "milter/snapshot.h"

namespace sluice::milter {

class Runtime {
 public:
  explicit Runtime(SnapshotPtr snapshot) : snapshot_(std::move(snapshot)) {}
  SnapshotPtr snapshot() const { return snapshot_.load(); }
  void replace(SnapshotPtr snapshot) { snapshot_.store(std::move(snapshot)); }
  std::string next_tracking_id() { return ids_.next(); }

 private:
  std::atomic<SnapshotPtr> snapshot_;
  TrackingIdGenerator ids_;
};

// Installed once by main(); never null while smfi_main() runs.
void set_runtime(Runtime* runtime);
Runtime& runtime();

}  // namespace sluice::milter
