#include "milter/runtime.h"

#include <cstdlib>

namespace sluice::milter {
namespace {
Runtime* g_runtime = nullptr;  // set once in main(), before any thread
}  // namespace

void set_runtime(Runtime* runtime) { g_runtime = runtime; }

Runtime& runtime() {
  if (g_runtime == nullptr) std::abort();  // a callback before main() set it up: a bug
  return *g_runtime;
}

}  // namespace sluice::milter
